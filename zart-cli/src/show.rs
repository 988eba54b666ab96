//! `zart tasks show` and `zart executions show`: one task's record, and for a durable
//! execution its step timeline, what it waits on, its events and its children.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use zart::durable::{StepOutcome, StepRecord, WaitingOn};
use zart::inspect::{AttemptRecord, EventRecord};
use zart::scheduler::{TaskFilter, TaskRecord};

use crate::cli::Global;
use crate::connect::{connect, Missing};
use crate::error::{CliError, CliResult};
use crate::output::{self, Fields, Output, Table};
use crate::{records, tasks};

/// Most children shown; an execution that fans out further is listed with
/// `tasks list --id-prefix` or the admin.
const CHILDREN_LIMIT: usize = 100;
/// How much of a step's result or error fits in the timeline.
const DETAIL_WIDTH: usize = 50;

/// Which part comes first: `tasks show` leads with the record, `executions show` with
/// the steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    RecordFirst,
    StepsFirst,
}

/// What is known about one task.
struct Detail {
    task: TaskRecord,
    durable: bool,
    steps: Vec<StepRecord>,
    attempts: Vec<AttemptRecord>,
    events: Vec<EventRecord>,
    children: Vec<TaskRecord>,
    more_children: bool,
}

pub(crate) async fn run(global: &Global, id: &str, order: Order) -> CliResult<Output> {
    let zart = connect(global, Missing::Refuse).await?;
    let inspector = zart.inspector();
    let Some(task) = inspector.task(id).await? else {
        return Err(CliError::not_found(format!("no task {id:?}")));
    };
    let steps = inspector.steps(id).await?;
    let attempts = inspector.attempts(id).await?;
    let events = inspector.events(id).await?;
    let mut children = inspector
        .tasks(&TaskFilter::default().parent(id), CHILDREN_LIMIT + 1)
        .await?;
    let more_children = children.len() > CHILDREN_LIMIT;
    children.truncate(CHILDREN_LIMIT);
    // A durable execution that has not run yet has no steps: the declaration tells.
    let declared = inspector.declared_tasks().await?;
    let durable = !steps.is_empty()
        || declared
            .iter()
            .any(|d| d.task_name == task.task_name && d.durable);
    let detail = Detail {
        task,
        durable,
        steps,
        attempts,
        events,
        children,
        more_children,
    };
    Ok(match global.json {
        true => Output::Json(to_json(&detail)),
        false => Output::Text(text(&detail, order, Utc::now())),
    })
}

fn to_json(detail: &Detail) -> Value {
    json!({
        "kind": if detail.durable { "durable" } else { "task" },
        "task": records::task(&detail.task),
        "steps": detail.steps.iter().map(records::step).collect::<Vec<_>>(),
        "waiting_on": detail.task.waiting_on.as_ref().map(records::waiting_on),
        "failed_attempts": detail.attempts.iter().map(records::attempt).collect::<Vec<_>>(),
        "events": detail.events.iter().map(records::event).collect::<Vec<_>>(),
        "children": detail.children.iter().map(records::task).collect::<Vec<_>>(),
        "more_children": detail.more_children,
    })
}

fn text(detail: &Detail, order: Order, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let task = &detail.task;
    let kind = if detail.durable {
        "durable execution"
    } else {
        "task"
    };
    out += &format!(
        "{kind} {} ({}): {}\n\n",
        task.task_id, task.task_name, task.status
    );
    if order == Order::StepsFirst {
        steps_section(detail, now, &mut out);
        record_section(task, now, &mut out);
    } else {
        record_section(task, now, &mut out);
        steps_section(detail, now, &mut out);
    }
    if !detail.attempts.is_empty() {
        out += "\nfailed attempts\n";
        let mut table = Table::new(&["ATTEMPT", "WORKER", "STARTED", "FAILED", "ERROR"]);
        for attempt in &detail.attempts {
            table.row(vec![
                attempt.attempt.to_string(),
                attempt.worker_id.clone().unwrap_or_else(|| "-".into()),
                attempt.started_at.map_or_else(|| "-".into(), output::time),
                output::time(attempt.finished_at),
                output::shorten(&attempt.error, DETAIL_WIDTH),
            ]);
        }
        table.render(&mut out);
    }
    if !detail.events.is_empty() {
        out += "\nevents\n";
        let mut table = Table::new(&["NAME", "SENT", "PAYLOAD"]);
        for event in &detail.events {
            table.row(vec![
                event.name.clone(),
                output::time(event.created_at),
                output::shorten(&output::compact(&event.payload), DETAIL_WIDTH),
            ]);
        }
        table.render(&mut out);
    }
    if !detail.children.is_empty() {
        out += "\nchildren\n";
        tasks::table(&detail.children).render(&mut out);
        if detail.more_children {
            out += &format!("(only the newest {CHILDREN_LIMIT} children are shown)\n");
        }
    }
    out
}

fn record_section(task: &TaskRecord, now: DateTime<Utc>, out: &mut String) {
    let mut fields = Fields::default();
    fields
        .add("id", task.task_id.clone())
        .add("name", task.task_name.clone())
        .add("status", status_line(task))
        .add("attempts", task.attempts.to_string())
        .add("rescues", task.rescues.to_string())
        .add("run at", output::when(task.run_at, now))
        .add("created", output::when(task.created_at, now))
        .add("started", output::opt_when(task.started_at, now))
        .add("finished", output::opt_when(task.finished_at, now))
        .add("lease", lease(task, now))
        .add(
            "last worker",
            task.last_worker_id.clone().unwrap_or("-".into()),
        )
        .add("parent", task.parent_id.clone().unwrap_or("-".into()))
        .add("schedule", task.schedule_id.clone().unwrap_or("-".into()))
        .add("input", output::pretty(&task.data))
        .add("metadata", output::pretty(&task.metadata))
        .add(
            "result",
            task.result.as_ref().map_or("-".into(), output::pretty),
        )
        .add("error", task.error.clone().unwrap_or("-".into()));
    fields.render(out);
}

fn status_line(task: &TaskRecord) -> String {
    match task.cancel_requested {
        true => format!("{} (cancel requested)", task.status),
        false => task.status.to_string(),
    }
}

fn lease(task: &TaskRecord, now: DateTime<Utc>) -> String {
    match (&task.worker_id, task.lease_expires_at) {
        (Some(holder), Some(until)) => {
            format!("held by {holder} until {}", output::when(until, now))
        }
        (Some(holder), None) => format!("held by {holder}"),
        (None, _) => "none".to_owned(),
    }
}

fn steps_section(detail: &Detail, now: DateTime<Utc>, out: &mut String) {
    if !detail.durable {
        return;
    }
    if detail.steps.is_empty() {
        out.push_str("steps: none yet\n\n");
    } else {
        out.push_str("steps\n");
        let mut table = Table::new(&[
            "SEQ", "NAME", "ATTEMPTS", "OUTCOME", "STARTED", "FINISHED", "DURATION", "DETAIL",
        ]);
        for step in &detail.steps {
            table.row(vec![
                step.seq.to_string(),
                step_name(step),
                step.attempts.to_string(),
                records::outcome_name(&step.outcome).to_owned(),
                output::time(step.started_at),
                output::opt_time(step.finished_at),
                records::step_duration(step).map_or("-".into(), output::duration),
                step_detail(&step.outcome),
            ]);
            // Under their step, so that they read as its history.
            for failed in &step.failed_attempts {
                table.row(vec![
                    String::new(),
                    format!("- attempt {}", failed.attempt),
                    String::new(),
                    "failed".to_owned(),
                    output::time(failed.started_at),
                    output::time(failed.finished_at),
                    output::duration(failed.finished_at - failed.started_at),
                    output::shorten(&failed.error, DETAIL_WIDTH),
                ]);
            }
        }
        table.render(out);
        out.push('\n');
    }
    if let Some(waiting) = &detail.task.waiting_on {
        out.push_str(&format!(
            "waiting on: {}\n\n",
            waiting_text(waiting, &detail.task.task_id, now)
        ));
    }
}

/// A step's name, with its occurrence when the name repeats (`charge#1`).
fn step_name(step: &StepRecord) -> String {
    match step.occurrence {
        0 => step.name.clone(),
        n => format!("{}#{n}", step.name),
    }
}

fn step_detail(outcome: &StepOutcome) -> String {
    match outcome {
        StepOutcome::Completed(value) => output::shorten(&output::compact(value), DETAIL_WIDTH),
        StepOutcome::Failed(error) => output::shorten(error, DETAIL_WIDTH),
        StepOutcome::Retrying { until, error } => output::shorten(
            &format!("next attempt {}: {error}", output::time(*until)),
            DETAIL_WIDTH,
        ),
    }
}

fn waiting_text(waiting: &WaitingOn, id: &str, now: DateTime<Utc>) -> String {
    match waiting {
        WaitingOn::Sleep { name, until } => {
            format!("sleep {name:?} until {}", output::when(*until, now))
        }
        WaitingOn::Event { name, deadline } => format!(
            "event {name:?} (zart events send {} {}), at most until {}",
            output::shell_word(id),
            output::shell_word(name),
            output::when(*deadline, now)
        ),
        WaitingOn::Child { child_id, deadline } => format!(
            "child execution {child_id} to end, at most until {}",
            output::when(*deadline, now)
        ),
        WaitingOn::Retry { name, until, error } => format!(
            "step {name:?} to be tried again at {} (last error: {})",
            output::when(*until, now),
            output::shorten(error, DETAIL_WIDTH)
        ),
        other => format!("{other:?}"),
    }
}
