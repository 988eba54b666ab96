//! Zart's records as JSON, for `--json`. The records are not `Serialize` (their stored
//! forms are the drivers' business), so the CLI names its own fields here, once, and
//! every command uses these: the same record reads the same in every command.
//!
//! Instants are RFC 3339 in UTC with as many fraction digits as stored; ages and
//! durations are whole milliseconds.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use zart::durable::{StepAttempt, StepOutcome, StepRecord, WaitingOn};
use zart::inspect::{AttemptRecord, EventRecord, QueueSummary, StatusCounts, WorkerRecord};
use zart::recurring::{RunRecord, ScheduleInfo, UpcomingSlot};
use zart::scheduler::{TaskRecord, TaskStatus};
use zart::store::QueueLimits;

pub(crate) fn instant(at: DateTime<Utc>) -> Value {
    Value::String(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn opt_instant(at: Option<DateTime<Utc>>) -> Value {
    at.map(instant).unwrap_or(Value::Null)
}

pub(crate) fn task(record: &TaskRecord) -> Value {
    json!({
        "task_id": record.task_id,
        "task_name": record.task_name,
        "status": record.status.as_str(),
        "run_at": instant(record.run_at),
        "input": record.data,
        "metadata": record.metadata,
        "attempts": record.attempts,
        "rescues": record.rescues,
        "lease_holder": record.worker_id,
        "lease_expires_at": opt_instant(record.lease_expires_at),
        "last_worker_id": record.last_worker_id,
        "result": record.result,
        "error": record.error,
        "created_at": instant(record.created_at),
        "started_at": opt_instant(record.started_at),
        "finished_at": opt_instant(record.finished_at),
        "parent_id": record.parent_id,
        "schedule_id": record.schedule_id,
        "cancel_requested": record.cancel_requested,
        "waiting_on": record.waiting_on.as_ref().map(waiting_on),
        "cursor": record.cursor().to_string(),
    })
}

/// A step's outcome in a word: `completed`, `failed` or `retrying`.
pub(crate) fn outcome_name(outcome: &StepOutcome) -> &'static str {
    match outcome {
        StepOutcome::Completed(_) => "completed",
        StepOutcome::Failed(_) => "failed",
        StepOutcome::Retrying { .. } => "retrying",
    }
}

/// How long a step took, once it has finished.
pub(crate) fn step_duration(step: &StepRecord) -> Option<chrono::Duration> {
    step.finished_at.map(|end| end - step.started_at)
}

pub(crate) fn step(step: &StepRecord) -> Value {
    let (result, error, retry_at) = match &step.outcome {
        StepOutcome::Completed(value) => (value.clone(), Value::Null, Value::Null),
        StepOutcome::Failed(error) => (Value::Null, json!(error), Value::Null),
        StepOutcome::Retrying { until, error } => (Value::Null, json!(error), instant(*until)),
    };
    json!({
        "seq": step.seq,
        "name": step.name,
        "occurrence": step.occurrence,
        "outcome": outcome_name(&step.outcome),
        "result": result,
        "error": error,
        "retry_at": retry_at,
        "attempts": step.attempts,
        "started_at": instant(step.started_at),
        "finished_at": opt_instant(step.finished_at),
        "duration_ms": step_duration(step).map(|d| d.num_milliseconds()),
        "failed_attempts": step.failed_attempts.iter().map(step_attempt).collect::<Vec<_>>(),
    })
}

fn step_attempt(attempt: &StepAttempt) -> Value {
    json!({
        "attempt": attempt.attempt,
        "started_at": instant(attempt.started_at),
        "finished_at": instant(attempt.finished_at),
        "duration_ms": (attempt.finished_at - attempt.started_at).num_milliseconds(),
        "error": attempt.error,
    })
}

pub(crate) fn attempt(attempt: &AttemptRecord) -> Value {
    json!({
        "attempt": attempt.attempt,
        "worker_id": attempt.worker_id,
        "started_at": attempt.started_at.map(instant),
        "finished_at": instant(attempt.finished_at),
        "error": attempt.error,
    })
}

pub(crate) fn event(event: &EventRecord) -> Value {
    json!({
        "name": event.name,
        "payload": event.payload,
        "created_at": instant(event.created_at),
    })
}

pub(crate) fn waiting_on(waiting: &WaitingOn) -> Value {
    match waiting {
        WaitingOn::Sleep { name, until } => {
            json!({ "kind": "sleep", "name": name, "until": instant(*until) })
        }
        WaitingOn::Event { name, deadline } => {
            json!({ "kind": "event", "name": name, "deadline": instant(*deadline) })
        }
        WaitingOn::Child { child_id, deadline } => {
            json!({ "kind": "child", "child_id": child_id, "deadline": instant(*deadline) })
        }
        WaitingOn::Retry { name, until, error } => {
            json!({ "kind": "retry", "name": name, "until": instant(*until), "error": error })
        }
        // A kind of wait newer than this CLI: said as such rather than hidden.
        other => json!({ "kind": "other", "description": format!("{other:?}") }),
    }
}

/// What a suspended execution waits on, in a few words for a listing (its instant is
/// the task's due instant): `sleep cool-down`, `event approved`, `child order-7/ship`,
/// `retry of charge`.
pub(crate) fn waiting_briefly(waiting: &WaitingOn) -> String {
    match waiting {
        WaitingOn::Sleep { name, .. } => format!("sleep {name}"),
        WaitingOn::Event { name, .. } => format!("event {name}"),
        WaitingOn::Child { child_id, .. } => format!("child {child_id}"),
        WaitingOn::Retry { name, .. } => format!("retry of {name}"),
        other => format!("{other:?}"),
    }
}

pub(crate) fn schedule(info: &ScheduleInfo) -> Value {
    let task = &info.task;
    json!({
        "schedule_id": task.schedule_id,
        "task_name": task.task_name,
        "state": info.state.as_str(),
        "schedule": serde_json::to_value(&task.schedule).unwrap_or(Value::Null),
        "description": task.schedule.describe(),
        "input": task.data,
        "id_template": task.id_template,
        "missed": task.missed.as_str(),
        "overlap": task.overlap.as_str(),
        "window": task.window.as_ref().and_then(|w| serde_json::to_value(w).ok()),
        "max_runs": task.max_runs,
        "grace_ms": u64::try_from(task.grace.as_millis()).unwrap_or(u64::MAX),
        "occurrence": info.occurrence,
        "next_slot": opt_instant(info.next_slot),
        "buffered_slot": opt_instant(info.buffered_slot),
        "trigger_requested": info.trigger_requested,
        "last_finished_at": opt_instant(info.last_finished_at),
    })
}

pub(crate) fn upcoming(slot: &UpcomingSlot) -> Value {
    json!({ "at": instant(slot.at), "outside_window": slot.outside_window })
}

pub(crate) fn run(run: &RunRecord) -> Value {
    json!({
        "slot": instant(run.slot),
        "decision": run.decision,
        "reason": run.reason,
        "occurrence": run.occurrence,
        "task_id": run.task_id,
        "recorded_at": instant(run.recorded_at),
        "status": run.status.map(TaskStatus::as_str),
        "started_at": opt_instant(run.started_at),
        "finished_at": opt_instant(run.finished_at),
        "error": run.error,
    })
}

fn counts(counts: &StatusCounts) -> Value {
    let mut by_status = serde_json::Map::new();
    for status in TaskStatus::ALL {
        by_status.insert(status.as_str().to_owned(), json!(counts.get(status)));
    }
    Value::Object(by_status)
}

pub(crate) fn queue(queue: &QueueSummary, now: DateTime<Utc>) -> Value {
    json!({
        "queue": queue.queue,
        "task_names": queue.task_names,
        "counts": counts(&queue.counts),
        "oldest_due": opt_instant(queue.oldest_due),
        "oldest_due_age_ms": queue.oldest_due.map(|at| (now - at).num_milliseconds().max(0)),
        "paused_at": opt_instant(queue.paused_at),
        "limits": limits(&queue.limits),
        "overridden_at": opt_instant(queue.overridden_at),
        "declared_limits": limits(&queue.declared_limits),
    })
}

fn limits(limits: &QueueLimits) -> Value {
    json!({
        "global": limits.concurrency,
        "per_key": limits.per_key.as_ref().map(|key| json!({ "field": key.field, "limit": key.limit })),
        "rate": limits.rate.map(|rate| json!({
            "limit": rate.limit,
            "period_ms": u64::try_from(rate.period.as_millis()).unwrap_or(u64::MAX),
        })),
    })
}

pub(crate) fn worker(worker: &WorkerRecord, running: u64, now: DateTime<Utc>) -> Value {
    let tasks: Vec<Value> = worker
        .tasks
        .iter()
        .map(|t| json!({ "task_name": t.task_name, "queue": t.queue, "durable": t.durable }))
        .collect();
    json!({
        "worker_id": worker.worker_id,
        "host": worker.host,
        "pid": worker.pid,
        "queues": worker.queues,
        "tasks": tasks,
        "concurrency": worker.concurrency,
        "started_at": instant(worker.started_at),
        "heartbeat_at": instant(worker.heartbeat_at),
        "heartbeat_age_ms": (now - worker.heartbeat_at).num_milliseconds().max(0),
        "running": running,
    })
}
