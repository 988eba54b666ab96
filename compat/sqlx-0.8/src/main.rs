//! An application on sqlx 0.8.6 that adds Zart (built on sqlx 0.9) and keeps its own pool.
//!
//! It opens its own pool, keeps an order table in a schema of its own, runs Zart on the
//! same database with Zart's tables in that schema, and has a Zart task record the order's
//! receipt through the application's pool. Then it checks, with its own pool, that the
//! order row and Zart's stored result agree. Zart is connected by URL: its API takes sqlx
//! 0.9 types (`zart::postgres::sqlx`), which a sqlx 0.8.6 pool is not.
//!
//! `DATABASE_URL` names the database (default `postgres://postgres@127.0.0.1:5432/test`).
//! Exits 0 with one line on success, 1 with the reason otherwise; the schema is dropped
//! either way.

use std::any::TypeId;
use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use zart::postgres::{PoolConfig, PostgresTaskScheduler, TableNames};
use zart::{State, TaskError, Zart};

type Failure = Box<dyn Error + Send + Sync>;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const ORDER: i64 = 42;

/// What the task needs from the application: its sqlx 0.8.6 pool and where its table is.
struct Shop {
    pool: PgPool,
    orders: String,
}

/// Records the order's receipt in the application's table, through the application's pool,
/// and returns it (Zart stores it as the task's result).
#[zart::task(retry = 3)]
async fn record_receipt(order: i64, shop: State<Shop>) -> Result<String, TaskError> {
    let receipt = format!("receipt-{order}");
    let sql = format!("UPDATE {} SET receipt = $1 WHERE id = $2", shop.orders);
    let updated = sqlx::query(&sql)
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

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(summary) => {
            println!("compat sqlx 0.8.6: ok: {summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("compat sqlx 0.8.6: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<String, Failure> {
    // Two sqlx versions in one binary: the application's 0.8.6 and Zart's 0.9.
    if TypeId::of::<sqlx::PgPool>() == TypeId::of::<zart::postgres::sqlx::PgPool>() {
        return Err(
            "the application's sqlx and Zart's are the same crate: not a 0.8.6 + 0.9 build".into(),
        );
    }
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
        "compat_sqlx08_{}_{}",
        std::process::id(),
        since_epoch.as_nanos()
    );
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&pool)
        .await
        .map_err(|e| format!("creating schema {schema}: {e}"))?;
    let outcome = exercise(&url, &pool, &schema).await;
    let dropped = sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
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
    sqlx::query(&format!(
        "CREATE TABLE {orders} (id bigint PRIMARY KEY, receipt text)"
    ))
    .execute(pool)
    .await?;
    sqlx::query(&format!("INSERT INTO {orders} (id) VALUES ($1)"))
        .bind(ORDER)
        .execute(pool)
        .await?;

    let names = TableNames::default().with_schema(schema)?;
    let tasks_table = names.tasks();
    let store = PostgresTaskScheduler::connect_with(url, PoolConfig::default(), names)
        .await
        .map_err(|e| format!("Zart cannot connect to {url}: {e}"))?;
    let zart = Zart::from_backend(&store);
    let shop = Shop {
        pool: pool.clone(),
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
        let handle = record_receipt::schedule_now(&zart, task_id.clone(), ORDER).await?;
        Ok::<_, Failure>(handle.wait(Duration::from_secs(60)).await?)
    }
    .await;
    let stopped = worker.shutdown().await;
    let returned = waited?;
    stopped?;

    // The application's own pool reads both its row and Zart's record of the task.
    let row = sqlx::query(&format!("SELECT receipt FROM {orders} WHERE id = $1"))
        .bind(ORDER)
        .fetch_one(pool)
        .await?;
    let recorded: Option<String> = row.try_get("receipt")?;
    let task = sqlx::query(&format!(
        "SELECT status, result #>> '{{}}' AS result FROM {tasks_table} WHERE task_id = $1"
    ))
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
         sqlx 0.8.6 pool, matches Zart's stored result (task {task_id} {status})"
    ))
}
