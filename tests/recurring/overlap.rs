use std::time::Duration;

use chrono::{Timelike, Utc};
use zart::recurring::{OverlapPolicy, RecurringTask};
use zart::schedule::{Schedule, TimeWindow};
use zart::scheduler::{TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, TestDb};

use crate::{Run, Runs};

/// Runs `overlap` with slots every `every` ms and runs that take `busy` ms, until `n` runs
/// ended. Returns the runs and the decisions recorded.
async fn overlapping(
    db: &TestDb,
    overlap: OverlapPolicy,
    every: u64,
    busy: u64,
    n: usize,
) -> (Vec<Run>, Vec<zart::recurring::RunRecord>) {
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "work", Duration::from_millis(busy));
    let schedule = Schedule::every(Duration::from_millis(every)).expect("interval");
    registry.recurring(RecurringTask::new("job", "work", schedule).overlap(overlap));
    let config = zart::scheduler::WorkerConfig {
        max_concurrent_tasks: 16,
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);
    runs.wait_for(n, Duration::from_secs(20)).await;
    worker.stop().await;
    let history = db.schedules().history("job", 200).await.expect("history");
    (runs.all(), history)
}

fn never_overlap(runs: &[Run]) {
    let mut by_start = runs.to_vec();
    by_start.sort_by_key(|r| r.started);
    for pair in by_start.windows(2) {
        assert!(
            pair[1].started >= pair[0].ended,
            "runs overlapped: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
}

fn reasons(history: &[zart::recurring::RunRecord], decision: &str, reason: Option<&str>) -> usize {
    history
        .iter()
        .filter(|r| r.decision == decision && r.reason.as_deref() == reason)
        .count()
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_if_running_skips_slots_while_a_run_is_busy(db: TestDb) {
    let (runs, history) = overlapping(&db, OverlapPolicy::SkipIfRunning, 150, 500, 3).await;
    never_overlap(&runs);
    assert!(
        reasons(&history, "skipped", Some("overlap")) >= 2,
        "{history:?}"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_one_keeps_one_run_waiting_and_starts_it_when_the_busy_one_ends(db: TestDb) {
    let (runs, history) = overlapping(&db, OverlapPolicy::BufferOne, 150, 500, 3).await;
    never_overlap(&runs);
    assert!(reasons(&history, "buffered", None) >= 1, "{history:?}");
    assert!(
        reasons(&history, "skipped", Some("overlap")) >= 1,
        "at most one waits: {history:?}"
    );
    // A buffered run starts as soon as the busy one ends, not at the next slot.
    let mut by_start = runs.clone();
    by_start.sort_by_key(|r| r.started);
    let prompt = by_start
        .windows(2)
        .any(|pair| pair[1].started - pair[0].ended < chrono::Duration::milliseconds(140));
    assert!(prompt, "{by_start:?}");
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_restart_cancels_the_busy_run(db: TestDb) {
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "work", Duration::from_millis(100));
    registry.register(
        "slow",
        zart_tests::task(|_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(zart::scheduler::OnComplete::done())
        }),
    );
    let schedule = Schedule::every(Duration::from_millis(400)).expect("interval");
    registry.recurring(
        RecurringTask::new("job", "slow", schedule).overlap(OverlapPolicy::CancelAndRestart),
    );
    let config = zart::scheduler::WorkerConfig {
        shutdown_timeout: Duration::from_millis(100),
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);
    let cancelled = db
        .wait_for_status("job-0", TaskStatus::Cancelled, Duration::from_secs(10))
        .await;
    let next = db
        .wait_for_status("job-1", TaskStatus::Running, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert!(cancelled
        .error
        .unwrap_or_default()
        .contains("cancel_and_restart"));
    assert!(next.started_at.is_some());
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_start_lets_runs_overlap(db: TestDb) {
    let (runs, history) = overlapping(&db, OverlapPolicy::AlwaysStart, 150, 600, 4).await;
    let mut by_start = runs.clone();
    by_start.sort_by_key(|r| r.started);
    assert!(
        by_start
            .windows(2)
            .any(|pair| pair[1].started < pair[0].ended),
        "{by_start:?}"
    );
    assert_eq!(reasons(&history, "skipped", Some("overlap")), 0);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_outside_the_time_window_are_skipped_with_the_reason(db: TestDb) {
    // A one-minute window two hours from now: nothing now is inside.
    let start = (Utc::now() + chrono::Duration::hours(2)).time();
    let end = start + chrono::Duration::minutes(1);
    let window = TimeWindow::new("UTC")
        .expect("tz")
        .segment(start.with_second(0).unwrap_or(start), end);
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "work", Duration::ZERO);
    let schedule = Schedule::every(Duration::from_millis(100)).expect("interval");
    registry.recurring(RecurringTask::new("job", "work", schedule).window(window));
    let worker = db.start_worker(registry, quick_config());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let history = db.schedules().history("job", 200).await.expect("history");
        if reasons(&history, "skipped", Some("outside_time_window")) >= 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{history:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.stop().await;
    assert_eq!(runs.count(), 0);
    assert_eq!(db.scheduler.get_task("job-0").await.expect("read"), None);
}
