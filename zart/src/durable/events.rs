//! Events: a durable execution waits for a named event; anyone sends it.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use zart_core::steps::{StepOutcome, EVENT_DEADLINE_STEP};

use super::context::ExecutionContext;
use super::StepError;

/// Waits, durably, for event `name` sent to this execution (with
/// [`DurableScheduler::send_event`](super::DurableScheduler::send_event), say), at most `timeout` (counted from the first time this
/// wait ran, across restarts). While it waits the execution is suspended and its worker
/// free; the event wakes it. Times out with [`StepError::Exhausted`].
///
/// Records two steps: `event-deadline:<name>` and `event:<name>`.
pub async fn wait_for_event<T: DeserializeOwned>(
    name: &str,
    timeout: Duration,
) -> Result<T, StepError> {
    let Some(context) = ExecutionContext::current() else {
        return Err(StepError::Permanent(format!(
            "wait_for_event({name:?}) needs a durable execution to wait in"
        )));
    };
    let Some(runtime) = context.runtime() else {
        return Err(StepError::Permanent(format!(
            "wait_for_event({name:?}) needs a worker: events are delivered through the store"
        )));
    };

    let deadline_step = format!("{EVENT_DEADLINE_STEP}{name}");
    let call = context.call(&deadline_step)?;
    let deadline = match &call.recorded {
        Some(record) => context.recorded_deadline(record)?,
        None => {
            let deadline = super::later(super::context::now(), timeout);
            context
                .save(call.completed(&deadline_step, json!({ "until": deadline })))
                .await?;
            deadline
        }
    };

    let event_step = format!("event:{name}");
    let call = context.call(&event_step)?;
    if let Some(record) = &call.recorded {
        return match &record.outcome {
            StepOutcome::Completed(payload) => decode(&context, name, payload),
            StepOutcome::Failed(message) => Err(StepError::Exhausted {
                step: event_step,
                attempts: 1,
                message: message.clone(),
            }),
            StepOutcome::Retrying { .. } => Err(context.interrupt(
                format!("{event_step:?} is recorded as a retrying step"),
                false,
            )),
        };
    }
    let found = runtime
        .store
        .find_event(&runtime.lease.task_id, name, call.occurrence)
        .await
        .map_err(|e| context.interrupt(format!("looking for event {name:?} failed: {e}"), true))?;
    if let Some(payload) = found {
        context
            .save(call.completed(&event_step, payload.clone()))
            .await?;
        return decode(&context, name, &payload);
    }
    if super::context::now() >= deadline {
        let message = format!("no event {name:?} arrived within {timeout:?}");
        let mut failed = call.completed(&event_step, Value::Null);
        failed.outcome = StepOutcome::Failed(message.clone());
        context.save(failed).await?;
        return Err(StepError::Exhausted {
            step: event_step,
            attempts: 1,
            message,
        });
    }
    Err(context.suspend(deadline))
}

fn decode<T: DeserializeOwned>(
    context: &ExecutionContext,
    name: &str,
    payload: &Value,
) -> Result<T, StepError> {
    T::deserialize(payload).map_err(|e| {
        context.interrupt(
            format!("event {name:?} does not decode into the awaited type: {e}"),
            false,
        )
    })
}
