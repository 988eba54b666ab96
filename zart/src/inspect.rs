//! Reading what is stored, for dashboards and tools (Zart's admin and CLI among them):
//! tasks by filter a page at a time, counts, throughput, step logs, events, schedules,
//! workers and the queues of task names, and a signal that something changed.
//!
//! Nothing here changes a task; the views of [`Zart`](crate::Zart) do that.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zart_core::store::Store;

pub use zart_core::inspect::{EndedCount, EventRecord, TaskCounts};
pub use zart_core::workers::{DeclaredTask, WorkerRecord};

use crate::durable::StepRecord;
use crate::error::Result;
use crate::recurring::{RunRecord, ScheduleInfo};
use crate::scheduler::{TaskFilter, TaskRecord};

/// Read access to everything stored. Cheap to clone; clones share the change signal.
///
/// ```no_run
/// use zart::scheduler::{TaskFilter, TaskStatus};
/// use zart::Zart;
///
/// # async fn demo() -> Result<(), zart::Error> {
/// let zart = Zart::connect("sqlite://app.db").await?;
/// let inspector = zart.inspector();
/// let failed = TaskFilter::default().status(TaskStatus::Failed);
/// let first_page = inspector.tasks(&failed, 50).await?;
/// if let Some(last) = first_page.last() {
///     let _next_page = inspector.tasks(&failed.clone().after(last.cursor()), 50).await?;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Inspector {
    store: Arc<dyn Store>,
    changes: Arc<OnceLock<Changes>>,
}

/// The listeners behind [`Inspector::changes`], stopped with the last inspector.
struct Changes {
    receiver: watch::Receiver<u64>,
    listeners: Vec<JoinHandle<()>>,
}

impl Drop for Changes {
    fn drop(&mut self) {
        for listener in &self.listeners {
            listener.abort();
        }
    }
}

impl Inspector {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Inspector {
            store,
            changes: Arc::default(),
        }
    }

    /// Everything stored about task `task_id`.
    pub async fn task(&self, task_id: &str) -> Result<Option<TaskRecord>> {
        Ok(self.store.task(task_id).await?)
    }

    /// Tasks matching `filter`, newest first (then by id, descending), at most `limit`;
    /// pass the last one's [`cursor`](TaskRecord::cursor) as [`TaskFilter::after`] for the
    /// next page.
    pub async fn tasks(&self, filter: &TaskFilter, limit: usize) -> Result<Vec<TaskRecord>> {
        Ok(self.store.tasks(filter, limit).await?)
    }

    /// How many tasks match `filter`.
    pub async fn count(&self, filter: &TaskFilter) -> Result<u64> {
        Ok(self.store.count(filter).await?)
    }

    /// How many tasks there are of each name and status, with the oldest due of each.
    pub async fn counts(&self) -> Result<Vec<TaskCounts>> {
        Ok(self.store.counts().await?)
    }

    /// How many tasks ended with each status in each minute since `since`.
    pub async fn ended_per_minute(&self, since: DateTime<Utc>) -> Result<Vec<EndedCount>> {
        Ok(self.store.ended_per_minute(since).await?)
    }

    /// The step log of execution `task_id`, in call order.
    pub async fn steps(&self, task_id: &str) -> Result<Vec<StepRecord>> {
        Ok(self.store.load_steps(task_id).await?)
    }

    /// The events sent to execution `task_id`, oldest first.
    pub async fn events(&self, task_id: &str) -> Result<Vec<EventRecord>> {
        Ok(self.store.events(task_id).await?)
    }

    /// Every recurring schedule, by id.
    pub async fn schedules(&self) -> Result<Vec<ScheduleInfo>> {
        Ok(self.store.schedules().await?)
    }

    /// Schedule `schedule_id`, if stored.
    pub async fn schedule(&self, schedule_id: &str) -> Result<Option<ScheduleInfo>> {
        Ok(self.store.schedule(schedule_id).await?)
    }

    /// The latest `limit` decisions of schedule `schedule_id`, oldest first.
    pub async fn history(&self, schedule_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        Ok(self.store.history(schedule_id, limit).await?)
    }

    /// The live worker processes, by id.
    pub async fn workers(&self) -> Result<Vec<WorkerRecord>> {
        Ok(self.store.workers().await?)
    }

    /// The queue and kind of every task name workers declared, by name.
    pub async fn declared_tasks(&self) -> Result<Vec<DeclaredTask>> {
        Ok(self.store.declared_tasks().await?)
    }

    /// A counter that goes up when work is scheduled or tasks end (notifications can be
    /// lost: look again now and then too). The first call starts listening; it needs a
    /// Tokio runtime.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes
            .get_or_init(|| {
                let (sender, receiver) = watch::channel(0);
                let sender = Arc::new(sender);
                let bump = |sender: &watch::Sender<u64>| sender.send_modify(|n| *n += 1);
                let scheduled = tokio::spawn({
                    let (store, sender) = (self.store.clone(), sender.clone());
                    async move {
                        if let Err(error) = store.listen(&|_| bump(&sender)).await {
                            tracing::warn!(%error, "change notifications unavailable");
                        }
                    }
                });
                let ended = tokio::spawn({
                    let store = self.store.clone();
                    async move {
                        let Ok(mut ended) = store.ended().await else {
                            return;
                        };
                        while ended.changed().await.is_ok() {
                            bump(&sender);
                        }
                    }
                });
                Changes {
                    receiver,
                    listeners: vec![scheduled, ended],
                }
            })
            .receiver
            .clone()
    }
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector").finish_non_exhaustive()
    }
}
