//! [`QueueStore::insert`](zart_core::store::QueueStore::insert): ids returned, existing ids
//! skipped, repeats inserted once.

use std::sync::Arc;

use serde_json::json;
use zart_core::store::Store;
use zart_core::task::{ScheduleAtParams, TaskFilter, TaskStatus};

use crate::support::*;

/// The inserted ids come back in input order, and each task is stored as given: pending,
/// due when asked, with its input and metadata, nothing run yet.
pub async fn an_insert_returns_the_inserted_ids_in_input_order(store: Arc<dyn Store>) {
    let at = secs_from_now(-30);
    let tasks = vec![
        task_at("c", "mail", at),
        task_at("a", "mail", secs_from_now(120)),
        task_at("b", "sms", at),
    ];
    let inserted = insert(&store, &tasks).await;
    assert_eq!(
        inserted,
        vec!["c", "a", "b"],
        "inserted ids, in input order"
    );
    for given in &tasks {
        let stored = record(&store, &given.task_id).await;
        assert_eq!(
            stored.task_name, given.task_name,
            "{}'s name",
            given.task_id
        );
        assert_eq!(
            stored.status,
            TaskStatus::Pending,
            "{} is pending",
            given.task_id
        );
        assert_eq!(
            stored.run_at, given.execution_time,
            "{} is due when asked",
            given.task_id
        );
        assert_eq!(stored.data, given.data, "{}'s input", given.task_id);
        assert_eq!(
            stored.metadata, given.metadata,
            "{}'s metadata",
            given.task_id
        );
        assert_eq!(
            (stored.attempts, stored.rescues),
            (0, 0),
            "{} never ran",
            given.task_id
        );
        assert_eq!(stored.worker_id, None, "{} has no worker", given.task_id);
        assert_eq!(
            stored.lease_expires_at, None,
            "{} has no lease",
            given.task_id
        );
        assert_eq!(
            stored.last_worker_id, None,
            "{} was never claimed",
            given.task_id
        );
        assert_eq!(
            (stored.result, stored.error),
            (None, None),
            "{} has no outcome",
            given.task_id
        );
        assert_eq!(stored.started_at, None, "{} never started", given.task_id);
        assert_eq!(stored.finished_at, None, "{} never ended", given.task_id);
        assert_recent(stored.created_at, "a new task's created_at");
    }
}

/// An id that exists is skipped, and the stored task keeps its name, input, due instant
/// and status: an insert is an idempotent "create", never an update.
pub async fn an_insert_skips_existing_ids_without_overwriting_them(store: Arc<dyn Store>) {
    let original = task_at("order-1", "charge", secs_from_now(-10));
    assert_eq!(
        insert(&store, std::slice::from_ref(&original)).await,
        vec!["order-1"]
    );
    let lease = claim_id(&store, "w", "order-1", &only(&["charge"]), LEASE)
        .await
        .lease;
    finish_ok(
        &store,
        &lease,
        zart_core::queue::OutcomeKind::Completed {
            result: Some(json!(1)),
        },
    )
    .await;

    let again = ScheduleAtParams {
        metadata: json!("replaced"),
        ..ScheduleAtParams::at(
            "order-1",
            "refund",
            secs_from_now(60),
            json!({ "other": true }),
        )
    };
    let inserted = insert(&store, &[again, task("order-2", "charge")]).await;
    assert_eq!(inserted, vec!["order-2"], "only the new id is inserted");

    let kept = record(&store, "order-1").await;
    assert_eq!(kept.task_name, "charge", "the existing task keeps its name");
    assert_eq!(
        kept.data, original.data,
        "the existing task keeps its input"
    );
    assert_eq!(
        kept.metadata, original.metadata,
        "the existing task keeps its metadata"
    );
    assert_eq!(
        kept.run_at, original.execution_time,
        "the existing task keeps its due instant"
    );
    assert_eq!(
        kept.status,
        TaskStatus::Completed,
        "the existing task is not made pending again"
    );
    assert_eq!(
        kept.result,
        Some(json!(1)),
        "the existing task keeps its result"
    );
}

/// An id repeated within one call is inserted once and returned once.
pub async fn an_id_repeated_in_one_insert_is_inserted_once(store: Arc<dyn Store>) {
    let tasks = vec![task("x", "a"), task("y", "a"), task("x", "a")];
    let inserted = insert(&store, &tasks).await;
    assert_eq!(
        inserted.iter().filter(|id| *id == "x").count(),
        1,
        "x is returned once: {inserted:?}"
    );
    assert!(
        inserted.contains(&"y".to_owned()),
        "y is inserted: {inserted:?}"
    );
    assert_eq!(inserted.len(), 2, "two tasks inserted: {inserted:?}");
    let count = store
        .count(&TaskFilter::default())
        .await
        .expect("count succeeds");
    assert_eq!(count, 2, "two tasks are stored");
    let claimed = claim(&store, "w", 10, LEASE, &only(&["a"])).await;
    assert_eq!(claimed.len(), 2, "each of the two tasks is claimable once");
}

/// An empty insert, on the store or in a unit of work, inserts nothing and says so.
pub async fn an_empty_insert_inserts_nothing(store: Arc<dyn Store>) {
    assert!(
        insert(&store, &[]).await.is_empty(),
        "an empty insert returns no id"
    );
    let mut uow = begin(&store).await;
    let inserted = uow
        .insert(&[], None)
        .await
        .expect("an empty insert succeeds");
    assert!(
        inserted.is_empty(),
        "an empty insert in a unit of work returns no id"
    );
    commit(uow).await;
    let count = store
        .count(&TaskFilter::default())
        .await
        .expect("count succeeds");
    assert_eq!(count, 0, "nothing is stored");
}
