//! A schedule's tick: [`set_tick`](zart_core::store::UnitOfWork::set_tick) and
//! [`end_tick`](zart_core::store::UnitOfWork::end_tick).

use std::sync::Arc;

use serde_json::json;
use zart_core::queue::{ClaimScope, OutcomeKind};
use zart_core::schedules::{tick_id, TickState, TICK_TASK};
use zart_core::store::Store;
use zart_core::task::{TaskFilter, TaskStatus};

use crate::support::*;

/// Sets schedule `schedule_id`'s tick to `state`, committed.
async fn set(store: &Arc<dyn Store>, schedule_id: &str, state: &TickState) {
    let mut uow = begin(store).await;
    uow.set_tick(schedule_id, state)
        .await
        .expect("set_tick succeeds");
    commit(uow).await;
}

/// The occurrence a tick mirrors (`TickState::occurrence`: "mirrored on the tick where
/// users of Zart look for it (`metadata->>'occurrence'`)").
async fn mirrored(store: &Arc<dyn Store>, schedule_id: &str) -> Option<serde_json::Value> {
    record(store, &tick_id(schedule_id))
        .await
        .metadata
        .get("occurrence")
        .cloned()
}

/// The tick is created with its id and name, in the state given, mirroring the occurrence.
pub async fn a_tick_is_created_as_given(store: Arc<dyn Store>) {
    let at = secs_from_now(-1);
    let state = TickState {
        occurrence: Some(3),
        ..tick(TaskStatus::Pending, at, false)
    };
    schedule_with_tick(&store, "s", &state).await;
    let created = assert_status(&store, &tick_id("s"), TaskStatus::Pending).await;
    assert_eq!(created.task_name, TICK_TASK, "a tick's name");
    assert_eq!(created.run_at, at, "due when asked");
    assert_eq!(
        mirrored(&store, "s").await,
        Some(json!(3)),
        "the occurrence is mirrored"
    );

    let parked = tick(TaskStatus::Waiting, secs_from_now(-60), true);
    schedule_with_tick(&store, "parked", &parked).await;
    assert_status(&store, &tick_id("parked"), TaskStatus::Waiting).await;
    let claimed = claim(&store, "w", 10, LEASE, &ClaimScope::default()).await;
    let ids: Vec<_> = claimed.iter().map(|c| c.lease.task_id.as_str()).collect();
    assert_eq!(
        ids,
        vec![tick_id("s")],
        "a waiting tick is never claimed, though due"
    );
    assert_eq!(
        store.count(&TaskFilter::default()).await.expect("count"),
        0,
        "ticks not counted"
    );
}

/// Setting the tick again resets it: new state, attempts and error cleared, the mirrored
/// occurrence kept unless a new one is given.
pub async fn setting_a_tick_again_resets_it(store: Arc<dyn Store>) {
    let first = TickState {
        occurrence: Some(1),
        ..tick(TaskStatus::Pending, secs_from_now(-1), false)
    };
    schedule_with_tick(&store, "s", &first).await;
    let lease = claim_id(&store, "w", &tick_id("s"), &only(&[TICK_TASK]), LEASE)
        .await
        .lease;
    let retry = OutcomeKind::Retry {
        error: "tick failed".into(),
        run_at: later(),
    };
    finish_ok(&store, &lease, retry).await;
    let failed = record(&store, &tick_id("s")).await;
    assert_eq!(
        (failed.attempts, failed.error.is_some()),
        (1, true),
        "set up: {failed:?}"
    );

    let at = secs_from_now(-2);
    set(&store, "s", &tick(TaskStatus::Pending, at, false)).await;
    let reset = assert_status(&store, &tick_id("s"), TaskStatus::Pending).await;
    assert_eq!(reset.run_at, at, "due when the reset says");
    assert_eq!(reset.attempts, 0, "attempts are cleared");
    assert_eq!(reset.error, None, "the error is cleared");
    assert_eq!(
        mirrored(&store, "s").await,
        Some(json!(1)),
        "no occurrence given: kept"
    );

    let parked = TickState {
        occurrence: Some(2),
        ..tick(TaskStatus::Waiting, later(), true)
    };
    set(&store, "s", &parked).await;
    assert_status(&store, &tick_id("s"), TaskStatus::Waiting).await;
    assert_eq!(
        mirrored(&store, "s").await,
        Some(json!(2)),
        "a new occurrence is mirrored"
    );
}

/// A running tick is not reset: the worker running it decides, and its lease still holds.
pub async fn a_running_tick_is_not_reset(store: Arc<dyn Store>) {
    schedule_with_tick(
        &store,
        "s",
        &tick(TaskStatus::Pending, secs_from_now(-1), false),
    )
    .await;
    let lease = claim_id(&store, "w", &tick_id("s"), &only(&[TICK_TASK]), LEASE)
        .await
        .lease;
    set(&store, "s", &tick(TaskStatus::Pending, later(), false)).await;
    let held = assert_status(&store, &tick_id("s"), TaskStatus::Running).await;
    assert_eq!(
        held.worker_id.as_deref(),
        Some("w"),
        "the worker still holds the tick"
    );

    let next = secs_from_now(600);
    let decided = TickState {
        occurrence: Some(5),
        ..tick(TaskStatus::Pending, next, true)
    };
    let mut uow = begin(&store).await;
    let ended = uow
        .end_tick(&lease, &decided)
        .await
        .expect("end_tick succeeds");
    assert!(ended, "the worker's lease held through the refused reset");
    commit(uow).await;
    let after = assert_status(&store, &tick_id("s"), TaskStatus::Pending).await;
    assert_eq!(after.run_at, next, "the worker's decision stands");
}

/// Ending a tick sets it to the state decided, ends the lease and mirrors the occurrence.
pub async fn ending_a_tick_sets_its_next_state(store: Arc<dyn Store>) {
    let first = TickState {
        occurrence: Some(7),
        ..tick(TaskStatus::Pending, secs_from_now(-1), false)
    };
    schedule_with_tick(&store, "s", &first).await;
    let lease = claim_id(&store, "w", &tick_id("s"), &only(&[TICK_TASK]), LEASE)
        .await
        .lease;
    let mut uow = begin(&store).await;
    let ended = uow
        .end_tick(&lease, &tick(TaskStatus::Waiting, later(), true))
        .await
        .expect("end_tick succeeds");
    assert!(ended, "the live lease ends the tick");
    commit(uow).await;
    let waiting = assert_status(&store, &tick_id("s"), TaskStatus::Waiting).await;
    assert_eq!(
        (waiting.worker_id, waiting.lease_expires_at),
        (None, None),
        "the lease ended"
    );
    assert_eq!(
        mirrored(&store, "s").await,
        Some(json!(7)),
        "no occurrence given: kept"
    );

    let mut uow = begin(&store).await;
    let again = uow
        .end_tick(&lease, &tick(TaskStatus::Pending, secs_from_now(-1), false))
        .await
        .expect("end_tick succeeds");
    assert!(!again, "an ended lease cannot end the tick again");
    commit(uow).await;
    assert_status(&store, &tick_id("s"), TaskStatus::Waiting).await;

    set(
        &store,
        "s",
        &tick(TaskStatus::Pending, secs_from_now(-1), false),
    )
    .await;
    let lease = claim_id(&store, "w", &tick_id("s"), &only(&[TICK_TASK]), LEASE)
        .await
        .lease;
    let last = TickState {
        occurrence: Some(8),
        ..tick(TaskStatus::Completed, secs_from_now(0), false)
    };
    let mut uow = begin(&store).await;
    assert!(uow
        .end_tick(&lease, &last)
        .await
        .expect("end_tick succeeds"));
    commit(uow).await;
    assert_status(&store, &tick_id("s"), TaskStatus::Completed).await;
    assert_eq!(
        mirrored(&store, "s").await,
        Some(json!(8)),
        "the new occurrence is mirrored"
    );
}
