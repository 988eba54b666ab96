//! Durable executions' records: the step log ([`StepRecord`], with each step's failed
//! attempts, [`StepAttempt`]) and what became of a checkpoint write ([`Checkpointed`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
