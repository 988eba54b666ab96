//! `zart schedules list|show|pause|resume|trigger|stop`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use zart::recurring::{upcoming, RunRecord, ScheduleInfo, ScheduleState};
use zart::Zart;

use crate::cli::{Global, SchedulesCommand};
use crate::connect::{connect, Missing};
use crate::error::{CliError, CliResult};
use crate::output::{self, Fields, Output, Table};
use crate::records;

/// How many slots ahead `show` looks.
const UPCOMING: usize = 5;
/// How many decisions `show` lists.
const HISTORY: usize = 50;
const ERROR_WIDTH: usize = 40;

pub(crate) async fn run(global: &Global, command: &SchedulesCommand) -> CliResult<Output> {
    let zart = connect(global, Missing::Refuse).await?;
    match command {
        SchedulesCommand::List => list(&zart, global.json).await,
        SchedulesCommand::Show { id } => show(&zart, id, global.json).await,
        SchedulesCommand::Pause { id } => act(&zart, id, Action::Pause, global.json).await,
        SchedulesCommand::Resume { id } => act(&zart, id, Action::Resume, global.json).await,
        SchedulesCommand::Trigger { id } => act(&zart, id, Action::Trigger, global.json).await,
        SchedulesCommand::Stop { id } => act(&zart, id, Action::Stop, global.json).await,
    }
}

async fn list(zart: &Zart, json: bool) -> CliResult<Output> {
    let schedules = zart.inspector().schedules().await?;
    if json {
        let schedules: Vec<Value> = schedules.iter().map(records::schedule).collect();
        return Ok(Output::Json(json!({ "schedules": schedules })));
    }
    if schedules.is_empty() {
        return Ok(Output::Text("no schedules\n".to_owned()));
    }
    let now = Utc::now();
    let mut table = Table::new(&["ID", "TASK", "STATE", "SCHEDULE", "NEXT SLOT"]);
    for info in &schedules {
        table.row(vec![
            info.task.schedule_id.clone(),
            info.task.task_name.clone(),
            info.state.as_str().to_owned(),
            info.task.schedule.describe(),
            next_slot(info, now),
        ]);
    }
    let mut out = String::new();
    table.render(&mut out);
    Ok(Output::Text(out))
}

/// The next slot, if the schedule will come to it.
fn next_slot(info: &ScheduleInfo, now: DateTime<Utc>) -> String {
    match (info.state, info.next_slot) {
        (ScheduleState::Active, Some(at)) => output::when(at, now),
        // A fixed delay counts from the end of a run that has not ended yet.
        (ScheduleState::Active, None) => "after the running one ends".to_owned(),
        _ => "-".to_owned(),
    }
}

async fn find(zart: &Zart, id: &str) -> CliResult<ScheduleInfo> {
    zart.inspector()
        .schedule(id)
        .await?
        .ok_or_else(|| CliError::not_found(format!("no schedule {id:?}")))
}

async fn show(zart: &Zart, id: &str, json: bool) -> CliResult<Output> {
    let info = find(zart, id).await?;
    let slots = upcoming(&info, UPCOMING);
    let history = zart.inspector().history(id, HISTORY).await?;
    if json {
        return Ok(Output::Json(json!({
            "schedule": records::schedule(&info),
            "upcoming": slots.iter().map(records::upcoming).collect::<Vec<_>>(),
            "history": history.iter().map(records::run).collect::<Vec<_>>(),
        })));
    }
    let now = Utc::now();
    let task = &info.task;
    let stored = serde_json::to_value(&task.schedule).unwrap_or(Value::Null);
    let max_runs = match task.max_runs {
        Some(max) => format!("{max} ({} left)", max.saturating_sub(info.occurrence)),
        None => "unlimited".to_owned(),
    };
    let mut fields = Fields::default();
    fields
        .add("schedule", task.schedule_id.clone())
        .add("task", task.task_name.clone())
        .add("state", info.state.as_str())
        .add("runs", task.schedule.describe())
        .add("stored as", output::compact(&stored))
        .add("window", window(task.window.as_ref()))
        .add("missed slots", task.missed.as_str())
        .add("overlap", task.overlap.as_str())
        .add("grace", output::age(grace(task.grace)))
        .add("max runs", max_runs)
        .add("run ids", task.id_template.clone())
        .add("input", output::compact(&task.data))
        .add("occurrences", occurrences(info.occurrence))
        .add("next slot", next_slot(&info, now))
        .add("buffered", output::opt_when(info.buffered_slot, now))
        .add(
            "trigger",
            if info.trigger_requested {
                "requested"
            } else {
                "-"
            },
        )
        .add(
            "last finished",
            output::opt_when(info.last_finished_at, now),
        );
    let mut out = String::new();
    fields.render(&mut out);
    out += "\nnext slots\n";
    if slots.is_empty() {
        out += "  none (the schedule is not active, or has no slots left)\n";
    }
    for slot in &slots {
        let mark = if slot.outside_window {
            "  outside the window: skipped"
        } else {
            ""
        };
        out += &format!("  {}{mark}\n", output::when(slot.at, now));
    }
    out += &format!("\nhistory (latest {HISTORY}, oldest first)\n");
    if history.is_empty() {
        out += "  no decisions yet\n";
    } else {
        history_table(&history).render(&mut out);
    }
    Ok(Output::Text(out))
}

/// The counter in words: it is the next run's number too.
fn occurrences(count: u64) -> String {
    match count {
        0 => "no runs started yet (the first is #0)".to_owned(),
        1 => "1 run started (the next is #1)".to_owned(),
        n => format!("{n} runs started (the next is #{n})"),
    }
}

fn grace(grace: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX)
}

fn history_table(history: &[RunRecord]) -> Table {
    let mut table = Table::new(&[
        "SLOT", "DECISION", "REASON", "RUN", "STATUS", "STARTED", "FINISHED", "ERROR",
    ]);
    for run in history {
        let dash = || "-".to_owned();
        table.row(vec![
            output::time(run.slot),
            run.decision.clone(),
            run.reason.clone().unwrap_or_else(dash),
            run.task_id.clone().unwrap_or_else(dash),
            run.status.map_or_else(dash, |s| s.to_string()),
            output::opt_time(run.started_at),
            output::opt_time(run.finished_at),
            run.error
                .as_deref()
                .map_or_else(dash, |e| output::shorten(e, ERROR_WIDTH)),
        ]);
    }
    table
}

/// A time window in words, read from its stored form (`TimeWindow` has no description
/// of its own): `Mon, Tue 09:00-17:00 (Europe/Berlin)`.
fn window(window: Option<&zart::schedule::TimeWindow>) -> String {
    let Some(window) = window else {
        return "none (any time)".to_owned();
    };
    let spec = serde_json::to_value(window).unwrap_or(Value::Null);
    let strings = |key: &str| -> Vec<String> {
        spec[key]
            .as_array()
            .map(|items| items.iter().map(|v| v.to_string()).collect())
            .unwrap_or_default()
    };
    let days: Vec<String> = strings("weekdays")
        .iter()
        .map(|d| d.trim_matches('"').to_owned())
        .collect();
    let segments: Vec<String> = spec["segments"]
        .as_array()
        .map(|segments| {
            segments
                .iter()
                .map(|pair| format!("{}-{}", hh_mm(&pair[0]), hh_mm(&pair[1])))
                .collect()
        })
        .unwrap_or_default();
    let days = match days.is_empty() {
        true => "every day".to_owned(),
        false => days.join(", "),
    };
    let times = match segments.is_empty() {
        true => "all day".to_owned(),
        false => segments.join(", "),
    };
    format!("{days} {times} ({})", window.timezone().name())
}

/// `"09:00:00"` as `09:00`.
fn hh_mm(time: &Value) -> String {
    let text = time.as_str().unwrap_or("?");
    text.get(..5).unwrap_or(text).to_owned()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Pause,
    Resume,
    Trigger,
    Stop,
}

async fn act(zart: &Zart, id: &str, action: Action, json: bool) -> CliResult<Output> {
    let before = find(zart, id).await?;
    let schedules = zart.schedules();
    let done = match action {
        Action::Pause => schedules.pause(id).await?,
        Action::Resume => schedules.resume(id).await?,
        Action::Trigger => schedules.trigger_now(id).await?,
        Action::Stop => schedules.stop(id).await?,
    };
    let state = find(zart, id).await?.state;
    let (verb, allowed) = match action {
        Action::Pause => ("paused", "only an active schedule can be paused"),
        Action::Resume => (
            "resumed",
            "only a paused or stopped schedule (with slots left) can be resumed",
        ),
        Action::Trigger => ("triggered", "only an active schedule can be triggered"),
        Action::Stop => (
            "stopped",
            "only an active or paused schedule can be stopped",
        ),
    };
    if !done {
        return Err(CliError::refused(format!(
            "schedule {id:?} is {}: {allowed}",
            before.state.as_str()
        )));
    }
    if json {
        return Ok(Output::Json(json!({
            "schedule_id": id,
            "action": verb,
            "done": true,
            "state": state.as_str(),
        })));
    }
    let note = match action {
        Action::Trigger => "; a run starts as its overlap policy allows",
        _ => "",
    };
    Ok(Output::Text(format!(
        "{verb} schedule {id}; now {}{note}\n",
        state.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_in_words() {
        let office = zart::schedule::TimeWindow::parse("Europe/Berlin", "mon-wed 09:00-17:00");
        let office = office.ok();
        assert_eq!(
            window(office.as_ref()),
            "Mon, Tue, Wed 09:00-17:00 (Europe/Berlin)"
        );
        let nights = zart::schedule::TimeWindow::parse("UTC", "22:00-02:00").ok();
        assert_eq!(window(nights.as_ref()), "every day 22:00-02:00 (UTC)");
        assert_eq!(window(None), "none (any time)");
    }
}
