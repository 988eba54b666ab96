//! `zart-chaos worker`: one worker process, with default settings, whose handlers record
//! every run in the ledger.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use zart::durable::{step, DurableExecution, StepError, TaskError};
use zart::observe::{TaskEvent, TaskObserver};
use zart::postgres::PostgresTaskScheduler;
use zart::scheduler::{
    CompletionHandler, OnComplete, ScheduledTask, SchedulerTaskError, TaskInstance, TaskRegistry,
    Worker, WorkerConfig,
};

use crate::ledger::{Entry, Ledger};
use crate::BoxError;

/// The plain task's name.
pub const JOB: &str = "job";
/// The durable execution's name: three steps.
pub const FLOW: &str = "flow";
/// The flow's steps.
pub const STEPS: [&str; 3] = ["reserve", "charge", "ship"];

/// Runs a worker on `app_url` until its standard input closes.
pub async fn run(
    app_url: &str,
    ledger_url: &str,
    run_id: &str,
    worker_id: &str,
) -> Result<(), BoxError> {
    let ledger_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(ledger_url)
        .await?;
    let ledger = Ledger::start(ledger_pool, run_id.to_owned(), worker_id.to_owned());
    let config = WorkerConfig {
        worker_id: Some(worker_id.to_owned()),
        ..WorkerConfig::default()
    };
    serve(app_url, ledger, config).await
}

/// Runs a worker with `config` on `app_url`, recording in `ledger`, until its standard
/// input closes.
pub async fn serve(app_url: &str, ledger: Ledger, config: WorkerConfig) -> Result<(), BoxError> {
    let store = Arc::new(PostgresTaskScheduler::connect(app_url).await?);
    let mut registry = TaskRegistry::new();
    registry
        .register(
            JOB,
            Job {
                ledger: ledger.clone(),
            },
        )
        .durable(
            FLOW,
            Flow {
                ledger: ledger.clone(),
            },
        );
    let observers: Vec<Arc<dyn TaskObserver>> = vec![Arc::new(Refusals(ledger))];
    let worker = Arc::new(Worker::new(store, Arc::new(registry), config, observers));
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });
    // Until the program closes our standard input (or kills us).
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
        .await??;
    worker.shutdown().await;
    running.await??;
    Ok(())
}

struct Job {
    ledger: Ledger,
}

#[async_trait]
impl ScheduledTask for Job {
    async fn execute(
        &self,
        instance: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        self.ledger
            .record(Entry {
                kind: "task",
                task_id: instance.task_id.clone(),
                step: None,
                attempt: i32::try_from(instance.attempt).ok(),
                token: Some(instance.lease_token),
            })
            .await;
        Ok(OnComplete::done())
    }
}

struct Flow {
    ledger: Ledger,
}

#[async_trait]
impl DurableExecution for Flow {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let id = zart::durable::execution_id().unwrap_or_default();
        for name in STEPS {
            let entry = Entry {
                kind: "step",
                task_id: id.clone(),
                step: Some(name.to_owned()),
                attempt: None,
                token: None,
            };
            step(name, || {
                let (ledger, entry) = (self.ledger.clone(), entry.clone());
                async move {
                    ledger.record(entry).await;
                    Ok::<_, StepError>(())
                }
            })
            .await?;
        }
        Ok(Value::Null)
    }
}

/// Records each outcome the store refused because the attempt's lease had passed on.
struct Refusals(Ledger);

impl TaskObserver for Refusals {
    fn on_event(&self, event: &TaskEvent) {
        if let TaskEvent::LeaseLost { task_id } = event {
            self.0.note(Entry {
                kind: "lease_lost",
                task_id: task_id.clone(),
                step: None,
                attempt: None,
                token: None,
            });
        }
    }
}
