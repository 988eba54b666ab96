//! A worker process for the multi-process tests.
//!
//! Usage: `zart-test-worker DATABASE_URL SCHEMA WORKER_NAME [MODE]`
//!
//! - `count` (default): runs `count` tasks, each recording a row in `<schema>.runs`, until
//!   none is left pending or running; then shuts down gracefully.
//! - `durable`: runs the durable executions `four-steps`, whose steps each record a row in
//!   `<schema>.side_effects` (the third after a 3 s pause, so that a test can kill the
//!   process between the second and the third), and `tx-steps` (a transactional step that
//!   lingers in its transaction, then a plain step that lingers), until no task is left
//!   pending or running.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use zart::durable::{
    step, transactional_step, DurableExecution, StepError, StepOptions, TaskError,
};
use zart::postgres::sqlx::PgConnection;
use zart::postgres::{PostgresTaskScheduler, TableNames};
use zart::scheduler::{
    CompletionHandler, OnComplete, ScheduledTask, SchedulerTaskError, TaskInstance, TaskRegistry,
    Worker, WorkerConfig,
};

struct Count {
    pool: PgPool,
    insert: String,
    worker: String,
}

#[async_trait]
impl ScheduledTask for Count {
    async fn execute(
        &self,
        instance: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        sqlx::query(sqlx::AssertSqlSafe(&*self.insert))
            .bind(&instance.task_id)
            .bind(&self.worker)
            .execute(&self.pool)
            .await
            .map_err(SchedulerTaskError::failed)?;
        Ok(OnComplete::done())
    }
}

struct FourSteps {
    pool: PgPool,
    insert: String,
}

#[async_trait]
impl DurableExecution for FourSteps {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        for name in ["one", "two", "three", "four"] {
            step(name, || async move {
                if name == "three" {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                sqlx::query(sqlx::AssertSqlSafe(&*self.insert))
                    .bind(name)
                    .execute(&self.pool)
                    .await
                    .map_err(StepError::failed)?;
                Ok::<_, StepError>(())
            })
            .await?;
        }
        Ok(json!("all four"))
    }
}

/// A transactional step that writes its side effect, then lingers 2 s inside its
/// transaction; then a plain step that lingers 2 s (two windows to kill the process in).
struct TxSteps {
    insert: String,
}

#[async_trait]
impl DurableExecution for TxSteps {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let insert = self.insert.clone();
        transactional_step(
            "write",
            StepOptions::default(),
            move |tx: &mut PgConnection| {
                let insert = insert.clone();
                Box::pin(async move {
                    sqlx::query(sqlx::AssertSqlSafe(&*insert))
                        .bind("write")
                        .execute(&mut *tx)
                        .await
                        .map_err(StepError::failed)?;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Ok(())
                })
            },
        )
        .await?;
        step("after", || async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<_, StepError>(())
        })
        .await?;
        Ok(json!("written"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(schema), Some(name)) = (args.next(), args.next(), args.next()) else {
        return Err(
            "usage: zart-test-worker DATABASE_URL SCHEMA WORKER_NAME [count|durable]".into(),
        );
    };
    let mode = args.next().unwrap_or_else(|| "count".to_owned());
    let pool = PgPoolOptions::new()
        .max_connections(6)
        .connect(&url)
        .await?;
    let names = TableNames::default().with_schema(&schema)?;
    let tasks = names.tasks();
    let scheduler = Arc::new(PostgresTaskScheduler::with_table_names(pool.clone(), names));
    let mut registry = TaskRegistry::new();
    let mut config = WorkerConfig {
        poll_interval: Duration::from_millis(100),
        max_tasks_per_poll: 50,
        max_concurrent_tasks: 50,
        worker_id: Some(name.clone()),
        ..WorkerConfig::default()
    };
    match mode.as_str() {
        "count" => {
            registry.register(
                "count",
                Count {
                    pool: pool.clone(),
                    insert: format!(
                        "INSERT INTO \"{schema}\".runs (task_id, worker) VALUES ($1, $2)"
                    ),
                    worker: name,
                },
            );
        }
        "durable" => {
            let insert = format!("INSERT INTO \"{schema}\".side_effects (step) VALUES ($1)");
            registry
                .durable(
                    "four-steps",
                    FourSteps {
                        pool: pool.clone(),
                        insert: insert.clone(),
                    },
                )
                .durable("tx-steps", TxSteps { insert });
            // Short leases, so that a killed worker's execution is rescued quickly.
            config.lease_duration = Duration::from_secs(2);
            config.heartbeat_interval = Duration::from_millis(500);
            config.rescue_interval = Duration::from_millis(300);
        }
        other => return Err(format!("unknown mode {other:?}").into()),
    }
    let worker = Arc::new(Worker::new(scheduler, Arc::new(registry), config, vec![]));
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });
    let remaining = format!("SELECT count(*) FROM {tasks} WHERE status IN ('pending', 'running')");
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(&*remaining))
            .fetch_one(&pool)
            .await?;
        if left == 0 {
            break;
        }
    }
    worker.shutdown().await;
    running.await??;
    Ok(())
}
