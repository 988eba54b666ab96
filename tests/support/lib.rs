//! Test support: a database of its own per test on either driver ([`TestDb`], and
//! [`each_store`] to run one test on each), quick worker settings, and closure-based task
//! handlers.

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
use zart::store::Store;
pub use zart_each_store::each_store;

pub mod logs;
pub mod webdriver;

/// Schemas made by these tests start with this; ones left behind by killed runs are
/// dropped once older than any test runs (a test process running beside this one keeps
/// its own).
const SCHEMA_PREFIX: &str = "zt_";
const STALE_AFTER_SECS: i64 = 900;

/// The database the tests use: `DATABASE_URL`, or the local test database.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database of its own for one test, on one of the store drivers, so that tests run in
/// parallel without seeing each other: a fresh PostgreSQL schema, or a fresh SQLite file.
pub struct TestDb {
    /// The store, whatever its driver.
    pub scheduler: Arc<dyn Store>,
    /// The driver and what only it has.
    pub driver: Driver,
}

/// Which driver a [`TestDb`] runs on, with what only that driver has.
pub enum Driver {
    Postgres(PgDb),
    Sqlite(SqliteDb),
}

/// A PostgreSQL test database: a schema of its own.
pub struct PgDb {
    pub pool: PgPool,
    pub schema: String,
    pub store: Arc<PostgresTaskScheduler>,
}

/// A SQLite test database: a file of its own.
pub struct SqliteDb {
    pub path: std::path::PathBuf,
    pub store: Arc<zart::sqlite::SqliteTaskScheduler>,
}

impl TestDb {
    /// A fresh PostgreSQL schema with the default prefix, migrated.
    pub async fn postgres() -> TestDb {
        TestDb::postgres_with_prefix("zart_").await
    }

    /// A fresh PostgreSQL schema whose tables use `prefix`, migrated.
    pub async fn postgres_with_prefix(prefix: &str) -> TestDb {
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
        let store = Arc::new(PostgresTaskScheduler::with_table_names(pool.clone(), names));
        store.migrate().await.expect("migrations apply");
        TestDb {
            scheduler: store.clone(),
            driver: Driver::Postgres(PgDb {
                pool,
                schema,
                store,
            }),
        }
    }

    /// A fresh SQLite file, migrated.
    pub async fn sqlite() -> TestDb {
        let path = sqlite_test_file();
        let options = zart::sqlite::SqliteOptions::file(&path);
        let store = Arc::new(
            zart::sqlite::SqliteTaskScheduler::connect_with(options)
                .await
                .expect("a SQLite store opens on a fresh file"),
        );
        TestDb {
            scheduler: store.clone(),
            driver: Driver::Sqlite(SqliteDb { path, store }),
        }
    }

    /// A store on the same database whose tables use `prefix`, migrated.
    pub async fn sibling(&self, prefix: &str) -> Arc<dyn Store> {
        match &self.driver {
            Driver::Postgres(pg) => {
                let names = TableNames::with_prefix(prefix)
                    .and_then(|n| n.with_schema(&pg.schema))
                    .expect("valid test table names");
                let store = PostgresTaskScheduler::with_table_names(pg.pool.clone(), names);
                store.migrate().await.expect("migrations apply");
                Arc::new(store)
            }
            Driver::Sqlite(lite) => {
                let options = zart::sqlite::SqliteOptions::file(&lite.path)
                    .prefix(prefix)
                    .expect("a valid test prefix");
                Arc::new(
                    zart::sqlite::SqliteTaskScheduler::connect_with(options)
                        .await
                        .expect("migrations apply"),
                )
            }
        }
    }

    /// The names of the tables in the test's database (its schema, on PostgreSQL), sorted.
    pub async fn table_list(&self) -> Vec<String> {
        let sql = match &self.driver {
            Driver::Postgres(pg) => format!(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = '{}' ORDER BY tablename",
                pg.schema
            ),
            Driver::Sqlite(_) => {
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name".to_owned()
            }
        };
        self.rows(&sql).await.into_iter().flatten().collect()
    }

    /// SQL for the instant `seconds` ago, in the driver's type for instants.
    pub fn sql_ago(&self, seconds: i64) -> String {
        match &self.driver {
            Driver::Postgres(_) => format!("(now() - interval '{seconds} seconds')"),
            Driver::Sqlite(_) => {
                format!("(CAST(unixepoch('subsec') * 1000 AS INTEGER) - {seconds} * 1000)")
            }
        }
    }

    /// SQL for the instant `t`, in the driver's type for instants.
    pub fn sql_instant(&self, t: chrono::DateTime<chrono::Utc>) -> String {
        match &self.driver {
            Driver::Postgres(_) => format!("'{}'::timestamptz", t.to_rfc3339()),
            Driver::Sqlite(_) => t.timestamp_millis().to_string(),
        }
    }

    /// Whether the test runs on SQLite.
    pub fn is_sqlite(&self) -> bool {
        matches!(self.driver, Driver::Sqlite(_))
    }

    /// What only PostgreSQL has; for the tests that run on PostgreSQL alone.
    pub fn pg(&self) -> &PgDb {
        match &self.driver {
            Driver::Postgres(pg) => pg,
            Driver::Sqlite(_) => panic!("this test runs on PostgreSQL only"),
        }
    }

    /// The URL a worker process connects to, and the schema it uses (empty on SQLite).
    pub fn process_args(&self) -> [String; 2] {
        match &self.driver {
            Driver::Postgres(pg) => [database_url(), pg.schema.clone()],
            Driver::Sqlite(lite) => [format!("sqlite://{}", lite.path.display()), String::new()],
        }
    }

    /// A table of the test's own (beside Zart's, for what a test records): qualified by
    /// the schema on PostgreSQL.
    pub fn own_table(&self, name: &str) -> String {
        match &self.driver {
            Driver::Postgres(pg) => format!("\"{}\".{name}", pg.schema),
            Driver::Sqlite(_) => name.to_owned(),
        }
    }

    /// Runs `sql` (which both databases understand, without parameters) on the test's
    /// database, outside the store.
    pub async fn execute(&self, sql: &str) {
        match &self.driver {
            Driver::Postgres(pg) => {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&pg.pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            Driver::Sqlite(lite) => {
                sqlite_connection(&lite.path)
                    .execute_batch(sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }

    /// The rows of `sql` (a query both databases understand, of text and integer
    /// columns, none null), each as its columns' text.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match &self.driver {
            Driver::Postgres(pg) => {
                use sqlx::Row;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&pg.pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| {
                                row.try_get::<String, _>(i)
                                    .or_else(|_| row.try_get::<i64, _>(i).map(|n| n.to_string()))
                                    .or_else(|_| row.try_get::<i32, _>(i).map(|n| n.to_string()))
                                    .unwrap_or_else(|e| panic!("{sql}: column {i}: {e}"))
                            })
                            .collect()
                    })
                    .collect()
            }
            Driver::Sqlite(lite) => {
                let conn = sqlite_connection(&lite.path);
                let mut statement = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                let columns = statement.column_count();
                let rows = statement
                    .query_map([], |row| {
                        (0..columns)
                            .map(|i| {
                                let value: zart::sqlite::rusqlite::types::Value = row.get(i)?;
                                Ok(match value {
                                    zart::sqlite::rusqlite::types::Value::Integer(n) => {
                                        n.to_string()
                                    }
                                    zart::sqlite::rusqlite::types::Value::Text(t) => t,
                                    other => format!("{other:?}"),
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.collect::<Result<_, _>>()
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
        }
    }

    /// The single integer `sql` returns.
    pub async fn number(&self, sql: &str) -> i64 {
        let rows = self.rows(sql).await;
        rows.first()
            .and_then(|row| row.first())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{sql} returns one number: {rows:?}"))
    }

    /// Zart's table `suffix` (`tasks`, `steps`, ..), quoted and qualified as the driver
    /// names it.
    pub fn zart_table(&self, suffix: &str) -> String {
        match &self.driver {
            Driver::Postgres(pg) => match suffix {
                "tasks" => pg.store.table_names().tasks(),
                "steps" => pg.store.table_names().steps(),
                "events" => pg.store.table_names().events(),
                "schedules" => pg.store.table_names().schedules(),
                "schedule_runs" => pg.store.table_names().schedule_runs(),
                "migrations" => pg.store.table_names().migrations(),
                other => panic!("no Zart table {other:?}"),
            },
            Driver::Sqlite(lite) => format!("\"{}{suffix}\"", lite.store.options().table_prefix()),
        }
    }

    /// The typed client over this schema (what the macros' handles take).
    pub fn zart(&self) -> zart::Zart {
        zart::Zart::from_store(self.scheduler.clone())
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
        self.zart_table("tasks")
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
        ..WorkerConfig::default()
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

/// A test's database goes with it, also when it fails: the schemas a run left behind slow
/// the server for every later test, and the files fill the disk.
impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.driver {
            Driver::Postgres(pg) => drop_schema(&pg.schema),
            Driver::Sqlite(lite) => remove_sqlite_file(&lite.path),
        }
    }
}

/// Drops `schema`, and the schemas a test derived from its name (`<schema>_race`), on a
/// connection of its own, on a thread of its own: a drop cannot await, and the test's
/// runtime may be ending. A schema something still holds (a worker the test did not stop)
/// is left to [`drop_stale_schemas`].
fn drop_schema(schema: &str) {
    let schema = schema.to_owned();
    let dropping = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            use sqlx::Connection;
            let Ok(mut conn) = sqlx::PgConnection::connect(&database_url()).await else {
                return;
            };
            let _ = sqlx::query("SET lock_timeout = '3s'")
                .execute(&mut conn)
                .await;
            let schemas: Vec<String> = sqlx::query_scalar(
                "SELECT nspname::text FROM pg_namespace
                 WHERE nspname = $1 OR starts_with(nspname, $1 || '_')",
            )
            .bind(&schema)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
            for schema in schemas {
                let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await;
            }
            let _ = conn.close().await;
        });
    });
    let _ = dropping.join();
}

/// Removes a SQLite database file and the journal files beside it.
pub fn remove_sqlite_file(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

/// Drops schemas that killed runs left behind (older than `STALE_AFTER_SECS`), a few at a time and
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

/// A connection of the test's own to the SQLite file at `path`, which waits for the
/// store's writers.
pub fn sqlite_connection(path: &std::path::Path) -> zart::sqlite::rusqlite::Connection {
    let conn =
        zart::sqlite::rusqlite::Connection::open(path).expect("opening the test's SQLite file");
    conn.busy_timeout(Duration::from_secs(10))
        .expect("setting a busy timeout");
    conn
}

/// How many times this was called from the current tokio task, this call included (`None`
/// outside one). A run of a durable body is one task, so a test's step that fails its first
/// calls counts its own execution's calls, whether or not tests share a process.
pub fn calls_of_this_task() -> Option<u64> {
    static CALLS: std::sync::Mutex<Vec<(tokio::task::Id, u64)>> = std::sync::Mutex::new(Vec::new());
    let task = tokio::task::try_id()?;
    let mut calls = CALLS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let index = match calls.iter().position(|(id, _)| *id == task) {
        Some(index) => index,
        None => {
            calls.push((task, 0));
            calls.len() - 1
        }
    };
    calls[index].1 += 1;
    Some(calls[index].1)
}
