//! The store contract: what a driver implements so that the engine runs on it unchanged.
//!
//! Small traits, one concern each, made of batched primitives:
//!
//! - [`QueueStore`]: inserting, claiming, leasing, finishing, releasing, rescuing and
//!   cancelling tasks, and the notifications that wake workers and waiters;
//! - [`QueueControlStore`]: queues' declared limits and pauses;
//! - [`StepStore`]: durable executions' step logs, events and children;
//! - [`ScheduleStore`]: reading recurring schedules and their history;
//! - [`InspectStore`]: reading tasks for programs and the admin;
//! - [`WorkerStore`]: the worker processes that record themselves while alive;
//! - [`Store`]: all six, plus [`begin`](Store::begin), the unit of work through which the
//!   engine composes several primitives in one database transaction ([`UnitOfWork`]).
//!
//! A store method writes, reads or notifies; it decides nothing. The decisions (retry or
//! fail, what a tick does with its due slots, how long to wait) are the engine's.
//!
//! # Fencing
//!
//! Every write about a claimed task names its [`Lease`] and is applied only while the task
//! still carries the lease's token. Every statement that starts or ends a lease (claim,
//! finish, release, rescue, rerun, a tick's reset) changes the token.
//!
//! # End effects
//!
//! Two rules hold however a task ends (a worker's outcome, a rescue marking it dead, a
//! cancel), in the transaction that ends it; a driver implements them with triggers or in
//! each statement that can end a task:
//!
//! - **An occurrence that ends wakes its schedule's tick.** When a task inserted with a
//!   `schedule_id` ([`UnitOfWork::insert`]) goes from pending, waiting or running to an end
//!   status, the store sets the schedule's `last_finished_at` to now and, if the schedule's
//!   tick is pending or waiting with [`TickState::wake_on_finish`] set, makes the tick
//!   pending and due now.
//! - **A child that ends notifies its parent.** When a task started with
//!   [`StepStore::start_child`] ends, the store sends its parent the event
//!   `child:<child id>` with payload `{"status": .., "result": .., "error": ..}` and, if the
//!   parent is pending with a due instant in the future (suspended), makes it due now.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;

use crate::clock::Clock;
#[cfg(doc)]
use crate::controls::{KeyLimit, RateLimit};
use crate::controls::{QueueDeclaration, QueueLimits, QueueState};
use crate::error::StoreResult;
use crate::inspect::{AttemptRecord, EndedCount, EventRecord, TaskCounts, TaskLoad};
use crate::migrations::MigrationState;
use crate::queue::{ClaimScope, ClaimedTask, Lease, Outcome, RescueReport, Wake};
use crate::schedules::{
    HistoryEntry, RecurringTask, RunRecord, ScheduleInfo, ScheduleProgress, ScheduleState,
    TickState,
};
use crate::steps::{Checkpointed, StepRecord};
use crate::task::{NewTask, TaskFilter, TaskRecord, TaskStatus};
use crate::workers::{DeclaredTask, WorkerRecord};

/// The task queue: what workers and producers do with tasks.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Inserts `tasks` in one statement, skipping ids that exist, and in the same
    /// transaction wakes listening workers. Returns the inserted ids, in input order. An id
    /// repeated within `tasks` is inserted once, as its first occurrence. The engine
    /// validates tasks first; the store stores what it is given (`recurrence` is not
    /// stored).
    async fn insert(&self, tasks: &[NewTask]) -> StoreResult<Vec<String>>;

    /// Claims up to `limit` due pending tasks (`run_at <= now`) within `scope`, skipping
    /// rows other workers hold. When more are due, the ones taken are, in this order: those
    /// due for longer than [`ClaimScope::priority_aging`], oldest due first; then the highest
    /// priority; then the oldest due (the order of the returned tasks is unspecified). Each
    /// claimed task becomes running with `worker_id`, a lease of `lease`, a fresh token, one
    /// more attempt, `started_at` now and the scope's queue; a durable one (named in
    /// [`ClaimScope::durable`]) comes with its step log.
    ///
    /// With [`ClaimScope::queue`], the queue's stored controls hold, checked and claimed as
    /// one serial step across every process sharing the store: nothing is claimed from a
    /// paused queue; at most [`QueueLimits::concurrency`] of its tasks run at once, at most
    /// [`KeyLimit::limit`] of one key, and at most [`RateLimit::limit`] start in any window
    /// of its period (counted from the claims' own records, whatever became of the tasks).
    async fn claim(
        &self,
        worker_id: &str,
        limit: usize,
        lease: Duration,
        scope: &ClaimScope,
    ) -> StoreResult<Vec<ClaimedTask>>;

    /// Extends the leases of every running task `worker_id` holds to `lease` from now, in
    /// one statement. Returns how many were extended.
    ///
    /// It must never wait on (or deadlock with) the worker's own outcome batches over the
    /// same tasks: a store may skip a task another statement is writing, since the next
    /// heartbeat comes long before its lease ends.
    async fn heartbeat(&self, worker_id: &str, lease: Duration) -> StoreResult<u64>;

    /// Stores many outcomes in one statement, each fenced by its lease; each ends its lease.
    /// An outcome with an error (a retry, a failure) also records the failed attempt
    /// ([`InspectStore::attempts`]).
    /// A task that was asked to stop while it ran ([`cancel_task`](Self::cancel_task)) ends cancelled
    /// whatever its outcome (its id is returned: the lease held). Notifies waiters
    /// ([`ended`](Self::ended)) if any task ended. Returns the ids whose outcome was
    /// stored; the others had lost their lease.
    async fn finish(&self, outcomes: &[Outcome]) -> StoreResult<Vec<String>>;

    /// Puts claimed tasks back to pending, due now, without counting the interrupted
    /// attempt, and wakes listening workers. Fenced. Returns the released ids.
    async fn release(&self, leases: &[Lease]) -> StoreResult<Vec<String>>;

    /// One maintenance pass: tasks whose lease expired go back to pending, due now, with one
    /// more rescue counted, or are marked dead once they were rescued `max_rescues` times
    /// (recurring ticks are never marked dead: a schedule must not stop because its
    /// workers kept dying); each expired attempt is recorded as failed
    /// ([`InspectStore::attempts`]) with the error the task now carries. Only one caller at a time runs a pass, across every process
    /// sharing the store: one that finds a pass running gets `None` at once (two passes
    /// one after the other both run, and each expired task is in one report).
    async fn rescue_expired(&self, max_rescues: u32) -> StoreResult<Option<RescueReport>>;

    /// Deletes up to `limit` tasks that ended with `status` before `ended_before`, with
    /// their step logs, events and failed attempts (Zart's own tasks are left alone), in
    /// one statement that waits for no other: claims and outcomes never touch ended tasks.
    /// Returns how many were deleted.
    async fn delete_ended(
        &self,
        status: TaskStatus,
        ended_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<u64>;

    /// Cancels task `task_id`: one that is pending or waiting ends cancelled at once; one
    /// that is running is asked to stop (its outcome will be discarded, and a durable
    /// execution's next checkpoint is refused as [`Checkpointed::Cancelled`]). Zart's own
    /// tasks and ended tasks are left alone. Returns [`TaskStatus::Cancelled`] for a task
    /// cancelled at once, [`TaskStatus::Running`] for one asked to stop, `None` if nothing
    /// was cancelled.
    async fn cancel_task(&self, task_id: &str) -> StoreResult<Option<TaskStatus>>;

    /// Puts an ended task back to pending, due now, with attempts, rescues, error, result
    /// and any stop request cleared; with `forget`, deletes its step log, events and failed
    /// attempts too.
    /// Wakes listening workers. Returns whether the task had ended and was put back.
    async fn rerun(&self, task_id: &str, forget: bool) -> StoreResult<bool>;

    /// Calls `wake` for every notification that work was scheduled, until an error the
    /// store cannot recover from. A lost connection is re-opened (reporting
    /// [`Wake::Now`], since notifications sent meanwhile are gone). A store without push
    /// notifications never calls `wake` and never returns: workers poll.
    async fn listen(&self, wake: &(dyn Fn(Wake) + Send + Sync)) -> StoreResult<()>;

    /// A counter that goes up (at least) whenever tasks end, for waiters. Notifications can
    /// be lost; waiters look again now and then.
    async fn ended(&self) -> StoreResult<watch::Receiver<u64>>;
}

/// Queues' controls: limits that workers declare, and pauses.
#[async_trait]
pub trait QueueControlStore: Send + Sync {
    /// Stores each queue's declared limits, replacing what was declared before (a pause
    /// stays as it is). A queue whose limits are overridden keeps the override; the
    /// declaration applies once it is removed.
    async fn declare_queues(&self, queues: &[QueueDeclaration]) -> StoreResult<()>;

    /// Overrides queue `queue`'s declared limits with `limits` (a queue never declared gets
    /// a record of its own), or, with `None`, removes the override: the declared limits
    /// apply again. Returns whether it changed (`None` on a queue without override is no
    /// change). The limits are checked by the caller ([`QueueLimits::check`](crate::controls::QueueLimits::check)).
    async fn set_queue_limits(
        &self,
        queue: &str,
        limits: Option<&QueueLimits>,
    ) -> StoreResult<bool>;

    /// Pauses queue `queue` (nothing new is claimed from it; running tasks go on) or
    /// resumes it. A queue never declared gets a record of its own. Returns whether it
    /// changed.
    async fn pause_queue(&self, queue: &str, paused: bool) -> StoreResult<bool>;

    /// Every queue with stored controls, by name, with how many of its tasks run.
    async fn queue_states(&self) -> StoreResult<Vec<QueueState>>;

    /// When queue `queue`'s rate limit has room for a start: the instant its window gained
    /// room, in the past when it has room now, or the instant it will. `None` when the queue
    /// has no rate limit or fewer starts were ever recorded than the limit (room all along).
    ///
    /// An instant in the past tells a claim that took less than it asked whether the rate
    /// held it back: only if the room came after the claim began.
    async fn rate_opens_at(&self, queue: &str) -> StoreResult<Option<DateTime<Utc>>>;
}

/// Durable executions' step logs, events and children.
#[async_trait]
pub trait StepStore: Send + Sync {
    /// The step log of execution `task_id`, in call order, in one query.
    async fn load_steps(&self, task_id: &str) -> StoreResult<Vec<StepRecord>>;

    /// Records steps, each with its failed attempts and fenced by the lease it was taken
    /// under, in one statement. A position already recorded is refused, except a
    /// `retrying` step, which a later attempt of the same step replaces (failed attempts
    /// included: the later record carries them all). A step of an execution asked to stop is not
    /// written ([`Checkpointed::Cancelled`]). Returns, for each step in order, what became
    /// of it.
    async fn save_steps(&self, steps: &[(Lease, StepRecord)]) -> StoreResult<Vec<Checkpointed>>;

    /// Stores event `name` with `payload` for execution `task_id` (events are kept: the
    /// n-th wait for a name takes the n-th event of that name) and, if the execution is
    /// pending with a due instant in the future (suspended), makes it due now and wakes
    /// listening workers. Returns whether it was woken.
    async fn send_event(&self, task_id: &str, name: &str, payload: &Value) -> StoreResult<bool>;

    /// The `index`-th event (from 0) named `name` sent to execution `task_id`.
    async fn find_event(&self, task_id: &str, name: &str, index: u32)
        -> StoreResult<Option<Value>>;

    /// Every event sent to execution `task_id`, oldest first.
    async fn events(&self, task_id: &str) -> StoreResult<Vec<EventRecord>>;

    /// Inserts `child`, due now, as a child of execution `parent` (see the end effects in
    /// the [module docs](self)), unless its id exists, and wakes listening workers. Returns
    /// whether it was inserted.
    async fn start_child(&self, parent: &str, child: &NewTask) -> StoreResult<bool>;
}

/// Reading recurring schedules. They are written through a [`UnitOfWork`].
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// The stored schedule, or `None`.
    async fn schedule(&self, schedule_id: &str) -> StoreResult<Option<ScheduleInfo>>;

    /// Every stored schedule, by id.
    async fn schedules(&self) -> StoreResult<Vec<ScheduleInfo>>;

    /// The latest `limit` decisions of a schedule, oldest first, each with its run's
    /// status and timing while the run's task exists.
    async fn history(&self, schedule_id: &str, limit: usize) -> StoreResult<Vec<RunRecord>>;
}

/// Reading tasks, for programs and the admin.
///
/// Tasks read, filter and count with their status as people read it: a durable
/// execution kept `pending`, due in the future and with no error (suspended), whose step
/// log ends with a completed wait step ([`wait_steps`](crate::steps::wait_steps)), reads
/// with that wait's status (`sleeping`, `awaiting_event`, `awaiting_child`), and
/// [`TaskRecord::waiting_on`] says what it waits on
/// ([`WaitingOn::read`](crate::steps::WaitingOn::read) over the last step). One whose
/// log ends with a `retrying` step stays `pending`, waiting on that step's next attempt.
#[async_trait]
pub trait InspectStore: Send + Sync {
    /// Everything stored about task `task_id`, or `None`.
    async fn task(&self, task_id: &str) -> StoreResult<Option<TaskRecord>>;

    /// Tasks matching `filter` (Zart's own ticks excluded), newest first (then by id,
    /// descending), at most `limit`. With [`TaskFilter::after`], the page that follows.
    async fn tasks(&self, filter: &TaskFilter, limit: usize) -> StoreResult<Vec<TaskRecord>>;

    /// How many tasks match `filter` (Zart's own ticks excluded; [`TaskFilter::after`] is
    /// ignored).
    async fn count(&self, filter: &TaskFilter) -> StoreResult<u64>;

    /// The failed attempts of task `task_id`, oldest first (see [`QueueStore::finish`] and
    /// [`QueueStore::rescue_expired`]).
    async fn attempts(&self, task_id: &str) -> StoreResult<Vec<AttemptRecord>>;

    /// How many tasks there are of each name and status (Zart's own ticks excluded), in
    /// no particular order; pairs with no task are left out.
    async fn counts(&self) -> StoreResult<Vec<TaskCounts>>;

    /// How many tasks ended with each status in each minute since `since` (Zart's own
    /// ticks excluded), oldest minute first; minutes with none are left out.
    async fn ended_per_minute(&self, since: DateTime<Utc>) -> StoreResult<Vec<EndedCount>>;

    /// For each task name with due pending or running tasks (Zart's own ticks excluded),
    /// how many of each and the oldest due instant, in no particular order. Reads only
    /// pending and running tasks, so that sampling it stays cheap however many ended tasks
    /// are kept.
    async fn load(&self) -> StoreResult<Vec<TaskLoad>>;
}

/// Worker processes recording themselves while alive, and the tasks they declare.
#[async_trait]
pub trait WorkerStore: Send + Sync {
    /// Records worker `worker.worker_id` as alive now (replacing an earlier record of the
    /// same id) and stores its declared tasks, replacing earlier declarations of the same
    /// names.
    async fn record_worker(&self, worker: &WorkerRecord) -> StoreResult<()>;

    /// Notes that the worker is still alive. Returns whether its record exists (it is
    /// gone if it was silent long enough to be forgotten; the worker records itself
    /// again).
    async fn beat_worker(&self, worker_id: &str) -> StoreResult<bool>;

    /// Deletes the worker's record (it stopped).
    async fn remove_worker(&self, worker_id: &str) -> StoreResult<()>;

    /// Deletes the records of workers silent since before `silent_since` (they died).
    /// Returns how many were deleted.
    async fn forget_workers(&self, silent_since: DateTime<Utc>) -> StoreResult<u64>;

    /// Every recorded worker, by id.
    async fn workers(&self) -> StoreResult<Vec<WorkerRecord>>;

    /// The latest declaration of every task name, by name.
    async fn declared_tasks(&self) -> StoreResult<Vec<DeclaredTask>>;
}

/// A whole store: every concern, and units of work.
#[async_trait]
pub trait Store:
    QueueStore + QueueControlStore + StepStore + ScheduleStore + InspectStore + WorkerStore + 'static
{
    /// Starts a unit of work: one database transaction. Dropping it without
    /// [`commit`](UnitOfWork::commit) rolls everything back, notifications included.
    async fn begin(&self) -> StoreResult<Box<dyn UnitOfWork>>;

    /// How the tables compare with the migrations this code has, changing nothing (see
    /// [`MigrationState`]). Tables that newer code migrated further are current: a rolling
    /// deploy runs old workers beside new ones.
    async fn migration_state(&self) -> StoreResult<MigrationState>;

    /// `Ok` when the [`migration_state`](Self::migration_state) is current, else a
    /// [rejected](crate::ErrorKind::Rejected) error that says where the store looked and
    /// to run `migrate()` ([`StoreError::not_migrated`](crate::StoreError::not_migrated)).
    async fn check_migrated(&self) -> StoreResult<()>;

    /// The clock this store judges what is due by: the engine reads the same one when it
    /// decides when something becomes due (a sleep's end, a retry). The system's unless
    /// the store was opened with a driven one, for tests.
    fn clock(&self) -> Clock {
        Clock::system()
    }
}

/// Several primitives in one database transaction: a completion with its follow-ups, a
/// whole tick, a change to a schedule, a transactional step.
#[async_trait]
pub trait UnitOfWork: Send {
    /// [`QueueStore::insert`] in this transaction; with `schedule_id`, the tasks are runs of
    /// that schedule (see the end effects in the [module docs](self)).
    async fn insert(
        &mut self,
        tasks: &[NewTask],
        schedule_id: Option<&str>,
    ) -> StoreResult<Vec<String>>;

    /// Completes the task `lease` holds with `result`, fenced, ending the lease and
    /// notifying waiters. Returns the status it ended with (`cancelled` if it was asked to
    /// stop while it ran; its result is then not stored), or `None` if the lease was lost.
    async fn complete(
        &mut self,
        lease: &Lease,
        result: Option<&Value>,
    ) -> StoreResult<Option<TaskStatus>>;

    /// [`StepStore::save_steps`] in this transaction.
    async fn save_steps(&mut self, steps: &[(Lease, StepRecord)])
        -> StoreResult<Vec<Checkpointed>>;

    /// The schedule, locked until the end of the transaction, or `None`.
    async fn lock_schedule(&mut self, schedule_id: &str) -> StoreResult<Option<ScheduleInfo>>;

    /// Stores a new schedule in `state` with `next_slot`, unless one with its id exists.
    /// Returns whether it was stored.
    async fn insert_schedule(
        &mut self,
        task: &RecurringTask,
        state: ScheduleState,
        next_slot: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;

    /// Replaces an existing schedule's declaration (its state, counter and slots stay).
    async fn update_schedule(&mut self, task: &RecurringTask) -> StoreResult<()>;

    /// Sets a schedule's next slot.
    async fn set_next_slot(
        &mut self,
        schedule_id: &str,
        next_slot: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;

    /// Moves a schedule from one of the states `from` to `to`. Returns whether it moved.
    async fn change_state(
        &mut self,
        schedule_id: &str,
        from: &[ScheduleState],
        to: ScheduleState,
    ) -> StoreResult<bool>;

    /// Records a manual trigger on an active schedule. Returns whether it was recorded.
    async fn request_trigger(&mut self, schedule_id: &str) -> StoreResult<bool>;

    /// Writes what a tick decided about its schedule, and clears a trigger request.
    async fn save_progress(
        &mut self,
        schedule_id: &str,
        progress: &ScheduleProgress,
    ) -> StoreResult<()>;

    /// Ids of the schedule's runs that are pending, waiting or running, oldest due first.
    async fn active_runs(&mut self, schedule_id: &str) -> StoreResult<Vec<String>>;

    /// Ends runs cancelled at once (replaced by a newer run), with a stop request, so
    /// that a worker still running one learns of it at its next checkpoint and whatever
    /// outcome it stores, the run stays cancelled.
    async fn cancel_runs(&mut self, task_ids: &[String]) -> StoreResult<()>;

    /// Appends decisions to the schedule's history, keeping only its latest `keep`.
    async fn record_history(
        &mut self,
        schedule_id: &str,
        entries: &[HistoryEntry],
        keep: usize,
    ) -> StoreResult<()>;

    /// Creates the schedule's tick or resets it to `tick` (its token changes, its attempts
    /// and error are cleared), unless a worker is running it: that worker's decision, taken
    /// under the schedule's lock, comes after this one. Wakes listening workers if the
    /// tick is pending.
    async fn set_tick(&mut self, schedule_id: &str, tick: &TickState) -> StoreResult<()>;

    /// Ends the claim `lease` holds on a tick and sets the tick to `tick`, fenced. Wakes
    /// listening workers if the tick is pending. Returns whether the lease held.
    async fn end_tick(&mut self, lease: &Lease, tick: &TickState) -> StoreResult<bool>;

    /// The driver's connection behind this transaction, for user code that joins it (a
    /// transactional step). `None` if the driver offers none.
    fn connection(&mut self) -> Option<&mut (dyn std::any::Any + Send)> {
        None
    }

    /// Commits everything this unit of work did.
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
