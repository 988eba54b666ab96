//! Leases: [`heartbeat`](zart_core::store::QueueStore::heartbeat) and what a task record
//! says about who holds it.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use serde_json::json;
use zart_core::queue::{ClaimScope, Outcome, OutcomeKind};
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

/// A heartbeat running against the same worker's outcome batches never deadlocks with
/// them: each is one statement over many of the same rows, and a deadlock would abort one
/// of them (after a second's wait) many times over this case.
pub async fn heartbeats_and_outcome_batches_never_deadlock(store: Arc<dyn Store>) {
    const TASKS: usize = 300;
    const ROUNDS: usize = 12;
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| task(&format!("t{i:04}"), "job"))
        .collect();
    insert(&store, &tasks).await;
    for round in 0..ROUNDS {
        let mut claimed = claim(&store, "w", TASKS, LEASE, &ClaimScope::default()).await;
        assert_eq!(claimed.len(), TASKS, "round {round} claims every task");
        // The batch stores outcomes in the opposite order of the ids; the heartbeat may
        // walk the rows in any order of its own.
        claimed.sort_by(|a, b| b.lease.task_id.cmp(&a.lease.task_id));
        let outcomes: Vec<Outcome> = claimed
            .iter()
            .map(|c| Outcome {
                lease: c.lease.clone(),
                kind: OutcomeKind::Retry {
                    error: "again".to_owned(),
                    run_at: secs_from_now(-1),
                },
            })
            .collect();
        let beating = {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..4 {
                    store.heartbeat("w", LEASE).await?;
                }
                Ok::<_, zart_core::StoreError>(())
            })
        };
        let stored = store.finish(&outcomes).await;
        let beaten = beating.await.expect("the heartbeat task does not panic");
        assert!(
            beaten.is_ok(),
            "round {round}: a heartbeat failed: {beaten:?}"
        );
        let stored = stored.unwrap_or_else(|e| panic!("round {round}: the batch failed: {e}"));
        assert_eq!(stored.len(), TASKS, "round {round} stores every outcome");
    }
}
