//! Inspection: [`task`](zart_core::store::InspectStore::task),
//! [`tasks`](zart_core::store::InspectStore::tasks) and
//! [`count`](zart_core::store::InspectStore::count).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zart_core::queue::OutcomeKind;
use zart_core::store::Store;
use zart_core::task::{TaskFilter, TaskStatus};

use crate::support::*;

/// A task reads back whole after it ran; an unknown id reads as `None`.
pub async fn a_task_reads_back_its_whole_record(store: Arc<dyn Store>) {
    let given = task_at("t", "job", secs_from_now(-20));
    insert(&store, std::slice::from_ref(&given)).await;
    let claimed = claim_id(&store, "w", "t", &only(&["job"]), LEASE).await;
    let retry = OutcomeKind::Retry {
        error: "first".into(),
        run_at: secs_from_now(-1),
    };
    finish_ok(&store, &claimed.lease, retry).await;
    let claimed = claim_id(&store, "w2", "t", &only(&["job"]), LEASE).await;
    finish_ok(
        &store,
        &claimed.lease,
        OutcomeKind::Completed {
            result: Some(json!([1, 2])),
        },
    )
    .await;

    let stored = record(&store, "t").await;
    assert_eq!(stored.task_id, "t");
    assert_eq!(stored.task_name, "job");
    assert_eq!(stored.status, TaskStatus::Completed);
    assert_eq!(stored.data, given.data);
    assert_eq!(stored.metadata, given.metadata);
    assert_eq!(
        (stored.attempts, stored.rescues),
        (2, 0),
        "two attempts, no rescue"
    );
    assert_eq!(
        (&stored.worker_id, stored.lease_expires_at),
        (&None, None),
        "no lease"
    );
    assert_eq!(
        stored.last_worker_id.as_deref(),
        Some("w2"),
        "the last claimer"
    );
    assert_eq!(stored.result, Some(json!([1, 2])));
    assert_eq!(
        stored.created_at, claimed.created_at,
        "the creation instant"
    );
    let (started, finished) = (
        stored.started_at.expect("it started"),
        stored.finished_at.expect("it ended"),
    );
    assert!(
        stored.created_at <= started && started <= finished,
        "life in order: {stored:?}"
    );
    assert_eq!(
        store.task("unknown").await.expect("task() succeeds"),
        None,
        "unknown id"
    );
}

/// Listings come newest first (then by id), filtered by name and status, at most `limit`,
/// without ticks; counts agree.
pub async fn listings_are_newest_first_filtered_and_without_ticks(store: Arc<dyn Store>) {
    schedule_with_tick(&store, "s", &tick(TaskStatus::Pending, later(), false)).await;
    // Separate inserts, apart in time, so that creation instants differ on any store clock.
    for (id, name) in [("a", "mail"), ("b", "sms"), ("c", "mail"), ("d", "mail")] {
        add(&store, id, name).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let lease = claim_id(&store, "w", "b", &only(&["sms"]), LEASE)
        .await
        .lease;
    finish_ok(&store, &lease, OutcomeKind::Failed { error: "x".into() }).await;
    let lease = claim_id(&store, "w", "a", &only(&["mail"]), LEASE)
        .await
        .lease;
    finish_ok(&store, &lease, OutcomeKind::Failed { error: "y".into() }).await;

    let list = |filter: TaskFilter, limit: usize| {
        let store = store.clone();
        async move {
            let tasks = store.tasks(&filter, limit).await.expect("tasks() succeeds");
            let count = store.count(&filter).await.expect("count succeeds");
            (
                tasks.into_iter().map(|t| t.task_id).collect::<Vec<_>>(),
                count,
            )
        }
    };
    assert_eq!(
        list(TaskFilter::default(), 10).await,
        (ids(&["d", "c", "b", "a"]), 4),
        "all"
    );
    assert_eq!(
        list(TaskFilter::default(), 2).await,
        (ids(&["d", "c"]), 4),
        "limited"
    );
    let mail = TaskFilter::default().name("mail");
    assert_eq!(
        list(mail.clone(), 10).await,
        (ids(&["d", "c", "a"]), 3),
        "by name"
    );
    let failed = TaskFilter::default().status(TaskStatus::Failed);
    assert_eq!(list(failed, 10).await, (ids(&["b", "a"]), 2), "by status");
    let both = mail.status(TaskStatus::Pending);
    assert_eq!(
        list(both, 10).await,
        (ids(&["d", "c"]), 2),
        "by name and status"
    );
    let ticks = TaskFilter::default().name(zart_core::schedules::TICK_TASK);
    assert_eq!(list(ticks, 10).await, (vec![], 0), "ticks are never listed");
}

/// Tasks created together are listed by id.
pub async fn listings_order_tasks_created_together_by_id(store: Arc<dyn Store>) {
    insert(
        &store,
        &[task("m", "job"), task("k", "job"), task("z", "job")],
    )
    .await;
    let tasks = store
        .tasks(&TaskFilter::default(), 10)
        .await
        .expect("tasks() succeeds");
    for pair in tasks.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.created_at > b.created_at || (a.created_at == b.created_at && a.task_id < b.task_id),
            "newest first, then by id: {} ({}) before {} ({})",
            a.task_id,
            a.created_at,
            b.task_id,
            b.created_at
        );
    }
    assert_eq!(tasks.len(), 3);
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}
