//! Scheduler-only use: plain tasks, chained through `OnComplete`, with no durable machinery.
//!
//! Run it with `cargo run --example scheduler_only`: with no setting it keeps its tasks in
//! the SQLite file `zart.db` of the current folder; with `DATABASE_URL` set it runs there
//! instead.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::sleep;
use uuid::Uuid;
use zart::scheduler::{
    CompletionHandler, OnComplete, ScheduleAtParams, ScheduledTask, SchedulerTaskError,
    TaskInstance, TaskRegistry, TaskScheduler, TaskStatus, Worker, WorkerConfig,
};
use zart::store::Store;
use zart::Zart;

#[derive(Deserialize)]
struct WelcomeEmailInput {
    user_id: String,
    email: String,
}

#[derive(Deserialize)]
struct CleanupInput {
    user_id: String,
}

#[derive(Deserialize)]
struct ReportInput {
    report: String,
}

#[derive(Deserialize)]
struct GreetingInput {
    name: String,
}

struct SendWelcomeEmail;

#[async_trait]
impl ScheduledTask for SendWelcomeEmail {
    async fn execute(
        &self,
        instance: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        let input: WelcomeEmailInput = serde_json::from_value(instance.data.clone())?;
        println!(
            "  [send-welcome-email] Sending welcome email to {}",
            input.email
        );
        sleep(Duration::from_millis(300)).await;

        // Chain: the cleanup task is scheduled in the same transaction that completes this one.
        let schedule_next = vec![ScheduleAtParams {
            task_id: format!("cleanup-{}", Uuid::new_v4()),
            task_name: "onboarding-cleanup".to_string(),
            execution_time: Utc::now(),
            data: json!({ "user_id": input.user_id }),
            recurrence: None,
            metadata: Value::Null,
        }];
        println!("  [send-welcome-email] Email sent, scheduled onboarding-cleanup");
        Ok(Box::new(OnComplete {
            result: Some(json!({ "status": "sent" })),
            schedule_next,
        }))
    }
}

struct OnboardingCleanup;

#[async_trait]
impl ScheduledTask for OnboardingCleanup {
    async fn execute(
        &self,
        instance: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        let input: CleanupInput = serde_json::from_value(instance.data.clone())?;
        println!(
            "  [onboarding-cleanup] Running cleanup for user {}",
            input.user_id
        );
        sleep(Duration::from_millis(200)).await;

        let schedule_next = vec![ScheduleAtParams {
            task_id: format!("report-{}", Uuid::new_v4()),
            task_name: "generate-report".to_string(),
            execution_time: Utc::now(),
            data: json!({ "user_id": input.user_id, "report": "onboarding-complete" }),
            recurrence: None,
            metadata: Value::Null,
        }];
        println!("  [onboarding-cleanup] Cleanup done, scheduled generate-report");
        Ok(Box::new(OnComplete {
            result: Some(json!({ "status": "cleaned" })),
            schedule_next,
        }))
    }
}

struct GenerateReport;

#[async_trait]
impl ScheduledTask for GenerateReport {
    async fn execute(
        &self,
        instance: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        let input: ReportInput = serde_json::from_value(instance.data.clone())?;
        println!("  [generate-report] Generating '{}' report", input.report);
        sleep(Duration::from_millis(150)).await;
        println!("  [generate-report] Report generated");
        // End of the chain.
        Ok(OnComplete::done())
    }
}

struct ScheduledGreeting;

#[async_trait]
impl ScheduledTask for ScheduledGreeting {
    async fn execute(
        &self,
        instance: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        let input: GreetingInput = serde_json::from_value(instance.data.clone())?;
        println!("  [scheduled-greeting] Hello, {}!", input.name);
        Ok(OnComplete::done())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // DATABASE_URL, or ./zart.db; creates or upgrades Zart's tables.
    let scheduler: Arc<dyn Store> = Zart::connect_default().await?.store();

    let mut registry = TaskRegistry::new();
    registry.register("send-welcome-email", SendWelcomeEmail);
    registry.register("onboarding-cleanup", OnboardingCleanup);
    registry.register("generate-report", GenerateReport);
    registry.register("scheduled-greeting", ScheduledGreeting);

    let config = WorkerConfig {
        poll_interval: Duration::from_millis(200),
        max_tasks_per_poll: 10,
        max_concurrent_tasks: 4,
        ..Default::default()
    };
    let worker = Arc::new(Worker::new(
        scheduler.clone(),
        Arc::new(registry),
        config,
        vec![],
    ));
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });

    println!("=== Zart Scheduler-Only Example ===");
    let run = Uuid::new_v4().simple().to_string();

    println!("\n--- Demo1: Task Chaining ---");
    println!("Scheduling send-welcome-email...");
    let chain_id = format!("chain-{run}");
    let welcome_data = json!({ "user_id": "user-42", "email": "alice@example.com" });
    scheduler
        .schedule_now(&chain_id, "send-welcome-email", welcome_data)
        .await?;
    wait_for_name(scheduler.as_ref(), "generate-report", 1).await?;

    println!("\n--- Demo2: Scheduled Future Task ---");
    let future_time = Utc::now() + chrono::Duration::seconds(3);
    scheduler
        .schedule_at(ScheduleAtParams {
            task_id: format!("greeting-{run}"),
            task_name: "scheduled-greeting".to_string(),
            execution_time: future_time,
            data: json!({ "name": "Paulo" }),
            recurrence: None,
            metadata: Value::Null,
        })
        .await?;
    println!(
        "Scheduled greeting for {} (in 3 seconds)",
        future_time.to_rfc3339_opts(SecondsFormat::Secs, false)
    );
    wait_until_done(scheduler.as_ref(), &format!("greeting-{run}")).await?;

    println!("\n--- Demo3: Independent Parallel Tasks ---");
    println!("Scheduling 3 parallel greeting tasks");
    for i in 0..3 {
        scheduler
            .schedule_now(
                &format!("parallel-{i}-{run}"),
                "scheduled-greeting",
                json!({ "name": format!("User-parallel-{i}") }),
            )
            .await?;
    }
    for i in 0..3 {
        wait_until_done(scheduler.as_ref(), &format!("parallel-{i}-{run}")).await?;
    }

    worker.shutdown().await;
    running.await??;
    println!("\n=== All demos completed ===");
    Ok(())
}

/// Waits until task `id` has ended (polling: this is a demo, not a benchmark).
async fn wait_until_done(scheduler: &dyn Store, id: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if let Some(status) = scheduler.status(id).await? {
            if status.is_terminal() {
                return Ok(());
            }
        }
        sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("task {id} did not finish within 10 s")
}

/// Waits until `at_least` tasks named `task_name` have completed since this call: the
/// chain's last task, whose id the chain generated.
async fn wait_for_name(
    scheduler: &dyn Store,
    task_name: &str,
    at_least: usize,
) -> anyhow::Result<()> {
    let started = Utc::now();
    for _ in 0..200 {
        let completed = scheduler
            .list_tasks(Some(task_name), Some(TaskStatus::Completed), 100)
            .await?;
        let done = completed
            .iter()
            .filter(|task| task.finished_at.is_some_and(|at| at >= started))
            .count();
        if done >= at_least {
            return Ok(());
        }
        sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("no {task_name} task completed within 10 s")
}
