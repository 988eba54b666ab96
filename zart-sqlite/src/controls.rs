//! Queues' controls on SQLite: declared limits and pauses (the claims that honour them are
//! in `claim`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row};
use zart_core::controls::{QueueDeclaration, QueueLimits, QueueState};
use zart_core::store::QueueControlStore;
use zart_core::StoreResult;

use crate::codec::{instant, maybe_instant, NOW};
use crate::SqliteTaskScheduler;

/// The limits in the five columns of `row` from `first` on.
fn limits(row: &Row<'_>, first: usize) -> rusqlite::Result<QueueLimits> {
    Ok(QueueLimits::from_columns(
        row.get(first)?,
        row.get(first + 1)?,
        row.get(first + 2)?,
        row.get(first + 3)?,
        row.get(first + 4)?,
    ))
}

fn queue_state(row: &Row<'_>) -> rusqlite::Result<QueueState> {
    Ok(QueueState {
        queue: row.get(0)?,
        limits: limits(row, 1)?,
        declared: limits(row, 9)?,
        overridden_at: maybe_instant(row, 14)?,
        paused_at: maybe_instant(row, 6)?,
        declared_at: instant(row, 7)?,
        running: u64::try_from(row.get::<_, i64>(8)?).unwrap_or(0),
    })
}

#[async_trait]
impl QueueControlStore for SqliteTaskScheduler {
    async fn declare_queues(&self, queues: &[QueueDeclaration]) -> StoreResult<()> {
        let declare = format!(
            "INSERT INTO {} (queue, concurrency_limit, key_field, key_limit, rate_limit,
                             rate_period_ms, declared_at, declared_concurrency_limit,
                             declared_key_field, declared_key_limit, declared_rate_limit,
                             declared_rate_period_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, {NOW}, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (queue) DO UPDATE SET
                declared_concurrency_limit = excluded.concurrency_limit,
                declared_key_field = excluded.key_field, declared_key_limit = excluded.key_limit,
                declared_rate_limit = excluded.rate_limit,
                declared_rate_period_ms = excluded.rate_period_ms,
                declared_at = excluded.declared_at,
                -- An override stays in force over what code declares.
                concurrency_limit = iif(overridden_at IS NULL, excluded.concurrency_limit,
                                        concurrency_limit),
                key_field = iif(overridden_at IS NULL, excluded.key_field, key_field),
                key_limit = iif(overridden_at IS NULL, excluded.key_limit, key_limit),
                rate_limit = iif(overridden_at IS NULL, excluded.rate_limit, rate_limit),
                rate_period_ms = iif(overridden_at IS NULL, excluded.rate_period_ms,
                                     rate_period_ms)",
            self.shared.sql.queues
        );
        self.write("declaring queues", |conn, _, _| {
            let mut statement = conn.prepare_cached(&declare)?;
            for declared in queues {
                let columns = declared.limits.columns();
                statement.execute((
                    &declared.queue,
                    columns.concurrency,
                    columns.key_field,
                    columns.key_limit,
                    columns.rate_limit,
                    columns.rate_period_ms,
                ))?;
            }
            Ok(())
        })
        .await
    }

    async fn set_queue_limits(
        &self,
        queue: &str,
        limits: Option<&QueueLimits>,
    ) -> StoreResult<bool> {
        let queues = &self.shared.sql.queues;
        let Some(limits) = limits else {
            let reset = format!(
                "UPDATE {queues} SET concurrency_limit = declared_concurrency_limit,
                    key_field = declared_key_field, key_limit = declared_key_limit,
                    rate_limit = declared_rate_limit, rate_period_ms = declared_rate_period_ms,
                    overridden_at = NULL
                 WHERE queue = ?1 AND overridden_at IS NOT NULL"
            );
            return self
                .write("removing a queue's limits override", |conn, _, _| {
                    Ok(conn.prepare_cached(&reset)?.execute([queue])? > 0)
                })
                .await;
        };
        let set = format!(
            "INSERT INTO {queues} (queue, concurrency_limit, key_field, key_limit, rate_limit,
                                  rate_period_ms, overridden_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, {NOW})
             ON CONFLICT (queue) DO UPDATE SET
                concurrency_limit = excluded.concurrency_limit, key_field = excluded.key_field,
                key_limit = excluded.key_limit, rate_limit = excluded.rate_limit,
                rate_period_ms = excluded.rate_period_ms, overridden_at = excluded.overridden_at"
        );
        let columns = limits.columns();
        self.write("overriding a queue's limits", |conn, _, _| {
            conn.prepare_cached(&set)?.execute((
                queue,
                columns.concurrency,
                columns.key_field,
                columns.key_limit,
                columns.rate_limit,
                columns.rate_period_ms,
            ))?;
            Ok(true)
        })
        .await
    }

    async fn pause_queue(&self, queue: &str, paused: bool) -> StoreResult<bool> {
        let queues = &self.shared.sql.queues;
        let statement = match paused {
            true => format!(
                "INSERT INTO {queues} (queue, paused_at) VALUES (?1, {NOW})
                 ON CONFLICT (queue) DO UPDATE SET paused_at = excluded.paused_at
                 WHERE paused_at IS NULL"
            ),
            // A queue with no record was never paused: nothing to resume.
            false => format!(
                "UPDATE {queues} SET paused_at = NULL WHERE queue = ?1 AND paused_at IS NOT NULL"
            ),
        };
        self.write("pausing or resuming a queue", |conn, _, _| {
            Ok(conn.prepare_cached(&statement)?.execute([queue])? > 0)
        })
        .await
    }

    async fn queue_states(&self) -> StoreResult<Vec<QueueState>> {
        let (queues, tasks) = (&self.shared.sql.queues, &self.shared.sql.tasks);
        let statement = format!(
            "SELECT q.queue, q.concurrency_limit, q.key_field, q.key_limit, q.rate_limit,
                    q.rate_period_ms, q.paused_at, q.declared_at,
                    (SELECT count(*) FROM {tasks} t
                     WHERE t.worker_id IS NOT NULL AND t.status = 'running' AND t.queue = q.queue),
                    q.declared_concurrency_limit, q.declared_key_field, q.declared_key_limit,
                    q.declared_rate_limit, q.declared_rate_period_ms, q.overridden_at
             FROM {queues} q ORDER BY q.queue"
        );
        self.read("reading queues", |conn, _| {
            conn.prepare_cached(&statement)?
                .query_map([], queue_state)?
                .collect()
        })
        .await
    }

    async fn rate_opens_at(&self, queue: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let (queues, starts) = (&self.shared.sql.queues, &self.shared.sql.starts);
        let rate = format!(
            "SELECT rate_limit, rate_period_ms FROM {queues}
             WHERE queue = ?1 AND rate_limit IS NOT NULL"
        );
        // SQLite's OFFSET takes no column of the outer query: the limit is read first.
        let nth_latest = format!(
            "SELECT started_at FROM {starts} WHERE queue = ?1
             ORDER BY started_at DESC LIMIT 1 OFFSET ?2"
        );
        let opens: Option<i64> = self
            .read("reading a queue's rate limit", |conn, _| {
                let rate: Option<(i64, i64)> = conn
                    .prepare_cached(&rate)?
                    .query_row([queue], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                let Some((limit, period)) = rate else {
                    return Ok(None);
                };
                let start: Option<i64> = conn
                    .prepare_cached(&nth_latest)?
                    .query_row(rusqlite::params![queue, limit - 1], |row| row.get(0))
                    .optional()?;
                Ok(start.map(|start| start + period))
            })
            .await?;
        Ok(opens.and_then(DateTime::from_timestamp_millis))
    }
}
