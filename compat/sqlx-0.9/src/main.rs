//! An application on sqlx 0.9 that adds Zart (built on sqlx 0.9 too) and keeps its own pool.
//!
//! It opens its own pool, keeps an order table in a schema of its own, runs Zart on the
//! same database with Zart's tables in that schema, inserts an order and schedules its
//! receipt's task in one transaction of its own pool (`schedule_in`), and has the task
//! record the receipt through the application's pool. Then it checks, with its own pool, that the
//! order row and Zart's stored result agree. Zart is connected by URL and keeps a pool of
//! its own; the application's sqlx is the very crate Zart re-exports as
//! `zart::postgres::sqlx` (checked at compile time below), so one sqlx 0.9 is linked.
//!
//! `DATABASE_URL` names the database (default `postgres://postgres@127.0.0.1:5432/test`).
//! Exits 0 with one line on success, 1 with the reason otherwise; the schema is dropped
//! either way.

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool, Row};
use zart::postgres::{PoolConfig, PostgresTaskScheduler, TableNames};
use zart::{State, TaskError, Zart};

type Failure = Box<dyn Error + Send + Sync>;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const ORDER: i64 = 42;

/// What the task needs from the application: its own pool and where its table is.
struct Shop {
    pool: PgPool,
    orders: String,
}

/// Records the order's receipt in the application's table, through the application's pool,
/// and returns it (Zart stores it as the task's result).
#[zart::task(retry = 3)]
async fn record_receipt(order: i64, shop: State<Shop>) -> Result<String, TaskError> {
    let receipt = format!("receipt-{order}");
    // sqlx 0.9 runs SQL built at run time only once asserted safe: the one name spliced in
    // here (and below) is this program's own schema and table, never input.
    let sql = format!("UPDATE {} SET receipt = $1 WHERE id = $2", shop.orders);
    let updated = sqlx::query(AssertSqlSafe(sql))
        .bind(&receipt)
        .bind(order)
        .execute(&shop.pool)
        .await
        .map_err(|e| TaskError::failed(format!("updating order {order}: {e}")))?;
    if updated.rows_affected() != 1 {
        return Err(TaskError::permanent(format!("no order {order} to record")));
    }
    Ok(receipt)
}

/// Compiles only if the application's sqlx is the crate Zart re-exports: one sqlx 0.9 in
/// the build, so the application could hand Zart its pool (this one keeps them apart).
fn same_sqlx(pool: &PgPool) -> &zart::postgres::sqlx::PgPool {
    pool
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(summary) => {
            println!("compat sqlx 0.9: ok: {summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("compat sqlx 0.9: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<String, Failure> {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&url)
        .await
        .map_err(|e| format!("the application's pool cannot connect to {url}: {e}"))?;
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let schema = format!(
        "compat_sqlx09_{}_{}",
        std::process::id(),
        since_epoch.as_nanos()
    );
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&pool)
        .await
        .map_err(|e| format!("creating schema {schema}: {e}"))?;
    let outcome = exercise(&url, &pool, &schema).await;
    let dropped = sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&pool)
        .await;
    pool.close().await;
    let summary = outcome?;
    dropped.map_err(|e| format!("dropping schema {schema}: {e}"))?;
    Ok(format!("{summary}; schema {schema} dropped"))
}

/// Everything between creating the schema and dropping it.
async fn exercise(url: &str, pool: &PgPool, schema: &str) -> Result<String, Failure> {
    let orders = format!("\"{schema}\".orders");
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {orders} (id bigint PRIMARY KEY, receipt text)"
    )))
    .execute(pool)
    .await?;
    let names = TableNames::default().with_schema(schema)?;
    let tasks_table = names.tasks();
    let store = PostgresTaskScheduler::connect_with(url, PoolConfig::default(), names)
        .await
        .map_err(|e| format!("Zart cannot connect to {url}: {e}"))?;
    let zart = Zart::from_backend(&store);
    let shop = Shop {
        pool: same_sqlx(pool).clone(),
        orders: orders.clone(),
    };
    let worker = zart
        .worker()
        .state(shop)
        .register(zart::registry![record_receipt])
        .start()
        .await?;
    let task_id = format!("order-{ORDER}");
    let waited = async {
        // The order and its receipt's task in one transaction of the application's: the
        // same sqlx, so Zart schedules inside it (`_in`).
        let mut tx = pool.begin().await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {orders} (id) VALUES ($1)"
        )))
        .bind(ORDER)
        .execute(&mut *tx)
        .await?;
        record_receipt::schedule_in(store.join(&mut tx), task_id.clone(), ORDER).await?;
        tx.commit().await?;
        let handle = zart.handle::<record_receipt>(task_id.clone());
        Ok::<_, Failure>(handle.wait(Duration::from_secs(60)).await?)
    }
    .await;
    let stopped = worker.shutdown().await;
    let returned = waited?;
    stopped?;

    // The application's own pool reads both its row and Zart's record of the task.
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT receipt FROM {orders} WHERE id = $1"
    )))
    .bind(ORDER)
    .fetch_one(pool)
    .await?;
    let recorded: Option<String> = row.try_get("receipt")?;
    let task = sqlx::query(AssertSqlSafe(format!(
        "SELECT status, result #>> '{{}}' AS result FROM {tasks_table} WHERE task_id = $1"
    )))
    .bind(&task_id)
    .fetch_one(pool)
    .await?;
    let status: String = task.try_get("status")?;
    let stored: Option<String> = task.try_get("result")?;
    if recorded.as_deref() != Some(returned.as_str())
        || stored.as_deref() != Some(returned.as_str())
        || status != "completed"
    {
        return Err(format!(
            "the records disagree: the order's receipt is {recorded:?}, Zart's task is {status} \
             with result {stored:?}, and the handle returned {returned:?}"
        )
        .into());
    }
    Ok(format!(
        "order {ORDER}'s receipt {returned:?}, written by a Zart task through the application's \
         sqlx 0.9 pool, matches Zart's stored result (task {task_id} {status})"
    ))
}
