//! A worker process for the multi-process tests.
//!
//! Usage: `zart-test-worker URL SCHEMA WORKER_NAME [MODE]`, where URL is a PostgreSQL URL
//! (with SCHEMA the test's schema) or a `sqlite://` file (SCHEMA ignored, may be empty).
//!
//! - `count` (default): runs `count` tasks, each recording a row in the test's table
//!   `runs`, until none is left pending or running; then shuts down gracefully.
//! - `durable`: runs the durable executions `four-steps`, whose steps each record a row in
//!   the test's table `side_effects` (the third after a 3 s pause, so that a test can kill
//!   the process between the second and the third), and `tx-steps` (a transactional step
//!   that lingers in its transaction, then a plain step that lingers), until no task is
//!   left pending or running.
//! - `limited GLOBAL PER_KEY RATE`: runs `limited` tasks in queue `limited` with those
//!   limits (0: none; the rate per second), each marking itself in the test's table
//!   `active` while it runs and recording its start in `starts`.
//! - `jobs CONCURRENCY RETENTION_MS`: runs `job` tasks in queue `jobs`, at most
//!   CONCURRENCY at once and one claim of at most CONCURRENCY at a time, each recording its
//!   start in the test's table `starts` and then lingering its input's `linger_ms`;
//!   completed tasks are kept RETENTION_MS (0: the default retention). Runs until its
//!   standard input closes, then shuts down gracefully.
//! - `ack`: no worker; completes tasks one after another straight through the store, and
//!   prints each one's id once the store acknowledged its completion, until killed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use zart::durable::{
    step, transactional_step, DurableExecution, StepError, StepOptions, TaskError,
};
use zart::postgres::sqlx::PgConnection;
use zart::postgres::{PostgresTaskScheduler, TableNames};
use zart::scheduler::{
    CompletionHandler, OnComplete, ScheduledTask, SchedulerTaskError, TaskFilter, TaskInstance,
    TaskRegistry, TaskScheduler, TaskStatus, Worker, WorkerConfig,
};
use zart::sqlite::{rusqlite, SqliteTaskScheduler};
use zart::store::{Store, UnitOfWork};

/// Where the test's own rows go: its tables beside Zart's, written outside Zart's own
/// transactions (on SQLite, through the store's connection: the file has one writer).
#[derive(Clone)]
enum Recorder {
    Postgres { pool: PgPool, schema: String },
    Sqlite(Arc<SqliteTaskScheduler>),
}

impl Recorder {
    fn table(&self, name: &str) -> String {
        match self {
            Recorder::Postgres { schema, .. } => format!("\"{schema}\".{name}"),
            Recorder::Sqlite(_) => name.to_owned(),
        }
    }

    /// Inserts `values` (text) into the test's table `table`.
    async fn record(&self, table: &str, columns: &str, values: &[&str]) -> Result<(), String> {
        let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({columns}) VALUES ({})",
            self.table(table),
            placeholders.join(", ")
        );
        match self {
            Recorder::Postgres { pool, .. } => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(&*sql));
                for value in values {
                    query = query.bind(*value);
                }
                query
                    .execute(pool)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Recorder::Sqlite(store) => {
                let mut work = store.begin_work().await.map_err(|e| e.to_string())?;
                work.connection_mut()
                    .execute(&sql, rusqlite::params_from_iter(values))
                    .map_err(|e| e.to_string())?;
                UnitOfWork::commit(Box::new(work))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

impl Recorder {
    /// Deletes the row of task `task_id` from the test's table `table`.
    async fn remove(&self, table: &str, task_id: &str) -> Result<(), String> {
        let sql = format!("DELETE FROM {} WHERE task_id = $1", self.table(table));
        match self {
            Recorder::Postgres { pool, .. } => sqlx::query(sqlx::AssertSqlSafe(&*sql))
                .bind(task_id)
                .execute(pool)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Recorder::Sqlite(store) => {
                let mut work = store.begin_work().await.map_err(|e| e.to_string())?;
                work.connection_mut()
                    .execute(&sql, [task_id])
                    .map_err(|e| e.to_string())?;
                UnitOfWork::commit(Box::new(work))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Records its run in the test's table `table` (with the worker's name), then lingers its
/// input's `linger_ms`, if any.
struct Count {
    recorder: Recorder,
    worker: String,
    table: &'static str,
}

#[async_trait]
impl ScheduledTask for Count {
    async fn execute(
        &self,
        instance: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        self.recorder
            .record(
                self.table,
                "task_id, worker",
                &[&instance.task_id, &self.worker],
            )
            .await
            .map_err(SchedulerTaskError::failed)?;
        let linger = instance.data["linger_ms"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(linger)).await;
        Ok(OnComplete::done())
    }
}

/// Marks itself active in the test's table `active` while it runs (so that the test can
/// sample how many run at once, and of which tenant), and records its start in `starts`.
struct Limited {
    recorder: Recorder,
    linger: Duration,
}

#[async_trait]
impl ScheduledTask for Limited {
    async fn execute(
        &self,
        instance: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        let tenant = instance.data["tenant"].to_string();
        let id = instance.task_id.as_str();
        let recorder = &self.recorder;
        let failed = SchedulerTaskError::failed;
        recorder
            .record("starts", "task_id", &[id])
            .await
            .map_err(failed)?;
        recorder
            .record("active", "task_id, tenant", &[id, &tenant])
            .await
            .map_err(failed)?;
        tokio::time::sleep(self.linger).await;
        recorder.remove("active", id).await.map_err(failed)?;
        Ok(OnComplete::done())
    }
}

struct FourSteps {
    recorder: Recorder,
}

#[async_trait]
impl DurableExecution for FourSteps {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        for name in ["one", "two", "three", "four"] {
            step(name, || async move {
                if name == "three" {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                self.recorder
                    .record("side_effects", "step", &[name])
                    .await
                    .map_err(StepError::failed)?;
                Ok::<_, StepError>(())
            })
            .await?;
        }
        Ok(json!("all four"))
    }
}

/// A transactional step that writes its side effect, then lingers 2 s inside its
/// transaction; then a plain step that lingers 2 s (two windows to kill the process in).
struct TxSteps {
    recorder: Recorder,
}

/// Lingers in the transaction after writing, long enough to be killed there.
const LINGER: Duration = Duration::from_secs(2);

#[async_trait]
impl DurableExecution for TxSteps {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let insert = format!(
            "INSERT INTO {} (step) VALUES ('write')",
            self.recorder.table("side_effects")
        );
        match &self.recorder {
            Recorder::Postgres { .. } => {
                transactional_step("write", StepOptions::default(), |tx: &mut PgConnection| {
                    let insert = insert.clone();
                    Box::pin(async move {
                        sqlx::query(sqlx::AssertSqlSafe(&*insert))
                            .execute(&mut *tx)
                            .await
                            .map_err(StepError::failed)?;
                        tokio::time::sleep(LINGER).await;
                        Ok(())
                    })
                })
                .await?
            }
            Recorder::Sqlite(_) => {
                transactional_step(
                    "write",
                    StepOptions::default(),
                    |tx: &mut rusqlite::Connection| {
                        let written = tx.execute(&insert, []).map_err(StepError::failed);
                        Box::pin(async move {
                            written?;
                            tokio::time::sleep(LINGER).await;
                            Ok(())
                        })
                    },
                )
                .await?
            }
        }
        step("after", || async {
            tokio::time::sleep(LINGER).await;
            Ok::<_, StepError>(())
        })
        .await?;
        Ok(json!("written"))
    }
}

/// Inserts, claims and completes task after task, printing each id after `finish`
/// returned: what a killed process's parent may expect to find completed.
async fn acknowledge_forever(store: &dyn Store) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Write;
    use zart::store::{ClaimScope, Outcome, OutcomeKind, QueueStore};
    let scope = ClaimScope::default();
    for i in 0.. {
        let id = format!("ack-{i}");
        QueueStore::insert(
            store,
            &[zart::scheduler::ScheduleAtParams::now(&id, "ack", json!(i)).into()],
        )
        .await?;
        let claimed = store
            .claim("acker", 1, Duration::from_secs(60), &scope)
            .await?;
        let Some(task) = claimed.into_iter().next() else {
            return Err(format!("{id} was not claimed").into());
        };
        let stored = store
            .finish(&[Outcome {
                lease: task.lease,
                kind: OutcomeKind::Completed {
                    result: Some(json!(i)),
                },
            }])
            .await?;
        if stored != [id.clone()] {
            return Err(format!("{id} was not completed: {stored:?}").into());
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "{id}")?;
        out.flush()?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(schema), Some(name)) = (args.next(), args.next(), args.next()) else {
        return Err(
            "usage: zart-test-worker DATABASE_URL SCHEMA WORKER_NAME [count|durable]".into(),
        );
    };
    let mode = args.next().unwrap_or_else(|| "count".to_owned());
    let (scheduler, recorder): (Arc<dyn Store>, Recorder) = if url.starts_with("sqlite:") {
        let store = Arc::new(SqliteTaskScheduler::connect(&url).await?);
        (store.clone(), Recorder::Sqlite(store))
    } else {
        let pool = PgPoolOptions::new()
            .max_connections(6)
            .connect(&url)
            .await?;
        let names = TableNames::default().with_schema(&schema)?;
        let store = Arc::new(PostgresTaskScheduler::with_table_names(pool.clone(), names));
        (store, Recorder::Postgres { pool, schema })
    };
    if mode == "ack" {
        return acknowledge_forever(scheduler.as_ref()).await;
    }
    let mut registry = TaskRegistry::new();
    let mut config = WorkerConfig {
        poll_interval: Duration::from_millis(100),
        max_tasks_per_poll: 50,
        max_concurrent_tasks: 50,
        worker_id: Some(name.clone()),
        ..WorkerConfig::default()
    };
    match mode.as_str() {
        "count" => {
            registry.register(
                "count",
                Count {
                    recorder: recorder.clone(),
                    worker: name,
                    table: "runs",
                },
            );
        }
        "durable" => {
            registry
                .durable(
                    "four-steps",
                    FourSteps {
                        recorder: recorder.clone(),
                    },
                )
                .durable("tx-steps", TxSteps { recorder });
            // Short leases, so that a killed worker's execution is rescued quickly.
            config.lease_duration = Duration::from_secs(2);
            config.heartbeat_interval = Duration::from_millis(500);
            config.rescue_interval = Duration::from_millis(300);
        }
        "limited" => {
            // `limited GLOBAL PER_KEY RATE_PER_SECOND`, 0 for none: the queue `limited`.
            let mut limit = || args.next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
            let (global, per_key, rate) = (limit(), limit(), limit());
            registry
                .register(
                    "limited",
                    Limited {
                        recorder: recorder.clone(),
                        linger: Duration::from_millis(if rate > 0 { 5 } else { 40 }),
                    },
                )
                .set_queue("limited", "limited");
            let mut queue = zart::scheduler::QueueConfig::new("limited");
            if global > 0 {
                queue = queue.global_limit(global);
            }
            if per_key > 0 {
                queue = queue.limit_per_key("tenant", per_key);
            }
            if rate > 0 {
                queue = queue.rate_limit(rate, Duration::from_secs(1));
                // As users run it: a worker that missed the window's room would sit out
                // the whole default interval, not a test's short one.
                config.poll_interval = WorkerConfig::default().poll_interval;
            }
            config.queue_configs.push(queue);
            config.max_concurrent_tasks = 8;
        }
        "jobs" => {
            let mut number = || args.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
            let (concurrency, retention_ms) = (number().max(1) as usize, number());
            registry
                .register(
                    "job",
                    Count {
                        recorder: recorder.clone(),
                        worker: name,
                        table: "starts",
                    },
                )
                .set_queue("job", "jobs");
            config.queues = Some(vec!["jobs".to_owned()]);
            config.max_concurrent_tasks = concurrency;
            config.max_tasks_per_poll = concurrency;
            config.poll_interval = Duration::from_millis(50);
            config.rescue_interval = Duration::from_millis(200);
            if retention_ms > 0 {
                config.retention = zart::scheduler::Retention {
                    completed: Some(Duration::from_millis(retention_ms)),
                    ..zart::scheduler::Retention::forever()
                };
            }
        }
        other => return Err(format!("unknown mode {other:?}").into()),
    }
    let worker = Arc::new(Worker::new(
        scheduler.clone(),
        Arc::new(registry),
        config,
        vec![],
    ));
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });
    if mode == "jobs" {
        // Until the parent closes our standard input (or dies).
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await??;
        worker.shutdown().await;
        running.await??;
        return Ok(());
    }
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Ended tasks first, all tasks last, in separate reads: a task only ever moves
        // into an end status (and tasks are only added), so this never counts fewer left
        // than there were at the last read. (Pending and running read one after the other
        // could both miss a task that was claimed in between.)
        let mut ended = 0;
        for status in TaskStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            ended += scheduler
                .count_tasks(&TaskFilter::default().status(status))
                .await?;
        }
        let all = scheduler.count_tasks(&TaskFilter::default()).await?;
        if all <= ended {
            break;
        }
    }
    worker.shutdown().await;
    running.await??;
    Ok(())
}
