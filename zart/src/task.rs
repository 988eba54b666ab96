//! What a task is: the handler trait, the instance it runs on, and how it completes.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zart_core::task::ScheduleAtParams;

use crate::retry::RetryConfig;

/// The code that runs when a task of one name is due.
///
/// Register an implementation under a name in a
/// [`TaskRegistry`](crate::scheduler::TaskRegistry); a [`Worker`](crate::scheduler::Worker)
/// claims due tasks of that name and calls [`execute`](Self::execute).
///
/// ```
/// use zart::prelude::async_trait;
/// use zart::scheduler::{CompletionHandler, OnComplete, ScheduledTask, SchedulerTaskError, TaskInstance};
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
    pub run_at: DateTime<Utc>,
    /// The id of the worker running it.
    pub worker_id: String,
    /// This attempt's fencing token: every claim of the task gives a larger one, and the
    /// store refuses the outcome of an attempt whose token is no longer the task's. A side
    /// effect that keeps the token it was written with can refuse a stale attempt's too.
    pub lease_token: i64,
}

impl TaskInstance {
    /// Where the run came from, when a recurring schedule started it: the schedule, the
    /// slot, the run's number, whether it is a catch-up, the time zone.
    pub fn run_context(&self) -> Option<RunContext> {
        serde_json::from_value(self.metadata.get("schedule")?.clone()).ok()
    }

    /// Decodes [`data`](Self::data) into `T`; a mismatch is a permanent (non-retried) error.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, SchedulerTaskError> {
        Ok(T::deserialize(&self.data)?)
    }
}

/// What a successful task hands back: turned into an [`OnComplete`] when the task completes.
///
/// [`OnComplete`] (or [`Completion`], whose follow-ups may name their priorities) is the
/// implementation almost everyone needs; implement this trait to compute the completion
/// lazily from a type of your own.
pub trait CompletionHandler: Send {
    /// The result to store and the follow-up tasks to schedule.
    fn into_on_complete(self: Box<Self>) -> OnComplete;

    /// What the worker stores: by default [`into_on_complete`](Self::into_on_complete),
    /// every follow-up at the priority of the task that completes.
    fn into_completion(self: Box<Self>) -> Completion {
        Completion::from(self.into_on_complete())
    }
}

/// A completion built by calls: the result, and follow-ups that run at the completing
/// task's priority or at one they name. [`OnComplete`] is the same as a struct literal, its
/// follow-ups all at the completing task's priority.
///
/// ```
/// use serde_json::json;
/// use zart::scheduler::{Completion, ScheduleAtParams};
///
/// let completion = Completion::new()
///     .result(json!({ "charged": true }))
///     // A receipt the customer waits for: ahead of the queue.
///     .follow_up_at_priority(ScheduleAtParams::now("receipt-7", "send-receipt", json!(7)), 10)
///     // Bookkeeping: at the priority of the task that charged.
///     .follow_up(ScheduleAtParams::now("ledger-7", "ledger", json!(7)));
/// assert_eq!(completion.follow_ups().count(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Completion {
    result: Option<Value>,
    follow_ups: Vec<(ScheduleAtParams, Option<i16>)>,
}

impl Completion {
    /// No result, no follow-ups.
    pub fn new() -> Self {
        Completion::default()
    }

    /// Stores `result` as the task's result.
    pub fn result(mut self, result: Value) -> Self {
        self.result = Some(result);
        self
    }

    /// Schedules `task` when this one completes, at this one's priority.
    pub fn follow_up(mut self, task: ScheduleAtParams) -> Self {
        self.follow_ups.push((task, None));
        self
    }

    /// Schedules `task` when this one completes, at `priority`.
    pub fn follow_up_at_priority(mut self, task: ScheduleAtParams, priority: i16) -> Self {
        self.follow_ups.push((task, Some(priority)));
        self
    }

    /// The stored result, if any.
    pub fn stored_result(&self) -> Option<&Value> {
        self.result.as_ref()
    }

    /// The follow-ups, each with its priority (`None`: the completing task's).
    pub fn follow_ups(&self) -> impl Iterator<Item = (&ScheduleAtParams, Option<i16>)> {
        self.follow_ups
            .iter()
            .map(|(task, priority)| (task, *priority))
    }

    /// The result, and the follow-ups with their priorities.
    pub(crate) fn into_parts(self) -> (Option<Value>, Vec<(ScheduleAtParams, Option<i16>)>) {
        (self.result, self.follow_ups)
    }
}

impl From<OnComplete> for Completion {
    fn from(on_complete: OnComplete) -> Self {
        Completion {
            result: on_complete.result,
            follow_ups: on_complete
                .schedule_next
                .into_iter()
                .map(|task| (task, None))
                .collect(),
        }
    }
}

impl CompletionHandler for Completion {
    /// The completion without the follow-ups' own priorities (the worker calls
    /// [`into_completion`](CompletionHandler::into_completion), which keeps them).
    fn into_on_complete(self: Box<Self>) -> OnComplete {
        let (result, follow_ups) = self.into_parts();
        OnComplete {
            result,
            schedule_next: follow_ups.into_iter().map(|(task, _)| task).collect(),
        }
    }

    fn into_completion(self: Box<Self>) -> Completion {
        *self
    }
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

/// Where a run came from, when a recurring schedule started it:
/// [`TaskInstance::run_context`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunContext {
    /// The schedule's id.
    pub schedule_id: String,
    /// The slot this run is for (the trigger time, for a manual trigger).
    pub slot: DateTime<Utc>,
    /// The run's number, from 0.
    pub occurrence: u64,
    /// Whether the run makes up for a missed slot.
    pub catch_up: bool,
    /// Whether the run was triggered by hand.
    pub manual: bool,
    /// The schedule's time zone (IANA name).
    pub timezone: String,
}
