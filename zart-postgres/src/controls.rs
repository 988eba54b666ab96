//! Queues' controls on PostgreSQL: declared limits and pauses (the claims that honour them
//! are in `claim`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use zart_core::controls::{QueueDeclaration, QueueLimits, QueueState};
use zart_core::store::QueueControlStore;
use zart_core::StoreResult;

use crate::PostgresTaskScheduler;

#[async_trait]
impl QueueControlStore for PostgresTaskScheduler {
    async fn declare_queues(&self, queues: &[QueueDeclaration]) -> StoreResult<()> {
        if queues.is_empty() {
            return Ok(());
        }
        let n = queues.len();
        let (mut names, mut concurrency, mut key_fields, mut key_limits) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut rate_limits, mut rate_periods) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for declared in queues {
            let columns = declared.limits.columns();
            names.push(declared.queue.as_str());
            concurrency.push(columns.concurrency);
            key_fields.push(columns.key_field);
            key_limits.push(columns.key_limit);
            rate_limits.push(columns.rate_limit);
            rate_periods.push(columns.rate_period_ms);
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {queues} AS q (queue, concurrency_limit, key_field, key_limit,
                                       rate_limit, rate_period_ms, declared_at,
                                       declared_concurrency_limit, declared_key_field,
                                       declared_key_limit, declared_rate_limit,
                                       declared_rate_period_ms)
             SELECT d.*, now(), d.c, d.f, d.k, d.r, d.p
             FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[], $5::int8[],
                         $6::int8[]) AS d(queue, c, f, k, r, p)
             ON CONFLICT (queue) DO UPDATE SET
                declared_concurrency_limit = excluded.concurrency_limit,
                declared_key_field = excluded.key_field, declared_key_limit = excluded.key_limit,
                declared_rate_limit = excluded.rate_limit,
                declared_rate_period_ms = excluded.rate_period_ms, declared_at = now(),
                -- An override stays in force over what code declares.
                concurrency_limit = CASE WHEN q.overridden_at IS NULL
                    THEN excluded.concurrency_limit ELSE q.concurrency_limit END,
                key_field = CASE WHEN q.overridden_at IS NULL
                    THEN excluded.key_field ELSE q.key_field END,
                key_limit = CASE WHEN q.overridden_at IS NULL
                    THEN excluded.key_limit ELSE q.key_limit END,
                rate_limit = CASE WHEN q.overridden_at IS NULL
                    THEN excluded.rate_limit ELSE q.rate_limit END,
                rate_period_ms = CASE WHEN q.overridden_at IS NULL
                    THEN excluded.rate_period_ms ELSE q.rate_period_ms END",
            queues = self.shared.names.queues()
        )))
        .bind(names)
        .bind(concurrency)
        .bind(key_fields)
        .bind(key_limits)
        .bind(rate_limits)
        .bind(rate_periods)
        .execute(&mut *self.connection().await?)
        .await
        .map_err(self.shared.db("declaring queues"))?;
        Ok(())
    }

    async fn set_queue_limits(
        &self,
        queue: &str,
        limits: Option<&QueueLimits>,
    ) -> StoreResult<bool> {
        let queues = self.shared.names.queues();
        let Some(limits) = limits else {
            let reset = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {queues} SET concurrency_limit = declared_concurrency_limit,
                    key_field = declared_key_field, key_limit = declared_key_limit,
                    rate_limit = declared_rate_limit, rate_period_ms = declared_rate_period_ms,
                    overridden_at = NULL
                 WHERE queue = $1 AND overridden_at IS NOT NULL"
            )))
            .bind(queue)
            .execute(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("removing a queue's limits override"))?;
            return Ok(reset.rows_affected() > 0);
        };
        let columns = limits.columns();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {queues} AS q (queue, concurrency_limit, key_field, key_limit,
                                       rate_limit, rate_period_ms, overridden_at)
             VALUES ($1, $2, $3, $4, $5, $6, now())
             ON CONFLICT (queue) DO UPDATE SET
                concurrency_limit = excluded.concurrency_limit, key_field = excluded.key_field,
                key_limit = excluded.key_limit, rate_limit = excluded.rate_limit,
                rate_period_ms = excluded.rate_period_ms, overridden_at = now()"
        )))
        .bind(queue)
        .bind(columns.concurrency)
        .bind(columns.key_field)
        .bind(columns.key_limit)
        .bind(columns.rate_limit)
        .bind(columns.rate_period_ms)
        .execute(&mut *self.connection().await?)
        .await
        .map_err(self.shared.db("overriding a queue's limits"))?;
        Ok(true)
    }

    async fn pause_queue(&self, queue: &str, paused: bool) -> StoreResult<bool> {
        let queues = self.shared.names.queues();
        let statement = match paused {
            true => format!(
                "INSERT INTO {queues} AS q (queue, paused_at) VALUES ($1, now())
                 ON CONFLICT (queue) DO UPDATE SET paused_at = now() WHERE q.paused_at IS NULL"
            ),
            // A queue with no record was never paused: nothing to resume.
            false => format!(
                "UPDATE {queues} SET paused_at = NULL WHERE queue = $1 AND paused_at IS NOT NULL"
            ),
        };
        let changed = sqlx::query(sqlx::AssertSqlSafe(statement))
            .bind(queue)
            .execute(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("pausing or resuming a queue"))?;
        Ok(changed.rows_affected() > 0)
    }

    async fn queue_states(&self) -> StoreResult<Vec<QueueState>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT q.queue, q.concurrency_limit, q.key_field, q.key_limit, q.rate_limit,
                    q.rate_period_ms, q.paused_at, q.declared_at,
                    (SELECT count(*) FROM {tasks} t
                     WHERE t.worker_id IS NOT NULL AND t.status = 'running' AND t.queue = q.queue),
                    q.declared_concurrency_limit, q.declared_key_field, q.declared_key_limit,
                    q.declared_rate_limit, q.declared_rate_period_ms, q.overridden_at
             FROM {queues} q ORDER BY q.queue",
            queues = self.shared.names.queues(),
            tasks = self.shared.names.tasks()
        )))
        .fetch_all(&mut *self.connection().await?)
        .await
        .map_err(self.shared.db("reading queues"))?;
        rows.iter()
            .map(|row| {
                let count = |i: usize| -> Result<Option<i64>, sqlx::Error> {
                    Ok(row.try_get::<Option<i32>, _>(i)?.map(i64::from))
                };
                // The five columns of limits from `first` on.
                let limits = |first: usize| -> Result<QueueLimits, sqlx::Error> {
                    Ok(QueueLimits::from_columns(
                        count(first)?,
                        row.try_get(first + 1)?,
                        count(first + 2)?,
                        count(first + 3)?,
                        row.try_get(first + 4)?,
                    ))
                };
                Ok(QueueState {
                    queue: row.try_get(0)?,
                    limits: limits(1)?,
                    declared: limits(9)?,
                    overridden_at: row.try_get(14)?,
                    paused_at: row.try_get(6)?,
                    declared_at: row.try_get(7)?,
                    running: u64::try_from(row.try_get::<i64, _>(8)?).unwrap_or(0),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.shared.db("decoding queues"))
    }

    async fn rate_opens_at(&self, queue: &str) -> StoreResult<Option<DateTime<Utc>>> {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT (SELECT s.started_at FROM {starts} s WHERE s.queue = q.queue
                     ORDER BY s.started_at DESC OFFSET q.rate_limit - 1 LIMIT 1)
                    + q.rate_period_ms * interval '1 millisecond'
             FROM {queues} q
             WHERE q.queue = $1 AND q.rate_limit IS NOT NULL",
            queues = self.shared.names.queues(),
            starts = self.shared.names.queue_starts()
        )))
        .bind(queue)
        .fetch_optional(&mut *self.connection().await?)
        .await
        .map_err(self.shared.db("reading a queue's rate limit"))
        .map(Option::flatten)
    }
}
