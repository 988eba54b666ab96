//! Transactional steps: the step's own SQL and its checkpoint commit in one transaction.

use std::panic::AssertUnwindSafe;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use zart_core::steps::{Checkpointed, StepAttempt, StepOutcome, StepRecord};

use super::context::ExecutionContext;
use super::step::{replay, StepOptions};
use super::StepError;
use crate::error::panic_message;

/// Runs `f` in a transaction of the store the execution runs on, handing it the driver's
/// connection of type `C`, and records the step in that same transaction: the step's writes
/// and its checkpoint commit together or not at all. A worker killed at any point leaves
/// the side effect exactly once: before the commit nothing happened and the replay runs the
/// step; after it, the replay returns the stored result.
///
/// `C` is the driver's connection type: `zart::postgres::sqlx::PgConnection` on PostgreSQL,
/// `zart::sqlite::rusqlite::Connection` on SQLite. Either way the transaction is open: the
/// step must not commit or roll it back itself. On SQLite the step holds the store's one
/// writer while it runs, so the worker's heartbeats wait for it: keep it well within the
/// worker's lease, or the execution is rescued when the step ends (its write still happens
/// once; the attempt is lost).
///
/// ```no_run
/// use zart::durable::{transactional_step, StepError, StepOptions};
/// use zart::postgres::sqlx::{self, PgConnection};
///
/// # async fn body() -> Result<(), StepError> {
/// let order_id: i64 = transactional_step("create-order", StepOptions::default(), |tx: &mut PgConnection| {
///     Box::pin(async move {
///         sqlx::query_scalar("INSERT INTO orders (total) VALUES (42) RETURNING id")
///             .fetch_one(&mut *tx)
///             .await
///             .map_err(StepError::failed)
///     })
/// })
/// .await?;
/// # let _ = order_id;
/// # Ok(())
/// # }
/// ```
///
/// Only inside a durable execution run by a worker on a store whose transactions offer a
/// `C` connection; elsewhere it returns [`StepError::Permanent`] saying why.
pub async fn transactional_step<C, T, F>(
    name: &str,
    options: StepOptions,
    mut f: F,
) -> Result<T, StepError>
where
    C: std::any::Any + Send,
    T: Serialize + DeserializeOwned + Send,
    F: for<'c> FnMut(&'c mut C) -> BoxFuture<'c, Result<T, StepError>>,
{
    let Some(context) = ExecutionContext::current() else {
        return Err(StepError::Permanent(format!(
            "transactional_step({name:?}) runs only inside a durable execution"
        )));
    };
    let call = context.call(name)?;
    if let Some(record) = &call.recorded {
        return replay(&context, record);
    }
    let Some(runtime) = context.runtime() else {
        return Err(StepError::Permanent(format!(
            "transactional_step({name:?}) needs a worker to run the execution"
        )));
    };
    let started_at = super::context::now();
    let mut attempts = 0;
    let mut failed = Vec::new();
    let error = loop {
        attempts += 1;
        let began = std::time::Instant::now();
        let mut work = match runtime.store.begin().await {
            Ok(work) => work,
            Err(error) => {
                return Err(context.interrupt(
                    format!("step {name:?} could not open a transaction: {error}"),
                    true,
                ))
            }
        };
        let Some(connection) = work
            .connection()
            .and_then(|connection| connection.downcast_mut::<C>())
        else {
            return Err(StepError::Permanent(format!(
                "transactional_step({name:?}) asks for a {} connection, which the store this execution runs on does not offer",
                std::any::type_name::<C>()
            )));
        };
        let outcome = AssertUnwindSafe(f(connection)).catch_unwind().await;
        let error = match outcome {
            Ok(Ok(value)) => {
                let output = serde_json::to_value(&value).map_err(|e| {
                    StepError::Permanent(format!(
                        "step {name:?} returned a result that does not serialise: {e}"
                    ))
                })?;
                let record = StepRecord {
                    seq: call.seq,
                    name: name.to_owned(),
                    occurrence: call.occurrence,
                    outcome: StepOutcome::Completed(output),
                    attempts,
                    started_at,
                    finished_at: None,
                    failed_attempts: failed,
                };
                let saved = work.save_steps(&[(runtime.lease.clone(), record)]).await;
                return match saved.as_deref() {
                    Ok([Checkpointed::Saved]) => match work.commit().await {
                        Ok(()) => Ok(value),
                        // Committed or not, the record tells: a replay finds out.
                        Err(error) => Err(context.interrupt(
                            format!("step {name:?}: the commit's outcome is unknown: {error}"),
                            true,
                        )),
                    },
                    Ok([Checkpointed::Cancelled]) => Err(context.interrupt(
                        format!("cancelled while running (stopped at step {name:?})"),
                        false,
                    )),
                    Ok(_) => Err(context.interrupt(
                        format!("the worker lost the execution's lease before step {name:?} was recorded"),
                        false,
                    )),
                    Err(error) => Err(context.interrupt(
                        format!("step {name:?} could not record its checkpoint: {error}"),
                        true,
                    )),
                };
            }
            Ok(Err(StepError::Interrupted(reason))) => return Err(StepError::Interrupted(reason)),
            Ok(Err(error)) => error,
            Err(panic) => {
                StepError::Failed(format!("step panicked: {}", panic_message(panic.as_ref())))
            }
        };
        drop(work); // rolls back the attempt's writes
        let finished_at = super::context::now();
        failed.push(StepAttempt {
            attempt: attempts,
            started_at: finished_at
                - chrono::Duration::from_std(began.elapsed()).unwrap_or_default(),
            finished_at,
            error: error.to_string(),
        });
        let delay = match &error {
            StepError::Failed(_) => options.retry.jittered_delay_after(attempts),
            _ => None,
        };
        match delay {
            Some(delay) => tokio::time::sleep(delay).await,
            None => break error,
        }
    };
    let message = match error {
        StepError::Failed(m) | StepError::Permanent(m) => m,
        other => other.to_string(),
    };
    context
        .save(StepRecord {
            seq: call.seq,
            name: name.to_owned(),
            occurrence: call.occurrence,
            outcome: StepOutcome::Failed(message.clone()),
            attempts,
            started_at,
            finished_at: None,
            failed_attempts: failed,
        })
        .await?;
    Err(StepError::Exhausted {
        step: name.to_owned(),
        attempts,
        message,
    })
}
