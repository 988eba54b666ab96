//! `#[durable]` and `#[step]`: checkpointed steps that never run twice, several inputs
//! packed into arguments, typed results, and steps as plain calls outside an execution.

use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use zart::durable::StepError;
use zart::scheduler::TaskStatus;
use zart::{TaskError, WaitError};
use zart_tests::TestDb;

use super::{quick_worker, WAIT};

static CHARGES: AtomicU32 = AtomicU32::new(0);
static BODY_RUNS: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Order {
    id: String,
    cents: u64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Payment {
    reference: String,
}

#[zart::step(retry = none)]
async fn charge_card(order: &Order, attempt_note: String) -> Result<Payment, StepError> {
    CHARGES.fetch_add(1, Ordering::SeqCst);
    Ok(Payment {
        reference: format!("pay-{}-{}-{attempt_note}", order.id, order.cents),
    })
}

#[zart::step(name = "reserve", retry = fixed(max_attempts = 2, delay = "1ms"))]
async fn reserve_stock(order: &Order) -> Result<u32, StepError> {
    Ok(u32::try_from(order.cents % 7).unwrap_or(0))
}

#[zart::durable(retry = fixed(max_attempts = 2, delay = "10ms"))]
async fn checkout(order: Order, gift_wrap: bool) -> Result<String, TaskError> {
    let payment = charge_card(&order, "once".to_owned()).await?;
    let (reserved, again) = tokio::try_join!(reserve_stock(&order), reserve_stock(&order))?;
    // The first run of the body dies here; the retry replays the steps above.
    if BODY_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(TaskError::failed("crash after the steps"));
    }
    Ok(format!(
        "{} reserved {reserved}/{again} wrap={gift_wrap}",
        payment.reference
    ))
}

#[zart_tests::each_store]
#[tokio::test]
async fn completed_steps_are_replayed_not_rerun_and_several_inputs_are_packed(db: TestDb) {
    let zart = db.zart();
    let worker = quick_worker(&zart)
        .register(zart::registry![checkout])
        .start()
        .await
        .expect("the worker starts");
    let order = Order {
        id: "o-42".into(),
        cents: 1000,
    };
    let handle = checkout::start(&zart, "checkout-1", order, true)
        .await
        .expect("started");
    let receipt = handle.wait(WAIT).await.expect("completed");
    assert_eq!(receipt, "pay-o-42-1000-once reserved 6/6 wrap=true");
    assert_eq!(BODY_RUNS.load(Ordering::SeqCst), 2, "the body ran twice");
    assert_eq!(
        CHARGES.load(Ordering::SeqCst),
        1,
        "the card was charged once"
    );

    // The record: inputs stored as one object; steps named by the attribute or the fn.
    let record = db.task("checkout-1").await;
    assert_eq!(record.data["order"]["id"], "o-42");
    assert_eq!(record.data["gift_wrap"], true);
    let steps: Vec<String> = zart
        .executions()
        .steps("checkout-1")
        .await
        .expect("steps")
        .into_iter()
        .map(|step| step.name)
        .collect();
    assert_eq!(steps, ["charge_card", "reserve", "reserve"]);
    worker.shutdown().await.expect("clean stop");
}

#[zart::step(retry = 2)]
async fn always_fails() -> Result<u8, StepError> {
    Err(StepError::permanent("the bank said no"))
}

#[zart::durable]
async fn handles_exhausted_steps() -> Result<String, TaskError> {
    match always_fails().await {
        Ok(_) => Ok("impossible".into()),
        Err(StepError::Exhausted {
            step,
            attempts,
            message,
        }) => Ok(format!("{step} gave up after {attempts}: {message}")),
        Err(other) => Err(other.into()),
    }
}

#[zart::durable]
async fn fails_for_good() -> Result<(), TaskError> {
    Err(TaskError::permanent("no way"))
}

#[zart_tests::each_store]
#[tokio::test]
async fn exhausted_steps_reach_the_body_and_failures_reach_the_handle(db: TestDb) {
    let zart = db.zart();
    let worker = quick_worker(&zart)
        .register(zart::registry![handles_exhausted_steps, fails_for_good])
        .start()
        .await
        .expect("the worker starts");
    let handled = handles_exhausted_steps::start(&zart, "h-1")
        .await
        .expect("started");
    assert_eq!(
        handled.wait(WAIT).await.expect("completed"),
        "always_fails gave up after 1: the bank said no"
    );
    let failed = fails_for_good::start(&zart, "f-1").await.expect("started");
    match failed.wait(WAIT).await {
        Err(WaitError::Ended { status, error, .. }) => {
            assert_eq!(status, TaskStatus::Failed);
            assert_eq!(error.as_deref(), Some("no way"));
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    worker.shutdown().await.expect("clean stop");
}

#[zart_tests::each_store]
#[tokio::test]
async fn starting_an_existing_id_is_refused_and_handles_reattach(db: TestDb) {
    let zart = db.zart();
    fails_for_good::start(&zart, "same").await.expect("started");
    let again = fails_for_good::start(&zart, "same").await;
    assert!(
        matches!(again, Err(zart::Error::AlreadyExists(_))),
        "{again:?}"
    );
    let (handle, started) = zart
        .start_if_absent::<fails_for_good>("same", ())
        .await
        .expect("no error");
    assert!(!started);
    assert_eq!(
        handle.status().await.expect("status"),
        Some(TaskStatus::Pending)
    );
    assert_eq!(fails_for_good::handle(&zart, "same").id(), "same");
}

#[tokio::test]
async fn outside_an_execution_a_step_is_a_plain_call() {
    let before = CHARGES.load(Ordering::SeqCst);
    let order = Order {
        id: "unit".into(),
        cents: 1,
    };
    let payment = charge_card(&order, "test".into()).await.expect("paid");
    assert_eq!(payment.reference, "pay-unit-1-test");
    assert_eq!(CHARGES.load(Ordering::SeqCst), before + 1);
    // The body's own error, once: no retries, no wrapping.
    assert_eq!(
        always_fails().await,
        Err(StepError::permanent("the bank said no"))
    );
}
