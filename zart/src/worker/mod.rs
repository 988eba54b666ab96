//! The worker: claims due tasks, runs their handlers, stores their outcomes.
//!
//! A running worker is a handful of cooperating parts, each in its own module:
//! the claim loop (here) takes batches of due tasks as slots free up and wakes on the
//! backend's notifications; [`executor`] runs one handler; [`completer`] stores outcomes in
//! batches; [`maintenance`] heartbeats leases and rescues expired ones.

mod completer;
mod config;
mod executor;
mod maintenance;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::backend::{ClaimedTask, Lease, TaskBackend, WakeSignal};
use crate::error::{Error, Result};
use crate::observer::{TaskEvent, TaskObserver};
use crate::registry::TaskRegistry;

use completer::{Completer, Report};
pub use config::WorkerConfig;
use executor::InFlight;

/// Longest pause after a failed claim before trying again.
const MAX_CLAIM_BACKOFF: Duration = Duration::from_secs(5);

/// Runs registered task handlers for due tasks.
///
/// ```no_run
/// use std::sync::Arc;
/// use zart::{PostgresTaskScheduler, TaskRegistry, Worker, WorkerConfig};
///
/// # async fn demo(pool: sqlx::PgPool) -> Result<(), zart::Error> {
/// let scheduler = Arc::new(PostgresTaskScheduler::new(pool));
/// scheduler.migrate().await?;
/// let registry = TaskRegistry::new(); // register handlers here
/// let worker = Arc::new(Worker::new(scheduler, Arc::new(registry), WorkerConfig::default(), vec![]));
///
/// let running = tokio::spawn({
///     let worker = worker.clone();
///     async move { worker.run().await }
/// });
/// // ... later: stop claiming, finish or release in-flight tasks, and wait for `run` to end.
/// worker.shutdown().await;
/// # let _ = running.await;
/// # Ok(())
/// # }
/// ```
pub struct Worker {
    backend: Arc<dyn TaskBackend>,
    registry: Arc<TaskRegistry>,
    config: WorkerConfig,
    observers: Observers,
    worker_id: String,
    shutdown: watch::Sender<bool>,
    running: watch::Sender<bool>,
    started: AtomicBool,
}

/// The observers of one worker; building an event costs nothing when there are none.
#[derive(Clone, Default)]
pub(crate) struct Observers(Arc<[Arc<dyn TaskObserver>]>);

impl Observers {
    pub(crate) fn emit(&self, event: impl FnOnce() -> TaskEvent) {
        if self.0.is_empty() {
            return;
        }
        let event = event();
        for observer in self.0.iter() {
            observer.on_event(&event);
        }
    }
}

impl Worker {
    /// A worker running `registry`'s handlers for tasks stored in `backend`, reporting to
    /// `observers`. Nothing happens until [`run`](Self::run).
    pub fn new<B: TaskBackend>(
        backend: Arc<B>,
        registry: Arc<TaskRegistry>,
        config: WorkerConfig,
        observers: Vec<Arc<dyn TaskObserver>>,
    ) -> Self {
        let worker_id = config
            .worker_id
            .clone()
            .unwrap_or_else(config::default_worker_id);
        Worker {
            backend,
            registry,
            config,
            observers: Observers(observers.into()),
            worker_id,
            shutdown: watch::Sender::new(false),
            running: watch::Sender::new(false),
            started: AtomicBool::new(false),
        }
    }

    /// This worker's id, as stored on the tasks it holds.
    pub fn id(&self) -> &str {
        &self.worker_id
    }

    /// Asks [`run`](Self::run) to stop and waits until it has: no new claims, in-flight
    /// tasks finish within [`WorkerConfig::shutdown_timeout`], the rest are released for
    /// other workers at once, and every outcome is stored. Returns at once if the worker
    /// is not running.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        let mut running = self.running.subscribe();
        let _ = running.wait_for(|running| !running).await;
    }

    /// Claims and runs tasks until [`shutdown`](Self::shutdown). A worker runs once:
    /// a second call, concurrent or later, returns [`Error::WorkerAlreadyRunning`]. A
    /// registry holding a refused registration returns [`Error::Registry`] at once.
    ///
    /// Dropping (aborting) the returned future stops everything at once, like a crash:
    /// the tasks it held are rescued when their leases expire.
    pub async fn run(&self) -> Result<()> {
        self.registry.validate()?;
        if self.started.swap(true, Ordering::AcqRel) {
            return Err(Error::WorkerAlreadyRunning);
        }
        self.running.send_replace(true);
        let _running = RunningGuard(&self.running);
        let mut shutdown = self.shutdown.subscribe();
        let wake = WakeSignal::default();
        let config = &self.config;

        let mut services = JoinSet::new();
        services.spawn({
            let (backend, wake) = (self.backend.clone(), wake.clone());
            async move {
                if let Err(error) = backend.listen(wake).await {
                    tracing::warn!(%error, "task notifications unavailable; polling only");
                }
            }
        });
        services.spawn(maintenance::heartbeat(
            self.backend.clone(),
            self.worker_id.clone(),
            config.heartbeat_interval,
            config.lease_duration,
        ));
        services.spawn(maintenance::rescue(
            self.backend.clone(),
            config.rescue_interval,
            config.max_rescues,
        ));

        let (reports, outcomes) = mpsc::unbounded_channel();
        let completer = Completer {
            backend: self.backend.clone(),
            observers: self.observers.clone(),
            wake: wake.clone(),
            give_up_after: config.lease_duration,
        };
        let mut completer_task = JoinSet::new();
        completer_task.spawn(completer.run(outcomes));

        let slots = Arc::new(Semaphore::new(config.max_concurrent_tasks.max(1)));
        let in_flight: Arc<Mutex<HashMap<String, InFlight>>> = Arc::default();
        let mut executors = JoinSet::new();
        let batch_limit = config.max_tasks_per_poll.max(1);
        let mut claim_backoff = config.poll_interval.min(MAX_CLAIM_BACKOFF);

        tracing::info!(worker_id = %self.worker_id, "worker started");
        'claiming: while !*shutdown.borrow() {
            while executors.try_join_next().is_some() {}
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break 'claiming,
                },
                _ = shutdown.changed() => break 'claiming,
            };
            let mut permits = vec![first];
            while permits.len() < batch_limit {
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }
            let asked = permits.len();
            let claimed = match self
                .backend
                .claim(&self.worker_id, asked, config.lease_duration)
                .await
            {
                Ok(claimed) => {
                    claim_backoff = config.poll_interval.min(MAX_CLAIM_BACKOFF);
                    claimed
                }
                Err(error) => {
                    tracing::warn!(%error, "claiming tasks failed; retrying");
                    drop(permits);
                    tokio::select! {
                        _ = tokio::time::sleep(claim_backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    claim_backoff = (claim_backoff * 2).min(MAX_CLAIM_BACKOFF);
                    continue;
                }
            };
            let got = claimed.len();
            for (task, permit) in claimed.into_iter().zip(permits.drain(..)) {
                self.spawn_executor(&mut executors, &in_flight, &reports, task, permit);
            }
            drop(permits);
            if got == asked {
                continue; // there may be more due work: claim again as soon as slots free up
            }
            let deadline = match wake.next_due() {
                Some(due) => {
                    let until_due = (due - chrono::Utc::now()).to_std().unwrap_or_default();
                    until_due.min(config.poll_interval)
                }
                None => config.poll_interval,
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(deadline) => {}
                _ = shutdown.changed() => {}
            }
        }

        tracing::info!(worker_id = %self.worker_id, "worker stopping");
        let drained = tokio::time::timeout(config.shutdown_timeout, async {
            while executors.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.release_unfinished(&in_flight).await;
            executors.shutdown().await;
        }
        drop(reports);
        if let Some(Err(error)) = completer_task.join_next().await {
            tracing::error!(%error, "the completer stopped abnormally");
        }
        services.shutdown().await;
        tracing::info!(worker_id = %self.worker_id, "worker stopped");
        Ok(())
    }

    fn spawn_executor(
        &self,
        executors: &mut JoinSet<()>,
        in_flight: &Arc<Mutex<HashMap<String, InFlight>>>,
        reports: &mpsc::UnboundedSender<Report>,
        task: ClaimedTask,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let registry = self.registry.clone();
        let observers = self.observers.clone();
        let worker_id = self.worker_id.clone();
        let reports = reports.clone();
        let tracked = in_flight.clone();
        let lease = task.lease.clone();
        // Holding the map while spawning keeps the executor from finishing (and removing
        // its entry) before the entry exists.
        let mut in_flight = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        let abort = executors.spawn(async move {
            observers.emit(|| TaskEvent::Started {
                task_id: task.lease.task_id.clone(),
                task_name: task.task_name.clone(),
                attempt: task.attempt,
            });
            let start = Instant::now();
            let finished = executor::run(&registry, &task, &worker_id).await;
            let report = Report {
                elapsed: start.elapsed(),
                lease: task.lease,
                finished,
                permit,
            };
            // No await between leaving the in-flight map and handing over the report: a
            // shutdown that aborts executors sees each task either in flight or reported.
            let mut in_flight = tracked.lock().unwrap_or_else(PoisonError::into_inner);
            in_flight.remove(&report.lease.task_id);
            let _ = reports.send(report);
        });
        in_flight.insert(lease.task_id.clone(), InFlight { lease, abort });
    }

    /// Aborts the tasks still running after the shutdown timeout and puts them back to
    /// pending at once, so that another worker need not wait for their leases to expire.
    async fn release_unfinished(&self, in_flight: &Mutex<HashMap<String, InFlight>>) {
        let leases: Vec<Lease> = {
            let mut in_flight = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            in_flight
                .drain()
                .map(|(_, task)| {
                    task.abort.abort();
                    task.lease
                })
                .collect()
        };
        if leases.is_empty() {
            return;
        }
        match self.backend.release(&leases).await {
            Ok(released) => {
                tracing::warn!(tasks = ?released, "released unfinished tasks at shutdown");
                for task_id in released {
                    self.observers.emit(|| TaskEvent::Released { task_id });
                }
            }
            Err(error) => {
                tracing::error!(%error, "releasing unfinished tasks failed; they will be rescued when their leases expire")
            }
        }
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("worker_id", &self.worker_id)
            .field("config", &self.config)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

/// Marks the worker stopped however `run` ends: returned, or dropped mid-way.
struct RunningGuard<'a>(&'a watch::Sender<bool>);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.send_replace(false);
    }
}
