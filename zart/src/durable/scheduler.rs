//! [`DurableScheduler`]: durable executions by id, for programs that start and watch them.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::backend::{StepRecord, TaskBackend};
use crate::error::{Error, Result};
use crate::scheduler::IfExists;
use crate::task::{ScheduleAtParams, TaskRecord, TaskStatus};

/// Starts, watches and controls durable executions (any backend).
///
/// ```no_run
/// use std::time::Duration;
/// use zart::{DurableScheduler, PostgresScheduler};
///
/// # async fn demo(pg: PostgresScheduler) -> Result<(), zart::Error> {
/// let durable = DurableScheduler::from_backend(&pg);
/// durable.start("checkout", "order-42", &serde_json::json!({ "total": 42 })).await?;
/// let record = durable.wait("order-42", Duration::from_secs(30), None).await?;
/// println!("{:?} {:?}", record.status, record.result);
/// durable.stop_recurring("nightly-report").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DurableScheduler {
    backend: Arc<dyn TaskBackend>,
}

impl DurableScheduler {
    /// A scheduler over `backend` (a clone of it: backends share their pool).
    pub fn from_backend<B: TaskBackend + Clone>(backend: &B) -> Self {
        DurableScheduler::from_arc(Arc::new(backend.clone()))
    }

    pub(crate) fn from_arc(backend: Arc<dyn TaskBackend>) -> Self {
        DurableScheduler { backend }
    }

    /// Starts execution `execution_id` of the durable execution registered as `name`, with
    /// `input`. The id is an idempotency key: an existing id is [`Error::AlreadyExists`];
    /// [`start_if_absent`](Self::start_if_absent) keeps the existing execution instead.
    pub async fn start(
        &self,
        name: &str,
        execution_id: &str,
        input: &impl Serialize,
    ) -> Result<()> {
        let params = ScheduleAtParams::now(execution_id, name, to_value(execution_id, input)?);
        self.backend.schedule_at(params).await
    }

    /// Starts the execution unless one with this id exists. Returns whether it started.
    pub async fn start_if_absent(
        &self,
        name: &str,
        execution_id: &str,
        input: &impl Serialize,
    ) -> Result<bool> {
        let params = ScheduleAtParams::now(execution_id, name, to_value(execution_id, input)?);
        let inserted = self
            .backend
            .schedule_many_with(vec![params], IfExists::Skip)
            .await?;
        Ok(!inserted.is_empty())
    }

    /// The execution's status, or `None` for an unknown id.
    pub async fn status(&self, execution_id: &str) -> Result<Option<TaskStatus>> {
        self.backend.status(execution_id).await
    }

    /// Everything stored about the execution (input, status, result, error, attempts,
    /// timing), or `None`.
    pub async fn get(&self, execution_id: &str) -> Result<Option<TaskRecord>> {
        self.backend.get_task(execution_id).await
    }

    /// The execution's steps, in call order, each with its outcome, attempts and start
    /// (timers and event waits included, as `sleep:<name>`, `event:<name>`, ...).
    pub async fn steps(&self, execution_id: &str) -> Result<Vec<StepRecord>> {
        self.backend.load_steps(execution_id).await
    }

    /// The executions of the durable execution registered as `name` (all names when
    /// `None`), newest first, at most `limit`, with `status` when given.
    pub async fn list(
        &self,
        name: Option<&str>,
        status: Option<TaskStatus>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>> {
        self.backend.list_tasks(name, status, limit).await
    }

    /// The typed result of a completed execution: `None` while it has not completed
    /// (see [`wait`](Self::wait)); an error if the stored result does not decode into `T`.
    pub async fn result<T: DeserializeOwned>(&self, execution_id: &str) -> Result<Option<T>> {
        let Some(record) = self.backend.get_task(execution_id).await? else {
            return Err(Error::NotFound(execution_id.to_owned()));
        };
        if record.status != TaskStatus::Completed {
            return Ok(None);
        }
        let value = record.result.unwrap_or(Value::Null);
        T::deserialize(value)
            .map(Some)
            .map_err(|e| Error::InvalidTask {
                task_id: execution_id.to_owned(),
                reason: format!("its result does not decode into the requested type: {e}"),
            })
    }

    /// Waits until the execution ends, at most `timeout` (see [`ExecutionControl::wait`](super::ExecutionControl::wait)).
    /// `poll` is accepted for compatibility and ignored: waiting is driven by the store's
    /// notifications (with a one-second safety net).
    pub async fn wait(
        &self,
        execution_id: &str,
        timeout: Duration,
        poll: Option<Duration>,
    ) -> Result<TaskRecord> {
        let _ = poll;
        self.backend.wait(execution_id, timeout).await
    }

    /// Cancels the execution (a running one stops at its next step boundary).
    pub async fn cancel(&self, execution_id: &str) -> Result<bool> {
        self.backend.cancel(execution_id).await
    }

    /// Runs an ended execution again from its record.
    pub async fn retry(&self, execution_id: &str) -> Result<bool> {
        self.backend.retry(execution_id).await
    }

    /// Runs an ended execution again from scratch.
    pub async fn restart(&self, execution_id: &str) -> Result<bool> {
        self.backend.restart(execution_id).await
    }

    /// Sends an event to the execution.
    pub async fn send_event(
        &self,
        execution_id: &str,
        name: &str,
        payload: &impl Serialize,
    ) -> Result<bool> {
        let payload = to_value(execution_id, payload)?;
        self.backend.send_event(execution_id, name, payload).await
    }

    /// Stops a recurring schedule: no new occurrences; those already running finish
    /// normally. Returns whether it was active or paused.
    pub async fn stop_recurring(&self, schedule_id: &str) -> Result<bool> {
        self.backend.stop(schedule_id).await
    }
}

/// `value` as JSON, or the error naming the task whose input it is.
pub(crate) fn to_value(execution_id: &str, value: &impl Serialize) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::InvalidTask {
        task_id: execution_id.to_owned(),
        reason: format!("its input does not serialise: {e}"),
    })
}

impl std::fmt::Debug for DurableScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableScheduler").finish_non_exhaustive()
    }
}
