//! A step's failed attempts are recorded with it: each one's number, error, start and end,
//! whether its retries sleep in the worker or suspend the execution, and whether the step
//! then succeeds or gives up.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zart::durable::{
    step_with, DurableExecution, StepError, StepOptions, StepOutcome, StepRecord, TaskError,
};
use zart::scheduler::{RetryConfig, TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, quick_retry, TestDb};

use crate::Ran;

/// How long each failing attempt runs before it fails: its recorded start and end must
/// span it.
const ATTEMPT_TAKES: Duration = Duration::from_millis(60);

/// `name`'s closure: attempts up to `fails` run for [`ATTEMPT_TAKES`] and fail with
/// "`name` attempt n broke"; later ones succeed with their number.
fn flaky(
    ran: &Ran,
    name: &'static str,
    fails: u32,
) -> impl FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, StepError>> + Send>>
{
    let ran = ran.clone();
    move || {
        ran.hit(name);
        let attempt = ran.count(name);
        Box::pin(async move {
            if attempt > fails {
                return Ok(attempt);
            }
            tokio::time::sleep(ATTEMPT_TAKES).await;
            Err(StepError::failed(format!("{name} attempt {attempt} broke")))
        })
    }
}

/// Fails twice then succeeds; then a step that fails every attempt (the body goes on).
struct Retried {
    ran: Ran,
    retry: RetryConfig,
}

#[zart::prelude::async_trait]
impl DurableExecution for Retried {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let options = StepOptions {
            retry: self.retry.clone(),
            timeout: None,
        };
        let charged = step_with("charge", options.clone(), flaky(&self.ran, "charge", 2)).await?;
        let gave_up = step_with("notify", options, flaky(&self.ran, "notify", u32::MAX)).await;
        Ok(json!({ "charged": charged, "notify_gave_up": gave_up.is_err() }))
    }
}

/// Checks that `step`'s failed attempts are attempts 1..=`n`, in order, each with its
/// error, each spanning its run, one after the other within the step's own span.
fn assert_failed_attempts(step: &StepRecord, n: u32) {
    let numbers: Vec<u32> = step.failed_attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(
        numbers,
        (1..=n).collect::<Vec<_>>(),
        "{}'s failed attempts: {step:?}",
        step.name
    );
    let mut previous_end = step.started_at;
    for attempt in &step.failed_attempts {
        assert_eq!(
            attempt.error,
            format!("{} attempt {} broke", step.name, attempt.attempt)
        );
        assert!(
            attempt.started_at >= previous_end,
            "attempt {} of {} starts after the one before ends: {step:?}",
            attempt.attempt,
            step.name
        );
        let took = (attempt.finished_at - attempt.started_at)
            .to_std()
            .unwrap_or_default();
        assert!(
            took >= ATTEMPT_TAKES - Duration::from_millis(5) && took < Duration::from_secs(5),
            "attempt {} of {} ran {ATTEMPT_TAKES:?}, recorded as {took:?}",
            attempt.attempt,
            step.name
        );
        previous_end = attempt.finished_at;
    }
    // A store may keep its own instants in whole milliseconds.
    let recorded = step.finished_at.unwrap_or(step.started_at) + chrono::TimeDelta::milliseconds(1);
    assert!(
        previous_end <= recorded,
        "the step is recorded after its last failed attempt: {step:?}"
    );
}

/// Starts a worker running `Retried` with `retry`, and execution `id` of it.
async fn start(db: &TestDb, id: &str, retry: RetryConfig) -> (zart_tests::RunningWorker, Ran) {
    let ran = Ran::default();
    let mut registry = TaskRegistry::new();
    registry.durable(
        "retried",
        Retried {
            ran: ran.clone(),
            retry,
        },
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now(id, "retried", json!({}))
        .await
        .expect("scheduled");
    (worker, ran)
}

/// Waits for execution `id` to complete, stops `worker` and returns the steps.
async fn finish(
    db: &TestDb,
    id: &str,
    (worker, ran): (zart_tests::RunningWorker, Ran),
    within: Duration,
) -> Vec<StepRecord> {
    let record = db.wait_for_status(id, TaskStatus::Completed, within).await;
    worker.stop().await;
    assert_eq!(
        record.result,
        Some(json!({ "charged": 3, "notify_gave_up": true }))
    );
    assert_eq!((ran.count("charge"), ran.count("notify")), (3, 3));
    db.executions().steps(id).await.expect("steps")
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steps_failed_attempts_are_recorded_when_it_succeeds_and_when_it_gives_up(db: TestDb) {
    let running = start(&db, "sa-1", quick_retry(3)).await;
    let steps = finish(&db, "sa-1", running, Duration::from_secs(10)).await;
    assert_eq!(steps.len(), 2, "{steps:?}");
    let (charge, notify) = (&steps[0], &steps[1]);
    assert_eq!(charge.outcome, StepOutcome::Completed(json!(3)));
    assert_eq!(charge.attempts, 3);
    assert_failed_attempts(charge, 2);
    assert_eq!(
        notify.outcome,
        StepOutcome::Failed("notify attempt 3 broke".into())
    );
    assert_eq!(notify.attempts, 3);
    assert_failed_attempts(notify, 3);
}

/// Backoffs long enough to suspend the execution between attempts: the failed attempts
/// are recorded with the `retrying` step at each suspension and carried on to the end.
#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_kept_across_suspended_retries(db: TestDb) {
    let retry = RetryConfig {
        max_attempts: 3,
        initial_delay: zart::durable::SUSPEND_LONGER_THAN + Duration::from_millis(100),
        backoff_multiplier: 1.0,
        max_delay: Duration::from_secs(10),
        jitter: 0.0,
    };
    let started = Instant::now();
    let running = start(&db, "sa-2", retry).await;

    // Suspended after a failure: the retrying record holds the failed attempts so far.
    let deadline = Instant::now() + Duration::from_secs(10);
    let retrying = loop {
        let steps = db.executions().steps("sa-2").await.expect("steps");
        let first = steps.first();
        if let Some(step) = first.filter(|s| matches!(s.outcome, StepOutcome::Retrying { .. })) {
            break step.clone();
        }
        assert!(Instant::now() < deadline, "no retrying step: {steps:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_failed_attempts(&retrying, retrying.attempts);

    let steps = finish(&db, "sa-2", running, Duration::from_secs(30)).await;
    assert!(
        started.elapsed() >= 4 * zart::durable::SUSPEND_LONGER_THAN,
        "four backoffs were waited out"
    );
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0].attempts, 3);
    assert_failed_attempts(&steps[0], 2);
    assert_eq!(steps[1].attempts, 3);
    assert_failed_attempts(&steps[1], 3);
}
