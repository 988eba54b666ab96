//! Registering and steering schedules: each change is one unit of work on the schedule's
//! row and its tick, seen by every worker because it is stored.

use std::sync::Arc;

use chrono::Utc;
use zart_core::schedules::{RecurringTask, RunRecord, ScheduleInfo, ScheduleState, TickState};
use zart_core::store::Store;
use zart_core::task::TaskStatus;

use crate::error::{Error, Result};

/// Stores (or updates) a schedule declared in code; workers call this for every schedule
/// they were given. A new schedule starts at its next future slot; a changed schedule
/// restarts from its next future slot; the occurrence counter and the state (paused,
/// stopped) are kept.
pub(crate) async fn register(store: &dyn Store, task: &RecurringTask) -> Result<()> {
    task.validate().map_err(|e| Error::InvalidTask {
        task_id: task.schedule_id.clone(),
        reason: e.to_string(),
    })?;
    let now = store.clock().now();
    let first = task.schedule.first_after(now);
    let mut work = store.begin().await?;
    let finished = task.max_runs == Some(0) || first.is_none();
    let state = match finished {
        true => ScheduleState::Finished,
        false => ScheduleState::Active,
    };
    if work.insert_schedule(task, state, first).await? {
        let (status, run_at) = match first {
            Some(at) if !finished => (TaskStatus::Pending, at),
            _ => (TaskStatus::Completed, now),
        };
        let tick = TickState {
            status,
            run_at,
            wake_on_finish: false,
            occurrence: Some(0),
        };
        work.set_tick(&task.schedule_id, &tick).await?;
        tracing::info!(schedule_id = task.schedule_id, next_slot = ?first, "schedule registered");
    } else if let Some(existing) = work.lock_schedule(&task.schedule_id).await? {
        if existing.task != *task {
            work.update_schedule(task).await?;
        }
        if existing.task.schedule != task.schedule && existing.state == ScheduleState::Active {
            // A new schedule starts afresh from its next future slot.
            work.set_next_slot(&task.schedule_id, first).await?;
            if let Some(at) = first {
                work.set_tick(&task.schedule_id, &due(at)).await?;
            }
            tracing::info!(schedule_id = task.schedule_id, next_slot = ?first, "schedule changed");
        }
    }
    work.commit().await?;
    Ok(())
}

/// The tick, pending at `at` and not woken by its runs' ends.
fn due(at: chrono::DateTime<Utc>) -> TickState {
    TickState {
        status: TaskStatus::Pending,
        run_at: at,
        wake_on_finish: false,
        occurrence: None,
    }
}

/// Moves a schedule from one of the `from` states to `to` (paused or stopped) and parks
/// its tick, which then waits for a resume. Returns whether the state changed.
async fn park(
    store: &dyn Store,
    schedule_id: &str,
    from: &[ScheduleState],
    to: ScheduleState,
) -> Result<bool> {
    let mut work = store.begin().await?;
    let changed = work.change_state(schedule_id, from, to).await?;
    if changed {
        let parked = TickState {
            status: TaskStatus::Waiting,
            run_at: store.clock().now(),
            wake_on_finish: false,
            occurrence: None,
        };
        work.set_tick(schedule_id, &parked).await?;
        match to {
            ScheduleState::Paused => tracing::info!(schedule_id, "schedule paused"),
            _ => tracing::info!(schedule_id, state = to.as_str(), "schedule stopped"),
        }
    }
    work.commit().await?;
    Ok(changed)
}

/// See [`Schedules::pause`].
pub(crate) async fn pause(store: &dyn Store, schedule_id: &str) -> Result<bool> {
    park(
        store,
        schedule_id,
        &[ScheduleState::Active],
        ScheduleState::Paused,
    )
    .await
}

/// See [`Schedules::stop`].
pub(crate) async fn stop(store: &dyn Store, schedule_id: &str) -> Result<bool> {
    let from = [ScheduleState::Active, ScheduleState::Paused];
    park(store, schedule_id, &from, ScheduleState::Stopped).await
}

/// See [`Schedules::resume`].
pub(crate) async fn resume(store: &dyn Store, schedule_id: &str) -> Result<bool> {
    let mut work = store.begin().await?;
    let Some(current) = work.lock_schedule(schedule_id).await? else {
        return Ok(false);
    };
    let now = store.clock().now();
    let run_at = match current.state {
        // The tick handles the slots missed meanwhile by the missed-run policy.
        ScheduleState::Paused => now,
        ScheduleState::Stopped => {
            let Some(first) = current.task.schedule.first_after(now) else {
                return Ok(false);
            };
            work.set_next_slot(schedule_id, Some(first)).await?;
            first
        }
        ScheduleState::Active | ScheduleState::Finished => return Ok(false),
    };
    let from = [ScheduleState::Paused, ScheduleState::Stopped];
    work.change_state(schedule_id, &from, ScheduleState::Active)
        .await?;
    work.set_tick(schedule_id, &due(run_at)).await?;
    work.commit().await?;
    tracing::info!(
        schedule_id,
        from = current.state.as_str(),
        "schedule resumed"
    );
    Ok(true)
}

/// See [`Schedules::trigger_now`].
pub(crate) async fn trigger_now(store: &dyn Store, schedule_id: &str) -> Result<bool> {
    let mut work = store.begin().await?;
    let requested = work.request_trigger(schedule_id).await?;
    if requested {
        let current = work.lock_schedule(schedule_id).await?;
        // A waiting fixed delay keeps waiting to be woken by its run's end.
        let wake_on_finish =
            current.is_some_and(|c| c.buffered_slot.is_some() || c.next_slot.is_none());
        let tick = TickState {
            wake_on_finish,
            ..due(store.clock().now())
        };
        work.set_tick(schedule_id, &tick).await?;
        tracing::info!(schedule_id, "schedule triggered by hand");
    }
    work.commit().await?;
    Ok(requested)
}

/// Recurring schedules by id: pause, resume, trigger, stop, and what they did. Every
/// worker sees the changes: they are stored.
///
/// ```no_run
/// # async fn demo(zart: zart::Zart) -> Result<(), zart::Error> {
/// let schedules = zart.schedules();
/// schedules.pause("nightly-report").await?;
/// schedules.trigger_now("cache-warmer").await?;
/// for run in schedules.history("cache-warmer", 10).await? {
///     println!("{} {} {:?}", run.slot, run.decision, run.status);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Schedules {
    store: Arc<dyn Store>,
}

impl Schedules {
    /// The schedules kept in `store` (a clone of it: stores share their pool).
    pub fn from_backend<S: Store + Clone>(store: &S) -> Self {
        Schedules::from_arc(Arc::new(store.clone()))
    }

    pub(crate) fn from_arc(store: Arc<dyn Store>) -> Self {
        Schedules { store }
    }

    /// Stops firing; slots meanwhile count as missed when it resumes. Returns whether an
    /// active schedule was paused.
    pub async fn pause(&self, schedule_id: &str) -> Result<bool> {
        pause(self.store.as_ref(), schedule_id).await
    }

    /// Fires again: a paused schedule handles the slots it missed by its
    /// [`MissedRunPolicy`](super::MissedRunPolicy); a stopped one starts from its next
    /// future slot. Returns whether the schedule was paused or stopped.
    pub async fn resume(&self, schedule_id: &str) -> Result<bool> {
        resume(self.store.as_ref(), schedule_id).await
    }

    /// Starts a run now, outside the slots, as the
    /// [`OverlapPolicy`](super::OverlapPolicy) allows. Returns whether the schedule is
    /// active (and the trigger was recorded).
    pub async fn trigger_now(&self, schedule_id: &str) -> Result<bool> {
        trigger_now(self.store.as_ref(), schedule_id).await
    }

    /// Stops firing until resumed; runs already started finish normally. Returns whether
    /// the schedule was active or paused.
    pub async fn stop(&self, schedule_id: &str) -> Result<bool> {
        stop(self.store.as_ref(), schedule_id).await
    }

    /// Stores (or updates) a schedule declared in code, as a starting worker does for
    /// the schedules it registers.
    pub async fn register(&self, task: &RecurringTask) -> Result<()> {
        register(self.store.as_ref(), task).await
    }

    /// The stored schedule, or `None`.
    pub async fn info(&self, schedule_id: &str) -> Result<Option<ScheduleInfo>> {
        Ok(self.store.schedule(schedule_id).await?)
    }

    /// The latest `limit` decisions of a schedule, oldest first (at most the last
    /// [`HISTORY_LIMIT`](super::HISTORY_LIMIT) are kept), each with its run's status.
    pub async fn history(&self, schedule_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        Ok(self.store.history(schedule_id, limit).await?)
    }
}

impl std::fmt::Debug for Schedules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedules").finish_non_exhaustive()
    }
}
