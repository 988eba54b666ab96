//! What workers record through the `metrics` facade, read back from a Prometheus recorder:
//! counters, histograms and the queue gauges, on each store.
//!
//! A recorder is global to a process; nextest runs each test in a process of its own, and
//! each test names its tasks after its store, so that none reads another's values.

use std::sync::OnceLock;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use zart::durable::StepError;
use zart::metrics as m;
use zart::scheduler::{OnComplete, ScheduleAtParams, SchedulerTaskError, TaskRegistry};
use zart::scheduler::{TaskScheduler, TaskStatus, WorkerConfig};
use zart::store::ClaimScope;
use zart::TaskError;
use zart_admin::prometheus::{PrometheusBuilder, PrometheusHandle};
use zart_tests::{quick_config, quick_retry, task, TestDb};

const WAIT: Duration = Duration::from_secs(20);

fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("no other recorder is installed in this process")
    })
}

/// The value of the sample `name{labels}` (labels in any order, none missing), if rendered.
fn sample(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    recorder().render().lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, rest) = series.split_once('{').unwrap_or((series, "}"));
        let rest = rest.strip_suffix('}')?;
        let given: Vec<String> = rest
            .split(',')
            .filter(|pair| !pair.is_empty())
            .map(str::to_owned)
            .collect();
        let wanted: Vec<String> = labels
            .iter()
            .map(|(key, value)| format!("{key}=\"{value}\""))
            .collect();
        let same = series_name == name
            && given.len() == wanted.len()
            && wanted.iter().all(|pair| given.contains(pair));
        same.then(|| value.parse().ok()).flatten()
    })
}

/// Polls until `name{labels}` reads `expected` (outcomes are counted just after they are
/// stored, so a test that saw the status may be a moment early).
async fn wait_for(name: &str, labels: &[(&str, &str)], expected: f64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = sample(name, labels);
        if found == Some(expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}{labels:?} is {found:?}, not {expected}:\n{}",
            recorder().render()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn store_tag(db: &TestDb) -> &'static str {
    match db.is_sqlite() {
        true => "sqlite",
        false => "pg",
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_are_counted_per_task_name_and_queue(db: TestDb) {
    recorder();
    let (ok, flaky) = (
        format!("ok-{}", store_tag(&db)),
        format!("flaky-{}", store_tag(&db)),
    );
    let queue = format!("metered-{}", store_tag(&db));
    let mut registry = TaskRegistry::new();
    registry.register(&ok, task(|_| async { Ok(OnComplete::done()) }));
    registry.register(
        &flaky,
        task(|_| async { Err(SchedulerTaskError::failed("not today")) }).retry(quick_retry(2)),
    );
    registry.set_queue(&ok, &queue);
    let worker = db.start_worker(registry, quick_config());
    for id in ["ok-1", "ok-2"] {
        db.scheduler
            .schedule_now(id, &ok, json!({}))
            .await
            .expect("scheduled");
    }
    db.scheduler
        .schedule_now("flaky-1", &flaky, json!({}))
        .await
        .expect("scheduled");
    let again = db
        .scheduler
        .schedule_at_if_absent(ScheduleAtParams::now("ok-1", &ok, json!({})))
        .await
        .expect("scheduling an existing id is no error");
    assert!(!again, "ok-1 exists");
    for id in ["ok-1", "ok-2"] {
        db.wait_for_status(id, TaskStatus::Completed, WAIT).await;
    }
    db.wait_for_status("flaky-1", TaskStatus::Failed, WAIT)
        .await;

    let (ok_labels, flaky_labels) = (
        [("task_name", ok.as_str()), ("queue", queue.as_str())],
        [("task_name", flaky.as_str()), ("queue", "default")],
    );
    wait_for(m::TASKS_COMPLETED, &ok_labels, 2.0).await;
    wait_for(m::TASKS_FAILED, &flaky_labels, 1.0).await;
    wait_for(m::TASKS_RETRIED, &flaky_labels, 1.0).await;
    worker.stop().await;
    assert_eq!(
        sample(m::TASKS_SCHEDULED, &[("task_name", &ok)]),
        Some(2.0),
        "the id scheduled twice is counted once"
    );
    assert_eq!(
        sample(m::TASKS_SCHEDULED, &[("task_name", &flaky)]),
        Some(1.0)
    );
    assert_eq!(sample(m::TASKS_STARTED, &ok_labels), Some(2.0));
    assert_eq!(
        sample(m::TASKS_STARTED, &flaky_labels),
        Some(2.0),
        "two attempts"
    );
    assert_eq!(
        sample(m::TASKS_FAILED, &ok_labels),
        None,
        "none of ok failed"
    );
    assert_eq!(sample(m::TASKS_COMPLETED, &flaky_labels), None);
    let count = |name: &str, labels: &[(&str, &str)]| sample(&format!("{name}_count"), labels);
    assert_eq!(count(m::TASK_START_DELAY, &ok_labels), Some(2.0));
    assert_eq!(count(m::TASK_ATTEMPT_DURATION, &flaky_labels), Some(2.0));
    let delay = sample(&format!("{}_sum", m::TASK_START_DELAY), &ok_labels);
    assert!(
        delay.is_some_and(|sum| (0.0..WAIT.as_secs_f64()).contains(&sum)),
        "start delays are never negative: {delay:?}"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rescued_and_dead_tasks_are_counted_from_the_maintenance_pass(db: TestDb) {
    recorder();
    let name = format!("orphaned-{}", store_tag(&db));
    for id in ["rescued", "dead"] {
        db.scheduler
            .schedule_now(id, &name, json!({}))
            .await
            .expect("scheduled");
    }
    // A worker that died holding both: claimed, never heard of again.
    let claimed = db
        .scheduler
        .claim(
            "dead-worker",
            2,
            Duration::from_millis(1),
            &ClaimScope::default(),
        )
        .await
        .expect("claimed");
    assert_eq!(claimed.len(), 2);
    db.execute(&format!(
        "UPDATE {} SET rescues = 3 WHERE task_id = 'dead'",
        db.tasks_table()
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut registry = TaskRegistry::new();
    registry.register(&name, task(|_| async { Ok(OnComplete::done()) }));
    let config = WorkerConfig {
        rescue_interval: Duration::from_millis(200),
        max_rescues: 3,
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);
    db.wait_for_status("rescued", TaskStatus::Completed, WAIT)
        .await;
    db.wait_for_status("dead", TaskStatus::Dead, WAIT).await;
    wait_for(m::TASKS_RESCUED, &[], 1.0).await;
    wait_for(m::TASKS_DEAD, &[], 1.0).await;
    worker.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maintenance_pass_samples_each_queues_load(db: TestDb) {
    recorder();
    // No worker has a handler for these: they stay where the test puts them.
    let unserved = format!("unserved-{}", store_tag(&db));
    let now = Utc::now();
    let due = [
        ("u1", -60),
        ("u2", -10),
        ("u3", -5),
        ("u4", -1),
        ("u5", 3600),
    ];
    for (id, seconds) in due {
        let at = now + chrono::Duration::seconds(seconds);
        db.scheduler
            .schedule_at(ScheduleAtParams::at(id, &unserved, at, json!({})))
            .await
            .expect("scheduled");
    }
    // Another process runs the oldest: running, not due.
    let running = db
        .scheduler
        .claim(
            "elsewhere",
            1,
            Duration::from_secs(60),
            &ClaimScope::default(),
        )
        .await
        .expect("claimed");
    assert_eq!(running.len(), 1);

    let quiet = format!("quiet-{}", store_tag(&db));
    let mut registry = TaskRegistry::new();
    registry.register("idle", task(|_| async { Ok(OnComplete::done()) }));
    registry.set_queue("idle", &quiet);
    let config = WorkerConfig {
        rescue_interval: Duration::from_millis(200),
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);
    // The unserved name is declared by no worker: it is counted in the default queue.
    wait_for(m::QUEUE_DUE, &[("queue", "default")], 3.0).await;
    assert_eq!(sample(m::QUEUE_RUNNING, &[("queue", "default")]), Some(1.0));
    let age = sample(m::QUEUE_OLDEST_DUE_AGE, &[("queue", "default")]);
    assert!(
        age.is_some_and(|age| (10.0..60.0).contains(&age)),
        "the oldest due task (u2) waited about 10 s: {age:?}"
    );
    // A declared queue with nothing in it reads 0, not nothing.
    wait_for(m::QUEUE_DUE, &[("queue", &quiet)], 0.0).await;
    assert_eq!(sample(m::QUEUE_RUNNING, &[("queue", &quiet)]), Some(0.0));
    assert_eq!(
        sample(m::QUEUE_OLDEST_DUE_AGE, &[("queue", &quiet)]),
        Some(0.0)
    );

    // Once the due tasks are gone, the next pass says so.
    db.execute(&format!(
        "DELETE FROM {} WHERE task_name = '{unserved}' AND status = 'pending'",
        db.tasks_table()
    ))
    .await;
    wait_for(m::QUEUE_DUE, &[("queue", "default")], 0.0).await;
    assert_eq!(
        sample(m::QUEUE_OLDEST_DUE_AGE, &[("queue", "default")]),
        Some(0.0)
    );
    worker.stop().await;
}

#[zart::step]
async fn weigh(grams: u32) -> Result<u32, StepError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(grams * 2)
}

#[zart::durable]
async fn parcel(grams: u32) -> Result<u32, TaskError> {
    let first = weigh(grams).await?;
    let second = weigh(first).await?;
    Ok(second)
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_and_their_checkpoints_are_timed(db: TestDb) {
    recorder();
    let zart = db.zart();
    let worker = zart
        .worker()
        .config(quick_config())
        .register(zart::registry![parcel])
        .start()
        .await
        .expect("the worker starts");
    let handle = parcel::start(&zart, "parcel-1", 5).await.expect("started");
    assert_eq!(handle.wait(WAIT).await.expect("it completes"), 20);
    worker.shutdown().await.expect("the worker stops");

    let step = [("task_name", "parcel"), ("step", "weigh")];
    let count = sample(&format!("{}_count", m::STEP_DURATION), &step);
    assert_eq!(count, Some(2.0), "each call of the step ran once");
    let sum = sample(&format!("{}_sum", m::STEP_DURATION), &step);
    assert!(
        sum.is_some_and(|sum| sum >= 0.04),
        "two bodies of 20 ms at least: {sum:?}"
    );
    let written = sample(&format!("{}_count", m::CHECKPOINT_WRITE_DURATION), &[]);
    assert!(
        written.is_some_and(|n| n >= 2.0),
        "each step's result was written: {written:?}"
    );
}
