//! The macros end to end: a durable checkout with checkpointed steps, a plain task chained
//! from it, a recurring job, shared state, typed handles and a compile-time checked
//! registry.
//!
//! Run it with `cargo run --example quickstart`: with no setting it keeps its tasks in the
//! SQLite file `zart.db` of the current folder; with `DATABASE_URL` set (say
//! `postgres://postgres@127.0.0.1:5432/postgres`) it runs there instead, unchanged.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zart::durable::StepError;
use zart::scheduler::TaskInstance;
use zart::{State, TaskError, Zart};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Order {
    id: String,
    cents: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    order: String,
    payment: String,
    parcels: u32,
}

/// Shared state, registered once on the worker and injected by type.
struct PaymentGateway {
    name: &'static str,
    charges: AtomicU32,
}

#[zart::step(retry = exponential(max_attempts = 5, initial = "200ms", max = "30s"))]
async fn charge_card(order: &Order, gateway: &PaymentGateway) -> Result<String, StepError> {
    gateway.charges.fetch_add(1, Ordering::SeqCst);
    println!(
        "  [charge_card] charging {} cents through {}",
        order.cents, gateway.name
    );
    Ok(format!("pay-{}", order.id))
}

#[zart::step]
async fn reserve_stock(order: &Order) -> Result<u32, StepError> {
    println!("  [reserve_stock] reserving stock for {}", order.id);
    Ok(1 + u32::try_from(order.cents / 10_000).unwrap_or(0))
}

#[zart::step(timeout = "5s")]
async fn notify_warehouse(order: &Order) -> Result<(), StepError> {
    println!("  [notify_warehouse] {} is ready to pack", order.id);
    Ok(())
}

#[zart::durable(retry = 3, deadline = "1h")]
async fn checkout(order: Order, gateway: State<PaymentGateway>) -> Result<Receipt, TaskError> {
    let payment = charge_card(&order, &gateway).await?; // checkpointed: never charged twice
    let (parcels, ()) = tokio::try_join!(reserve_stock(&order), notify_warehouse(&order))?;
    zart::sleep("settle", Duration::from_millis(300)).await?; // durable: the worker is free meanwhile
    Ok(Receipt {
        order: order.id,
        payment,
        parcels,
    })
}

#[zart::task(retry = 3, timeout = "30s")]
async fn send_receipt(receipt: Receipt, task: &TaskInstance) -> Result<(), TaskError> {
    println!(
        "  [send_receipt] attempt {}: receipt for {} ({}, {} parcel(s))",
        task.attempt, receipt.order, receipt.payment, receipt.parcels
    );
    Ok(())
}

#[zart::recurring(every = "1s", id = "heartbeat-{occurrence}", max_runs = 3)]
#[zart::task]
async fn heartbeat(task: &TaskInstance) -> Result<u64, TaskError> {
    let occurrence = task.run_context().map_or(0, |run| run.occurrence);
    println!("  [heartbeat] occurrence {occurrence}");
    Ok(occurrence)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let zart = Zart::connect_default().await?; // DATABASE_URL or ./zart.db; creates or upgrades Zart's tables
    let worker = zart
        .worker()
        .register(zart::registry![checkout, send_receipt, heartbeat])
        .state(PaymentGateway {
            name: "demo-gateway",
            charges: AtomicU32::new(0),
        })
        .start()
        .await?;
    println!("=== Zart quickstart ===");

    let order = Order {
        id: format!("order-{}", Uuid::new_v4()),
        cents: 4_200,
    };
    println!("--- a durable checkout ---");
    let handle = checkout::start(&zart, order.id.clone(), order).await?; // input checked at compile time
    let receipt: Receipt = handle.wait(Duration::from_secs(30)).await?;
    println!("checkout {} completed: {receipt:?}", handle.id());

    println!("--- a plain task, typed ---");
    let sent =
        send_receipt::schedule_now(&zart, format!("receipt-{}", receipt.order), receipt).await?;
    sent.wait(Duration::from_secs(30)).await?;

    println!("--- a recurring task, every second, three times ---");
    // The schedule is stored once: a second run of this example finds it finished.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    for occurrence in 0..3 {
        let run = heartbeat::handle(&zart, format!("heartbeat-{occurrence}"));
        println!("heartbeat-{occurrence}: {:?}", run.status().await?);
    }

    worker.shutdown().await?;
    println!("=== done ===");
    Ok(())
}
