//! The task queue on PostgreSQL: inserting, claiming, leases, outcomes, maintenance and the
//! reads of tasks.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::Row;
use tokio::sync::watch;
use zart_core::queue::{
    ClaimScope, ClaimedTask, Lease, Outcome, OutcomeColumns, RescueReport, Wake,
};
use zart_core::store::QueueStore;
use zart_core::task::{NewTask, TaskStatus, TraceContext};
use zart_core::StoreResult;

use crate::announce::Inserting;
use crate::error::corrupt;
use crate::inspect::non_negative;
use crate::{listener, steps, PostgresTaskScheduler, Shared};

/// Inserts `tasks` (the runs of `schedule_id`, if given) on `executor`, skipping existing
/// ids, and notifies listeners in the same statement, so on its transaction's commit (the
/// caller's transaction: see `announce` for the store's own). Returns the inserted ids.
pub(crate) async fn insert_on(
    shared: &Shared,
    executor: impl sqlx::PgExecutor<'_>,
    tasks: &[NewTask],
    schedule_id: Option<&str>,
) -> StoreResult<Vec<String>> {
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let inserted: Vec<(String,)> = Columns::of(tasks, schedule_id)
        .bind(sqlx::query_as(shared.sql.insert.clone()))
        .bind(&shared.channel)
        .fetch_all(executor)
        .await
        .map_err(shared.db("scheduling tasks"))?;
    Ok(inserted.into_iter().map(|(id,)| id).collect())
}

/// Inserts `tasks` in a statement of their own, skipping existing ids, and has them
/// announced (see `announce`). Returns the inserted ids.
async fn insert_announced(
    store: &PostgresTaskScheduler,
    tasks: &[NewTask],
) -> StoreResult<Vec<String>> {
    let shared = &store.shared;
    let inserting = shared.inserts.begin();
    let (ids, to_announce) = insert_in_own_transaction_on(
        shared,
        &mut *store.connection().await?,
        tasks,
        None,
        &inserting,
    )
    .await?;
    drop(inserting);
    if let Some(earliest) = to_announce {
        shared.announcer.announce(&store.connections, earliest);
    }
    Ok(ids)
}

/// Inserts `tasks` (the runs of `schedule_id`, if given) on `executor`, in a transaction of
/// the store's own, skipping existing ids: notifying in the statement if `inserting` runs
/// alone, else without, for the announcer to announce once the transaction committed (see
/// `announce`). Returns the inserted ids and, if they are to be announced, the earliest of
/// their due instants (epoch milliseconds, rounded up).
pub(crate) async fn insert_in_own_transaction_on(
    shared: &Shared,
    executor: impl sqlx::PgExecutor<'_>,
    tasks: &[NewTask],
    schedule_id: Option<&str>,
    inserting: &Inserting,
) -> StoreResult<(Vec<String>, Option<i64>)> {
    if !inserting.beside_others {
        let ids = insert_on(shared, executor, tasks, schedule_id).await?;
        return Ok((ids, None));
    }
    if tasks.is_empty() {
        return Ok((Vec::new(), None));
    }
    let inserted: Vec<(String, i64)> = Columns::of(tasks, schedule_id)
        .bind(sqlx::query_as(shared.sql.insert_quiet.clone()))
        .fetch_all(executor)
        .await
        .map_err(shared.db("scheduling tasks"))?;
    let earliest = inserted.iter().map(|(_, due)| *due).min();
    Ok((inserted.into_iter().map(|(id, _)| id).collect(), earliest))
}

/// The columns of an insert, one array each.
struct Columns<'a> {
    ids: Vec<&'a str>,
    names: Vec<&'a str>,
    run_at: Vec<chrono::DateTime<chrono::Utc>>,
    data: Vec<&'a Value>,
    metadata: Vec<&'a Value>,
    schedule_ids: Vec<Option<&'a str>>,
    priorities: Vec<i16>,
    trace_parents: Vec<Option<&'a str>>,
    trace_states: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn of(tasks: &'a [NewTask], schedule_id: Option<&'a str>) -> Self {
        let n = tasks.len();
        let mut columns = Columns {
            ids: Vec::with_capacity(n),
            names: Vec::with_capacity(n),
            run_at: Vec::with_capacity(n),
            data: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            schedule_ids: vec![schedule_id; n],
            priorities: Vec::with_capacity(n),
            trace_parents: Vec::with_capacity(n),
            trace_states: Vec::with_capacity(n),
        };
        for task in tasks {
            let params = &task.params;
            columns.ids.push(params.task_id.as_str());
            columns.names.push(params.task_name.as_str());
            columns.run_at.push(params.execution_time);
            columns.data.push(&params.data);
            columns.metadata.push(&params.metadata);
            columns.priorities.push(task.priority);
            let context = task.trace_context.as_ref();
            columns
                .trace_parents
                .push(context.map(|c| c.traceparent.as_str()));
            columns
                .trace_states
                .push(context.map(|c| c.tracestate.as_str()));
        }
        columns
    }

    /// Binds the columns to an insert's `$1`..`$9`.
    fn bind<O>(
        self,
        query: sqlx::query::QueryAs<'a, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'a, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        query
            .bind(self.ids)
            .bind(self.names)
            .bind(self.run_at)
            .bind(self.data)
            .bind(self.metadata)
            .bind(self.schedule_ids)
            .bind(self.priorities)
            .bind(self.trace_parents)
            .bind(self.trace_states)
    }
}

/// Completes the task `lease` holds with `result`, fenced, on `executor`. Returns the
/// status it ended with, or `None` if the lease was lost.
pub(crate) async fn complete_on(
    shared: &Shared,
    executor: impl sqlx::PgExecutor<'_>,
    lease: &Lease,
    result: Option<&Value>,
) -> StoreResult<Option<TaskStatus>> {
    let status: Option<String> = sqlx::query_scalar(shared.sql.complete_one.clone())
        .bind(&lease.task_id)
        .bind(lease.token)
        .bind(result)
        .bind(&shared.ended_channel)
        .fetch_optional(executor)
        .await
        .map_err(shared.db("completing a task"))?;
    status.map(|s| parse_status(&s)).transpose()
}

/// [`QueueStore::cancel_task`] on `executor`.
pub(crate) async fn cancel_on(
    shared: &Shared,
    executor: impl sqlx::PgExecutor<'_>,
    task_id: &str,
) -> StoreResult<Option<TaskStatus>> {
    let status: Option<String> = sqlx::query_scalar(shared.sql.cancel.clone())
        .bind(task_id)
        .fetch_optional(executor)
        .await
        .map_err(shared.db("cancelling a task"))?;
    status.map(|s| parse_status(&s)).transpose()
}

fn parse_status(status: &str) -> StoreResult<TaskStatus> {
    TaskStatus::parse(status)
        .ok_or_else(|| corrupt("decoding a task", format!("unknown task status {status:?}")))
}

pub(crate) fn claimed_task(row: &PgRow) -> Result<ClaimedTask, sqlx::Error> {
    Ok(ClaimedTask {
        lease: Lease {
            task_id: row.try_get(0)?,
            token: row.try_get(1)?,
        },
        task_name: row.try_get(2)?,
        data: row.try_get(3)?,
        metadata: row.try_get(4)?,
        run_at: row.try_get(5)?,
        attempt: non_negative(row.try_get(6)?),
        created_at: row.try_get(7)?,
        priority: row.try_get(8)?,
        steps: row
            .try_get::<Option<Value>, _>(9)?
            .map(|log| steps::step_log(&log))
            .transpose()?,
        trace_context: TraceContext::from_columns(row.try_get(10)?, row.try_get(11)?),
        app_version: row.try_get(12)?,
    })
}

#[async_trait]
impl QueueStore for PostgresTaskScheduler {
    async fn insert(&self, tasks: &[NewTask]) -> StoreResult<Vec<String>> {
        insert_announced(self, tasks).await
    }

    async fn claim(
        &self,
        worker_id: &str,
        limit_to: usize,
        lease: Duration,
        scope: &ClaimScope,
    ) -> StoreResult<Vec<ClaimedTask>> {
        crate::claim::claim(
            &self.shared,
            &mut *self.connection().await?,
            worker_id,
            limit_to,
            lease,
            scope,
        )
        .await
    }

    async fn heartbeat(&self, worker_id: &str, lease: Duration) -> StoreResult<u64> {
        let done = sqlx::query(self.shared.sql.heartbeat.clone())
            .bind(worker_id)
            .bind(lease.as_secs_f64())
            .execute(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("extending leases"))?;
        Ok(done.rows_affected())
    }

    async fn finish(&self, outcomes: &[Outcome]) -> StoreResult<Vec<String>> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        let n = outcomes.len();
        let (mut ids, mut tokens, mut statuses) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut results, mut errors, mut run_at) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for outcome in outcomes {
            ids.push(outcome.lease.task_id.as_str());
            tokens.push(outcome.lease.token);
            let OutcomeColumns {
                status,
                result,
                error,
                run_at: due,
            } = outcome.kind.columns();
            statuses.push(status);
            results.push(result);
            errors.push(error);
            run_at.push(due);
        }
        sqlx::query_scalar(self.shared.sql.finish.clone())
            .bind(ids)
            .bind(tokens)
            .bind(statuses)
            .bind(results)
            .bind(errors)
            .bind(run_at)
            .bind(&self.shared.ended_channel)
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("storing task outcomes"))
    }

    async fn release(&self, leases: &[Lease]) -> StoreResult<Vec<String>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = leases.iter().map(|l| l.task_id.as_str()).collect();
        let tokens: Vec<i64> = leases.iter().map(|l| l.token).collect();
        sqlx::query_scalar(self.shared.sql.release.clone())
            .bind(ids)
            .bind(tokens)
            .bind(&self.shared.channel)
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("releasing tasks"))
    }

    async fn rescue_expired(&self, max_rescues: u32) -> StoreResult<Option<RescueReport>> {
        let db = |context| self.shared.db(context);
        let mut tx = self.transaction().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(self.shared.maintenance_lock)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("taking the maintenance lock"))?;
        if !locked {
            return Ok(None);
        }
        let rows = sqlx::query(self.shared.sql.rescue.clone())
            .bind(i32::try_from(max_rescues).unwrap_or(i32::MAX))
            .bind(&self.shared.channel)
            .fetch_all(&mut *tx)
            .await
            .map_err(db("rescuing expired leases"))?;
        tx.commit().await.map_err(db("committing rescued tasks"))?;
        let mut report = RescueReport::default();
        for row in rows {
            let id: String = row.try_get(0).map_err(db("decoding rescued tasks"))?;
            let status: String = row.try_get(1).map_err(db("decoding rescued tasks"))?;
            match status.as_str() {
                "dead" => report.dead.push(id),
                _ => report.requeued.push(id),
            }
        }
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
        cancel_on(&self.shared, &mut *self.connection().await?, task_id).await
    }

    async fn rerun(&self, task_id: &str, forget: bool) -> StoreResult<bool> {
        let rescheduled: i64 = sqlx::query_scalar(self.shared.sql.rerun.clone())
            .bind(task_id)
            .bind(forget)
            .bind(&self.shared.channel)
            .fetch_one(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("rescheduling an ended task"))?;
        Ok(rescheduled > 0)
    }

    async fn listen(&self, wake: &(dyn Fn(Wake) + Send + Sync)) -> StoreResult<()> {
        listener::wake_on(self.heard(), wake).await;
        Ok(())
    }

    async fn ended(&self) -> StoreResult<watch::Receiver<u64>> {
        Ok(listener::count_ended(self.heard()))
    }
}
