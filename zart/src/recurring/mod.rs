//! Recurring tasks: a [`Schedule`] that starts a task at each slot, shared by any number of
//! workers.
//!
//! A recurring task is declared in code ([`RecurringTask`]) and registered with the
//! worker's [`TaskRegistry`](crate::TaskRegistry); each worker upserts the declaration when
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
//! - **Time window**: a run that would start outside the [`TimeWindow`] (checked at the
//!   moment of starting) is skipped with reason `outside_time_window`.
//! - **`max_runs`** counts runs started (catch-up and manual ones included), not slots:
//!   skipped slots do not count. `0` never runs.
//! - **Fixed delays** count from the end of the previous run; their slots are never
//!   missed (a late one runs once, late) and they never overlap themselves.
//! - **Occurrences** are numbered from 0 in the order runs start; the number never goes
//!   back, also across stop, resume and re-registration. Run ids come from the
//!   [`id_template`](RecurringTask::id_template) (`{schedule}` and `{occurrence}`).

mod decide;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schedule::{Schedule, TimeWindow};

pub(crate) use decide::{plan_tick, NextTick, TickInput};
pub use decide::{Decision, SkipReason};

/// Task name of the ticks that drive recurring schedules.
pub(crate) const TICK_TASK: &str = "__zart_tick";

/// Task id of a schedule's tick.
pub(crate) fn tick_id(schedule_id: &str) -> String {
    format!("__zart_recurring__:{schedule_id}")
}

/// The default [`RecurringTask::grace`].
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);

/// What happens to slots that no worker ran in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedRunPolicy {
    /// Drop them; wait for the next slot.
    #[default]
    Skip,
    /// One run, for the latest missed slot, flagged as a catch-up; the others are dropped.
    CatchUpOnce,
    /// One run for each missed slot, in slot order, each flagged as a catch-up.
    ReplayAll,
}

/// What a slot does while an earlier run of its schedule is pending or running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// Skip the slot (recorded as `overlap`).
    #[default]
    SkipIfRunning,
    /// Keep at most one pending run: it starts as soon as the running one ends; further
    /// slots meanwhile are skipped.
    BufferOne,
    /// Cancel the earlier run and start this one. A plain task that is already running is
    /// marked cancelled: its worker's outcome is discarded when it ends.
    CancelAndRestart,
    /// Start anyway; runs overlap.
    AlwaysStart,
}

impl MissedRunPolicy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MissedRunPolicy::Skip => "skip",
            MissedRunPolicy::CatchUpOnce => "catch_up_once",
            MissedRunPolicy::ReplayAll => "replay_all",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        [
            MissedRunPolicy::Skip,
            MissedRunPolicy::CatchUpOnce,
            MissedRunPolicy::ReplayAll,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
    }
}

impl OverlapPolicy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OverlapPolicy::SkipIfRunning => "skip_if_running",
            OverlapPolicy::BufferOne => "buffer_one",
            OverlapPolicy::CancelAndRestart => "cancel_and_restart",
            OverlapPolicy::AlwaysStart => "always_start",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        [
            OverlapPolicy::SkipIfRunning,
            OverlapPolicy::BufferOne,
            OverlapPolicy::CancelAndRestart,
            OverlapPolicy::AlwaysStart,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
    }
}

/// A recurring task, declared in code.
///
/// ```
/// use std::time::Duration;
/// use serde_json::json;
/// use zart::recurring::{MissedRunPolicy, OverlapPolicy, RecurringTask};
/// use zart::schedule::Schedule;
///
/// let nightly = RecurringTask::new("nightly-report", "generate-report", Schedule::cron("0 2 * * *", "Europe/Berlin")?)
///     .data(json!({ "warehouse": "EU-1" }))
///     .id_template("report-{occurrence}")
///     .missed(MissedRunPolicy::CatchUpOnce)
///     .overlap(OverlapPolicy::SkipIfRunning);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RecurringTask {
    pub(crate) schedule_id: String,
    pub(crate) task_name: String,
    pub(crate) schedule: Schedule,
    pub(crate) data: Value,
    pub(crate) id_template: String,
    pub(crate) missed: MissedRunPolicy,
    pub(crate) overlap: OverlapPolicy,
    pub(crate) window: Option<TimeWindow>,
    pub(crate) max_runs: Option<u64>,
    pub(crate) grace: Duration,
}

/// A recurring task that cannot be registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid recurring task {schedule_id:?}: {reason}")]
pub struct RecurringError {
    schedule_id: String,
    reason: String,
}

impl RecurringError {
    pub(crate) fn new(schedule_id: &str, reason: String) -> Self {
        RecurringError {
            schedule_id: schedule_id.to_owned(),
            reason,
        }
    }
}

impl RecurringTask {
    /// Schedule `schedule_id` runs task `task_name` at the slots of `schedule`, with
    /// input `null`, run ids `<schedule_id>-<occurrence>`, missed slots skipped and
    /// overlapping slots skipped.
    pub fn new(
        schedule_id: impl Into<String>,
        task_name: impl Into<String>,
        schedule: Schedule,
    ) -> Self {
        RecurringTask {
            schedule_id: schedule_id.into(),
            task_name: task_name.into(),
            schedule,
            data: Value::Null,
            id_template: "{schedule}-{occurrence}".to_owned(),
            missed: MissedRunPolicy::default(),
            overlap: OverlapPolicy::default(),
            window: None,
            max_runs: None,
            grace: DEFAULT_GRACE,
        }
    }

    /// The input every run gets.
    pub fn data(self, data: Value) -> Self {
        RecurringTask { data, ..self }
    }

    /// The run ids: `{schedule}` becomes the schedule id and `{occurrence}` the run's
    /// number (required, so that ids never repeat).
    pub fn id_template(self, template: impl Into<String>) -> Self {
        RecurringTask {
            id_template: template.into(),
            ..self
        }
    }

    /// What happens to slots that no worker ran in time.
    pub fn missed(self, missed: MissedRunPolicy) -> Self {
        RecurringTask { missed, ..self }
    }

    /// What a slot does while an earlier run is pending or running.
    pub fn overlap(self, overlap: OverlapPolicy) -> Self {
        RecurringTask { overlap, ..self }
    }

    /// Runs start only inside `window`.
    pub fn window(self, window: TimeWindow) -> Self {
        RecurringTask {
            window: Some(window),
            ..self
        }
    }

    /// At most `max_runs` runs, ever (counting runs started, not slots).
    pub fn max_runs(self, max_runs: u64) -> Self {
        RecurringTask {
            max_runs: Some(max_runs),
            ..self
        }
    }

    /// How late the latest slot may start before it counts as missed (default 60 s).
    pub fn grace(self, grace: Duration) -> Self {
        RecurringTask { grace, ..self }
    }

    /// The schedule's id.
    pub fn schedule_id(&self) -> &str {
        &self.schedule_id
    }

    /// Checks what the store would refuse.
    pub fn validate(&self) -> Result<(), RecurringError> {
        let fail = |reason: &str| {
            Err(RecurringError {
                schedule_id: self.schedule_id.clone(),
                reason: reason.to_owned(),
            })
        };
        if self.schedule_id.is_empty() {
            return fail("the schedule id is empty");
        }
        if self.task_name.is_empty() {
            return fail("the task name is empty");
        }
        if self
            .task_name
            .starts_with(crate::scheduler::RESERVED_PREFIX)
        {
            return fail("task names starting with \"__zart\" are reserved");
        }
        if self
            .id_template
            .starts_with(crate::scheduler::RESERVED_PREFIX)
            || self
                .schedule_id
                .starts_with(crate::scheduler::RESERVED_PREFIX)
        {
            return fail("ids starting with \"__zart\" are reserved");
        }
        if !self.id_template.contains("{occurrence}") {
            return fail("the id template must contain {occurrence}, or run ids would repeat");
        }
        Ok(())
    }

    /// The id of run number `occurrence`.
    pub(crate) fn run_id(&self, occurrence: u64) -> String {
        self.id_template
            .replace("{schedule}", &self.schedule_id)
            .replace("{occurrence}", &occurrence.to_string())
    }
}

/// Where a run came from, as its task sees it: [`TaskInstance::run_context`](crate::TaskInstance::run_context).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunContext {
    /// The schedule's id.
    pub schedule_id: String,
    /// The slot this run is for (the trigger time, for a manual trigger).
    pub slot: DateTime<Utc>,
    /// The run's number, from 0.
    pub occurrence: u64,
    /// Whether the run makes up for a missed slot.
    pub catch_up: bool,
    /// Whether the run was triggered by hand.
    pub manual: bool,
    /// The schedule's time zone (IANA name).
    pub timezone: String,
}

/// Whether a schedule still fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleState {
    /// Firing at its slots.
    Active,
    /// Not firing; slots meanwhile count as missed when it resumes.
    Paused,
    /// Not firing until resumed; resuming starts from the next future slot.
    Stopped,
    /// No slots left (instants used up, or `max_runs` reached).
    Finished,
}

impl ScheduleState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ScheduleState::Active => "active",
            ScheduleState::Paused => "paused",
            ScheduleState::Stopped => "stopped",
            ScheduleState::Finished => "finished",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        [
            ScheduleState::Active,
            ScheduleState::Paused,
            ScheduleState::Stopped,
            ScheduleState::Finished,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

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

/// A schedule as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleInfo {
    /// The declaration.
    pub task: RecurringTask,
    /// Whether it fires.
    pub state: ScheduleState,
    /// Runs started so far (the next run's number).
    pub occurrence: u64,
    /// The next slot, if known.
    pub next_slot: Option<DateTime<Utc>>,
    /// A run waiting for the running one to end ([`OverlapPolicy::BufferOne`]).
    pub buffered_slot: Option<DateTime<Utc>>,
}

/// One entry of a schedule's run history: what a slot became and, for a run, how the run
/// went.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// The slot (the trigger time, for a manual run).
    pub slot: DateTime<Utc>,
    /// `started`, `buffered` or `skipped`.
    pub decision: String,
    /// Why it was skipped, or `catch_up` / `manual` for such runs.
    pub reason: Option<String>,
    /// The run's number, if one started.
    pub occurrence: Option<u64>,
    /// The run's task id, if one started.
    pub task_id: Option<String>,
    /// When the decision was taken.
    pub recorded_at: DateTime<Utc>,
    /// The run's status, while its task exists.
    pub status: Option<crate::TaskStatus>,
    /// When the run started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the run ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The run's error, if it failed.
    pub error: Option<String>,
}

/// Controls recurring schedules; every worker sees the changes (they are stored).
#[async_trait::async_trait]
pub trait RecurringScheduler: Send + Sync {
    /// Stores (or updates) a schedule declared in code; workers call this for every
    /// schedule they were given. A changed schedule restarts from its next future slot;
    /// the occurrence counter and the state (paused, stopped) are kept.
    async fn upsert_recurring(&self, task: &RecurringTask) -> crate::Result<()>;

    /// Stops firing; slots meanwhile count as missed when it resumes. Returns whether an
    /// active schedule was paused.
    async fn pause(&self, schedule_id: &str) -> crate::Result<bool>;

    /// Fires again: a paused schedule handles the slots it missed by its
    /// [`MissedRunPolicy`]; a stopped one starts from its next future slot. Returns
    /// whether the schedule was paused or stopped.
    async fn resume(&self, schedule_id: &str) -> crate::Result<bool>;

    /// Starts a run now, outside the slots, as the [`OverlapPolicy`] allows. Returns
    /// whether the schedule is active (and the trigger was recorded).
    async fn trigger_now(&self, schedule_id: &str) -> crate::Result<bool>;

    /// Stops firing until resumed; runs already started finish normally. Returns whether
    /// the schedule was active or paused.
    async fn stop(&self, schedule_id: &str) -> crate::Result<bool>;

    /// The stored schedule, or `None`.
    async fn schedule_info(&self, schedule_id: &str) -> crate::Result<Option<ScheduleInfo>>;

    /// The latest `limit` decisions of a schedule, oldest first (at most the last
    /// [`HISTORY_LIMIT`] are kept).
    async fn history(&self, schedule_id: &str, limit: usize) -> crate::Result<Vec<RunRecord>>;
}

/// How many decisions each schedule's history keeps.
pub const HISTORY_LIMIT: usize = 200;
