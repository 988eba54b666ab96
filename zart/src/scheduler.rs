//! Scheduler-only use: the task queue without durable machinery.
//!
//! Everything a program needs to schedule plain tasks and run them: handlers
//! ([`ScheduledTask`]) registered by name ([`TaskRegistry`]), a [`Worker`] that runs them,
//! and [`TaskScheduler`], the producer side, which every store has (and
//! [`Zart::tasks`](crate::Zart::tasks) too).

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;
use zart_core::store::Store;

use crate::error::Result;

pub use crate::client::StartOptions;
pub use crate::enqueue::IfExists;
pub use crate::error::{ConfigError, RegistryError};
pub use crate::registry::{TaskRegistry, DEFAULT_QUEUE};
pub use crate::retry::RetryConfig;
pub use crate::task::{
    Completion, CompletionHandler, OnComplete, ScheduledTask, SchedulerTaskError, TaskInstance,
};
pub use crate::worker::{QueueConfig, Retention, RunningWorker, Worker, WorkerConfig};
pub use zart_core::task::{
    CursorError, NewTask, Recurrence, ScheduleAtParams, TaskCursor, TaskFilter, TaskRecord,
    TaskStatus, MAX_ID_LEN, MAX_NAME_LEN,
};

mod sealed {
    /// What a [`TaskScheduler`](super::TaskScheduler) schedules into. Not nameable outside
    /// the crate: a scheduler hands out its store to no one.
    pub trait Queue {
        fn queue(&self) -> &dyn zart_core::store::Store;
    }
}

/// Schedules tasks and reads their state. Every store has it (a
/// [`PostgresTaskScheduler`](crate::postgres::PostgresTaskScheduler), say), and so does the
/// client's [`Tasks`] view.
///
/// Task ids are idempotency keys: scheduling an id that exists is an error
/// ([`Error::AlreadyExists`](crate::Error::AlreadyExists)) or, through the `*_if_absent`
/// methods, a no-op. Never a duplicate. Ids are at most [`MAX_ID_LEN`] bytes, names at most
/// [`MAX_NAME_LEN`]; longer ones are refused with
/// [`Error::InvalidTask`](crate::Error::InvalidTask).
///
/// ```no_run
/// use chrono::{Duration, Utc};
/// use serde_json::json;
/// use zart::scheduler::{ScheduleAtParams, TaskScheduler};
/// use zart::Error;
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
pub trait TaskScheduler: Send + Sync + sealed::Queue {
    /// Inserts `tasks` in one statement. With [`IfExists::Error`] either all are inserted or
    /// none; with [`IfExists::Skip`] existing ids are left alone. Returns the inserted ids.
    async fn schedule_many_with<T: Into<NewTask> + Send>(
        &self,
        tasks: Vec<T>,
        if_exists: IfExists,
    ) -> Result<Vec<String>> {
        let tasks: Vec<NewTask> = tasks.into_iter().map(Into::into).collect();
        crate::enqueue::insert(self.queue(), &tasks, if_exists).await
    }

    /// Schedules a task that is due now.
    async fn schedule_now(&self, task_id: &str, task_name: &str, data: Value) -> Result<()> {
        self.schedule_at(ScheduleAtParams::at(task_id, task_name, Utc::now(), data))
            .await
    }

    /// Schedules a task; an existing id is
    /// [`Error::AlreadyExists`](crate::Error::AlreadyExists).
    async fn schedule_at<T: Into<NewTask> + Send>(&self, params: T) -> Result<()> {
        self.schedule_many_with(vec![params], IfExists::Error)
            .await
            .map(drop)
    }

    /// Schedules a task unless its id exists. Returns whether it was inserted.
    async fn schedule_at_if_absent<T: Into<NewTask> + Send>(&self, params: T) -> Result<bool> {
        let inserted = self
            .schedule_many_with(vec![params], IfExists::Skip)
            .await?;
        Ok(!inserted.is_empty())
    }

    /// Schedules many tasks in one round trip, all or none: if any id exists, nothing is
    /// scheduled and [`Error::AlreadyExists`](crate::Error::AlreadyExists) names the
    /// existing ids; a batch that names one id twice is
    /// [`Error::InvalidTask`](crate::Error::InvalidTask), and nothing is scheduled either.
    async fn schedule_many<T: Into<NewTask> + Send>(&self, tasks: Vec<T>) -> Result<()> {
        self.schedule_many_with(tasks, IfExists::Error)
            .await
            .map(drop)
    }

    /// Cancels a task. One that is not running (pending, sleeping, waiting for an event)
    /// ends cancelled at once. One that is running is asked to stop: a durable execution
    /// stops at its next step boundary; a plain task's handler runs on, but the task ends
    /// cancelled and its outcome (result, follow-ups) is discarded. Returns whether the
    /// task was cancelled or asked to stop; an unknown or finished task is left alone.
    async fn cancel(&self, task_id: &str) -> Result<bool> {
        let cancelled = self.queue().cancel_task(task_id).await?;
        if cancelled == Some(TaskStatus::Running) {
            tracing::info!(task_id, "cancel requested for a running task");
        }
        Ok(cancelled.is_some())
    }

    /// Everything stored about a task, or `None` for an unknown id.
    async fn get_task(&self, task_id: &str) -> Result<Option<TaskRecord>> {
        Ok(self.queue().task(task_id).await?)
    }

    /// The status of a task, or `None` for an unknown id.
    async fn status(&self, task_id: &str) -> Result<Option<TaskStatus>> {
        Ok(self.get_task(task_id).await?.map(|task| task.status))
    }

    /// Tasks (durable executions included; Zart's own ticks excluded), newest first, at
    /// most `limit`, filtered by handler name and status when given.
    async fn list_tasks(
        &self,
        task_name: Option<&str>,
        status: Option<TaskStatus>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>> {
        let filter = TaskFilter::matching(task_name, status);
        Ok(self.queue().tasks(&filter, limit).await?)
    }

    /// How many tasks match `filter` (Zart's own ticks excluded).
    async fn count_tasks(&self, filter: &TaskFilter) -> Result<u64> {
        Ok(self.queue().count(filter).await?)
    }
}

impl<S: Store> sealed::Queue for S {
    fn queue(&self) -> &dyn Store {
        self
    }
}

impl<S: Store> TaskScheduler for S {}

impl sealed::Queue for dyn Store {
    fn queue(&self) -> &dyn Store {
        self
    }
}

/// A store behind `Arc<dyn Store>` (one picked at run time) schedules too.
impl TaskScheduler for dyn Store {}

/// The tasks of a [`Zart`](crate::Zart) client: [`TaskScheduler`] over its store.
#[derive(Clone)]
pub struct Tasks {
    store: std::sync::Arc<dyn Store>,
}

impl Tasks {
    pub(crate) fn new(store: std::sync::Arc<dyn Store>) -> Self {
        Tasks { store }
    }
}

impl sealed::Queue for Tasks {
    fn queue(&self) -> &dyn Store {
        self.store.as_ref()
    }
}

impl TaskScheduler for Tasks {}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}
