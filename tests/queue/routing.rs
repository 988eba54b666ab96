//! Which worker claims which task: only a worker that runs a task claims it, and a worker
//! told to serve some queues claims only their tasks.

use std::time::Duration;

use serde_json::json;
use zart::scheduler::{OnComplete, TaskRegistry, TaskScheduler, TaskStatus, WorkerConfig};
use zart::Error;
use zart_tests::{quick_config, task, TestDb};

fn done() -> impl zart::scheduler::ScheduledTask {
    task(|_| async { Ok(OnComplete::done()) })
}

fn serving(queues: &[&str]) -> WorkerConfig {
    WorkerConfig {
        queues: Some(queues.iter().map(|q| q.to_string()).collect()),
        ..quick_config()
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_no_running_worker_knows_waits_for_one_that_does(db: TestDb) {
    let mut old = TaskRegistry::new();
    old.register("known", done());
    let old_worker = db.start_worker(old, quick_config());
    db.scheduler
        .schedule_now("new", "added-in-the-next-release", json!({}))
        .await
        .expect("scheduled");
    db.scheduler
        .schedule_now("old", "known", json!({}))
        .await
        .expect("scheduled");
    db.wait_for_status("old", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    // Several claim rounds pass: the unknown task must be left alone by all of them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = db.task("new").await;
    assert_eq!(waiting.status, TaskStatus::Pending);
    assert_eq!(
        waiting.attempts, 0,
        "never claimed by a worker that cannot run it"
    );

    let mut new = TaskRegistry::new();
    new.register("known", done())
        .register("added-in-the-next-release", done());
    let new_worker = db.start_worker(new, quick_config());
    db.wait_for_status("new", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    assert_eq!(db.task("new").await.attempts, 1);
    old_worker.stop().await;
    new_worker.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serving_some_queues_claims_only_their_tasks(db: TestDb) {
    let registry = || {
        let mut registry = TaskRegistry::new();
        registry
            .register("send-email", done())
            .set_queue("send-email", "emails")
            .register("resize", done());
        registry
    };
    let emails_only = db.start_worker(registry(), serving(&["emails"]));
    db.scheduler
        .schedule_now("email-1", "send-email", json!({}))
        .await
        .expect("scheduled");
    db.scheduler
        .schedule_now("resize-1", "resize", json!({}))
        .await
        .expect("scheduled");
    db.wait_for_status("email-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let other = db.task("resize-1").await;
    assert_eq!(
        other.status,
        TaskStatus::Pending,
        "resize is in the default queue"
    );
    assert_eq!(other.attempts, 0);

    let default_only = db.start_worker(registry(), serving(&["default"]));
    db.wait_for_status("resize-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    emails_only.stop().await;
    default_only.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serving_a_queue_no_registered_task_is_in_refuses_to_start(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry
        .register("send-email", done())
        .set_queue("send-email", "emails");
    let worker = db.start_worker(registry, serving(&["emials"]));
    let outcome = worker.handle.await.expect("the worker task did not panic");
    let message = match outcome {
        Err(Error::Config(error)) => error.to_string(),
        other => panic!("expected a configuration error, got {other:?}"),
    };
    assert_eq!(
        message,
        "invalid worker configuration: queues names \"emials\", but no registered task is in \
         it (queues of the registered tasks: emails)"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serving_other_queues_still_fires_recurring_ticks(db: TestDb) {
    use zart::recurring::{OverlapPolicy, RecurringTask};
    use zart::schedule::Schedule;

    let mut registry = TaskRegistry::new();
    registry
        .register("heartbeat", done())
        .set_queue("heartbeat", "ops")
        .recurring(
            RecurringTask::new(
                "beat",
                "heartbeat",
                Schedule::every(Duration::from_millis(200)).expect("a valid interval"),
            )
            .overlap(OverlapPolicy::AlwaysStart)
            .max_runs(2),
        );
    let worker = db.start_worker(registry, serving(&["ops"]));
    db.wait_for_status("beat-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
}

/// A claim writes the names it may take into its statement (PostgreSQL keeps one plan per
/// set of names): quotes and backslashes in a name are the name's own, never SQL.
#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_quotes_and_backslashes_are_claimed_as_written(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry
        .register("it's", done())
        .register(r"back\slash", done());
    let worker = db.start_worker(registry, quick_config());
    for (id, name) in [
        ("quote", "it's"),
        ("backslash", r"back\slash"),
        ("doubled", "it''s"),
        ("escaped", r"back\\slash"),
        ("injected", "' OR true OR task_name = '"),
    ] {
        db.scheduler
            .schedule_now(id, name, json!({}))
            .await
            .expect("scheduled");
    }
    for id in ["quote", "backslash"] {
        db.wait_for_status(id, TaskStatus::Completed, Duration::from_secs(10))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in ["doubled", "escaped", "injected"] {
        let left = db.task(id).await;
        assert_eq!(left.status, TaskStatus::Pending, "{id}");
        assert_eq!(left.attempts, 0, "{id} was never claimed");
    }
    worker.stop().await;
}
