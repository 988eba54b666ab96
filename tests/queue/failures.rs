use std::time::Duration;

use serde_json::json;
use zart::{OnComplete, SchedulerTaskError, TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, quick_retry, task, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_its_task_and_the_worker_goes_on() {
    let db = TestDb::new().await;
    let mut registry = TaskRegistry::new();
    registry.register(
        "explode",
        task(|instance| async move {
            if instance.data == json!("boom") {
                panic!("kaboom: {}", instance.task_id);
            }
            Ok(OnComplete::done())
        }),
    );
    let config = zart::WorkerConfig {
        max_concurrent_tasks: 1,
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);
    db.scheduler
        .schedule_now("bomb", "explode", json!("boom"))
        .await
        .expect("scheduled");

    let record = db
        .wait_for_status("bomb", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    let error = record.error.unwrap_or_default();
    assert_eq!(error, "handler panicked: kaboom: bomb");
    assert_eq!(record.worker_id, None, "the lease is released");

    db.scheduler
        .schedule_now("after", "explode", json!("fine"))
        .await
        .expect("scheduled");
    db.wait_for_status("after", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    assert!(!worker.handle.is_finished(), "the worker keeps running");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_task_name_fails_with_a_clear_error_and_no_retry() {
    let db = TestDb::new().await;
    let mut registry = TaskRegistry::new();
    registry.register("known", task(|_| async { Ok(OnComplete::done()) }));
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("lost", "no-such-task", json!({}))
        .await
        .expect("scheduled");
    db.scheduler
        .schedule_now("found", "known", json!({}))
        .await
        .expect("scheduled");

    let record = db
        .wait_for_status("lost", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    db.wait_for_status("found", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await;
    assert_eq!(
        record.error.as_deref(),
        Some(
            "no handler is registered for task name \"no-such-task\" (this worker handles: known)"
        )
    );
    assert_eq!(db.task("lost").await.attempts, 1, "no retry storm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_that_outlives_its_timeout_fails_and_is_retried() {
    let db = TestDb::new().await;
    let mut registry = TaskRegistry::new();
    registry.register(
        "slow",
        task(|instance| async move {
            if instance.attempt == 1 {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Ok::<_, SchedulerTaskError>(OnComplete::with_result(json!(instance.attempt)))
        })
        .retry(quick_retry(2))
        .timeout(Duration::from_millis(200)),
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("slow-1", "slow", json!({}))
        .await
        .expect("scheduled");
    let record = db
        .wait_for_status("slow-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(record.result, Some(json!(2)));
    assert_eq!(
        record.error, None,
        "a completion clears the previous attempt's error"
    );
}
