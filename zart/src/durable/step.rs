//! Steps: the checkpointed calls inside a durable body.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use super::context::{Call, ExecutionContext};
use super::StepError;
use zart_core::steps::{StepAttempt, StepOutcome, StepRecord};

use crate::error::panic_message;
use crate::retry::RetryConfig;

/// Retry backoffs longer than this suspend the execution (its worker is free meanwhile)
/// instead of sleeping in the worker.
pub const SUSPEND_LONGER_THAN: Duration = Duration::from_secs(1);

/// How a step is retried and bounded. The default: [`RetryConfig::default`] (three
/// attempts), no timeout.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepOptions {
    /// Attempts and backoff. Default: [`RetryConfig::default`] (three attempts).
    pub retry: RetryConfig,
    /// Longest time one attempt may run; a slower attempt fails (retryably).
    pub timeout: Option<Duration>,
}

/// A step written as a type, for [`require`].
#[async_trait]
pub trait DurableStep: Send + Sync {
    /// The step's result, stored in its checkpoint.
    type Output: Serialize + DeserializeOwned + Send;

    /// The step's name: part of its checkpoint key, so keep it stable.
    fn name(&self) -> &str;

    /// The side effect.
    async fn run(&self) -> Result<Self::Output, StepError>;

    /// Attempts and backoff. Default: [`RetryConfig::default`] (three attempts).
    fn retry_config(&self) -> RetryConfig {
        RetryConfig::default()
    }

    /// Longest time one attempt may run. Default: no limit.
    fn timeout(&self) -> Option<Duration> {
        None
    }
}

/// Runs `step` as a checkpointed step of the current execution.
pub async fn require<S: DurableStep>(step: S) -> Result<S::Output, StepError> {
    let options = StepOptions {
        retry: step.retry_config(),
        timeout: step.timeout(),
    };
    let name = step.name().to_owned();
    step_with(&name, options, || step.run()).await
}

/// Runs `f` as the checkpointed step `name` of the current durable execution, with the
/// default [`StepOptions`]. See [`step_with`].
pub async fn step<T, F, Fut>(name: &str, f: F) -> Result<T, StepError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StepError>>,
{
    step_with(name, StepOptions::default(), f).await
}

/// Runs `f` as the checkpointed step `name` of the current durable execution.
///
/// - If the execution's record holds this call (a replay), its stored result (or failure)
///   is returned and `f` does not run.
/// - Otherwise `f` runs in this worker, inline, with retries by `options`; then the
///   outcome is recorded, in one round trip. A backoff longer than
///   [`SUSPEND_LONGER_THAN`] records the step as retrying and suspends the execution until
///   the next attempt is due, freeing the worker. A step whose retries are used up returns
///   [`StepError::Exhausted`], which the body may handle.
/// - Outside a durable execution (a unit test, a spawned task), `f` simply runs, with its
///   retries.
pub async fn step_with<T, F, Fut>(name: &str, options: StepOptions, f: F) -> Result<T, StepError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StepError>>,
{
    let context = ExecutionContext::current();
    let call = match &context {
        Some(context) => Some(context.call(name)?),
        None => None,
    };
    let mut started_at = super::context::now();
    let mut attempts = 0;
    let mut failed = Vec::new();
    if let (Some(context), Some(record)) =
        (&context, call.as_ref().and_then(|c| c.recorded.as_ref()))
    {
        let StepOutcome::Retrying { until, .. } = &record.outcome else {
            return replay(context, record);
        };
        // Waiting out a long backoff: not yet, or go on from the recorded attempts.
        if super::context::now() < *until {
            return Err(context.suspend(*until));
        }
        attempts = record.attempts;
        started_at = record.started_at;
        failed = record.failed_attempts.clone();
    }

    let span = crate::trace::step_span(name, call.as_ref().map(|call| call.seq), attempts);
    let began = std::time::Instant::now();
    let progress = Progress {
        attempts,
        started_at,
        failed,
    };
    let ran = run(name, &options, f, context, call, progress)
        .instrument(span.clone())
        .await;
    crate::trace::record_step(&span, &ran, began.elapsed());
    ran
}

/// Where a step stands before its next attempt: the attempts made so far (recorded, for a
/// step resumed after a long backoff), when the first began, and those that failed.
struct Progress {
    attempts: u32,
    started_at: DateTime<Utc>,
    failed: Vec<StepAttempt>,
}

/// Runs a step's body with its retries, from attempt `progress.attempts + 1`, and records
/// the outcome at its place in the execution (`call`), if it has one.
async fn run<T, F, Fut>(
    name: &str,
    options: &StepOptions,
    mut f: F,
    context: Option<Arc<ExecutionContext>>,
    call: Option<Call>,
    progress: Progress,
) -> Result<T, StepError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StepError>>,
{
    let Progress {
        mut attempts,
        started_at,
        mut failed,
    } = progress;
    let outcome = loop {
        attempts += 1;
        let began = std::time::Instant::now();
        let attempt = AssertUnwindSafe(f()).catch_unwind();
        let result = match options.timeout {
            Some(limit) => match tokio::time::timeout(limit, attempt).await {
                Ok(result) => result,
                Err(_) => Ok(Err(StepError::Failed(format!(
                    "attempt timed out after {limit:?}"
                )))),
            },
            None => attempt.await,
        };
        let took = began.elapsed();
        crate::metrics::step_ran(name, took);
        let error = match result {
            Ok(Ok(value)) => break Ok(value),
            Ok(Err(StepError::Interrupted(reason))) => return Err(StepError::Interrupted(reason)),
            Ok(Err(error)) => error,
            Err(panic) => {
                StepError::Failed(format!("step panicked: {}", panic_message(panic.as_ref())))
            }
        };
        // Kept in memory until the step's next record: a worker that dies during a short
        // backoff loses them with the attempts themselves, which run again. The clock is
        // read only here, so that an attempt that succeeds costs nothing more.
        let finished_at = super::context::now();
        failed.push(StepAttempt {
            attempt: attempts,
            started_at: finished_at - chrono::Duration::from_std(took).unwrap_or_default(),
            finished_at,
            error: error.to_string(),
        });
        let delay = match &error {
            StepError::Failed(_) => options.retry.jittered_delay_after(attempts),
            _ => None,
        };
        match delay {
            Some(delay) if delay > SUSPEND_LONGER_THAN => {
                if let (Some(context), Some(call)) = (&context, &call) {
                    // A long backoff frees the worker: record where the step stands and
                    // suspend the execution until the next attempt is due.
                    let until = super::context::now()
                        + chrono::Duration::from_std(delay).unwrap_or_default();
                    context
                        .save(StepRecord {
                            seq: call.seq,
                            name: name.to_owned(),
                            occurrence: call.occurrence,
                            outcome: StepOutcome::Retrying {
                                until,
                                error: error.to_string(),
                            },
                            attempts,
                            started_at,
                            finished_at: None,
                            failed_attempts: failed,
                        })
                        .await?;
                    return Err(context.suspend(until));
                }
                tokio::time::sleep(delay).await
            }
            Some(delay) => tokio::time::sleep(delay).await,
            None => {
                let message = match error {
                    StepError::Failed(m) | StepError::Permanent(m) => m,
                    other => other.to_string(),
                };
                break Err(StepError::Exhausted {
                    step: name.to_owned(),
                    attempts,
                    message,
                });
            }
        }
    };

    let (Some(context), Some(call)) = (context, call) else {
        return outcome;
    };
    let stored = match &outcome {
        Ok(value) => StepOutcome::Completed(serde_json::to_value(value).map_err(|e| {
            StepError::Permanent(format!(
                "step {name:?} returned a result that does not serialise: {e}"
            ))
        })?),
        Err(StepError::Exhausted { message, .. }) => StepOutcome::Failed(message.clone()),
        Err(error) => StepOutcome::Failed(error.to_string()),
    };
    context
        .save(StepRecord {
            seq: call.seq,
            name: name.to_owned(),
            occurrence: call.occurrence,
            outcome: stored,
            attempts,
            started_at,
            finished_at: None,
            failed_attempts: failed,
        })
        .await?;
    outcome
}

pub(super) fn replay<T: DeserializeOwned>(
    context: &ExecutionContext,
    record: &StepRecord,
) -> Result<T, StepError> {
    match &record.outcome {
        StepOutcome::Completed(value) => T::deserialize(value).map_err(|e| {
            context.interrupt(
                format!(
                    "step {:?} has a recorded result that no longer decodes: {e}",
                    record.name
                ),
                false,
            )
        }),
        StepOutcome::Failed(message) => Err(StepError::Exhausted {
            step: record.name.clone(),
            attempts: record.attempts,
            message: message.clone(),
        }),
        StepOutcome::Retrying { .. } => Err(context.interrupt(
            format!(
                "step {:?} is recorded as retrying where a result was expected",
                record.name
            ),
            false,
        )),
    }
}
