use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use zart::scheduler::{OnComplete, SchedulerTaskError, TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, quick_retry, task, TestDb};

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_retried_with_backoff_until_one_succeeds(db: TestDb) {
    let starts = Arc::new(Mutex::new(Vec::<(u32, Instant)>::new()));
    let mut registry = TaskRegistry::new();
    let seen = starts.clone();
    registry.register(
        "flaky",
        task(move |instance| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .expect("lock")
                    .push((instance.attempt, Instant::now()));
                match instance.attempt {
                    1 | 2 => Err(SchedulerTaskError::failed(format!(
                        "attempt {} broke",
                        instance.attempt
                    ))),
                    _ => Ok(OnComplete::with_result(json!("third time lucky"))),
                }
            }
        })
        .retry(quick_retry(3)),
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("flaky-1", "flaky", json!({}))
        .await
        .expect("scheduled");

    let record = db
        .wait_for_status("flaky-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(record.attempts, 3);
    assert_eq!(record.result, Some(json!("third time lucky")));
    let starts = starts.lock().expect("lock").clone();
    let attempts: Vec<u32> = starts.iter().map(|(a, _)| *a).collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    // quick_retry: 50 ms, then 100 ms (no jitter). A store may keep the due instant to the
    // millisecond only (SQLite does), so the next start can come up to 1 ms early.
    assert!(
        starts[1].1 - starts[0].1 >= Duration::from_millis(49),
        "{starts:?}"
    );
    assert!(
        starts[2].1 - starts[1].1 >= Duration::from_millis(99),
        "{starts:?}"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_fails_once_its_attempts_are_used_up(db: TestDb) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let mut registry = TaskRegistry::new();
    registry.register(
        "broken",
        task(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Err(SchedulerTaskError::failed("still broken")) }
        })
        .retry(quick_retry(2)),
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("broken-1", "broken", json!({}))
        .await
        .expect("scheduled");

    let record = db
        .wait_for_status("broken-1", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await;
    assert_eq!(record.attempts, 2);
    assert_eq!(record.error.as_deref(), Some("still broken"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "no attempt beyond max_attempts"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_and_undecodable_input_are_not_retried(db: TestDb) {
    #[derive(serde::Deserialize)]
    struct Input {
        #[allow(dead_code)]
        amount: u64,
    }
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let mut registry = TaskRegistry::new();
    registry.register(
        "strict",
        task(move |instance| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let _input: Input = instance.input()?;
                Err(SchedulerTaskError::permanent("card declined"))
            }
        })
        .retry(quick_retry(5)),
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("bad-input", "strict", json!({ "amount": "lots" }))
        .await
        .expect("scheduled");
    db.scheduler
        .schedule_now("declined", "strict", json!({ "amount": 5 }))
        .await
        .expect("scheduled");

    let bad = db
        .wait_for_status("bad-input", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    let declined = db
        .wait_for_status("declined", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await;
    assert_eq!((bad.attempts, declined.attempts), (1, 1));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one attempt each, despite 5 allowed"
    );
    let error = bad.error.unwrap_or_default();
    assert!(
        error.starts_with("task input does not decode") && error.contains("expected u64"),
        "{error}"
    );
    assert_eq!(declined.error.as_deref(), Some("card declined"));
}
