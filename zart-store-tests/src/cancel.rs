//! [`cancel_task`](zart_core::store::QueueStore::cancel_task) and
//! [`rerun`](zart_core::store::QueueStore::rerun).

use std::sync::Arc;

use serde_json::json;
use zart_core::queue::OutcomeKind;
use zart_core::schedules::tick_id;
use zart_core::steps::{Checkpointed, StepOutcome};
use zart_core::store::Store;
use zart_core::task::{TaskStatus, RESERVED_PREFIX};

use crate::support::*;

/// A pending task is cancelled at once, and never claimed.
pub async fn cancelling_a_pending_task_ends_it_cancelled(store: Arc<dyn Store>) {
    insert(
        &store,
        &[task("due", "job"), task_at("later", "job", later())],
    )
    .await;
    for id in ["due", "later"] {
        let status = store.cancel_task(id).await.expect("cancel_task succeeds");
        assert_eq!(
            status,
            Some(TaskStatus::Cancelled),
            "pending task {id} is cancelled at once"
        );
        let ended = assert_status(&store, id, TaskStatus::Cancelled).await;
        assert_recent(
            ended.finished_at.expect("a cancelled task has ended"),
            "finished_at",
        );
    }
    let claimed = claim(&store, "w", 10, LEASE, &only(&["job"])).await;
    assert!(
        claimed.is_empty(),
        "a cancelled task is not claimed: {claimed:?}"
    );
}

/// A running task is asked to stop: it stays running until its worker reports, and then
/// ends cancelled whatever the outcome, its result not stored.
pub async fn a_task_cancelled_while_running_ends_cancelled_whatever_its_outcome(
    store: Arc<dyn Store>,
) {
    for (kind_name, kind) in every_outcome() {
        let id = format!("t-{kind_name}");
        let lease = running(&store, &id, "job", "w").await;
        let status = store.cancel_task(&id).await.expect("cancel_task succeeds");
        assert_eq!(
            status,
            Some(TaskStatus::Running),
            "running {id} is asked to stop"
        );
        let asked = assert_status(&store, &id, TaskStatus::Running).await;
        assert_eq!(
            asked.worker_id.as_deref(),
            Some("w"),
            "{id}'s worker still holds it"
        );

        // Whether the id comes back is not the point: the outcome is discarded.
        finish(&store, &lease, kind).await;
        let ended = assert_status(&store, &id, TaskStatus::Cancelled).await;
        assert_eq!(
            ended.result, None,
            "{id}: the {kind_name} outcome's result is not stored"
        );
        assert!(ended.finished_at.is_some(), "{id} has ended: {ended:?}");
        assert_eq!(
            (ended.worker_id, ended.lease_expires_at),
            (None, None),
            "{id}'s lease ended"
        );
    }

    let lease = running(&store, "unit", "job", "w").await;
    assert_eq!(
        store.cancel_task("unit").await.expect("cancel"),
        Some(TaskStatus::Running)
    );
    let mut uow = begin(&store).await;
    let status = uow
        .complete(&lease, Some(&json!("result")))
        .await
        .expect("complete succeeds");
    assert_eq!(
        status,
        Some(TaskStatus::Cancelled),
        "a unit's completion reports the cancel"
    );
    commit(uow).await;
    let ended = assert_status(&store, "unit", TaskStatus::Cancelled).await;
    assert_eq!(ended.result, None, "the completion's result is not stored");
}

/// An ended task or an unknown id is left alone.
pub async fn cancelling_an_ended_or_unknown_task_does_nothing(store: Arc<dyn Store>) {
    let lease = running(&store, "done", "job", "w").await;
    finish_ok(
        &store,
        &lease,
        OutcomeKind::Completed {
            result: Some(json!(7)),
        },
    )
    .await;
    assert_eq!(
        store
            .cancel_task("done")
            .await
            .expect("cancel_task succeeds"),
        None
    );
    let kept = assert_status(&store, "done", TaskStatus::Completed).await;
    assert_eq!(
        kept.result,
        Some(json!(7)),
        "the completed task keeps its result"
    );

    add(&store, "gone", "job").await;
    assert_eq!(
        store.cancel_task("gone").await.expect("cancel"),
        Some(TaskStatus::Cancelled)
    );
    assert_eq!(
        store.cancel_task("gone").await.expect("cancel"),
        None,
        "cancelled once only"
    );
    assert_eq!(
        store.cancel_task("no-such-task").await.expect("cancel"),
        None,
        "unknown id"
    );
}

/// Zart's own tasks (a recurring schedule's tick) cannot be cancelled.
pub async fn a_tick_cannot_be_cancelled(store: Arc<dyn Store>) {
    schedule_with_tick(
        &store,
        "nightly",
        &tick(TaskStatus::Pending, later(), false),
    )
    .await;
    let status = store
        .cancel_task(&tick_id("nightly"))
        .await
        .expect("cancel_task succeeds");
    assert_eq!(status, None, "a tick is not cancelled");
    assert_status(&store, &tick_id("nightly"), TaskStatus::Pending).await;
}

/// A task whose id is reserved for Zart is Zart's own (`RESERVED_PREFIX`: "ids and names
/// that start with this are Zart's own"), whatever its name, and is left alone.
pub async fn a_task_with_a_reserved_id_cannot_be_cancelled(store: Arc<dyn Store>) {
    let id = format!("{RESERVED_PREFIX}_internal_1");
    add(&store, &id, "job").await;
    let status = store.cancel_task(&id).await.expect("cancel_task succeeds");
    assert_eq!(status, None, "a task with a reserved id is not cancelled");
    assert_status(&store, &id, TaskStatus::Pending).await;
}

/// A rerun puts an ended task back to pending, due now, with its attempts, rescues, error
/// and result cleared.
pub async fn a_rerun_puts_an_ended_task_back_with_a_clean_slate(store: Arc<dyn Store>) {
    let lease = running(&store, "failed", "job", "w").await;
    finish_ok(
        &store,
        &lease,
        OutcomeKind::Failed {
            error: "bad".into(),
        },
    )
    .await;
    let lease = running(&store, "completed", "job", "w").await;
    finish_ok(
        &store,
        &lease,
        OutcomeKind::Completed {
            result: Some(json!("r")),
        },
    )
    .await;
    expired(&store, "dead", "job", "w").await;
    assert_eq!(rescue(&store, 0).await.dead, vec!["dead"]);

    for id in ["failed", "completed", "dead"] {
        assert!(
            store.rerun(id, false).await.expect("rerun succeeds"),
            "{id} is rerun"
        );
        let fresh = assert_status(&store, id, TaskStatus::Pending).await;
        assert_due_now(&fresh, "a rerun task");
        assert_eq!(
            (fresh.attempts, fresh.rescues),
            (0, 0),
            "{id}: counts cleared"
        );
        assert_eq!(
            (fresh.error, fresh.result),
            (None, None),
            "{id}: outcome cleared"
        );
        assert_eq!(fresh.finished_at, None, "{id} has not ended any more");
        let claimed = claim_id(&store, "w", id, &only(&["job"]), LEASE).await;
        assert_eq!(claimed.attempt, 1, "{id}'s rerun starts at attempt 1");
    }
}

/// Only ended tasks are rerun: pending, running and unknown ones are left alone.
pub async fn a_rerun_leaves_unended_tasks_alone(store: Arc<dyn Store>) {
    insert(&store, &[task_at("pending", "job", later())]).await;
    let lease = running(&store, "running", "other", "w").await;
    for id in ["pending", "running", "unknown"] {
        assert!(
            !store.rerun(id, true).await.expect("rerun succeeds"),
            "{id} is not rerun"
        );
    }
    let pending = assert_status(&store, "pending", TaskStatus::Pending).await;
    assert!(
        pending.run_at > chrono::Utc::now(),
        "the pending task keeps its due instant"
    );
    assert_status(&store, "running", TaskStatus::Running).await;
    finish_ok(&store, &lease, OutcomeKind::Completed { result: None }).await;
}

/// With `forget`, a rerun deletes the step log and events; without, it keeps them.
pub async fn a_rerun_forgets_steps_and_events_only_when_asked(store: Arc<dyn Store>) {
    for (id, forget) in [("forget", true), ("keep", false)] {
        add(&store, id, "flow").await;
        let lease = claim_id(&store, "w", id, &durable("flow"), LEASE)
            .await
            .lease;
        let first = step(0, "a", 0, done(json!(1)));
        let saved = store
            .save_steps(&[(lease.clone(), first.clone())])
            .await
            .expect("save");
        assert_eq!(saved, vec![Checkpointed::Saved]);
        store
            .send_event(id, "go", &json!("payload"))
            .await
            .expect("send_event succeeds");
        finish_ok(&store, &lease, OutcomeKind::Failed { error: "x".into() }).await;

        assert!(store.rerun(id, forget).await.expect("rerun succeeds"));
        let log = store.load_steps(id).await.expect("load_steps succeeds");
        let event = store
            .find_event(id, "go", 0)
            .await
            .expect("find_event succeeds");
        if forget {
            assert!(log.is_empty(), "forget deletes the step log: {log:?}");
            assert_eq!(event, None, "forget deletes the events");
        } else {
            assert_eq!(log.len(), 1, "without forget the step log stays: {log:?}");
            assert_same_step(&log[0], &first);
            assert_eq!(
                event,
                Some(json!("payload")),
                "without forget the events stay"
            );
        }
        let claimed = claim_id(&store, "w", id, &durable("flow"), LEASE).await;
        let expected = if forget { 0 } else { 1 };
        assert_eq!(
            claimed.steps.map(|s| s.len()),
            Some(expected),
            "{id}: the claim's log"
        );
    }
}

/// A rerun clears a stop request: the rerun's attempt records steps and completes.
pub async fn a_rerun_clears_a_stop_request(store: Arc<dyn Store>) {
    let lease = running(&store, "t", "flow", "w").await;
    assert_eq!(
        store.cancel_task("t").await.expect("cancel"),
        Some(TaskStatus::Running)
    );
    finish(&store, &lease, OutcomeKind::Completed { result: None }).await;
    assert_status(&store, "t", TaskStatus::Cancelled).await;

    assert!(
        store.rerun("t", false).await.expect("rerun succeeds"),
        "a cancelled task is rerun"
    );
    let lease = claim_id(&store, "w", "t", &durable("flow"), LEASE)
        .await
        .lease;
    let retrying = StepOutcome::Retrying {
        until: later(),
        error: "later".into(),
    };
    let saved = store
        .save_steps(&[(lease.clone(), step(0, "a", 0, retrying))])
        .await
        .expect("save_steps succeeds");
    assert_eq!(
        saved,
        vec![Checkpointed::Saved],
        "the rerun is not asked to stop any more"
    );
    finish_ok(
        &store,
        &lease,
        OutcomeKind::Completed {
            result: Some(json!("ok")),
        },
    )
    .await;
    let ended = assert_status(&store, "t", TaskStatus::Completed).await;
    assert_eq!(
        ended.result,
        Some(json!("ok")),
        "the rerun's result is stored"
    );
}
