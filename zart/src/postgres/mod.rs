//! The PostgreSQL backend: [`PostgresTaskScheduler`].

mod durable;
mod listener;
mod migrate;
mod queries;
mod recurring;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

use crate::backend::{
    Checkpointed, ClaimScope, ClaimedTask, FollowUpCompletion, Lease, Outcome, OutcomeKind,
    RescueReport, StepRecord, TaskBackend, WakeSignal,
};
use crate::error::{db, Error, Result};
use crate::recurring::TickReport;
use crate::scheduler::{validate, IfExists, TaskScheduler};
use crate::table_names::TableNames;
use crate::task::{ScheduleAtParams, TaskRecord, TaskStatus};
use queries::Queries;

/// Connection pool settings for [`PostgresTaskScheduler::connect_with_pool`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections open at once.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// How long to wait for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    /// 10 connections at most, none kept idle, 30 s to acquire one.
    fn default() -> Self {
        PoolConfig {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The task queue on PostgreSQL: schedules tasks ([`TaskScheduler`]) and serves workers
/// ([`TaskBackend`]). Cheap to clone; clones share the pool.
///
/// ```no_run
/// use std::sync::Arc;
/// use zart::{PostgresScheduler, TaskScheduler};
///
/// # async fn demo() -> Result<(), zart::Error> {
/// let scheduler = Arc::new(PostgresScheduler::connect("postgres://localhost/app").await?);
/// scheduler.schedule_now("welcome-42", "send-welcome-email", serde_json::json!({"user": 42})).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PostgresTaskScheduler {
    pool: PgPool,
    names: TableNames,
    channel: Arc<str>,
    ended_channel: Arc<str>,
    ended: Arc<tokio::sync::OnceCell<tokio::sync::watch::Receiver<u64>>>,
    maintenance_lock: i64,
    sql: Arc<Queries>,
}

/// The name deployment guides use for [`PostgresTaskScheduler`].
pub type PostgresScheduler = PostgresTaskScheduler;

impl PostgresTaskScheduler {
    /// A scheduler over `pool` with the default table names. Does not touch the database:
    /// call [`migrate`](Self::migrate) once before use if the tables may be missing.
    pub fn new(pool: PgPool) -> Self {
        PostgresTaskScheduler::with_table_names(pool, TableNames::default())
    }

    /// A scheduler over `pool` using `names` for its tables.
    pub fn with_table_names(pool: PgPool, names: TableNames) -> Self {
        PostgresTaskScheduler {
            channel: format!("zart_{:016x}", names.fingerprint("notify")).into(),
            ended_channel: format!("zart_{:016x}", names.fingerprint("ended")).into(),
            ended: Arc::default(),
            maintenance_lock: i64::from_ne_bytes(names.fingerprint("maintenance").to_ne_bytes()),
            sql: Arc::new(Queries::new(&names)),
            names,
            pool,
        }
    }

    /// Connects with [`PoolConfig::default`] and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        PostgresTaskScheduler::connect_with_pool(url, PoolConfig::default()).await
    }

    /// Connects with `config` and applies pending migrations.
    pub async fn connect_with_pool(url: &str, config: PoolConfig) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect(url)
            .await
            .map_err(db("connecting to PostgreSQL"))?;
        let scheduler = PostgresTaskScheduler::new(pool);
        scheduler.migrate().await?;
        Ok(scheduler)
    }

    /// Creates or upgrades the tables for this scheduler's [`TableNames`] from the embedded
    /// migrations. Idempotent, and safe to run from several processes at once.
    pub async fn migrate(&self) -> Result<()> {
        migrate::run(&self.pool, &self.names).await
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The table names in use.
    pub fn table_names(&self) -> &TableNames {
        &self.names
    }

    /// The `LISTEN`/`NOTIFY` channel that announces new tasks for these table names.
    pub fn notify_channel(&self) -> &str {
        &self.channel
    }

    /// The advisory-lock key a maintenance pass holds for these table names (visible in
    /// `pg_locks` as `objid`/`classid` halves).
    pub fn maintenance_lock_key(&self) -> i64 {
        self.maintenance_lock
    }

    /// Inserts `tasks` (the runs of `schedule_id`, if given), skipping existing ids, and
    /// notifies listeners in the same statement. Returns the inserted ids.
    async fn insert(
        &self,
        executor: impl sqlx::PgExecutor<'_>,
        tasks: &[ScheduleAtParams],
        schedule_id: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut ids = Vec::with_capacity(tasks.len());
        let mut names = Vec::with_capacity(tasks.len());
        let mut run_at = Vec::with_capacity(tasks.len());
        let mut data = Vec::with_capacity(tasks.len());
        let mut metadata = Vec::with_capacity(tasks.len());
        for task in tasks {
            validate(task)?;
            ids.push(task.task_id.as_str());
            names.push(task.task_name.as_str());
            run_at.push(task.execution_time);
            data.push(&task.data);
            metadata.push(&task.metadata);
        }
        sqlx::query_scalar(&self.sql.insert)
            .bind(ids)
            .bind(names)
            .bind(run_at)
            .bind(data)
            .bind(metadata)
            .bind(vec![schedule_id; tasks.len()])
            .bind(&*self.channel)
            .fetch_all(executor)
            .await
            .map_err(db("scheduling tasks"))
    }
}

/// The ids of `tasks` that are not in `inserted`, each once, in input order.
fn missing_ids(tasks: &[ScheduleAtParams], inserted: &[String]) -> Vec<String> {
    let mut remaining: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for id in inserted {
        *remaining.entry(id.as_str()).or_default() += 1;
    }
    let mut missing: Vec<String> = Vec::new();
    for task in tasks {
        match remaining.get_mut(task.task_id.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ if missing.contains(&task.task_id) => {}
            _ => missing.push(task.task_id.clone()),
        }
    }
    missing
}

#[async_trait]
impl TaskScheduler for PostgresTaskScheduler {
    async fn schedule_many_with(
        &self,
        tasks: Vec<ScheduleAtParams>,
        if_exists: IfExists,
    ) -> Result<Vec<String>> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        if if_exists == IfExists::Skip {
            return self.insert(&self.pool, &tasks, None).await;
        }
        if let [task] = tasks.as_slice() {
            // One statement is its own transaction: nothing to roll back on a conflict.
            let inserted = self.insert(&self.pool, &tasks, None).await?;
            return match inserted.is_empty() {
                true => Err(Error::AlreadyExists(vec![task.task_id.clone()])),
                false => Ok(inserted),
            };
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let inserted = self.insert(&mut *tx, &tasks, None).await?;
        if inserted.len() < tasks.len() {
            // Dropping the transaction rolls it back, notification included.
            return Err(Error::AlreadyExists(missing_ids(&tasks, &inserted)));
        }
        tx.commit()
            .await
            .map_err(db("committing scheduled tasks"))?;
        Ok(inserted)
    }

    async fn cancel(&self, task_id: &str) -> Result<bool> {
        let status: Option<String> = sqlx::query_scalar(&self.sql.cancel)
            .bind(task_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("cancelling a task"))?;
        if status.as_deref() == Some("running") {
            tracing::info!(task_id, "cancel requested for a running task");
        }
        Ok(status.is_some())
    }

    async fn list_tasks(
        &self,
        task_name: Option<&str>,
        status: Option<TaskStatus>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>> {
        let rows = sqlx::query(&self.sql.list)
            .bind(task_name)
            .bind(status.map(TaskStatus::as_str))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing tasks"))?;
        rows.iter()
            .map(task_record)
            .collect::<std::result::Result<_, _>>()
            .map_err(db("decoding tasks"))
    }

    async fn get_task(&self, task_id: &str) -> Result<Option<TaskRecord>> {
        let row = sqlx::query(&self.sql.get)
            .bind(task_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a task"))?;
        row.map(|row| task_record(&row))
            .transpose()
            .map_err(db("decoding a task"))
    }
}

fn task_record(row: &PgRow) -> std::result::Result<TaskRecord, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(TaskRecord {
        task_id: row.try_get("task_id")?,
        task_name: row.try_get("task_name")?,
        status: TaskStatus::parse(&status).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "status".to_owned(),
            source: format!("unknown task status {status:?}").into(),
        })?,
        run_at: row.try_get("run_at")?,
        data: row.try_get("data")?,
        metadata: row.try_get("metadata")?,
        attempts: non_negative(row.try_get("attempts")?),
        rescues: non_negative(row.try_get("rescues")?),
        worker_id: row.try_get("worker_id")?,
        result: row.try_get("result")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn non_negative(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn claimed_task(row: &PgRow) -> std::result::Result<ClaimedTask, sqlx::Error> {
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
        steps: row
            .try_get::<Option<Value>, _>(8)?
            .map(|log| durable::step_log(&log))
            .transpose()?,
    })
}

#[async_trait]
impl TaskBackend for PostgresTaskScheduler {
    async fn claim_in(
        &self,
        worker_id: &str,
        limit: usize,
        lease: Duration,
        scope: &ClaimScope,
    ) -> Result<Vec<ClaimedTask>> {
        // Planned afresh for each call (an unnamed statement): a cached generic plan
        // cannot know how selective the claimed names are, and would walk the run_at index
        // past every due task of other names.
        let rows = sqlx::query(&self.sql.claim)
            .persistent(false)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(worker_id)
            .bind(lease.as_secs_f64())
            .bind(&scope.durable)
            .bind(&scope.names)
            .fetch_all(&self.pool)
            .await
            .map_err(db("claiming tasks"))?;
        rows.iter()
            .map(claimed_task)
            .collect::<std::result::Result<_, _>>()
            .map_err(db("decoding claimed tasks"))
    }

    async fn heartbeat(&self, worker_id: &str, lease: Duration) -> Result<u64> {
        let done = sqlx::query(&self.sql.heartbeat)
            .bind(worker_id)
            .bind(lease.as_secs_f64())
            .execute(&self.pool)
            .await
            .map_err(db("extending leases"))?;
        Ok(done.rows_affected())
    }

    async fn finish(&self, outcomes: &[Outcome]) -> Result<Vec<String>> {
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
            let (status, result, error, due): (_, _, _, Option<DateTime<Utc>>) = match &outcome.kind
            {
                OutcomeKind::Completed { result } => {
                    (TaskStatus::Completed.as_str(), result.as_ref(), None, None)
                }
                OutcomeKind::Retry { error, run_at } => (
                    TaskStatus::Pending.as_str(),
                    None,
                    Some(error.as_str()),
                    Some(*run_at),
                ),
                OutcomeKind::Failed { error } => (
                    TaskStatus::Failed.as_str(),
                    None,
                    Some(error.as_str()),
                    None,
                ),
                OutcomeKind::Suspended { run_at } => ("suspended", None, None, Some(*run_at)),
            };
            statuses.push(status);
            results.push(result);
            errors.push(error);
            run_at.push(due);
        }
        sqlx::query_scalar(&self.sql.finish)
            .bind(ids)
            .bind(tokens)
            .bind(statuses)
            .bind(results)
            .bind(errors)
            .bind(run_at)
            .bind(&*self.ended_channel)
            .fetch_all(&self.pool)
            .await
            .map_err(db("storing task outcomes"))
    }

    async fn complete_with_follow_ups(
        &self,
        lease: &Lease,
        result: Option<Value>,
        follow_ups: Vec<ScheduleAtParams>,
    ) -> Result<FollowUpCompletion> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let status: Option<String> = sqlx::query_scalar(&self.sql.complete_one)
            .bind(&lease.task_id)
            .bind(lease.token)
            .bind(result)
            .bind(&*self.ended_channel)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("completing a task"))?;
        match status.as_deref() {
            None => return Ok(FollowUpCompletion::LeaseLost),
            Some("cancelled") => {
                tx.commit().await.map_err(db("committing a cancellation"))?;
                return Ok(FollowUpCompletion::Cancelled);
            }
            Some(_) => {}
        }
        let inserted = self.insert(&mut *tx, &follow_ups, None).await?;
        if inserted.len() < follow_ups.len() {
            return Ok(FollowUpCompletion::Conflict(missing_ids(
                &follow_ups,
                &inserted,
            )));
        }
        tx.commit().await.map_err(db("committing a completion"))?;
        Ok(FollowUpCompletion::Completed)
    }

    async fn release(&self, leases: &[Lease]) -> Result<Vec<String>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = leases.iter().map(|l| l.task_id.as_str()).collect();
        let tokens: Vec<i64> = leases.iter().map(|l| l.token).collect();
        sqlx::query_scalar(&self.sql.release)
            .bind(ids)
            .bind(tokens)
            .bind(&*self.channel)
            .fetch_all(&self.pool)
            .await
            .map_err(db("releasing tasks"))
    }

    async fn rescue_expired(&self, max_rescues: u32) -> Result<Option<RescueReport>> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(self.maintenance_lock)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("taking the maintenance lock"))?;
        if !locked {
            return Ok(None);
        }
        let rows = sqlx::query(&self.sql.rescue)
            .bind(i32::try_from(max_rescues).unwrap_or(i32::MAX))
            .bind(&*self.channel)
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

    async fn start_child(&self, parent: &str, child: &ScheduleAtParams) -> Result<bool> {
        self.insert_child(parent, child).await
    }

    async fn find_event(&self, task_id: &str, name: &str, index: u32) -> Result<Option<Value>> {
        self.event(task_id, name, index).await
    }

    async fn load_steps(&self, task_id: &str) -> Result<Vec<StepRecord>> {
        self.step_log_of(task_id).await
    }

    async fn save_steps(&self, steps: &[(Lease, StepRecord)]) -> Result<Vec<Checkpointed>> {
        self.save_steps_on(&self.pool, steps).await
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    async fn fire_tick(&self, lease: &Lease, now: DateTime<Utc>) -> Result<Option<TickReport>> {
        recurring::fire_tick(self, lease, now).await
    }

    async fn listen(&self, wake: WakeSignal) -> Result<()> {
        listener::run(&self.pool, &self.channel, wake).await
    }
}
