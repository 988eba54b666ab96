//! A database of its own per test, on either driver, seeded through the zart API, and the
//! built `zart` binary run against it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;
use zart::postgres::sqlx::postgres::PgPoolOptions;
use zart::postgres::sqlx::{self, PgPool};
use zart::postgres::{PostgresTaskScheduler, TableNames};
use zart::scheduler::WorkerConfig;
use zart::sqlite::{SqliteOptions, SqliteTaskScheduler};
use zart::Zart;

/// Schemas of these tests start with this; ones left by a crashed run are dropped after
/// an hour.
const SCHEMA_PREFIX: &str = "zt_cli_";
const STALE_AFTER_SECS: i64 = 3600;
/// How long a test waits for a worker to get somewhere.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A name no other test of this run or another uses.
pub fn unique() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{nanos:09}_{}",
        chrono::Utc::now().timestamp(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub enum Place {
    Sqlite(PathBuf),
    Postgres { pool: PgPool, schema: String },
}

/// One test's store: `zart` seeds and checks it, `args` point the binary at it.
pub struct Db {
    pub zart: Zart,
    pub args: Vec<String>,
    pub place: Place,
}

impl Db {
    pub async fn sqlite() -> Db {
        Db::sqlite_with_prefix(None).await
    }

    pub async fn sqlite_with_prefix(prefix: Option<&str>) -> Db {
        let path = std::env::temp_dir().join(format!("zart-cli-{}.db", unique()));
        let mut options = SqliteOptions::file(&path);
        let mut args = vec!["--url".to_owned(), format!("sqlite://{}", path.display())];
        if let Some(prefix) = prefix {
            options = options.prefix(prefix).expect("a valid prefix");
            args.extend(["--prefix".to_owned(), prefix.to_owned()]);
        }
        let store = SqliteTaskScheduler::connect_with(options)
            .await
            .expect("a SQLite store opens on a fresh file");
        Db {
            zart: Zart::from_backend(&store),
            args,
            place: Place::Sqlite(path),
        }
    }

    pub async fn postgres() -> Db {
        Db::postgres_with_prefix(None).await
    }

    pub async fn postgres_with_prefix(prefix: Option<&str>) -> Db {
        let pool = pg_pool().await;
        let schema = format!("{SCHEMA_PREFIX}{}", unique());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&pool)
            .await
            .expect("the test schema is created");
        let names = TableNames::with_prefix(prefix.unwrap_or("zart_"))
            .and_then(|n| n.with_schema(&schema))
            .expect("valid test names");
        let store = PostgresTaskScheduler::with_table_names(pool.clone(), names);
        store.migrate().await.expect("migrations apply");
        let mut args = vec![
            "--url".to_owned(),
            database_url(),
            "--schema".to_owned(),
            schema.clone(),
        ];
        if let Some(prefix) = prefix {
            args.extend(["--prefix".to_owned(), prefix.to_owned()]);
        }
        Db {
            zart: Zart::from_backend(&store),
            args,
            place: Place::Postgres { pool, schema },
        }
    }

    /// Runs `zart <args> <db args>` and waits for it.
    pub async fn zart(&self, args: &[&str]) -> Run {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(self.args.iter().cloned());
        run(all).await
    }

    /// Drops the schema or deletes the file.
    pub async fn cleanup(self) {
        match self.place {
            Place::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Place::Postgres { pool, schema } => {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA \"{schema}\" CASCADE"
                )))
                .execute(&pool)
                .await;
                pool.close().await;
            }
        }
    }
}

/// `zart serve` over a test's store, killed and reaped when dropped (also when the test
/// fails).
pub struct Served {
    child: std::process::Child,
    /// Where it listens, `127.0.0.1:<port>`.
    pub address: String,
    /// The token in the link it printed: the one it made, or a placeholder when given one.
    pub token: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        // It serves until stopped; an error here means it is gone already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Db {
    /// Starts `zart serve <args>` on a free loopback port over this store, and waits for
    /// the link it prints.
    pub async fn serve(&self, args: &[&str]) -> Served {
        use std::io::{BufRead, BufReader};
        let mut all = vec!["serve", "--bind", "127.0.0.1:0"];
        all.extend(args);
        let mut child = Command::new(env!("CARGO_BIN_EXE_zart"))
            .args(all)
            .args(&self.args)
            .env_remove("DATABASE_URL")
            .env_remove("ZART_ADMIN_TOKEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("zart serve starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut served = Served {
            child,
            address: String::new(),
            token: String::new(),
        };
        let link = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find(|line| line.starts_with("open http://"))
        })
        .await
        .expect("joined")
        .expect("it prints the link");
        let (address, token) = link
            .trim_start_matches("open http://")
            .split_once("/?token=")
            .expect("address and token");
        served.address = address.to_owned();
        served.token = token.to_owned();
        served
    }
}

pub async fn pg_pool() -> PgPool {
    let pool = PgPoolOptions::new()
        .max_connections(6)
        .connect(&database_url())
        .await
        .expect("PostgreSQL must be reachable at DATABASE_URL for the tests");
    drop_stale_schemas(&pool).await;
    pool
}

async fn drop_stale_schemas(pool: &PgPool) {
    let sql =
        format!("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE '{SCHEMA_PREFIX}%'");
    let schemas: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    for (schema,) in schemas {
        let created = schema
            .strip_prefix(SCHEMA_PREFIX)
            .unwrap_or_default()
            .split('_')
            .next()
            .and_then(|s| s.parse::<i64>().ok());
        if created.is_some_and(|at| now - at > STALE_AFTER_SECS) {
            let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(pool).await;
        }
    }
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "zart failed: {self:?}");
        &self.stdout
    }

    /// Asserts success and parses stdout as one JSON document.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok()).expect("stdout is one JSON document")
    }

    /// Asserts exit `code` with a one-line `zart:` message on stderr, and returns it.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "{self:?}");
        assert!(
            self.stderr.starts_with("zart: ") && self.stderr.lines().count() == 1,
            "one `zart:` line on stderr: {self:?}"
        );
        assert_eq!(self.stdout, "", "nothing on stdout on failure");
        &self.stderr
    }
}

/// Runs `zart <args>` with none of the environment's store settings.
pub async fn run(args: Vec<String>) -> Run {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_zart"))
            .args(&args)
            .env_remove("DATABASE_URL")
            .env_remove("ZART_TABLE_PREFIX")
            .env_remove("ZART_SCHEMA")
            .current_dir(std::env::temp_dir())
            .output()
    })
    .await
    .expect("the run joins")
    .expect("the binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Quick polling, quick heartbeats, a known id.
pub fn worker_config(id: &str) -> WorkerConfig {
    WorkerConfig {
        poll_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_millis(500),
        shutdown_timeout: Duration::from_secs(5),
        worker_id: Some(id.to_owned()),
        ..WorkerConfig::default()
    }
}

/// Polls `check` until it gives a value, or panics after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// The ids in a `tasks` JSON array.
pub fn ids(tasks: &Value) -> Vec<String> {
    tasks
        .as_array()
        .expect("an array of tasks")
        .iter()
        .map(|t| t["task_id"].as_str().expect("a task id").to_owned())
        .collect()
}

/// Runs a test body on a fresh SQLite file and on a fresh PostgreSQL schema.
#[macro_export]
macro_rules! on_each_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::support::Db::sqlite().await;
                super::$name(&db).await;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::support::Db::postgres().await;
                super::$name(&db).await;
                db.cleanup().await;
            }
        }
    )*};
}
