use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use zart::durable::{step, DurableExecution, StepError, TaskError};
use zart::scheduler::{TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, TestDb};

use crate::Ran;

/// Charges, then fails for good while `broken` is set.
struct Fragile {
    ran: Ran,
    broken: Arc<AtomicBool>,
}

#[zart::prelude::async_trait]
impl DurableExecution for Fragile {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let ran = self.ran.clone();
        step("charge", || {
            ran.hit("charge");
            async { Ok::<_, StepError>(()) }
        })
        .await?;
        if self.broken.load(Ordering::SeqCst) {
            return Err(TaskError::permanent("the warehouse is down"));
        }
        Ok(json!("done"))
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_replays_the_record_and_restart_starts_from_scratch(db: TestDb) {
    let ran = Ran::default();
    let broken = Arc::new(AtomicBool::new(true));
    let registry = || {
        let mut registry = TaskRegistry::new();
        registry.durable(
            "fragile",
            Fragile {
                ran: ran.clone(),
                broken: broken.clone(),
            },
        );
        registry
    };
    let worker = db.start_worker(registry(), quick_config());
    db.scheduler
        .schedule_now("f-1", "fragile", json!({}))
        .await
        .expect("scheduled");
    db.wait_for_status("f-1", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    // No worker runs while the retries are checked: a pending execution must stay pending.
    worker.stop().await;
    assert_eq!(ran.count("charge"), 1);
    assert!(!db
        .executions()
        .retry("missing")
        .await
        .expect("retry unknown"));

    // Fixed, then retried: the charge is not made again.
    broken.store(false, Ordering::SeqCst);
    assert!(db.executions().retry("f-1").await.expect("retry"));
    assert!(
        !db.executions()
            .retry("f-1")
            .await
            .expect("retry a pending one"),
        "only ended ones"
    );
    let worker = db.start_worker(registry(), quick_config());
    let done = db
        .wait_for_status("f-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    assert_eq!(done.result, Some(json!("done")));
    assert_eq!(done.attempts, 1, "attempts start over");
    assert_eq!(ran.count("charge"), 1, "replayed from the record");

    // Restarted: the record is forgotten, the charge runs again.
    assert!(db.executions().restart("f-1").await.expect("restart"));
    db.wait_for_status("f-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(ran.count("charge"), 2);
}
