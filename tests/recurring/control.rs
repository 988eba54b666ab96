use std::time::Duration;

use chrono::Utc;
use zart::recurring::{OverlapPolicy, RecurringTask, ScheduleState};
use zart::schedule::Schedule;
use zart::scheduler::{TaskRegistry, TaskStatus};
use zart::store::ClaimScope;
use zart_tests::{quick_config, TestDb};

use crate::Runs;

fn every(ms: u64) -> Schedule {
    Schedule::every(Duration::from_millis(ms)).expect("interval")
}

fn hourly() -> Schedule {
    Schedule::cron("0 * * * *", "UTC").expect("cron")
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_are_shared_and_missed_slots_follow_the_policy(db: TestDb) {
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "beat", Duration::ZERO);
    let task = RecurringTask::new("beat", "beat", every(100)).grace(Duration::from_millis(50));
    registry.recurring(task);
    let worker = db.start_worker(registry, quick_config());
    runs.wait_for(2, Duration::from_secs(10)).await;

    // Paused through another handle (another process would do the same).
    assert!(db.schedules().pause("beat").await.expect("pause"));
    assert!(!db.schedules().pause("beat").await.expect("pause twice"));
    tokio::time::sleep(Duration::from_millis(200)).await; // a run in flight may finish
    let before = runs.count();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(runs.count(), before, "no runs while paused");
    let info = db
        .schedules()
        .info("beat")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(info.state, ScheduleState::Paused);

    assert!(db.schedules().resume("beat").await.expect("resume"));
    runs.wait_for(before + 2, Duration::from_secs(10)).await;
    worker.stop().await;
    let history = db.schedules().history("beat", 200).await.expect("history");
    assert!(
        history
            .iter()
            .any(|r| r.reason.as_deref() == Some("missed")),
        "slots during the pause were missed and skipped: {history:?}"
    );
    let occurrences: Vec<u64> = runs.all().iter().map(|r| r.context.occurrence).collect();
    assert_eq!(
        occurrences,
        (0..occurrences.len() as u64).collect::<Vec<_>>()
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_now_runs_at_once_and_respects_the_overlap_policy(db: TestDb) {
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "report", Duration::from_millis(800));
    registry.recurring(
        RecurringTask::new("hourly", "report", hourly()).overlap(OverlapPolicy::SkipIfRunning),
    );
    let worker = db.start_worker(registry, quick_config());
    let before = db.schedules().info("hourly").await.expect("read");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while db.schedules().info("hourly").await.expect("read").is_none() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let next_slot = db
        .schedules()
        .info("hourly")
        .await
        .expect("read")
        .and_then(|i| i.next_slot);

    let pressed = Utc::now();
    assert!(db.schedules().trigger_now("hourly").await.expect("trigger"));
    db.wait_for_status("hourly-0", TaskStatus::Running, Duration::from_secs(5))
        .await;
    // A second trigger while the first run is busy is skipped, as the policy says.
    assert!(db.schedules().trigger_now("hourly").await.expect("trigger"));
    let all = runs.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker.stop().await;

    assert_eq!(runs.count(), 1);
    assert!(all[0].context.manual);
    assert!(
        all[0].started - pressed < chrono::Duration::seconds(2),
        "ran at once"
    );
    let history = db.schedules().history("hourly", 10).await.expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0].reason.as_deref(), Some("manual"));
    assert_eq!(history[0].status, Some(TaskStatus::Completed));
    assert_eq!(
        (history[1].decision.as_str(), history[1].reason.as_deref()),
        ("skipped", Some("overlap"))
    );
    let info = db
        .schedules()
        .info("hourly")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(info.next_slot, next_slot, "the regular slots are unchanged");
    drop(before);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_survives_re_registration_and_the_counter_never_goes_back(db: TestDb) {
    let runs = Runs::default();
    let task = RecurringTask::new("beat", "beat", every(100));
    let start = |runs: &Runs| {
        let mut registry = TaskRegistry::new();
        runs.register(&mut registry, "beat", Duration::ZERO);
        registry.recurring(task.clone());
        db.start_worker(registry, quick_config())
    };
    let worker = start(&runs);
    runs.wait_for(3, Duration::from_secs(10)).await;
    assert!(db.schedules().stop("beat").await.expect("stop"));
    // An occurrence fired before the stop still runs: wait for every fired one.
    let info = loop {
        let info = db
            .schedules()
            .info("beat")
            .await
            .expect("read")
            .expect("exists");
        if runs.count() >= info.occurrence as usize {
            break info;
        }
        runs.wait_for(info.occurrence as usize, Duration::from_secs(10))
            .await;
    };
    worker.stop().await;
    let stopped_at = runs.count();
    assert_eq!(info.state, ScheduleState::Stopped);
    let counter = info.occurrence;
    assert_eq!(
        counter as usize, stopped_at,
        "every fired occurrence ran once"
    );

    // A restarted worker registers the schedule again: it stays stopped.
    let worker = start(&runs);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs.count(), stopped_at, "a stopped schedule does not fire");
    assert!(db.schedules().resume("beat").await.expect("resume"));
    let all = runs.wait_for(stopped_at + 2, Duration::from_secs(10)).await;
    worker.stop().await;
    let after: Vec<u64> = all[stopped_at..]
        .iter()
        .map(|r| r.context.occurrence)
        .collect();
    assert!(
        after.iter().all(|n| *n >= counter),
        "numbers go on from {counter}: {after:?}"
    );
    assert_eq!(after[0], counter);

    // The counter is also where users of Zart read it from SQL.
    let occurrence = db
        .rows(&format!(
            "SELECT metadata->>'occurrence' FROM {} WHERE task_id = '__zart_recurring__:beat'",
            db.tasks_table()
        ))
        .await
        .into_iter()
        .flatten()
        .next();
    let stored = db
        .schedules()
        .info("beat")
        .await
        .expect("read")
        .expect("exists")
        .occurrence;
    assert_eq!(occurrence, Some(stored.to_string()));
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_are_never_marked_dead_and_cannot_be_cancelled_by_id(db: TestDb) {
    db.schedules()
        .register(&RecurringTask::new("job", "work", every(50)))
        .await
        .expect("registered");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let tick = "__zart_recurring__:job";
    for _ in 0..3 {
        let claimed = db
            .scheduler
            .claim(
                "dying-worker",
                10,
                Duration::from_secs(30),
                &ClaimScope::default(),
            )
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        db.execute(&format!(
            "UPDATE {} SET lease_expires_at = {} WHERE status = 'running'",
            db.tasks_table(),
            db.sql_ago(1)
        ))
        .await;
        let report = db
            .scheduler
            .rescue_expired(1)
            .await
            .expect("rescue")
            .expect("lock");
        assert!(report.dead.is_empty(), "{report:?}");
    }
    assert_eq!(db.task(tick).await.status, TaskStatus::Pending);
    use zart::scheduler::TaskScheduler;
    assert!(!db.scheduler.cancel(tick).await.expect("cancel"));
}

#[derive(Default)]
struct SlotEvents(std::sync::Mutex<Vec<zart::observe::TaskEvent>>);

impl zart::observe::TaskObserver for SlotEvents {
    fn on_event(&self, event: &zart::observe::TaskEvent) {
        if matches!(event, zart::observe::TaskEvent::Slot { .. }) {
            self.0.lock().expect("events lock").push(event.clone());
        }
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_see_every_decision(db: TestDb) {
    let runs = Runs::default();
    let mut registry = TaskRegistry::new();
    runs.register(&mut registry, "work", Duration::from_millis(250));
    registry.recurring(RecurringTask::new("job", "work", every(100)));
    let events = std::sync::Arc::new(SlotEvents::default());
    let worker = db.start_observed_worker(registry, quick_config(), vec![events.clone()]);
    runs.wait_for(2, Duration::from_secs(10)).await;
    worker.stop().await;
    let events = events.0.lock().expect("events lock").clone();
    let started = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                zart::observe::TaskEvent::Slot {
                    decision: zart::recurring::Decision::Started { .. },
                    task_id: Some(_),
                    ..
                }
            )
        })
        .count();
    let overlapped = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                zart::observe::TaskEvent::Slot {
                    decision: zart::recurring::Decision::Skipped(
                        zart::recurring::SkipReason::Overlap
                    ),
                    ..
                }
            )
        })
        .count();
    assert!(started >= 2 && overlapped >= 1, "{events:?}");
    let history = db.schedules().history("job", 200).await.expect("history");
    assert_eq!(
        history.len(),
        events.len(),
        "every decision is both recorded and observed"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_is_bounded(db: TestDb) {
    let task = RecurringTask::new(
        "fast",
        "work",
        Schedule::every(Duration::from_millis(10)).expect("interval"),
    );
    db.schedules().register(&task).await.expect("registered");
    let recorded = || async {
        db.number(&format!(
            "SELECT count(*) FROM {} WHERE schedule_id = 'fast'",
            db.zart_table("schedule_runs")
        ))
        .await
    };
    // Three rounds, each a tick far behind (a minute of 10 ms slots: 6000 missed), each
    // recording its most recent 100 skips; no worker runs while the schedule is moved back.
    for _ in 0..3 {
        db.execute(&format!(
            "UPDATE {} SET next_slot = {}, state = 'active' WHERE schedule_id = 'fast'",
            db.zart_table("schedules"),
            db.sql_ago(60)
        ))
        .await;
        db.execute(&format!(
            "UPDATE {} SET status = 'pending', run_at = {} WHERE task_id = '__zart_recurring__:fast'",
            db.tasks_table(),
            db.sql_ago(60)
        ))
        .await;
        let before = recorded().await;
        let mut registry = TaskRegistry::new();
        registry.register(
            "work",
            zart_tests::task(|_| async { Ok(zart::scheduler::OnComplete::done()) }),
        );
        let worker = db.start_worker(registry, quick_config());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while recorded().await < (before + 100).min(zart::recurring::HISTORY_LIMIT as i64) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the tick did not record its skips"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        worker.stop().await;
    }
    let history = db.schedules().history("fast", 1000).await.expect("history");
    assert!(
        history
            .iter()
            .filter(|r| r.reason.as_deref() == Some("missed"))
            .count()
            >= 100,
        "the far-behind ticks recorded their latest skips"
    );
    assert_eq!(recorded().await as usize, zart::recurring::HISTORY_LIMIT);
}
