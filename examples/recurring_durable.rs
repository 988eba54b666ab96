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
//! Run it with `cargo run --example recurring_durable`: with no setting it keeps its tasks in
//! the SQLite file `zart.db` of the current folder; with `DATABASE_URL` set it runs there
//! instead. It stops its schedules at the end; a later run resumes them (the occurrence
//! counters go on) and reports its own runs only.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::sleep;
use zart::durable::{execution_id, StepError, TaskError};
use zart::recurring::RunRecord;
use zart::scheduler::TaskStatus;
use zart::Zart;

/// The schedules, by id (each defaults to its task's name), with their overlap policies.
const SCHEDULES: [(&str, &str); 3] = [
    ("inventory-snapshot", "SkipIfRunning"),
    ("config-refresh", "CancelAndRestart"),
    ("audit-window", "AlwaysStart"),
];

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
    let zart = Zart::connect_default().await?; // DATABASE_URL, or ./zart.db
    let began = Utc::now();
    let worker = zart
        .worker()
        .register(zart::registry![
            inventory_snapshot,
            config_refresh,
            audit_window
        ])
        .start()
        .await?;
    // A stopped schedule stays stopped when it is registered again: an earlier run of
    // this example stopped these.
    for (id, _) in SCHEDULES {
        if zart.schedules().resume(id).await? {
            println!("resumed {id}, stopped by an earlier run");
        }
    }

    println!("=== Zart Recurring Durable Executions Example ===");
    println!("\n--- 8 seconds of three schedules ---");
    sleep(Duration::from_secs(8)).await;

    for (id, _) in SCHEDULES {
        zart.executions().stop_recurring(id).await?;
    }
    println!("\n--- schedules stopped; waiting for the runs in flight ---");
    for (id, _) in SCHEDULES {
        for record in this_run(&zart, id, began).await? {
            if let Some(run) = record.task_id {
                let ended = zart
                    .executions()
                    .wait(&run, Duration::from_secs(30), None)
                    .await?;
                println!("  {run}: {}", ended.status);
            }
        }
    }
    worker.shutdown().await?;

    println!("\n--- What each policy did ---");
    for (id, policy) in SCHEDULES {
        let history = this_run(&zart, id, began).await?;
        let started = history.iter().filter(|r| r.decision == "started").count();
        let skipped = history
            .iter()
            .filter(|r| r.reason.as_deref() == Some("overlap"))
            .count();
        let cancelled = history
            .iter()
            .filter(|r| r.status == Some(TaskStatus::Cancelled))
            .count();
        let overlapping = history
            .iter()
            .enumerate()
            .flat_map(|(i, a)| history[i + 1..].iter().map(move |b| (a, b)))
            .filter(|(a, b)| overlap(a, b))
            .count();
        let counter = zart
            .schedules()
            .info(id)
            .await?
            .map_or(0, |info| info.occurrence);
        println!(
            "  {id} ({policy}): {started} started, {skipped} skipped while one ran, \
             {cancelled} cancelled, {overlapping} pair(s) of runs overlapping; occurrence counter {counter}"
        );
    }
    println!("\n=== Done ===");
    Ok(())
}

/// The decisions schedule `id` took since `began`, oldest first.
async fn this_run(zart: &Zart, id: &str, began: DateTime<Utc>) -> anyhow::Result<Vec<RunRecord>> {
    let mut history = zart.schedules().history(id, 200).await?;
    history.retain(|record| record.recorded_at >= began);
    Ok(history)
}

/// Whether two runs were running at the same time.
fn overlap(a: &RunRecord, b: &RunRecord) -> bool {
    match (a.started_at, a.finished_at, b.started_at, b.finished_at) {
        (Some(a_start), Some(a_end), Some(b_start), Some(b_end)) => {
            a_start < b_end && b_start < a_end
        }
        _ => false,
    }
}
