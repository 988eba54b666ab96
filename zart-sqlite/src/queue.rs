//! The task queue on SQLite: inserting, claiming, leases, outcomes, maintenance and the
//! reads of tasks.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::DateTime;
use rusqlite::{Connection, OptionalExtension, Row};
use serde_json::{json, Value};
use tokio::sync::watch;
use zart_core::queue::{ClaimScope, ClaimedTask, Lease, Outcome, OutcomeKind, RescueReport, Wake};
use zart_core::store::QueueStore;
use zart_core::task::{NewTask, TaskStatus, TraceContext};
use zart_core::StoreResult;

use crate::codec::{count, duration_ms, json_text, millis};
use crate::end_effects::{self, Ended};
use crate::error::corrupt;
use crate::notify::{self, Effects};
use crate::queries::Queries;
use crate::{claim, steps, SqliteTaskScheduler};

/// Inserts `tasks` (the runs of `schedule_id`, if given) on `conn`, in its transaction,
/// skipping existing ids, in one statement. Returns the inserted ids in input order (an id
/// repeated in `tasks` is inserted once, as its first occurrence); `effects` learns when
/// they are due.
pub(crate) fn insert_on(
    conn: &Connection,
    sql: &Queries,
    tasks: &[NewTask],
    schedule_id: Option<&str>,
    effects: &mut Effects,
) -> rusqlite::Result<Vec<String>> {
    let rows: Vec<Value> = tasks
        .iter()
        .map(
            |NewTask {
                 params: task,
                 priority,
                 trace_context,
             }| {
                json!([
                    task.task_id,
                    task.task_name,
                    millis(task.execution_time),
                    json_text(&task.data),
                    json_text(&task.metadata),
                    priority,
                    trace_context.as_ref().map(|c| &c.traceparent),
                    trace_context.as_ref().map(|c| &c.tracestate),
                ])
            },
        )
        .collect();
    let mut inserted: HashSet<String> = conn
        .prepare_cached(&sql.insert)?
        .query_map((json_text(&Value::Array(rows)), schedule_id), |row| {
            row.get(0)
        })?
        .collect::<Result<_, _>>()?;
    let mut ids = Vec::with_capacity(inserted.len());
    for task in tasks.iter().map(|task| &task.params) {
        // Taken out on its first occurrence: a later copy of the id was not inserted.
        if inserted.remove(&task.task_id) {
            effects.due(task.execution_time);
            ids.push(task.task_id.clone());
        }
    }
    Ok(ids)
}

/// [`QueueStore::cancel_task`] on `conn`, in its transaction, with the end effects.
pub(crate) fn cancel_on(
    conn: &Connection,
    sql: &Queries,
    task_id: &str,
    effects: &mut Effects,
) -> rusqlite::Result<Option<TaskStatus>> {
    let ended = conn
        .prepare_cached(&sql.cancel)?
        .query_row([task_id], Ended::read)
        .optional()?;
    match ended {
        None => Ok(None),
        Some(ended) => {
            end_effects::apply(conn, sql, &ended, effects)?;
            Ok(Some(ended.status))
        }
    }
}

/// Completes the task `lease` holds with `result`, fenced, on `conn`. Returns the status
/// it ended with, or `None` if the lease was lost.
pub(crate) fn complete_on(
    conn: &Connection,
    sql: &Queries,
    lease: &Lease,
    result: Option<&Value>,
    effects: &mut Effects,
) -> rusqlite::Result<Option<TaskStatus>> {
    let ended = conn
        .prepare_cached(&sql.complete)?
        .query_row(
            (&lease.task_id, lease.token, result.map(json_text)),
            Ended::read,
        )
        .optional()?;
    match ended {
        None => Ok(None),
        Some(ended) => {
            if !ended.ended_before() {
                end_effects::apply(conn, sql, &ended, effects)?;
            }
            Ok(Some(ended.status))
        }
    }
}

/// Fails a claimed task whose stored row cannot be decoded, under the lease just taken,
/// with `reason` as its error: it ends there, visibly, and the claim goes on.
fn fail_undecodable(
    conn: &Connection,
    sql: &Queries,
    lease: &Lease,
    reason: &str,
    effects: &mut Effects,
) -> rusqlite::Result<()> {
    let error = format!("task {:?} cannot be run: {reason}", lease.task_id);
    tracing::warn!(task_id = %lease.task_id, %error, "a claimed task's stored row is unreadable");
    let params = (
        &lease.task_id,
        lease.token,
        TaskStatus::Failed.as_str(),
        None::<String>,
        &error,
        None::<i64>,
    );
    let ended = conn
        .prepare_cached(&sql.finish)?
        .query_row(params, Ended::read)
        .optional()?;
    if let Some(ended) = ended {
        conn.prepare_cached(&sql.record_attempt)?
            .execute((&ended.task_id, &error))?;
        end_effects::apply(conn, sql, &ended, effects)?;
    }
    Ok(())
}

/// A stored status.
pub(crate) fn status(row: &Row<'_>, column: usize) -> rusqlite::Result<TaskStatus> {
    let name: String = row.get(column)?;
    TaskStatus::parse(&name).ok_or_else(|| corrupt(column, format!("unknown task status {name:?}")))
}

/// A claimed row as stored, before its JSON and instants are decoded: a row Zart did not
/// write (edited by hand, say) must fail on its own instead of failing every claim.
struct ClaimedRow {
    lease: Lease,
    row_key: i64,
    task_name: String,
    data: String,
    metadata: String,
    run_at: i64,
    attempt: u32,
    created_at: i64,
    priority: i16,
    trace_parent: Option<String>,
    trace_state: Option<String>,
    app_version: Option<String>,
}

impl ClaimedRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<ClaimedRow> {
        Ok(ClaimedRow {
            lease: Lease {
                task_id: row.get(0)?,
                token: row.get(1)?,
            },
            task_name: row.get(2)?,
            data: row.get(3)?,
            metadata: row.get(4)?,
            run_at: row.get(5)?,
            attempt: count(row, 6)?,
            created_at: row.get(7)?,
            row_key: row.get(8)?,
            priority: row.get(9)?,
            trace_parent: row.get(10)?,
            trace_state: row.get(11)?,
            app_version: row.get(12)?,
        })
    }

    /// The claimed task, or what is wrong with the stored row.
    fn decode(self) -> Result<ClaimedTask, (Lease, String)> {
        let json = |what: &str, text: &str| {
            serde_json::from_str(text).map_err(|e| format!("its stored {what} is not JSON: {e}"))
        };
        let instant = |what: &str, ms: i64| {
            DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| format!("its stored {what} ({ms}) is no instant"))
        };
        let decoded = (|| {
            Ok(ClaimedTask {
                task_name: self.task_name,
                data: json("input", &self.data)?,
                metadata: json("metadata", &self.metadata)?,
                run_at: instant("run_at", self.run_at)?,
                attempt: self.attempt,
                created_at: instant("created_at", self.created_at)?,
                steps: None,
                priority: self.priority,
                trace_context: TraceContext::from_columns(self.trace_parent, self.trace_state),
                app_version: self.app_version,
                lease: self.lease.clone(),
            })
        })();
        decoded.map_err(|reason: String| (self.lease, reason))
    }
}

/// Most row keys of handed-out leases remembered.
const MAX_ROW_KEYS: usize = 100_000;

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What a finish statement reads of an outcome: status, result (as JSON text), error, due
/// instant.
fn outcome_params(kind: &OutcomeKind) -> (&'static str, Option<String>, Option<&str>, Option<i64>) {
    let columns = kind.columns();
    (
        columns.status,
        columns.result.map(json_text),
        columns.error,
        columns.run_at.map(millis),
    )
}

impl SqliteTaskScheduler {
    /// Runs `f` in a write transaction and, once it committed, announces its effects.
    pub(crate) async fn write<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Connection, &Queries, &mut Effects) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let sql = &self.shared.sql;
        let mut effects = Effects::default();
        let value = self
            .shared
            .db
            .write(context, |conn| f(conn, sql, &mut effects))
            .await?;
        self.shared.bells.announce(effects);
        Ok(value)
    }

    /// Runs `f`, which only reads.
    pub(crate) async fn read<T>(
        &self,
        context: &'static str,
        f: impl Fn(&Connection, &Queries) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let sql = &self.shared.sql;
        self.shared.db.read(context, |conn| f(conn, sql)).await
    }
}

#[async_trait]
impl QueueStore for SqliteTaskScheduler {
    async fn insert(&self, tasks: &[NewTask]) -> StoreResult<Vec<String>> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        self.write("scheduling tasks", |conn, sql, effects| {
            insert_on(conn, sql, tasks, None, effects)
        })
        .await
    }

    async fn claim(
        &self,
        worker_id: &str,
        limit_to: usize,
        lease: Duration,
        scope: &ClaimScope,
    ) -> StoreResult<Vec<ClaimedTask>> {
        if limit_to == 0 || scope.names.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let (lease_ms, limit_to) = (duration_ms(lease), limit(limit_to));
        self.write("claiming tasks", |conn, sql, effects| {
            let (picked, rated) =
                claim::pick(conn, &sql.tasks, &sql.queues, &sql.starts, limit_to, scope)?;
            if picked.is_empty() {
                return Ok(Vec::new());
            }
            let rows: Vec<ClaimedRow> = conn
                .prepare_cached(&sql.claim)?
                .query_map(
                    (
                        worker_id,
                        lease_ms,
                        json!(picked).to_string(),
                        &scope.queue,
                        // Only a worker with a version records one on what it begins.
                        scope
                            .app_versions
                            .as_ref()
                            .map(|_| json!(scope.durable).to_string()),
                        scope.app_versions.as_ref().map(|v| &v.current),
                    ),
                    ClaimedRow::read,
                )?
                .collect::<Result<_, _>>()?;
            if rated {
                conn.prepare_cached(&sql.forget_starts)?
                    .execute([&scope.queue])?;
                conn.prepare_cached(&sql.record_starts)?
                    .execute((&scope.queue, rows.len() as i64))?;
            }
            let mut claimed = Vec::with_capacity(rows.len());
            {
                // Only a cache: a store whose leases are never finished here (their
                // workers gave up on them) must not grow it without end.
                let mut row_keys = self.shared.row_keys();
                if row_keys.len() > MAX_ROW_KEYS {
                    row_keys.clear();
                }
            }
            for row in rows {
                let row_key = row.row_key;
                match row.decode() {
                    Ok(task) => {
                        self.shared
                            .row_keys()
                            .insert(task.lease.task_id.clone(), row_key);
                        claimed.push(task);
                    }
                    Err((lease, reason)) => fail_undecodable(conn, sql, &lease, &reason, effects)?,
                }
            }
            for task in &mut claimed {
                if scope.durable.contains(&task.task_name) {
                    task.steps = Some(steps::load_on(conn, sql, &task.lease.task_id)?);
                }
            }
            Ok(claimed)
        })
        .await
    }

    async fn heartbeat(&self, worker_id: &str, lease: Duration) -> StoreResult<u64> {
        let lease_ms = duration_ms(lease);
        let extended = self
            .write("extending leases", |conn, sql, _| {
                conn.prepare_cached(&sql.heartbeat)?
                    .execute((worker_id, lease_ms))
            })
            .await?;
        Ok(u64::try_from(extended).unwrap_or(0))
    }

    async fn finish(&self, outcomes: &[Outcome]) -> StoreResult<Vec<String>> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        self.write("storing task outcomes", |conn, sql, effects| {
            let mut by_id = conn.prepare_cached(&sql.finish)?;
            let mut by_row = conn.prepare_cached(&sql.finish_by_row)?;
            let mut stored = Vec::with_capacity(outcomes.len());
            for outcome in outcomes {
                let (status, result, error, due) = outcome_params(&outcome.kind);
                let lease = &outcome.lease;
                let by_key = match self.shared.row_keys().remove(&lease.task_id) {
                    Some(key) => by_row
                        .query_row(
                            rusqlite::params![
                                lease.task_id,
                                lease.token,
                                status,
                                result,
                                error,
                                due,
                                key
                            ],
                            Ended::read,
                        )
                        .optional()?,
                    None => None,
                };
                // Not found by its row key (none remembered, or a key gone stale): by id.
                let ended = match by_key {
                    Some(ended) => Ok(ended),
                    None => by_id.query_row(
                        rusqlite::params![lease.task_id, lease.token, status, result, error, due],
                        Ended::read,
                    ),
                };
                let Some(ended) = ended.optional()? else {
                    continue; // the lease was lost
                };
                if let Some(error) = &error {
                    conn.prepare_cached(&sql.record_attempt)?
                        .execute((&ended.task_id, error))?;
                }
                if !ended.ended_before() {
                    end_effects::apply(conn, sql, &ended, effects)?;
                }
                stored.push(ended.task_id);
            }
            Ok(stored)
        })
        .await
    }

    async fn release(&self, leases: &[Lease]) -> StoreResult<Vec<String>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        {
            let mut row_keys = self.shared.row_keys();
            for lease in leases {
                row_keys.remove(&lease.task_id);
            }
        }
        let rows: Vec<Value> = leases
            .iter()
            .map(|lease| json!([lease.task_id, lease.token]))
            .collect();
        let rows = json_text(&Value::Array(rows));
        self.write("releasing tasks", |conn, sql, effects| {
            let released: Vec<String> = conn
                .prepare_cached(&sql.release)?
                .query_map([&rows], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            if !released.is_empty() {
                effects.due_now();
            }
            Ok(released)
        })
        .await
    }

    /// Passes never overlap on SQLite: each is one write transaction, and the file has one
    /// writer at a time. So a pass always runs (after any other), and never returns `None`.
    async fn rescue_expired(&self, max_rescues: u32) -> StoreResult<Option<RescueReport>> {
        let max = i64::from(max_rescues);
        let report = self
            .write("rescuing expired leases", |conn, sql, effects| {
                let mut report = RescueReport::default();
                let rescued: Vec<Ended> = conn
                    .prepare_cached(&sql.rescue)?
                    .query_map([max], Ended::read)?
                    .collect::<Result<_, _>>()?;
                for ended in rescued {
                    if let Some(error) = &ended.error {
                        conn.prepare_cached(&sql.record_attempt)?
                            .execute((&ended.task_id, error))?;
                    }
                    if ended.status == TaskStatus::Dead {
                        end_effects::apply(conn, sql, &ended, effects)?;
                        report.dead.push(ended.task_id);
                    } else {
                        effects.due_now();
                        report.requeued.push(ended.task_id);
                    }
                }
                Ok(report)
            })
            .await?;
        Ok(Some(report))
    }

    async fn delete_ended(
        &self,
        status: TaskStatus,
        ended_before: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> StoreResult<u64> {
        self.delete_ended_tasks(status, ended_before, limit).await
    }

    async fn cancel_task(&self, task_id: &str) -> StoreResult<Option<TaskStatus>> {
        self.write("cancelling a task", |conn, sql, effects| {
            cancel_on(conn, sql, task_id, effects)
        })
        .await
    }

    async fn rerun(&self, task_id: &str, forget: bool) -> StoreResult<bool> {
        self.write("rescheduling an ended task", |conn, sql, effects| {
            let put_back = conn
                .prepare_cached(&sql.rerun)?
                .query_row([task_id], |_| Ok(()))
                .optional()?
                .is_some();
            if put_back {
                if forget {
                    conn.prepare_cached(&sql.forget_steps)?.execute([task_id])?;
                    conn.prepare_cached(&sql.forget_events)?
                        .execute([task_id])?;
                    conn.prepare_cached(&sql.forget_attempts)?
                        .execute([task_id])?;
                }
                effects.due_now();
            }
            Ok(put_back)
        })
        .await
    }

    async fn listen(&self, wake: &(dyn Fn(Wake) + Send + Sync)) -> StoreResult<()> {
        notify::listen(&self.shared, wake).await
    }

    async fn ended(&self) -> StoreResult<watch::Receiver<u64>> {
        notify::ended(&self.shared)
    }
}
