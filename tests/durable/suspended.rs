//! Suspended executions read as what they wait for: asleep, awaiting an event, awaiting a
//! child, with the wait's name and instant, through every reader and filter.

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use zart::durable::{child, sleep, wait_for_event, DurableExecution, TaskError, WaitingOn};
use zart::scheduler::{TaskFilter, TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, TestDb};

const HOUR: Duration = Duration::from_secs(3600);

struct Nap;

#[zart::prelude::async_trait]
impl DurableExecution for Nap {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        sleep("cool-down", HOUR).await?;
        Ok(json!("rested"))
    }
}

struct Approval;

#[zart::prelude::async_trait]
impl DurableExecution for Approval {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let by: Value = wait_for_event("approved", HOUR).await?;
        Ok(by)
    }
}

/// Waits for a child that no worker here runs: it never ends during the test.
struct Parent;

#[zart::prelude::async_trait]
impl DurableExecution for Parent {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let shipped: Value = child("ship-elsewhere", "parent-1/ship", &json!({}), HOUR).await?;
        Ok(shipped)
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_execution_reads_as_what_it_waits_for_and_is_found_by_it(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry
        .durable("nap", Nap)
        .durable("approval", Approval)
        .durable("parent", Parent);
    let worker = db.start_worker(registry, quick_config());
    let started = Utc::now();
    for (id, name) in [
        ("nap-1", "nap"),
        ("approval-1", "approval"),
        ("parent-1", "parent"),
    ] {
        db.scheduler
            .schedule_now(id, name, json!({}))
            .await
            .expect("scheduled");
    }
    let within = Duration::from_secs(20);
    let nap = db
        .wait_for_status("nap-1", TaskStatus::Sleeping, within)
        .await;
    let approval = db
        .wait_for_status("approval-1", TaskStatus::AwaitingEvent, within)
        .await;
    let parent = db
        .wait_for_status("parent-1", TaskStatus::AwaitingChild, within)
        .await;

    // What each waits on, until about an hour after it started (a wide margin either way).
    let in_an_hour = |at: chrono::DateTime<Utc>| {
        let from_start = at - started - chrono::Duration::hours(1);
        from_start >= chrono::Duration::zero() && from_start < chrono::Duration::seconds(60)
    };
    match &nap.waiting_on {
        Some(WaitingOn::Sleep { name, until }) => {
            assert_eq!(name, "cool-down");
            assert!(in_an_hour(*until), "the sleep ends in an hour: {until}");
        }
        other => panic!("nap-1 waits on its sleep: {other:?}"),
    }
    match &approval.waiting_on {
        Some(WaitingOn::Event { name, deadline }) => {
            assert_eq!(name, "approved");
            assert!(
                in_an_hour(*deadline),
                "the wait times out in an hour: {deadline}"
            );
        }
        other => panic!("approval-1 waits on its event: {other:?}"),
    }
    match &parent.waiting_on {
        Some(WaitingOn::Child { child_id, deadline }) => {
            assert_eq!(child_id, "parent-1/ship");
            assert!(
                in_an_hour(*deadline),
                "the wait times out in an hour: {deadline}"
            );
        }
        other => panic!("parent-1 waits on its child: {other:?}"),
    }

    // The execution API and every status filter say the same.
    let executions = db.executions();
    let inspector = db.zart().inspector();
    for (id, status) in [
        ("nap-1", TaskStatus::Sleeping),
        ("approval-1", TaskStatus::AwaitingEvent),
        ("parent-1", TaskStatus::AwaitingChild),
    ] {
        assert_eq!(
            executions.status(id).await.expect("status reads"),
            Some(status)
        );
        let listed = executions
            .list(None, Some(status), 10)
            .await
            .expect("lists");
        let ids: Vec<&str> = listed.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, [id], "the {status} filter finds exactly {id}");
        let count = inspector
            .count(&TaskFilter::default().status(status))
            .await
            .expect("counts");
        assert_eq!(count, 1, "one is {status}");
    }
    let pending = inspector
        .tasks(&TaskFilter::default().status(TaskStatus::Pending), 10)
        .await
        .expect("lists");
    let pending: Vec<&str> = pending.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(
        pending,
        ["parent-1/ship"],
        "pending leaves the suspended executions out: only the child no worker runs"
    );

    // The event comes: the execution runs on and completes.
    executions
        .send_event("approval-1", "approved", &json!("ada"))
        .await
        .expect("sent");
    let done = db
        .wait_for_status("approval-1", TaskStatus::Completed, within)
        .await;
    assert_eq!((done.result, done.waiting_on), (Some(json!("ada")), None));
    worker.stop().await;
}
