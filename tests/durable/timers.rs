use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zart::durable::{sleep, step, DurableExecution, StepError, TaskError};
use zart::scheduler::{TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, TestDb};

use crate::Ran;

struct Settle {
    ran: Ran,
}

#[zart::prelude::async_trait]
impl DurableExecution for Settle {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let ran = self.ran.clone();
        step("charge", || {
            ran.hit("charge");
            async { Ok::<_, StepError>(()) }
        })
        .await?;
        sleep("settle", Duration::from_millis(1500)).await?;
        let ran = self.ran.clone();
        step("ship", || {
            ran.hit("ship");
            async { Ok::<_, StepError>(()) }
        })
        .await?;
        Ok(json!("shipped"))
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_sleep_frees_the_worker_and_resumes_when_due(db: TestDb) {
    let ran = Ran::default();
    let mut registry = TaskRegistry::new();
    registry.durable("settle", Settle { ran: ran.clone() });
    let worker = db.start_worker(registry, quick_config());
    let started = Instant::now();
    db.scheduler
        .schedule_now("order-1", "settle", json!({}))
        .await
        .expect("scheduled");

    // Mid-sleep: the execution holds no worker and no lease; it waits to be due.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let sleeping = db.task("order-1").await;
    assert_eq!(sleeping.status, TaskStatus::Sleeping, "{sleeping:?}");
    assert_eq!(sleeping.worker_id, None);
    assert!(
        sleeping.run_at > chrono::Utc::now(),
        "due when the sleep ends"
    );
    assert_eq!((ran.count("charge"), ran.count("ship")), (1, 0));

    let done = db
        .wait_for_status("order-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    let took = started.elapsed();
    worker.stop().await;
    assert!(
        took >= Duration::from_millis(1500),
        "slept the whole time: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "and woke promptly: {took:?}");
    assert_eq!(done.result, Some(json!("shipped")));
    assert_eq!(done.attempts, 1, "sleeping is not a failed attempt");
    assert_eq!((ran.count("charge"), ran.count("ship")), (1, 1));
}

/// A step whose first attempt fails, with a backoff long enough to suspend.
struct Patient {
    ran: Ran,
}

#[zart::prelude::async_trait]
impl DurableExecution for Patient {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let ran = self.ran.clone();
        let options = zart::durable::StepOptions {
            retry: zart::scheduler::RetryConfig {
                max_attempts: 3,
                initial_delay: Duration::from_millis(1500),
                backoff_multiplier: 2.0,
                max_delay: Duration::from_secs(10),
                jitter: 0.0,
            },
            timeout: None,
        };
        let attempt = zart::durable::step_with("flaky-api", options, || {
            ran.hit("flaky-api");
            let attempt = ran.count("flaky-api");
            async move {
                match attempt {
                    1 => Err(StepError::failed("503")),
                    n => Ok(n),
                }
            }
        })
        .await?;
        Ok(json!({ "answered_on_attempt": attempt }))
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_step_backoff_suspends_the_execution_instead_of_holding_a_worker(db: TestDb) {
    let ran = Ran::default();
    let mut registry = TaskRegistry::new();
    registry.durable("patient", Patient { ran: ran.clone() });
    let worker = db.start_worker(registry, quick_config());
    let started = Instant::now();
    db.scheduler
        .schedule_now("pat-1", "patient", json!({}))
        .await
        .expect("scheduled");

    tokio::time::sleep(Duration::from_millis(700)).await;
    let waiting = db.task("pat-1").await;
    assert_eq!(
        waiting.status,
        TaskStatus::Pending,
        "suspended during the backoff: {waiting:?}"
    );
    assert_eq!(waiting.worker_id, None);
    let step = db
        .rows(&format!(
            "SELECT status, attempts FROM {} WHERE task_id = 'pat-1'",
            db.zart_table("steps")
        ))
        .await;
    assert_eq!(step, [["retrying", "1"]]);

    let done = db
        .wait_for_status("pat-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(done.result, Some(json!({ "answered_on_attempt": 2 })));
    assert_eq!(done.attempts, 1, "suspensions are not attempts");
    let step = db
        .rows(&format!(
            "SELECT status, attempts FROM {} WHERE task_id = 'pat-1'",
            db.zart_table("steps")
        ))
        .await;
    assert_eq!(step, [["completed", "2"]]);
}

/// Sleeps longer than its deadline allows.
struct Overdue;

#[zart::prelude::async_trait]
impl DurableExecution for Overdue {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        sleep("too-long", Duration::from_secs(30)).await?;
        Ok(json!("never"))
    }

    fn deadline(&self) -> Option<Duration> {
        Some(Duration::from_millis(800))
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_past_its_deadline_fails_even_while_asleep(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.durable("overdue", Overdue);
    let worker = db.start_worker(registry, quick_config());
    let started = Instant::now();
    db.scheduler
        .schedule_now("late-1", "overdue", json!({}))
        .await
        .expect("scheduled");
    let record = db
        .wait_for_status("late-1", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(
        record.error.as_deref(),
        Some("the execution's deadline of 800ms passed")
    );
}

/// Sleeps "forever", then waits "forever" for an event: neither may overflow an instant.
struct Forever;

#[zart::prelude::async_trait]
impl DurableExecution for Forever {
    type Data = Value;
    type Output = Value;

    async fn run(&self, data: Value) -> Result<Value, TaskError> {
        if data["sleep"] == true {
            sleep("forever", Duration::MAX).await?;
        } else {
            zart::durable::wait_for_event::<Value>("never", Duration::MAX).await?;
        }
        Ok(json!("woke"))
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleep_or_wait_of_duration_max_suspends_until_the_far_future(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.durable("forever", Forever);
    let worker = db.start_worker(registry, quick_config());
    for (id, sleeps) in [("sleeps", true), ("waits", false)] {
        db.scheduler
            .schedule_now(id, "forever", json!({ "sleep": sleeps }))
            .await
            .expect("scheduled");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for id in ["sleeps", "waits"] {
        loop {
            let task = db.task(id).await;
            if task.status.is_suspended() && task.run_at.format("%Y").to_string() == "9999" {
                break;
            }
            assert!(Instant::now() < deadline, "{id} never suspended: {task:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The waiting one still wakes on its event.
    assert!(db
        .executions()
        .send_event("waits", "never", &json!(1))
        .await
        .expect("sent"));
    let woke = db
        .wait_for_status("waits", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(woke.result, Some(json!("woke")));
}
