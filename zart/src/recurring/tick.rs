//! A tick, applied: the planner's decision for a schedule's due slots turned into runs,
//! history and the next tick, in one unit of work fenced by the tick's lease.

use chrono::{DateTime, Utc};
use serde_json::json;
use zart_core::queue::Lease;
use zart_core::schedules::{
    schedule_of_tick, HistoryEntry, ScheduleProgress, ScheduleState, TickState, HISTORY_LIMIT,
};
use zart_core::store::Store;
use zart_core::task::{NewTask, ScheduleAtParams, TaskStatus};

use super::decide::{plan_tick, NextTick, TickInput};
use super::{Decision, SkipReason, SlotRecord, TickReport};
use crate::error::{Error, Result};
use crate::task::RunContext;

/// Runs the tick a worker claimed (`lease`) for its recurring schedule: decides what the
/// due slots become at `now`, starts runs, records the decisions and schedules the next
/// tick, all in one transaction fenced by the lease. `Ok(None)`: the lease was lost and
/// nothing was written.
pub(crate) async fn fire_tick(
    store: &dyn Store,
    lease: &Lease,
    now: DateTime<Utc>,
) -> Result<Option<TickReport>> {
    let Some(schedule_id) = schedule_of_tick(&lease.task_id) else {
        return Err(Error::InvalidTask {
            task_id: lease.task_id.clone(),
            reason: "not a recurring tick".to_owned(),
        });
    };
    let mut work = store.begin().await?;
    let Some(current) = work.lock_schedule(schedule_id).await? else {
        // The schedule row is gone: end the tick instead of firing for nothing.
        let done = TickState {
            status: TaskStatus::Completed,
            run_at: now,
            wake_on_finish: false,
            occurrence: Some(0),
        };
        let ended = work.end_tick(lease, &done).await?;
        work.commit().await?;
        return Ok(ended.then(|| TickReport {
            schedule_id: schedule_id.to_owned(),
            slots: Vec::new(),
            unrecorded_skips: 0,
            cancelled: Vec::new(),
            next_slot: None,
            state: ScheduleState::Finished,
        }));
    };
    let input = TickInput {
        active_runs: work.active_runs(schedule_id).await?,
        schedule: current,
        now,
    };
    let plan = plan_tick(&input);
    let current = input.schedule;

    work.cancel_runs(&plan.cancel).await?;
    let timezone = current.task.schedule.timezone().name().to_owned();
    let mut runs = Vec::new();
    let mut slots: Vec<SlotRecord> = Vec::with_capacity(plan.slots.len());
    for (slot, decision) in &plan.slots {
        let task_id = match decision {
            Decision::Started {
                occurrence,
                catch_up,
                manual,
            } => {
                let context = RunContext {
                    schedule_id: schedule_id.to_owned(),
                    slot: *slot,
                    occurrence: *occurrence,
                    catch_up: *catch_up,
                    manual: *manual,
                    timezone: timezone.clone(),
                };
                let id = current.task.run_id(*occurrence);
                runs.push(ScheduleAtParams {
                    task_id: id.clone(),
                    task_name: current.task.task_name.clone(),
                    execution_time: now,
                    data: current.task.data.clone(),
                    recurrence: None,
                    metadata: json!({ "schedule": context }),
                });
                Some(id)
            }
            _ => None,
        };
        slots.push(SlotRecord {
            slot: *slot,
            decision: decision.clone(),
            task_id,
        });
    }
    let runs: Vec<NewTask> = runs.into_iter().map(Into::into).collect();
    let inserted = work.insert(&runs, Some(schedule_id)).await?;
    for record in &mut slots {
        // A run id that already existed (scheduled by hand, say) did not start a run.
        if record
            .task_id
            .as_ref()
            .is_some_and(|id| !inserted.contains(id))
        {
            tracing::warn!(schedule_id, task_id = ?record.task_id, "run id already exists; slot skipped");
            record.decision = Decision::Skipped(SkipReason::RunIdExists);
            record.task_id = None;
        }
    }
    let history: Vec<HistoryEntry> = slots.iter().map(history_entry).collect();
    work.record_history(schedule_id, &history, HISTORY_LIMIT)
        .await?;
    let progress = ScheduleProgress {
        occurrence: plan.occurrence,
        next_slot: plan.next_slot,
        buffered_slot: plan.buffered_slot,
        state: plan.state,
    };
    work.save_progress(schedule_id, &progress).await?;
    let (status, run_at, wake_on_finish) = match plan.tick {
        NextTick::Due { at, wake_on_finish } => (TaskStatus::Pending, at, wake_on_finish),
        NextTick::Wait { wake_on_finish } => (TaskStatus::Waiting, now, wake_on_finish),
        NextTick::Done => (TaskStatus::Completed, now, false),
    };
    let next = TickState {
        status,
        run_at,
        wake_on_finish,
        occurrence: Some(plan.occurrence),
    };
    if !work.end_tick(lease, &next).await? {
        return Ok(None); // lease lost: dropping the unit of work rolls everything back
    }
    work.commit().await?;
    crate::metrics::scheduled(&runs, &inserted);
    Ok(Some(TickReport {
        schedule_id: schedule_id.to_owned(),
        slots,
        unrecorded_skips: plan.unrecorded_skips,
        cancelled: plan.cancel,
        next_slot: plan.next_slot,
        state: plan.state,
    }))
}

/// How a slot's decision is kept in the schedule's history.
fn history_entry(record: &SlotRecord) -> HistoryEntry {
    let (decision, reason, occurrence, catch_up) = match &record.decision {
        Decision::Started {
            occurrence,
            catch_up,
            manual,
        } => {
            let reason = match (catch_up, manual) {
                (true, _) => Some("catch_up"),
                (_, true) => Some("manual"),
                _ => None,
            };
            ("started", reason, Some(*occurrence), *catch_up)
        }
        Decision::Buffered => ("buffered", None, None, false),
        Decision::Skipped(reason) => ("skipped", Some(reason.as_str()), None, false),
    };
    HistoryEntry {
        slot: record.slot,
        decision,
        reason,
        occurrence,
        task_id: record.task_id.clone(),
        catch_up,
    }
}
