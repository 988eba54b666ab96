//! Faults the worker rides out without stalling: claims that fail, connections the server
//! refuses, statements that could deadlock each other.

use std::time::Duration;

use serde_json::json;
use zart::scheduler::{OnComplete, TaskRegistry, TaskScheduler, TaskStatus, WorkerConfig};
use zart_tests::TestDb;

/// `ALTER TABLE` statements that move the task table out of the store's sight and back,
/// so that every claim fails meanwhile.
fn hide_and_restore_tasks(db: &TestDb) -> (String, String) {
    let table = db.tasks_table();
    let hidden = match db.is_sqlite() {
        true => "\"zart_tasks_hidden\"".to_owned(),
        false => format!("\"{}\".\"zart_tasks_hidden\"", db.pg().schema),
    };
    (
        format!("ALTER TABLE {table} RENAME TO \"zart_tasks_hidden\""),
        format!("ALTER TABLE {hidden} RENAME TO \"zart_tasks\""),
    )
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_failed_claims_a_notification_brings_the_worker_back_at_once(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.register("noop", zart_tests::task(|_| async { Ok(OnComplete::done()) }));
    // A poll interval this long is what a failed claim used to sit out (capped at 5 s),
    // deaf to notifications.
    let config = WorkerConfig {
        poll_interval: Duration::from_secs(30),
        ..zart_tests::quick_config()
    };
    let (hide, restore) = hide_and_restore_tasks(&db);
    db.execute(&hide).await;
    let worker = db.start_worker(registry, config);
    // Long enough for the first claims to fail and the pauses between them to grow.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    db.execute(&restore).await;

    let scheduled = tokio::time::Instant::now();
    db.scheduler
        .schedule_now("after-outage", "noop", json!({}))
        .await
        .expect("scheduled");
    db.wait_for_status("after-outage", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    let took = scheduled.elapsed();
    worker.stop().await;
    assert!(
        took < Duration::from_millis(700),
        "the task waited {took:?} for a worker whose claims had failed"
    );
}
