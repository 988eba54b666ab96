//! Durable executions on SQLite: step logs, checkpoints, events and children.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row};
use serde_json::{json, Value};
use zart_core::inspect::EventRecord;
use zart_core::queue::Lease;
use zart_core::steps::{Checkpointed, StepOutcome, StepRecord};
use zart_core::store::StepStore;
use zart_core::task::NewTask;
use zart_core::StoreResult;

use crate::codec::{count, instant, json, json_text, maybe_instant, maybe_json, millis};
use crate::error::corrupt;
use crate::notify::Effects;
use crate::queries::Queries;
use crate::SqliteTaskScheduler;

/// The step log of `task_id`, in call order, read on `conn`.
/// [`StepStore::send_event`] on `conn`, in its transaction.
pub(crate) fn send_event_on(
    conn: &Connection,
    sql: &Queries,
    task_id: &str,
    name: &str,
    payload: &Value,
    effects: &mut Effects,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(&sql.send_event)?
        .execute((task_id, name, json_text(payload)))?;
    let woken = conn
        .prepare_cached(&sql.wake_suspended)?
        .execute([task_id])?
        > 0;
    if woken {
        effects.due_now();
    }
    Ok(woken)
}

pub(crate) fn load_on(
    conn: &Connection,
    sql: &Queries,
    task_id: &str,
) -> rusqlite::Result<Vec<StepRecord>> {
    conn.prepare_cached(&sql.load_steps)?
        .query_map([task_id], step_record)?
        .collect()
}

fn step_record(row: &Row<'_>) -> rusqlite::Result<StepRecord> {
    let status: String = row.get(3)?;
    let error =
        || -> rusqlite::Result<String> { Ok(row.get::<_, Option<String>>(5)?.unwrap_or_default()) };
    let outcome = match status.as_str() {
        "completed" => StepOutcome::Completed(maybe_json(row, 4)?.unwrap_or(Value::Null)),
        "failed" => StepOutcome::Failed(error()?),
        "retrying" => {
            let until = maybe_json(row, 4)?
                .and_then(|output| output.get("until").cloned())
                .and_then(|until| serde_json::from_value::<DateTime<Utc>>(until).ok())
                .ok_or_else(|| corrupt(4, "a retrying step has no due time"))?;
            StepOutcome::Retrying {
                until,
                error: error()?,
            }
        }
        other => return Err(corrupt(3, format!("unknown step status {other:?}"))),
    };
    Ok(StepRecord {
        seq: count(row, 0)?,
        name: row.get(1)?,
        occurrence: count(row, 2)?,
        outcome,
        attempts: count(row, 6)?,
        started_at: instant(row, 7)?,
        finished_at: maybe_instant(row, 8)?,
        failed_attempts: match maybe_json(row, 9)? {
            None => Vec::new(),
            Some(failed) => serde_json::from_value(failed)
                .map_err(|e| corrupt(9, format!("unreadable failed attempts: {e}")))?,
        },
    })
}

/// [`StepStore::save_steps`] on `conn`, in its transaction.
pub(crate) fn save_on(
    conn: &Connection,
    sql: &Queries,
    steps: &[(Lease, StepRecord)],
) -> rusqlite::Result<Vec<Checkpointed>> {
    let mut save = conn.prepare_cached(&sql.save_step)?;
    let mut outcomes = Vec::with_capacity(steps.len());
    for (lease, step) in steps {
        let (status, output, error) = match &step.outcome {
            StepOutcome::Completed(value) => ("completed", Some(json_text(value)), None),
            StepOutcome::Failed(error) => ("failed", None, Some(error.as_str())),
            StepOutcome::Retrying { until, error } => (
                "retrying",
                Some(json_text(&json!({ "until": until }))),
                Some(error.as_str()),
            ),
        };
        let failed = match step.failed_attempts.is_empty() {
            true => None,
            false => Some(
                serde_json::to_string(&step.failed_attempts)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
            ),
        };
        let written = save
            .query_row(
                rusqlite::params![
                    lease.task_id,
                    step.seq,
                    step.name,
                    step.occurrence,
                    status,
                    output,
                    error,
                    step.attempts,
                    millis(step.started_at),
                    lease.token,
                    failed,
                ],
                |_| Ok(()),
            )
            .optional()?;
        let outcome = match written {
            Some(()) => Checkpointed::Saved,
            // Not written: only now is it worth a look at why.
            None => {
                let held: Option<(i64, bool)> = conn
                    .prepare_cached(&sql.step_fence)?
                    .query_row([&lease.task_id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                match held {
                    Some((token, true)) if token == lease.token => Checkpointed::Cancelled,
                    _ => Checkpointed::Refused,
                }
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

#[async_trait]
impl StepStore for SqliteTaskScheduler {
    async fn load_steps(&self, task_id: &str) -> StoreResult<Vec<StepRecord>> {
        self.read("loading checkpoints", |conn, sql| {
            load_on(conn, sql, task_id)
        })
        .await
    }

    async fn save_steps(&self, steps: &[(Lease, StepRecord)]) -> StoreResult<Vec<Checkpointed>> {
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        self.write("recording steps", |conn, sql, _| save_on(conn, sql, steps))
            .await
    }

    async fn send_event(&self, task_id: &str, name: &str, payload: &Value) -> StoreResult<bool> {
        self.write("sending an event", |conn, sql, effects: &mut Effects| {
            send_event_on(conn, sql, task_id, name, payload, effects)
        })
        .await
    }

    async fn find_event(
        &self,
        task_id: &str,
        name: &str,
        index: u32,
    ) -> StoreResult<Option<Value>> {
        self.read("looking for an event", |conn, sql| {
            conn.prepare_cached(&sql.find_event)?
                .query_row((task_id, name, index), |row| json(row, 0))
                .optional()
        })
        .await
    }

    async fn events(&self, task_id: &str) -> StoreResult<Vec<EventRecord>> {
        let statement = format!(
            "SELECT name, payload, created_at FROM \"{}events\" WHERE task_id = ?1 ORDER BY id",
            self.shared.options.prefix
        );
        self.read("reading events", |conn, _| {
            conn.prepare_cached(&statement)?
                .query_map([task_id], |row| {
                    Ok(EventRecord {
                        name: row.get(0)?,
                        payload: json(row, 1)?,
                        created_at: instant(row, 2)?,
                    })
                })?
                .collect()
        })
        .await
    }

    async fn start_child(&self, parent: &str, child: &NewTask) -> StoreResult<bool> {
        self.write("starting a child execution", |conn, sql, effects| {
            let inserted = conn
                .prepare_cached(&sql.start_child)?
                .query_row(
                    (
                        &child.params.task_id,
                        &child.params.task_name,
                        json_text(&child.params.data),
                        parent,
                        child.priority,
                        child.trace_context.as_ref().map(|c| &c.traceparent),
                        child.trace_context.as_ref().map(|c| &c.tracestate),
                    ),
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if inserted {
                effects.due_now();
            }
            Ok(inserted)
        })
        .await
    }
}
