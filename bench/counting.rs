//! A backend that counts the round trips a worker makes, by delegating every call to
//! PostgreSQL and tallying it by name. Each counted call is one statement (one round trip)
//! except the transactional ones, which the report names separately.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use zart::backend::{
    Checkpointed, ClaimScope, ClaimedTask, FollowUpCompletion, Lease, Outcome, RescueReport,
    StepRecord, TaskBackend, WakeSignal,
};
use zart::durable::ExecutionControl;
use zart::recurring::{RecurringScheduler, RecurringTask, RunRecord, ScheduleInfo, TickReport};
use zart::{IfExists, PostgresTaskScheduler, Result, ScheduleAtParams, TaskRecord, TaskScheduler};

#[derive(Clone)]
pub struct Counting {
    inner: PostgresTaskScheduler,
    calls: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl Counting {
    pub fn new(inner: PostgresTaskScheduler) -> Self {
        Counting {
            inner,
            calls: Arc::default(),
        }
    }

    fn count(&self, name: &'static str) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(name).or_default() += 1;
        }
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
impl TaskScheduler for Counting {
    async fn schedule_many_with(
        &self,
        tasks: Vec<ScheduleAtParams>,
        if_exists: IfExists,
    ) -> Result<Vec<String>> {
        self.count("schedule");
        self.inner.schedule_many_with(tasks, if_exists).await
    }
    async fn cancel(&self, task_id: &str) -> Result<bool> {
        self.count("cancel");
        self.inner.cancel(task_id).await
    }
    async fn list_tasks(
        &self,
        task_name: Option<&str>,
        status: Option<zart::TaskStatus>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>> {
        self.inner.list_tasks(task_name, status, limit).await
    }
    async fn get_task(&self, task_id: &str) -> Result<Option<TaskRecord>> {
        self.count("get_task");
        self.inner.get_task(task_id).await
    }
}

#[async_trait]
impl RecurringScheduler for Counting {
    async fn upsert_recurring(&self, task: &RecurringTask) -> Result<()> {
        self.inner.upsert_recurring(task).await
    }
    async fn pause(&self, id: &str) -> Result<bool> {
        self.inner.pause(id).await
    }
    async fn resume(&self, id: &str) -> Result<bool> {
        self.inner.resume(id).await
    }
    async fn trigger_now(&self, id: &str) -> Result<bool> {
        self.inner.trigger_now(id).await
    }
    async fn stop(&self, id: &str) -> Result<bool> {
        self.inner.stop(id).await
    }
    async fn schedule_info(&self, id: &str) -> Result<Option<ScheduleInfo>> {
        self.inner.schedule_info(id).await
    }
    async fn history(&self, id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        self.inner.history(id, limit).await
    }
}

#[async_trait]
impl ExecutionControl for Counting {
    async fn send_event(&self, id: &str, name: &str, payload: Value) -> Result<bool> {
        self.inner.send_event(id, name, payload).await
    }
    async fn retry(&self, id: &str) -> Result<bool> {
        self.inner.retry(id).await
    }
    async fn restart(&self, id: &str) -> Result<bool> {
        self.inner.restart(id).await
    }
    async fn wait(&self, id: &str, timeout: Duration) -> Result<TaskRecord> {
        self.inner.wait(id, timeout).await
    }
}

#[async_trait]
impl TaskBackend for Counting {
    async fn claim_in(
        &self,
        worker_id: &str,
        limit: usize,
        lease: Duration,
        scope: &ClaimScope,
    ) -> Result<Vec<ClaimedTask>> {
        let claimed = self.inner.claim_in(worker_id, limit, lease, scope).await?;
        self.count(match claimed.is_empty() {
            true => "claim (found nothing)",
            false => "claim",
        });
        Ok(claimed)
    }
    async fn heartbeat(&self, worker_id: &str, lease: Duration) -> Result<u64> {
        self.count("heartbeat");
        self.inner.heartbeat(worker_id, lease).await
    }
    async fn finish(&self, outcomes: &[Outcome]) -> Result<Vec<String>> {
        self.count("finish");
        self.inner.finish(outcomes).await
    }
    async fn complete_with_follow_ups(
        &self,
        lease: &Lease,
        result: Option<Value>,
        follow_ups: Vec<ScheduleAtParams>,
    ) -> Result<FollowUpCompletion> {
        self.count("complete_with_follow_ups (transaction)");
        self.inner
            .complete_with_follow_ups(lease, result, follow_ups)
            .await
    }
    async fn release(&self, leases: &[Lease]) -> Result<Vec<String>> {
        self.count("release");
        self.inner.release(leases).await
    }
    async fn rescue_expired(&self, max_rescues: u32) -> Result<Option<RescueReport>> {
        self.count("rescue (transaction)");
        self.inner.rescue_expired(max_rescues).await
    }
    async fn start_child(&self, parent: &str, child: &ScheduleAtParams) -> Result<bool> {
        self.count("start_child");
        self.inner.start_child(parent, child).await
    }
    async fn find_event(&self, task_id: &str, name: &str, index: u32) -> Result<Option<Value>> {
        self.count("find_event");
        self.inner.find_event(task_id, name, index).await
    }
    async fn load_steps(&self, task_id: &str) -> Result<Vec<StepRecord>> {
        self.count("load_steps");
        self.inner.load_steps(task_id).await
    }
    async fn save_steps(&self, steps: &[(Lease, StepRecord)]) -> Result<Vec<Checkpointed>> {
        self.count("save_steps");
        self.inner.save_steps(steps).await
    }
    async fn fire_tick(&self, lease: &Lease, now: DateTime<Utc>) -> Result<Option<TickReport>> {
        self.count("fire_tick (transaction)");
        self.inner.fire_tick(lease, now).await
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self.inner.as_any()
    }
    async fn listen(&self, wake: WakeSignal) -> Result<()> {
        self.inner.listen(wake).await
    }
}
