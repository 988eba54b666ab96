//! Units of work ([`Store::begin`]): all or nothing.
//!
//! The cases never read through the store while one of their units is open: a store may
//! run one writing transaction at a time (SQLite does), and a read that waits for the open
//! unit would then never return.

use std::sync::Arc;

use serde_json::json;
use zart_core::queue::{Lease, OutcomeKind};
use zart_core::schedules::{tick_id, HistoryEntry, ScheduleProgress, ScheduleState};
use zart_core::steps::Checkpointed;
use zart_core::store::{Store, UnitOfWork};
use zart_core::task::TaskStatus;

use crate::support::*;

/// What the cases do in one unit: a run inserted, a claimed task completed, a step saved,
/// a new schedule stored with its tick, and every write on an existing schedule.
async fn everything(uow: &mut Box<dyn UnitOfWork>, running: &Lease, flow: &Lease) {
    let inserted = uow
        .insert(&[task("new-run", "report").into()], Some("existing"))
        .await
        .expect("insert succeeds");
    assert_eq!(inserted, vec!["new-run"]);
    let status = uow
        .complete(running, Some(&json!("done")))
        .await
        .expect("complete succeeds");
    assert_eq!(status, Some(TaskStatus::Completed));
    let saved = uow
        .save_steps(&[(flow.clone(), step(0, "a", 0, done(json!(1))))])
        .await
        .expect("save_steps succeeds");
    assert_eq!(saved, vec![Checkpointed::Saved]);
    let stored = uow
        .insert_schedule(&recurring("new"), ScheduleState::Active, Some(later()))
        .await
        .expect("insert_schedule succeeds");
    assert!(stored);
    uow.set_tick("new", &tick(TaskStatus::Pending, later(), false))
        .await
        .expect("set_tick");
    uow.update_schedule(&recurring("existing").data(json!("v2")))
        .await
        .expect("update");
    uow.set_next_slot("existing", None)
        .await
        .expect("set_next_slot succeeds");
    assert!(uow
        .change_state("existing", &[ScheduleState::Active], ScheduleState::Stopped)
        .await
        .expect("change_state succeeds"));
    assert!(uow
        .request_trigger("triggered")
        .await
        .expect("request_trigger succeeds"));
    let progress = ScheduleProgress {
        occurrence: 5,
        next_slot: None,
        buffered_slot: None,
        state: ScheduleState::Active,
    };
    uow.save_progress("progressed", &progress)
        .await
        .expect("save_progress succeeds");
    let entry = HistoryEntry {
        slot: secs_from_now(-1),
        decision: "started",
        reason: None,
        occurrence: Some(0),
        task_id: Some("new-run".into()),
        catch_up: false,
    };
    uow.record_history("existing", &[entry], 10)
        .await
        .expect("record_history succeeds");
    uow.cancel_runs(&["old-run".to_owned()])
        .await
        .expect("cancel_runs succeeds");
    let runs = uow
        .active_runs("existing")
        .await
        .expect("active_runs succeeds");
    assert!(
        runs.contains(&"new-run".to_owned()),
        "a unit sees its own writes: {runs:?}"
    );
    // What a driver offers its transactional steps is its own business; it must not
    // disturb the unit.
    let _ = uow.connection();
}

/// Sets up what [`everything`] works on: a running task, a running execution, schedules
/// `existing` (with a pending run), `triggered` and `progressed`.
async fn setup(store: &Arc<dyn Store>) -> (Lease, Lease) {
    let running_task = running(store, "running", "job", "w").await;
    let flow = running(store, "flow", "flow", "w").await;
    let mut uow = begin(store).await;
    for id in ["existing", "triggered", "progressed"] {
        let stored = uow
            .insert_schedule(&recurring(id), ScheduleState::Active, Some(later()))
            .await
            .expect("insert_schedule succeeds");
        assert!(stored);
    }
    uow.insert(
        &[task_at("old-run", "report", later()).into()],
        Some("existing"),
    )
    .await
    .expect("insert succeeds");
    commit(uow).await;
    (running_task, flow)
}

/// A unit of work dropped without commit leaves no trace: nothing inserted, completed,
/// saved, stored or changed, and the leases it used still hold.
pub async fn a_unit_of_work_dropped_without_commit_changes_nothing(store: Arc<dyn Store>) {
    let (running_task, flow) = setup(&store).await;
    let before = [
        store.schedule("existing").await.expect("schedule()"),
        store.schedule("triggered").await.expect("schedule()"),
        store.schedule("progressed").await.expect("schedule()"),
    ];
    {
        let mut uow = begin(&store).await;
        everything(&mut uow, &running_task, &flow).await;
        drop(uow);
    }
    assert_eq!(
        store.task("new-run").await.expect("task()"),
        None,
        "the insert is undone"
    );
    let still = assert_status(&store, "running", TaskStatus::Running).await;
    assert_eq!(still.result, None, "the completion is undone");
    assert!(
        store
            .load_steps("flow")
            .await
            .expect("load_steps")
            .is_empty(),
        "the step is undone"
    );
    assert_eq!(
        store.schedule("new").await.expect("schedule()"),
        None,
        "the schedule is undone"
    );
    assert_eq!(
        store.task(&tick_id("new")).await.expect("task()"),
        None,
        "the tick is undone"
    );
    assert_status(&store, "old-run", TaskStatus::Pending).await;
    let after = [
        store.schedule("existing").await.expect("schedule()"),
        store.schedule("triggered").await.expect("schedule()"),
        store.schedule("progressed").await.expect("schedule()"),
    ];
    assert_eq!(after, before, "the schedules are unchanged");
    assert!(
        store
            .history("existing", 10)
            .await
            .expect("history")
            .is_empty(),
        "no history"
    );

    finish_ok(
        &store,
        &running_task,
        OutcomeKind::Completed { result: None },
    )
    .await;
    let saved = store
        .save_steps(&[(flow, step(0, "a", 0, done(json!(1))))])
        .await
        .expect("save_steps succeeds");
    assert_eq!(
        saved,
        vec![Checkpointed::Saved],
        "the execution's lease still holds"
    );
}

/// A committed unit of work applies everything.
pub async fn a_committed_unit_of_work_applies_everything(store: Arc<dyn Store>) {
    let (running_task, flow) = setup(&store).await;
    let mut uow = begin(&store).await;
    everything(&mut uow, &running_task, &flow).await;
    commit(uow).await;

    assert_status(&store, "new-run", TaskStatus::Pending).await;
    let completed = assert_status(&store, "running", TaskStatus::Completed).await;
    assert_eq!(
        completed.result,
        Some(json!("done")),
        "the completion's result"
    );
    assert_eq!(
        store.load_steps("flow").await.expect("load_steps").len(),
        1,
        "the step"
    );
    assert!(
        store.schedule("new").await.expect("schedule()").is_some(),
        "the new schedule"
    );
    assert_status(&store, &tick_id("new"), TaskStatus::Pending).await;
    let existing = store
        .schedule("existing")
        .await
        .expect("schedule()")
        .expect("existing");
    assert_eq!(existing.task.data, json!("v2"), "the update");
    assert_eq!(existing.next_slot, None, "the next slot");
    assert_eq!(existing.state, ScheduleState::Stopped, "the state change");
    let triggered = store
        .schedule("triggered")
        .await
        .expect("schedule()")
        .expect("triggered");
    assert!(triggered.trigger_requested, "the trigger");
    let progressed = store
        .schedule("progressed")
        .await
        .expect("schedule()")
        .expect("progressed");
    assert_eq!(progressed.occurrence, 5, "the progress");
    assert_eq!(
        store.history("existing", 10).await.expect("history").len(),
        1,
        "the history"
    );
    assert_status(&store, "old-run", TaskStatus::Cancelled).await;
}
