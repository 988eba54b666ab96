//! A store that counts the round trips a worker makes, by delegating every call to the
//! store it wraps and tallying it by name. Each counted call is one statement (one round trip),
//! except `rescue (transaction)`; a unit of work counts its `begin`, each statement in it,
//! and its `commit`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;
use zart::durable::StepRecord;
use zart::inspect::{
    AttemptRecord, DeclaredTask, EndedCount, EventRecord, TaskCounts, TaskLoad, WorkerRecord,
};
use zart::recurring::{RecurringTask, RunRecord, ScheduleInfo, ScheduleState};
use zart::scheduler::{NewTask, TaskFilter, TaskRecord, TaskStatus};
use zart::store::{
    Checkpointed, ClaimScope, ClaimedTask, HistoryEntry, InspectStore, Lease, Outcome,
    QueueControlStore, QueueDeclaration, QueueLimits, QueueState, QueueStore, RescueReport,
    ScheduleProgress, ScheduleStore, StepStore, Store, StoreResult, TickState, UnitOfWork, Wake,
    WorkerStore,
};

type Tally = Arc<Mutex<BTreeMap<&'static str, u64>>>;

fn count(tally: &Tally, name: &'static str) {
    if let Ok(mut calls) = tally.lock() {
        *calls.entry(name).or_default() += 1;
    }
}

#[derive(Clone)]
pub struct Counting {
    inner: Arc<dyn Store>,
    calls: Tally,
}

impl Counting {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Counting {
            inner,
            calls: Arc::default(),
        }
    }

    fn count(&self, name: &'static str) {
        count(&self.calls, name);
    }

    /// The tally so far, and a fresh start.
    pub fn take(&self) -> BTreeMap<&'static str, u64> {
        self.calls
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

#[async_trait]
impl QueueStore for Counting {
    async fn insert(&self, tasks: &[NewTask]) -> StoreResult<Vec<String>> {
        self.count("insert");
        self.inner.insert(tasks).await
    }

    async fn claim(
        &self,
        worker_id: &str,
        limit: usize,
        lease: Duration,
        scope: &ClaimScope,
    ) -> StoreResult<Vec<ClaimedTask>> {
        let claimed = self.inner.claim(worker_id, limit, lease, scope).await?;
        self.count(match claimed.is_empty() {
            true => "claim (found nothing)",
            false => "claim",
        });
        Ok(claimed)
    }

    async fn heartbeat(&self, worker_id: &str, lease: Duration) -> StoreResult<u64> {
        self.count("heartbeat");
        self.inner.heartbeat(worker_id, lease).await
    }

    async fn finish(&self, outcomes: &[Outcome]) -> StoreResult<Vec<String>> {
        self.count("finish");
        self.inner.finish(outcomes).await
    }

    async fn release(&self, leases: &[Lease]) -> StoreResult<Vec<String>> {
        self.count("release");
        self.inner.release(leases).await
    }

    async fn rescue_expired(&self, max_rescues: u32) -> StoreResult<Option<RescueReport>> {
        self.count("rescue (transaction)");
        self.inner.rescue_expired(max_rescues).await
    }

    async fn delete_ended(
        &self,
        status: TaskStatus,
        ended_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<u64> {
        self.count("delete_ended");
        self.inner.delete_ended(status, ended_before, limit).await
    }

    async fn cancel_task(&self, task_id: &str) -> StoreResult<Option<TaskStatus>> {
        self.count("cancel_task");
        self.inner.cancel_task(task_id).await
    }

    async fn rerun(&self, task_id: &str, forget: bool) -> StoreResult<bool> {
        self.count("rerun");
        self.inner.rerun(task_id, forget).await
    }

    async fn listen(&self, wake: &(dyn Fn(Wake) + Send + Sync)) -> StoreResult<()> {
        self.inner.listen(wake).await
    }

    async fn ended(&self) -> StoreResult<watch::Receiver<u64>> {
        self.inner.ended().await
    }
}

#[async_trait]
impl StepStore for Counting {
    async fn load_steps(&self, task_id: &str) -> StoreResult<Vec<StepRecord>> {
        self.count("load_steps");
        self.inner.load_steps(task_id).await
    }

    async fn save_steps(&self, steps: &[(Lease, StepRecord)]) -> StoreResult<Vec<Checkpointed>> {
        self.count("save_steps");
        self.inner.save_steps(steps).await
    }

    async fn send_event(&self, task_id: &str, name: &str, payload: &Value) -> StoreResult<bool> {
        self.count("send_event");
        self.inner.send_event(task_id, name, payload).await
    }

    async fn find_event(
        &self,
        task_id: &str,
        name: &str,
        index: u32,
    ) -> StoreResult<Option<Value>> {
        self.count("find_event");
        self.inner.find_event(task_id, name, index).await
    }

    async fn events(&self, task_id: &str) -> StoreResult<Vec<EventRecord>> {
        self.count("events");
        self.inner.events(task_id).await
    }

    async fn start_child(&self, parent: &str, child: &NewTask) -> StoreResult<bool> {
        self.count("start_child");
        self.inner.start_child(parent, child).await
    }
}

#[async_trait]
impl ScheduleStore for Counting {
    async fn schedule(&self, schedule_id: &str) -> StoreResult<Option<ScheduleInfo>> {
        self.count("schedule");
        self.inner.schedule(schedule_id).await
    }

    async fn history(&self, schedule_id: &str, limit: usize) -> StoreResult<Vec<RunRecord>> {
        self.count("history");
        self.inner.history(schedule_id, limit).await
    }

    async fn schedules(&self) -> StoreResult<Vec<ScheduleInfo>> {
        self.count("schedules");
        self.inner.schedules().await
    }
}

#[async_trait]
impl InspectStore for Counting {
    async fn task(&self, task_id: &str) -> StoreResult<Option<TaskRecord>> {
        self.count("task");
        self.inner.task(task_id).await
    }

    async fn tasks(&self, filter: &TaskFilter, limit: usize) -> StoreResult<Vec<TaskRecord>> {
        self.count("tasks");
        self.inner.tasks(filter, limit).await
    }

    async fn count(&self, filter: &TaskFilter) -> StoreResult<u64> {
        Counting::count(self, "count");
        self.inner.count(filter).await
    }

    async fn attempts(&self, task_id: &str) -> StoreResult<Vec<AttemptRecord>> {
        self.count("attempts");
        self.inner.attempts(task_id).await
    }

    async fn counts(&self) -> StoreResult<Vec<TaskCounts>> {
        self.count("counts");
        self.inner.counts().await
    }

    async fn load(&self) -> StoreResult<Vec<TaskLoad>> {
        self.count("load");
        self.inner.load().await
    }

    async fn ended_per_minute(&self, since: DateTime<Utc>) -> StoreResult<Vec<EndedCount>> {
        self.count("ended_per_minute");
        self.inner.ended_per_minute(since).await
    }
}

#[async_trait]
impl WorkerStore for Counting {
    async fn record_worker(&self, worker: &WorkerRecord) -> StoreResult<()> {
        self.count("record_worker");
        self.inner.record_worker(worker).await
    }

    async fn beat_worker(&self, worker_id: &str) -> StoreResult<bool> {
        self.count("beat_worker");
        self.inner.beat_worker(worker_id).await
    }

    async fn remove_worker(&self, worker_id: &str) -> StoreResult<()> {
        self.count("remove_worker");
        self.inner.remove_worker(worker_id).await
    }

    async fn forget_workers(&self, silent_since: DateTime<Utc>) -> StoreResult<u64> {
        self.count("forget_workers");
        self.inner.forget_workers(silent_since).await
    }

    async fn workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        self.count("workers");
        self.inner.workers().await
    }

    async fn declared_tasks(&self) -> StoreResult<Vec<DeclaredTask>> {
        self.count("declared_tasks");
        self.inner.declared_tasks().await
    }
}

#[async_trait]
impl QueueControlStore for Counting {
    async fn declare_queues(&self, queues: &[QueueDeclaration]) -> StoreResult<()> {
        self.count("declare_queues");
        self.inner.declare_queues(queues).await
    }

    async fn set_queue_limits(
        &self,
        queue: &str,
        limits: Option<&QueueLimits>,
    ) -> StoreResult<bool> {
        self.count("set_queue_limits");
        self.inner.set_queue_limits(queue, limits).await
    }

    async fn pause_queue(&self, queue: &str, paused: bool) -> StoreResult<bool> {
        self.count("pause_queue");
        self.inner.pause_queue(queue, paused).await
    }

    async fn queue_states(&self) -> StoreResult<Vec<QueueState>> {
        self.count("queue_states");
        self.inner.queue_states().await
    }

    async fn rate_opens_at(&self, queue: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.count("rate_opens_at");
        self.inner.rate_opens_at(queue).await
    }
}

#[async_trait]
impl Store for Counting {
    async fn begin(&self) -> StoreResult<Box<dyn UnitOfWork>> {
        self.count("transaction: begin");
        Ok(Box::new(CountingWork {
            inner: self.inner.begin().await?,
            calls: self.calls.clone(),
        }))
    }

    async fn migration_state(&self) -> StoreResult<zart::store::MigrationState> {
        self.count("migration_state");
        self.inner.migration_state().await
    }

    async fn check_migrated(&self) -> StoreResult<()> {
        self.count("check_migrated");
        self.inner.check_migrated().await
    }
}

/// A unit of work whose statements are counted.
struct CountingWork {
    inner: Box<dyn UnitOfWork>,
    calls: Tally,
}

#[async_trait]
impl UnitOfWork for CountingWork {
    async fn insert(
        &mut self,
        tasks: &[NewTask],
        schedule_id: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        count(&self.calls, "transaction: insert");
        self.inner.insert(tasks, schedule_id).await
    }

    async fn complete(
        &mut self,
        lease: &Lease,
        result: Option<&Value>,
    ) -> StoreResult<Option<TaskStatus>> {
        count(&self.calls, "transaction: complete");
        self.inner.complete(lease, result).await
    }

    async fn save_steps(
        &mut self,
        steps: &[(Lease, StepRecord)],
    ) -> StoreResult<Vec<Checkpointed>> {
        count(&self.calls, "transaction: save_steps");
        self.inner.save_steps(steps).await
    }

    async fn lock_schedule(&mut self, schedule_id: &str) -> StoreResult<Option<ScheduleInfo>> {
        count(&self.calls, "transaction: lock_schedule");
        self.inner.lock_schedule(schedule_id).await
    }

    async fn insert_schedule(
        &mut self,
        task: &RecurringTask,
        state: ScheduleState,
        next_slot: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        count(&self.calls, "transaction: insert_schedule");
        self.inner.insert_schedule(task, state, next_slot).await
    }

    async fn update_schedule(&mut self, task: &RecurringTask) -> StoreResult<()> {
        count(&self.calls, "transaction: update_schedule");
        self.inner.update_schedule(task).await
    }

    async fn set_next_slot(
        &mut self,
        schedule_id: &str,
        next_slot: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        count(&self.calls, "transaction: set_next_slot");
        self.inner.set_next_slot(schedule_id, next_slot).await
    }

    async fn change_state(
        &mut self,
        schedule_id: &str,
        from: &[ScheduleState],
        to: ScheduleState,
    ) -> StoreResult<bool> {
        count(&self.calls, "transaction: change_state");
        self.inner.change_state(schedule_id, from, to).await
    }

    async fn request_trigger(&mut self, schedule_id: &str) -> StoreResult<bool> {
        count(&self.calls, "transaction: request_trigger");
        self.inner.request_trigger(schedule_id).await
    }

    async fn save_progress(
        &mut self,
        schedule_id: &str,
        progress: &ScheduleProgress,
    ) -> StoreResult<()> {
        count(&self.calls, "transaction: save_progress");
        self.inner.save_progress(schedule_id, progress).await
    }

    async fn active_runs(&mut self, schedule_id: &str) -> StoreResult<Vec<String>> {
        count(&self.calls, "transaction: active_runs");
        self.inner.active_runs(schedule_id).await
    }

    async fn cancel_runs(&mut self, task_ids: &[String]) -> StoreResult<()> {
        count(&self.calls, "transaction: cancel_runs");
        self.inner.cancel_runs(task_ids).await
    }

    async fn record_history(
        &mut self,
        schedule_id: &str,
        entries: &[HistoryEntry],
        keep: usize,
    ) -> StoreResult<()> {
        count(&self.calls, "transaction: record_history");
        self.inner.record_history(schedule_id, entries, keep).await
    }

    async fn set_tick(&mut self, schedule_id: &str, tick: &TickState) -> StoreResult<()> {
        count(&self.calls, "transaction: set_tick");
        self.inner.set_tick(schedule_id, tick).await
    }

    async fn end_tick(&mut self, lease: &Lease, tick: &TickState) -> StoreResult<bool> {
        count(&self.calls, "transaction: end_tick");
        self.inner.end_tick(lease, tick).await
    }

    fn connection(&mut self) -> Option<&mut (dyn std::any::Any + Send)> {
        self.inner.connection()
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        count(&self.calls, "transaction: commit");
        self.inner.commit().await
    }
}
