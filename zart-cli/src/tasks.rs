//! `zart tasks list|cancel|retry|restart` (`show` is in [`crate::show`]).

use chrono::Utc;
use serde_json::json;
use zart::scheduler::{TaskFilter, TaskRecord, TaskScheduler, TaskStatus};
use zart::Zart;

use crate::cli::{Global, ListArgs, TasksCommand};
use crate::connect::{connect, Missing};
use crate::error::{CliError, CliResult};
use crate::output::{self, Output, Table};
use crate::{parse, records, show};

/// How much of a task's last error fits in a listing.
const ERROR_WIDTH: usize = 60;

pub(crate) async fn run(global: &Global, command: &TasksCommand) -> CliResult<Output> {
    match command {
        TasksCommand::List(args) => list(global, args).await,
        TasksCommand::Show { id } => show::run(global, id, show::Order::RecordFirst).await,
        TasksCommand::Cancel { id } => act(global, id, Action::Cancel).await,
        TasksCommand::Retry { id } => act(global, id, Action::Retry).await,
        TasksCommand::Restart { id } => act(global, id, Action::Restart).await,
    }
}

/// The filter `args` describe, all but the queue (which needs the store to resolve).
fn filter(args: &ListArgs) -> CliResult<TaskFilter> {
    let now = Utc::now();
    let mut filter = TaskFilter::default();
    if let Some(status) = &args.status {
        filter = filter.status(parse::status(status)?);
    }
    if let Some(name) = &args.name {
        filter = filter.name(name);
    }
    if let Some(prefix) = &args.id_prefix {
        filter = filter.id_prefix(prefix);
    }
    let since = args
        .since
        .as_deref()
        .map(|t| parse::time("--since", t, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| parse::time("--until", t, now))
        .transpose()?;
    if since.is_some() || until.is_some() {
        filter = filter.created_between(since, until);
    }
    if let Some(cursor) = &args.after {
        filter = filter.after(parse::cursor(cursor)?);
    }
    Ok(filter)
}

async fn list(global: &Global, args: &ListArgs) -> CliResult<Output> {
    // Everything the command line says is checked before connecting: a typo costs no
    // round trip, and never reads as a database error.
    let mut filter = filter(args)?;
    let zart = connect(global, Missing::Refuse).await?;
    if let Some(queue) = &args.queue {
        filter = in_queue(&zart, filter, queue).await?;
    }
    let limit = usize::from(args.limit);
    // One more than the page tells whether there is a next page without a count.
    let mut tasks = zart.inspector().tasks(&filter, limit + 1).await?;
    let more = tasks.len() > limit;
    tasks.truncate(limit);
    let next = more
        .then(|| tasks.last().map(|t| t.cursor().to_string()))
        .flatten();
    if global.json {
        let tasks: Vec<_> = tasks.iter().map(records::task).collect();
        return Ok(Output::Json(json!({ "tasks": tasks, "next": next })));
    }
    let mut out = String::new();
    if tasks.is_empty() {
        out.push_str("no tasks\n");
    } else {
        table(&tasks).render(&mut out);
    }
    if let Some(next) = next {
        out += &format!("next page: --after {}\n", output::shell_word(&next));
    }
    Ok(Output::Text(out))
}

/// `filter` narrowed to the tasks of `queue` (its names, as the workers declared them).
async fn in_queue(zart: &Zart, filter: TaskFilter, queue: &str) -> CliResult<TaskFilter> {
    let inspector = zart.inspector();
    if let Some(filter) = inspector.in_queue(filter, queue).await? {
        return Ok(filter);
    }
    let known = inspector.queue_names().await?;
    Err(CliError::not_found(format!(
        "no queue {queue:?}: the queues are {}",
        known.join(", ")
    )))
}

/// The listing's columns.
pub(crate) fn table(tasks: &[TaskRecord]) -> Table {
    let mut table = Table::new(&[
        "ID",
        "NAME",
        "STATUS",
        "WAITING ON",
        "ATTEMPTS",
        "RUN AT",
        "CREATED AT",
        "LAST ERROR",
    ]);
    for task in tasks {
        table.row(vec![
            task.task_id.clone(),
            task.task_name.clone(),
            task.status.to_string(),
            task.waiting_on
                .as_ref()
                .map(records::waiting_briefly)
                .unwrap_or_default(),
            task.attempts.to_string(),
            output::time(task.run_at),
            output::time(task.created_at),
            task.error
                .as_deref()
                .map(|e| output::shorten(e, ERROR_WIDTH))
                .unwrap_or_default(),
        ]);
    }
    table
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Cancel,
    Retry,
    Restart,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Cancel => "cancel",
            Action::Retry => "retry",
            Action::Restart => "restart",
        }
    }
}

/// Runs `action` on task `id`: 3 if there is no such task, 4 if the store refuses it in
/// the state the task is in.
async fn act(global: &Global, id: &str, action: Action) -> CliResult<Output> {
    let zart = connect(global, Missing::Refuse).await?;
    let Some(before) = zart.inspector().task(id).await? else {
        return Err(CliError::not_found(format!("no task {id:?}")));
    };
    let done = match action {
        Action::Cancel => zart.tasks().cancel(id).await?,
        Action::Retry => zart.executions().retry(id).await?,
        Action::Restart => zart.executions().restart(id).await?,
    };
    if !done {
        // The status read above may be stale by now; the store's refusal is not.
        let status = zart
            .inspector()
            .task(id)
            .await?
            .map_or(before.status, |t| t.status);
        return Err(CliError::refused(refusal(id, action, status)));
    }
    let after = zart.inspector().task(id).await?;
    let status = after.as_ref().map(|t| t.status);
    if global.json {
        return Ok(Output::Json(json!({
            "task_id": id,
            "action": action.name(),
            "done": true,
            "status": status.map(TaskStatus::as_str),
            "task": after.as_ref().map(records::task),
        })));
    }
    let said = match (action, before.status) {
        (Action::Cancel, TaskStatus::Running) => format!(
            "asked running task {id} to stop: it ends cancelled (a durable execution at its next step)"
        ),
        (Action::Cancel, _) => format!("cancelled task {id}"),
        (Action::Retry, _) => {
            format!("task {id} runs again, keeping its step log (was {})", before.status)
        }
        (Action::Restart, _) => {
            format!("task {id} runs again from scratch (was {})", before.status)
        }
    };
    let now = match &after {
        Some(task) if task.cancel_requested => format!("{}, cancel requested", task.status),
        Some(task) => task.status.to_string(),
        None => "gone".to_owned(),
    };
    Ok(Output::Text(format!("{said}; now {now}\n")))
}

fn refusal(id: &str, action: Action, status: TaskStatus) -> String {
    match action {
        Action::Cancel => {
            format!("task {id:?} is {status}: only a task that has not ended can be cancelled")
        }
        Action::Retry | Action::Restart => format!(
            "task {id:?} is {status}: only an ended task (completed, failed, dead, cancelled) \
             can be run again with {}",
            action.name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ListArgs {
        ListArgs {
            status: None,
            name: None,
            queue: None,
            id_prefix: None,
            since: None,
            until: None,
            limit: 50,
            after: None,
        }
    }

    #[test]
    fn the_filter_takes_every_option() {
        let filter = filter(&ListArgs {
            status: Some("failed".into()),
            name: Some("email".into()),
            id_prefix: Some("order-".into()),
            since: Some("-1h".into()),
            after: Some("1700000000000000.t-9".into()),
            ..args()
        });
        let Ok(filter) = filter else {
            panic!("a valid filter: {filter:?}");
        };
        assert_eq!(filter.status, Some(TaskStatus::Failed));
        assert_eq!(filter.name.as_deref(), Some("email"));
        assert_eq!(filter.id_prefix.as_deref(), Some("order-"));
        assert!(filter.created_since.is_some() && filter.created_before.is_none());
        assert_eq!(filter.after.map(|c| c.task_id), Some("t-9".to_owned()));
        let bad = filter_error(ListArgs {
            until: Some("tomorrow".into()),
            ..args()
        });
        assert!(bad.contains("--until"), "{bad}");
    }

    fn filter_error(args: ListArgs) -> String {
        filter(&args).err().map(|e| e.message).unwrap_or_default()
    }
}
