//! Recurring tasks: a [`Schedule`](crate::schedule::Schedule) that starts a task at each slot, shared by any number of
//! workers.
//!
//! A recurring task is declared in code ([`RecurringTask`]) and registered with the
//! worker's [`TaskRegistry`](crate::scheduler::TaskRegistry); each worker upserts the declaration when
//! it starts. The store keeps one row per schedule and one *tick* task, due at the next
//! slot. The tick is claimed like any task, so exactly one worker handles each slot: it
//! decides, in one transaction, what the slot becomes (a run, a catch-up run, a buffered
//! run, or a skip with its reason), schedules the next tick, and records the decision.
//!
//! # The rules
//!
//! - **First slot**: the next future slot after registration, never "now".
//! - **Late or missed**: when a tick runs, every slot up to now is due. The latest one is
//!   merely *late* if it is at most [`grace`](RecurringTask::grace) old (default 60 s): a
//!   busy worker does not lose it. The others, and the latest if older than the grace,
//!   were *missed* (no worker ran in time) and follow the [`MissedRunPolicy`].
//! - **Overlap**: a slot that wants to start while an earlier run of the schedule is still
//!   pending or running follows the [`OverlapPolicy`]. Missed slots replayed by
//!   [`MissedRunPolicy::ReplayAll`] obey it too.
//! - **Time window**: a run that would start outside the [`TimeWindow`](crate::schedule::TimeWindow) (checked at the
//!   moment of starting) is skipped with reason `outside_time_window`.
//! - **`max_runs`** counts runs started (catch-up and manual ones included), not slots:
//!   skipped slots do not count. `0` never runs.
//! - **Fixed delays** count from the end of the previous run; their slots are never
//!   missed (a late one runs once, late) and they never overlap themselves.
//! - **Occurrences** are numbered from 0 in the order runs start; the number never goes
//!   back, also across stop, resume and re-registration. Run ids come from the
//!   [`id_template`](RecurringTask::id_template) (`{schedule}` and `{occurrence}`).

mod control;
mod decide;
mod tick;
mod upcoming;

use chrono::{DateTime, Utc};

pub use crate::task::RunContext;
pub use control::Schedules;
pub(crate) use control::{register, stop};
pub use decide::{Decision, SkipReason};
pub(crate) use tick::fire_tick;
pub use upcoming::{upcoming, UpcomingSlot};
pub use zart_core::schedules::{
    MissedRunPolicy, OverlapPolicy, RecurringError, RecurringTask, RunRecord, ScheduleInfo,
    ScheduleState, DEFAULT_GRACE, HISTORY_LIMIT,
};

/// What one tick of a schedule did, as the worker that ran it reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TickReport {
    /// The schedule.
    pub schedule_id: String,
    /// Each slot's decision, in slot order, with the id of the run it started.
    pub slots: Vec<SlotRecord>,
    /// Missed slots skipped without a history record (a schedule far behind).
    pub unrecorded_skips: usize,
    /// Earlier runs cancelled ([`OverlapPolicy::CancelAndRestart`]).
    pub cancelled: Vec<String>,
    /// The schedule's next slot, if any.
    pub next_slot: Option<DateTime<Utc>>,
    /// The schedule's state after the tick.
    pub state: ScheduleState,
}

/// One slot's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRecord {
    /// The slot.
    pub slot: DateTime<Utc>,
    /// What it became.
    pub decision: Decision,
    /// The run it started, if it started one.
    pub task_id: Option<String>,
}
