//! Reading tasks for programs and the admin: one task, listings and counts by filter (a
//! statement built for the conditions given, so that each combination gets a plan that
//! uses the indexes it can), counts by name and status, and recent throughput.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Postgres, Row};
use zart_core::inspect::{AttemptRecord, EndedCount, TaskCounts, TaskLoad};
use zart_core::steps::WaitingOn;
use zart_core::store::InspectStore;
use zart_core::task::{prefix_end, TaskFilter, TaskRecord, TaskStatus};
use zart_core::StoreResult;

use crate::queries::{read_columns, read_from, read_status, reserved_pattern};
use crate::PostgresTaskScheduler;

/// A value bound to a built statement's placeholder.
enum Bind {
    Text(String),
    Texts(Vec<String>),
    Time(DateTime<Utc>),
}

/// The predicate of the listing index of ended (and waiting) tasks, as the migration
/// writes it: a statement names it so that the planner knows the partial index applies.
const LISTED: &str = "status IN ('waiting', 'completed', 'failed', 'dead', 'cancelled')";

/// Terms that add nothing to `status = <status>` but name the partial index that lists
/// such tasks: pending ones have one of their own, running ones are held (the held-lease
/// index), the others are in the listing index.
fn index_terms(status: TaskStatus) -> Option<String> {
    match status {
        TaskStatus::Pending => None,
        TaskStatus::Running => Some("worker_id IS NOT NULL".to_owned()),
        _ => Some(LISTED.to_owned()),
    }
}

/// A statement's conditions and the values they bind, numbered as they are added.
#[derive(Default)]
struct Conditions {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    /// Adds `clause`, in which `?` stands for the placeholder of `bind`.
    fn push(&mut self, clause: &str, bind: Bind) {
        self.binds.push(bind);
        let placeholder = format!("${}", self.binds.len());
        self.clauses.push(clause.replace('?', &placeholder));
    }

    /// The conditions of `filter`, with Zart's own tasks left out; with `paged`, the
    /// listing's position too; with `ranged_ids` (ids sort by code point), an id prefix as
    /// a range of the primary key too.
    fn of(filter: &TaskFilter, paged: bool, ranged_ids: bool) -> Self {
        let reserved = reserved_pattern();
        let mut conditions = Conditions {
            clauses: vec![format!(
                "task_name NOT LIKE '{reserved}' AND task_id NOT LIKE '{reserved}'"
            )],
            binds: Vec::new(),
        };
        if let Some(name) = &filter.name {
            conditions.push("task_name = ?", Bind::Text(name.clone()));
        }
        if let Some(names) = &filter.names {
            conditions.push("task_name = ANY(?)", Bind::Texts(names.clone()));
        }
        if let Some(names) = &filter.exclude_names {
            conditions.push("task_name <> ALL(?)", Bind::Texts(names.clone()));
        }
        if let Some(status) = filter.status {
            // A suspended execution is stored pending: its wait is read from its steps.
            let stored = status.stored();
            conditions.push("status = ?", Bind::Text(stored.as_str().to_owned()));
            conditions.clauses.extend(index_terms(stored));
            if status.is_suspended() {
                conditions.push_clause("run_at > now() AND error IS NULL");
            }
            if stored == TaskStatus::Pending {
                conditions.push(
                    &format!("{} = ?", read_status()),
                    Bind::Text(status.as_str().to_owned()),
                );
            }
        }
        if let Some(prefix) = &filter.id_prefix {
            // starts_with, not LIKE: the prefix is the user's text, wildcards and all. Where
            // ids sort by code point, the range beside it lets the primary key answer.
            conditions.push("starts_with(task_id, ?)", Bind::Text(prefix.clone()));
            if ranged_ids {
                conditions.push("task_id >= ?", Bind::Text(prefix.clone()));
                if let Some(end) = prefix_end(prefix) {
                    conditions.push("task_id < ?", Bind::Text(end));
                }
            }
        }
        if let Some(since) = filter.created_since {
            conditions.push("created_at >= ?", Bind::Time(since));
        }
        if let Some(before) = filter.created_before {
            conditions.push("created_at < ?", Bind::Time(before));
        }
        if let Some(parent) = &filter.parent_id {
            conditions.push("parent_id = ?", Bind::Text(parent.clone()));
        }
        if let Some(worker) = &filter.worker_id {
            conditions.push("worker_id = ?", Bind::Text(worker.clone()));
        }
        if let (true, Some(after)) = (paged, &filter.after) {
            // The first condition alone bounds the index range; the row value then drops
            // what the previous page showed.
            conditions.push("created_at <= ?", Bind::Time(after.created_at));
            let at = conditions.binds.len();
            conditions.binds.push(Bind::Text(after.task_id.clone()));
            conditions.clauses.push(format!(
                "(created_at, task_id) < (${at}, ${})",
                conditions.binds.len()
            ));
        }
        conditions
    }

    /// Adds `clause`, which binds nothing.
    fn push_clause(&mut self, clause: &str) {
        self.clauses.push(clause.to_owned());
    }

    fn sql(&self) -> String {
        self.clauses.join(" AND ")
    }

    fn bind<'q>(
        self,
        mut query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        for bind in self.binds {
            query = match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Texts(texts) => query.bind(texts),
                Bind::Time(time) => query.bind(time),
            };
        }
        query
    }
}

/// A task's record, from the columns of `read_columns`.
pub(crate) fn task_record(row: &PgRow) -> Result<TaskRecord, sqlx::Error> {
    let status = status(row, "status")?;
    let run_at = row.try_get("run_at")?;
    let wait_step: Option<String> = row.try_get("wait_step")?;
    let wait_until: Option<String> = row.try_get("wait_until")?;
    let wait_error: Option<String> = row.try_get("wait_error")?;
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
        task_id: row.try_get("task_id")?,
        task_name: row.try_get("task_name")?,
        status,
        run_at,
        data: row.try_get("data")?,
        metadata: row.try_get("metadata")?,
        attempts: non_negative(row.try_get("attempts")?),
        rescues: non_negative(row.try_get("rescues")?),
        worker_id: row.try_get("worker_id")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        last_worker_id: row.try_get("last_worker_id")?,
        result: row.try_get("result")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        parent_id: row.try_get("parent_id")?,
        schedule_id: row.try_get("schedule_id")?,
        cancel_requested: row.try_get("cancel_requested")?,
        priority: row.try_get("priority")?,
        queue: row.try_get("queue")?,
        app_version: row.try_get("app_version")?,
        waiting_on,
    })
}

fn status(row: &PgRow, column: &str) -> Result<TaskStatus, sqlx::Error> {
    let name: String = row.try_get(column)?;
    TaskStatus::parse(&name).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown task status {name:?}").into(),
    })
}

pub(crate) fn non_negative(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl PostgresTaskScheduler {
    /// Whether the database's collation orders text by code point (C, POSIX, C.UTF-8), so
    /// that "starts with" is a range of the primary key. Asked once; a failure reads as no.
    async fn ids_sort_by_code_point(&self) -> bool {
        *self
            .shared
            .ids_by_code_point
            .get_or_init(|| async {
                let Ok(mut connection) = self.connection().await else {
                    return false;
                };
                sqlx::query_scalar(
                    "SELECT datcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8')
                     FROM pg_database WHERE datname = current_database()",
                )
                .fetch_one(&mut *connection)
                .await
                .unwrap_or(false)
            })
            .await
    }
}

#[async_trait]
impl InspectStore for PostgresTaskScheduler {
    async fn task(&self, task_id: &str) -> StoreResult<Option<TaskRecord>> {
        let row = sqlx::query(self.shared.sql.get.clone())
            .bind(task_id)
            .fetch_optional(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("reading a task"))?;
        row.map(|row| task_record(&row))
            .transpose()
            .map_err(self.shared.db("decoding a task"))
    }

    async fn tasks(&self, filter: &TaskFilter, limit: usize) -> StoreResult<Vec<TaskRecord>> {
        let conditions = Conditions::of(filter, true, self.ids_sort_by_code_point().await);
        let read = read_from(&self.shared.names);
        let columns = read_columns();
        let limit = limit.min(i64::MAX as usize);
        // With an id prefix the primary key may serve better: one statement, the
        // planner's choice.
        let sql = match (filter.status, &filter.id_prefix) {
            (Some(_), _) | (None, Some(_)) => format!(
                "SELECT {columns} FROM {read} WHERE {conditions}
                 ORDER BY created_at DESC, task_id DESC LIMIT {limit}",
                conditions = conditions.sql(),
            ),
            // The listing index leads with the status: one short range read per stored
            // status, merged, instead of sorting the whole table.
            (None, None) => {
                let branches: Vec<String> = TaskStatus::STORED
                    .iter()
                    .map(|status| {
                        let index = index_terms(*status)
                            .map(|t| format!("{t} AND "))
                            .unwrap_or_default();
                        format!(
                            "(SELECT {columns} FROM {read}
                              WHERE status = '{status}' AND {index}{conditions}
                              ORDER BY created_at DESC, task_id DESC LIMIT {limit})",
                            conditions = conditions.sql(),
                        )
                    })
                    .collect();
                format!(
                    "{} ORDER BY created_at DESC, task_id DESC LIMIT {limit}",
                    branches.join(" UNION ALL ")
                )
            }
        };
        let rows = conditions
            .bind(sqlx::query(AssertSqlSafe(sql)))
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("listing tasks"))?;
        rows.iter()
            .map(task_record)
            .collect::<Result<_, _>>()
            .map_err(self.shared.db("decoding tasks"))
    }

    async fn count(&self, filter: &TaskFilter) -> StoreResult<u64> {
        let conditions = Conditions::of(filter, false, self.ids_sort_by_code_point().await);
        // Only a pending status reads steps (whether it is suspended, and in which wait).
        let from = match filter.status.map(TaskStatus::stored) {
            Some(TaskStatus::Pending) => read_from(&self.shared.names),
            _ => self.shared.names.tasks(),
        };
        let sql = format!(
            "SELECT count(*) FROM {from} WHERE {conditions}",
            conditions = conditions.sql(),
        );
        let row = conditions
            .bind(sqlx::query(AssertSqlSafe(sql)))
            .fetch_one(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("counting tasks"))?;
        Ok(count(
            row.try_get(0).map_err(self.shared.db("counting tasks"))?,
        ))
    }

    async fn attempts(&self, task_id: &str) -> StoreResult<Vec<AttemptRecord>> {
        let rows = sqlx::query(self.shared.sql.attempts.clone())
            .bind(task_id)
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("reading failed attempts"))?;
        rows.iter()
            .map(|row| {
                Ok(AttemptRecord {
                    attempt: non_negative(row.try_get("attempt")?),
                    worker_id: row.try_get("worker_id")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                    error: row.try_get("error")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.shared.db("decoding failed attempts"))
    }

    async fn counts(&self) -> StoreResult<Vec<TaskCounts>> {
        let rows = sqlx::query(self.shared.sql.counts.clone())
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("counting tasks by name and status"))?;
        rows.iter()
            .map(|row| {
                Ok(TaskCounts {
                    task_name: row.try_get("task_name")?,
                    status: status(row, "status")?,
                    count: count(row.try_get("count")?),
                    oldest_due: row.try_get("oldest_due")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.shared.db("decoding task counts"))
    }

    async fn ended_per_minute(&self, since: DateTime<Utc>) -> StoreResult<Vec<EndedCount>> {
        let rows = sqlx::query(self.shared.sql.ended_per_minute.clone())
            .bind(since)
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("counting ended tasks"))?;
        rows.iter()
            .map(|row| {
                Ok(EndedCount {
                    minute: row.try_get("minute")?,
                    status: status(row, "status")?,
                    count: count(row.try_get("count")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.shared.db("decoding ended counts"))
    }

    async fn load(&self) -> StoreResult<Vec<TaskLoad>> {
        let tasks = self.shared.names.tasks();
        let reserved = reserved_pattern();
        // Two branches, each on its partial index (due pending tasks, held tasks), so that
        // ended tasks are never read.
        let sql = format!(
            "SELECT task_name,
                    count(*) FILTER (WHERE status = 'pending') AS due,
                    count(*) FILTER (WHERE status = 'running') AS running,
                    min(run_at) FILTER (WHERE status = 'pending') AS oldest_due
             FROM (SELECT task_id, task_name, status, run_at FROM {tasks}
                   WHERE status = 'pending' AND run_at <= now()
                   UNION ALL
                   SELECT task_id, task_name, status, run_at FROM {tasks}
                   WHERE status = 'running' AND worker_id IS NOT NULL) AS loaded
             WHERE task_name NOT LIKE '{reserved}' AND task_id NOT LIKE '{reserved}'
             GROUP BY task_name"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("reading the load of each task name"))?;
        rows.iter()
            .map(|row| {
                Ok(TaskLoad {
                    task_name: row.try_get("task_name")?,
                    due: count(row.try_get("due")?),
                    running: count(row.try_get("running")?),
                    oldest_due: row.try_get("oldest_due")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.shared.db("decoding the load of each task name"))
    }
}
