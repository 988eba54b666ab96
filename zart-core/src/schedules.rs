//! Recurring schedules as stored: the declaration ([`RecurringTask`]) with its policies, the
//! schedule's state ([`ScheduleInfo`]), its history ([`RunRecord`], [`HistoryEntry`]) and its
//! tick ([`TickState`]).
//!
//! Each active schedule has one *tick*: a task named [`TICK_TASK`] with id
//! [`tick_id`]`(schedule_id)`, due at the schedule's next slot. Whichever worker claims it
//! decides what the slot becomes; the store only keeps what it decided.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ErrorKind, StoreError, StoreResult};
use crate::task::{TaskStatus, MAX_ID_LEN, MAX_NAME_LEN, RESERVED_PREFIX};
use zart_schedule::{Schedule, TimeWindow};

/// Task name of the ticks that drive recurring schedules.
pub const TICK_TASK: &str = "__zart_tick";

/// What a schedule's tick id starts with; the schedule id follows.
pub const TICK_ID_PREFIX: &str = "__zart_recurring__:";

/// Task id of a schedule's tick.
pub fn tick_id(schedule_id: &str) -> String {
    format!("{TICK_ID_PREFIX}{schedule_id}")
}

/// The schedule a tick id belongs to, if it is one.
pub fn schedule_of_tick(task_id: &str) -> Option<&str> {
    task_id.strip_prefix(TICK_ID_PREFIX)
}

/// The default [`RecurringTask::grace`].
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);

/// How many decisions each schedule's history keeps.
pub const HISTORY_LIMIT: usize = 200;

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
    /// The stored name: `skip`, `catch_up_once` or `replay_all`.
    pub fn as_str(self) -> &'static str {
        match self {
            MissedRunPolicy::Skip => "skip",
            MissedRunPolicy::CatchUpOnce => "catch_up_once",
            MissedRunPolicy::ReplayAll => "replay_all",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
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
    /// The stored name: `skip_if_running`, `buffer_one`, `cancel_and_restart` or
    /// `always_start`.
    pub fn as_str(self) -> &'static str {
        match self {
            OverlapPolicy::SkipIfRunning => "skip_if_running",
            OverlapPolicy::BufferOne => "buffer_one",
            OverlapPolicy::CancelAndRestart => "cancel_and_restart",
            OverlapPolicy::AlwaysStart => "always_start",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
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

/// A recurring task, declared in code: schedule `schedule_id` starts task `task_name` at
/// the slots of `schedule`.
///
/// ```
/// use std::time::Duration;
/// use serde_json::json;
/// use zart_core::schedules::{MissedRunPolicy, OverlapPolicy, RecurringTask};
/// use zart_core::schedule::Schedule;
///
/// let nightly = RecurringTask::new("nightly-report", "generate-report", Schedule::cron("0 2 * * *", "Europe/Berlin")?)
///     .data(json!({ "warehouse": "EU-1" }))
///     .id_template("report-{occurrence}")
///     .missed(MissedRunPolicy::CatchUpOnce)
///     .overlap(OverlapPolicy::SkipIfRunning);
/// assert_eq!(nightly.run_id(3), "report-3");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RecurringTask {
    /// The schedule's id.
    pub schedule_id: String,
    /// The task each run starts.
    pub task_name: String,
    /// When runs are due.
    pub schedule: Schedule,
    /// The input every run gets.
    pub data: Value,
    /// The run ids: `{schedule}` becomes the schedule id, `{occurrence}` the run's number.
    pub id_template: String,
    /// What happens to slots no worker ran in time.
    pub missed: MissedRunPolicy,
    /// What a slot does while an earlier run is pending or running.
    pub overlap: OverlapPolicy,
    /// Runs start only inside this window, if set.
    pub window: Option<TimeWindow>,
    /// At most this many runs, ever (runs started, not slots).
    pub max_runs: Option<u64>,
    /// How late the latest slot may start before it counts as missed.
    pub grace: Duration,
}

/// A recurring task that cannot be registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid recurring task {schedule_id:?}: {reason}")]
pub struct RecurringError {
    schedule_id: String,
    reason: String,
}

impl RecurringError {
    /// Schedule `schedule_id` is refused for `reason`.
    pub fn new(schedule_id: &str, reason: impl Into<String>) -> Self {
        RecurringError {
            schedule_id: schedule_id.to_owned(),
            reason: reason.into(),
        }
    }

    /// The refused schedule.
    pub fn schedule_id(&self) -> &str {
        &self.schedule_id
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
        let fail = |reason: String| Err(RecurringError::new(&self.schedule_id, reason));
        if self.schedule_id.is_empty() {
            return fail("the schedule id is empty".into());
        }
        if self.task_name.is_empty() {
            return fail("the task name is empty".into());
        }
        if self.task_name.starts_with(RESERVED_PREFIX) {
            return fail(format!(
                "task names starting with {RESERVED_PREFIX:?} are reserved"
            ));
        }
        if self.id_template.starts_with(RESERVED_PREFIX)
            || self.schedule_id.starts_with(RESERVED_PREFIX)
        {
            return fail(format!(
                "ids starting with {RESERVED_PREFIX:?} are reserved"
            ));
        }
        if !self.id_template.contains("{occurrence}") {
            return fail(
                "the id template must contain {occurrence}, or run ids would repeat".into(),
            );
        }
        let longest_schedule_id = MAX_ID_LEN - TICK_ID_PREFIX.len();
        if self.schedule_id.len() > longest_schedule_id {
            return fail(format!(
                "the schedule id is {} bytes long; at most {longest_schedule_id} are allowed",
                self.schedule_id.len()
            ));
        }
        if self.task_name.len() > MAX_NAME_LEN {
            return fail(format!(
                "the task name is {} bytes long; at most {MAX_NAME_LEN} are allowed",
                self.task_name.len()
            ));
        }
        let longest_run_id = self.run_id(u64::MAX).len();
        if longest_run_id > MAX_ID_LEN {
            return fail(format!(
                "the id template makes run ids of up to {longest_run_id} bytes; at most {MAX_ID_LEN} are allowed"
            ));
        }
        Ok(())
    }

    /// The id of run number `occurrence`.
    pub fn run_id(&self, occurrence: u64) -> String {
        self.id_template
            .replace("{schedule}", &self.schedule_id)
            .replace("{occurrence}", &occurrence.to_string())
    }

    /// The schedule and the time window as a store keeps them (JSON), or the store's
    /// refusal naming which does not serialise.
    pub fn stored_schedule(&self) -> StoreResult<(Value, Option<Value>)> {
        let unstorable = |what: &'static str, e: serde_json::Error| {
            StoreError::new(
                ErrorKind::Rejected,
                "storing a schedule",
                format!(
                    "schedule {:?}: its {what} does not serialise: {e}",
                    self.schedule_id
                ),
            )
        };
        let schedule =
            serde_json::to_value(&self.schedule).map_err(|e| unstorable("schedule", e))?;
        let window = self
            .window
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| unstorable("time window", e))?;
        Ok((schedule, window))
    }
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
    /// The stored name: `active`, `paused`, `stopped` or `finished`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleState::Active => "active",
            ScheduleState::Paused => "paused",
            ScheduleState::Stopped => "stopped",
            ScheduleState::Finished => "finished",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
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

/// A schedule as stored: its declaration and where it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleInfo {
    /// The declaration.
    pub task: RecurringTask,
    /// Whether it fires.
    pub state: ScheduleState,
    /// Runs started so far (the next run's number). Never goes back.
    pub occurrence: u64,
    /// The next slot, if known (`None` while a fixed delay waits for its run to end).
    pub next_slot: Option<DateTime<Utc>>,
    /// A run waiting for the running one to end ([`OverlapPolicy::BufferOne`]).
    pub buffered_slot: Option<DateTime<Utc>>,
    /// A manual trigger waiting for the tick.
    pub trigger_requested: bool,
    /// When the latest run ended (fixed delays count from it).
    pub last_finished_at: Option<DateTime<Utc>>,
}

/// What a tick writes back about its schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleProgress {
    /// Runs started so far.
    pub occurrence: u64,
    /// The next slot.
    pub next_slot: Option<DateTime<Utc>>,
    /// The buffered run's slot.
    pub buffered_slot: Option<DateTime<Utc>>,
    /// The schedule's state.
    pub state: ScheduleState,
}

/// The tick's next state: its status and due instant, whether the end of one of its
/// schedule's runs wakes it, and the occurrence counter it mirrors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickState {
    /// `pending` (due at `run_at`), `waiting` (parked until woken) or `completed` (the
    /// schedule has no slots left).
    pub status: TaskStatus,
    /// When it is due.
    pub run_at: DateTime<Utc>,
    /// Whether the end of one of the schedule's runs makes the tick due at once (a fixed
    /// delay waiting for its run, a buffered run waiting for its turn).
    pub wake_on_finish: bool,
    /// The schedule's occurrence counter, mirrored on the tick where users of Zart look for
    /// it (`metadata->>'occurrence'`); `None` keeps what the tick has.
    pub occurrence: Option<u64>,
}

/// The key of a tick's metadata that holds [`TickState::wake_on_finish`], where a driver's
/// end effect reads it.
pub const WAKE_ON_FINISH_KEY: &str = "wake_on_finish";

impl TickState {
    /// What the tick's metadata is merged with: its wake-on-finish flag and, when given, the
    /// occurrence counter it mirrors.
    ///
    /// ```
    /// use chrono::Utc;
    /// use zart_core::schedules::TickState;
    /// use zart_core::task::TaskStatus;
    ///
    /// let tick = TickState { status: TaskStatus::Waiting, run_at: Utc::now(), wake_on_finish: true, occurrence: Some(3) };
    /// assert_eq!(tick.metadata_patch(), serde_json::json!({ "wake_on_finish": true, "occurrence": 3 }));
    /// ```
    pub fn metadata_patch(&self) -> Value {
        let mut patch = serde_json::Map::new();
        patch.insert(
            WAKE_ON_FINISH_KEY.to_owned(),
            Value::Bool(self.wake_on_finish),
        );
        if let Some(occurrence) = self.occurrence {
            patch.insert("occurrence".to_owned(), Value::from(occurrence));
        }
        Value::Object(patch)
    }
}

/// One decision to append to a schedule's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The slot (the trigger time, for a manual run).
    pub slot: DateTime<Utc>,
    /// `started`, `buffered` or `skipped`.
    pub decision: &'static str,
    /// Why it was skipped, or `catch_up` / `manual` for such runs.
    pub reason: Option<&'static str>,
    /// The run's number, if one started.
    pub occurrence: Option<u64>,
    /// The run's task id, if one started.
    pub task_id: Option<String>,
    /// Whether the run makes up for a missed slot.
    pub catch_up: bool,
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
    pub status: Option<TaskStatus>,
    /// When the run started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the run ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The run's error, if it failed.
    pub error: Option<String>,
}
