use std::time::Duration;

use serde_json::{json, Value};
use zart::durable::{child, execution_id, step, DurableExecution, StepError, TaskError};
use zart::scheduler::{TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, TestDb};

struct Double;

#[zart::prelude::async_trait]
impl DurableExecution for Double {
    type Data = Value;
    type Output = i64;

    async fn run(&self, data: Value) -> Result<i64, TaskError> {
        let n = data["n"].as_i64().unwrap_or(0);
        if n < 0 {
            return Err(TaskError::permanent(
                "negative numbers are not doubled here",
            ));
        }
        let doubled = step("double", || async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, StepError>(n * 2)
        })
        .await?;
        Ok(doubled)
    }
}

struct Parent;

#[zart::prelude::async_trait]
impl DurableExecution for Parent {
    type Data = Value;
    type Output = Value;

    async fn run(&self, data: Value) -> Result<Value, TaskError> {
        let me = execution_id().unwrap_or_default();
        let result = child::<i64>(
            "double",
            &format!("{me}-child"),
            &data,
            Duration::from_secs(30),
        )
        .await;
        Ok(match result {
            Ok(doubled) => json!({ "doubled": doubled }),
            Err(StepError::Exhausted { message, .. }) => json!({ "child_failed": message }),
            Err(other) => return Err(other.into()),
        })
    }
}

fn registry() -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    registry.durable("double", Double).durable("parent", Parent);
    registry
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_awaits_its_child_durably(db: TestDb) {
    let worker = db.start_worker(registry(), quick_config());
    db.scheduler
        .schedule_now("p-1", "parent", json!({ "n": 21 }))
        .await
        .expect("scheduled");
    let parent = db
        .wait_for_status("p-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    let child = db.task("p-1-child").await;
    db.scheduler
        .schedule_now("p-2", "parent", json!({ "n": -1 }))
        .await
        .expect("scheduled");
    let failed = db
        .wait_for_status("p-2", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;

    assert_eq!(parent.result, Some(json!({ "doubled": 42 })));
    assert_eq!(
        parent.attempts, 1,
        "waiting for the child is not an attempt"
    );
    assert_eq!(child.status, TaskStatus::Completed);
    assert!(child.finished_at <= parent.finished_at);
    assert_eq!(
        failed.result,
        Some(json!({
            "child_failed": "child \"p-2-child\" ended failed: negative numbers are not doubled here"
        }))
    );
}
