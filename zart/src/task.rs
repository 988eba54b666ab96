//! What a task is: the handler trait, the instance it runs on, and how it completes.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::retry::RetryConfig;

/// The code that runs when a task of one name is due.
///
/// Register an implementation under a name in a [`TaskRegistry`](crate::TaskRegistry); a
/// [`Worker`](crate::Worker) claims due tasks of that name and calls [`execute`](Self::execute).
///
/// ```
/// use zart::{async_trait, CompletionHandler, OnComplete, ScheduledTask, SchedulerTaskError, TaskInstance};
///
/// #[derive(serde::Deserialize)]
/// struct Greeting { name: String }
///
/// struct Greet;
///
/// #[async_trait]
/// impl ScheduledTask for Greet {
///     async fn execute(&self, instance: &TaskInstance) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
///         let input: Greeting = serde_json::from_value(instance.data.clone())?;
///         println!("Hello, {}!", input.name);
///         Ok(OnComplete::done())
///     }
/// }
/// ```
#[async_trait]
pub trait ScheduledTask: Send + Sync + 'static {
    /// Runs the task. `Ok` completes it (storing the result and scheduling follow-ups in
    /// one transaction); `Err` consumes an attempt and, when [`retry_config`](Self::retry_config)
    /// allows and the error is retryable, schedules another one with backoff.
    async fn execute(
        &self,
        instance: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError>;

    /// Retry policy for failed attempts. Default: [`RetryConfig::none`], a single attempt.
    fn retry_config(&self) -> RetryConfig {
        RetryConfig::none()
    }

    /// Longest time one attempt may run; a slower attempt fails with a retryable error.
    /// Default: no limit.
    fn timeout(&self) -> Option<Duration> {
        None
    }
}

/// One claimed task, as its handler sees it.
#[derive(Clone, Debug)]
pub struct TaskInstance {
    /// The task's id (the idempotency key it was scheduled under).
    pub task_id: String,
    /// The registered name that selected the handler.
    pub task_name: String,
    /// The input the task was scheduled with.
    pub data: Value,
    /// Free-form metadata the task was scheduled with.
    pub metadata: Value,
    /// Which attempt this is, starting at 1.
    pub attempt: u32,
    /// When the task was due.
    pub scheduled_at: DateTime<Utc>,
    /// The id of the worker running it.
    pub worker_id: String,
}

impl TaskInstance {
    /// Where the run came from, when a recurring schedule started it: the schedule, the
    /// slot, the run's number, whether it is a catch-up, the time zone.
    pub fn run_context(&self) -> Option<crate::recurring::RunContext> {
        serde_json::from_value(self.metadata.get("schedule")?.clone()).ok()
    }

    /// Decodes [`data`](Self::data) into `T`; a mismatch is a permanent (non-retried) error.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, SchedulerTaskError> {
        Ok(T::deserialize(&self.data)?)
    }
}

/// What a successful task hands back: turned into an [`OnComplete`] when the task completes.
///
/// [`OnComplete`] is the implementation almost everyone needs; implement this trait to
/// compute the completion lazily from a type of your own.
pub trait CompletionHandler: Send {
    /// The result to store and the follow-up tasks to schedule.
    fn into_on_complete(self: Box<Self>) -> OnComplete;
}

/// A completed task's result and the follow-up tasks scheduled with it, atomically: the
/// task is marked completed, its result stored and every follow-up inserted in one
/// transaction, or none of it happens.
#[derive(Clone, Debug, Default)]
pub struct OnComplete {
    /// Stored as the task's result.
    pub result: Option<Value>,
    /// Tasks scheduled in the completing transaction.
    pub schedule_next: Vec<ScheduleAtParams>,
}

impl OnComplete {
    /// Completion with no result and no follow-ups.
    pub fn done() -> Box<dyn CompletionHandler> {
        Box::new(OnComplete::default())
    }

    /// Completion that stores `result`.
    pub fn with_result(result: Value) -> Box<dyn CompletionHandler> {
        Box::new(OnComplete {
            result: Some(result),
            schedule_next: Vec::new(),
        })
    }
}

impl CompletionHandler for OnComplete {
    fn into_on_complete(self: Box<Self>) -> OnComplete {
        *self
    }
}

/// A task to schedule: its id, the handler name, when it is due and its input.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleAtParams {
    /// Unique id and idempotency key.
    pub task_id: String,
    /// Name of the registered handler that runs it.
    pub task_name: String,
    /// When it becomes due.
    pub execution_time: DateTime<Utc>,
    /// Input handed to the handler as [`TaskInstance::data`].
    pub data: Value,
    /// Repetition. Not supported by the plain queue yet: a task with a recurrence is
    /// rejected with [`Error::InvalidTask`](crate::Error::InvalidTask).
    pub recurrence: Option<Recurrence>,
    /// Free-form metadata stored with the task.
    pub metadata: Value,
}

impl ScheduleAtParams {
    /// A task due now, with no metadata.
    pub fn now(task_id: impl Into<String>, task_name: impl Into<String>, data: Value) -> Self {
        ScheduleAtParams::at(task_id, task_name, Utc::now(), data)
    }

    /// A task due at `execution_time`, with no metadata.
    pub fn at(
        task_id: impl Into<String>,
        task_name: impl Into<String>,
        execution_time: DateTime<Utc>,
        data: Value,
    ) -> Self {
        ScheduleAtParams {
            task_id: task_id.into(),
            task_name: task_name.into(),
            execution_time,
            data,
            recurrence: None,
            metadata: Value::Null,
        }
    }
}

/// How a task repeats, in the shape users of Zart know.
///
/// Recurring schedules are not implemented by the plain queue yet; this type exists so
/// that [`ScheduleAtParams`] keeps its familiar shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recurrence {
    /// Run again `duration_ms` after the previous run ended.
    FixedDelay {
        /// The delay in milliseconds.
        duration_ms: u64,
    },
    /// Run at the slots of a cron expression, evaluated in an IANA time zone.
    Cron {
        /// The cron expression.
        expression: String,
        /// The IANA time zone name.
        timezone: String,
    },
}

/// Why a task handler failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerTaskError {
    /// The task's input does not decode into the handler's type. Never retried: the same
    /// input would fail again.
    #[error("task input does not decode: {0}")]
    InvalidPayload(#[from] serde_json::Error),
    /// A failure that may pass: retried while the task's [`RetryConfig`] allows.
    #[error("{0}")]
    Failed(String),
    /// A failure that will not pass: the task fails at once, whatever its retry policy.
    #[error("{0}")]
    Permanent(String),
    /// Not a failure: the task is not finished and asks to run again at `until`. The
    /// attempt does not count, and the worker is free meanwhile. Durable executions
    /// suspend this way while they sleep.
    #[error("suspended until {until}")]
    Suspended {
        /// When to run again.
        until: DateTime<Utc>,
    },
}

impl SchedulerTaskError {
    /// A retryable failure with `message`.
    pub fn failed(message: impl fmt::Display) -> Self {
        SchedulerTaskError::Failed(message.to_string())
    }

    /// A permanent failure with `message`.
    pub fn permanent(message: impl fmt::Display) -> Self {
        SchedulerTaskError::Permanent(message.to_string())
    }

    /// Whether another attempt could succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SchedulerTaskError::Failed(_))
    }
}

impl From<String> for SchedulerTaskError {
    fn from(message: String) -> Self {
        SchedulerTaskError::Failed(message)
    }
}

impl From<&str> for SchedulerTaskError {
    fn from(message: &str) -> Self {
        SchedulerTaskError::Failed(message.to_owned())
    }
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting to become due or to be claimed (also between retries).
    Pending,
    /// Parked until something wakes it (a recurring schedule's tick waiting for a run to
    /// end, or for a resume); never claimed meanwhile.
    Waiting,
    /// Claimed by a worker that holds its lease.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error after its last attempt, or a permanent error.
    Failed,
    /// Its lease expired more often than allowed (its worker kept dying); not retried.
    Dead,
    /// Cancelled before it ran.
    Cancelled,
}

impl TaskStatus {
    /// The name stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Waiting => "waiting",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Dead => "dead",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a stored status name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "pending" => TaskStatus::Pending,
            "waiting" => TaskStatus::Waiting,
            "running" => TaskStatus::Running,
            "completed" => TaskStatus::Completed,
            "failed" => TaskStatus::Failed,
            "dead" => TaskStatus::Dead,
            "cancelled" => TaskStatus::Cancelled,
            _ => return None,
        })
    }

    /// Whether the task has ended and will not run again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Dead | TaskStatus::Cancelled
        )
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything stored about one task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// The task's id.
    pub task_id: String,
    /// The handler name.
    pub task_name: String,
    /// Current status.
    pub status: TaskStatus,
    /// When it is (or was) due.
    pub run_at: DateTime<Utc>,
    /// Its input.
    pub data: Value,
    /// Its metadata.
    pub metadata: Value,
    /// Attempts started so far.
    pub attempts: u32,
    /// How often an expired lease was rescued.
    pub rescues: u32,
    /// The worker holding its lease, while running.
    pub worker_id: Option<String>,
    /// The result of a completed task.
    pub result: Option<Value>,
    /// The last error, if any attempt failed.
    pub error: Option<String>,
    /// When it was scheduled.
    pub created_at: DateTime<Utc>,
    /// When its latest attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}
