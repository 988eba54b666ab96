//! Worker processes recording themselves, and the tasks they declare, on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};
use zart_core::store::WorkerStore;
use zart_core::workers::{DeclaredTask, WorkerRecord};
use zart_core::{ErrorKind, StoreError, StoreResult};

use crate::inspect::non_negative;
use crate::PostgresTaskScheduler;

fn worker_row(row: &PgRow) -> Result<WorkerRecord, sqlx::Error> {
    let worker_id: String = row.try_get("worker_id")?;
    let bad = |column: &str, e: serde_json::Error| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("worker {worker_id:?}: {e}").into(),
    };
    let pid: i64 = row.try_get("pid")?;
    Ok(WorkerRecord {
        host: row.try_get("host")?,
        pid: u32::try_from(pid).unwrap_or(0),
        queues: serde_json::from_value(row.try_get("queues")?).map_err(|e| bad("queues", e))?,
        tasks: serde_json::from_value(row.try_get("tasks")?).map_err(|e| bad("tasks", e))?,
        concurrency: non_negative(row.try_get("concurrency")?),
        started_at: row.try_get("started_at")?,
        heartbeat_at: row.try_get("heartbeat_at")?,
        worker_id,
    })
}

#[async_trait]
impl WorkerStore for PostgresTaskScheduler {
    async fn record_worker(&self, worker: &WorkerRecord) -> StoreResult<()> {
        let names = &self.shared.names;
        let declared = &worker.tasks;
        let tasks = serde_json::to_value(declared)
            .map_err(|e| StoreError::new(ErrorKind::Rejected, "encoding a worker record", e))?;
        let sql = format!(
            "WITH worker AS (
                INSERT INTO {workers} (worker_id, host, pid, queues, tasks, concurrency, started_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (worker_id) DO UPDATE
                SET host = EXCLUDED.host, pid = EXCLUDED.pid, queues = EXCLUDED.queues,
                    tasks = EXCLUDED.tasks, concurrency = EXCLUDED.concurrency,
                    started_at = EXCLUDED.started_at, heartbeat_at = now()
             )
             INSERT INTO {declared} (task_name, queue, durable)
             SELECT * FROM unnest($8::text[], $9::text[], $10::boolean[])
             ON CONFLICT (task_name) DO UPDATE
             SET queue = EXCLUDED.queue, durable = EXCLUDED.durable, declared_at = now()",
            workers = names.workers(),
            declared = names.declared_tasks(),
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(&worker.worker_id)
            .bind(&worker.host)
            .bind(i64::from(worker.pid))
            .bind(Value::from(worker.queues.clone()))
            .bind(tasks)
            .bind(i32::try_from(worker.concurrency).unwrap_or(i32::MAX))
            .bind(worker.started_at)
            .bind(
                declared
                    .iter()
                    .map(|t| t.task_name.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(declared.iter().map(|t| t.queue.clone()).collect::<Vec<_>>())
            .bind(declared.iter().map(|t| t.durable).collect::<Vec<_>>())
            .execute(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("recording a worker"))?;
        Ok(())
    }

    async fn beat_worker(&self, worker_id: &str) -> StoreResult<bool> {
        let sql = format!(
            "UPDATE {} SET heartbeat_at = now() WHERE worker_id = $1",
            self.shared.names.workers()
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(worker_id)
            .execute(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("refreshing a worker's record"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn remove_worker(&self, worker_id: &str) -> StoreResult<()> {
        let sql = format!(
            "DELETE FROM {} WHERE worker_id = $1",
            self.shared.names.workers()
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(worker_id)
            .execute(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("removing a worker's record"))?;
        Ok(())
    }

    async fn forget_workers(&self, silent_since: DateTime<Utc>) -> StoreResult<u64> {
        let sql = format!(
            "DELETE FROM {} WHERE heartbeat_at < $1",
            self.shared.names.workers()
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(silent_since)
            .execute(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("forgetting silent workers"))?;
        Ok(done.rows_affected())
    }

    async fn workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        let sql = format!(
            "SELECT worker_id, host, pid, queues, tasks, concurrency, started_at, heartbeat_at
             FROM {} ORDER BY worker_id",
            self.shared.names.workers()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("listing workers"))?;
        rows.iter()
            .map(worker_row)
            .collect::<Result<_, _>>()
            .map_err(self.shared.db("decoding a worker"))
    }

    async fn declared_tasks(&self) -> StoreResult<Vec<DeclaredTask>> {
        let sql = format!(
            "SELECT task_name, queue, durable FROM {} ORDER BY task_name",
            self.shared.names.declared_tasks()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("listing declared tasks"))?;
        rows.iter()
            .map(|row| {
                Ok(DeclaredTask {
                    task_name: row.try_get("task_name")?,
                    queue: row.try_get("queue")?,
                    durable: row.try_get("durable")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.shared.db("decoding declared tasks"))
    }
}
