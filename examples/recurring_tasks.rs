//! Recurring plain tasks, declared with `#[recurring]`: a cron schedule in a time zone, a
//! fixed-rate interval that skips overlapping slots, a fixed delay with an input, a manual
//! trigger, pause and resume, and each schedule's history.
//!
//! Run it with `cargo run --example recurring_tasks`: with no setting it keeps its tasks in
//! the SQLite file `zart.db` of the current folder; with `DATABASE_URL` set it runs there
//! instead. Its schedules are stored: a later run finds them and goes on from their next
//! slot (the counters go on too); the summary counts this run's decisions only.

use std::time::Duration;

use chrono::Utc;
use tokio::time::sleep;
use zart::scheduler::TaskInstance;
use zart::{TaskError, Zart};

/// Prints where a run came from: its schedule, occurrence and slot.
fn announce(task: &TaskInstance, what: &str) {
    let Some(run) = task.run_context() else {
        println!("  [{what}] {} (not started by a schedule)", task.task_id);
        return;
    };
    let zone: chrono_tz::Tz = run.timezone.parse().unwrap_or(chrono_tz::UTC);
    println!(
        "  [{}] {what} #{} for slot {} ({}){}{}",
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
}

/// Every third second on the wall clock of Berlin (a slot more than half a second late
/// counts as missed, and is skipped), and nightly at 02:00 there (triggered by hand below).
#[zart::recurring(
    schedule = "berlin-clock",
    cron = "*/3 * * * * *",
    timezone = "Europe/Berlin",
    id = "clock-{occurrence}",
    grace = "500ms"
)]
#[zart::recurring(schedule = "nightly", cron = "0 2 * * *", timezone = "Europe/Berlin")]
#[zart::task]
async fn report(task: &TaskInstance) -> Result<(), TaskError> {
    announce(task, "report");
    sleep(Duration::from_millis(100)).await;
    Ok(())
}

/// Every second, but a run takes 2.5 s: the slots that find it busy are skipped.
#[zart::recurring(schedule = "busy-beat", every = "1s", overlap = skip_if_running)]
#[zart::task]
async fn slow_report(task: &TaskInstance) -> Result<(), TaskError> {
    announce(task, "slow report");
    sleep(Duration::from_millis(2_500)).await;
    Ok(())
}

/// One second after the previous run ended, whatever it took; each run gets the region.
#[zart::recurring(schedule = "cool-down", fixed_delay = "1s", input = "eu-1".to_owned())]
#[zart::task]
async fn warm_cache(region: String, task: &TaskInstance) -> Result<(), TaskError> {
    announce(task, &format!("warm the {region} cache"));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let zart = Zart::connect_default().await?; // DATABASE_URL, or ./zart.db
                                               // Decisions from here on are this run's (a stored tick may decide at once on start).
    let began = Utc::now();
    let schedules = zart.schedules();

    let worker = zart
        .worker()
        .register(zart::registry![report, slow_report, warm_cache])
        .start()
        .await?;

    println!("=== Zart Recurring Tasks Example ===");
    println!("\n--- 7 seconds of schedules ---");
    sleep(Duration::from_secs(7)).await;

    println!("\n--- The nightly report, triggered by hand ---");
    schedules.trigger_now("nightly").await?;
    sleep(Duration::from_millis(500)).await;

    println!("\n--- berlin-clock paused for 4 seconds ---");
    schedules.pause("berlin-clock").await?;
    sleep(Duration::from_secs(4)).await;
    println!("--- resumed: the slots missed while paused are skipped ---");
    schedules.resume("berlin-clock").await?;
    sleep(Duration::from_secs(4)).await;

    worker.shutdown().await?;

    println!("\n--- What each schedule decided ---");
    for id in ["berlin-clock", "busy-beat", "cool-down", "nightly"] {
        let mut history = schedules.history(id, 200).await?;
        history.retain(|record| record.recorded_at >= began);
        let started = history.iter().filter(|r| r.decision == "started").count();
        let mut skipped: Vec<String> = history
            .iter()
            .filter(|r| r.decision == "skipped")
            .filter_map(|r| r.reason.clone())
            .collect();
        skipped.dedup();
        let info = schedules.info(id).await?;
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
