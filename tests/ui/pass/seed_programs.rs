//! The programs of Zart's earlier documents (recurring durable executions, deployment), as
//! they were written: only their `use` lines differ. They must keep compiling.

use std::time::Duration;

use serde_json::json;
use zart::postgres::{PoolConfig, PostgresTaskScheduler as PostgresScheduler, TableNames};
use zart::prelude::*;
use zart::OverlapPolicy;

struct FetchInventoryStep;

#[async_trait::async_trait]
impl zart::durable::DurableStep for FetchInventoryStep {
    type Output = u32;
    fn name(&self) -> &str {
        "fetch-inventory"
    }
    async fn run(&self) -> Result<u32, StepError> {
        Ok(7)
    }
}

struct NightlyReport;

#[async_trait::async_trait]
impl DurableExecution for NightlyReport {
    type Data = serde_json::Value;
    type Output = serde_json::Value;
    async fn run(&self, _data: Self::Data) -> Result<Self::Output, TaskError> {
        zart::require(FetchInventoryStep).await?;
        Ok(json!({ "status": "ok" }))
    }
}

/// Recurring durable executions.
async fn recurring(pg: PostgresScheduler) -> Result<(), Box<dyn std::error::Error>> {
    let worker = WorkerBuilder::from_backend(&pg)
        .register_durable_task("nightly-report", NightlyReport)
        .register_recurring_durable::<NightlyReport>(
            "nightly-report",
            "report-{occurrence}",
            Recurrence::FixedDelay { duration_ms: 5_000 },
            OverlapPolicy::SkipIfRunning,
            json!({ "warehouse": "EU-1" }),
        )
        .build();
    let durable = DurableScheduler::from_backend(&pg);
    let record = durable
        .wait("report-3", Duration::from_secs(30), None)
        .await?;
    println!("Status: {:?}", record.status);
    println!("Result: {:?}", record.result);
    durable.stop_recurring("nightly-report").await?;
    drop(worker);
    Ok(())
}

/// Deployment: connecting, pool settings and table names.
async fn deployment(database_url: String) -> Result<(), Box<dyn std::error::Error>> {
    let scheduler = PostgresScheduler::connect(&std::env::var("DATABASE_URL")?).await?;
    let pooled = PostgresScheduler::connect_with_pool(
        &database_url,
        PoolConfig {
            max_connections: 20,
            min_connections: 2,
            acquire_timeout: Duration::from_secs(30),
        },
    )
    .await?;
    let pool = pooled.pool().clone();
    let names = TableNames::with_prefix("myapp_")?;
    let _prefixed = PostgresScheduler::with_table_names(pool.clone(), names);
    let names = TableNames::default().with_schema("tenant_a")?;
    let _in_schema = PostgresScheduler::with_table_names(pool.clone(), names);
    let names = TableNames::with_prefix("svc_")?.with_schema("myschema")?;
    let _both = PostgresScheduler::with_table_names(pool.clone(), names);
    let names = TableNames::from_env_or_default()?;
    let _from_env = PostgresScheduler::with_table_names(pool, names);
    let _config = WorkerConfig {
        shutdown_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    drop(scheduler);
    Ok(())
}

fn main() {
    let _ = (recurring, deployment);
}
