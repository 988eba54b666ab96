use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use zart::recurring::{MissedRunPolicy, OverlapPolicy, RecurringTask};
use zart::schedule::Schedule;
use zart::scheduler::TaskRegistry;
use zart_tests::{quick_config, TestDb};

use crate::Runs;

fn hourly_interval() -> Schedule {
    Schedule::every(Duration::from_secs(3600)).expect("interval")
}

/// Registers `task`, then pretends its workers were down since `since`: the schedule's
/// next slot and its tick go back in time, as they would have stayed while nothing ran.
async fn down_since(db: &TestDb, task: &RecurringTask, since: DateTime<Utc>) {
    db.schedules().register(task).await.expect("registered");
    db.execute(&format!(
        "UPDATE {} SET next_slot = {} WHERE schedule_id = '{}'",
        db.zart_table("schedules"),
        db.sql_instant(since),
        task.schedule_id()
    ))
    .await;
    db.execute(&format!(
        "UPDATE {} SET run_at = {} WHERE task_id = '__zart_recurring__:{}'",
        db.tasks_table(),
        db.sql_instant(since),
        task.schedule_id()
    ))
    .await;
}

/// Starts a worker running `task`, lets the overdue tick fire, and returns the runs and
/// the schedule's history.
async fn back_up(
    db: &TestDb,
    task: RecurringTask,
    expect_runs: usize,
) -> (Vec<crate::Run>, Vec<zart::recurring::RunRecord>) {
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "report", Duration::ZERO);
    let schedule_id = task.schedule_id().to_owned();
    registry.recurring(task);
    let worker = db.start_worker(registry, quick_config());
    let all = runs.wait_for(expect_runs, Duration::from_secs(10)).await;
    // Let the tick's transaction (and any further runs it wrongly started) settle.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let history = loop {
        let history = db
            .schedules()
            .history(&schedule_id, 100)
            .await
            .expect("history");
        if !history.is_empty() || tokio::time::Instant::now() > deadline {
            break history;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await;
    assert_eq!(
        runs.count(),
        all.len().max(expect_runs),
        "no more runs than expected"
    );
    (runs.all(), history)
}

/// A store may keep only milliseconds (SQLite does): instants the tests compare must not
/// carry more.
fn ago(duration: chrono::Duration) -> DateTime<Utc> {
    (Utc::now() - duration).trunc_subsecs(3)
}

fn three_and_a_half_hours_ago() -> DateTime<Utc> {
    ago(chrono::Duration::minutes(210))
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_drops_the_slots_missed_while_workers_were_down(db: TestDb) {
    let warnings = zart_tests::logs::warnings();
    let since = three_and_a_half_hours_ago();
    let task = RecurringTask::new("hourly", "report", hourly_interval());
    down_since(&db, &task, since).await;
    let (runs, history) = back_up(&db, task, 0).await;
    assert!(runs.is_empty(), "{runs:?}");
    let decisions: Vec<_> = history
        .iter()
        .map(|r| (r.slot, r.decision.as_str(), r.reason.as_deref()))
        .collect();
    let hour = chrono::Duration::hours(1);
    assert_eq!(
        decisions,
        [
            (since, "skipped", Some("missed")),
            (since + hour, "skipped", Some("missed")),
            (since + hour * 2, "skipped", Some("missed")),
            (since + hour * 3, "skipped", Some("missed")),
        ]
    );
    let info = db
        .schedules()
        .info("hourly")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        info.next_slot,
        Some(since + hour * 4),
        "the grid continues at the next future slot"
    );
    let said = warnings.containing("missed");
    assert_eq!(
        said.len(),
        1,
        "one line for a tick's missed slots: {said:?}"
    );
    assert!(said[0].contains("count=4"), "{}", said[0]);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_once_runs_the_latest_missed_slot_flagged_as_catch_up(db: TestDb) {
    let since = three_and_a_half_hours_ago();
    let task = RecurringTask::new("hourly", "report", hourly_interval())
        .missed(MissedRunPolicy::CatchUpOnce);
    down_since(&db, &task, since).await;
    let (runs, history) = back_up(&db, task, 1).await;
    assert_eq!(runs.len(), 1);
    assert!(runs[0].context.catch_up);
    assert_eq!(runs[0].context.slot, since + chrono::Duration::hours(3));
    let started: Vec<_> = history.iter().filter(|r| r.decision == "started").collect();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].reason.as_deref(), Some("catch_up"));
    assert_eq!(
        history
            .iter()
            .filter(|r| r.reason.as_deref() == Some("missed"))
            .count(),
        3
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_all_runs_every_missed_slot_in_order(db: TestDb) {
    let since = three_and_a_half_hours_ago();
    let task = RecurringTask::new("hourly", "report", hourly_interval())
        .missed(MissedRunPolicy::ReplayAll)
        .overlap(OverlapPolicy::AlwaysStart);
    down_since(&db, &task, since).await;
    let (runs, _) = back_up(&db, task, 4).await;
    let slots: Vec<_> = runs.iter().map(|r| r.context.slot).collect();
    let hour = chrono::Duration::hours(1);
    assert_eq!(
        slots,
        [since, since + hour, since + hour * 2, since + hour * 3],
        "occurrences follow slot order"
    );
    assert!(runs.iter().all(|r| r.context.catch_up));
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_that_is_merely_late_runs_and_is_not_a_catch_up(db: TestDb) {
    let late = ago(chrono::Duration::seconds(20));
    let task = RecurringTask::new("hourly", "report", hourly_interval());
    down_since(&db, &task, late).await;
    let (runs, _) = back_up(&db, task, 1).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].context.slot, late);
    assert!(!runs[0].context.catch_up);
}
