//! Runs one claimed task's handler and turns what happened into a report for the store.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use zart_core::clock::Clock;
use zart_core::queue::{ClaimedTask, OutcomeKind};
use zart_core::store::Store;

use crate::enqueue::validate;
use crate::error::panic_message;
use crate::recurring::TickReport;
use crate::registry::TaskRegistry;
use crate::retry::RetryConfig;
use crate::task::{Completion, SchedulerTaskError, TaskInstance};

/// The end of an attempt, before it is stored.
pub(crate) enum Finished {
    /// The handler succeeded.
    Completed(Completion),
    /// The handler failed, timed out, panicked, or could not be found.
    Failed(OutcomeKind),
    /// A recurring tick ran and stored its own outcome (`None`: its lease was lost).
    Tick(Option<TickReport>),
}

/// How soon a tick whose transaction failed (the database unreachable, say) is tried
/// again. Ticks are never given up: a schedule must not stop over an outage.
const TICK_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

impl Finished {
    /// Records how the attempt ended on its span.
    pub(crate) fn record_on(&self, span: &tracing::Span) {
        let (outcome, error) = match self {
            Finished::Completed(_) => ("completed", None),
            Finished::Failed(OutcomeKind::Retry { error, .. }) => ("retry", Some(error.as_str())),
            Finished::Failed(OutcomeKind::Failed { error }) => ("failed", Some(error.as_str())),
            Finished::Failed(OutcomeKind::Suspended { .. }) => ("suspended", None),
            Finished::Failed(OutcomeKind::Completed { .. }) => ("completed", None),
            Finished::Tick(_) => ("tick", None),
        };
        crate::trace::record_outcome(span, outcome, error);
    }
}

/// Runs a recurring schedule's tick.
pub(crate) async fn tick(store: &dyn Store, task: &ClaimedTask) -> Finished {
    let clock = store.clock();
    match crate::recurring::fire_tick(store, &task.lease, clock.now()).await {
        Ok(report) => Finished::Tick(report),
        Err(error) => Finished::Failed(OutcomeKind::Retry {
            error: format!("tick failed, retrying: {error}"),
            run_at: clock.now() + chrono::Duration::from_std(TICK_RETRY).unwrap_or_default(),
        }),
    }
}

/// A failed attempt, before the retry policy decided what follows.
struct Failure {
    error: String,
    retryable: bool,
}

/// Runs `task` with its registered handler. Never panics: a panicking handler becomes a
/// failure carrying the panic message.
/// Retry instants are read from `clock`, the store's.
pub(crate) async fn run(
    registry: &TaskRegistry,
    task: &ClaimedTask,
    worker_id: &str,
    clock: &Clock,
) -> Finished {
    let Some(handler) = registry.get(&task.task_name) else {
        return Finished::Failed(OutcomeKind::Failed {
            error: format!(
                "no handler is registered for task name {:?} (this worker handles: {})",
                task.task_name,
                registry.names().join(", ")
            ),
        });
    };
    let instance = std::sync::Arc::new(TaskInstance {
        task_id: task.lease.task_id.clone(),
        task_name: task.task_name.clone(),
        data: task.data.clone(),
        metadata: task.metadata.clone(),
        attempt: task.attempt,
        run_at: task.run_at,
        worker_id: worker_id.to_owned(),
        lease_token: task.lease.token,
    });
    let attempt = async {
        let completion = handler.execute(&instance).await?;
        Ok::<_, SchedulerTaskError>(completion.into_completion())
    };
    let attempt = crate::inject::scope(registry.states().clone(), instance.clone(), attempt);
    let attempt = AssertUnwindSafe(attempt).catch_unwind();
    let outcome = match handler.timeout() {
        Some(limit) => match tokio::time::timeout(limit, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => {
                let failure = Failure {
                    error: format!("attempt timed out after {limit:?}"),
                    retryable: true,
                };
                return Finished::Failed(decide(
                    &handler.retry_config(),
                    task.attempt,
                    failure,
                    clock,
                ));
            }
        },
        None => attempt.await,
    };
    let failure = match outcome {
        Ok(Err(SchedulerTaskError::Suspended { until })) => {
            return Finished::Failed(OutcomeKind::Suspended { run_at: until })
        }
        Ok(Ok(completion)) => match invalid_follow_up(&completion) {
            None => return Finished::Completed(completion),
            Some(error) => Failure {
                error,
                retryable: false,
            },
        },
        Ok(Err(error)) => Failure {
            retryable: error.is_retryable(),
            error: error.to_string(),
        },
        Err(panic) => Failure {
            error: format!("handler panicked: {}", panic_message(panic.as_ref())),
            retryable: true,
        },
    };
    Finished::Failed(decide(
        &handler.retry_config(),
        task.attempt,
        failure,
        clock,
    ))
}

/// Why a follow-up the handler returned cannot be scheduled, if it cannot: a handler bug,
/// so the task fails for good instead of completing without its follow-ups.
fn invalid_follow_up(completion: &Completion) -> Option<String> {
    completion
        .follow_ups()
        .find_map(|(task, _)| validate(task).err())
        .map(|error| format!("the handler returned a follow-up that cannot be scheduled: {error}"))
}

/// Retry the failure if it may pass and the policy has attempts left; fail it otherwise.
fn decide(retry: &RetryConfig, attempt: u32, failure: Failure, clock: &Clock) -> OutcomeKind {
    let delay = match failure.retryable {
        true => retry.jittered_delay_after(attempt),
        false => None,
    };
    match delay.and_then(|d| chrono::Duration::from_std(d).ok()) {
        Some(delay) => OutcomeKind::Retry {
            error: failure.error,
            run_at: clock.now() + delay,
        },
        None => OutcomeKind::Failed {
            error: failure.error,
        },
    }
}
