//! Reading what is stored, for dashboards and tools (Zart's admin and CLI among them):
//! tasks by filter a page at a time, counts, throughput, step logs, events, schedules,
//! workers and the queues of task names, and a signal that something changed.
//!
//! Nothing here changes a task; the views of [`Zart`](crate::Zart) do that.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zart_core::controls::QueueLimits;
use zart_core::store::Store;

pub use zart_core::inspect::{AttemptRecord, EndedCount, EventRecord, TaskCounts, TaskLoad};
pub use zart_core::workers::{DeclaredTask, WorkerRecord};

use crate::durable::StepRecord;
use crate::error::Result;
use crate::recurring::{RunRecord, ScheduleInfo};
use crate::registry::DEFAULT_QUEUE;
use crate::scheduler::{TaskFilter, TaskRecord, TaskStatus};

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

    /// The failed attempts of task `task_id` (an error, or a lease that expired), oldest
    /// first.
    pub async fn attempts(&self, task_id: &str) -> Result<Vec<AttemptRecord>> {
        Ok(self.store.attempts(task_id).await?)
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

/// How many tasks have each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Pending: due, or waiting for their due instant (not suspended).
    pub pending: u64,
    /// Parked until something wakes them.
    pub waiting: u64,
    /// Running.
    pub running: u64,
    /// Durable executions suspended in a sleep.
    pub sleeping: u64,
    /// Durable executions suspended waiting for an event.
    pub awaiting_event: u64,
    /// Durable executions suspended waiting for a child execution.
    pub awaiting_child: u64,
    /// Completed.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
    /// Dead.
    pub dead: u64,
    /// Cancelled.
    pub cancelled: u64,
}

impl StatusCounts {
    /// The count of `status`.
    pub fn get(&self, status: TaskStatus) -> u64 {
        match status {
            TaskStatus::Pending => self.pending,
            TaskStatus::Waiting => self.waiting,
            TaskStatus::Running => self.running,
            TaskStatus::Sleeping => self.sleeping,
            TaskStatus::AwaitingEvent => self.awaiting_event,
            TaskStatus::AwaitingChild => self.awaiting_child,
            TaskStatus::Completed => self.completed,
            TaskStatus::Failed => self.failed,
            TaskStatus::Dead => self.dead,
            TaskStatus::Cancelled => self.cancelled,
        }
    }

    /// Adds `count` tasks of `status`.
    pub fn add(&mut self, status: TaskStatus, count: u64) {
        let slot = match status {
            TaskStatus::Pending => &mut self.pending,
            TaskStatus::Waiting => &mut self.waiting,
            TaskStatus::Running => &mut self.running,
            TaskStatus::Sleeping => &mut self.sleeping,
            TaskStatus::AwaitingEvent => &mut self.awaiting_event,
            TaskStatus::AwaitingChild => &mut self.awaiting_child,
            TaskStatus::Completed => &mut self.completed,
            TaskStatus::Failed => &mut self.failed,
            TaskStatus::Dead => &mut self.dead,
            TaskStatus::Cancelled => &mut self.cancelled,
        };
        *slot = slot.saturating_add(count);
    }

    /// Every task counted.
    pub fn total(&self) -> u64 {
        TaskStatus::ALL.iter().map(|s| self.get(*s)).sum()
    }
}

/// One queue's tasks: its names (as workers declared them), how many of its tasks have
/// each status, and how long its oldest due task has waited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSummary {
    /// The queue.
    pub queue: String,
    /// Its task names, by name.
    pub task_names: Vec<String>,
    /// Its tasks by status.
    pub counts: StatusCounts,
    /// The due instant of its oldest due pending task.
    pub oldest_due: Option<DateTime<Utc>>,
    /// The limits its claims honour: an override if one is set, else as workers last
    /// declared them (none if never declared).
    pub limits: QueueLimits,
    /// Its limits as workers' code last declared them.
    pub declared_limits: QueueLimits,
    /// Since when its limits are overridden from outside, if they are
    /// ([`Zart::set_queue_limits`](crate::Zart::set_queue_limits)).
    pub overridden_at: Option<DateTime<Utc>>,
    /// Since when it is paused, if it is ([`Zart::pause_queue`](crate::Zart::pause_queue)).
    pub paused_at: Option<DateTime<Utc>>,
}

impl Inspector {
    /// Every queue with tasks, declared names or stored controls, by name. A task name no
    /// worker declared is counted in [`DEFAULT_QUEUE`], where a registry puts the names it
    /// is not told about.
    pub async fn queues(&self) -> Result<Vec<QueueSummary>> {
        let declared = self.declared_tasks().await?;
        let counts = self.counts().await?;
        let controls = self.store.queue_states().await?;
        let queue_of: HashMap<&str, &str> = declared
            .iter()
            .map(|d| (d.task_name.as_str(), d.queue.as_str()))
            .collect();
        let mut queues: BTreeMap<String, QueueSummary> = BTreeMap::new();
        for name in declared.iter() {
            summary(&mut queues, &name.queue)
                .task_names
                .push(name.task_name.clone());
        }
        for count in &counts {
            let queue = queue_of
                .get(count.task_name.as_str())
                .copied()
                .unwrap_or(DEFAULT_QUEUE);
            let summary = summary(&mut queues, queue);
            if !summary.task_names.contains(&count.task_name) {
                summary.task_names.push(count.task_name.clone());
            }
            summary.counts.add(count.status, count.count);
            if count.status == TaskStatus::Pending {
                summary.oldest_due = match (summary.oldest_due, count.oldest_due) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        for state in controls {
            let summary = summary(&mut queues, &state.queue);
            summary.limits = state.limits;
            summary.declared_limits = state.declared;
            summary.overridden_at = state.overridden_at;
            summary.paused_at = state.paused_at;
        }
        let mut queues: Vec<_> = queues.into_values().collect();
        for queue in &mut queues {
            queue.task_names.sort();
        }
        Ok(queues)
    }
}

impl Inspector {
    /// `filter` narrowed to the tasks of `queue`: the names workers declared in it; for
    /// [`DEFAULT_QUEUE`], every name not declared in another queue (as
    /// [`queues`](Self::queues) counts them). `None` if no worker declared `queue` and it
    /// is not the default queue. Reads the declarations only, never the tasks.
    pub async fn in_queue(&self, filter: TaskFilter, queue: &str) -> Result<Option<TaskFilter>> {
        let declared = self.declared_tasks().await?;
        if queue == DEFAULT_QUEUE {
            let elsewhere = declared
                .into_iter()
                .filter(|d| d.queue != DEFAULT_QUEUE)
                .map(|d| d.task_name);
            return Ok(Some(filter.exclude_names(elsewhere)));
        }
        let names: Vec<String> = declared
            .into_iter()
            .filter(|d| d.queue == queue)
            .map(|d| d.task_name)
            .collect();
        Ok((!names.is_empty()).then(|| filter.names(names)))
    }

    /// The default queue and every queue workers declared, by name. Reads the
    /// declarations only, never the tasks.
    pub async fn queue_names(&self) -> Result<Vec<String>> {
        let mut queues: Vec<String> = self
            .declared_tasks()
            .await?
            .into_iter()
            .map(|d| d.queue)
            .chain([DEFAULT_QUEUE.to_owned()])
            .collect();
        queues.sort();
        queues.dedup();
        Ok(queues)
    }
}

impl Inspector {
    /// Every queue the store knows of, by name: the default queue, the queues workers
    /// declared, and those with stored controls (a pause, limits). A name outside these is
    /// most likely mistyped: no worker serves it, and pausing or limiting it would change
    /// nothing but leave a control behind for a queue that does not exist.
    ///
    /// ```no_run
    /// # async fn demo(zart: zart::Zart) -> Result<(), zart::Error> {
    /// let queue = "emials";
    /// if !zart.inspector().known_queues().await?.iter().any(|q| q == queue) {
    ///     eprintln!("no queue {queue:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn known_queues(&self) -> Result<Vec<String>> {
        let mut queues = self.queue_names().await?;
        let controlled = self.store.queue_states().await?;
        queues.extend(controlled.into_iter().map(|state| state.queue));
        queues.sort();
        queues.dedup();
        Ok(queues)
    }
}

fn summary<'a>(
    queues: &'a mut BTreeMap<String, QueueSummary>,
    queue: &str,
) -> &'a mut QueueSummary {
    queues
        .entry(queue.to_owned())
        .or_insert_with(|| QueueSummary {
            queue: queue.to_owned(),
            task_names: Vec::new(),
            counts: StatusCounts::default(),
            oldest_due: None,
            limits: QueueLimits::default(),
            declared_limits: QueueLimits::default(),
            overridden_at: None,
            paused_at: None,
        })
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector").finish_non_exhaustive()
    }
}
