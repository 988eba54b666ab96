//! Worker processes recording themselves, and the tasks they declare, on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::Row;
use zart_core::store::WorkerStore;
use zart_core::workers::{DeclaredTask, WorkerRecord};
use zart_core::{ErrorKind, StoreError, StoreResult};

use crate::codec::{count, instant, json, millis, NOW};
use crate::error::corrupt;
use crate::SqliteTaskScheduler;

fn worker_row(row: &Row<'_>) -> rusqlite::Result<WorkerRecord> {
    let worker_id: String = row.get(0)?;
    let bad =
        |column: usize, e: serde_json::Error| corrupt(column, format!("worker {worker_id:?}: {e}"));
    let pid: i64 = row.get(2)?;
    Ok(WorkerRecord {
        host: row.get(1)?,
        pid: u32::try_from(pid).unwrap_or(0),
        queues: serde_json::from_value(json(row, 3)?).map_err(|e| bad(3, e))?,
        tasks: serde_json::from_value(json(row, 4)?).map_err(|e| bad(4, e))?,
        concurrency: count(row, 5)?,
        started_at: instant(row, 6)?,
        heartbeat_at: instant(row, 7)?,
        worker_id,
    })
}

impl SqliteTaskScheduler {
    fn table(&self, name: &str) -> String {
        format!("\"{}{name}\"", self.shared.options.prefix)
    }
}

#[async_trait]
impl WorkerStore for SqliteTaskScheduler {
    async fn record_worker(&self, worker: &WorkerRecord) -> StoreResult<()> {
        let record = format!(
            "INSERT INTO {} (worker_id, host, pid, queues, tasks, concurrency, started_at, heartbeat_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, {NOW})
             ON CONFLICT (worker_id) DO UPDATE
             SET host = excluded.host, pid = excluded.pid, queues = excluded.queues,
                 tasks = excluded.tasks, concurrency = excluded.concurrency,
                 started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at",
            self.table("workers")
        );
        let declare = format!(
            "INSERT INTO {} (task_name, queue, durable, declared_at)
             SELECT value ->> 'task_name', value ->> 'queue', value ->> 'durable', {NOW}
             FROM json_each(?1) WHERE true
             ON CONFLICT (task_name) DO UPDATE
             SET queue = excluded.queue, durable = excluded.durable,
                 declared_at = excluded.declared_at",
            self.table("declared_tasks")
        );
        let encoding = |e| StoreError::new(ErrorKind::Rejected, "encoding a worker record", e);
        let queues = serde_json::to_string(&worker.queues).map_err(encoding)?;
        let tasks = serde_json::to_string(&worker.tasks).map_err(encoding)?;
        self.write("recording a worker", |conn, _, _| {
            conn.prepare_cached(&record)?.execute((
                &worker.worker_id,
                &worker.host,
                i64::from(worker.pid),
                &queues,
                &tasks,
                i64::from(worker.concurrency),
                millis(worker.started_at),
            ))?;
            conn.prepare_cached(&declare)?.execute([&tasks])?;
            Ok(())
        })
        .await
    }

    async fn beat_worker(&self, worker_id: &str) -> StoreResult<bool> {
        let statement = format!(
            "UPDATE {} SET heartbeat_at = {NOW} WHERE worker_id = ?1",
            self.table("workers")
        );
        self.write("refreshing a worker's record", |conn, _, _| {
            Ok(conn.prepare_cached(&statement)?.execute([worker_id])? > 0)
        })
        .await
    }

    async fn remove_worker(&self, worker_id: &str) -> StoreResult<()> {
        let statement = format!("DELETE FROM {} WHERE worker_id = ?1", self.table("workers"));
        self.write("removing a worker's record", |conn, _, _| {
            conn.prepare_cached(&statement)?.execute([worker_id])?;
            Ok(())
        })
        .await
    }

    async fn forget_workers(&self, silent_since: DateTime<Utc>) -> StoreResult<u64> {
        let statement = format!(
            "DELETE FROM {} WHERE heartbeat_at < ?1",
            self.table("workers")
        );
        self.write("forgetting silent workers", |conn, _, _| {
            let deleted = conn
                .prepare_cached(&statement)?
                .execute([millis(silent_since)])?;
            Ok(u64::try_from(deleted).unwrap_or(0))
        })
        .await
    }

    async fn workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        let statement = format!(
            "SELECT worker_id, host, pid, queues, tasks, concurrency, started_at, heartbeat_at
             FROM {} ORDER BY worker_id",
            self.table("workers")
        );
        self.read("listing workers", |conn, _| {
            conn.prepare_cached(&statement)?
                .query_map([], worker_row)?
                .collect()
        })
        .await
    }

    async fn declared_tasks(&self) -> StoreResult<Vec<DeclaredTask>> {
        let statement = format!(
            "SELECT task_name, queue, durable FROM {} ORDER BY task_name",
            self.table("declared_tasks")
        );
        self.read("listing declared tasks", |conn, _| {
            conn.prepare_cached(&statement)?
                .query_map([], |row| {
                    Ok(DeclaredTask {
                        task_name: row.get(0)?,
                        queue: row.get(1)?,
                        durable: row.get::<_, i64>(2)? != 0,
                    })
                })?
                .collect()
        })
        .await
    }
}
