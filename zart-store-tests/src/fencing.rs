//! Fencing: every write about a claimed task is applied only under the task's current
//! token. Each case makes a stale lease the way it happens in production (the lease
//! expires, a maintenance pass rescues the task, another worker claims it) and checks that
//! the stale lease's write is refused while the new owner's is applied.

use std::sync::Arc;

use serde_json::json;
use zart_core::queue::{Lease, OutcomeKind};
use zart_core::schedules::{tick_id, TICK_TASK};
use zart_core::steps::Checkpointed;
use zart_core::store::Store;
use zart_core::task::TaskStatus;

use crate::support::*;

/// Checks that task `id` is still running under `new-worker`, untouched by a refused write.
async fn still_held_by_new_worker(store: &Arc<dyn Store>, id: &str, what: &str) {
    let held = record(store, id).await;
    assert_eq!(
        held.status,
        TaskStatus::Running,
        "{what}: the task is still running: {held:?}"
    );
    assert_eq!(
        held.worker_id.as_deref(),
        Some("new-worker"),
        "{what}: the new owner holds it"
    );
    assert_eq!(held.result, None, "{what}: no result was written");
}

/// No kind of outcome is stored under a stale token; the new owner's outcome is.
pub async fn a_stale_token_cannot_finish_a_task(store: Arc<dyn Store>) {
    for (kind_name, kind) in every_outcome() {
        let id = format!("t-{kind_name}");
        let (old, new) = stolen(&store, &id, &format!("job-{kind_name}")).await;
        let stored = finish(&store, &old, kind.clone()).await;
        assert!(
            stored.is_empty(),
            "a stale {kind_name} outcome is refused: {stored:?}"
        );
        still_held_by_new_worker(&store, &id, &format!("stale {kind_name}")).await;
        finish_ok(&store, &new, kind).await;
    }
}

/// A lease is over once its task is finished or released: it cannot write again, and a
/// token the task never carried writes nothing either.
pub async fn an_ended_lease_cannot_write_again(store: Arc<dyn Store>) {
    let lease = running(&store, "finished", "job", "w").await;
    finish_ok(
        &store,
        &lease,
        OutcomeKind::Failed {
            error: "first".into(),
        },
    )
    .await;
    let again = finish(
        &store,
        &lease,
        OutcomeKind::Completed {
            result: Some(json!(1)),
        },
    )
    .await;
    assert!(
        again.is_empty(),
        "a finished lease cannot finish again: {again:?}"
    );
    let ended = assert_status(&store, "finished", TaskStatus::Failed).await;
    assert_eq!(ended.result, None, "the refused outcome wrote nothing");

    let lease = running(&store, "released", "job", "w").await;
    store
        .release(std::slice::from_ref(&lease))
        .await
        .expect("release succeeds");
    let new = claim_id(&store, "w2", "released", &only(&["job"]), LEASE)
        .await
        .lease;
    assert_ne!(
        new.token, lease.token,
        "the claim after a release gives a new token"
    );
    let again = store
        .release(std::slice::from_ref(&lease))
        .await
        .expect("release succeeds");
    assert!(
        again.is_empty(),
        "a released lease cannot release again: {again:?}"
    );
    assert_status(&store, "released", TaskStatus::Running).await;

    let forged = Lease {
        task_id: "released".into(),
        token: new.token.wrapping_add(1000),
    };
    let stored = finish(&store, &forged, OutcomeKind::Completed { result: None }).await;
    assert!(
        stored.is_empty(),
        "a token the task never carried is refused: {stored:?}"
    );
    finish_ok(&store, &new, OutcomeKind::Completed { result: None }).await;
}

/// A stale lease cannot release the task; the new owner can.
pub async fn a_stale_token_cannot_release_a_task(store: Arc<dyn Store>) {
    let (old, new) = stolen(&store, "t", "job").await;
    let released = store
        .release(std::slice::from_ref(&old))
        .await
        .expect("release succeeds");
    assert!(
        released.is_empty(),
        "a stale lease cannot release: {released:?}"
    );
    still_held_by_new_worker(&store, "t", "stale release").await;
    let released = store
        .release(std::slice::from_ref(&new))
        .await
        .expect("release succeeds");
    assert_eq!(released, vec!["t"], "the new owner releases it");
}

/// A stale lease cannot complete a task through a unit of work; the new owner can.
pub async fn a_stale_token_cannot_complete_through_a_unit_of_work(store: Arc<dyn Store>) {
    let (old, new) = stolen(&store, "t", "job").await;
    let mut uow = begin(&store).await;
    let stale = uow
        .complete(&old, Some(&json!("stale")))
        .await
        .expect("complete succeeds");
    assert_eq!(stale, None, "a stale lease cannot complete");
    commit(uow).await;
    still_held_by_new_worker(&store, "t", "stale complete").await;

    let mut uow = begin(&store).await;
    let done = uow
        .complete(&new, Some(&json!("fresh")))
        .await
        .expect("complete succeeds");
    assert_eq!(
        done,
        Some(TaskStatus::Completed),
        "the new owner completes it"
    );
    commit(uow).await;
    let ended = assert_status(&store, "t", TaskStatus::Completed).await;
    assert_eq!(
        ended.result,
        Some(json!("fresh")),
        "the new owner's result is stored"
    );
}

/// A stale lease cannot record steps, on the store or in a unit of work; the new owner can.
pub async fn a_stale_token_cannot_save_steps(store: Arc<dyn Store>) {
    let (old, new) = stolen(&store, "t", "flow").await;
    let first = step(0, "fetch", 0, done(json!("stale")));
    let saved = store
        .save_steps(&[(old.clone(), first.clone())])
        .await
        .expect("save_steps succeeds");
    assert_eq!(
        saved,
        vec![Checkpointed::Refused],
        "a stale lease's step is refused"
    );
    let mut uow = begin(&store).await;
    let saved = uow
        .save_steps(&[(old, first.clone())])
        .await
        .expect("save_steps succeeds");
    assert_eq!(
        saved,
        vec![Checkpointed::Refused],
        "a stale lease's step is refused in a unit"
    );
    commit(uow).await;
    let log = store.load_steps("t").await.expect("load_steps succeeds");
    assert!(
        log.is_empty(),
        "nothing was recorded under the stale lease: {log:?}"
    );

    let fresh = step(0, "fetch", 0, done(json!("fresh")));
    let saved = store
        .save_steps(&[(new.clone(), fresh.clone())])
        .await
        .expect("save_steps");
    assert_eq!(
        saved,
        vec![Checkpointed::Saved],
        "the new owner's step is saved"
    );
    let second = step(1, "store", 0, done(json!(2)));
    let mut uow = begin(&store).await;
    let saved = uow
        .save_steps(&[(new, second.clone())])
        .await
        .expect("save_steps succeeds");
    assert_eq!(
        saved,
        vec![Checkpointed::Saved],
        "the new owner's step is saved in a unit"
    );
    commit(uow).await;
    let log = store.load_steps("t").await.expect("load_steps succeeds");
    assert_eq!(log.len(), 2, "the new owner's steps: {log:?}");
    assert_same_step(&log[0], &fresh);
    assert_same_step(&log[1], &second);
}

/// A stale lease on a tick cannot end it; the new owner can.
pub async fn a_stale_token_cannot_end_a_tick(store: Arc<dyn Store>) {
    let id = tick_id("hourly");
    schedule_with_tick(
        &store,
        "hourly",
        &tick(TaskStatus::Pending, secs_from_now(-1), false),
    )
    .await;
    let old = claim_id(&store, "old-worker", &id, &only(&[TICK_TASK]), EXPIRING)
        .await
        .lease;
    tokio::time::sleep(EXPIRY_WAIT).await;
    let report = rescue(&store, 10).await;
    assert_eq!(
        report.requeued,
        vec![id.clone()],
        "the tick's expired lease is rescued"
    );
    let new = claim_id(&store, "new-worker", &id, &only(&[TICK_TASK]), LEASE)
        .await
        .lease;

    let next = later();
    let mut uow = begin(&store).await;
    let ended = uow
        .end_tick(&old, &tick(TaskStatus::Completed, next, false))
        .await
        .expect("end_tick succeeds");
    assert!(!ended, "a stale lease cannot end the tick");
    commit(uow).await;
    still_held_by_new_worker(&store, &id, "stale end_tick").await;

    let mut uow = begin(&store).await;
    let ended = uow
        .end_tick(&new, &tick(TaskStatus::Pending, next, false))
        .await
        .expect("end_tick succeeds");
    assert!(ended, "the new owner ends the tick");
    commit(uow).await;
    let after = assert_status(&store, &id, TaskStatus::Pending).await;
    assert_eq!(
        after.run_at, next,
        "the tick is due when the new owner said"
    );
}

/// A stale worker's heartbeat does not extend the new owner's lease.
pub async fn a_stale_worker_heartbeat_extends_nothing(store: Arc<dyn Store>) {
    let (_old, _new) = stolen(&store, "t", "job").await;
    let before = record(&store, "t").await.lease_expires_at;
    let extended = store
        .heartbeat("old-worker", std::time::Duration::from_secs(3600))
        .await
        .expect("heartbeat succeeds");
    assert_eq!(extended, 0, "the old worker holds nothing any more");
    let after = record(&store, "t").await.lease_expires_at;
    assert_eq!(after, before, "the new owner's lease is unchanged");
}
