//! Suspended durable executions as [`InspectStore`](zart_core::store::InspectStore) reads
//! them: stored `pending`, read as the wait they are in (`sleeping`, `awaiting_event`,
//! `awaiting_child`) with what they wait on, filtered and counted so.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use zart_core::queue::{Lease, OutcomeKind};
use zart_core::steps::{Checkpointed, StepOutcome, StepRecord, WaitingOn};
use zart_core::store::Store;
use zart_core::task::{TaskFilter, TaskStatus};

use crate::support::*;

/// Claims execution `id` (durable name `flow`), records `steps` and suspends it until
/// `until`.
async fn suspend(store: &Arc<dyn Store>, id: &str, steps: &[StepRecord], until: DateTime<Utc>) {
    let lease = claimed(store, id).await;
    save(store, &lease, steps).await;
    finish_ok(store, &lease, OutcomeKind::Suspended { run_at: until }).await;
}

async fn claimed(store: &Arc<dyn Store>, id: &str) -> Lease {
    add(store, id, "flow").await;
    claim_id(store, "w", id, &durable("flow"), LEASE)
        .await
        .lease
}

async fn save(store: &Arc<dyn Store>, lease: &Lease, steps: &[StepRecord]) {
    let batch: Vec<_> = steps.iter().map(|s| (lease.clone(), s.clone())).collect();
    let saved = store.save_steps(&batch).await.expect("save_steps succeeds");
    assert!(
        saved.iter().all(|s| *s == Checkpointed::Saved),
        "steps of {} saved: {saved:?}",
        lease.task_id
    );
}

/// A timer or deadline step, as the engine records it.
fn until_step(seq: u32, name: &str, until: DateTime<Utc>) -> StepRecord {
    step(seq, name, 0, done(json!({ "until": until })))
}

/// Five executions in as many states: asleep, awaiting an event, awaiting a child, waiting
/// out a step's retry backoff (`pending`), and one whose event woke it (`pending`).
async fn five_executions(store: &Arc<dyn Store>) -> DateTime<Utc> {
    let until = later();
    let charge = step(0, "charge", 0, done(json!("pay-1")));
    suspend(
        store,
        "asleep",
        &[until_step(0, "sleep:cool-down", until)],
        until,
    )
    .await;
    let deadline = [
        charge.clone(),
        until_step(1, "event-deadline:approved", until),
    ];
    suspend(store, "approval", &deadline, until).await;
    let child = [
        step(0, "child-start:kid-1", 0, done(json!(null))),
        until_step(1, "event-deadline:child:kid-1", until),
    ];
    suspend(store, "parent", &child, until).await;
    let retrying = StepOutcome::Retrying {
        until,
        error: "503".into(),
    };
    suspend(store, "backoff", &[step(0, "charge", 0, retrying)], until).await;
    let deadline = [charge, until_step(1, "event-deadline:shipped", until)];
    suspend(store, "woken", &deadline, until).await;
    let woke = store
        .send_event("woken", "shipped", &json!(1))
        .await
        .expect("send_event succeeds");
    assert!(woke, "the event wakes the execution");
    until
}

/// A suspended execution reads as the wait it is in, with what it waits on: the sleep's
/// name and end, the event's name and deadline, the child's id and deadline. One waiting
/// out a step's retry backoff reads pending, waiting on that step; one that was woken, or
/// that is due, or that ran no wait, waits on nothing.
pub async fn a_suspended_execution_reads_as_its_wait_with_what_it_waits_on(store: Arc<dyn Store>) {
    let until = five_executions(&store).await;
    // An execution whose attempt failed after its sleep is retried, not asleep.
    let lease = claimed(&store, "failing").await;
    save(&store, &lease, &[until_step(0, "sleep:nap", later())]).await;
    let retry = OutcomeKind::Retry {
        error: "boom".into(),
        run_at: later(),
    };
    finish_ok(&store, &lease, retry).await;
    insert(&store, &[task_at("scheduled", "flow", later())]).await;

    let expected = [
        (
            "asleep",
            TaskStatus::Sleeping,
            Some(WaitingOn::Sleep {
                name: "cool-down".into(),
                until,
            }),
        ),
        (
            "approval",
            TaskStatus::AwaitingEvent,
            Some(WaitingOn::Event {
                name: "approved".into(),
                deadline: until,
            }),
        ),
        (
            "parent",
            TaskStatus::AwaitingChild,
            Some(WaitingOn::Child {
                child_id: "kid-1".into(),
                deadline: until,
            }),
        ),
        (
            "backoff",
            TaskStatus::Pending,
            Some(WaitingOn::Retry {
                name: "charge".into(),
                until,
                error: "503".into(),
            }),
        ),
        ("woken", TaskStatus::Pending, None),
        ("failing", TaskStatus::Pending, None),
        ("scheduled", TaskStatus::Pending, None),
    ];
    let listed = store
        .tasks(&TaskFilter::default(), 100)
        .await
        .expect("tasks succeeds");
    for (id, status, waiting_on) in expected {
        let read = record(&store, id).await;
        assert_eq!(
            (read.status, &read.waiting_on),
            (status, &waiting_on),
            "{id} read alone: {read:?}"
        );
        let in_list = listed
            .iter()
            .find(|t| t.task_id == id)
            .unwrap_or_else(|| panic!("{id} is listed: {listed:?}"));
        assert_eq!(in_list, &read, "{id} lists as it reads alone");
    }
}

/// Each suspended status is a filter that takes exactly the executions in that wait;
/// `pending` leaves them out; counts count them by their wait.
pub async fn suspended_executions_are_filtered_and_counted_by_their_wait(store: Arc<dyn Store>) {
    five_executions(&store).await;
    add(&store, "due", "flow").await;
    let expected = [
        (TaskStatus::Sleeping, vec!["asleep"]),
        (TaskStatus::AwaitingEvent, vec!["approval"]),
        (TaskStatus::AwaitingChild, vec!["parent"]),
        (TaskStatus::Pending, vec!["backoff", "due", "woken"]),
    ];
    for (status, ids) in &expected {
        let filter = TaskFilter::default().status(*status);
        let mut listed: Vec<String> = store
            .tasks(&filter, 100)
            .await
            .expect("tasks succeeds")
            .into_iter()
            .map(|t| t.task_id)
            .collect();
        listed.sort();
        assert_eq!(&listed, ids, "tasks with status {status}");
        let counted = store.count(&filter).await.expect("count succeeds");
        assert_eq!(counted, ids.len() as u64, "count of status {status}");
        let named = filter.clone().name("flow");
        let counted = store.count(&named).await.expect("count succeeds");
        assert_eq!(counted, ids.len() as u64, "count of status {status}, named");
    }
    let counts = store.counts().await.expect("counts succeeds");
    for (status, ids) in &expected {
        let counted = counts
            .iter()
            .find(|c| c.task_name == "flow" && c.status == *status)
            .map(|c| c.count);
        assert_eq!(
            counted,
            Some(ids.len() as u64),
            "counts of status {status}: {counts:?}"
        );
    }
    assert_eq!(
        counts.iter().map(|c| c.count).sum::<u64>(),
        6,
        "every task counted once: {counts:?}"
    );
}
