//! [`DurableScheduler`]: durable executions by id, for programs that start and watch them.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use zart_core::steps::StepRecord;
use zart_core::store::Store;
use zart_core::task::{ScheduleAtParams, TaskFilter, TaskRecord, TaskStatus};

use super::wait::{wait, LOOK_AGAIN_EVERY};
use crate::enqueue::{insert, IfExists};
use crate::error::{Error, Result};

/// Starts, watches and controls durable executions (on any store).
///
/// ```no_run
/// use std::time::Duration;
/// use zart::postgres::PostgresTaskScheduler as PostgresScheduler;
/// use zart::DurableScheduler;
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
    store: Arc<dyn Store>,
}

impl DurableScheduler {
    /// A scheduler over `store` (a clone of it: stores share their pool).
    pub fn from_backend<S: Store + Clone>(store: &S) -> Self {
        DurableScheduler::from_arc(Arc::new(store.clone()))
    }

    pub(crate) fn from_arc(store: Arc<dyn Store>) -> Self {
        DurableScheduler { store }
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
        insert(self.store.as_ref(), &[params.into()], IfExists::Error)
            .await
            .map(drop)
    }

    /// Starts the execution unless one with this id exists. Returns whether it started.
    pub async fn start_if_absent(
        &self,
        name: &str,
        execution_id: &str,
        input: &impl Serialize,
    ) -> Result<bool> {
        let params = ScheduleAtParams::now(execution_id, name, to_value(execution_id, input)?);
        let inserted = insert(self.store.as_ref(), &[params.into()], IfExists::Skip).await?;
        Ok(!inserted.is_empty())
    }

    /// The execution's status, or `None` for an unknown id.
    pub async fn status(&self, execution_id: &str) -> Result<Option<TaskStatus>> {
        Ok(self.get(execution_id).await?.map(|record| record.status))
    }

    /// Everything stored about the execution (input, status, result, error, attempts,
    /// timing), or `None`.
    pub async fn get(&self, execution_id: &str) -> Result<Option<TaskRecord>> {
        Ok(self.store.task(execution_id).await?)
    }

    /// The execution's steps, in call order, each with its outcome, attempts, failed
    /// attempts, start and finish (timers and event waits included, as `sleep:<name>`,
    /// `event:<name>`, ...).
    pub async fn steps(&self, execution_id: &str) -> Result<Vec<StepRecord>> {
        Ok(self.store.load_steps(execution_id).await?)
    }

    /// The executions of the durable execution registered as `name` (all names when
    /// `None`), newest first, at most `limit`, with `status` when given.
    pub async fn list(
        &self,
        name: Option<&str>,
        status: Option<TaskStatus>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>> {
        let filter = TaskFilter::matching(name, status);
        Ok(self.store.tasks(&filter, limit).await?)
    }

    /// The typed result of a completed execution: `None` while it has not completed
    /// (see [`wait`](Self::wait)); an error if the stored result does not decode into `T`.
    pub async fn result<T: DeserializeOwned>(&self, execution_id: &str) -> Result<Option<T>> {
        let Some(record) = self.store.task(execution_id).await? else {
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

    /// Waits until the execution (or any task) ends, at most `timeout`, and returns its
    /// record: check [`TaskStatus::is_terminal`] to tell an end from a timeout. Woken by
    /// the store's notifications, not by polling; since a notification can be lost, it
    /// looks again at least every `poll` (default: every second).
    /// [`Error::NotFound`] for an unknown id.
    pub async fn wait(
        &self,
        execution_id: &str,
        timeout: Duration,
        poll: Option<Duration>,
    ) -> Result<TaskRecord> {
        let look_again = poll.unwrap_or(LOOK_AGAIN_EVERY);
        wait(self.store.as_ref(), execution_id, timeout, look_again).await
    }

    /// Cancels the execution: one that is not running ends cancelled at once; a running
    /// one stops at its next step boundary. Returns whether it was cancelled or asked to
    /// stop; an unknown or ended execution is left alone.
    pub async fn cancel(&self, execution_id: &str) -> Result<bool> {
        Ok(self.store.cancel_task(execution_id).await?.is_some())
    }

    /// Runs an ended (failed, dead or cancelled) execution again, from its record: the
    /// steps it completed return their stored results. Attempts start over. Returns
    /// whether the execution had ended and was rescheduled.
    pub async fn retry(&self, execution_id: &str) -> Result<bool> {
        Ok(self.store.rerun(execution_id, false).await?)
    }

    /// Runs an ended execution again from scratch: its record (steps, events) is deleted,
    /// so every step runs again. Returns whether it was rescheduled.
    pub async fn restart(&self, execution_id: &str) -> Result<bool> {
        Ok(self.store.rerun(execution_id, true).await?)
    }

    /// Sends event `name` with `payload` to the execution. Events are kept: one sent
    /// before the execution waits for it is not lost (the n-th wait for a name takes the
    /// n-th event of that name). Returns whether a suspended execution was woken.
    pub async fn send_event(
        &self,
        execution_id: &str,
        name: &str,
        payload: &impl Serialize,
    ) -> Result<bool> {
        let payload = crate::enqueue::event_payload(execution_id, name, payload)?;
        Ok(self.store.send_event(execution_id, name, &payload).await?)
    }

    /// Stops a recurring schedule: no new occurrences; those already running finish
    /// normally. Returns whether it was active or paused.
    pub async fn stop_recurring(&self, schedule_id: &str) -> Result<bool> {
        crate::recurring::stop(self.store.as_ref(), schedule_id).await
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
