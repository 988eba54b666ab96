//! Reading tasks for programs and the admin: one task, listings and counts by filter (a
//! statement built for the conditions given, so that SQLite picks the index that fits),
//! counts by name and status, and recent throughput.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value as Sql;
use rusqlite::{params_from_iter, OptionalExtension, Row};
use serde_json::Value;
use zart_core::inspect::{AttemptRecord, EndedCount, TaskCounts, TaskLoad};
use zart_core::steps::WaitingOn;
use zart_core::store::InspectStore;
use zart_core::task::{prefix_end, TaskFilter, TaskRecord, TaskStatus};
use zart_core::StoreResult;

use crate::codec::{count, instant, maybe_instant, maybe_json, millis, NOW};
use crate::queries::{not_reserved, read_columns, read_from, read_status};
use crate::queue::status;
use crate::SqliteTaskScheduler;

/// Terms that add nothing to `status = <status>` but name the index that lists such tasks:
/// running ones are held (the held-lease index); the others are read from the creation
/// index.
fn index_terms(status: TaskStatus) -> Option<String> {
    match status {
        TaskStatus::Running => Some("worker_id IS NOT NULL".to_owned()),
        _ => None,
    }
}

/// A statement's conditions and the values they bind, numbered as they are added.
struct Conditions {
    clauses: Vec<String>,
    binds: Vec<Sql>,
}

impl Conditions {
    /// Adds `clause`, in which `?` stands for the placeholder of `bind`.
    fn push(&mut self, clause: &str, bind: Sql) {
        self.binds.push(bind);
        let placeholder = format!("?{}", self.binds.len());
        self.clauses.push(clause.replace('?', &placeholder));
    }

    /// The conditions of `filter`, with Zart's own tasks left out; with `paged`, the
    /// listing's position too.
    fn of(filter: &TaskFilter, paged: bool) -> Self {
        let mut conditions = Conditions {
            clauses: vec![not_reserved("task_name"), not_reserved("task_id")],
            binds: Vec::new(),
        };
        if let Some(name) = &filter.name {
            conditions.push("task_name = ?", Sql::Text(name.clone()));
        }
        if let Some(names) = &filter.names {
            let list = serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
            conditions.push(
                "task_name IN (SELECT value FROM json_each(?))",
                Sql::Text(list),
            );
        }
        if let Some(names) = &filter.exclude_names {
            let list = serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
            conditions.push(
                "task_name NOT IN (SELECT value FROM json_each(?))",
                Sql::Text(list),
            );
        }
        if let Some(status) = filter.status {
            // A suspended execution is stored pending: its wait is read from its steps.
            let stored = status.stored();
            conditions.push("status = ?", Sql::Text(stored.as_str().to_owned()));
            conditions.clauses.extend(index_terms(stored));
            if status.is_suspended() {
                conditions
                    .clauses
                    .push(format!("run_at > {NOW} AND error IS NULL"));
            }
            if stored == TaskStatus::Pending {
                conditions.push(
                    &format!("{} = ?", read_status()),
                    Sql::Text(status.as_str().to_owned()),
                );
            }
        }
        if let Some(prefix) = &filter.id_prefix {
            // A range of the task id index (text compares by bytes here, the order of
            // code points): LIKE would ignore case and take `%` and `_` as wildcards.
            conditions.push("task_id >= ?", Sql::Text(prefix.clone()));
            match prefix_end(prefix) {
                Some(end) => conditions.push("task_id < ?", Sql::Text(end)),
                // A prefix of only the last char has no end: compare its length's worth.
                None => {
                    let length = prefix.chars().count();
                    conditions.push(
                        &format!("substr(task_id, 1, {length}) = ?"),
                        Sql::Text(prefix.clone()),
                    );
                }
            }
        }
        if let Some(since) = filter.created_since {
            conditions.push("created_at >= ?", Sql::Integer(millis(since)));
        }
        if let Some(before) = filter.created_before {
            conditions.push("created_at < ?", Sql::Integer(millis(before)));
        }
        if let Some(parent) = &filter.parent_id {
            conditions.push("parent_id = ?", Sql::Text(parent.clone()));
        }
        if let Some(worker) = &filter.worker_id {
            conditions.push("worker_id = ?", Sql::Text(worker.clone()));
        }
        if let (true, Some(after)) = (paged, &filter.after) {
            // The first condition alone lets SQLite bound its index range; the row value
            // then drops what the previous page showed.
            conditions.push("created_at <= ?", Sql::Integer(millis(after.created_at)));
            let at = conditions.binds.len();
            conditions.binds.push(Sql::Text(after.task_id.clone()));
            conditions.clauses.push(format!(
                "(created_at, task_id) < (?{at}, ?{})",
                conditions.binds.len()
            ));
        }
        conditions
    }

    fn sql(&self) -> String {
        self.clauses.join(" AND ")
    }
}

/// Stored JSON for reading; text that is not JSON (a row Zart did not write) reads as that
/// text in a JSON string, so that the task can still be seen, and fixed.
fn json_or_text(row: &Row<'_>, column: usize) -> rusqlite::Result<Value> {
    let text: String = row.get(column)?;
    Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A task's record, from the columns of `queries::read_columns`.
pub(crate) fn task_record(row: &Row<'_>) -> rusqlite::Result<TaskRecord> {
    let status = status(row, 2)?;
    let run_at = instant(row, 3)?;
    let wait_step: Option<String> = row.get(22)?;
    let wait_until: Option<String> = row.get(23)?;
    let wait_error: Option<String> = row.get(24)?;
    let waiting_on = wait_step.and_then(|step| {
        WaitingOn::read(
            status,
            run_at,
            &step,
            wait_until.as_deref(),
            wait_error.as_deref(),
        )
    });
    Ok(TaskRecord {
        task_id: row.get(0)?,
        task_name: row.get(1)?,
        status,
        run_at,
        data: json_or_text(row, 4)?,
        metadata: json_or_text(row, 5)?,
        attempts: count(row, 6)?,
        rescues: count(row, 7)?,
        worker_id: row.get(8)?,
        lease_expires_at: maybe_instant(row, 9)?,
        last_worker_id: row.get(10)?,
        result: maybe_json(row, 11)?,
        error: row.get(12)?,
        created_at: instant(row, 13)?,
        started_at: maybe_instant(row, 14)?,
        finished_at: maybe_instant(row, 15)?,
        parent_id: row.get(16)?,
        schedule_id: row.get(17)?,
        cancel_requested: row.get::<_, i64>(18)? != 0,
        priority: row.get(19)?,
        queue: row.get(20)?,
        app_version: row.get(21)?,
        waiting_on,
    })
}

fn total(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl InspectStore for SqliteTaskScheduler {
    async fn task(&self, task_id: &str) -> StoreResult<Option<TaskRecord>> {
        self.read("reading a task", |conn, sql| {
            conn.prepare_cached(&sql.get)?
                .query_row([task_id], task_record)
                .optional()
        })
        .await
    }

    async fn tasks(&self, filter: &TaskFilter, limit: usize) -> StoreResult<Vec<TaskRecord>> {
        let conditions = Conditions::of(filter, true);
        let statement = format!(
            "SELECT {columns} FROM {read} WHERE {conditions}
             ORDER BY t.created_at DESC, t.task_id DESC LIMIT {limit}",
            columns = read_columns(),
            read = read_from(&self.shared.options.prefix),
            conditions = conditions.sql(),
            limit = i64::try_from(limit).unwrap_or(i64::MAX),
        );
        self.read("listing tasks", |conn, _| {
            conn.prepare_cached(&statement)?
                .query_map(params_from_iter(conditions.binds.iter()), task_record)?
                .collect()
        })
        .await
    }

    async fn count(&self, filter: &TaskFilter) -> StoreResult<u64> {
        let conditions = Conditions::of(filter, false);
        // Only a pending status reads steps (whether it is suspended, and in which wait).
        let prefix = &self.shared.options.prefix;
        let from = match filter.status.map(TaskStatus::stored) {
            Some(TaskStatus::Pending) => read_from(prefix),
            _ => format!("\"{prefix}tasks\""),
        };
        let statement = format!(
            "SELECT count(*) FROM {from} WHERE {conditions}",
            conditions = conditions.sql(),
        );
        let n: i64 = self
            .read("counting tasks", |conn, _| {
                conn.prepare_cached(&statement)?
                    .query_row(params_from_iter(conditions.binds.iter()), |row| row.get(0))
            })
            .await?;
        Ok(total(n))
    }

    async fn attempts(&self, task_id: &str) -> StoreResult<Vec<AttemptRecord>> {
        let statement = format!(
            "SELECT attempt, worker_id, started_at, finished_at, error
             FROM \"{}attempts\" WHERE task_id = ?1 ORDER BY id",
            self.shared.options.prefix
        );
        self.read("reading failed attempts", |conn, _| {
            conn.prepare_cached(&statement)?
                .query_map([task_id], |row| {
                    Ok(AttemptRecord {
                        attempt: count(row, 0)?,
                        worker_id: row.get(1)?,
                        started_at: maybe_instant(row, 2)?,
                        finished_at: instant(row, 3)?,
                        error: row.get(4)?,
                    })
                })?
                .collect()
        })
        .await
    }

    async fn counts(&self) -> StoreResult<Vec<TaskCounts>> {
        let statement = format!(
            // Only pending tasks may be suspended: they alone read their steps.
            "SELECT task_name, status, count(*), min(CASE WHEN run_at <= {NOW} THEN run_at END)
             FROM \"{prefix}tasks\" WHERE status <> 'pending' AND {names} AND {ids}
             GROUP BY 1, 2
             UNION ALL
             SELECT t.task_name, {status}, count(*),
                    min(CASE WHEN t.run_at <= {NOW} THEN t.run_at END)
             FROM {read} WHERE t.status = 'pending' AND {t_names} AND {t_ids}
             GROUP BY 1, 2",
            prefix = self.shared.options.prefix,
            status = read_status(),
            read = read_from(&self.shared.options.prefix),
            names = not_reserved("task_name"),
            ids = not_reserved("task_id"),
            t_names = not_reserved("t.task_name"),
            t_ids = not_reserved("t.task_id"),
        );
        self.read("counting tasks by name and status", |conn, _| {
            conn.prepare_cached(&statement)?
                .query_map([], |row| {
                    Ok(TaskCounts {
                        task_name: row.get(0)?,
                        status: status(row, 1)?,
                        count: total(row.get(2)?),
                        oldest_due: maybe_instant(row, 3)?,
                    })
                })?
                .collect()
        })
        .await
    }

    async fn ended_per_minute(&self, since: DateTime<Utc>) -> StoreResult<Vec<EndedCount>> {
        let statement = format!(
            "SELECT finished_at / 60000 * 60000 AS minute, status, count(*)
             FROM \"{prefix}tasks\"
             WHERE finished_at >= ?1 AND {names} AND {ids}
             GROUP BY 1, 2 ORDER BY 1, 2",
            prefix = self.shared.options.prefix,
            names = not_reserved("task_name"),
            ids = not_reserved("task_id"),
        );
        self.read("counting ended tasks", |conn, _| {
            conn.prepare_cached(&statement)?
                .query_map([millis(since)], |row| {
                    Ok(EndedCount {
                        minute: instant(row, 0)?,
                        status: status(row, 1)?,
                        count: total(row.get(2)?),
                    })
                })?
                .collect()
        })
        .await
    }

    async fn load(&self) -> StoreResult<Vec<TaskLoad>> {
        // Each side of the OR is served by an index (due pending tasks, held tasks), so
        // that ended tasks are never read.
        let statement = format!(
            "SELECT task_name, count(*) FILTER (WHERE status = 'pending'),
                    count(*) FILTER (WHERE status = 'running'),
                    min(run_at) FILTER (WHERE status = 'pending')
             FROM \"{prefix}tasks\"
             WHERE ((status = 'pending' AND run_at <= {NOW})
                    OR (status = 'running' AND worker_id IS NOT NULL))
               AND {names} AND {ids}
             GROUP BY task_name",
            prefix = self.shared.options.prefix,
            names = not_reserved("task_name"),
            ids = not_reserved("task_id"),
        );
        self.read("reading the load of each task name", |conn, _| {
            conn.prepare_cached(&statement)?
                .query_map([], |row| {
                    Ok(TaskLoad {
                        task_name: row.get(0)?,
                        due: total(row.get(1)?),
                        running: total(row.get(2)?),
                        oldest_due: maybe_instant(row, 3)?,
                    })
                })?
                .collect()
        })
        .await
    }
}
