//! Deploying a changed body while executions are in flight: `patched` sends the executions
//! that ran the old code down the old side, and every other one down the new side, on
//! every replay.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zart::durable::{
    patched, step, wait_for_event, AppVersions, DurableExecution, StepError, TaskError,
};
use zart::scheduler::{OnComplete, TaskRegistry, TaskScheduler, TaskStatus, WorkerConfig};
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
        if task.status == TaskStatus::AwaitingEvent
            && task.run_at > chrono::Utc::now() + chrono::Duration::seconds(30)
        {
            return;
        }
        assert!(Instant::now() < deadline, "{id} never waited: {task:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts a worker running `body` as `checkout`.
fn deploy(
    db: &TestDb,
    body: impl DurableExecution<Data = Value, Output = Value>,
) -> zart_tests::RunningWorker {
    deploy_as(db, body, None)
}

/// Starts a worker of application version `versions` running `body` as `checkout`, and a
/// plain task `note` beside it.
fn deploy_as(
    db: &TestDb,
    body: impl DurableExecution<Data = Value, Output = Value>,
    versions: Option<AppVersions>,
) -> zart_tests::RunningWorker {
    let mut registry = TaskRegistry::new();
    registry.durable("checkout", body);
    registry.register(
        "note",
        zart_tests::task(|_| async { Ok(OnComplete::done()) }),
    );
    let config = WorkerConfig {
        app_versions: versions,
        ..quick_config()
    };
    db.start_worker(registry, config)
}

/// Starts checkout `id` of `euros` and waits until it waits for its event.
async fn start_order(db: &TestDb, id: &str, euros: i64) {
    db.scheduler
        .schedule_now(id, "checkout", json!({ "euros": euros }))
        .await
        .expect("scheduled");
    wait_until_waiting(db, id).await;
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
    let worker = deploy(
        &db,
        Version1 {
            ran: old_ran.clone(),
        },
    );
    start_order(&db, "old-order", 12).await;
    worker.stop().await;

    // The deploy: version 2 takes over the execution in flight, and starts new ones.
    let worker = deploy(
        &db,
        Version2 {
            ran: new_ran.clone(),
        },
    );
    start_order(&db, "new-order", 3).await;
    for id in ["old-order", "new-order"] {
        ship(&db, id).await;
    }
    both_completed_on_their_sides(&db, worker).await;
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
    let worker = deploy(&db, Version2 { ran: ran.clone() });
    start_order(&db, "order", 5).await;
    worker.stop().await;

    let worker = deploy(&db, Version3 { ran: ran.clone() });
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

async fn app_version(db: &TestDb, id: &str) -> String {
    db.task(id)
        .await
        .app_version
        .unwrap_or_else(|| "-".to_owned())
}

/// Waits until the 12-euro order begun under version 1 and the 3-euro one begun under
/// version 2 have completed, each on its side of the change, and stops `worker`.
async fn both_completed_on_their_sides(db: &TestDb, worker: zart_tests::RunningWorker) {
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
}

async fn ship(db: &TestDb, id: &str) {
    db.executions()
        .send_event(id, "shipped", &json!({}))
        .await
        .expect("sent");
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_wait_for_a_worker_that_knows_the_version_that_began_them(db: TestDb) {
    let (old_ran, new_ran) = (Ran::default(), Ran::default());
    let v1 = Some(AppVersions::new("v1"));
    let worker = deploy_as(
        &db,
        Version1 {
            ran: old_ran.clone(),
        },
        v1,
    );
    start_order(&db, "old-order", 12).await;
    db.scheduler
        .schedule_now("note-1", "note", json!({}))
        .await
        .expect("scheduled");
    db.wait_for_status("note-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(app_version(&db, "old-order").await, "v1");
    assert_eq!(
        app_version(&db, "note-1").await,
        "-",
        "plain tasks replay nothing"
    );

    // Version 2 that cannot replay version 1: the old execution, due again, waits for it.
    let v2 = Some(AppVersions::new("v2"));
    let worker = deploy_as(
        &db,
        Version2 {
            ran: new_ran.clone(),
        },
        v2,
    );
    start_order(&db, "new-order", 3).await;
    assert_eq!(app_version(&db, "new-order").await, "v2");
    ship(&db, "old-order").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let old = db.task("old-order").await;
    assert_eq!(old.status, TaskStatus::Pending, "{old:?}");
    assert!(
        old.run_at <= chrono::Utc::now(),
        "due, and left alone: {old:?}"
    );
    worker.stop().await;

    // Version 2 that replays version 1 takes it over: on the old side.
    let v2_replaying_v1 = Some(AppVersions::new("v2").replaying(["v1"]));
    let worker = deploy_as(
        &db,
        Version2 {
            ran: new_ran.clone(),
        },
        v2_replaying_v1,
    );
    ship(&db, "new-order").await;
    both_completed_on_their_sides(&db, worker).await;
    assert_eq!(step_names(&db, "old-order").await[0], "charge");
    assert_eq!(
        step_names(&db, "new-order").await[0],
        "patch:charge-in-cents"
    );
    assert_eq!((old_ran.count("charge"), new_ran.count("charge")), (1, 0));
    assert_eq!(
        app_version(&db, "old-order").await,
        "v1",
        "kept through the takeover"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_begun_without_a_version_is_taken_by_any_worker(db: TestDb) {
    let ran = Ran::default();
    let worker = deploy_as(&db, Version1 { ran: ran.clone() }, None);
    start_order(&db, "order", 4).await;
    worker.stop().await;
    assert_eq!(app_version(&db, "order").await, "-");

    let worker = deploy_as(
        &db,
        Version2 { ran: ran.clone() },
        Some(AppVersions::new("v2")),
    );
    ship(&db, "order").await;
    let done = db
        .wait_for_status("order", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(done.result, Some(json!({ "euros": 4 })));
    assert_eq!(
        app_version(&db, "order").await,
        "-",
        "not claimed as version 2's"
    );
}
