//! A worker process for the multi-process tests: runs `count` tasks (each records a row in
//! `<schema>.runs`) until none is left pending or running, then shuts down gracefully.
//!
//! Usage: zart-test-worker DATABASE_URL SCHEMA WORKER_NAME

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use zart::{
    CompletionHandler, OnComplete, PostgresTaskScheduler, ScheduledTask, SchedulerTaskError,
    TableNames, TaskInstance, TaskRegistry, Worker, WorkerConfig,
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
        sqlx::query(&self.insert)
            .bind(&instance.task_id)
            .bind(&self.worker)
            .execute(&self.pool)
            .await
            .map_err(SchedulerTaskError::failed)?;
        Ok(OnComplete::done())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(schema), Some(name)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: zart-test-worker DATABASE_URL SCHEMA WORKER_NAME".into());
    };
    let pool = PgPoolOptions::new()
        .max_connections(6)
        .connect(&url)
        .await?;
    let names = TableNames::default().with_schema(&schema)?;
    let tasks = names.tasks();
    let scheduler = Arc::new(PostgresTaskScheduler::with_table_names(pool.clone(), names));
    let mut registry = TaskRegistry::new();
    registry.register(
        "count",
        Count {
            pool: pool.clone(),
            insert: format!("INSERT INTO \"{schema}\".runs (task_id, worker) VALUES ($1, $2)"),
            worker: name.clone(),
        },
    );
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(100),
        max_tasks_per_poll: 50,
        max_concurrent_tasks: 50,
        worker_id: Some(name),
        ..WorkerConfig::default()
    };
    let worker = Arc::new(Worker::new(scheduler, Arc::new(registry), config, vec![]));
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });
    let remaining = format!("SELECT count(*) FROM {tasks} WHERE status IN ('pending', 'running')");
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let left: i64 = sqlx::query_scalar(&remaining).fetch_one(&pool).await?;
        if left == 0 {
            break;
        }
    }
    worker.shutdown().await;
    running.await??;
    Ok(())
}
