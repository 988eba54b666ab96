//! The two end effects of the [store contract](zart_core::store): however a task ends, an
//! occurrence wakes its schedule's tick, and a child notifies its parent.

use std::sync::Arc;

use serde_json::{json, Value};
use zart_core::queue::OutcomeKind;
use zart_core::schedules::{tick_id, TICK_TASK};
use zart_core::store::Store;
use zart_core::task::{NewTask, ScheduleAtParams, TaskStatus};

use crate::support::*;

/// The ways an occurrence can end, each applied to a fresh run.
#[derive(Clone, Copy, Debug)]
enum End {
    Completed,
    Failed,
    CompletedInUnit,
    CancelledPending,
    CancelledRunning,
    RunsCancelled,
    Dead,
}

impl End {
    const ALL: [End; 7] = [
        End::Completed,
        End::Failed,
        End::CompletedInUnit,
        End::CancelledPending,
        End::CancelledRunning,
        End::RunsCancelled,
        End::Dead,
    ];
}

/// Ends task `id` (named `name`, pending and due) the way `end` says.
async fn end_task(store: &Arc<dyn Store>, id: &str, name: &str, end: End) {
    let claim_it = |lease| {
        let store = store.clone();
        async move { claim_id(&store, "w", id, &only(&[name]), lease).await.lease }
    };
    match end {
        End::Completed => {
            let lease = claim_it(LEASE).await;
            finish_ok(
                store,
                &lease,
                OutcomeKind::Completed {
                    result: Some(json!("r")),
                },
            )
            .await;
        }
        End::Failed => {
            let lease = claim_it(LEASE).await;
            finish_ok(store, &lease, OutcomeKind::Failed { error: "e".into() }).await;
        }
        End::CompletedInUnit => {
            let lease = claim_it(LEASE).await;
            let mut uow = begin(store).await;
            let status = uow.complete(&lease, None).await.expect("complete succeeds");
            assert_eq!(status, Some(TaskStatus::Completed));
            commit(uow).await;
        }
        End::CancelledPending => {
            let status = store.cancel_task(id).await.expect("cancel_task succeeds");
            assert_eq!(status, Some(TaskStatus::Cancelled));
        }
        End::CancelledRunning => {
            let lease = claim_it(LEASE).await;
            let status = store.cancel_task(id).await.expect("cancel_task succeeds");
            assert_eq!(status, Some(TaskStatus::Running));
            finish(store, &lease, OutcomeKind::Completed { result: None }).await;
        }
        End::RunsCancelled => {
            let mut uow = begin(store).await;
            uow.cancel_runs(&[id.to_owned()])
                .await
                .expect("cancel_runs succeeds");
            commit(uow).await;
        }
        End::Dead => {
            claim_it(EXPIRING).await;
            tokio::time::sleep(EXPIRY_WAIT).await;
            assert_eq!(rescue(store, 0).await.dead, vec![id.to_owned()]);
        }
    }
    assert!(
        record(store, id).await.status.is_terminal(),
        "{id} ended ({end:?})"
    );
}

/// However an occurrence ends, its schedule notes when, and its waiting tick that asked to
/// be woken is pending and due now.
pub async fn an_occurrence_that_ends_wakes_its_tick_however_it_ends(store: Arc<dyn Store>) {
    for (i, end) in End::ALL.into_iter().enumerate() {
        let schedule = format!("s{i}");
        let run = format!("s{i}-run");
        let name = format!("report-{i}");
        let parked = if i % 2 == 0 {
            TaskStatus::Waiting
        } else {
            TaskStatus::Pending
        };
        schedule_with_tick(&store, &schedule, &tick(parked, later(), true)).await;
        add_run(&store, &schedule, &run, &name).await;
        end_task(&store, &run, &name, end).await;

        let info = store
            .schedule(&schedule)
            .await
            .expect("schedule()")
            .expect("the schedule");
        let finished = info
            .last_finished_at
            .unwrap_or_else(|| panic!("{end:?}: the schedule notes when its run ended"));
        assert_recent(finished, &format!("{end:?}: last_finished_at"));
        let woken = assert_status(&store, &tick_id(&schedule), TaskStatus::Pending).await;
        assert_due_now(
            &woken,
            &format!("{end:?}: a {parked} tick woken by its run's end"),
        );
    }
    let claimed = claim(&store, "w", 10, LEASE, &only(&[TICK_TASK])).await;
    assert_eq!(
        claimed.len(),
        End::ALL.len(),
        "every woken tick is claimable"
    );
}

/// A tick that did not ask to be woken is left as it was, though the schedule notes the end.
pub async fn a_tick_without_wake_on_finish_is_not_woken(store: Arc<dyn Store>) {
    let at = later();
    schedule_with_tick(&store, "s", &tick(TaskStatus::Waiting, at, false)).await;
    schedule_with_tick(&store, "p", &tick(TaskStatus::Pending, at, false)).await;
    for schedule in ["s", "p"] {
        let run = format!("{schedule}-run");
        add_run(&store, schedule, &run, "report").await;
        end_task(&store, &run, "report", End::Completed).await;
        let info = store
            .schedule(schedule)
            .await
            .expect("schedule()")
            .expect("the schedule");
        assert!(
            info.last_finished_at.is_some(),
            "{schedule}: the end is noted"
        );
    }
    let waiting = assert_status(&store, &tick_id("s"), TaskStatus::Waiting).await;
    assert_eq!(waiting.run_at, at, "the waiting tick is not woken");
    let pending = assert_status(&store, &tick_id("p"), TaskStatus::Pending).await;
    assert_eq!(pending.run_at, at, "the pending tick keeps its due instant");
}

/// A retry or a suspension does not end an occurrence: nothing is noted, nothing woken.
pub async fn an_occurrence_that_is_retried_wakes_nothing(store: Arc<dyn Store>) {
    let at = later();
    schedule_with_tick(&store, "s", &tick(TaskStatus::Waiting, at, true)).await;
    add_run(&store, "s", "s-run", "report").await;
    let lease = claim_id(&store, "w", "s-run", &only(&["report"]), LEASE)
        .await
        .lease;
    let retry = OutcomeKind::Retry {
        error: "again".into(),
        run_at: secs_from_now(-1),
    };
    finish_ok(&store, &lease, retry).await;
    let lease = claim_id(&store, "w", "s-run", &only(&["report"]), LEASE)
        .await
        .lease;
    finish_ok(&store, &lease, OutcomeKind::Suspended { run_at: later() }).await;
    let info = store
        .schedule("s")
        .await
        .expect("schedule()")
        .expect("the schedule");
    assert_eq!(info.last_finished_at, None, "the run has not ended");
    let waiting = assert_status(&store, &tick_id("s"), TaskStatus::Waiting).await;
    assert_eq!(waiting.run_at, at, "the tick is not woken");
}

/// A tick that is running is not woken: its worker decides.
pub async fn a_running_tick_is_not_woken_by_its_runs_end(store: Arc<dyn Store>) {
    schedule_with_tick(
        &store,
        "s",
        &tick(TaskStatus::Pending, secs_from_now(-1), true),
    )
    .await;
    let lease = claim_id(&store, "w", &tick_id("s"), &only(&[TICK_TASK]), LEASE)
        .await
        .lease;
    add_run(&store, "s", "s-run", "report").await;
    end_task(&store, "s-run", "report", End::Completed).await;
    let held = assert_status(&store, &tick_id("s"), TaskStatus::Running).await;
    assert_eq!(
        held.worker_id.as_deref(),
        Some("w"),
        "the tick's worker still holds it"
    );
    let mut uow = begin(&store).await;
    let ended = uow
        .end_tick(&lease, &tick(TaskStatus::Waiting, later(), true))
        .await
        .expect("end_tick succeeds");
    assert!(ended, "the tick's lease still holds");
    commit(uow).await;
}

/// The payload a parent gets when child `id` ends.
async fn child_event(store: &Arc<dyn Store>, parent: &str, child: &str) -> Value {
    store
        .find_event(parent, &format!("child:{child}"), 0)
        .await
        .expect("find_event succeeds")
        .unwrap_or_else(|| panic!("parent {parent} got the event child:{child}"))
}

/// However a child ends, its parent gets `child:<id>` with the child's status, result and
/// error, and a suspended parent is due now.
pub async fn a_child_that_ends_notifies_its_parent(store: Arc<dyn Store>) {
    let cases: [(End, &str, Value, Value); 4] = [
        (End::Completed, "completed", json!("r"), Value::Null),
        (End::Failed, "failed", Value::Null, json!("e")),
        (End::CancelledPending, "cancelled", Value::Null, Value::Null),
        (End::Dead, "dead", Value::Null, Value::Null),
    ];
    for (i, (end, status, result, error)) in cases.into_iter().enumerate() {
        let (parent, child) = (format!("parent-{i}"), format!("parent-{i}/child"));
        let parent_lease = running(&store, &parent, "parent-flow", "w").await;
        let started = store
            .start_child(
                &parent,
                &ScheduleAtParams::now(&child, format!("child-{i}"), json!(i)).into(),
            )
            .await
            .expect("start_child succeeds");
        assert!(started, "{end:?}: the child starts");
        finish_ok(
            &store,
            &parent_lease,
            OutcomeKind::Suspended { run_at: later() },
        )
        .await;

        end_task(&store, &child, &format!("child-{i}"), end).await;
        let payload = child_event(&store, &parent, &child).await;
        assert_eq!(
            payload["status"],
            json!(status),
            "{end:?}: the child's status: {payload}"
        );
        assert_eq!(
            payload["result"], result,
            "{end:?}: the child's result: {payload}"
        );
        if error.is_null() {
            // A cancelled or dead child may carry the store's own explanation.
            assert!(
                payload.get("error").is_some(),
                "{end:?}: the error field: {payload}"
            );
        } else {
            assert_eq!(
                payload["error"], error,
                "{end:?}: the child's error: {payload}"
            );
        }
        let woken = assert_status(&store, &parent, TaskStatus::Pending).await;
        assert_due_now(&woken, &format!("{end:?}: a parent woken by its child"));
    }
}

/// A parent that is not suspended gets the event but keeps running.
pub async fn a_child_that_ends_while_its_parent_runs_leaves_the_parent_running(
    store: Arc<dyn Store>,
) {
    let parent = running(&store, "parent", "parent-flow", "w").await;
    let child = ScheduleAtParams::now("parent/child", "child", json!(null));
    assert!(store
        .start_child("parent", &NewTask::from(child.clone()))
        .await
        .expect("start_child succeeds"));
    end_task(&store, "parent/child", "child", End::Completed).await;
    let payload = child_event(&store, "parent", "parent/child").await;
    assert_eq!(
        payload["status"],
        json!("completed"),
        "the child's status: {payload}"
    );
    let held = assert_status(&store, "parent", TaskStatus::Running).await;
    assert_eq!(
        held.worker_id.as_deref(),
        Some("w"),
        "the parent's worker still holds it"
    );
    finish_ok(&store, &parent, OutcomeKind::Completed { result: None }).await;
}
