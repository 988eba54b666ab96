//! Changing a durable body while executions of it are in flight: a marker in the step log
//! says which side of a change an execution took.

use serde_json::Value;

use super::context::{ExecutionContext, PatchCall};
use super::StepError;

/// The step-log name of the marker of change `name`.
fn marker(name: &str) -> String {
    format!("{PATCH_PREFIX}{name}")
}

/// What the step-log names of patch markers start with.
pub(crate) const PATCH_PREFIX: &str = "patch:";

/// Whether this execution takes the new side of change `name` to the body: `true` for
/// executions that reach this point running the new code, `false` for those that ran the
/// old code here before the change was deployed. The answer is recorded (as step
/// `patch:<name>`), so every replay of an execution takes the side it took first.
///
/// How it decides, at its place in the execution:
/// - the step log holds this change's marker here: `true` (the new code ran here before);
/// - the step log holds another step here: `false` (the old code ran here: that step is
///   the old side's), and the call takes no place of its own;
/// - the step log ends here: `true`, and the marker is recorded. An execution that was in
///   flight under the old code but had not come this far takes the new side from here on.
///
/// Outside a durable execution, `true`.
///
/// Once no execution that ran the old side can replay any more, delete the `if` and the
/// old side: a marker the body no longer asks for is passed over on replay.
///
/// ```
/// use zart::durable::{patched, step, StepError, TaskError};
///
/// async fn checkout(order: u64) -> Result<u64, TaskError> {
///     // Version 1 charged in euros; version 2 charges in cents. Executions that charged
///     // before the deploy replay the euro step, and every other one charges in cents.
///     let cents = if patched("charge-in-cents").await? {
///         step("charge-cents", || async { Ok::<_, StepError>(order * 100) }).await?
///     } else {
///         step("charge", || async { Ok::<_, StepError>(order) }).await? * 100
///     };
///     Ok(cents)
/// }
/// ```
pub async fn patched(name: &str) -> Result<bool, StepError> {
    let Some(context) = ExecutionContext::current() else {
        return Ok(true);
    };
    let marker = marker(name);
    match context.patch(&marker)? {
        PatchCall::Marked => Ok(true),
        PatchCall::Old => Ok(false),
        PatchCall::New(call) => {
            context
                .save(call.completed(&marker, Value::Bool(true)))
                .await?;
            Ok(true)
        }
    }
}
