//! Observing workers: the events a worker reports ([`TaskEvent`]) and the hook that receives
//! them ([`TaskObserver`]).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::recurring::Decision;

/// Something a worker did with a task.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TaskEvent {
    /// A handler started an attempt.
    Started {
        /// The task's id.
        task_id: String,
        /// The task's name.
        task_name: String,
        /// The attempt number, from 1.
        attempt: u32,
    },
    /// A task completed and its completion was stored.
    Completed {
        /// The task's id.
        task_id: String,
        /// How long the handler ran.
        elapsed: Duration,
    },
    /// An attempt failed; `retry_at` says when the next attempt is due, `None` if the task
    /// has failed for good.
    Failed {
        /// The task's id.
        task_id: String,
        /// The stored error.
        error: String,
        /// When the next attempt is due, if any.
        retry_at: Option<DateTime<Utc>>,
    },
    /// The worker lost the task's lease before storing its outcome (another worker may
    /// have taken over); the outcome was discarded.
    LeaseLost {
        /// The task's id.
        task_id: String,
    },
    /// The worker released an unfinished task at shutdown, for another worker to take.
    Released {
        /// The task's id.
        task_id: String,
    },
    /// A recurring schedule's slot was decided: a run started (possibly as a catch-up or
    /// by hand), was buffered, or the slot was skipped with a reason.
    Slot {
        /// The schedule.
        schedule_id: String,
        /// The slot.
        slot: DateTime<Utc>,
        /// What it became.
        decision: Decision,
        /// The run it started.
        task_id: Option<String>,
    },
}

/// Receives [`TaskEvent`]s from a worker. Called inline on the worker's tasks: keep it fast.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use zart::observe::{TaskEvent, TaskObserver};
///
/// #[derive(Default)]
/// struct Recorder(Mutex<Vec<TaskEvent>>);
///
/// impl TaskObserver for Recorder {
///     fn on_event(&self, event: &TaskEvent) {
///         if let Ok(mut events) = self.0.lock() {
///             events.push(event.clone());
///         }
///     }
/// }
/// let observers: Vec<Arc<dyn TaskObserver>> = vec![Arc::new(Recorder::default())];
/// ```
pub trait TaskObserver: Send + Sync + 'static {
    /// Called for each event.
    fn on_event(&self, event: &TaskEvent);
}
