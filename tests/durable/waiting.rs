use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zart::durable::{sleep, DurableExecution, TaskError};
use zart::scheduler::{TaskRegistry, TaskScheduler, TaskStatus};
use zart::Error;
use zart_tests::{quick_config, TestDb};

struct Nap;

#[zart::prelude::async_trait]
impl DurableExecution for Nap {
    type Data = Value;
    type Output = Value;

    async fn run(&self, data: Value) -> Result<Value, TaskError> {
        let ms = data["ms"].as_u64().unwrap_or(0);
        sleep("nap", Duration::from_millis(ms)).await?;
        Ok(json!({ "slept_ms": ms }))
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_when_the_execution_ends_woken_by_notification(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.durable("nap", Nap);
    let worker = db.start_worker(registry, quick_config());
    // Ends at three different moments; a waiter that merely polled every second would
    // mostly return long after the end.
    for (n, ms) in [700u64, 850, 1000].into_iter().enumerate() {
        let id = format!("nap-{n}");
        db.scheduler
            .schedule_now(&id, "nap", json!({ "ms": ms }))
            .await
            .expect("scheduled");
        let record = db
            .executions()
            .wait(&id, Duration::from_secs(10), None)
            .await
            .expect("waited");
        let returned = chrono::Utc::now();
        assert_eq!(record.status, TaskStatus::Completed);
        assert_eq!(record.result, Some(json!({ "slept_ms": ms })));
        let late = returned - record.finished_at.expect("finished");
        assert!(
            late < chrono::Duration::milliseconds(300),
            "returned {late} after the end"
        );
    }
    worker.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_gives_up_at_its_timeout_and_knows_unknown_ids(db: TestDb) {
    db.scheduler
        .schedule_at(zart::scheduler::ScheduleAtParams::at(
            "later",
            "nap",
            chrono::Utc::now() + chrono::Duration::hours(1),
            json!({}),
        ))
        .await
        .expect("scheduled");
    let started = Instant::now();
    let record = db
        .executions()
        .wait("later", Duration::from_millis(300), None)
        .await
        .expect("waited");
    assert_eq!(record.status, TaskStatus::Pending);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let missing = db
        .executions()
        .wait("missing", Duration::from_millis(100), None)
        .await;
    assert!(
        matches!(&missing, Err(Error::NotFound(id)) if id == "missing"),
        "{missing:?}"
    );
}
