//! `#[task]`: typed scheduling and results, injected state and instance, follow-ups,
//! blocking functions, retry and timeout attributes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zart::scheduler::{OnComplete, ScheduleAtParams, SchedulerTaskError, TaskInstance, TaskStatus};
use zart::{State, TaskError, WaitError};
use zart_tests::TestDb;

use super::{quick_worker, WAIT};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Invoice {
    customer: String,
    cents: u64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    number: String,
    total: String,
}

pub struct Numbering {
    prefix: String,
}

#[zart::task]
async fn bill(
    invoice: Invoice,
    numbering: State<Numbering>,
    task: &TaskInstance,
) -> Result<Receipt, TaskError> {
    Ok(Receipt {
        number: format!("{}-{}-{}", numbering.prefix, task.task_id, task.attempt),
        total: format!(
            "{}.{:02} for {}",
            invoice.cents / 100,
            invoice.cents % 100,
            invoice.customer
        ),
    })
}

#[zart_tests::each_store]
#[tokio::test]
async fn a_task_gets_its_typed_input_its_state_and_its_instance_and_returns_a_typed_result(
    db: TestDb,
) {
    let zart = db.zart();
    let worker = quick_worker(&zart)
        .register(zart::registry![bill])
        .state(Numbering {
            prefix: "INV".into(),
        })
        .start()
        .await
        .expect("the worker starts");
    let invoice = Invoice {
        customer: "Ada".into(),
        cents: 4250,
    };
    let handle = bill::schedule_now(&zart, "bill-1", invoice)
        .await
        .expect("scheduled");
    assert_eq!(handle.id(), "bill-1");
    let receipt: Receipt = handle.wait(WAIT).await.expect("a receipt");
    assert_eq!(
        receipt,
        Receipt {
            number: "INV-bill-1-1".into(),
            total: "42.50 for Ada".into()
        }
    );
    // Stored under the function's name, with the input as JSON.
    let record = db.task("bill-1").await;
    assert_eq!(record.task_name, "bill");
    assert_eq!(record.data["customer"], "Ada");
    worker.shutdown().await.expect("clean stop");
}

#[zart_tests::each_store]
#[tokio::test]
async fn a_worker_without_a_state_its_tasks_take_refuses_to_start(db: TestDb) {
    let refused = db
        .zart()
        .worker()
        .register(zart::registry![bill])
        .start()
        .await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("task \"bill\" takes State<") && message.contains("Numbering"),
        "{message}"
    );
}

#[derive(Serialize, Deserialize)]
pub struct Signup {
    email: String,
}

#[zart::task(name = "signup-welcome")]
async fn welcome(signup: Signup, task: TaskInstance) -> Result<OnComplete, TaskError> {
    Ok(OnComplete {
        result: Some(serde_json::json!({ "sent": signup.email })),
        schedule_next: vec![ScheduleAtParams::now(
            format!("{}-follow-up", task.task_id),
            follow_up::NAME,
            serde_json::json!(signup.email.len()),
        )],
    })
}

#[zart::task]
fn follow_up(length: usize) -> Result<usize, SchedulerTaskError> {
    // A plain `fn`: runs on the blocking pool.
    std::thread::sleep(Duration::from_millis(5));
    Ok(length * 2)
}

#[zart_tests::each_store]
#[tokio::test]
async fn on_complete_chains_follow_ups_and_a_plain_fn_runs_on_the_blocking_pool(db: TestDb) {
    let zart = db.zart();
    let worker = quick_worker(&zart)
        .register(zart::registry![welcome, follow_up])
        .start()
        .await
        .expect("the worker starts");
    let signup = Signup {
        email: "ada@example.com".into(),
    };
    let handle = welcome::schedule_now(&zart, "w-1", signup)
        .await
        .expect("scheduled");
    assert_eq!(
        handle.wait(WAIT).await.expect("completed"),
        Some(serde_json::json!({ "sent": "ada@example.com" }))
    );
    assert_eq!(db.task("w-1").await.task_name, "signup-welcome");
    let chained = zart.handle::<follow_up>("w-1-follow-up");
    assert_eq!(chained.wait(WAIT).await.expect("the follow-up ran"), 30);
    worker.shutdown().await.expect("clean stop");
}

#[zart::task(priority = 4)]
async fn escalate(n: usize, task: TaskInstance) -> Result<zart::scheduler::Completion, TaskError> {
    Ok(zart::scheduler::Completion::new()
        .result(serde_json::json!(n))
        .follow_up_at_priority(
            ScheduleAtParams::now(
                format!("{}-urgent", task.task_id),
                follow_up::NAME,
                serde_json::json!(n),
            ),
            12,
        )
        .follow_up(ScheduleAtParams::now(
            format!("{}-same", task.task_id),
            follow_up::NAME,
            serde_json::json!(n),
        )))
}

#[zart_tests::each_store]
#[tokio::test]
async fn a_task_returning_a_completion_schedules_follow_ups_at_their_priorities(db: TestDb) {
    let zart = db.zart();
    let worker = quick_worker(&zart)
        .register(zart::registry![escalate, follow_up])
        .start()
        .await
        .expect("the worker starts");
    let handle = escalate::schedule_now(&zart, "e-1", 2)
        .await
        .expect("scheduled");
    assert_eq!(
        handle.wait(WAIT).await.expect("completed"),
        Some(serde_json::json!(2))
    );
    for (id, priority) in [("e-1-urgent", 12), ("e-1-same", 4)] {
        let run = zart.handle::<follow_up>(id);
        assert_eq!(run.wait(WAIT).await.expect("the follow-up ran"), 4);
        assert_eq!(db.task(id).await.priority, priority, "{id}");
    }
    worker.shutdown().await.expect("clean stop");
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[zart::task(retry = fixed(max_attempts = 3, delay = "10ms"), timeout = "200ms")]
async fn flaky(sleep_ms: u64) -> Result<u32, TaskError> {
    let call = FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
    match call {
        1 => Err(TaskError::failed("first attempt fails")),
        n => Ok(n),
    }
}

#[zart_tests::each_store]
#[tokio::test]
async fn retry_and_timeout_attributes_govern_the_attempts(db: TestDb) {
    let zart = db.zart();
    let worker = quick_worker(&zart)
        .register(zart::registry![flaky])
        .start()
        .await
        .expect("the worker starts");
    // Attempt 1 fails, attempt 2 succeeds: three attempts were allowed, 10 ms apart.
    let handle = flaky::schedule_now(&zart, "flaky-1", 0)
        .await
        .expect("scheduled");
    assert_eq!(handle.wait(WAIT).await.expect("the retry succeeded"), 2);
    assert_eq!(db.task("flaky-1").await.attempts, 2);

    // Every attempt outlives the 200 ms timeout: three attempts, then failed.
    let slow = flaky::schedule_now(&zart, "flaky-2", 1_000)
        .await
        .expect("scheduled");
    match slow.wait(WAIT).await {
        Err(WaitError::Ended { status, error, .. }) => {
            assert_eq!(status, TaskStatus::Failed);
            let error = error.unwrap_or_default();
            assert!(error.contains("timed out after 200ms"), "{error}");
        }
        other => panic!("expected a failed run, got {other:?}"),
    }
    assert_eq!(db.task("flaky-2").await.attempts, 3);
    worker.shutdown().await.expect("clean stop");
}

#[zart::task]
async fn needs_a_number(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[zart_tests::each_store]
#[tokio::test]
async fn bad_stored_input_fails_the_run_with_a_typed_error_and_the_worker_goes_on(db: TestDb) {
    let zart = db.zart();
    let worker = quick_worker(&zart)
        .register(zart::registry![needs_a_number])
        .start()
        .await
        .expect("the worker starts");
    // Scheduled by name, untyped, with input the function cannot take.
    zart::scheduler::TaskScheduler::schedule_now(
        &zart.tasks(),
        "bad-1",
        "needs_a_number",
        serde_json::json!("seven"),
    )
    .await
    .expect("scheduled");
    let bad = zart.handle::<needs_a_number>("bad-1");
    match bad.wait(WAIT).await {
        Err(WaitError::Ended { status, error, .. }) => {
            assert_eq!(status, TaskStatus::Failed);
            assert!(error.unwrap_or_default().contains("does not decode"));
        }
        other => panic!("expected a failed run, got {other:?}"),
    }
    let good = needs_a_number::schedule_now(&zart, "good-1", 7)
        .await
        .expect("scheduled");
    assert_eq!(good.wait(WAIT).await.expect("the worker went on"), 7);
    worker.shutdown().await.expect("clean stop");
}

#[tokio::test]
async fn a_task_is_still_an_ordinary_function() {
    assert_eq!(needs_a_number(3).await.ok(), Some(3));
    assert_eq!(follow_up(4).ok(), Some(8));
}

#[zart::task(queue = "emails")]
async fn send_receipt(to: String) -> Result<String, TaskError> {
    Ok(format!("sent to {to}"))
}

#[zart::task]
async fn archive(receipt: String) -> Result<String, TaskError> {
    Ok(format!("archived {receipt}"))
}

#[zart_tests::each_store]
#[tokio::test]
async fn a_task_in_a_queue_runs_only_on_a_worker_serving_that_queue(db: TestDb) {
    let zart = db.zart();
    let registry = || zart::registry![send_receipt, archive];
    assert_eq!(registry().queue_of("send_receipt"), Some("emails"));
    assert_eq!(
        registry().queue_of("archive"),
        Some(zart::scheduler::DEFAULT_QUEUE)
    );

    let default_worker = quick_worker(&zart)
        .register(registry())
        .queues([zart::scheduler::DEFAULT_QUEUE])
        .start()
        .await
        .expect("the default-queue worker starts");
    let email = send_receipt::schedule_now(&zart, "receipt-1", "ada@example.com".into())
        .await
        .expect("scheduled");
    let archived = archive::schedule_now(&zart, "archive-1", "R-1".into())
        .await
        .expect("scheduled");
    assert_eq!(archived.wait(WAIT).await.expect("archived"), "archived R-1");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        email.status().await.expect("read"),
        Some(TaskStatus::Pending),
        "no worker serves the emails queue yet"
    );

    let email_worker = quick_worker(&zart)
        .register(registry())
        .queues(["emails"])
        .start()
        .await
        .expect("the email worker starts");
    assert_eq!(
        email.wait(WAIT).await.expect("sent"),
        "sent to ada@example.com"
    );
    default_worker.shutdown().await.expect("stopped");
    email_worker.shutdown().await.expect("stopped");
}

#[zart::task(priority = 9)]
async fn urgent(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[zart_tests::each_store]
#[tokio::test]
async fn a_declared_priority_is_what_typed_starts_store(db: TestDb) {
    let zart = db.zart();
    let handle = urgent::schedule_now(&zart, "urgent-1", 3)
        .await
        .expect("started");
    assert_eq!(db.task(handle.id()).await.priority, 9);
    let plain = bill::schedule_now(
        &zart,
        "plain-1",
        Invoice {
            customer: "c".into(),
            cents: 1,
        },
    )
    .await
    .expect("started");
    assert_eq!(db.task(plain.id()).await.priority, 0, "undeclared: 0");
}

#[zart::durable(priority = 2)]
async fn ranked(options: u32, at: u32) -> Result<u32, TaskError> {
    Ok(options + at)
}

#[zart_tests::each_store]
#[tokio::test]
async fn a_start_may_name_its_own_priority_and_due_time(db: TestDb) {
    let zart = db.zart();
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let options = zart::scheduler::StartOptions::new().priority(-4).at(later);
    let task = urgent::schedule_with(&zart, "urgent-own", options, 3)
        .await
        .expect("scheduled");
    let stored = db.task(task.id()).await;
    assert_eq!(
        stored.priority, -4,
        "the call's priority, not the declared 9"
    );
    assert_eq!(stored.run_at.timestamp_millis(), later.timestamp_millis());
    // Parameters named like the generated ones' (`options`, `at`) still work.
    let durable = ranked::start_with(
        &zart,
        "ranked-own",
        zart::scheduler::StartOptions::new(),
        1,
        2,
    )
    .await
    .expect("started");
    assert_eq!(
        db.task(durable.id()).await.priority,
        2,
        "declared when not given"
    );
    let direct = zart
        .start_with::<urgent>(
            "urgent-direct",
            1,
            zart::scheduler::StartOptions::new().priority(7),
        )
        .await
        .expect("started");
    assert_eq!(db.task(direct.id()).await.priority, 7);
}
