//! [`rescue_expired`](zart_core::store::QueueStore::rescue_expired): expired leases requeued,
//! then marked dead; ticks never dead; one pass at a time.

use std::collections::HashSet;
use std::sync::Arc;

use zart_core::queue::RescueReport;
use zart_core::schedules::{tick_id, TICK_TASK};
use zart_core::store::Store;
use zart_core::task::TaskStatus;

use crate::support::*;

/// A task whose lease expired goes back to pending, due now, with one rescue counted.
pub async fn an_expired_lease_is_requeued_with_a_rescue_counted(store: Arc<dyn Store>) {
    expired(&store, "t", "job", "w").await;
    let report = rescue(&store, 3).await;
    assert_eq!(
        report,
        RescueReport {
            requeued: vec!["t".into()],
            dead: vec![]
        },
        "the expired task is requeued"
    );
    let requeued = assert_status(&store, "t", TaskStatus::Pending).await;
    assert_eq!(requeued.rescues, 1, "one rescue is counted");
    assert_due_now(&requeued, "a rescued task");
    assert_eq!(
        (requeued.worker_id, requeued.lease_expires_at),
        (None, None),
        "its lease ended"
    );
    assert_eq!(requeued.finished_at, None, "a requeued task has not ended");
    claim_id(&store, "w2", "t", &only(&["job"]), LEASE).await;
}

/// A lease that has not expired is left alone.
pub async fn a_live_lease_is_not_rescued(store: Arc<dyn Store>) {
    running(&store, "t", "job", "w").await;
    let report = rescue(&store, 0).await;
    assert_eq!(report, RescueReport::default(), "nothing expired");
    let held = assert_status(&store, "t", TaskStatus::Running).await;
    assert_eq!((held.worker_id.as_deref(), held.rescues), (Some("w"), 0));
}

/// A task rescued `max_rescues` times is marked dead at its next expiry, and stays dead.
pub async fn a_task_rescued_too_often_is_marked_dead(store: Arc<dyn Store>) {
    add(&store, "t", "job").await;
    for rescued in 1..=2 {
        claim_id(&store, "w", "t", &only(&["job"]), EXPIRING).await;
        tokio::time::sleep(EXPIRY_WAIT).await;
        let report = rescue(&store, 2).await;
        assert_eq!(
            report.requeued,
            vec!["t"],
            "rescue number {rescued} requeues (max 2)"
        );
        assert!(
            report.dead.is_empty(),
            "rescue number {rescued} marks nothing dead"
        );
        assert_eq!(record(&store, "t").await.rescues, rescued);
    }
    claim_id(&store, "w", "t", &only(&["job"]), EXPIRING).await;
    tokio::time::sleep(EXPIRY_WAIT).await;
    let report = rescue(&store, 2).await;
    assert_eq!(
        report,
        RescueReport {
            requeued: vec![],
            dead: vec!["t".into()]
        },
        "the third expiry, after two rescues, marks the task dead"
    );
    let dead = assert_status(&store, "t", TaskStatus::Dead).await;
    assert_recent(
        dead.finished_at.expect("a dead task has ended"),
        "a dead task's finished_at",
    );
    assert_eq!(
        (dead.worker_id, dead.lease_expires_at),
        (None, None),
        "its lease ended"
    );
    let again = claim(&store, "w", 10, LEASE, &only(&["job"])).await;
    assert!(again.is_empty(), "a dead task is not claimed: {again:?}");
    assert_eq!(
        rescue(&store, 2).await,
        RescueReport::default(),
        "a dead task is not rescued"
    );
}

/// With no rescue allowed, the first expiry marks a task dead.
pub async fn with_no_rescue_allowed_an_expired_task_is_dead_at_once(store: Arc<dyn Store>) {
    expired(&store, "t", "job", "w").await;
    let report = rescue(&store, 0).await;
    assert_eq!(report.dead, vec!["t"], "max 0: dead at the first expiry");
    assert_status(&store, "t", TaskStatus::Dead).await;
}

/// A recurring schedule's tick is requeued however often its workers die.
pub async fn a_tick_is_never_marked_dead(store: Arc<dyn Store>) {
    let id = tick_id("every-minute");
    schedule_with_tick(
        &store,
        "every-minute",
        &tick(TaskStatus::Pending, secs_from_now(-1), false),
    )
    .await;
    for rescued in 1..=3 {
        claim_id(&store, "w", &id, &only(&[TICK_TASK]), EXPIRING).await;
        tokio::time::sleep(EXPIRY_WAIT).await;
        let report = rescue(&store, 0).await;
        assert_eq!(
            report,
            RescueReport {
                requeued: vec![id.clone()],
                dead: vec![]
            },
            "rescue number {rescued} of the tick requeues it, though max is 0"
        );
    }
    assert_status(&store, &id, TaskStatus::Pending).await;
}

/// Two passes at the same time never handle a task twice: per the contract only one runs
/// and the other returns `None` at once; if they do not overlap, both run, the second
/// finding nothing left. Either way, every expired task is in exactly one report.
pub async fn concurrent_rescues_handle_each_task_once(store: Arc<dyn Store>) {
    let mut expected = HashSet::new();
    for i in 0..8 {
        let id = format!("t{i}");
        add(&store, &id, "job").await;
        expected.insert(id);
    }
    let claimed = claim(&store, "w", 8, EXPIRING, &only(&["job"])).await;
    assert_eq!(claimed.len(), 8);
    tokio::time::sleep(EXPIRY_WAIT).await;

    let start = Arc::new(tokio::sync::Barrier::new(2));
    let pass = || {
        let (store, start) = (store.clone(), start.clone());
        tokio::spawn(async move {
            start.wait().await;
            store
                .rescue_expired(3)
                .await
                .expect("rescue_expired succeeds")
        })
    };
    let (one, two) = (pass(), pass());
    let reports = [one.await.expect("no panic"), two.await.expect("no panic")];
    assert!(
        reports.iter().any(Option::is_some),
        "one of the passes runs: {reports:?}"
    );
    let mut seen = Vec::new();
    for report in reports.iter().flatten() {
        assert!(
            report.dead.is_empty(),
            "no task was rescued before: {report:?}"
        );
        seen.extend(report.requeued.iter().cloned());
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(
        seen.len(),
        unique.len(),
        "no task is requeued twice: {reports:?}"
    );
    assert_eq!(
        unique, expected,
        "every expired task is requeued: {reports:?}"
    );
    for id in &expected {
        assert_eq!(record(&store, id).await.rescues, 1, "{id} is rescued once");
    }
}
