//! Recurring schedules, written through a unit of work and read through
//! [`ScheduleStore`](zart_core::store::ScheduleStore).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use zart_core::queue::OutcomeKind;
use zart_core::schedule::Schedule;
use zart_core::schedules::{
    HistoryEntry, MissedRunPolicy, OverlapPolicy, ScheduleInfo, ScheduleProgress, ScheduleState,
};
use zart_core::store::Store;
use zart_core::task::TaskStatus;

use crate::support::*;

/// The stored schedule `id`, which must exist.
async fn info(store: &Arc<dyn Store>, id: &str) -> ScheduleInfo {
    store
        .schedule(id)
        .await
        .expect("schedule() succeeds")
        .unwrap_or_else(|| panic!("schedule {id} exists"))
}

/// Stores schedule `id` in `state`, committed.
async fn stored(store: &Arc<dyn Store>, id: &str, state: ScheduleState) {
    let mut uow = begin(store).await;
    let inserted = uow
        .insert_schedule(&recurring(id), state, Some(later()))
        .await
        .expect("insert_schedule succeeds");
    assert!(inserted, "schedule {id} is new");
    commit(uow).await;
}

/// A schedule is stored once and reads back whole, with its state, on the store and
/// locked in a unit of work; an unknown one reads as `None`.
pub async fn a_schedule_is_stored_once_and_read_back_whole(store: Arc<dyn Store>) {
    let declaration = recurring("nightly");
    let next = later();
    let mut uow = begin(&store).await;
    let inserted = uow
        .insert_schedule(&declaration, ScheduleState::Paused, Some(next))
        .await
        .expect("insert_schedule succeeds");
    assert!(inserted, "a new schedule is stored");
    let other = recurring("nightly").data(json!("other")).max_runs(1);
    let again = uow
        .insert_schedule(&other, ScheduleState::Active, None)
        .await
        .expect("insert_schedule succeeds");
    assert!(!again, "a schedule id is stored once");
    commit(uow).await;

    let expected = ScheduleInfo {
        task: declaration,
        state: ScheduleState::Paused,
        occurrence: 0,
        next_slot: Some(next),
        buffered_slot: None,
        trigger_requested: false,
        last_finished_at: None,
    };
    assert_eq!(
        info(&store, "nightly").await,
        expected,
        "the schedule as stored"
    );
    let mut uow = begin(&store).await;
    let locked = uow
        .lock_schedule("nightly")
        .await
        .expect("lock_schedule succeeds");
    assert_eq!(locked, Some(expected), "the schedule as locked");
    let unknown = uow
        .lock_schedule("unknown")
        .await
        .expect("lock_schedule succeeds");
    assert_eq!(unknown, None, "an unknown schedule locks as None");
    commit(uow).await;
    assert_eq!(
        store
            .schedule("unknown")
            .await
            .expect("schedule() succeeds"),
        None
    );
}

/// A new declaration replaces the old one; state, counter and slots stay.
pub async fn a_schedule_update_replaces_the_declaration_only(store: Arc<dyn Store>) {
    stored(&store, "s", ScheduleState::Active).await;
    let progress = ScheduleProgress {
        occurrence: 4,
        next_slot: Some(secs_from_now(120)),
        buffered_slot: Some(secs_from_now(-60)),
        state: ScheduleState::Paused,
    };
    let mut uow = begin(&store).await;
    uow.save_progress("s", &progress)
        .await
        .expect("save_progress succeeds");
    commit(uow).await;

    let declaration = recurring("s")
        .data(json!({ "v": 2 }))
        .id_template("s-v2-{occurrence}")
        .missed(MissedRunPolicy::Skip)
        .overlap(OverlapPolicy::CancelAndRestart);
    let declaration = zart_core::schedules::RecurringTask {
        schedule: Schedule::every(std::time::Duration::from_secs(90)).expect("an interval"),
        task_name: "report-v2".into(),
        window: None,
        max_runs: None,
        ..declaration
    };
    let mut uow = begin(&store).await;
    uow.update_schedule(&declaration)
        .await
        .expect("update_schedule succeeds");
    commit(uow).await;
    let after = info(&store, "s").await;
    assert_eq!(after.task, declaration, "the new declaration is stored");
    assert_eq!(after.state, ScheduleState::Paused, "the state stays");
    assert_eq!(after.occurrence, 4, "the counter stays");
    assert_eq!(after.next_slot, progress.next_slot, "the next slot stays");
    assert_eq!(
        after.buffered_slot, progress.buffered_slot,
        "the buffered slot stays"
    );
}

/// A tick's progress is written whole, and clears a trigger request; the next slot is set
/// on its own too.
pub async fn progress_and_next_slot_are_written(store: Arc<dyn Store>) {
    stored(&store, "s", ScheduleState::Active).await;
    let mut uow = begin(&store).await;
    assert!(uow
        .request_trigger("s")
        .await
        .expect("request_trigger succeeds"));
    commit(uow).await;
    assert!(
        info(&store, "s").await.trigger_requested,
        "the trigger request is recorded"
    );

    let progress = ScheduleProgress {
        occurrence: 9,
        next_slot: None,
        buffered_slot: Some(secs_from_now(-5)),
        state: ScheduleState::Finished,
    };
    let mut uow = begin(&store).await;
    uow.save_progress("s", &progress)
        .await
        .expect("save_progress succeeds");
    commit(uow).await;
    let after = info(&store, "s").await;
    assert_eq!(
        (
            after.occurrence,
            after.next_slot,
            after.buffered_slot,
            after.state
        ),
        (9, None, progress.buffered_slot, ScheduleState::Finished),
        "the progress is stored"
    );
    assert!(
        !after.trigger_requested,
        "saving progress clears the trigger request"
    );

    let slot = secs_from_now(300);
    let mut uow = begin(&store).await;
    uow.set_next_slot("s", Some(slot))
        .await
        .expect("set_next_slot succeeds");
    commit(uow).await;
    assert_eq!(
        info(&store, "s").await.next_slot,
        Some(slot),
        "the next slot is set"
    );
    let mut uow = begin(&store).await;
    uow.set_next_slot("s", None)
        .await
        .expect("set_next_slot succeeds");
    commit(uow).await;
    let after = info(&store, "s").await;
    assert_eq!(after.next_slot, None, "the next slot is cleared");
    assert_eq!(after.occurrence, 9, "setting the slot leaves the counter");
}

/// A state change happens only from one of the states given.
pub async fn a_state_change_respects_the_states_it_starts_from(store: Arc<dyn Store>) {
    stored(&store, "s", ScheduleState::Active).await;
    let mut uow = begin(&store).await;
    let from_paused = uow
        .change_state(
            "s",
            &[ScheduleState::Paused, ScheduleState::Stopped],
            ScheduleState::Active,
        )
        .await
        .expect("change_state succeeds");
    assert!(
        !from_paused,
        "an active schedule does not move from paused or stopped"
    );
    let moved = uow
        .change_state(
            "s",
            &[ScheduleState::Stopped, ScheduleState::Active],
            ScheduleState::Paused,
        )
        .await
        .expect("change_state succeeds");
    assert!(moved, "an active schedule moves from active");
    let unknown = uow
        .change_state("unknown", &[ScheduleState::Active], ScheduleState::Paused)
        .await
        .expect("change_state succeeds");
    assert!(!unknown, "an unknown schedule does not move");
    commit(uow).await;
    assert_eq!(
        info(&store, "s").await.state,
        ScheduleState::Paused,
        "the schedule is paused"
    );
}

/// A manual trigger is recorded on an active schedule only.
pub async fn a_trigger_is_recorded_only_on_an_active_schedule(store: Arc<dyn Store>) {
    stored(&store, "paused", ScheduleState::Paused).await;
    stored(&store, "active", ScheduleState::Active).await;
    let mut uow = begin(&store).await;
    assert!(
        !uow.request_trigger("paused")
            .await
            .expect("request_trigger"),
        "paused: refused"
    );
    assert!(
        !uow.request_trigger("unknown")
            .await
            .expect("request_trigger"),
        "unknown: refused"
    );
    assert!(
        uow.request_trigger("active")
            .await
            .expect("request_trigger"),
        "active: recorded"
    );
    commit(uow).await;
    assert!(
        !info(&store, "paused").await.trigger_requested,
        "no trigger on a paused schedule"
    );
    assert!(
        info(&store, "active").await.trigger_requested,
        "the active schedule's trigger"
    );
}

/// A schedule's active runs are its pending and running runs, oldest due first: not its
/// ended runs, nor other schedules' runs, nor plain tasks.
pub async fn active_runs_are_the_unended_runs_oldest_due_first(store: Arc<dyn Store>) {
    stored(&store, "s", ScheduleState::Active).await;
    stored(&store, "other", ScheduleState::Active).await;
    add_run_at(&store, "s", "s-future", "report", later()).await;
    add_run_at(
        &store,
        "s",
        "s-running",
        "running-report",
        secs_from_now(-300),
    )
    .await;
    add_run_at(&store, "s", "s-due", "report", secs_from_now(-100)).await;
    add_run_at(&store, "s", "s-done", "done-report", secs_from_now(-400)).await;
    add_run_at(&store, "other", "other-run", "report", secs_from_now(-500)).await;
    insert(&store, &[task_at("plain", "report", secs_from_now(-600))]).await;
    claim_id(&store, "w", "s-running", &only(&["running-report"]), LEASE).await;
    let lease = claim_id(&store, "w", "s-done", &only(&["done-report"]), LEASE)
        .await
        .lease;
    finish_ok(&store, &lease, OutcomeKind::Completed { result: None }).await;

    let mut uow = begin(&store).await;
    let runs = uow.active_runs("s").await.expect("active_runs succeeds");
    let none = uow
        .active_runs("unknown")
        .await
        .expect("active_runs succeeds");
    commit(uow).await;
    assert_eq!(
        runs,
        vec!["s-running", "s-due", "s-future"],
        "unended runs, oldest due first"
    );
    assert!(none.is_empty(), "an unknown schedule has no runs: {none:?}");
}

/// Cancelled runs end at once, a running one too: its worker's outcome later changes
/// nothing, and its next checkpoint learns of the cancel. Ended runs stay as they were.
pub async fn cancelled_runs_end_at_once_and_stay_cancelled(store: Arc<dyn Store>) {
    stored(&store, "s", ScheduleState::Active).await;
    add_run(&store, "s", "pending-run", "report").await;
    add_run(&store, "s", "running-run", "flow").await;
    add_run(&store, "s", "ended-run", "ended").await;
    let lease = claim_id(&store, "w", "running-run", &durable("flow"), LEASE)
        .await
        .lease;
    let ended = claim_id(&store, "w", "ended-run", &only(&["ended"]), LEASE)
        .await
        .lease;
    finish_ok(
        &store,
        &ended,
        OutcomeKind::Completed {
            result: Some(json!("kept")),
        },
    )
    .await;

    let mut uow = begin(&store).await;
    let ids = ["pending-run", "running-run", "ended-run"].map(String::from);
    uow.cancel_runs(&ids).await.expect("cancel_runs succeeds");
    uow.cancel_runs(&[])
        .await
        .expect("cancelling no runs succeeds");
    commit(uow).await;
    for id in ["pending-run", "running-run"] {
        let cancelled = assert_status(&store, id, TaskStatus::Cancelled).await;
        assert!(
            cancelled.finished_at.is_some(),
            "{id} ended at once: {cancelled:?}"
        );
    }
    let kept = assert_status(&store, "ended-run", TaskStatus::Completed).await;
    assert_eq!(
        kept.result,
        Some(json!("kept")),
        "an ended run is left alone"
    );

    let checkpoint = store
        .save_steps(&[(lease.clone(), step(0, "a", 0, done(json!(1))))])
        .await
        .expect("save_steps succeeds");
    assert_eq!(
        checkpoint,
        vec![zart_core::steps::Checkpointed::Cancelled],
        "the worker learns"
    );
    finish(
        &store,
        &lease,
        OutcomeKind::Completed {
            result: Some(json!("late")),
        },
    )
    .await;
    let cancelled = assert_status(&store, "running-run", TaskStatus::Cancelled).await;
    assert_eq!(
        cancelled.result, None,
        "the late outcome's result is not stored"
    );
}

/// A history entry.
fn entry(slot: DateTime<Utc>, decision: &'static str, task_id: Option<&str>) -> HistoryEntry {
    HistoryEntry {
        slot,
        decision,
        reason: (decision == "skipped").then_some("overlap"),
        occurrence: task_id.map(|_| 1),
        task_id: task_id.map(String::from),
        catch_up: false,
    }
}

/// History comes oldest first, bounded by what is kept and what is asked, each entry with
/// its run's status and timing while the run exists.
pub async fn history_is_kept_bounded_with_the_runs_status(store: Arc<dyn Store>) {
    stored(&store, "s", ScheduleState::Active).await;
    add_run(&store, "s", "run-1", "report").await;
    let lease = claim_id(&store, "w", "run-1", &only(&["report"]), LEASE)
        .await
        .lease;
    finish_ok(
        &store,
        &lease,
        OutcomeKind::Failed {
            error: "no data".into(),
        },
    )
    .await;
    let slots: Vec<_> = (0..5).map(|i| secs_from_now(-500 + i * 100)).collect();

    let mut uow = begin(&store).await;
    let first = [
        entry(slots[0], "skipped", None),
        entry(slots[1], "started", Some("run-1")),
        HistoryEntry {
            catch_up: true,
            reason: Some("catch_up"),
            ..entry(slots[2], "started", Some("run-gone"))
        },
    ];
    uow.record_history("s", &first, 10)
        .await
        .expect("record_history succeeds");
    commit(uow).await;
    let history = store.history("s", 10).await.expect("history succeeds");
    let decided: Vec<_> = history
        .iter()
        .map(|r| (r.slot, r.decision.as_str()))
        .collect();
    assert_eq!(
        decided,
        vec![
            (slots[0], "skipped"),
            (slots[1], "started"),
            (slots[2], "started")
        ],
        "the history, oldest first"
    );
    assert_eq!(
        history[0].reason.as_deref(),
        Some("overlap"),
        "a skip's reason"
    );
    assert_eq!(history[0].status, None, "a skipped slot has no run");
    let run = &history[1];
    assert_eq!(
        (run.task_id.as_deref(), run.occurrence),
        (Some("run-1"), Some(1)),
        "the run"
    );
    assert_eq!(
        run.status,
        Some(TaskStatus::Failed),
        "the run's status is joined in"
    );
    assert_eq!(
        run.error.as_deref(),
        Some("no data"),
        "the run's error is joined in"
    );
    assert!(
        run.started_at.is_some() && run.finished_at.is_some(),
        "the run's timing: {run:?}"
    );
    assert_recent(run.recorded_at, "when the decision was recorded");
    assert_eq!(
        history[2].reason.as_deref(),
        Some("catch_up"),
        "a catch-up's reason"
    );
    assert_eq!(
        history[2].status, None,
        "a run whose task is gone has no status"
    );

    let mut uow = begin(&store).await;
    let second = [
        entry(slots[3], "buffered", None),
        entry(slots[4], "skipped", None),
    ];
    uow.record_history("s", &second, 3)
        .await
        .expect("record_history succeeds");
    commit(uow).await;
    let kept: Vec<_> = store
        .history("s", 10)
        .await
        .expect("history")
        .iter()
        .map(|r| r.slot)
        .collect();
    assert_eq!(
        kept,
        slots[2..].to_vec(),
        "only the latest 3 are kept, oldest first"
    );
    let asked: Vec<_> = store
        .history("s", 2)
        .await
        .expect("history")
        .iter()
        .map(|r| r.slot)
        .collect();
    assert_eq!(asked, slots[3..].to_vec(), "the latest 2, oldest first");
    assert!(
        store
            .history("other", 10)
            .await
            .expect("history")
            .is_empty(),
        "per schedule"
    );
}
