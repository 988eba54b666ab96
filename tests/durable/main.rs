//! Durable executions against a real PostgreSQL: checkpointed steps, replay,
//! non-determinism, step retries, parallel steps, and a worker killed mid-execution.

mod cancel;
mod children;
mod crash;
mod events;
mod patches;
mod recurring;
mod rerun;
mod step_attempts;
mod suspended;
mod timers;
mod transactional;
mod waiting;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use zart::durable::{
    require, step, step_with, DurableExecution, DurableStep, StepError, StepOptions, TaskError,
};
use zart::scheduler::{RetryConfig, TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, quick_retry, TestDb};

/// Counts how often each step's code actually ran.
#[derive(Clone, Default)]
pub struct Ran(Arc<Mutex<HashMap<String, u32>>>);

impl Ran {
    pub fn hit(&self, name: &str) {
        *self
            .0
            .lock()
            .expect("lock")
            .entry(name.to_owned())
            .or_default() += 1;
    }
    pub fn count(&self, name: &str) -> u32 {
        self.0.lock().expect("lock").get(name).copied().unwrap_or(0)
    }
}

/// Four steps; the first attempt of the execution dies after the second.
struct FourSteps {
    ran: Ran,
    attempts: Arc<AtomicU32>,
}

#[zart::prelude::async_trait]
impl DurableExecution for FourSteps {
    type Data = Value;
    type Output = Value;

    async fn run(&self, data: Value) -> Result<Value, TaskError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let mut total = data["start"].as_i64().unwrap_or(0);
        for name in ["one", "two"] {
            let ran = self.ran.clone();
            total += step(name, || {
                ran.hit(name);
                async { Ok::<i64, StepError>(1) }
            })
            .await?;
        }
        if attempt == 1 {
            return Err(TaskError::failed("crashed after step two"));
        }
        for name in ["three", "four"] {
            let ran = self.ran.clone();
            total += step(name, || {
                ran.hit(name);
                async { Ok::<i64, StepError>(10) }
            })
            .await?;
        }
        Ok(json!({ "total": total }))
    }

    fn retry_config(&self) -> RetryConfig {
        quick_retry(3)
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_execution_never_runs_a_completed_step_again(db: TestDb) {
    let ran = Ran::default();
    let mut registry = TaskRegistry::new();
    registry.durable(
        "four-steps",
        FourSteps {
            ran: ran.clone(),
            attempts: Arc::default(),
        },
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("exec-1", "four-steps", json!({ "start": 100 }))
        .await
        .expect("scheduled");
    let record = db
        .wait_for_status("exec-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;

    assert_eq!(record.result, Some(json!({ "total": 122 })));
    assert_eq!(record.attempts, 2);
    for name in ["one", "two", "three", "four"] {
        assert_eq!(ran.count(name), 1, "step {name} ran once");
    }
    let steps = db
        .rows(&format!(
            "SELECT seq, name, status FROM {} WHERE task_id = 'exec-1' ORDER BY seq",
            db.zart_table("steps")
        ))
        .await;
    let expected: Vec<Vec<String>> = ["one", "two", "three", "four"]
        .iter()
        .enumerate()
        .map(|(i, n)| vec![i.to_string(), n.to_string(), "completed".to_owned()])
        .collect();
    assert_eq!(steps, expected);
    let log = db.executions().steps("exec-1").await.expect("log");
    let names: Vec<&str> = log.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["one", "two", "three", "four"]);
    assert!(log.iter().all(|s| s.attempts == 1));
    // Each step says when it was recorded, after it started and before the execution ended.
    let ended = record.finished_at.expect("the execution ended");
    for step in &log {
        let finished = step
            .finished_at
            .expect("a recorded step has its finish time");
        assert!(step.started_at <= finished, "{step:?}");
        assert!(finished <= ended, "{step:?} finished after the execution");
    }
}

/// Asks for step "a" on its first attempt and "b" on later ones.
struct Drifting {
    attempts: Arc<AtomicU32>,
}

#[zart::prelude::async_trait]
impl DurableExecution for Drifting {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let first = self.attempts.fetch_add(1, Ordering::SeqCst) == 0;
        let name = if first { "a" } else { "b" };
        step(name, || async { Ok::<_, StepError>(1) }).await?;
        if first {
            return Err(TaskError::failed("retry me"));
        }
        Ok(json!("done"))
    }

    fn retry_config(&self) -> RetryConfig {
        quick_retry(5)
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_that_contradicts_the_record_fails_naming_both_steps(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.durable(
        "drifting",
        Drifting {
            attempts: Arc::default(),
        },
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("drift-1", "drifting", json!({}))
        .await
        .expect("scheduled");
    let record = db
        .wait_for_status("drift-1", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await;
    let error = record.error.unwrap_or_default();
    assert_eq!(
        error,
        "non-deterministic replay: step #0 is recorded as \"a\" (occurrence 0) but this run asks for \"b\" (occurrence 0)"
    );
    assert_eq!(
        db.task("drift-1").await.attempts,
        2,
        "never retried, despite 5 attempts allowed"
    );
}

/// A flaky step that succeeds on its third attempt, and a broken one the body handles.
struct Resilient {
    ran: Ran,
}

#[zart::prelude::async_trait]
impl DurableExecution for Resilient {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let ran = self.ran.clone();
        let flaky = step_with(
            "flaky",
            StepOptions {
                retry: quick_retry(3),
                timeout: None,
            },
            || {
                ran.hit("flaky");
                let attempt = ran.count("flaky");
                async move {
                    match attempt {
                        1 | 2 => Err(StepError::failed(format!("attempt {attempt} broke"))),
                        _ => Ok(attempt),
                    }
                }
            },
        )
        .await?;
        let ran = self.ran.clone();
        let broken = step_with(
            "broken",
            StepOptions {
                retry: quick_retry(2),
                timeout: None,
            },
            || {
                ran.hit("broken");
                async { Err::<u32, _>(StepError::failed("still broken")) }
            },
        )
        .await;
        let fallback = match broken {
            Err(StepError::Exhausted {
                step,
                attempts,
                message,
            }) => json!({ "step": step, "attempts": attempts, "message": message }),
            other => return Err(TaskError::permanent(format!("unexpected {other:?}"))),
        };
        Ok(json!({ "flaky": flaky, "fallback": fallback }))
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_retry_and_exhausted_retries_reach_the_body(db: TestDb) {
    let ran = Ran::default();
    let mut registry = TaskRegistry::new();
    registry.durable("resilient", Resilient { ran: ran.clone() });
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("res-1", "resilient", json!({}))
        .await
        .expect("scheduled");
    let record = db
        .wait_for_status("res-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(
        record.result,
        Some(json!({
            "flaky": 3,
            "fallback": { "step": "broken", "attempts": 2, "message": "still broken" }
        }))
    );
    assert_eq!((ran.count("flaky"), ran.count("broken")), (3, 2));
    let steps = db
        .rows(&format!(
            "SELECT name, status, attempts, coalesce(error, '-') FROM {} WHERE task_id = 'res-1' ORDER BY seq",
            db.zart_table("steps")
        ))
        .await;
    assert_eq!(
        steps,
        [
            ["flaky", "completed", "3", "-"],
            ["broken", "failed", "2", "still broken"]
        ]
    );
}

struct Reserve {
    ran: Ran,
}

#[zart::prelude::async_trait]
impl DurableStep for Reserve {
    type Output = String;

    fn name(&self) -> &str {
        "reserve"
    }

    async fn run(&self) -> Result<String, StepError> {
        self.ran.hit("reserve");
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok("reserved".to_owned())
    }
}

/// Two steps in parallel, one written as a type.
struct Parallel {
    ran: Ran,
    attempts: Arc<AtomicU32>,
    first_took: Arc<Mutex<Option<Duration>>>,
}

#[zart::prelude::async_trait]
impl DurableExecution for Parallel {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let ran = self.ran.clone();
        let started = std::time::Instant::now();
        let (stock, mail) = tokio::try_join!(
            require(Reserve {
                ran: self.ran.clone()
            }),
            step("notify", || {
                ran.hit("notify");
                async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, StepError>("sent".to_owned())
                }
            }),
        )?;
        let elapsed = started.elapsed();
        if attempt == 1 {
            *self.first_took.lock().expect("lock") = Some(elapsed);
            return Err(TaskError::failed(format!(
                "parallel steps took {elapsed:?}; now crash"
            )));
        }
        Ok(json!({ "stock": stock, "mail": mail }))
    }

    fn retry_config(&self) -> RetryConfig {
        quick_retry(2)
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_steps_run_together_and_replay_by_position(db: TestDb) {
    let ran = Ran::default();
    let mut registry = TaskRegistry::new();
    let first_took = Arc::new(Mutex::new(None));
    registry.durable(
        "parallel",
        Parallel {
            ran: ran.clone(),
            attempts: Arc::default(),
            first_took: first_took.clone(),
        },
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("par-1", "parallel", json!({}))
        .await
        .expect("scheduled");
    let record = db
        .wait_for_status("par-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(
        record.result,
        Some(json!({ "stock": "reserved", "mail": "sent" }))
    );
    assert_eq!(
        (ran.count("reserve"), ran.count("notify")),
        (1, 1),
        "replayed, not re-run"
    );
    let took = first_took.lock().expect("lock").unwrap_or_default();
    assert!(
        took < Duration::from_millis(380),
        "two 200 ms steps ran side by side: {took:?}"
    );
    let first_error = db
        .number(&format!(
            "SELECT count(*) FROM {} WHERE task_id = 'par-1'",
            db.zart_table("steps")
        ))
        .await;
    assert_eq!(first_error, 2);
}

/// A step that outlives its timeout on the first attempt.
struct Impatient;

#[zart::prelude::async_trait]
impl DurableExecution for Impatient {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let attempts = Arc::new(AtomicU32::new(0));
        let options = StepOptions {
            retry: quick_retry(2),
            timeout: Some(Duration::from_millis(100)),
        };
        let seen = attempts.clone();
        let value = step_with("slow-api", options, move || {
            let attempt = seen.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if attempt == 1 {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Ok::<_, StepError>(attempt)
            }
        })
        .await?;
        Ok(json!({ "answered_on_attempt": value }))
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_attempt_that_outlives_its_timeout_is_retried(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.durable("impatient", Impatient);
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("imp-1", "impatient", json!({}))
        .await
        .expect("scheduled");
    let record = db
        .wait_for_status("imp-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(record.result, Some(json!({ "answered_on_attempt": 2 })));
}
