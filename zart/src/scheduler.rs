//! Scheduler-only use: the task queue without durable machinery.
//!
//! Everything a program needs to schedule plain tasks and run them, in one module:
//! `use zart::scheduler::*;`. The producer-side trait, [`TaskScheduler`], lives here.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::task::{TaskRecord, TaskStatus};

pub use crate::{
    CompletionHandler, OnComplete, PoolConfig, PostgresScheduler, PostgresTaskScheduler,
    RetryConfig, ScheduleAtParams, ScheduledTask, SchedulerTaskError, TableNames, TaskInstance,
    TaskRegistry, Worker, WorkerConfig,
};

/// What to do when a task id being scheduled already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfExists {
    /// Schedule nothing and return [`Error::AlreadyExists`] naming the existing ids.
    Error,
    /// Skip the existing ids and schedule the rest.
    Skip,
}

/// Schedules tasks and reads their state. Implemented by every storage backend
/// ([`PostgresTaskScheduler`] for PostgreSQL).
///
/// Task ids are idempotency keys: scheduling an id that exists is an error
/// ([`Error::AlreadyExists`]) or, through the `*_if_absent` methods, a no-op. Never a
/// duplicate.
///
/// ```no_run
/// use chrono::{Duration, Utc};
/// use serde_json::json;
/// use zart::{Error, ScheduleAtParams, TaskScheduler};
///
/// # async fn demo(scheduler: impl TaskScheduler) -> Result<(), Error> {
/// scheduler.schedule_now("welcome-42", "send-welcome-email", json!({ "user": 42 })).await?;
///
/// // The same id again is refused, or skipped on request.
/// let again = scheduler.schedule_now("welcome-42", "send-welcome-email", json!({})).await;
/// assert!(matches!(again, Err(Error::AlreadyExists(_))));
/// let reminder = ScheduleAtParams::at("remind-42", "remind", Utc::now() + Duration::hours(24), json!({}));
/// let inserted = scheduler.schedule_at_if_absent(reminder).await?;
///
/// // Bulk producers: one round trip, all or nothing.
/// let batch = (0..1000).map(|i| ScheduleAtParams::now(format!("import-{i}"), "import-row", json!(i)));
/// scheduler.schedule_many(batch.collect()).await?;
///
/// if let Some(status) = scheduler.status("import-7").await? {
///     println!("import-7 is {status}");
/// }
/// scheduler.cancel("remind-42").await?;
/// # let _ = inserted;
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait TaskScheduler: Send + Sync {
    /// Inserts `tasks` in one statement. With [`IfExists::Error`] either all are inserted or
    /// none; with [`IfExists::Skip`] existing ids are left alone. Returns the inserted ids.
    async fn schedule_many_with(
        &self,
        tasks: Vec<ScheduleAtParams>,
        if_exists: IfExists,
    ) -> Result<Vec<String>>;

    /// Cancels a task. One that is not running (pending, sleeping, waiting for an event)
    /// ends cancelled at once. One that is running is asked to stop: a durable execution
    /// stops at its next step boundary; a plain task's handler runs on, but the task ends
    /// cancelled and its outcome (result, follow-ups) is discarded. Returns whether the
    /// task was cancelled or asked to stop; an unknown or finished task is left alone.
    async fn cancel(&self, task_id: &str) -> Result<bool>;

    /// Everything stored about a task, or `None` for an unknown id.
    async fn get_task(&self, task_id: &str) -> Result<Option<TaskRecord>>;

    /// Tasks (durable executions included; Zart's own ticks excluded), newest first, at
    /// most `limit`, filtered by handler name and status when given.
    async fn list_tasks(
        &self,
        task_name: Option<&str>,
        status: Option<TaskStatus>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>>;

    /// Schedules a task that is due now.
    async fn schedule_now(&self, task_id: &str, task_name: &str, data: Value) -> Result<()> {
        self.schedule_at(ScheduleAtParams::at(task_id, task_name, Utc::now(), data))
            .await
    }

    /// Schedules a task; an existing id is [`Error::AlreadyExists`].
    async fn schedule_at(&self, params: ScheduleAtParams) -> Result<()> {
        self.schedule_many_with(vec![params], IfExists::Error)
            .await
            .map(drop)
    }

    /// Schedules a task unless its id exists. Returns whether it was inserted.
    async fn schedule_at_if_absent(&self, params: ScheduleAtParams) -> Result<bool> {
        let inserted = self
            .schedule_many_with(vec![params], IfExists::Skip)
            .await?;
        Ok(!inserted.is_empty())
    }

    /// Schedules many tasks in one round trip, all or none: if any id exists (or one id
    /// appears twice), nothing is scheduled and the error names the offending ids.
    async fn schedule_many(&self, tasks: Vec<ScheduleAtParams>) -> Result<()> {
        self.schedule_many_with(tasks, IfExists::Error)
            .await
            .map(drop)
    }

    /// The status of a task, or `None` for an unknown id.
    async fn status(&self, task_id: &str) -> Result<Option<TaskStatus>> {
        Ok(self.get_task(task_id).await?.map(|task| task.status))
    }
}

/// Task ids and names Zart keeps for itself (recurring ticks, for one).
pub(crate) const RESERVED_PREFIX: &str = "__zart";

/// Checks what every backend must refuse before touching storage.
pub(crate) fn validate(task: &ScheduleAtParams) -> Result<()> {
    let invalid = |reason: &str| {
        Err(Error::InvalidTask {
            task_id: task.task_id.clone(),
            reason: reason.to_owned(),
        })
    };
    if task.task_id.is_empty() {
        return invalid("the task id is empty");
    }
    if task.task_name.is_empty() {
        return invalid("the task name is empty");
    }
    if task.task_id.starts_with(RESERVED_PREFIX) || task.task_name.starts_with(RESERVED_PREFIX) {
        return invalid("ids and names starting with \"__zart\" are reserved for Zart's own tasks");
    }
    if task.recurrence.is_some() {
        return invalid("recurrence is not supported by the plain task queue yet");
    }
    Ok(())
}
