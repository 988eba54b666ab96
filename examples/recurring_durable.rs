//! Recurring durable executions, declared with `#[recurring]` on `#[durable]`: three
//! schedules, one per overlap policy, each starting a checkpointed workflow that outlasts
//! its slot.
//!
//! | scenario           | overlap policy     | what you see                              |
//! |--------------------|--------------------|-------------------------------------------|
//! | Inventory Snapshot | `SkipIfRunning`    | the next tick is skipped while one runs   |
//! | Config Refresh     | `CancelAndRestart` | the stale run is cancelled, a fresh starts |
//! | Audit Window       | `AlwaysStart`      | runs overlap in parallel                  |
//!
//! Run it with `cargo run --example recurring_durable` (uses `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; works in the schema
//! `zart_example_recurring_durable`, recreated on every run).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::sleep;
use zart::durable::{execution_id, StepError, TaskError};
use zart::postgres::{PostgresTaskScheduler as PostgresScheduler, TableNames};
use zart::scheduler::TaskStatus;
use zart::Zart;

const SCHEMA: &str = "zart_example_recurring_durable";

/// What each workflow returns.
#[derive(Debug, Serialize, Deserialize)]
struct Summary {
    status: String,
    parts: usize,
}

/// One checkpointed part of a workflow: `ms` of work.
#[zart::step]
async fn part(ms: u64) -> Result<(), StepError> {
    sleep(Duration::from_millis(ms)).await;
    Ok(())
}

/// `parts` checkpointed parts of `ms` each, printing as it goes.
async fn workflow(label: &str, input: &str, parts: usize, ms: u64) -> Result<Summary, TaskError> {
    let run = execution_id().unwrap_or_default();
    println!("  [{label}] {run} started ({input})");
    for n in 1..=parts {
        let done = part(ms).await;
        if let Err(StepError::Interrupted(reason)) = &done {
            println!("  [{label}] {run} stopped after part {n}: {reason}");
        }
        done?;
    }
    println!("  [{label}] {run} finished");
    Ok(Summary {
        status: "ok".into(),
        parts,
    })
}

/// Every two seconds; a run takes three, so the slot that finds one running is skipped.
#[zart::recurring(
    cron = "*/2 * * * * *",
    id = "snapshot-{occurrence}",
    overlap = skip_if_running,
    input = "EU-1".to_owned()
)]
#[zart::durable(name = "inventory-snapshot")]
async fn inventory_snapshot(warehouse: String) -> Result<Summary, TaskError> {
    workflow("inventory-snapshot", &warehouse, 3, 1000).await
}

/// Every two seconds; a run takes three, so a new slot cancels the stale run and starts
/// afresh.
#[zart::recurring(
    cron = "*/2 * * * * *",
    id = "refresh-{occurrence}",
    overlap = cancel_and_restart,
    input = "s3://config".to_owned()
)]
#[zart::durable(name = "config-refresh")]
async fn config_refresh(source: String) -> Result<Summary, TaskError> {
    workflow("config-refresh", &source, 3, 1000).await
}

/// Every second; a run takes 2.5, so runs overlap.
#[zart::recurring(
    cron = "* * * * * *",
    id = "audit-{occurrence}",
    overlap = always_start,
    input = "1s".to_owned()
)]
#[zart::durable(name = "audit-window")]
async fn audit_window(window: String) -> Result<Summary, TaskError> {
    workflow("audit-window", &window, 2, 1250).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let pool = zart::postgres::sqlx::PgPool::connect(&url).await?;
    zart::postgres::sqlx::query(zart::postgres::sqlx::AssertSqlSafe(&*format!(
        "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"
    )))
    .execute(&pool)
    .await?;
    let pg = PostgresScheduler::with_table_names(
        pool.clone(),
        TableNames::default().with_schema(SCHEMA)?,
    );
    pg.migrate().await?;

    let zart = Zart::from_backend(&pg);
    let worker = zart
        .worker()
        .register(zart::registry![
            inventory_snapshot,
            config_refresh,
            audit_window
        ])
        .start()
        .await?;

    println!("=== Zart Recurring Durable Executions Example ===");
    println!("\n--- 8 seconds of three schedules ---");
    sleep(Duration::from_secs(8)).await;

    for id in ["inventory-snapshot", "config-refresh", "audit-window"] {
        zart.executions().stop_recurring(id).await?;
    }
    println!("\n--- schedules stopped; waiting for the runs in flight ---");
    let snapshot = inventory_snapshot::handle(&zart, "snapshot-0")
        .wait(Duration::from_secs(30))
        .await?;
    println!("  snapshot-0: {snapshot:?}");
    sleep(Duration::from_secs(3)).await;
    worker.shutdown().await?;

    println!("\n--- What each policy did ---");
    for (id, policy) in [
        ("inventory-snapshot", "SkipIfRunning"),
        ("config-refresh", "CancelAndRestart"),
        ("audit-window", "AlwaysStart"),
    ] {
        let history = zart.schedules().history(id, 100).await?;
        let started = history.iter().filter(|r| r.decision == "started").count();
        let skipped = history
            .iter()
            .filter(|r| r.reason.as_deref() == Some("overlap"))
            .count();
        let cancelled = history
            .iter()
            .filter(|r| r.status == Some(TaskStatus::Cancelled))
            .count();
        let occurrence: Option<String> = zart::postgres::sqlx::query_scalar(zart::postgres::sqlx::AssertSqlSafe(&*format!(
            "SELECT metadata->>'occurrence' FROM {SCHEMA}.zart_tasks WHERE task_id = '__zart_recurring__:{id}'"
        )))
        .fetch_one(&pool)
        .await?;
        println!(
            "  {id} ({policy}): {started} started, {skipped} skipped while running, {cancelled} cancelled; occurrence counter {}",
            occurrence.unwrap_or_default()
        );
    }
    let overlapped = zart::postgres::sqlx::query_scalar::<_, i64>(zart::postgres::sqlx::AssertSqlSafe(&*format!(
        "SELECT count(*) FROM {SCHEMA}.zart_tasks a JOIN {SCHEMA}.zart_tasks b
           ON a.task_name = 'audit-window' AND b.task_name = 'audit-window' AND a.task_id < b.task_id
          AND a.started_at < b.finished_at AND b.started_at < a.finished_at"
    )))
    .fetch_one(&pool)
    .await?;
    println!("  audit-window runs that overlapped another: {overlapped} pair(s)");
    println!("\n=== Done ===");
    Ok(())
}
