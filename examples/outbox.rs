//! README.md's "Transactional enqueue" example, as written there (the build script copies
//! it in), run on PostgreSQL: an order placed in one transaction with its receipt's task,
//! which a worker then runs. Needs `DATABASE_URL` (a `postgres://` URL); it works in a
//! schema of its own, which it drops when done.

use std::time::Duration;

use zart::postgres::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use zart::postgres::PostgresTaskScheduler;
use zart::Zart;

include!(concat!(env!("OUT_DIR"), "/outbox.rs"));

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => {
            return Err(
                "set DATABASE_URL to a PostgreSQL database: the outbox example uses \
                        PostgreSQL's transactions from sqlx"
                    .into(),
            )
        }
    };
    // The orders table and Zart's tables (under their default names) in a schema of the
    // example's own, found through the connections' search path.
    let schema = format!("zart_outbox_{}", std::process::id());
    let options: PgConnectOptions = url.parse()?;
    let pool = PgPoolOptions::new()
        .connect_with(options.options([("search_path", schema.as_str())]))
        .await?;
    let ddl = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; \
         CREATE TABLE IF NOT EXISTS {schema}.orders (id bigserial PRIMARY KEY, cents bigint NOT NULL)"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&pool)
        .await?;
    let placed = run(&pool).await;
    let drop = format!("DROP SCHEMA {schema} CASCADE");
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
        .execute(&pool)
        .await?;
    placed
}

async fn run(pool: &PgPool) -> Result<(), Box<dyn std::error::Error>> {
    let store = PostgresTaskScheduler::new(pool.clone());
    store.migrate().await?;
    let zart = Zart::from_backend(&store);
    let worker = zart
        .worker()
        .register(zart::registry![email_receipt])
        .start()
        .await?;
    let order_id = place_order(pool, 4200).await?;
    zart.handle::<email_receipt>(format!("receipt-{order_id}"))
        .wait(Duration::from_secs(30))
        .await?;
    println!("order {order_id} placed, and its receipt's task completed");
    worker.shutdown().await?;
    Ok(())
}
