//! The `_in` forms the macros generate take the application's connection on either driver,
//! with the same typed inputs; on PostgreSQL their futures are `Send` (a web handler's are).

use zart::postgres::sqlx::{PgPool, Postgres, Transaction};
use zart::scheduler::StartOptions;
use zart::sqlite::rusqlite;
use zart::TaskError;

#[zart::task]
async fn send_receipt(order_id: i64) -> Result<(), TaskError> {
    let _ = order_id;
    Ok(())
}

#[zart::durable]
async fn checkout(cart: String, cents: u64) -> Result<u64, TaskError> {
    let _ = cart;
    Ok(cents)
}

fn must_be_send<T: Send>(value: T) -> T {
    value
}

async fn on_postgres(pool: PgPool) -> Result<(), Box<dyn std::error::Error>> {
    let mut tx: Transaction<'static, Postgres> = pool.begin().await?;
    must_be_send(send_receipt::schedule_in(&mut *tx, "receipt-1", 1)).await?;
    send_receipt::schedule_at_in(&mut *tx, "receipt-2", chrono::Utc::now(), 2).await?;
    send_receipt::schedule_with_in(&mut tx, "receipt-3", StartOptions::new().priority(5), 3)
        .await?;
    let _started: bool = send_receipt::schedule_if_absent_in(&mut *tx, "receipt-4", 4).await?;
    must_be_send(checkout::start_in(&mut *tx, "checkout-1", "cart".to_owned(), 42)).await?;
    checkout::start_if_absent_in(&mut *tx, "checkout-2", "cart".to_owned(), 42).await?;
    must_be_send(zart::in_transaction::send_event_in(&mut *tx, "checkout-1", "paid", &1)).await?;
    zart::in_transaction::cancel_in(&mut *tx, "checkout-2").await?;
    tx.commit().await?;
    Ok(())
}

async fn on_sqlite(connection: &mut rusqlite::Connection) -> Result<(), Box<dyn std::error::Error>> {
    let tx = connection.transaction()?;
    send_receipt::schedule_in(&tx, "receipt-1", 1).await?;
    checkout::start_in(&*tx, "checkout-1", "cart".to_owned(), 42).await?;
    zart::in_transaction::schedule_now_in(&tx, "raw-1", "raw", serde_json::json!(null)).await?;
    tx.commit()?;
    Ok(())
}

fn main() {
    let _ = on_postgres;
    let _ = on_sqlite;
}
