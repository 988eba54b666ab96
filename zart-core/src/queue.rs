//! The queue's records: a worker's claim on a task ([`Lease`], [`ClaimedTask`]), which tasks
//! it may claim ([`ClaimScope`]), what became of an attempt ([`Outcome`]), and what a
//! maintenance pass did ([`RescueReport`]).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::steps::StepRecord;
use crate::task::{TaskStatus, TraceContext};

/// A worker's claim on one task: the fencing token proves the worker still owns it.
///
/// Every write a worker makes about a claimed task names the token it got at claim time;
/// the store applies the write only while the task still carries that same token, so a
/// worker whose lease expired (and whose task was rescued and claimed again) cannot
/// overwrite what the new owner does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The claimed task's id.
    pub task_id: String,
    /// The fencing token. Every statement that starts or ends a lease changes it.
    pub token: i64,
}

/// A task claimed by a worker.
#[derive(Clone, Debug)]
pub struct ClaimedTask {
    /// The claim.
    pub lease: Lease,
    /// The handler name.
    pub task_name: String,
    /// The input.
    pub data: Value,
    /// The metadata.
    pub metadata: Value,
    /// When it was due.
    pub run_at: DateTime<Utc>,
    /// The attempt this claim starts, from 1.
    pub attempt: u32,
    /// When the task was scheduled (the start of a durable execution's deadline).
    pub created_at: DateTime<Utc>,
    /// The step log, for a task whose name is in [`ClaimScope::durable`].
    pub steps: Option<Vec<StepRecord>>,
    /// Its priority (its follow-ups and children inherit it).
    pub priority: i16,
    /// The trace context it was scheduled with.
    pub trace_context: Option<TraceContext>,
    /// The application version of the worker that began it, for a durable execution begun
    /// by a worker that was told its version (see [`ClaimScope::app_versions`]).
    pub app_version: Option<String>,
}

/// Which tasks a claim may take: a worker claims only the tasks it can run, so that a task
/// only newer code knows waits for a worker that knows it (during a rolling deploy, say)
/// instead of failing on an older one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClaimScope {
    /// The task names that may be claimed; `None` claims every name.
    pub names: Option<Vec<String>>,
    /// The names among them that are durable executions, claimed with their step logs.
    pub durable: Vec<String>,
    /// The queue these names are in: its stored controls (pause, limits) hold for the
    /// claim, and claimed tasks record it. `None`: no controls apply.
    pub queue: Option<String>,
    /// How long a due task may wait before it is claimed ahead of every task that became
    /// due after it, whatever their priorities (so that a steady flow of higher priority
    /// work cannot starve it). `None`: priorities are strict.
    pub priority_aging: Option<std::time::Duration>,
    /// The claiming worker's application version and the earlier ones its code replays. A
    /// durable execution claimed for the first time is recorded with the current version;
    /// one recorded with a version not among them is not claimed. `None`: every execution
    /// is claimed and none recorded.
    pub app_versions: Option<AppVersions>,
}

/// The application version a worker runs and the earlier ones whose durable executions its
/// code can still replay (their changes kept behind `patched`, say).
///
/// ```
/// use zart_core::queue::AppVersions;
///
/// let versions = AppVersions::new("2026.12.2").replaying(["2026.11.30"]);
/// assert!(versions.knows("2026.11.30"));
/// assert!(!versions.knows("2026.10.1"));
/// assert_eq!(versions.all(), ["2026.12.2", "2026.11.30"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppVersions {
    /// The version executions this worker begins are recorded with.
    pub current: String,
    /// The earlier versions whose executions this worker may go on with.
    pub replays: Vec<String>,
}

impl AppVersions {
    /// Runs `current` and replays no earlier version.
    pub fn new(current: impl Into<String>) -> Self {
        AppVersions {
            current: current.into(),
            replays: Vec::new(),
        }
    }

    /// Also goes on with the executions of these earlier versions.
    pub fn replaying<I: IntoIterator<Item = S>, S: Into<String>>(mut self, earlier: I) -> Self {
        self.replays.extend(earlier.into_iter().map(Into::into));
        self
    }

    /// Whether an execution recorded with `version` may be claimed.
    pub fn knows(&self, version: &str) -> bool {
        self.current == version || self.replays.iter().any(|v| v == version)
    }

    /// Every version, the current one first.
    pub fn all(&self) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.replays)
            .cloned()
            .collect()
    }
}

/// What became of an attempt, as the worker reports it to the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The claim the attempt ran under.
    pub lease: Lease,
    /// What happened.
    pub kind: OutcomeKind,
}

/// The ways an attempt ends.
#[derive(Clone, Debug, PartialEq)]
pub enum OutcomeKind {
    /// Completed with an optional result.
    Completed {
        /// The stored result.
        result: Option<Value>,
    },
    /// Failed; try again at `run_at`.
    Retry {
        /// The error of this attempt.
        error: String,
        /// When the next attempt is due.
        run_at: DateTime<Utc>,
    },
    /// Failed for good.
    Failed {
        /// The error of the last attempt.
        error: String,
    },
    /// Not finished: run again at `run_at`, without counting this attempt (a durable
    /// execution sleeping, say). Due at once instead if an event was sent to the task
    /// since its attempt started (it may have looked for the event before it arrived).
    Suspended {
        /// When to run again.
        run_at: DateTime<Utc>,
    },
}

/// An outcome in the columns a store writes: the status it asks for (`suspended` for a
/// suspension, which the store stores as `pending` without counting the attempt), the
/// result, the error and the new due instant (`None`: keep the task's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutcomeColumns<'a> {
    /// `completed`, `pending` (a retry), `failed` or `suspended`.
    pub status: &'static str,
    /// The result of a completion.
    pub result: Option<&'a Value>,
    /// The error of a failed attempt.
    pub error: Option<&'a str>,
    /// When a retried or suspended task is due again.
    pub run_at: Option<DateTime<Utc>>,
}

impl OutcomeKind {
    /// This outcome in the columns a store writes.
    ///
    /// ```
    /// use zart_core::queue::OutcomeKind;
    ///
    /// let failed = OutcomeKind::Failed { error: "broken".into() };
    /// assert_eq!(failed.columns().status, "failed");
    /// assert_eq!(failed.columns().error, Some("broken"));
    /// ```
    pub fn columns(&self) -> OutcomeColumns<'_> {
        let (status, result, error, run_at) = match self {
            OutcomeKind::Completed { result } => {
                (TaskStatus::Completed.as_str(), result.as_ref(), None, None)
            }
            OutcomeKind::Retry { error, run_at } => (
                TaskStatus::Pending.as_str(),
                None,
                Some(error.as_str()),
                Some(*run_at),
            ),
            OutcomeKind::Failed { error } => (
                TaskStatus::Failed.as_str(),
                None,
                Some(error.as_str()),
                None,
            ),
            OutcomeKind::Suspended { run_at } => ("suspended", None, None, Some(*run_at)),
        };
        OutcomeColumns {
            status,
            result,
            error,
            run_at,
        }
    }
}

/// What one maintenance pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Tasks whose lease had expired, put back to pending.
    pub requeued: Vec<String>,
    /// Tasks whose lease had expired once too often, marked dead.
    pub dead: Vec<String>,
}

/// What a store's notification tells a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Work may be due now (also sent when a lost listener reconnects: notifications sent
    /// meanwhile are gone).
    Now,
    /// Work becomes due at this instant.
    At(DateTime<Utc>),
}
