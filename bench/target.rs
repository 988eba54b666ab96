//! What the benchmark runs against: a driver, each scenario on a fresh store of its own
//! (a PostgreSQL schema, a SQLite file), and the raw ceiling its figures are divided by.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use sqlx::PgPool;
use zart::postgres::{PostgresTaskScheduler, TableNames};
use zart::sqlite::{SqliteOptions, SqliteTaskScheduler, Synchronous};
use zart::store::Store;

use crate::BoxError;

/// A driver under measurement.
pub enum Driver {
    Postgres {
        pool: PgPool,
        url: String,
    },
    Sqlite {
        dir: PathBuf,
        synchronous: Synchronous,
    },
}

/// One scenario's store, removed again by [`Bench::remove`].
pub struct Bench {
    pub scheduler: Arc<dyn Store>,
    place: Place,
}

/// Where a scenario's store lives.
pub enum Place {
    Schema { pool: PgPool, schema: String },
    File(PathBuf),
}

impl Driver {
    /// The prefix of this driver's figures in its ceiling's output.
    pub fn ceiling_prefix(&self) -> &'static str {
        match self {
            Driver::Postgres { .. } => "",
            Driver::Sqlite {
                synchronous: Synchronous::Normal,
                ..
            } => "sqlite_",
            Driver::Sqlite {
                synchronous: Synchronous::Full,
                ..
            } => "sqlite_syncfull_",
        }
    }

    /// The driver's name in the report.
    pub fn label(&self) -> &'static str {
        match self {
            Driver::Postgres { .. } => "PostgreSQL",
            Driver::Sqlite {
                synchronous: Synchronous::Normal,
                ..
            } => "SQLite (synchronous=NORMAL, the default)",
            Driver::Sqlite {
                synchronous: Synchronous::Full,
                ..
            } => "SQLite (synchronous=FULL)",
        }
    }

    /// A fresh, migrated store for scenario `label`.
    pub async fn bench(&self, label: &str) -> Result<Bench, BoxError> {
        match self {
            Driver::Postgres { pool, .. } => {
                let schema = format!("zart_bench_{label}_{}", std::process::id());
                sqlx::query(sqlx::AssertSqlSafe(&*format!(
                    "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                )))
                .execute(pool)
                .await?;
                let names = TableNames::default().with_schema(&schema)?;
                let store = PostgresTaskScheduler::with_table_names(pool.clone(), names);
                store.migrate().await?;
                Ok(Bench {
                    scheduler: Arc::new(store),
                    place: Place::Schema {
                        pool: pool.clone(),
                        schema,
                    },
                })
            }
            Driver::Sqlite { dir, synchronous } => {
                // The scenario before wrote up to a million rows to a file now removed;
                // the kernel still writing them back would slow this one.
                crate::settle();
                let path = dir.join(format!("{label}-{}.db", std::process::id()));
                remove_file_and_logs(&path);
                let options = SqliteOptions::file(&path).with_synchronous(*synchronous);
                let store = SqliteTaskScheduler::connect_with(options).await?;
                Ok(Bench {
                    scheduler: Arc::new(store),
                    place: Place::File(path),
                })
            }
        }
    }

    /// The raw ceiling's figures, measured now: `shared/bench/sql-limit/run.sh` for
    /// PostgreSQL, `shared/bench/sqlite-limit/run.sh` (both `synchronous` settings) for
    /// SQLite.
    pub fn ceiling(&self, secs: u64) -> Result<HashMap<String, f64>, BoxError> {
        match self {
            Driver::Postgres { url, .. } => run_ceiling("ZART_SQL_LIMIT", "sql-limit", secs, url),
            Driver::Sqlite { .. } => run_ceiling("ZART_SQLITE_LIMIT", "sqlite-limit", secs, ""),
        }
    }
}

impl Bench {
    /// Where the store lives, for a scenario that fills it by SQL.
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// Refreshes the planner's statistics, as a long-running database would have them.
    pub async fn analyze(&self) -> Result<(), BoxError> {
        match &self.place {
            Place::Schema { pool, schema } => {
                sqlx::query(sqlx::AssertSqlSafe(&*format!(
                    "VACUUM ANALYZE \"{schema}\".zart_tasks"
                )))
                .execute(pool)
                .await?;
            }
            Place::File(path) => {
                let conn = zart::sqlite::rusqlite::Connection::open(path)?;
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                conn.execute_batch("ANALYZE")?;
            }
        }
        Ok(())
    }

    /// Removes the scenario's schema or file.
    pub async fn remove(self) -> Result<(), BoxError> {
        match self.place {
            Place::Schema { pool, schema } => {
                sqlx::query(sqlx::AssertSqlSafe(&*format!(
                    "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                )))
                .execute(&pool)
                .await?;
            }
            Place::File(path) => {
                drop(self.scheduler);
                remove_file_and_logs(&path);
            }
        }
        Ok(())
    }
}

fn remove_file_and_logs(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a ceiling script (`$env`, or `shared/bench/<folder>/run.sh` beside the workspace)
/// and parses its `name value` lines.
fn run_ceiling(
    env: &str,
    folder: &str,
    secs: u64,
    url: &str,
) -> Result<HashMap<String, f64>, BoxError> {
    let script = std::env::var(env)
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join(format!("../shared/bench/{folder}/run.sh")));
    let mut command = Command::new("bash");
    command.arg(&script).arg(secs.to_string());
    if !url.is_empty() {
        command.env("DATABASE_URL", url);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let mut figures = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some((name, value)) = line.split_once(' ') {
            if let Ok(value) = value.trim().parse::<f64>() {
                figures.insert(name.to_owned(), value);
            }
        }
    }
    Ok(figures)
}
