//! How long ended tasks are kept: the worker that runs maintenance deletes older ones, in
//! small batches, with their steps, events and failed attempts.

use std::time::Duration;

use zart_core::store::Store;
use zart_core::task::TaskStatus;

/// Most tasks deleted by one statement: short statements, so that deleting a backlog of
/// old tasks never holds much at once.
const BATCH: usize = 500;

/// How long ended tasks are kept, per outcome, before maintenance deletes them (`None`:
/// kept forever). Counted from when each task ended.
///
/// ```
/// use std::time::Duration;
/// use zart::scheduler::{Retention, WorkerConfig};
///
/// let config = WorkerConfig {
///     retention: Retention {
///         completed: Some(Duration::from_secs(3600)),
///         ..Retention::default()
///     },
///     ..WorkerConfig::default()
/// };
/// assert_eq!(config.retention.failed, Some(Duration::from_secs(7 * 24 * 3600)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Completed tasks. Default: a day.
    pub completed: Option<Duration>,
    /// Failed tasks. Default: a week.
    pub failed: Option<Duration>,
    /// Dead tasks (their worker kept dying). Default: a week.
    pub dead: Option<Duration>,
    /// Cancelled tasks. Default: a week.
    pub cancelled: Option<Duration>,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

impl Default for Retention {
    fn default() -> Self {
        Retention {
            completed: Some(DAY),
            failed: Some(DAY * 7),
            dead: Some(DAY * 7),
            cancelled: Some(DAY * 7),
        }
    }
}

impl Retention {
    /// Keeps every ended task forever.
    pub fn forever() -> Self {
        Retention {
            completed: None,
            failed: None,
            dead: None,
            cancelled: None,
        }
    }

    fn ages(&self) -> [(TaskStatus, Option<Duration>); 4] {
        [
            (TaskStatus::Completed, self.completed),
            (TaskStatus::Failed, self.failed),
            (TaskStatus::Dead, self.dead),
            (TaskStatus::Cancelled, self.cancelled),
        ]
    }
}

/// One maintenance pass's deletions: for each outcome with an age, batches of tasks that
/// ended before the pass began, until none is left. A pass never stops at a share of them:
/// under an inflow faster than a share a pass, the table would grow without bound. It ends
/// all the same, as tasks that end meanwhile are past its cutoff.
pub(crate) async fn delete_old(store: &dyn Store, retention: &Retention) {
    for (status, age) in retention.ages() {
        let Some(cutoff) = age
            .and_then(|age| chrono::Duration::from_std(age).ok())
            .and_then(|age| store.clock().now().checked_sub_signed(age))
        else {
            continue;
        };
        let mut deleted = 0;
        loop {
            match store.delete_ended(status, cutoff, BATCH).await {
                Ok(n) => {
                    deleted += n;
                    if n < BATCH as u64 {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, ?status, "deleting old ended tasks failed");
                    break;
                }
            }
        }
        if deleted > 0 {
            tracing::debug!(deleted, ?status, "deleted old ended tasks");
        }
    }
}
