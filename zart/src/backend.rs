//! The storage contract the worker runs on. PostgreSQL implements it in
//! [`postgres`](crate::postgres); another store (SQLite, say) implements the same trait and
//! the worker runs on it unchanged.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Notify;

use crate::durable::ExecutionControl;
use crate::error::Result;
use crate::recurring::{RecurringScheduler, TickReport};
use crate::scheduler::TaskScheduler;
use crate::task::ScheduleAtParams;

/// A worker's claim on one task: the fencing token proves the worker still owns it.
///
/// Every write a worker makes about a claimed task names the token it got at claim time;
/// the store applies the write only while the task is running under that same token, so a
/// worker whose lease expired (and whose task was rescued and claimed again) cannot
/// overwrite what the new owner does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The claimed task's id.
    pub task_id: String,
    /// The fencing token, incremented by every claim.
    pub token: i64,
}

/// A task claimed by a worker.
#[derive(Clone, Debug)]
pub struct ClaimedTask {
    /// The claim.
    pub lease: Lease,
    /// The handler name.
    pub task_name: String,
    /// The input.
    pub data: Value,
    /// The metadata.
    pub metadata: Value,
    /// When it was due.
    pub run_at: DateTime<Utc>,
    /// The attempt this claim starts, from 1.
    pub attempt: u32,
    /// When the task was scheduled (the start of a durable execution's deadline).
    pub created_at: DateTime<Utc>,
    /// The step log, for a durable execution claimed with
    /// [`claim_in`](TaskBackend::claim_in).
    pub steps: Option<Vec<StepRecord>>,
}

/// Which tasks a claim may take: a worker claims only the tasks it can run, so that a task
/// only newer code knows waits for a worker that knows it (during a rolling deploy, say)
/// instead of failing on an older one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimScope {
    /// The task names that may be claimed; `None` claims every name.
    pub names: Option<Vec<String>>,
    /// The names among them that are durable executions, claimed with their step logs.
    pub durable: Vec<String>,
}

/// What became of an attempt, as the worker reports it to the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The claim the attempt ran under.
    pub lease: Lease,
    /// What happened.
    pub kind: OutcomeKind,
}

/// The ways an attempt ends.
#[derive(Clone, Debug, PartialEq)]
pub enum OutcomeKind {
    /// Completed with an optional result (and no follow-ups: those go through
    /// [`TaskBackend::complete_with_follow_ups`]).
    Completed {
        /// The stored result.
        result: Option<Value>,
    },
    /// Failed; try again at `run_at`.
    Retry {
        /// The error of this attempt.
        error: String,
        /// When the next attempt is due.
        run_at: DateTime<Utc>,
    },
    /// Failed for good.
    Failed {
        /// The error of the last attempt.
        error: String,
    },
    /// Not finished: run again at `run_at`, without counting this attempt (a durable
    /// execution sleeping, say).
    Suspended {
        /// When to run again.
        run_at: DateTime<Utc>,
    },
}

/// How a completion with follow-up tasks went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowUpCompletion {
    /// The task is completed and every follow-up scheduled.
    Completed,
    /// The lease was lost: nothing was written.
    LeaseLost,
    /// These follow-up ids already exist: nothing was written.
    Conflict(Vec<String>),
    /// The task was cancelled while it ran: it ended cancelled, no follow-up scheduled.
    Cancelled,
}

/// One step call of a durable execution, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// The call's position in the execution, from 0.
    pub seq: u32,
    /// The step's name.
    pub name: String,
    /// How many calls of this name came before it.
    pub occurrence: u32,
    /// What it returned.
    pub outcome: StepOutcome,
    /// Attempts it took.
    pub attempts: u32,
    /// When its first attempt started.
    pub started_at: DateTime<Utc>,
}

/// What became of a checkpoint write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpointed {
    /// Written.
    Saved,
    /// Not written: the execution was asked to stop (cancelled while running).
    Cancelled,
    /// Not written: the lease was lost, or the position is taken.
    Refused,
}

/// A recorded step's result.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutcome {
    /// Its result.
    Completed(Value),
    /// Its retries were used up; the last error.
    Failed(String),
    /// Waiting out a long retry backoff: the next attempt is due at `until` (the
    /// execution is suspended meanwhile); `error` is the last attempt's.
    Retrying {
        /// When the next attempt is due.
        until: DateTime<Utc>,
        /// The last attempt's error.
        error: String,
    },
}

/// What one maintenance pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Tasks whose lease had expired, put back to pending.
    pub requeued: Vec<String>,
    /// Tasks whose lease had expired once too often, marked dead.
    pub dead: Vec<String>,
}

/// The worker's side of a task store: claims, leases, outcomes and maintenance.
#[async_trait]
pub trait TaskBackend: TaskScheduler + RecurringScheduler + ExecutionControl + 'static {
    /// Claims up to `limit` due tasks of any name for `worker_id`, oldest due first,
    /// skipping rows other workers hold, with a lease of `lease` and a fresh fencing token
    /// each.
    async fn claim(
        &self,
        worker_id: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedTask>> {
        self.claim_in(worker_id, limit, lease, &ClaimScope::default())
            .await
    }

    /// [`claim`](Self::claim), limited to the task names of `scope`, and loading in the
    /// same statement the step logs of the claimed durable executions (so that resuming
    /// one costs no extra round trip).
    async fn claim_in(
        &self,
        worker_id: &str,
        limit: usize,
        lease: Duration,
        scope: &ClaimScope,
    ) -> Result<Vec<ClaimedTask>>;

    /// Extends the leases of all tasks `worker_id` is running, in one statement. Returns how
    /// many leases were extended.
    async fn heartbeat(&self, worker_id: &str, lease: Duration) -> Result<u64>;

    /// Stores many outcomes at once, each fenced by its lease. Returns the ids whose outcome
    /// was stored; the others had lost their lease.
    async fn finish(&self, outcomes: &[Outcome]) -> Result<Vec<String>>;

    /// Completes a task, stores its result and schedules its follow-ups in one transaction.
    async fn complete_with_follow_ups(
        &self,
        lease: &Lease,
        result: Option<Value>,
        follow_ups: Vec<ScheduleAtParams>,
    ) -> Result<FollowUpCompletion>;

    /// Puts claimed tasks back to pending, due now, without counting the interrupted
    /// attempt, so that another worker takes them at once. Returns the released ids.
    async fn release(&self, leases: &[Lease]) -> Result<Vec<String>>;

    /// One maintenance pass: re-queues tasks whose lease expired, or marks them dead once
    /// they were rescued `max_rescues` times. Only one caller at a time runs a pass; the
    /// others get `None` at once.
    async fn rescue_expired(&self, max_rescues: u32) -> Result<Option<RescueReport>>;

    /// Starts `child` as a child of execution `parent` (its end is reported to the parent
    /// as the event `child:<id>`), unless a task with the child's id exists. Returns
    /// whether it was started.
    async fn start_child(&self, parent: &str, child: &ScheduleAtParams) -> Result<bool>;

    /// The `index`-th event (from 0) named `name` sent to execution `task_id`.
    async fn find_event(&self, task_id: &str, name: &str, index: u32) -> Result<Option<Value>>;

    /// The step log of durable execution `task_id`, in call order, in one query.
    async fn load_steps(&self, task_id: &str) -> Result<Vec<StepRecord>>;

    /// Records steps of executions, each fenced by the lease it was taken under, in one
    /// statement. Returns, for each step in order, what became of it.
    async fn save_steps(&self, steps: &[(Lease, StepRecord)]) -> Result<Vec<Checkpointed>>;

    /// Runs the tick a worker claimed (`lease`) for its recurring schedule: decides what
    /// the due slots become at `now`, starts runs, records the decisions and schedules the
    /// next tick, all in one transaction fenced by the lease. `Ok(None)`: the lease was
    /// lost and nothing was written.
    async fn fire_tick(&self, lease: &Lease, now: DateTime<Utc>) -> Result<Option<TickReport>>;

    /// The concrete backend, for features tied to one database (transactional steps).
    fn as_any(&self) -> &dyn std::any::Any;

    /// Wakes `wake` whenever tasks are scheduled, until an error the backend cannot recover
    /// from. Backends without push notification keep the default, which never wakes (the
    /// worker then relies on polling).
    async fn listen(&self, wake: WakeSignal) -> Result<()> {
        drop(wake);
        std::future::pending().await
    }
}

/// The doorbell between a backend's notifications and a worker's claim loop: "work may be
/// due now", or "work will be due at this instant".
#[derive(Clone, Debug)]
pub struct WakeSignal {
    inner: Arc<WakeInner>,
}

#[derive(Debug)]
struct WakeInner {
    notify: Notify,
    /// Announced future instants (epoch milliseconds), so that the worker wakes when the
    /// earliest comes: one schedule's slot must not hide another's.
    due: Mutex<BTreeSet<i64>>,
}

/// Most future instants remembered; past that the latest are forgotten (polling finds
/// their tasks).
const MAX_REMEMBERED: usize = 1024;

impl Default for WakeSignal {
    fn default() -> Self {
        WakeSignal {
            inner: Arc::new(WakeInner {
                notify: Notify::new(),
                due: Mutex::new(BTreeSet::new()),
            }),
        }
    }
}

impl WakeSignal {
    /// Work may be due now.
    pub fn wake(&self) {
        self.inner.notify.notify_one();
    }

    /// Work becomes due at `due` (epoch milliseconds); a past instant wakes at once.
    pub fn due_at_millis(&self, due: i64) {
        if due > Utc::now().timestamp_millis() {
            let mut remembered = self
                .inner
                .due
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            remembered.insert(due);
            if remembered.len() > MAX_REMEMBERED {
                remembered.pop_last();
            }
        }
        self.wake();
    }

    /// Work becomes due at `due`.
    pub fn due_at(&self, due: DateTime<Utc>) {
        // Rounded up: waking a millisecond early would find nothing due yet.
        let partial = i64::from(due.timestamp_subsec_nanos() % 1_000_000 != 0);
        self.due_at_millis(due.timestamp_millis() + partial);
    }

    pub(crate) async fn notified(&self) {
        self.inner.notify.notified().await;
    }

    /// The earliest announced instant still in the future (instants that have passed are
    /// forgotten: the claim that follows them finds their work).
    pub(crate) fn next_due(&self) -> Option<DateTime<Utc>> {
        let now = Utc::now().timestamp_millis();
        let mut remembered = self
            .inner
            .due
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while remembered.first().is_some_and(|due| *due <= now) {
            remembered.pop_first();
        }
        remembered
            .first()
            .and_then(|due| DateTime::from_timestamp_millis(*due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_future_instant_comes_first_and_passed_ones_are_dropped() {
        let wake = WakeSignal::default();
        let now = Utc::now();
        let soon = now + chrono::Duration::milliseconds(50);
        let later = now + chrono::Duration::seconds(60);
        wake.due_at(later);
        wake.due_at(soon);
        wake.due_at(now - chrono::Duration::seconds(1));
        let first = wake.next_due().map(|t| t.timestamp_millis());
        assert!(first
            .is_some_and(|ms| ms >= soon.timestamp_millis() && ms <= soon.timestamp_millis() + 1));
        std::thread::sleep(std::time::Duration::from_millis(60));
        let next = wake.next_due().map(|t| t.timestamp_millis());
        assert!(
            next.is_some_and(|ms| ms >= later.timestamp_millis()),
            "a passed instant does not hide a later one"
        );
    }
}
