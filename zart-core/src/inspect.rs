//! What the admin reads besides single tasks: how many tasks there are of each name and
//! status ([`TaskCounts`]), how much load each name puts on its queue now ([`TaskLoad`],
//! sampled for metrics), how many ended in each recent minute ([`EndedCount`]), a task's
//! failed attempts ([`AttemptRecord`]) and the events sent to an execution
//! ([`EventRecord`]).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::task::TaskStatus;

/// How many tasks of one name have one status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskCounts {
    /// The task name.
    pub task_name: String,
    /// The status.
    pub status: TaskStatus,
    /// How many tasks of that name have it.
    pub count: u64,
    /// The earliest due instant among them that is not in the future: for pending tasks,
    /// how long the oldest due one has waited.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// The load one task name puts on its queue at the moment of reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskLoad {
    /// The task name.
    pub task_name: String,
    /// Its pending tasks that are due (not those due in the future).
    pub due: u64,
    /// Its running tasks.
    pub running: u64,
    /// The due instant of its oldest due pending task, if it has one.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// How many tasks ended with one status within one minute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndedCount {
    /// The start of the minute.
    pub minute: DateTime<Utc>,
    /// The status they ended with.
    pub status: TaskStatus,
    /// How many.
    pub count: u64,
}

/// An event sent to a durable execution.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    /// Its name.
    pub name: String,
    /// Its payload.
    pub payload: Value,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

/// An attempt of a task that failed: its handler returned an error (retried or not), or
/// its worker stopped renewing its lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The attempt's number, from 1 (counted again from 1 after a rerun).
    pub attempt: u32,
    /// The worker that ran it.
    pub worker_id: Option<String>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When its failure was stored.
    pub finished_at: DateTime<Utc>,
    /// Its error.
    pub error: String,
}
