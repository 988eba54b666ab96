//! Durable timers: a sleep that frees the worker and survives restarts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use zart_core::steps::SLEEP_STEP;

use super::context::ExecutionContext;
use super::StepError;

/// Remaining sleeps shorter than this are slept in place: suspending would cost more.
const SLEEP_IN_PLACE: Duration = Duration::from_millis(50);

/// Sleeps for `duration`, durably: the wake-up time is recorded as step `sleep:<name>`,
/// the execution is suspended (its worker is free meanwhile) and resumes when the time
/// comes, on whichever worker claims it; a replay after the time has passed goes straight
/// on. Outside a durable execution, a plain sleep.
///
/// The body must pass on the error it may return (`?`): it means "stop here for now".
pub async fn sleep(name: &str, duration: Duration) -> Result<(), StepError> {
    let until = super::later(super::context::now(), duration);
    sleep_until(name, until).await
}

/// Sleeps until `until`, durably (see [`sleep`]).
pub async fn sleep_until(name: &str, until: DateTime<Utc>) -> Result<(), StepError> {
    let Some(context) = ExecutionContext::current() else {
        tokio::time::sleep((until - super::context::now()).to_std().unwrap_or_default()).await;
        return Ok(());
    };
    let step = format!("{SLEEP_STEP}{name}");
    let call = context.call(&step)?;
    let until = match &call.recorded {
        Some(record) => context.recorded_deadline(record)?,
        None => {
            context
                .save(call.completed(&step, json!({ "until": until })))
                .await?;
            until
        }
    };
    let remaining = (until - super::context::now()).to_std().unwrap_or_default();
    if remaining.is_zero() {
        return Ok(());
    }
    if remaining <= SLEEP_IN_PLACE {
        tokio::time::sleep(remaining).await;
        return Ok(());
    }
    Err(context.suspend(until))
}
