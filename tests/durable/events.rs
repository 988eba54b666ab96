use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zart::durable::{wait_for_event, DurableExecution, StepError, TaskError};
use zart::scheduler::{TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, TestDb};

/// Waits for `shipped` (at most `timeout`) and returns what it got.
struct AwaitShipping {
    timeout: Duration,
}

#[zart::prelude::async_trait]
impl DurableExecution for AwaitShipping {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        match wait_for_event::<Value>("shipped", self.timeout).await {
            Ok(event) => Ok(json!({ "shipped": event })),
            Err(StepError::Exhausted { message, .. }) => Ok(json!({ "timed_out": message })),
            Err(other) => Err(other.into()),
        }
    }
}

fn registry(timeout: Duration) -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    registry.durable("await-shipping", AwaitShipping { timeout });
    registry
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_wakes_a_waiting_execution(db: TestDb) {
    let worker = db.start_worker(registry(Duration::from_secs(60)), quick_config());
    db.scheduler
        .schedule_now("order-7", "await-shipping", json!({}))
        .await
        .expect("scheduled");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let task = db.task("order-7").await;
        if task.status == TaskStatus::AwaitingEvent
            && task.run_at > chrono::Utc::now() + chrono::Duration::seconds(30)
        {
            break; // suspended until the timeout, its worker free
        }
        assert!(Instant::now() < deadline, "never suspended: {task:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = Instant::now();
    let woken = db
        .executions()
        .send_event("order-7", "shipped", &json!({ "carrier": "DHL" }))
        .await
        .expect("sent");
    assert!(woken);
    let done = db
        .wait_for_status("order-7", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "woken by the event, not the timeout"
    );
    assert_eq!(
        done.result,
        Some(json!({ "shipped": { "carrier": "DHL" } }))
    );
    assert_eq!(done.attempts, 1);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_sent_before_the_wait_is_not_lost(db: TestDb) {
    let woken = db
        .executions()
        .send_event("order-8", "shipped", &json!("early"))
        .await
        .expect("sent");
    assert!(!woken, "nothing to wake yet");
    let worker = db.start_worker(registry(Duration::from_secs(60)), quick_config());
    db.scheduler
        .schedule_now("order-8", "await-shipping", json!({}))
        .await
        .expect("scheduled");
    let done = db
        .wait_for_status("order-8", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(done.result, Some(json!({ "shipped": "early" })));
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_times_out_into_an_error_the_body_handles(db: TestDb) {
    let worker = db.start_worker(registry(Duration::from_millis(600)), quick_config());
    let started = Instant::now();
    db.scheduler
        .schedule_now("order-9", "await-shipping", json!({}))
        .await
        .expect("scheduled");
    let done = db
        .wait_for_status("order-9", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert!(started.elapsed() >= Duration::from_millis(600));
    let message = done
        .result
        .and_then(|r| r["timed_out"].as_str().map(str::to_owned));
    assert_eq!(
        message.as_deref(),
        Some("no event \"shipped\" arrived within 600ms")
    );
}
