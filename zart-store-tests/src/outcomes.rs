//! What [`finish`](zart_core::store::QueueStore::finish) and
//! [`release`](zart_core::store::QueueStore::release) make of a claimed task.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zart_core::queue::{Outcome, OutcomeKind};
use zart_core::store::Store;
use zart_core::task::TaskStatus;

use crate::support::*;

/// A completed outcome ends the task with its result and the time it ended.
pub async fn a_completed_outcome_stores_the_result(store: Arc<dyn Store>) {
    let lease = running(&store, "t", "job", "w").await;
    let result = json!({ "sent": 3, "to": ["a", "b"] });
    finish_ok(
        &store,
        &lease,
        OutcomeKind::Completed {
            result: Some(result.clone()),
        },
    )
    .await;
    let ended = assert_status(&store, "t", TaskStatus::Completed).await;
    assert_eq!(ended.result, Some(result), "the result is stored");
    assert_eq!(ended.error, None, "a completed task has no error");
    assert_eq!(ended.attempts, 1, "the attempt is counted");
    assert_recent(
        ended.finished_at.expect("an ended task has finished_at"),
        "finished_at",
    );

    let lease = running(&store, "u", "job", "w").await;
    finish_ok(&store, &lease, OutcomeKind::Completed { result: None }).await;
    let ended = assert_status(&store, "u", TaskStatus::Completed).await;
    assert_eq!(
        ended.result, None,
        "a completion without a result stores none"
    );
}

/// A retry makes the task pending again at the instant asked, keeping the error and the
/// attempt; it is claimed again only then.
pub async fn a_retry_makes_the_task_pending_at_its_run_at_with_the_error(store: Arc<dyn Store>) {
    let lease = running(&store, "t", "job", "w").await;
    let at = later();
    finish_ok(
        &store,
        &lease,
        OutcomeKind::Retry {
            error: "timeout".into(),
            run_at: at,
        },
    )
    .await;
    let pending = assert_status(&store, "t", TaskStatus::Pending).await;
    assert_eq!(pending.run_at, at, "due again when the retry asks");
    assert_eq!(
        pending.error.as_deref(),
        Some("timeout"),
        "the attempt's error is kept"
    );
    assert_eq!(pending.attempts, 1, "the failed attempt counts");
    assert_eq!(pending.finished_at, None, "a task to retry has not ended");
    assert_eq!(
        (pending.worker_id, pending.lease_expires_at),
        (None, None),
        "its lease ended"
    );
    let early = claim(&store, "w", 10, LEASE, &only(&["job"])).await;
    assert!(
        early.is_empty(),
        "a retry is not claimed before it is due: {early:?}"
    );

    // Due at once this time: the next claim is attempt 2.
    let lease = running(&store, "u", "job", "w").await;
    let retry = OutcomeKind::Retry {
        error: "again".into(),
        run_at: secs_from_now(-1),
    };
    finish_ok(&store, &lease, retry).await;
    let again = claim_id(&store, "w", "u", &only(&["job"]), LEASE).await;
    assert_eq!(again.attempt, 2, "the retry's claim starts attempt 2");
}

/// A failed outcome ends the task with its error.
pub async fn a_failed_outcome_ends_the_task(store: Arc<dyn Store>) {
    let lease = running(&store, "t", "job", "w").await;
    finish_ok(
        &store,
        &lease,
        OutcomeKind::Failed {
            error: "bad input".into(),
        },
    )
    .await;
    let ended = assert_status(&store, "t", TaskStatus::Failed).await;
    assert_eq!(
        ended.error.as_deref(),
        Some("bad input"),
        "the error is stored"
    );
    assert_eq!(ended.result, None, "a failed task has no result");
    assert_recent(
        ended.finished_at.expect("an ended task has finished_at"),
        "finished_at",
    );
    let again = claim(&store, "w", 10, LEASE, &only(&["job"])).await;
    assert!(
        again.is_empty(),
        "a failed task is not claimed again: {again:?}"
    );
}

/// A suspension makes the task pending at the instant asked without counting the attempt:
/// the count goes back to what it was before the claim.
pub async fn a_suspension_does_not_count_the_attempt(store: Arc<dyn Store>) {
    let lease = running(&store, "t", "job", "w").await;
    let retry = OutcomeKind::Retry {
        error: "first".into(),
        run_at: secs_from_now(-1),
    };
    finish_ok(&store, &lease, retry).await;
    let second = claim_id(&store, "w", "t", &only(&["job"]), LEASE).await;
    assert_eq!(second.attempt, 2);

    let at = later();
    finish_ok(&store, &second.lease, OutcomeKind::Suspended { run_at: at }).await;
    let suspended = assert_status(&store, "t", TaskStatus::Pending).await;
    assert_eq!(suspended.run_at, at, "due again when the suspension asks");
    assert_eq!(
        suspended.attempts, 1,
        "the suspended attempt is not counted"
    );
    assert_eq!(
        suspended.finished_at, None,
        "a suspended task has not ended"
    );
    assert_eq!(
        (suspended.worker_id, suspended.lease_expires_at),
        (None, None),
        "lease ended"
    );

    let lease = running(&store, "u", "job", "w").await;
    finish_ok(
        &store,
        &lease,
        OutcomeKind::Suspended {
            run_at: secs_from_now(-1),
        },
    )
    .await;
    let resumed = claim_id(&store, "w", "u", &only(&["job"]), LEASE).await;
    assert_eq!(
        resumed.attempt, 1,
        "the claim after a suspension starts the same attempt number"
    );
}

/// An execution that was sent an event while it ran is due at once when it suspends: it
/// may have looked for the event before the event arrived.
pub async fn a_suspension_after_an_event_sent_during_the_attempt_is_due_at_once(
    store: Arc<dyn Store>,
) {
    let lease = running(&store, "t", "flow", "w").await;
    let woken = store
        .send_event("t", "approved", &json!(true))
        .await
        .expect("send_event");
    assert!(
        !woken,
        "a running execution is not suspended: nothing to wake"
    );
    finish_ok(&store, &lease, OutcomeKind::Suspended { run_at: later() }).await;
    let record = assert_status(&store, "t", TaskStatus::Pending).await;
    assert_due_now(&record, "an event arrived during the attempt");
}

/// An event sent well before the attempt started does not make a suspension due at once.
pub async fn a_suspension_ignores_events_sent_before_the_attempt(store: Arc<dyn Store>) {
    add(&store, "t", "flow").await;
    let woken = store
        .send_event("t", "approved", &json!(true))
        .await
        .expect("send_event");
    assert!(!woken, "a due execution is not suspended: nothing to wake");
    // Well over any tolerance a store may apply to compare the event with the attempt.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let lease = claim_id(&store, "w", "t", &only(&["flow"]), LEASE)
        .await
        .lease;
    let at = later();
    finish_ok(&store, &lease, OutcomeKind::Suspended { run_at: at }).await;
    let record = assert_status(&store, "t", TaskStatus::Pending).await;
    assert_eq!(
        record.run_at, at,
        "the event came before the attempt: the suspension holds"
    );
}

/// One `finish` stores outcomes of different kinds for different tasks at once.
pub async fn one_finish_stores_many_outcomes(store: Arc<dyn Store>) {
    let a = running(&store, "a", "job", "w").await;
    let b = running(&store, "b", "job", "w").await;
    let c = running(&store, "c", "job", "w").await;
    let outcomes = [
        Outcome {
            lease: a,
            kind: OutcomeKind::Completed {
                result: Some(json!("a")),
            },
        },
        Outcome {
            lease: b,
            kind: OutcomeKind::Failed { error: "b".into() },
        },
        Outcome {
            lease: c,
            kind: OutcomeKind::Retry {
                error: "c".into(),
                run_at: later(),
            },
        },
    ];
    let mut stored = store.finish(&outcomes).await.expect("finish succeeds");
    stored.sort();
    assert_eq!(stored, vec!["a", "b", "c"], "every outcome is stored");
    assert_eq!(
        assert_status(&store, "a", TaskStatus::Completed)
            .await
            .result,
        Some(json!("a"))
    );
    assert_eq!(
        assert_status(&store, "b", TaskStatus::Failed)
            .await
            .error
            .as_deref(),
        Some("b")
    );
    assert_eq!(
        assert_status(&store, "c", TaskStatus::Pending)
            .await
            .error
            .as_deref(),
        Some("c")
    );
    assert!(store
        .finish(&[])
        .await
        .expect("an empty finish succeeds")
        .is_empty());
}

/// A released task is pending again, due now, without counting the attempt, and can be
/// claimed at once.
pub async fn a_released_task_is_due_now_without_counting_the_attempt(store: Arc<dyn Store>) {
    insert(&store, &[task_at("t", "job", secs_from_now(-120))]).await;
    let claimed = claim_id(&store, "w", "t", &only(&["job"]), LEASE).await;
    assert_eq!(claimed.attempt, 1);
    let released = store
        .release(std::slice::from_ref(&claimed.lease))
        .await
        .expect("release succeeds");
    assert_eq!(released, vec!["t"], "the held task is released");
    let pending = assert_status(&store, "t", TaskStatus::Pending).await;
    assert_due_now(&pending, "a released task");
    assert_eq!(
        pending.attempts, 0,
        "the interrupted attempt is not counted"
    );
    assert_eq!(
        (pending.worker_id, pending.lease_expires_at),
        (None, None),
        "its lease ended"
    );
    assert_eq!(pending.finished_at, None, "a released task has not ended");
    let again = claim_id(&store, "w2", "t", &only(&["job"]), LEASE).await;
    assert_eq!(again.attempt, 1, "the next claim starts attempt 1 again");
    assert!(store
        .release(&[])
        .await
        .expect("an empty release succeeds")
        .is_empty());
}
