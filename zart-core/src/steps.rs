//! Durable executions' records: the step log ([`StepRecord`], with each step's failed
//! attempts, [`StepAttempt`]), what became of a checkpoint write ([`Checkpointed`]), and
//! what a suspended execution waits on ([`WaitingOn`]), with the step names that tell it
//! ([`wait_steps`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::task::TaskStatus;

/// The name of a durable sleep's step starts with this (`sleep:<name>`); the step holds
/// the sleep's end: `{"until": <instant>}`.
pub const SLEEP_STEP: &str = "sleep:";

/// The name of the step an event wait records as it starts (`event-deadline:<event>`)
/// starts with this; the step holds the wait's deadline: `{"until": <instant>}`. The
/// event's own step (`event:<event>`) follows it once the event came or the wait timed
/// out.
pub const EVENT_DEADLINE_STEP: &str = "event-deadline:";

/// The event a child execution's end sends its parent is named this, then the child's id
/// (`child:<child id>`): waiting for a child is waiting for that event.
pub const CHILD_EVENT: &str = "child:";

/// How a store tells which wait a suspended durable execution is in: each suspended
/// status with the name prefix of the completed step its step log then ends with. The
/// first prefix that matches wins (a child's is an event's, longer).
///
/// An execution is suspended when the store keeps it `pending`, due in the future, with no
/// error (a suspension clears the error; a retry sets it).
///
/// ```
/// use zart_core::steps::wait_steps;
/// use zart_core::task::TaskStatus;
///
/// let child = wait_steps().into_iter().find(|(_, prefix)| "event-deadline:child:c-1".starts_with(prefix.as_str()));
/// assert_eq!(child.map(|(status, _)| status), Some(TaskStatus::AwaitingChild));
/// ```
pub fn wait_steps() -> [(TaskStatus, String); 3] {
    [
        (
            TaskStatus::AwaitingChild,
            format!("{EVENT_DEADLINE_STEP}{CHILD_EVENT}"),
        ),
        (TaskStatus::AwaitingEvent, EVENT_DEADLINE_STEP.to_owned()),
        (TaskStatus::Sleeping, SLEEP_STEP.to_owned()),
    ]
}

/// What a suspended durable execution waits on ([`TaskRecord::waiting_on`](crate::task::TaskRecord::waiting_on)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitingOn {
    /// A durable sleep named `name`, until `until`.
    Sleep {
        /// The sleep's name.
        name: String,
        /// When it ends.
        until: DateTime<Utc>,
    },
    /// Event `name`, at most until `deadline`.
    Event {
        /// The event's name.
        name: String,
        /// When the wait times out.
        deadline: DateTime<Utc>,
    },
    /// Child execution `child_id` to end, at most until `deadline`.
    Child {
        /// The child's id.
        child_id: String,
        /// When the wait times out.
        deadline: DateTime<Utc>,
    },
    /// Step `name`'s next attempt, due at `until` after a long retry backoff.
    Retry {
        /// The step's name.
        name: String,
        /// When the next attempt is due.
        until: DateTime<Utc>,
        /// The last attempt's error.
        error: String,
    },
}

impl WaitingOn {
    /// What a task that reads with `status`, due at `run_at`, waits on, given the last
    /// step of its log as a store reads it beside a suspended task: the step's name
    /// (`step`), the `until` instant its output holds (RFC 3339 text) and, for a step
    /// waiting out a retry backoff, its error (`retry_error`). An instant that does not
    /// read is taken as `run_at`, when the execution wakes.
    ///
    /// ```
    /// use chrono::Utc;
    /// use zart_core::steps::WaitingOn;
    /// use zart_core::task::TaskStatus;
    ///
    /// let now = Utc::now();
    /// let until = now.to_rfc3339();
    /// assert_eq!(
    ///     WaitingOn::read(TaskStatus::AwaitingChild, now, "event-deadline:child:c-1", Some(&until), None),
    ///     Some(WaitingOn::Child { child_id: "c-1".into(), deadline: now })
    /// );
    /// assert_eq!(WaitingOn::read(TaskStatus::Pending, now, "charge", Some(&until), None), None);
    /// ```
    pub fn read(
        status: TaskStatus,
        run_at: DateTime<Utc>,
        step: &str,
        until: Option<&str>,
        retry_error: Option<&str>,
    ) -> Option<WaitingOn> {
        let until = until
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map_or(run_at, |at| at.with_timezone(&Utc));
        let waited = wait_steps()
            .into_iter()
            .find(|(wait, _)| *wait == status)
            .map(|(_, prefix)| {
                step.strip_prefix(prefix.as_str())
                    .unwrap_or(step)
                    .to_owned()
            });
        Some(match (status, waited) {
            (TaskStatus::Sleeping, Some(name)) => WaitingOn::Sleep { name, until },
            (TaskStatus::AwaitingEvent, Some(name)) => WaitingOn::Event {
                name,
                deadline: until,
            },
            (TaskStatus::AwaitingChild, Some(child_id)) => WaitingOn::Child {
                child_id,
                deadline: until,
            },
            (TaskStatus::Pending, _) => WaitingOn::Retry {
                name: step.to_owned(),
                until,
                error: retry_error?.to_owned(),
            },
            _ => return None,
        })
    }
}

/// One step call of a durable execution, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// The call's position in the execution, from 0.
    pub seq: u32,
    /// The step's name.
    pub name: String,
    /// How many calls of this name came before it.
    pub occurrence: u32,
    /// What it returned.
    pub outcome: StepOutcome,
    /// Attempts it took.
    pub attempts: u32,
    /// When its first attempt started.
    pub started_at: DateTime<Utc>,
    /// When it was recorded (for a retrying step, when its latest attempt was). Set by the
    /// store when it writes the record; what a writer puts here is ignored.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its attempts that failed, in order: empty when the first attempt succeeded. For a
    /// failed or retrying step the last one is the attempt whose error `outcome` holds.
    /// Kept as written, with the rest of the record.
    pub failed_attempts: Vec<StepAttempt>,
}

/// An attempt of a step that failed (its retries may have gone on).
///
/// Drivers store a step's failed attempts as the JSON array of this type's serde form, so
/// its field names are part of the stored data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepAttempt {
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it failed.
    pub finished_at: DateTime<Utc>,
    /// Its error.
    pub error: String,
}

/// A recorded step's result.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutcome {
    /// Its result.
    Completed(Value),
    /// Its retries were used up; the last error.
    Failed(String),
    /// Waiting out a long retry backoff: the next attempt is due at `until` (the
    /// execution is suspended meanwhile); `error` is the last attempt's.
    Retrying {
        /// When the next attempt is due.
        until: DateTime<Utc>,
        /// The last attempt's error.
        error: String,
    },
}

/// What became of a checkpoint write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpointed {
    /// Written.
    Saved,
    /// Not written: the execution was asked to stop (cancelled while running).
    Cancelled,
    /// Not written: the lease was lost, or the position is taken.
    Refused,
}
