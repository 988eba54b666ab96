//! Durable executions: a body of ordinary async code whose steps are checkpointed, so that
//! a crash, a restart or a retry re-runs the body from the top while every completed step
//! returns its stored result instead of running again.
//!
//! An execution is a task: it is scheduled, claimed, leased, retried and rescued like any
//! other, and its input, status, attempts, result and error are the task's. What makes it
//! durable is its step log: each [`step`] call takes the next position in the execution
//! and, once it has run, is written there (one round trip), fenced by the worker's lease.
//! Resuming loads the whole log in one query.
//!
//! Replays must ask for the same steps in the same order. A step's key is its name and
//! how many calls of that name came before it; a replay whose n-th call has another key
//! than the record's n-th step fails the execution, naming both
//! ([`TaskError::NonDeterministic`]).
//!
//! ```
//! use serde_json::{json, Value};
//! use zart::durable::{step, DurableExecution, StepError, TaskError};
//!
//! struct Checkout;
//!
//! #[zart::prelude::async_trait]
//! impl DurableExecution for Checkout {
//!     type Data = Value;
//!     type Output = Value;
//!
//!     async fn run(&self, order: Value) -> Result<Value, TaskError> {
//!         // Charged once, however often the body runs again.
//!         let payment: String = step("charge-card", || async { Ok::<_, StepError>("pay-1".to_owned()) }).await?;
//!         let reserved: bool = step("reserve-stock", || async { Ok::<_, StepError>(true) }).await?;
//!         Ok(json!({ "order": order, "payment": payment, "reserved": reserved }))
//!     }
//! }
//! ```

mod checkpoints;
mod child;
mod context;
mod events;
mod patch;
mod scheduler;
mod step;
mod timer;
mod transactional;
mod wait;

use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::retry::RetryConfig;
use crate::task::{CompletionHandler, OnComplete, ScheduledTask, SchedulerTaskError, TaskInstance};

pub(crate) use checkpoints::Checkpoints;
/// `from` plus `by`, or, when that is past what an instant can hold (a timeout of
/// `Duration::MAX`: "never"), the last instant of the year 9999: as good as never, and
/// still an instant every store and tool reads.
pub(crate) fn later(
    from: chrono::DateTime<chrono::Utc>,
    by: std::time::Duration,
) -> chrono::DateTime<chrono::Utc> {
    let never = chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|day| day.and_hms_opt(23, 59, 59))
        .map(|at| at.and_utc())
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| from.checked_add_signed(by))
        .map_or(never, |at| at.min(never))
}

pub use child::child;
pub(crate) use context::{scope_runtime, Runtime};
pub use events::wait_for_event;
pub use patch::patched;
pub(crate) use scheduler::to_value as input_json;
pub use scheduler::DurableScheduler;
pub use step::{require, step, step_with, DurableStep, StepOptions, SUSPEND_LONGER_THAN};
pub use timer::{sleep, sleep_until};
pub use transactional::transactional_step;
pub(crate) use wait::{wait, LOOK_AGAIN_EVERY};
pub use zart_core::queue::AppVersions;
pub use zart_core::steps::{StepAttempt, StepOutcome, StepRecord, WaitingOn};

/// The id of the durable execution whose body is running on this task, if any.
pub fn execution_id() -> Option<String> {
    context::ExecutionContext::current().and_then(|context| {
        context
            .runtime()
            .map(|runtime| runtime.lease.task_id.clone())
    })
}

/// Whether a durable execution's body is running on this task (so that steps are
/// checkpointed).
pub fn in_execution() -> bool {
    context::ExecutionContext::current().is_some()
}

/// A durable workflow: [`run`](Self::run) is re-run from the top whenever the execution
/// resumes; its [`step`]s are checkpointed.
///
/// Register it with [`TaskRegistry::durable`](crate::scheduler::TaskRegistry::durable) and
/// start it by scheduling a task of that name with its input.
#[async_trait]
pub trait DurableExecution: Send + Sync + 'static {
    /// The execution's input.
    type Data: DeserializeOwned + Send + 'static;
    /// The execution's result, stored as the task's result.
    type Output: Serialize + Send + 'static;

    /// The body. Use [`step`] (or [`require`]) for every side effect.
    async fn run(&self, data: Self::Data) -> Result<Self::Output, TaskError>;

    /// Retries of the whole execution (each replays its completed steps). Default: one
    /// attempt.
    fn retry_config(&self) -> RetryConfig {
        RetryConfig::none()
    }

    /// Longest time one attempt of the execution may run (one run of the body, between
    /// suspensions). Default: no limit.
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// Longest time the whole execution may take, from when it was scheduled to its end,
    /// across retries, sleeps and waits: past it, the execution fails (a sleeping or
    /// waiting one is woken at the deadline to fail). Default: no limit.
    fn deadline(&self) -> Option<Duration> {
        None
    }
}

/// Why a durable execution's body failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// A step failed for good (its retries used up) and the body passed the error on.
    #[error(transparent)]
    Step(#[from] StepError),
    /// A failure that may pass: the execution is retried while its policy allows.
    #[error("{0}")]
    Failed(String),
    /// A failure that will not pass: the execution fails at once.
    #[error("{0}")]
    Permanent(String),
    /// The body asked for steps in an order its record contradicts (the code changed
    /// under a running execution, or the body is not deterministic). Never retried.
    #[error("non-deterministic replay: {0}")]
    NonDeterministic(String),
    /// The input does not decode into the execution's `Data`.
    #[error("execution input does not decode: {0}")]
    InvalidInput(#[from] serde_json::Error),
}

impl TaskError {
    /// A retryable failure with `message`.
    pub fn failed(message: impl std::fmt::Display) -> Self {
        TaskError::Failed(message.to_string())
    }

    /// A permanent failure with `message`.
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        TaskError::Permanent(message.to_string())
    }
}

impl From<TaskError> for SchedulerTaskError {
    /// Retryable failures (a plain failure, a step whose retries ran out) stay retryable;
    /// the rest fail the task for good.
    fn from(error: TaskError) -> Self {
        match error {
            TaskError::Failed(message) => SchedulerTaskError::Failed(message),
            error @ TaskError::Step(StepError::Exhausted { .. }) => {
                SchedulerTaskError::Failed(error.to_string())
            }
            error => SchedulerTaskError::Permanent(error.to_string()),
        }
    }
}

/// Why a step failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// A failure that may pass: the step is tried again while its retry policy allows.
    #[error("{0}")]
    Failed(String),
    /// A failure that will not pass: no further attempt.
    #[error("{0}")]
    Permanent(String),
    /// The step failed for good; what the body sees (on every replay alike).
    #[error("step {step:?} failed after {attempts} attempt(s): {message}")]
    Exhausted {
        /// The step's name.
        step: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        message: String,
    },
    /// The execution cannot go on (its record contradicts the body, or the worker lost
    /// its lease). Returned by every later step too; the execution ends with it whatever
    /// the body does with it.
    #[error("{0}")]
    Interrupted(String),
}

impl StepError {
    /// A retryable failure with `message`.
    pub fn failed(message: impl std::fmt::Display) -> Self {
        StepError::Failed(message.to_string())
    }

    /// A permanent failure with `message`.
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        StepError::Permanent(message.to_string())
    }
}

/// Runs a [`DurableExecution`] as a task.
pub(crate) struct Durable<D>(pub D);

#[async_trait]
impl<D: DurableExecution> ScheduledTask for Durable<D> {
    async fn execute(
        &self,
        instance: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        let data: D::Data = instance.input()?;
        let (output, interrupted) =
            context::run_body(instance, self.0.deadline(), self.0.run(data)).await?;
        if let Some(interruption) = interrupted {
            return Err(match (interruption.suspend_until, interruption.retryable) {
                (Some(until), _) => SchedulerTaskError::Suspended { until },
                (None, true) => SchedulerTaskError::Failed(interruption.reason),
                (None, false) => SchedulerTaskError::Permanent(interruption.reason),
            });
        }
        Ok(Box::new(OnComplete {
            result: Some(serde_json::to_value(output?)?),
            schedule_next: Vec::new(),
        }))
    }

    fn retry_config(&self) -> RetryConfig {
        self.0.retry_config()
    }

    fn timeout(&self) -> Option<Duration> {
        self.0.timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outside_an_execution_a_step_is_a_plain_call_with_retries() {
        let mut calls = 0;
        let options = StepOptions {
            retry: RetryConfig {
                max_attempts: 3,
                initial_delay: Duration::from_millis(1),
                jitter: 0.0,
                ..RetryConfig::default()
            },
            timeout: None,
        };
        let result = step_with("plain", options, || {
            calls += 1;
            let attempt = calls;
            async move {
                match attempt {
                    1 => Err(StepError::failed("once")),
                    _ => Ok(attempt),
                }
            }
        })
        .await;
        assert_eq!(result, Ok(2));
        let permanent = step("plain", || async {
            Err::<u8, _>(StepError::permanent("no"))
        })
        .await;
        assert_eq!(
            permanent,
            Err(StepError::Exhausted {
                step: "plain".into(),
                attempts: 1,
                message: "no".into()
            })
        );
    }
}
