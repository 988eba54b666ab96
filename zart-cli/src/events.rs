//! `zart events send ID NAME [--payload JSON]`.

use serde_json::{json, Value};

use crate::cli::{EventsCommand, Global};
use crate::connect::{connect, Missing};
use crate::error::{CliError, CliResult};
use crate::output::Output;
use crate::parse;

pub(crate) async fn run(global: &Global, command: &EventsCommand) -> CliResult<Output> {
    let EventsCommand::Send { id, name, payload } = command;
    let payload = match payload {
        Some(text) => parse::json("--payload", text)?,
        None => Value::Null,
    };
    let zart = connect(global, Missing::Refuse).await?;
    // The store keeps events for any id; one sent to a typo would wait there forever.
    let Some(task) = zart.inspector().task(id).await? else {
        return Err(CliError::not_found(format!("no execution {id:?}")));
    };
    let woke = zart.executions().send_event(id, name, &payload).await?;
    if global.json {
        return Ok(Output::Json(json!({
            "task_id": id,
            "event": name,
            "payload": payload,
            "woke": woke,
        })));
    }
    let said = match (woke, task.status.is_terminal()) {
        (true, _) => "it woke the execution".to_owned(),
        (false, true) => format!(
            "kept; the execution has ended ({}), so only a retry would take it",
            task.status
        ),
        (false, false) => "kept until the execution waits for it".to_owned(),
    };
    Ok(Output::Text(format!("sent event {name} to {id}: {said}\n")))
}
