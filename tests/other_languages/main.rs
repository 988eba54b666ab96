//! The producer contract for other languages: the SQL functions of migration 12, called
//! from psql, Python (psycopg) and Node (node-postgres) against a real PostgreSQL, each test
//! in its own schema; what they write compared with what the Rust driver writes; and the
//! examples of docs/other-languages.md, run as the page shows them.

mod conformance;
mod docs;
mod psql;
mod python;
mod sqlite;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::postgres::PgListener;
use zart_tests::{database_url, TestDb};

/// A poll interval so long that only a notification can explain a prompt start.
const NO_POLLING: Duration = Duration::from_secs(60);

/// The folder of this test target (the Python producer, the Node package).
fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("other_languages")
}

/// An error a statement raised: its SQLSTATE and message.
#[derive(Debug, PartialEq, Eq)]
struct SqlError {
    sqlstate: String,
    message: String,
}

/// Runs `script` through the `psql` binary, as a file of statements, with the test's
/// schema as its search path (as a producer's connection would set it, by `PGOPTIONS`),
/// stopping at the first error. Returns what it printed (unaligned, tuples only), or the
/// error.
async fn psql(db: &TestDb, script: &str) -> Result<String, SqlError> {
    let output = run_with_schema(
        db,
        tokio::process::Command::new("psql")
            .arg(database_url())
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
            .args(["-v", "VERBOSITY=verbose", "-f", "-"]),
        script,
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned());
    }
    // Verbose errors read `ERROR:  <SQLSTATE>: <message>`.
    let line = stderr
        .lines()
        .find_map(|line| line.split_once("ERROR:  ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("psql failed without an error line: {stderr}"));
    let (sqlstate, message) = line
        .split_once(": ")
        .unwrap_or_else(|| panic!("no SQLSTATE in {line:?}"));
    Err(SqlError {
        sqlstate: sqlstate.to_owned(),
        message: message.to_owned(),
    })
}

/// [`psql`], which must succeed.
async fn psql_ok(db: &TestDb, script: &str) -> String {
    psql(db, script)
        .await
        .unwrap_or_else(|e| panic!("{script}: {e:?}"))
}

/// Runs `command`, `input` on its standard input, with `DATABASE_URL` and, through
/// `PGOPTIONS` (which libpq and node-postgres read), the test's schema as its search path.
async fn run_with_schema(
    db: &TestDb,
    command: &mut tokio::process::Command,
    input: &str,
) -> Output {
    command
        .env("DATABASE_URL", database_url())
        .env("PGOPTIONS", format!("-c search_path={}", db.pg().schema));
    run(command, input).await
}

/// Runs `command` with `input` on its standard input; what it printed, and how it ended.
async fn run(command: &mut tokio::process::Command, input: &str) -> Output {
    use tokio::io::AsyncWriteExt;
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): the tests of other languages need it on the PATH")
        });
    let mut stdin = child.stdin.take().expect("a piped stdin");
    stdin
        .write_all(input.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("writing to {program}: {e}"));
    drop(stdin);
    child
        .wait_with_output()
        .await
        .unwrap_or_else(|e| panic!("waiting for {program}: {e}"))
}

/// Every column of task `id` but its id and creation time, as JSON: what two ways of
/// scheduling must write alike.
async fn row(db: &TestDb, id: &str) -> Value {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT to_jsonb(t) - 'task_id' - 'created_at' FROM {} t WHERE task_id = $1",
        db.tasks_table()
    )))
    .bind(id)
    .fetch_one(&db.pg().pool)
    .await
    .unwrap_or_else(|e| panic!("task {id}: {e}"))
}

/// A listener on the channel the store's workers wake on.
async fn listen(db: &TestDb) -> PgListener {
    let mut listener = PgListener::connect(&database_url())
        .await
        .expect("listening connection");
    listener
        .listen(db.pg().store.notify_channel())
        .await
        .expect("LISTEN");
    listener
}

/// The payload of the next notification, or `None` within `within`.
async fn next_payload(listener: &mut PgListener, within: Duration) -> Option<String> {
    tokio::time::timeout(within, listener.recv())
        .await
        .ok()
        .map(|heard| heard.expect("listening").payload().to_owned())
}

/// Waits until the store's workers listen for notifications (and a moment more, for their
/// first claim to find nothing): from then on only a notification starts work promptly.
/// Called before the test [`listen`]s itself, which it would take for a worker.
async fn wait_until_listening(db: &TestDb) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE query ILIKE 'LISTEN%' AND query LIKE '%' || $1 || '%'",
        )
        .bind(db.pg().store.notify_channel())
        .fetch_one(&db.pg().pool)
        .await
        .expect("reading pg_stat_activity");
        if listening > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the worker never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}
