//! Deploying a changed body while executions are in flight: `patched` sends the executions
//! that ran the old code down the old side, and every other one down the new side, on
//! every replay.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zart::durable::{patched, step, wait_for_event, DurableExecution, StepError, TaskError};
use zart::scheduler::{TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, TestDb};

use super::Ran;

/// Charges (in euros), waits for the order to ship, then sends a receipt.
struct Version1 {
    ran: Ran,
}

/// Charges in cents from now on; executions that charged in euros keep their charge.
struct Version2 {
    ran: Ran,
}

async fn ship_and_notify(ran: &Ran, charged: Value) -> Result<Value, TaskError> {
    wait_for_event::<Value>("shipped", Duration::from_secs(60)).await?;
    step("receipt", || async {
        ran.hit("receipt");
        Ok::<_, StepError>(())
    })
    .await?;
    Ok(charged)
}

#[zart::prelude::async_trait]
impl DurableExecution for Version1 {
    type Data = Value;
    type Output = Value;

    async fn run(&self, order: Value) -> Result<Value, TaskError> {
        let ran = &self.ran;
        let euros = step("charge", || async {
            ran.hit("charge");
            Ok::<_, StepError>(order["euros"].clone())
        })
        .await?;
        ship_and_notify(&self.ran, json!({ "euros": euros })).await
    }
}

#[zart::prelude::async_trait]
impl DurableExecution for Version2 {
    type Data = Value;
    type Output = Value;

    async fn run(&self, order: Value) -> Result<Value, TaskError> {
        let (ran, order) = (&self.ran, &order);
        let charged = match patched("charge-in-cents").await? {
            true => {
                let cents = step("charge-cents", || async {
                    ran.hit("charge-cents");
                    Ok::<_, StepError>(order["euros"].as_i64().unwrap_or(0) * 100)
                })
                .await?;
                json!({ "cents": cents })
            }
            false => {
                let euros = step("charge", || async {
                    ran.hit("charge");
                    Ok::<_, StepError>(order["euros"].clone())
                })
                .await?;
                json!({ "euros": euros })
            }
        };
        ship_and_notify(&self.ran, charged).await
    }
}

/// Waits until execution `id` is suspended (waiting for its event, its worker free).
async fn wait_until_waiting(db: &TestDb, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let task = db.task(id).await;
        if task.status == TaskStatus::Pending
            && task.run_at > chrono::Utc::now() + chrono::Duration::seconds(30)
        {
            return;
        }
        assert!(Instant::now() < deadline, "{id} never waited: {task:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn step_names(db: &TestDb, id: &str) -> Vec<String> {
    db.scheduler
        .load_steps(id)
        .await
        .expect("steps")
        .into_iter()
        .map(|step| step.name)
        .collect()
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_executions_keep_the_old_side_and_new_ones_take_the_new(db: TestDb) {
    let (old_ran, new_ran) = (Ran::default(), Ran::default());
    let mut version1 = TaskRegistry::new();
    version1.durable(
        "checkout",
        Version1 {
            ran: old_ran.clone(),
        },
    );
    let worker = db.start_worker(version1, quick_config());
    db.scheduler
        .schedule_now("old-order", "checkout", json!({ "euros": 12 }))
        .await
        .expect("scheduled");
    wait_until_waiting(&db, "old-order").await;
    worker.stop().await;

    // The deploy: version 2 takes over the execution in flight, and starts new ones.
    let mut version2 = TaskRegistry::new();
    version2.durable(
        "checkout",
        Version2 {
            ran: new_ran.clone(),
        },
    );
    let worker = db.start_worker(version2, quick_config());
    db.scheduler
        .schedule_now("new-order", "checkout", json!({ "euros": 3 }))
        .await
        .expect("scheduled");
    wait_until_waiting(&db, "new-order").await;
    for id in ["old-order", "new-order"] {
        db.executions()
            .send_event(id, "shipped", &json!({}))
            .await
            .expect("sent");
    }
    let old = db
        .wait_for_status("old-order", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    let new = db
        .wait_for_status("new-order", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;

    assert_eq!(
        old.result,
        Some(json!({ "euros": 12 })),
        "the old side, replayed"
    );
    assert_eq!(new.result, Some(json!({ "cents": 300 })), "the new side");
    assert_eq!(
        step_names(&db, "old-order").await,
        [
            "charge",
            "event-deadline:shipped",
            "event:shipped",
            "receipt"
        ]
        .map(String::from),
        "no marker in an execution that took the old side"
    );
    assert_eq!(
        step_names(&db, "new-order").await,
        [
            "patch:charge-in-cents",
            "charge-cents",
            "event-deadline:shipped",
            "event:shipped",
            "receipt",
        ]
        .map(String::from),
    );
    // Each charge ran once: the old one under version 1, never again under version 2
    // (whose replays of both executions took the side each took first).
    assert_eq!((old_ran.count("charge"), new_ran.count("charge")), (1, 0));
    assert_eq!(new_ran.count("charge-cents"), 1);
    assert_eq!(new_ran.count("receipt"), 2);
}

/// Version 3 drops the change's `if` once no execution can take the old side any more.
struct Version3 {
    ran: Ran,
}

#[zart::prelude::async_trait]
impl DurableExecution for Version3 {
    type Data = Value;
    type Output = Value;

    async fn run(&self, order: Value) -> Result<Value, TaskError> {
        let ran = &self.ran;
        let cents = step("charge-cents", || async {
            ran.hit("charge-cents");
            Ok::<_, StepError>(order["euros"].as_i64().unwrap_or(0) * 100)
        })
        .await?;
        ship_and_notify(&self.ran, json!({ "cents": cents })).await
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_the_body_no_longer_asks_for_is_passed_over(db: TestDb) {
    let ran = Ran::default();
    let mut version2 = TaskRegistry::new();
    version2.durable("checkout", Version2 { ran: ran.clone() });
    let worker = db.start_worker(version2, quick_config());
    db.scheduler
        .schedule_now("order", "checkout", json!({ "euros": 5 }))
        .await
        .expect("scheduled");
    wait_until_waiting(&db, "order").await;
    worker.stop().await;

    let mut version3 = TaskRegistry::new();
    version3.durable("checkout", Version3 { ran: ran.clone() });
    let worker = db.start_worker(version3, quick_config());
    db.executions()
        .send_event("order", "shipped", &json!({}))
        .await
        .expect("sent");
    let done = db
        .wait_for_status("order", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(done.result, Some(json!({ "cents": 500 })));
    assert_eq!(ran.count("charge-cents"), 1, "replayed, not run again");
}
