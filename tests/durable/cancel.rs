use std::time::Duration;

use serde_json::{json, Value};
use zart::durable::{sleep, step, DurableExecution, StepError, TaskError};
use zart::scheduler::{OnComplete, ScheduleAtParams, TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, task, TestDb};

use crate::Ran;

/// Three steps; the second takes a while.
struct Slow {
    ran: Ran,
}

#[zart::prelude::async_trait]
impl DurableExecution for Slow {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        for (name, busy) in [("first", 0), ("second", 800), ("third", 0)] {
            let ran = self.ran.clone();
            step(name, || {
                ran.hit(name);
                async move {
                    tokio::time::sleep(Duration::from_millis(busy)).await;
                    Ok::<_, StepError>(())
                }
            })
            .await?;
        }
        Ok(json!("all three"))
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_execution_stops_at_its_next_step_boundary(db: TestDb) {
    let ran = Ran::default();
    let mut registry = TaskRegistry::new();
    registry.durable("slow", Slow { ran: ran.clone() });
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("slow-1", "slow", json!({}))
        .await
        .expect("scheduled");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ran.count("second") == 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(db.scheduler.cancel("slow-1").await.expect("cancel"));
    let record = db
        .wait_for_status("slow-1", TaskStatus::Cancelled, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await;
    assert_eq!(ran.count("third"), 0, "nothing after the boundary");
    assert_eq!(record.result, None);
    assert_eq!(record.error.as_deref(), Some("cancelled while running"));
}

struct Napper;

#[zart::prelude::async_trait]
impl DurableExecution for Napper {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        sleep("long", Duration::from_secs(3600)).await?;
        Ok(json!("woke"))
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_execution_is_cancelled_at_once(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.durable("napper", Napper);
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("nap-1", "napper", json!({}))
        .await
        .expect("scheduled");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while db.task("nap-1").await.run_at < chrono::Utc::now() + chrono::Duration::minutes(30) {
        assert!(tokio::time::Instant::now() < deadline, "never fell asleep");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(db.scheduler.cancel("nap-1").await.expect("cancel"));
    assert_eq!(db.task("nap-1").await.status, TaskStatus::Cancelled);
    worker.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_plain_task_ends_cancelled_and_its_outcome_is_discarded(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.register(
        "chain",
        task(|_| async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            Ok(Box::new(OnComplete {
                result: Some(json!("done")),
                schedule_next: vec![ScheduleAtParams::now("next", "chain", json!({}))],
            })
                as Box<dyn zart::scheduler::CompletionHandler>)
        }),
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("first", "chain", json!({}))
        .await
        .expect("scheduled");
    db.wait_for_status("first", TaskStatus::Running, Duration::from_secs(10))
        .await;
    assert!(db.scheduler.cancel("first").await.expect("cancel"));
    let record = db
        .wait_for_status("first", TaskStatus::Cancelled, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await;
    assert_eq!(record.result, None);
    assert_eq!(
        db.scheduler.get_task("next").await.expect("read"),
        None,
        "no follow-up"
    );
}
