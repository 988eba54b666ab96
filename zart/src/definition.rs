//! Typed tasks: a [`TaskDefinition`] ties a task's name to its input and output types, so
//! that starting it with the wrong input, or reading its result as the wrong type, does
//! not compile. `#[task]` and `#[durable]` implement it; a [`Handle`] watches one run.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use zart_core::store::Store;
use zart_core::task::{TaskRecord, TaskStatus};

use crate::durable::{wait, LOOK_AGAIN_EVERY};
use crate::error::{Error, Result};
use crate::registry::TaskRegistry;
use crate::task::{Completion, OnComplete};

/// A task (plain or durable) known by type: its name, its input and its output.
///
/// `#[zart::task]` and `#[zart::durable]` implement it for the type behind the module they
/// generate (the type named like the function: `send_email`); a hand-written handler can
/// implement it too, to get typed handles.
///
/// ```
/// use zart::{Handle, TaskDefinition, TaskError, Zart};
///
/// #[zart::task]
/// async fn resize(width: u32) -> Result<u32, TaskError> {
///     Ok(width / 2)
/// }
///
/// assert_eq!(<resize as TaskDefinition>::NAME, "resize");
///
/// async fn half(zart: &Zart) -> Result<u32, Box<dyn std::error::Error>> {
///     let handle: Handle<resize> = resize::schedule_now(zart, "resize-1", 640).await?;
///     Ok(handle.wait(std::time::Duration::from_secs(10)).await?)
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Zart task",
    label = "not a task",
    note = "annotate an async fn with `#[zart::task]` or `#[zart::durable]` and name the fn (the type of the same name), or implement `TaskDefinition` by hand"
)]
pub trait TaskDefinition: Send + Sync + 'static {
    /// The name its runs are stored and claimed under.
    const NAME: &'static str;
    /// The priority its runs are started with (`#[task(priority = 5)]`): of the due
    /// tasks, higher priorities are claimed first. 0 unless declared.
    const PRIORITY: i16 = 0;
    /// What a run is started with.
    type Input: TaskInput;
    /// What the run returns on success: its result (read back by [`Handle::wait`] through
    /// [`TaskResult`]), or [`OnComplete`](crate::scheduler::OnComplete) for a task that schedules
    /// follow-ups.
    type Output: Send + 'static;

    /// Registers the handler (and its recurring schedules, and the states it needs).
    fn register(registry: &mut TaskRegistry);
}

/// What a task's input can be: a value stored as JSON and decoded back, owned by the run.
/// Implemented for every `Serialize + DeserializeOwned + Send + 'static` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a task's input",
    label = "inputs are stored as JSON",
    note = "derive `serde::Serialize` and `serde::Deserialize` for `{Self}`; inputs are owned values (`Send + 'static`)"
)]
pub trait TaskInput: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> TaskInput for T {}

/// How a completed run's stored result reads back in [`Handle::wait`]: a
/// `serde::Deserialize` type as itself; the [`OnComplete`] of a task that schedules
/// follow-ups as the JSON result it stored, if any.
#[diagnostic::on_unimplemented(
    message = "the result `{Self}` cannot be read back",
    label = "results are read back from JSON",
    note = "derive `serde::Deserialize` for `{Self}` to wait for it"
)]
pub trait TaskResult {
    /// What [`Handle::wait`] returns.
    type Value;
    /// Decodes the stored result (`None` if the run stored none).
    fn read(stored: Option<Value>) -> std::result::Result<Self::Value, serde_json::Error>;
}

impl<T: DeserializeOwned> TaskResult for T {
    type Value = T;

    fn read(stored: Option<Value>) -> std::result::Result<T, serde_json::Error> {
        serde_json::from_value(stored.unwrap_or(Value::Null))
    }
}

impl TaskResult for OnComplete {
    type Value = Option<Value>;

    fn read(stored: Option<Value>) -> std::result::Result<Option<Value>, serde_json::Error> {
        Ok(stored)
    }
}

impl TaskResult for Completion {
    type Value = Option<Value>;

    fn read(stored: Option<Value>) -> std::result::Result<Option<Value>, serde_json::Error> {
        Ok(stored)
    }
}

/// One run of task `D`, by id: its status, its typed result, and control over it.
pub struct Handle<D> {
    id: String,
    store: Arc<dyn Store>,
    definition: PhantomData<fn() -> D>,
}

impl<D> Clone for Handle<D> {
    fn clone(&self) -> Self {
        Handle {
            id: self.id.clone(),
            store: self.store.clone(),
            definition: PhantomData,
        }
    }
}

impl<D> std::fmt::Debug for Handle<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("task", &std::any::type_name::<D>())
            .field("id", &self.id)
            .finish()
    }
}

/// Why [`Handle::wait`] returned no result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The run had not ended when the timeout passed; it goes on.
    #[error("task {task_id:?} is still {status} after {timeout:?}")]
    TimedOut {
        /// The run's id.
        task_id: String,
        /// Its status when the wait gave up.
        status: TaskStatus,
        /// How long the wait lasted.
        timeout: Duration,
    },
    /// The run ended without a result: failed, dead or cancelled.
    #[error("task {task_id:?} ended {status}{}", .error.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    Ended {
        /// The run's id.
        task_id: String,
        /// How it ended.
        status: TaskStatus,
        /// Its last error, if any.
        error: Option<String>,
    },
    /// The stored result does not decode into the task's output type (the code changed
    /// since the run completed).
    #[error("task {task_id:?} completed, but its result does not decode: {source}")]
    Decode {
        /// The run's id.
        task_id: String,
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// The store failed, or knows no run with this id.
    #[error(transparent)]
    Store(#[from] Error),
}

impl<D: TaskDefinition> Handle<D> {
    pub(crate) fn new(id: String, store: Arc<dyn Store>) -> Self {
        Handle {
            id,
            store,
            definition: PhantomData,
        }
    }

    /// The run's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The run's status, or `None` if no run has this id.
    pub async fn status(&self) -> Result<Option<TaskStatus>> {
        Ok(self.record().await?.map(|record| record.status))
    }

    /// Everything stored about the run, or `None`.
    pub async fn record(&self) -> Result<Option<TaskRecord>> {
        Ok(self.store.task(&self.id).await?)
    }

    /// Waits until the run ends, at most `timeout` (woken by the store's notifications),
    /// and returns its typed result.
    pub async fn wait(
        &self,
        timeout: Duration,
    ) -> Result<<D::Output as TaskResult>::Value, WaitError>
    where
        D::Output: TaskResult,
    {
        let record = wait(self.store.as_ref(), &self.id, timeout, LOOK_AGAIN_EVERY).await?;
        match record.status {
            TaskStatus::Completed => {
                D::Output::read(record.result).map_err(|source| WaitError::Decode {
                    task_id: self.id.clone(),
                    source,
                })
            }
            status if status.is_terminal() => Err(WaitError::Ended {
                task_id: self.id.clone(),
                status,
                error: record.error,
            }),
            status => Err(WaitError::TimedOut {
                task_id: self.id.clone(),
                status,
                timeout,
            }),
        }
    }

    /// Cancels the run (a running durable execution stops at its next step boundary).
    /// Returns whether it was cancelled or asked to stop.
    pub async fn cancel(&self) -> Result<bool> {
        Ok(self.store.cancel_task(&self.id).await?.is_some())
    }

    /// Sends event `name` to the run (a durable execution waiting in
    /// [`wait_for_event`](crate::wait_for_event)). Returns whether a waiting run was woken.
    pub async fn send_event(&self, name: &str, payload: &impl Serialize) -> Result<bool> {
        let payload = crate::enqueue::event_payload(&self.id, name, payload)?;
        Ok(self.store.send_event(&self.id, name, &payload).await?)
    }
}
