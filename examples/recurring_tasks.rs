//! Recurring plain tasks: a cron schedule in a time zone, a fixed-rate interval that skips
//! overlapping slots, a fixed delay, a manual trigger, pause and resume, and the history.
//!
//! Run it with `cargo run --example recurring_tasks` (uses `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`). It works in a schema of its own,
//! `zart_example_recurring`, which it recreates on every run.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio::time::sleep;
use zart::recurring::{OverlapPolicy, RecurringScheduler, RecurringTask};
use zart::schedule::Schedule;
use zart::{
    CompletionHandler, OnComplete, PostgresTaskScheduler, ScheduledTask, SchedulerTaskError,
    TableNames, TaskInstance, TaskRegistry, Worker, WorkerConfig,
};

const SCHEMA: &str = "zart_example_recurring";

/// Prints where each run came from, then works for `busy`.
struct Report {
    busy: Duration,
}

#[async_trait]
impl ScheduledTask for Report {
    async fn execute(
        &self,
        task: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        let Some(run) = task.run_context() else {
            return Err(SchedulerTaskError::permanent("not started by a schedule"));
        };
        let zone: chrono_tz::Tz = run.timezone.parse().unwrap_or(chrono_tz::UTC);
        println!(
            "  [{}] run #{} for slot {} ({}){}{}",
            run.schedule_id,
            run.occurrence,
            run.slot.with_timezone(&zone).format("%H:%M:%S%.3f %Z"),
            task.task_id,
            if run.catch_up { ", catch-up" } else { "" },
            if run.manual {
                ", triggered by hand"
            } else {
                ""
            },
        );
        sleep(self.busy).await;
        Ok(OnComplete::done())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let pool = sqlx::PgPool::connect(&url).await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .execute(&pool)
        .await?;
    let names = TableNames::default().with_schema(SCHEMA)?;
    let scheduler = Arc::new(PostgresTaskScheduler::with_table_names(pool, names));
    scheduler.migrate().await?;

    let mut registry = TaskRegistry::new();
    registry
        .register(
            "report",
            Report {
                busy: Duration::from_millis(100),
            },
        )
        .register(
            "slow-report",
            Report {
                busy: Duration::from_millis(2500),
            },
        )
        .recurring(
            // Every third second, on the wall clock of Berlin.
            RecurringTask::new(
                "berlin-clock",
                "report",
                Schedule::cron("*/3 * * * * *", "Europe/Berlin")?,
            )
            .id_template("clock-{occurrence}")
            // A slot more than half a second late counts as missed (and is skipped).
            .grace(Duration::from_millis(500)),
        )
        .recurring(
            // Every second, but a run takes 2.5 s: slots that find it busy are skipped.
            RecurringTask::new(
                "busy-beat",
                "slow-report",
                Schedule::every(Duration::from_secs(1))?,
            )
            .overlap(OverlapPolicy::SkipIfRunning),
        )
        .recurring(
            // One second after the previous run ended, whatever it took.
            RecurringTask::new(
                "cool-down",
                "report",
                Schedule::fixed_delay(Duration::from_secs(1))?,
            )
            .data(json!({ "cache": "eu-1" })),
        )
        .recurring(
            // Nightly at 02:00 in Berlin; triggered by hand below.
            RecurringTask::new(
                "nightly",
                "report",
                Schedule::cron("0 2 * * *", "Europe/Berlin")?,
            ),
        );

    let config = WorkerConfig {
        poll_interval: Duration::from_millis(200),
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

    println!("=== Zart Recurring Tasks Example ===");
    println!("\n--- 7 seconds of schedules ---");
    sleep(Duration::from_secs(7)).await;

    println!("\n--- The nightly report, triggered by hand ---");
    scheduler.trigger_now("nightly").await?;
    sleep(Duration::from_millis(500)).await;

    println!("\n--- berlin-clock paused for 4 seconds ---");
    scheduler.pause("berlin-clock").await?;
    sleep(Duration::from_secs(4)).await;
    println!("--- resumed: the slots missed while paused are skipped ---");
    scheduler.resume("berlin-clock").await?;
    sleep(Duration::from_secs(4)).await;

    worker.shutdown().await;
    running.await??;

    println!("\n--- What each schedule decided ---");
    for id in ["berlin-clock", "busy-beat", "cool-down", "nightly"] {
        let history = scheduler.history(id, 50).await?;
        let started = history.iter().filter(|r| r.decision == "started").count();
        let mut skipped: Vec<String> = history
            .iter()
            .filter(|r| r.decision == "skipped")
            .filter_map(|r| r.reason.clone())
            .collect();
        skipped.dedup();
        let info = scheduler.schedule_info(id).await?;
        println!(
            "  {id}: {started} run(s) started, {} slot(s) skipped {:?}; next slot {}",
            history.len() - started,
            skipped,
            info.and_then(|i| i.next_slot)
                .map_or("none".to_owned(), |t| t.to_rfc3339()),
        );
    }
    println!("\n=== Done ===");
    Ok(())
}
