//! `zart::testing`: workflows that sleep, wait for events, retry and recur, tested without
//! waiting, on the driven clock of a fresh in-memory store.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::DurationRound;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zart::durable::{step, StepError};
use zart::scheduler::{
    OnComplete, RetryConfig, ScheduleAtParams, TaskRegistry, TaskScheduler, WorkerConfig,
};
use zart::testing::{Ending, TestError, TestZart};
use zart::TaskError;
use zart_tests::TestDb;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    id: String,
    cents: i64,
}

/// Charges, lets an hour pass before shipping, then waits up to a day for the delivery to
/// be confirmed, and refunds if it never is.
#[zart::durable]
async fn checkout(order: Order) -> Result<String, TaskError> {
    let charged: i64 = step("charge", || async { Ok::<_, StepError>(order.cents) }).await?;
    zart::sleep("cooling-off", HOUR).await?;
    step("ship", || async { Ok::<_, StepError>(()) }).await?;
    match zart::wait_for_event::<String>("delivered", DAY).await {
        Ok(to) => Ok(format!("delivered to {to}, charged {charged}")),
        Err(StepError::Exhausted { .. }) => {
            step("refund", || async { Ok::<_, StepError>(()) }).await?;
            Ok(format!("refunded {charged}"))
        }
        Err(other) => Err(other.into()),
    }
}

fn order() -> Order {
    Order {
        id: "order-1".into(),
        cents: 1250,
    }
}

fn endings(ran: &[zart::testing::Ran]) -> Vec<&'static str> {
    ran.iter()
        .map(|ran| match ran.ending {
            Ending::Completed => "completed",
            Ending::Retrying { .. } => "retrying",
            Ending::Failed { .. } => "failed",
            Ending::Suspended { .. } => "suspended",
            Ending::Ticked => "ticked",
            _ => "other",
        })
        .collect()
}

#[tokio::test]
async fn a_checkout_that_sleeps_an_hour_and_waits_a_day_for_an_event_is_tested_at_once() {
    let began = Instant::now();
    let zart = TestZart::new(zart::registry![checkout]).await.expect("kit");
    let handle = checkout::start(&zart, "order-1", order())
        .await
        .expect("started");

    let ran = zart.run_until_idle().await.expect("ran");
    assert_eq!(endings(&ran), ["suspended"], "charged, then asleep");
    let Ending::Suspended { until } = ran[0].ending else {
        unreachable!()
    };
    let hour_ahead = zart.clock().now() + chrono::Duration::hours(1);
    assert!(
        (hour_ahead - until).num_seconds().abs() <= 2,
        "asleep an hour: {until}"
    );

    zart.advance(HOUR - Duration::from_secs(60));
    assert!(
        zart.run_until_idle().await.expect("ran").is_empty(),
        "not yet"
    );
    zart.advance(Duration::from_secs(60));
    let ran = zart.run_until_idle().await.expect("ran");
    assert_eq!(
        endings(&ran),
        ["suspended"],
        "shipped, now waiting for the event"
    );

    zart.executions()
        .send_event("order-1", "delivered", &json!("ada"))
        .await
        .expect("sent");
    let ran = zart.run_until_idle().await.expect("ran");
    assert_eq!(endings(&ran), ["completed"]);
    assert_eq!(
        handle.wait(Duration::from_secs(1)).await.expect("done"),
        "delivered to ada, charged 1250"
    );
    let steps: Vec<String> = zart
        .executions()
        .steps("order-1")
        .await
        .expect("steps")
        .into_iter()
        .map(|step| step.name)
        .collect();
    assert_eq!(
        steps,
        [
            "charge",
            "sleep:cooling-off",
            "ship",
            "event-deadline:delivered",
            "event:delivered"
        ]
    );
    // An hour and a day of the workflow's time, none of the test's: a real wait would
    // take that long.
    let elapsed = began.elapsed();
    println!("checkout tested in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn an_event_deadline_passes_when_the_clock_passes_it() {
    let zart = TestZart::new(zart::registry![checkout]).await.expect("kit");
    let handle = checkout::start(&zart, "order-1", order())
        .await
        .expect("started");
    zart.run_until_idle().await.expect("ran");
    zart.advance_and_run(HOUR).await.expect("shipped");

    let ran = zart.advance_and_run(DAY - HOUR).await.expect("ran");
    assert!(ran.is_empty(), "the deadline is a day away, not 23 hours");
    let ran = zart.advance_and_run(HOUR).await.expect("ran");
    assert_eq!(endings(&ran), ["completed"]);
    assert_eq!(
        handle.wait(Duration::from_secs(1)).await.expect("done"),
        "refunded 1250"
    );
}

#[tokio::test]
async fn a_retry_backoff_comes_due_when_the_clock_reaches_it() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let mut registry = TaskRegistry::new();
    registry.register(
        "flaky",
        zart_tests::task(move |_| {
            let calls = counted.clone();
            async move {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(zart::scheduler::SchedulerTaskError::failed("not yet")),
                    _ => Ok(OnComplete::done()),
                }
            }
        })
        .retry(RetryConfig {
            max_attempts: 3,
            initial_delay: HOUR,
            max_delay: HOUR,
            jitter: 0.0,
            ..RetryConfig::default()
        }),
    );
    let zart = TestZart::new(registry).await.expect("kit");
    zart.tasks()
        .schedule_now("flaky-1", "flaky", json!({}))
        .await
        .expect("scheduled");

    let ran = zart.run_until_idle().await.expect("ran");
    assert_eq!(endings(&ran), ["retrying"]);
    assert_eq!(zart.advance_and_run(HOUR / 2).await.expect("ran").len(), 0);
    let ran = zart.advance_and_run(HOUR / 2).await.expect("ran");
    assert_eq!(endings(&ran), ["completed"]);
    assert_eq!((ran[0].attempt, calls.load(Ordering::SeqCst)), (2, 2));
}

static HOURLY_RUNS: AtomicU32 = AtomicU32::new(0);

#[zart::recurring(cron = "0 * * * *")]
#[zart::task]
async fn hourly() -> Result<(), TaskError> {
    HOURLY_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test]
async fn a_recurring_slot_comes_due_when_the_clock_reaches_it() {
    let zart = TestZart::new(zart::registry![hourly]).await.expect("kit");
    assert!(
        zart.run_until_idle().await.expect("ran").is_empty(),
        "the first slot is ahead"
    );
    assert_eq!(HOURLY_RUNS.load(Ordering::SeqCst), 0);

    // To a second past the next whole hour: a tick much later than its slot would skip it
    // as missed, as it does in production.
    let now = zart.clock().now();
    let next_hour = now
        .duration_trunc(chrono::Duration::hours(1))
        .expect("truncated")
        + chrono::Duration::hours(1);
    let to_slot = (next_hour - now + chrono::Duration::seconds(1))
        .to_std()
        .expect("ahead");
    assert!(zart
        .advance_and_run(to_slot - Duration::from_secs(2))
        .await
        .expect("ran")
        .is_empty());
    let ran = zart
        .advance_and_run(Duration::from_secs(2))
        .await
        .expect("ran");
    assert_eq!(endings(&ran), ["ticked", "completed"], "the slot's run ran");
    let ran = zart.advance_and_run(HOUR).await.expect("ran");
    assert_eq!(
        endings(&ran),
        ["ticked", "completed"],
        "and the next hour's"
    );
    assert_eq!(HOURLY_RUNS.load(Ordering::SeqCst), 2);
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Receipt {
    order: String,
}

#[zart::task]
async fn send_receipt(_receipt: Receipt) -> Result<(), TaskError> {
    Ok(())
}

#[tokio::test]
async fn what_is_scheduled_is_asserted_by_type_and_input() {
    let zart = TestZart::new(zart::registry![send_receipt])
        .await
        .expect("kit");
    let receipt = |order: &str| Receipt {
        order: order.into(),
    };
    send_receipt::schedule_now(&zart, "receipt-1", receipt("order-1"))
        .await
        .expect("started");
    let found = zart
        .assert_scheduled::<send_receipt>(&receipt("order-1"))
        .await
        .expect("scheduled");
    assert_eq!(found.task_id, "receipt-1");

    match zart
        .assert_scheduled::<send_receipt>(&receipt("order-2"))
        .await
    {
        Err(TestError::NotScheduled {
            task_name,
            scheduled,
            ..
        }) => {
            assert_eq!(task_name, "send_receipt");
            assert_eq!(scheduled, [json!({ "order": "order-1" })]);
        }
        other => panic!("expected NotScheduled, got {other:?}"),
    }
    zart.run_until_idle().await.expect("ran");
    assert!(zart
        .scheduled::<send_receipt>()
        .await
        .expect("read")
        .is_empty());
}

#[tokio::test]
async fn run_next_runs_one_due_task_at_a_time() {
    let mut registry = TaskRegistry::new();
    registry.register(
        "job",
        zart_tests::task(|_| async { Ok(OnComplete::done()) }),
    );
    let zart = TestZart::new(registry).await.expect("kit");
    let later = zart.clock().now() + chrono::Duration::minutes(5);
    let tasks = zart.tasks();
    tasks
        .schedule_now("job-1", "job", json!(1))
        .await
        .expect("scheduled");
    tasks
        .schedule_now("job-2", "job", json!(2))
        .await
        .expect("scheduled");
    tasks
        .schedule_at(ScheduleAtParams::at("job-3", "job", later, json!(3)))
        .await
        .expect("scheduled");

    let first = zart.run_next().await.expect("ran").expect("one was due");
    assert_eq!(
        (first.task_id.as_str(), &first.ending),
        ("job-1", &Ending::Completed)
    );
    assert_eq!(zart.scheduled_named("job").await.expect("read").len(), 2);
    let second = zart.run_next().await.expect("ran").expect("one was due");
    assert_eq!(second.task_id, "job-2");
    assert_eq!(
        zart.run_next().await.expect("ran"),
        None,
        "job-3 is not due"
    );
    zart.advance(Duration::from_secs(300));
    assert_eq!(
        zart.run_next().await.expect("ran").map(|ran| ran.task_id),
        Some("job-3".to_owned())
    );
}

#[tokio::test]
async fn on_a_postgres_schema_tasks_run_but_the_system_clock_cannot_be_moved() {
    let db = TestDb::postgres().await;
    let mut registry = TaskRegistry::new();
    registry.register(
        "job",
        zart_tests::task(|_| async { Ok(OnComplete::done()) }),
    );
    let zart = TestZart::on_store(db.scheduler.clone(), registry, WorkerConfig::default())
        .await
        .expect("kit");
    zart.tasks()
        .schedule_now("job-1", "job", json!({}))
        .await
        .expect("scheduled");
    let ran = zart.run_until_idle().await.expect("ran");
    assert_eq!(endings(&ran), ["completed"]);
    assert_eq!(
        db.task("job-1").await.status,
        zart::scheduler::TaskStatus::Completed
    );
    assert!(matches!(
        zart.try_advance(HOUR),
        Err(TestError::ClockNotDriven)
    ));
}
