//! Retention: ended tasks are deleted once old enough, so that the task table stays
//! bounded while work flows through it.

use std::time::{Duration, Instant};

use serde_json::json;
use zart::scheduler::{OnComplete, Retention, ScheduleAtParams, TaskRegistry, TaskScheduler};
use zart_tests::{quick_config, task, TestDb};

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_table_stays_bounded_while_work_flows(db: TestDb) {
    let registry = || {
        let mut registry = TaskRegistry::new();
        registry.register("flow", task(|_| async { Ok(OnComplete::done()) }));
        registry
    };
    let config = || {
        let mut config = quick_config();
        config.rescue_interval = Duration::from_millis(200);
        config.retention = Retention {
            completed: Some(Duration::from_secs(1)),
            ..Retention::forever()
        };
        config
    };
    let workers = [
        db.start_worker(registry(), config()),
        db.start_worker(registry(), config()),
    ];
    let count = format!("SELECT count(*) FROM {}", db.tasks_table());
    let (mut most, mut inserted) = (0, 0);
    let flowing = Instant::now();
    while flowing.elapsed() < Duration::from_secs(6) {
        let batch: Vec<_> = (0..20)
            .map(|i| ScheduleAtParams::now(format!("flow-{}", inserted + i), "flow", json!(i)))
            .collect();
        db.scheduler.schedule_many(batch).await.expect("scheduled");
        inserted += 20;
        most = most.max(db.number(&count).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // About 200 tasks a second, each kept a second after it ended and deleted within a
    // maintenance interval or two: a few hundred stored at any time, not all of them.
    assert!(inserted >= 1000, "work flowed: {inserted} tasks");
    assert!(
        most < 700,
        "at most {most} of {inserted} tasks were stored at once"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    while db.number(&count).await > 0 {
        assert!(
            Instant::now() < deadline,
            "every ended task is deleted in the end"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for worker in workers {
        worker.stop().await;
    }
}
