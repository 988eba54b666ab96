//! Leases: [`heartbeat`](zart_core::store::QueueStore::heartbeat) and what a task record
//! says about who holds it.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use serde_json::json;
use zart_core::queue::{ClaimScope, OutcomeKind};
use zart_core::store::Store;
use zart_core::task::TaskStatus;

use crate::support::*;

/// A heartbeat extends every running task of that worker, only those, and says how many.
pub async fn a_heartbeat_extends_only_that_workers_running_tasks(store: Arc<dyn Store>) {
    insert(
        &store,
        &[task("a1", "job"), task("a2", "job"), task("a3", "job")],
    )
    .await;
    let mine = claim(&store, "w1", 3, LEASE, &ClaimScope::default()).await;
    assert_eq!(mine.len(), 3);
    let ended = mine
        .iter()
        .find(|c| c.lease.task_id == "a3")
        .expect("a3 is claimed");
    finish_ok(
        &store,
        &ended.lease,
        OutcomeKind::Completed { result: None },
    )
    .await;
    let theirs = running(&store, "b1", "other", "w2").await;

    let extended = store
        .heartbeat("w1", Duration::from_secs(3600))
        .await
        .expect("heartbeat succeeds");
    assert_eq!(extended, 2, "w1 runs two tasks (its third ended)");
    let far = chrono::Utc::now() + TimeDelta::seconds(3000);
    for id in ["a1", "a2"] {
        let expires = record(&store, id)
            .await
            .lease_expires_at
            .expect("a running task has a lease");
        assert!(
            expires > far,
            "{id}'s lease is extended to an hour from now: {expires}"
        );
    }
    let untouched = record(&store, &theirs.task_id).await;
    let expires = untouched.lease_expires_at.expect("b1 is running");
    assert!(
        expires < chrono::Utc::now() + TimeDelta::seconds(120),
        "another worker's lease is not extended: {expires}"
    );
    let ended = record(&store, "a3").await;
    assert_eq!(
        ended.lease_expires_at, None,
        "an ended task gets no lease: {ended:?}"
    );
    assert_eq!(
        ended.status,
        TaskStatus::Completed,
        "a heartbeat does not revive an ended task"
    );

    let nobody = store
        .heartbeat("w-none", LEASE)
        .await
        .expect("heartbeat succeeds");
    assert_eq!(nobody, 0, "a worker holding nothing extends nothing");
}

/// A heartbeat in time keeps an expiring lease from being rescued.
pub async fn a_heartbeat_keeps_a_lease_from_expiring(store: Arc<dyn Store>) {
    add(&store, "t", "job").await;
    let lease = claim_id(&store, "w", "t", &only(&["job"]), Duration::from_secs(2))
        .await
        .lease;
    let extended = store
        .heartbeat("w", LEASE)
        .await
        .expect("heartbeat succeeds");
    assert_eq!(extended, 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let report = rescue(&store, 3).await;
    assert!(
        report.requeued.is_empty() && report.dead.is_empty(),
        "nothing expired: {report:?}"
    );
    let held = assert_status(&store, "t", TaskStatus::Running).await;
    assert_eq!(held.worker_id.as_deref(), Some("w"));
    finish_ok(&store, &lease, OutcomeKind::Completed { result: None }).await;
}

/// While a task runs its record names its worker and lease; once it ends, the lease is
/// gone but the last worker is kept.
pub async fn an_ended_task_keeps_its_last_worker_but_no_lease(store: Arc<dyn Store>) {
    let lease = running(&store, "t", "job", "worker-1").await;
    let during = record(&store, "t").await;
    assert_eq!(
        during.worker_id.as_deref(),
        Some("worker-1"),
        "the running task's worker"
    );
    assert!(
        during.lease_expires_at.is_some(),
        "the running task's lease"
    );
    assert_eq!(
        during.last_worker_id.as_deref(),
        Some("worker-1"),
        "the last worker"
    );

    finish_ok(
        &store,
        &lease,
        OutcomeKind::Completed {
            result: Some(json!("ok")),
        },
    )
    .await;
    let after = record(&store, "t").await;
    assert_eq!(after.worker_id, None, "an ended task has no worker");
    assert_eq!(after.lease_expires_at, None, "an ended task has no lease");
    assert_eq!(
        after.last_worker_id.as_deref(),
        Some("worker-1"),
        "the last worker stays"
    );

    // A second run by another worker replaces the last worker.
    assert!(store.rerun("t", false).await.expect("rerun succeeds"));
    let lease = claim_id(&store, "worker-2", "t", &only(&["job"]), LEASE)
        .await
        .lease;
    store.release(&[lease]).await.expect("release succeeds");
    let released = record(&store, "t").await;
    assert_eq!(released.worker_id, None, "a released task has no worker");
    assert_eq!(
        released.lease_expires_at, None,
        "a released task has no lease"
    );
    assert_eq!(
        released.last_worker_id.as_deref(),
        Some("worker-2"),
        "the latest claimer"
    );
}
