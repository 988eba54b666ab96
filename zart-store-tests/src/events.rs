//! Events ([`send_event`](zart_core::store::StepStore::send_event),
//! [`find_event`](zart_core::store::StepStore::find_event)) and children
//! ([`start_child`](zart_core::store::StepStore::start_child)).

use std::sync::Arc;

use serde_json::json;
use zart_core::queue::OutcomeKind;
use zart_core::store::Store;
use zart_core::task::{NewTask, ScheduleAtParams, TaskStatus};

use crate::support::*;

/// Events are kept: the n-th event of a name is found by its index, per execution.
pub async fn events_are_kept_and_found_by_name_and_index(store: Arc<dyn Store>) {
    insert(&store, &[task("t", "flow"), task("u", "flow")]).await;
    let sent = [
        ("approved", json!(1)),
        ("comment", json!({ "text": "hi" })),
        ("approved", json!(2)),
    ];
    for (name, payload) in &sent {
        store
            .send_event("t", name, payload)
            .await
            .expect("send_event succeeds");
    }
    store
        .send_event("u", "approved", &json!("u's"))
        .await
        .expect("send_event succeeds");

    let find = |id: &'static str, name: &'static str, index: u32| {
        let store = store.clone();
        async move {
            store
                .find_event(id, name, index)
                .await
                .expect("find_event succeeds")
        }
    };
    assert_eq!(
        find("t", "approved", 0).await,
        Some(json!(1)),
        "the first 'approved'"
    );
    assert_eq!(
        find("t", "approved", 1).await,
        Some(json!(2)),
        "the second 'approved'"
    );
    assert_eq!(
        find("t", "approved", 2).await,
        None,
        "there is no third 'approved'"
    );
    assert_eq!(
        find("t", "comment", 0).await,
        Some(json!({ "text": "hi" })),
        "the 'comment'"
    );
    assert_eq!(find("t", "missing", 0).await, None, "no event of that name");
    assert_eq!(
        find("u", "approved", 0).await,
        Some(json!("u's")),
        "events are per execution"
    );
    assert_eq!(find("u", "approved", 1).await, None, "u got one 'approved'");
}

/// An event wakes a suspended execution (pending, due in the future): it is due now.
pub async fn an_event_wakes_a_suspended_execution(store: Arc<dyn Store>) {
    let lease = running(&store, "t", "flow", "w").await;
    finish_ok(&store, &lease, OutcomeKind::Suspended { run_at: later() }).await;
    let woken = store
        .send_event("t", "go", &json!(null))
        .await
        .expect("send_event succeeds");
    assert!(woken, "the suspended execution is woken");
    let pending = assert_status(&store, "t", TaskStatus::Pending).await;
    assert_due_now(&pending, "a woken execution");
    claim_id(&store, "w", "t", &only(&["flow"]), LEASE).await;

    insert(&store, &[task_at("parked", "flow", later())]).await;
    let woken = store
        .send_event("parked", "go", &json!(null))
        .await
        .expect("send_event");
    assert!(
        woken,
        "a pending execution due in the future counts as suspended"
    );
    assert_due_now(&record(&store, "parked").await, "a woken execution");
}

/// An event to an execution that is not suspended wakes nothing (and is still kept).
pub async fn an_event_to_an_execution_that_is_not_suspended_wakes_nothing(store: Arc<dyn Store>) {
    let at = secs_from_now(-90);
    insert(&store, &[task_at("due", "flow", at)]).await;
    let lease = running(&store, "running", "other", "w").await;
    let done_lease = running(&store, "ended", "other", "w").await;
    finish_ok(&store, &done_lease, OutcomeKind::Completed { result: None }).await;

    for id in ["due", "running", "ended", "unknown"] {
        let woken = store
            .send_event(id, "go", &json!(id))
            .await
            .expect("send_event succeeds");
        assert!(!woken, "{id} was not suspended: nothing is woken");
    }
    assert_eq!(
        record(&store, "due").await.run_at,
        at,
        "a due execution keeps its due instant"
    );
    assert_status(&store, "running", TaskStatus::Running).await;
    assert_status(&store, "ended", TaskStatus::Completed).await;
    let kept = store
        .find_event("running", "go", 0)
        .await
        .expect("find_event succeeds");
    assert_eq!(
        kept,
        Some(json!("running")),
        "the event is kept for a later wait"
    );
    finish_ok(&store, &lease, OutcomeKind::Completed { result: None }).await;
}

/// A child is inserted once, due now, with its name and input; a second start is refused
/// and changes nothing.
pub async fn a_child_is_started_once(store: Arc<dyn Store>) {
    running(&store, "parent", "flow", "w").await;
    let child = ScheduleAtParams::now("parent/child-0", "step-flow", json!({ "n": 1 }));
    let started = store
        .start_child("parent", &NewTask::from(child.clone()))
        .await
        .expect("start_child succeeds");
    assert!(started, "a new child is inserted");
    let stored = assert_status(&store, "parent/child-0", TaskStatus::Pending).await;
    assert_eq!(stored.task_name, "step-flow", "the child's name");
    assert_eq!(stored.data, json!({ "n": 1 }), "the child's input");
    assert_due_now(&stored, "a new child");

    let again = ScheduleAtParams::now("parent/child-0", "other", json!({ "n": 2 }));
    let started = store
        .start_child("parent", &NewTask::from(again.clone()))
        .await
        .expect("start_child succeeds");
    assert!(!started, "the same child id is not inserted twice");
    let kept = record(&store, "parent/child-0").await;
    assert_eq!(
        (kept.task_name.as_str(), kept.data),
        ("step-flow", json!({ "n": 1 })),
        "unchanged"
    );
    claim_id(&store, "w", "parent/child-0", &only(&["step-flow"]), LEASE).await;
}
