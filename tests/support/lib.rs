//! Test support: an isolated, migrated schema per test, quick worker settings, and
//! closure-based task handlers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use zart::observe::TaskObserver;
use zart::postgres::{PostgresTaskScheduler, TableNames};
use zart::scheduler::{
    CompletionHandler, RetryConfig, ScheduledTask, SchedulerTaskError, TaskInstance, TaskRecord,
    TaskRegistry, TaskScheduler, TaskStatus, Worker, WorkerConfig,
};

/// Schemas made by these tests start with this; ones left behind by crashed runs are
/// dropped after an hour.
const SCHEMA_PREFIX: &str = "zt_";
const STALE_AFTER_SECS: i64 = 3600;

/// The database the tests use: `DATABASE_URL`, or the local test database.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A migrated schema of its own, so tests run in parallel without seeing each other.
pub struct TestDb {
    pub pool: PgPool,
    pub schema: String,
    pub scheduler: Arc<PostgresTaskScheduler>,
}

impl TestDb {
    /// A fresh schema with the default prefix, migrated.
    pub async fn new() -> TestDb {
        TestDb::with_prefix("zart_").await
    }

    /// A fresh schema whose tables use `prefix`, migrated.
    pub async fn with_prefix(prefix: &str) -> TestDb {
        let pool = PgPoolOptions::new()
            .max_connections(12)
            .connect(&database_url())
            .await
            .expect("PostgreSQL must be reachable at DATABASE_URL for the tests");
        drop_stale_schemas(&pool).await;
        let schema = format!(
            "{SCHEMA_PREFIX}{}_{:08x}",
            chrono::Utc::now().timestamp(),
            fastrand_u32()
        );
        let names = TableNames::with_prefix(prefix)
            .and_then(|n| n.with_schema(&schema))
            .expect("valid test table names");
        let scheduler = Arc::new(PostgresTaskScheduler::with_table_names(pool.clone(), names));
        scheduler.migrate().await.expect("migrations apply");
        TestDb {
            pool,
            schema,
            scheduler,
        }
    }

    /// The same schema with other table names (another prefix), migrated.
    pub async fn sibling(&self, prefix: &str) -> Arc<PostgresTaskScheduler> {
        let names = TableNames::with_prefix(prefix)
            .and_then(|n| n.with_schema(&self.schema))
            .expect("valid test table names");
        let scheduler = Arc::new(PostgresTaskScheduler::with_table_names(
            self.pool.clone(),
            names,
        ));
        scheduler.migrate().await.expect("migrations apply");
        scheduler
    }

    /// The typed client over this schema (what the macros' handles take).
    pub fn zart(&self) -> zart::Zart {
        zart::Zart::from_backend(&*self.scheduler)
    }

    /// The durable executions of this schema, by id.
    pub fn executions(&self) -> zart::DurableScheduler {
        self.zart().executions()
    }

    /// The recurring schedules of this schema, by id.
    pub fn schedules(&self) -> zart::recurring::Schedules {
        self.zart().schedules()
    }

    /// The quoted, qualified task table.
    pub fn tasks_table(&self) -> String {
        self.scheduler.table_names().tasks()
    }

    pub async fn task(&self, id: &str) -> TaskRecord {
        self.scheduler
            .get_task(id)
            .await
            .expect("reading a task")
            .unwrap_or_else(|| panic!("task {id} exists"))
    }

    /// Polls until task `id` has `status`, or panics after `within`.
    pub async fn wait_for_status(
        &self,
        id: &str,
        status: TaskStatus,
        within: Duration,
    ) -> TaskRecord {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(task) = self.scheduler.get_task(id).await.expect("reading a task") {
                if task.status == status {
                    return task;
                }
                if tokio::time::Instant::now() > deadline {
                    panic!(
                        "task {id} is {:?}, not {status:?}, after {within:?}: {task:?}",
                        task.status
                    );
                }
            } else if tokio::time::Instant::now() > deadline {
                panic!("task {id} does not exist after {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts a worker over this schema.
    pub fn start_worker(&self, registry: TaskRegistry, config: WorkerConfig) -> RunningWorker {
        self.start_observed_worker(registry, config, vec![])
    }

    /// Starts a worker over this schema, reporting to `observers`.
    pub fn start_observed_worker(
        &self,
        registry: TaskRegistry,
        config: WorkerConfig,
        observers: Vec<Arc<dyn TaskObserver>>,
    ) -> RunningWorker {
        let worker = Arc::new(Worker::new(
            self.scheduler.clone(),
            Arc::new(registry),
            config,
            observers,
        ));
        let handle = tokio::spawn({
            let worker = worker.clone();
            async move { worker.run().await }
        });
        RunningWorker { worker, handle }
    }
}

/// Quick settings for tests: short polls and heartbeats; maintenance only when a test
/// asks for it.
pub fn quick_config() -> WorkerConfig {
    WorkerConfig {
        poll_interval: Duration::from_millis(100),
        max_tasks_per_poll: 10,
        max_concurrent_tasks: 8,
        shutdown_timeout: Duration::from_secs(5),
        lease_duration: Duration::from_secs(30),
        heartbeat_interval: Duration::from_secs(1),
        rescue_interval: Duration::from_secs(3600),
        max_rescues: 3,
        worker_id: None,
        queues: None,
    }
}

pub struct RunningWorker {
    pub worker: Arc<Worker>,
    pub handle: tokio::task::JoinHandle<zart::Result<()>>,
}

impl RunningWorker {
    /// Graceful shutdown; panics if `run` failed.
    pub async fn stop(self) {
        self.worker.shutdown().await;
        self.handle
            .await
            .expect("worker task did not panic")
            .expect("worker run succeeded");
    }
}

/// Drops schemas that crashed runs left behind (older than an hour), a few at a time and
/// by one test process at a time (an advisory lock), so that tests never queue on it.
async fn drop_stale_schemas(pool: &PgPool) {
    const CLEANUP_LOCK: i64 = 0x7a61_7274_636c_6e75; // "zartclnu"
    const AT_MOST: usize = 20;
    let Ok(mut conn) = pool.acquire().await else {
        return;
    };
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(CLEANUP_LOCK)
        .fetch_one(&mut *conn)
        .await
        .unwrap_or(false);
    if !locked {
        return;
    }
    let schemas: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'zt\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let stale = schemas.into_iter().filter(|schema| {
        schema
            .strip_prefix(SCHEMA_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<i64>().ok())
            .is_some_and(|created| now - created > STALE_AFTER_SECS)
    });
    for schema in stale.take(AT_MOST) {
        let _ = sqlx::query(sqlx::AssertSqlSafe(&*format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .execute(&mut *conn)
        .await;
    }
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(CLEANUP_LOCK)
        .execute(&mut *conn)
        .await;
}

fn fastrand_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

type TaskResult = Result<Box<dyn CompletionHandler>, SchedulerTaskError>;

/// A task handler made from a closure.
pub struct FnTask<F> {
    run: F,
    retry: RetryConfig,
    timeout: Option<Duration>,
}

/// A handler that calls `run` with each instance, with no retries.
pub fn task<F, Fut>(run: F) -> FnTask<F>
where
    F: Fn(TaskInstance) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = TaskResult> + Send + 'static,
{
    FnTask {
        run,
        retry: RetryConfig::none(),
        timeout: None,
    }
}

impl<F> FnTask<F> {
    pub fn retry(self, retry: RetryConfig) -> Self {
        FnTask { retry, ..self }
    }

    pub fn timeout(self, timeout: Duration) -> Self {
        FnTask {
            timeout: Some(timeout),
            ..self
        }
    }
}

#[async_trait]
impl<F, Fut> ScheduledTask for FnTask<F>
where
    F: Fn(TaskInstance) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = TaskResult> + Send + 'static,
{
    async fn execute(&self, instance: &TaskInstance) -> TaskResult {
        (self.run)(instance.clone()).await
    }

    fn retry_config(&self) -> RetryConfig {
        self.retry.clone()
    }

    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

/// Retries quickly: tests wait milliseconds, not seconds.
pub fn quick_retry(max_attempts: u32) -> RetryConfig {
    RetryConfig {
        max_attempts,
        initial_delay: Duration::from_millis(50),
        backoff_multiplier: 2.0,
        max_delay: Duration::from_millis(200),
        jitter: 0.0,
    }
}

/// A SQLite database file of its own under the system's temporary folder, for one test.
/// Files left by earlier runs are removed after an hour.
pub fn sqlite_test_file() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("zart-tests");
    // A missing folder shows up as the store's own error when it opens the file.
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let stale = std::time::SystemTime::now() - Duration::from_secs(STALE_AFTER_SECS as u64);
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified < stale);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()))
}

/// A fresh, migrated SQLite store on a file of its own.
pub async fn sqlite_store() -> Arc<zart::sqlite::SqliteTaskScheduler> {
    let options = zart::sqlite::SqliteOptions::file(sqlite_test_file());
    Arc::new(
        zart::sqlite::SqliteTaskScheduler::connect_with(options)
            .await
            .expect("a SQLite store opens on a fresh file"),
    )
}
