//! Tasks as stored: what is scheduled ([`ScheduleAtParams`]), where a task is in its life
//! ([`TaskStatus`]) and everything kept about it ([`TaskRecord`]).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::steps::WaitingOn;

/// Longest task id accepted, in bytes. Ids are primary keys; a store keeps ids of at least
/// this length, and the engine refuses longer ones before they reach it.
pub const MAX_ID_LEN: usize = 512;

/// Longest task name (and queue name) accepted, in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// Ids and names that start with this are Zart's own (recurring ticks, say): users cannot
/// schedule them, and listings leave them out.
pub const RESERVED_PREFIX: &str = "__zart";

/// A task to schedule: its id, the handler name, when it is due and its input.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleAtParams {
    /// Unique id and idempotency key.
    pub task_id: String,
    /// Name of the registered handler that runs it.
    pub task_name: String,
    /// When it becomes due.
    pub execution_time: DateTime<Utc>,
    /// Input handed to the handler.
    pub data: Value,
    /// Repetition. Not supported by the plain queue: a task with a recurrence is refused
    /// (declare a recurring task instead).
    pub recurrence: Option<Recurrence>,
    /// Free-form metadata stored with the task.
    pub metadata: Value,
}

impl ScheduleAtParams {
    /// A task due now, with no metadata.
    pub fn now(task_id: impl Into<String>, task_name: impl Into<String>, data: Value) -> Self {
        ScheduleAtParams::at(task_id, task_name, Utc::now(), data)
    }

    /// A task due at `execution_time`, with no metadata.
    pub fn at(
        task_id: impl Into<String>,
        task_name: impl Into<String>,
        execution_time: DateTime<Utc>,
        data: Value,
    ) -> Self {
        ScheduleAtParams {
            task_id: task_id.into(),
            task_name: task_name.into(),
            execution_time,
            data,
            recurrence: None,
            metadata: Value::Null,
        }
    }
}

impl ScheduleAtParams {
    /// This task with priority `priority`: of the due tasks, higher priorities are claimed
    /// first (see [`NewTask::priority`]).
    ///
    /// ```
    /// use serde_json::json;
    /// use zart_core::task::ScheduleAtParams;
    ///
    /// let urgent = ScheduleAtParams::now("refund-7", "refund", json!({})).with_priority(10);
    /// assert_eq!(urgent.priority, 10);
    /// ```
    pub fn with_priority(self, priority: i16) -> NewTask {
        NewTask {
            priority,
            ..NewTask::from(self)
        }
    }
}

/// A task to insert: what runs and when ([`ScheduleAtParams`]), and its priority.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTask {
    /// The task.
    pub params: ScheduleAtParams,
    /// Of the due tasks, higher priorities are claimed first (then the earlier due); 0 by
    /// default, negative below it. A task due for long enough is claimed before later ones
    /// whatever their priorities (see `ClaimScope::priority_aging`), so none starves.
    pub priority: i16,
    /// The trace context of the code that scheduled it: the task's first attempt is traced
    /// as a child of that span, later ones link to it.
    pub trace_context: Option<TraceContext>,
}

impl From<ScheduleAtParams> for NewTask {
    fn from(params: ScheduleAtParams) -> Self {
        NewTask {
            params,
            priority: 0,
            trace_context: None,
        }
    }
}

/// A span's context in the W3C Trace Context format, as it travels between processes: the
/// `traceparent` header's value (version, trace id, parent span id, flags) and the vendors'
/// `tracestate`, kept as text so that a store need not know either.
///
/// ```
/// use zart_core::task::TraceContext;
///
/// let context = TraceContext::new("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// assert_eq!(context.tracestate, "");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// The `traceparent` value.
    pub traceparent: String,
    /// The `tracestate` value, empty if none.
    pub tracestate: String,
}

impl TraceContext {
    /// A context with this `traceparent` and no `tracestate`.
    pub fn new(traceparent: impl Into<String>) -> Self {
        TraceContext {
            traceparent: traceparent.into(),
            tracestate: String::new(),
        }
    }

    /// The context stored in these columns, if the task has one.
    pub fn from_columns(traceparent: Option<String>, tracestate: Option<String>) -> Option<Self> {
        traceparent.map(|traceparent| TraceContext {
            traceparent,
            tracestate: tracestate.unwrap_or_default(),
        })
    }
}

/// How a task repeats, in the shape users of Zart know (a recurring durable execution's
/// schedule, for one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recurrence {
    /// Run again `duration_ms` after the previous run ended.
    FixedDelay {
        /// The delay in milliseconds.
        duration_ms: u64,
    },
    /// Run at the slots of a cron expression, evaluated in an IANA time zone.
    Cron {
        /// The cron expression.
        expression: String,
        /// The IANA time zone name.
        timezone: String,
    },
}

/// Where a task is in its life.
///
/// A store keeps seven of these ([`TaskStatus::STORED`]). The three others say why a
/// durable execution that the store keeps `pending` will not run before its due instant:
/// it was suspended in a wait, and its step log ends with that wait's step (see
/// [`wait_steps`](crate::steps::wait_steps)). A store reads such an execution with the
/// wait's status, filters and counts it so, and says in [`TaskRecord::waiting_on`] what it
/// waits on; once due (its wait is over, or an event or its child woke it), it reads
/// `pending` again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting to become due or to be claimed (also between retries), and not suspended
    /// in a durable wait.
    Pending,
    /// Parked until something wakes it (a recurring schedule's tick waiting for a run to
    /// end, or for a resume); never claimed meanwhile.
    Waiting,
    /// Claimed by a worker that holds its lease.
    Running,
    /// A durable execution suspended in a durable sleep, until the sleep ends. Read, not
    /// stored (kept `pending`).
    Sleeping,
    /// A durable execution suspended waiting for an event, until the event comes or the
    /// wait times out. Read, not stored (kept `pending`).
    AwaitingEvent,
    /// A durable execution suspended waiting for a child execution to end, until it ends
    /// or the wait times out. Read, not stored (kept `pending`).
    AwaitingChild,
    /// Finished successfully.
    Completed,
    /// Finished with an error after its last attempt, or a permanent error.
    Failed,
    /// Its lease expired more often than allowed (its worker kept dying); not retried.
    Dead,
    /// Cancelled before it ran, or while it ran.
    Cancelled,
}

impl TaskStatus {
    /// Every status, in life order.
    pub const ALL: [TaskStatus; 10] = [
        TaskStatus::Pending,
        TaskStatus::Waiting,
        TaskStatus::Running,
        TaskStatus::Sleeping,
        TaskStatus::AwaitingEvent,
        TaskStatus::AwaitingChild,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Dead,
        TaskStatus::Cancelled,
    ];

    /// The statuses a store keeps; the others are read from `pending`.
    pub const STORED: [TaskStatus; 7] = [
        TaskStatus::Pending,
        TaskStatus::Waiting,
        TaskStatus::Running,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Dead,
        TaskStatus::Cancelled,
    ];

    /// The name: `pending`, `waiting`, `running`, `sleeping`, `awaiting_event`,
    /// `awaiting_child`, `completed`, `failed`, `dead` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Waiting => "waiting",
            TaskStatus::Running => "running",
            TaskStatus::Sleeping => "sleeping",
            TaskStatus::AwaitingEvent => "awaiting_event",
            TaskStatus::AwaitingChild => "awaiting_child",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Dead => "dead",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a status name.
    pub fn parse(name: &str) -> Option<Self> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the task has ended and will not run again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Dead | TaskStatus::Cancelled
        )
    }

    /// Whether it is a durable execution suspended in a wait (sleeping, awaiting an event
    /// or a child).
    pub fn is_suspended(self) -> bool {
        matches!(
            self,
            TaskStatus::Sleeping | TaskStatus::AwaitingEvent | TaskStatus::AwaitingChild
        )
    }

    /// The status the store keeps for a task read with this one: `pending` for a
    /// suspended execution, the status itself otherwise.
    ///
    /// ```
    /// use zart_core::task::TaskStatus;
    ///
    /// assert_eq!(TaskStatus::Sleeping.stored(), TaskStatus::Pending);
    /// assert_eq!(TaskStatus::Failed.stored(), TaskStatus::Failed);
    /// ```
    pub fn stored(self) -> TaskStatus {
        match self.is_suspended() {
            true => TaskStatus::Pending,
            false => self,
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything stored about one task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// The task's id.
    pub task_id: String,
    /// The handler name.
    pub task_name: String,
    /// Current status, as read: a suspended durable execution reads as the wait it is in
    /// (see [`TaskStatus`]).
    pub status: TaskStatus,
    /// When it is (or was) due.
    pub run_at: DateTime<Utc>,
    /// Its input.
    pub data: Value,
    /// Its metadata.
    pub metadata: Value,
    /// Attempts started so far.
    pub attempts: u32,
    /// How often an expired lease was rescued.
    pub rescues: u32,
    /// The worker holding its lease, while running.
    pub worker_id: Option<String>,
    /// When the lease of the worker running it expires, while running.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The worker that claimed it last (kept after the lease ends).
    pub last_worker_id: Option<String>,
    /// The result of a completed task.
    pub result: Option<Value>,
    /// The last error, if any attempt failed.
    pub error: Option<String>,
    /// When it was scheduled.
    pub created_at: DateTime<Utc>,
    /// When its latest attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The durable execution that started it as a child.
    pub parent_id: Option<String>,
    /// The recurring schedule it is a run of.
    pub schedule_id: Option<String>,
    /// Whether it was asked to stop while it ran (it ends cancelled whatever its outcome).
    pub cancel_requested: bool,
    /// Its priority ([`NewTask::priority`]).
    pub priority: i16,
    /// The queue it was last claimed in, if it was claimed.
    pub queue: Option<String>,
    /// For a durable execution begun by a worker told its version, that version: only a
    /// worker that knows it goes on with the execution.
    pub app_version: Option<String>,
    /// What a durable execution suspended in a wait waits on: its sleep, event or child
    /// (its status says which), or, for a `pending` one, a step's next attempt after a
    /// long retry backoff. Read from the last step of its log.
    pub waiting_on: Option<WaitingOn>,
}

impl TaskRecord {
    /// Where a listing that shows this task ends: pass it as [`TaskFilter::after`] for the
    /// next page.
    pub fn cursor(&self) -> TaskCursor {
        TaskCursor {
            created_at: self.created_at,
            task_id: self.task_id.clone(),
        }
    }
}

/// A position in a listing (newest first, then by id descending): the listing goes on
/// with the tasks after it. Pages built on it stay right while tasks are added, unlike
/// offsets, and each costs the same however deep it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskCursor {
    /// The creation instant of the last task shown.
    pub created_at: DateTime<Utc>,
    /// Its id.
    pub task_id: String,
}

impl fmt::Display for TaskCursor {
    /// `<creation instant in microseconds since the epoch>.<task id>`: safe in a URL query
    /// once percent-encoded, and read back by [`FromStr`](std::str::FromStr).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.created_at.timestamp_micros(), self.task_id)
    }
}

/// The least string above every string that starts with `prefix`, in code point order
/// (byte order of UTF-8, SQLite's and PostgreSQL's `C` collation): with it, "starts with"
/// is a range an index answers. `None` when there is none (an empty prefix, or one of
/// only `char::MAX`).
///
/// ```
/// use zart_core::task::prefix_end;
///
/// assert_eq!(prefix_end("order-12").as_deref(), Some("order-13"));
/// assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"), "surrogates are no chars");
/// assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
/// assert_eq!(prefix_end(""), None);
/// ```
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next char, stepping over the surrogates, which are no chars.
        let next = match u32::from(last) {
            0xD7FF => Some('\u{E000}'),
            code => char::from_u32(code + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Why a cursor's text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor {text:?}: expected <microseconds>.<task id>, as a listing gave it")]
pub struct CursorError {
    text: String,
}

impl std::str::FromStr for TaskCursor {
    type Err = CursorError;

    /// Reads the text [`Display`](fmt::Display) wrote.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use zart_core::task::TaskCursor;
    ///
    /// let cursor = TaskCursor {
    ///     created_at: Utc.timestamp_micros(1_700_000_000_123_456).unwrap(),
    ///     task_id: "order.42".into(),
    /// };
    /// assert_eq!(cursor.to_string(), "1700000000123456.order.42");
    /// assert_eq!(cursor.to_string().parse(), Ok(cursor));
    /// assert!("yesterday.order".parse::<TaskCursor>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Self, CursorError> {
        let refused = || CursorError {
            text: text.chars().take(100).collect(),
        };
        let (micros, task_id) = text.split_once('.').ok_or_else(refused)?;
        let micros: i64 = micros.parse().map_err(|_| refused())?;
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(refused)?;
        Ok(TaskCursor {
            created_at,
            task_id: task_id.to_owned(),
        })
    }
}

/// Which tasks a listing or a count takes: every condition given must hold. The default
/// takes every task (Zart's own ticks are never listed).
///
/// ```
/// use zart_core::task::{TaskFilter, TaskStatus};
///
/// let failed_emails = TaskFilter::default().name("send-email").status(TaskStatus::Failed);
/// assert_eq!(failed_emails.status, Some(TaskStatus::Failed));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskFilter {
    /// Only tasks of this name.
    pub name: Option<String>,
    /// Only tasks with one of these names (a queue's tasks, say); an empty list takes none.
    pub names: Option<Vec<String>>,
    /// Only tasks with none of these names (the default queue's tasks: every name not
    /// declared in another queue).
    pub exclude_names: Option<Vec<String>>,
    /// Only tasks with this status, as they read: `pending` leaves out suspended
    /// executions, which `sleeping`, `awaiting_event` and `awaiting_child` take.
    pub status: Option<TaskStatus>,
    /// Only tasks whose id starts with this.
    pub id_prefix: Option<String>,
    /// Only tasks created at or after this instant.
    pub created_since: Option<DateTime<Utc>>,
    /// Only tasks created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// Only the children of this durable execution.
    pub parent_id: Option<String>,
    /// Only tasks whose lease this worker holds.
    pub worker_id: Option<String>,
    /// Only tasks listed after this position (the next page); counts ignore it.
    pub after: Option<TaskCursor>,
}

impl TaskFilter {
    /// Tasks named `name` and with `status`, each when given.
    pub fn matching(name: Option<&str>, status: Option<TaskStatus>) -> Self {
        TaskFilter {
            name: name.map(str::to_owned),
            status,
            ..TaskFilter::default()
        }
    }

    /// Only tasks named `name`.
    pub fn name(self, name: impl Into<String>) -> Self {
        TaskFilter {
            name: Some(name.into()),
            ..self
        }
    }

    /// Only tasks with one of `names`.
    pub fn names<N: Into<String>>(self, names: impl IntoIterator<Item = N>) -> Self {
        TaskFilter {
            names: Some(names.into_iter().map(Into::into).collect()),
            ..self
        }
    }

    /// Only tasks with none of `names`.
    pub fn exclude_names<N: Into<String>>(self, names: impl IntoIterator<Item = N>) -> Self {
        TaskFilter {
            exclude_names: Some(names.into_iter().map(Into::into).collect()),
            ..self
        }
    }

    /// Only tasks with `status`.
    pub fn status(self, status: TaskStatus) -> Self {
        TaskFilter {
            status: Some(status),
            ..self
        }
    }

    /// Only tasks whose id starts with `prefix`.
    pub fn id_prefix(self, prefix: impl Into<String>) -> Self {
        TaskFilter {
            id_prefix: Some(prefix.into()),
            ..self
        }
    }

    /// Only tasks created at or after `since` and before `before`, each when given.
    pub fn created_between(
        self,
        since: Option<DateTime<Utc>>,
        before: Option<DateTime<Utc>>,
    ) -> Self {
        TaskFilter {
            created_since: since,
            created_before: before,
            ..self
        }
    }

    /// Only the children of execution `parent_id`.
    pub fn parent(self, parent_id: impl Into<String>) -> Self {
        TaskFilter {
            parent_id: Some(parent_id.into()),
            ..self
        }
    }

    /// Only tasks whose lease worker `worker_id` holds.
    pub fn held_by(self, worker_id: impl Into<String>) -> Self {
        TaskFilter {
            worker_id: Some(worker_id.into()),
            ..self
        }
    }

    /// Only tasks after `cursor` in a listing.
    pub fn after(self, cursor: TaskCursor) -> Self {
        TaskFilter {
            after: Some(cursor),
            ..self
        }
    }
}
