//! Recurring durable executions, as Zart users know them: three schedules, one per overlap
//! policy, each starting a checkpointed workflow that outlasts its slot.
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

use serde_json::{json, Value};
use tokio::time::sleep;
use zart::durable::{execution_id, step, DurableExecution, StepError, TaskError};
use zart::recurring::{OverlapPolicy, RecurringScheduler};
use zart::{
    DurableScheduler, PostgresScheduler, Recurrence, TableNames, TaskStatus, WorkerBuilder,
};

const SCHEMA: &str = "zart_example_recurring_durable";

/// A workflow of `steps` checkpointed steps of `step_ms` each, printing as it goes.
struct Workflow {
    label: &'static str,
    steps: usize,
    step_ms: u64,
}

#[zart::async_trait]
impl DurableExecution for Workflow {
    type Data = Value;
    type Output = Value;

    async fn run(&self, data: Value) -> Result<Value, TaskError> {
        let run = execution_id().unwrap_or_default();
        println!("  [{}] {run} started ({data})", self.label);
        for n in 1..=self.steps {
            let part = step(&format!("part-{n}"), || async {
                sleep(Duration::from_millis(self.step_ms)).await;
                Ok::<_, StepError>(())
            })
            .await;
            if let Err(StepError::Interrupted(reason)) = &part {
                println!("  [{}] {run} stopped after part {n}: {reason}", self.label);
            }
            part?;
        }
        println!("  [{}] {run} finished", self.label);
        Ok(json!({ "status": "ok", "parts": self.steps }))
    }
}

// The three workflows differ only in their settings; each is its own type so that
// `register_recurring_durable::<T>` can name it.
macro_rules! workflow {
    ($name:ident, $label:expr, $steps:expr, $step_ms:expr) => {
        struct $name;

        #[zart::async_trait]
        impl DurableExecution for $name {
            type Data = Value;
            type Output = Value;

            async fn run(&self, data: Value) -> Result<Value, TaskError> {
                Workflow {
                    label: $label,
                    steps: $steps,
                    step_ms: $step_ms,
                }
                .run(data)
                .await
            }
        }
    };
}

workflow!(InventorySnapshot, "inventory-snapshot", 3, 1000);
workflow!(ConfigRefresh, "config-refresh", 3, 1000);
workflow!(AuditWindow, "audit-window", 2, 1250);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let pool = sqlx::PgPool::connect(&url).await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .execute(&pool)
        .await?;
    let pg = PostgresScheduler::with_table_names(
        pool.clone(),
        TableNames::default().with_schema(SCHEMA)?,
    );
    pg.migrate().await?;

    let every = |seconds: u32| Recurrence::Cron {
        expression: format!("*/{seconds} * * * * *"),
        timezone: "UTC".into(),
    };
    let worker = WorkerBuilder::from_backend(&pg)
        .register_durable_task("inventory-snapshot", InventorySnapshot)
        .register_durable_task("config-refresh", ConfigRefresh)
        .register_durable_task("audit-window", AuditWindow)
        .register_recurring_durable::<InventorySnapshot>(
            "inventory-snapshot",
            "snapshot-{occurrence}",
            every(2),
            OverlapPolicy::SkipIfRunning,
            json!({ "warehouse": "EU-1" }),
        )
        .register_recurring_durable::<ConfigRefresh>(
            "config-refresh",
            "refresh-{occurrence}",
            every(2),
            OverlapPolicy::CancelAndRestart,
            json!({ "source": "s3://config" }),
        )
        .register_recurring_durable::<AuditWindow>(
            "audit-window",
            "audit-{occurrence}",
            every(1),
            OverlapPolicy::AlwaysStart,
            json!({ "window": "1s" }),
        )
        .build();
    let worker = std::sync::Arc::new(worker);
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });

    println!("=== Zart Recurring Durable Executions Example ===");
    println!("\n--- 8 seconds of three schedules ---");
    sleep(Duration::from_secs(8)).await;

    let durable = DurableScheduler::from_backend(&pg);
    for id in ["inventory-snapshot", "config-refresh", "audit-window"] {
        durable.stop_recurring(id).await?;
    }
    println!("\n--- schedules stopped; waiting for the runs in flight ---");
    let snapshot = durable
        .wait("snapshot-0", Duration::from_secs(30), None)
        .await?;
    println!(
        "  snapshot-0: {:?}, result {}",
        snapshot.status,
        snapshot.result.unwrap_or_default()
    );
    sleep(Duration::from_secs(3)).await;
    worker.shutdown().await;
    running.await??;

    println!("\n--- What each policy did ---");
    for (id, policy) in [
        ("inventory-snapshot", "SkipIfRunning"),
        ("config-refresh", "CancelAndRestart"),
        ("audit-window", "AlwaysStart"),
    ] {
        let history = pg.history(id, 100).await?;
        let started = history.iter().filter(|r| r.decision == "started").count();
        let skipped = history
            .iter()
            .filter(|r| r.reason.as_deref() == Some("overlap"))
            .count();
        let cancelled = history
            .iter()
            .filter(|r| r.status == Some(TaskStatus::Cancelled))
            .count();
        let occurrence: Option<String> = sqlx::query_scalar(&format!(
            "SELECT metadata->>'occurrence' FROM {SCHEMA}.zart_tasks WHERE task_id = '__zart_recurring__:{id}'"
        ))
        .fetch_one(&pool)
        .await?;
        println!(
            "  {id} ({policy}): {started} started, {skipped} skipped while running, {cancelled} cancelled; occurrence counter {}",
            occurrence.unwrap_or_default()
        );
    }
    let overlapped = sqlx::query_scalar::<_, i64>(&format!(
        "SELECT count(*) FROM {SCHEMA}.zart_tasks a JOIN {SCHEMA}.zart_tasks b
           ON a.task_name = 'audit-window' AND b.task_name = 'audit-window' AND a.task_id < b.task_id
          AND a.started_at < b.finished_at AND b.started_at < a.finished_at"
    ))
    .fetch_one(&pool)
    .await?;
    println!("  audit-window runs that overlapped another: {overlapped} pair(s)");
    println!("\n=== Done ===");
    Ok(())
}
