//! An application process for the `_in` fault tests: it writes its own row and schedules a
//! task in ONE transaction of its own, then stops before committing, to be killed there.
//!
//! Usage: `zart-test-producer URL SCHEMA TASK_ID`, where URL is a PostgreSQL URL (with
//! SCHEMA the test's schema, its tables under the default prefix) or a `sqlite://` file
//! (SCHEMA ignored, may be empty).
//!
//! In one transaction it inserts TASK_ID into the test's table `orders`, schedules the task
//! `receipt` with id TASK_ID through `receipt::schedule_in`, prints `scheduled TASK_ID` on
//! its standard output, and sleeps with the transaction open until killed. On PostgreSQL
//! its connection's `application_name` is `zart-test-producer SCHEMA`, for the test to find
//! its backend.

use std::io::Write;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use zart::postgres::{PostgresTaskScheduler, TableNames};
use zart::sqlite::rusqlite;
use zart::TaskError;

/// The receipt of an order: the application's task.
#[zart::task]
async fn receipt(order: String) -> Result<(), TaskError> {
    let _ = order;
    Ok(())
}

/// How long it keeps its transaction open: far longer than any test waits to kill it.
const LINGER: Duration = Duration::from_secs(600);

/// Says, once the transaction holds both rows, that it may be killed.
fn announce(task_id: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "scheduled {task_id}")?;
    out.flush()
}

async fn postgres(
    url: &str,
    schema: &str,
    task_id: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let options: PgConnectOptions = url.parse()?;
    let options = options.application_name(&format!("zart-test-producer {schema}"));
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let store = PostgresTaskScheduler::with_table_names(
        pool.clone(),
        TableNames::default().with_schema(schema)?,
    );
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{schema}\".orders (task_id) VALUES ($1)"
    )))
    .bind(task_id)
    .execute(&mut *tx)
    .await?;
    receipt::schedule_in(store.join(&mut tx), task_id, task_id.to_owned()).await?;
    announce(task_id)?;
    tokio::time::sleep(LINGER).await;
    tx.rollback().await?;
    Err("not killed".into())
}

async fn sqlite(path: &str, task_id: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute("INSERT INTO orders (task_id) VALUES (?1)", [task_id])?;
    receipt::schedule_in(&tx, task_id, task_id.to_owned()).await?;
    announce(task_id)?;
    tokio::time::sleep(LINGER).await;
    tx.rollback()?;
    Err("not killed".into())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(schema), Some(task_id)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: zart-test-producer DATABASE_URL SCHEMA TASK_ID".into());
    };
    match url.strip_prefix("sqlite://") {
        Some(path) => sqlite(path, &task_id).await,
        None => postgres(&url, &schema, &task_id).await,
    }
}
