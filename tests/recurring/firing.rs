use std::collections::HashSet;
use std::time::Duration;

use chrono::{Timelike, Utc};
use serde_json::json;
use zart::recurring::{RecurringTask, ScheduleState};
use zart::schedule::Schedule;
use zart::scheduler::{TaskRegistry, TaskStatus};
use zart_tests::{quick_config, TestDb};

use crate::Runs;

fn every(ms: u64) -> Schedule {
    Schedule::every(Duration::from_millis(ms)).expect("valid interval")
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interval_fires_each_slot_in_order_never_at_registration(db: TestDb) {
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "beat", Duration::ZERO);
    registry.recurring(RecurringTask::new("heart", "beat", every(300)).data(json!({ "n": 1 })));
    let registered = Utc::now();
    let worker = db.start_worker(registry, quick_config());

    let all = runs.wait_for(3, Duration::from_secs(10)).await;
    worker.stop().await;
    let first = &all[0];
    assert!(
        first.context.slot >= registered + chrono::Duration::milliseconds(250),
        "not at registration: {first:?}"
    );
    for (n, run) in all.iter().take(3).enumerate() {
        assert_eq!(run.context.occurrence, n as u64);
        assert_eq!(run.task_id, format!("heart-{n}"));
        assert_eq!(run.context.schedule_id, "heart");
        assert_eq!(run.context.timezone, "UTC");
        assert!(!run.context.catch_up && !run.context.manual);
        assert!(
            run.started >= run.context.slot,
            "a run never starts before its slot"
        );
    }
    // Fixed rate: slots 300 ms apart, whatever the runs' durations.
    assert_eq!(
        all[1].context.slot - all[0].context.slot,
        chrono::Duration::milliseconds(300)
    );
    assert_eq!(
        all[2].context.slot - all[1].context.slot,
        chrono::Duration::milliseconds(300)
    );
    let record = db.task("heart-0").await;
    assert_eq!(record.data, json!({ "n": 1 }));
    assert_eq!(record.status, TaskStatus::Completed);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_six_field_cron_fires_on_whole_seconds(db: TestDb) {
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "tock", Duration::ZERO);
    let schedule = Schedule::cron("* * * * * *", "Europe/Berlin").expect("valid cron");
    registry.recurring(RecurringTask::new("clock", "tock", schedule));
    let worker = db.start_worker(registry, quick_config());
    let all = runs.wait_for(2, Duration::from_secs(10)).await;
    worker.stop().await;
    for run in &all {
        assert_eq!(run.context.slot.nanosecond(), 0, "{run:?}");
        assert_eq!(run.context.timezone, "Europe/Berlin");
        let late = run.started - run.context.slot;
        assert!(
            late < chrono::Duration::seconds(1),
            "started {late} after its slot"
        );
    }
    assert_eq!(
        all[1].context.slot - all[0].context.slot,
        chrono::Duration::seconds(1)
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_fire_one_slot_twice(db: TestDb) {
    let runs = Runs::default();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let mut registry = TaskRegistry::new();
        runs.register(&mut registry, "beat", Duration::ZERO);
        registry.recurring(RecurringTask::new("shared", "beat", every(100)));
        workers.push(db.start_worker(registry, quick_config()));
    }
    runs.wait_for(15, Duration::from_secs(20)).await;
    for worker in workers {
        worker.stop().await;
    }
    let all = runs.all();
    let slots: HashSet<_> = all.iter().map(|r| r.context.slot).collect();
    assert_eq!(slots.len(), all.len(), "one run per slot");
    let occurrences: Vec<u64> = all.iter().map(|r| r.context.occurrence).collect();
    assert_eq!(
        occurrences,
        (0..all.len() as u64).collect::<Vec<_>>(),
        "no gaps, no repeats"
    );
    let rows = db
        .number(&format!(
            "SELECT count(*) FROM {} WHERE task_name = '__zart_tick'",
            db.tasks_table()
        ))
        .await;
    assert_eq!(
        rows, 1,
        "one tick per schedule, however many workers registered it"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_idempotent_and_a_changed_schedule_is_updated(db: TestDb) {
    let hourly = RecurringTask::new(
        "report",
        "make-report",
        Schedule::cron("0 * * * *", "UTC").expect("cron"),
    );
    let joins: Vec<_> = (0..4)
        .map(|_| {
            let (scheduler, task) = (db.scheduler.clone(), hourly.clone());
            tokio::spawn(async move {
                zart::Zart::from_store(scheduler)
                    .schedules()
                    .register(&task)
                    .await
            })
        })
        .collect();
    for join in joins {
        join.await.expect("joined").expect("registered");
    }
    let info = db
        .schedules()
        .info("report")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(info.state, ScheduleState::Active);
    assert_eq!(info.occurrence, 0);
    let next = info.next_slot.expect("next slot");
    assert!(
        next > Utc::now() && next.minute() == 0 && next.second() == 0,
        "{next}"
    );

    // The code now says every 5 minutes: the stored schedule follows, from the next slot.
    db.execute(&format!(
        "UPDATE {} SET occurrence = 7 WHERE schedule_id = 'report'",
        db.zart_table("schedules")
    ))
    .await;
    let changed = RecurringTask::new(
        "report",
        "make-report",
        Schedule::cron("*/5 * * * *", "UTC").expect("cron"),
    );
    db.schedules().register(&changed).await.expect("updated");
    let info = db
        .schedules()
        .info("report")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(info.task, changed);
    assert_eq!(info.occurrence, 7, "the counter is kept");
    let next = info.next_slot.expect("next slot");
    assert!(
        next.minute() % 5 == 0 && next - Utc::now() <= chrono::Duration::minutes(5),
        "{next}"
    );
    let tick = db.task("__zart_recurring__:report").await;
    assert_eq!(tick.run_at, next, "the tick moved with the schedule");
    assert_eq!(tick.status, TaskStatus::Pending);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_runs_counts_runs_and_finishes_the_schedule(db: TestDb) {
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "beat", Duration::ZERO);
    registry.recurring(RecurringTask::new("twice", "beat", every(100)).max_runs(2));
    registry.recurring(RecurringTask::new("never", "beat", every(100)).max_runs(0));
    let worker = db.start_worker(registry, quick_config());
    runs.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker.stop().await;
    assert_eq!(runs.count(), 2);
    let twice = db
        .schedules()
        .info("twice")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        (twice.state, twice.occurrence),
        (ScheduleState::Finished, 2)
    );
    let never = db
        .schedules()
        .info("never")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        (never.state, never.occurrence),
        (ScheduleState::Finished, 0)
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_delays_count_from_the_end_of_the_previous_run(db: TestDb) {
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "sync", Duration::from_millis(400));
    let schedule = Schedule::fixed_delay(Duration::from_millis(300)).expect("delay");
    registry.recurring(RecurringTask::new("sync", "sync", schedule));
    let worker = db.start_worker(registry, quick_config());
    let all = runs.wait_for(3, Duration::from_secs(15)).await;
    worker.stop().await;
    for pair in all.windows(2) {
        let gap = pair[1].started - pair[0].ended;
        assert!(
            gap >= chrono::Duration::milliseconds(290),
            "next run {gap} after the previous ended"
        );
        assert!(
            gap < chrono::Duration::milliseconds(1500),
            "and not much later: {gap}"
        );
        assert!(pair[1].started > pair[0].ended, "never overlapping");
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_panicking_runs_do_not_stop_a_schedule(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.register(
        "flaky",
        zart_tests::task(|instance| async move {
            match instance.run_context().map(|c| c.occurrence % 2) {
                Some(0) => panic!("even runs panic"),
                _ => Err(zart::scheduler::SchedulerTaskError::failed("odd runs fail")),
            }
        }),
    );
    registry.recurring(RecurringTask::new("flaky", "flaky", every(150)));
    let worker = db.start_worker(registry, quick_config());
    db.wait_for_status("flaky-4", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(
        db.task("flaky-0").await.error.as_deref(),
        Some("handler panicked: even runs panic")
    );
    assert_eq!(
        db.task("flaky-1").await.error.as_deref(),
        Some("odd runs fail")
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_survives_a_database_fault(db: TestDb) {
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "beat", Duration::ZERO);
    registry.recurring(RecurringTask::new("beat", "beat", every(100)));
    let worker = db.start_worker(registry, quick_config());
    runs.wait_for(2, Duration::from_secs(10)).await;

    // The history table disappears: every tick transaction fails (and nothing else does).
    let history = db.zart_table("schedule_runs");
    db.execute(&format!(
        "ALTER TABLE {history} RENAME TO zart_schedule_runs_away"
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = runs.count();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        runs.count() <= during + 1,
        "nothing fires while the ticks fail"
    );
    let tick = db.task("__zart_recurring__:beat").await;
    assert!(
        matches!(tick.status, TaskStatus::Pending | TaskStatus::Running),
        "the tick is retried, not given up: {tick:?}"
    );
    db.execute(&format!(
        "ALTER TABLE {} RENAME TO zart_schedule_runs",
        db.own_table("zart_schedule_runs_away")
    ))
    .await;
    runs.wait_for(runs.count() + 3, Duration::from_secs(10))
        .await;
    worker.stop().await;
}
