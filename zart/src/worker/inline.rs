//! Running due tasks on the caller's own task, one at a time, through the worker's parts:
//! the same claim, executor, checkpoint writer and completer as a running worker, without
//! its loops and timers. What `zart::testing` drives.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use zart_core::queue::{ClaimedTask, OutcomeKind};
use zart_core::store::Store;

use super::completer::Completer;
use super::config::QueueScope;
use super::executor::Finished;
use super::wake::Wakes;
use super::{attempt, Observers, QueueConfig, WorkerConfig};
use crate::durable::Checkpoints;
use crate::error::{Error, Result};
use crate::registry::TaskRegistry;

/// One attempt run to its stored outcome.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Ran {
    /// The task's id.
    pub task_id: String,
    /// The task's name.
    pub task_name: String,
    /// The attempt, from 1.
    pub attempt: u32,
    /// How it ended.
    pub ending: Ending,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Ending {
    /// The task completed (its follow-ups, if any, were scheduled).
    Completed,
    /// The attempt failed and the task is due again at `at`.
    Retrying {
        /// The attempt's error.
        error: String,
        /// When the next attempt is due.
        at: DateTime<Utc>,
    },
    /// The task failed for good.
    Failed {
        /// The last attempt's error.
        error: String,
    },
    /// A durable execution stopped for now (a sleep, an event wait, a step's backoff) and
    /// is due again at `until` (or when its event arrives).
    Suspended {
        /// When it is due again.
        until: DateTime<Utc>,
    },
    /// A recurring schedule's tick ran: its due slots became runs.
    Ticked,
}

impl Ending {
    fn of(finished: &Finished) -> Ending {
        match finished {
            Finished::Completed(_) | Finished::Failed(OutcomeKind::Completed { .. }) => {
                Ending::Completed
            }
            Finished::Failed(OutcomeKind::Retry { error, run_at }) => Ending::Retrying {
                error: error.clone(),
                at: *run_at,
            },
            Finished::Failed(OutcomeKind::Failed { error }) => Ending::Failed {
                error: error.clone(),
            },
            Finished::Failed(OutcomeKind::Suspended { run_at }) => {
                Ending::Suspended { until: *run_at }
            }
            Finished::Tick(_) => Ending::Ticked,
        }
    }
}

/// A worker's parts, run by hand: [`run_next`](Self::run_next) claims one due task, runs
/// it and stores its outcome before it returns.
pub(crate) struct Inline {
    store: Arc<dyn Store>,
    registry: Arc<TaskRegistry>,
    config: WorkerConfig,
    worker_id: String,
    scopes: Vec<QueueScope>,
    checkpoints: Checkpoints,
    writer: JoinHandle<()>,
    completer: Completer,
    /// The one task's slot, held by the completer until its outcome is stored.
    slot: Arc<Semaphore>,
}

impl Inline {
    /// Checks `registry` and `config` as a starting worker does, stores the recurring
    /// schedules and queue limits they declare, and starts the checkpoint writer on the
    /// current runtime.
    pub(crate) async fn start(
        store: Arc<dyn Store>,
        registry: Arc<TaskRegistry>,
        config: WorkerConfig,
    ) -> Result<Inline> {
        config.validate()?;
        registry.validate()?;
        let scopes = config.claim_scopes(&registry)?;
        super::check_tables(store.as_ref()).await?;
        for task in registry.recurring_tasks() {
            crate::recurring::register(store.as_ref(), task).await?;
        }
        let declared: Vec<_> = config
            .queue_configs
            .iter()
            .map(QueueConfig::declaration)
            .collect();
        if !declared.is_empty() {
            store.declare_queues(&declared).await?;
        }
        let (checkpoints, writer) = Checkpoints::start(store.clone());
        let completer = Completer {
            store: store.clone(),
            observers: Observers(Vec::new().into()),
            wake: Wakes::new(Vec::new()),
            give_up_after: config.lease_duration,
        };
        let worker_id = config
            .worker_id
            .clone()
            .unwrap_or_else(|| "zart-testing".to_owned());
        Ok(Inline {
            store,
            registry,
            config,
            worker_id,
            scopes,
            checkpoints,
            writer: tokio::spawn(writer),
            completer,
            slot: Arc::new(Semaphore::new(1)),
        })
    }

    /// Claims one due task, as this worker would, runs its attempt and stores the outcome.
    /// `None`: nothing it runs is due.
    pub(crate) async fn run_next(&self) -> Result<Option<Ran>> {
        for queue in &self.scopes {
            let claimed = self
                .store
                .claim(&self.worker_id, 1, self.config.lease_duration, &queue.scope)
                .await?;
            if let Some(task) = claimed.into_iter().next() {
                return Ok(Some(self.run(task).await?));
            }
        }
        Ok(None)
    }

    async fn run(&self, task: ClaimedTask) -> Result<Ran> {
        let (task_id, task_name, attempt_number) = (
            task.lease.task_id.clone(),
            task.task_name.clone(),
            task.attempt,
        );
        let permit = self
            .slot
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::WorkerStopped("the runner's slot was closed".to_owned()))?;
        let report = attempt(
            &self.store,
            &self.registry,
            &self.worker_id,
            &self.checkpoints,
            task,
            permit,
        )
        .await;
        let ending = Ending::of(&report.finished);
        self.completer.flush(vec![report]).await;
        Ok(Ran {
            task_id,
            task_name,
            attempt: attempt_number,
            ending,
        })
    }
}

impl Drop for Inline {
    fn drop(&mut self) {
        self.writer.abort();
    }
}
