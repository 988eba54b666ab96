//! Child executions: a durable execution starts another and awaits its result durably.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::context::ExecutionContext;
use super::events::wait_for_event;
use super::step::step;
use super::StepError;
use zart_core::steps::CHILD_EVENT;
use zart_core::task::ScheduleAtParams;

use crate::enqueue::validate;

/// Starts the durable execution (or task) registered as `name` with id `child_id` and
/// `input`, as a child of the running execution, and waits for its result, durably: the
/// start is a step (a replay does not start it twice, and an existing id is not
/// replaced), and the wait is an event wait that suspends the parent until the child ends
/// (at most `timeout`). A child that fails, dies or is cancelled is
/// [`StepError::Exhausted`] with its status and error.
///
/// Records the steps `child-start:<id>`, `event-deadline:child:<id>` and
/// `event:child:<id>`. Child ids are task ids: keep them unique (derive them from the
/// parent's, say).
pub async fn child<T: DeserializeOwned>(
    name: &str,
    child_id: &str,
    input: &impl Serialize,
    timeout: Duration,
) -> Result<T, StepError> {
    let Some(context) = ExecutionContext::current() else {
        return Err(StepError::Permanent(format!(
            "child({child_id:?}) runs only inside a durable execution"
        )));
    };
    let Some(runtime) = context.runtime().cloned() else {
        return Err(StepError::Permanent(format!(
            "child({child_id:?}) needs a worker to run the execution"
        )));
    };
    let input = serde_json::to_value(input).map_err(|e| {
        StepError::Permanent(format!(
            "the input of child {child_id:?} does not serialise: {e}"
        ))
    })?;
    let params = ScheduleAtParams::now(child_id, name, input);
    validate(&params)
        .map_err(|e| StepError::Permanent(format!("child {child_id:?} cannot start: {e}")))?;
    step(&format!("child-start:{child_id}"), || {
        let (runtime, params) = (runtime.clone(), params.clone());
        async move {
            runtime
                .store
                .start_child(
                    &runtime.lease.task_id,
                    &zart_core::task::NewTask {
                        // The child's attempts join the trace of the step that started it.
                        trace_context: crate::trace::current_context(),
                        ..params.clone().with_priority(runtime.priority)
                    },
                )
                .await
                .map(|inserted| {
                    if inserted {
                        crate::metrics::scheduled_one(name);
                    }
                })
                .map_err(StepError::failed)
        }
    })
    .await?;
    let outcome: Value = wait_for_event(&format!("{CHILD_EVENT}{child_id}"), timeout).await?;
    let status = outcome
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    if status == "completed" {
        let result = outcome.get("result").cloned().unwrap_or(Value::Null);
        return T::deserialize(result).map_err(|e| {
            StepError::Permanent(format!(
                "the result of child {child_id:?} does not decode: {e}"
            ))
        });
    }
    let error = outcome
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("no error recorded");
    Err(StepError::Exhausted {
        step: format!("{CHILD_EVENT}{child_id}"),
        attempts: 1,
        message: format!("child {child_id:?} ended {status}: {error}"),
    })
}
