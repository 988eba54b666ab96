//! The worker: claims due tasks, runs their handlers, stores their outcomes.
//!
//! A running worker is a handful of cooperating parts, each in its own module:
//! the claim loop (here) takes batches of due tasks as slots free up and wakes on the
//! backend's notifications; [`executor`] runs one handler; [`completer`] stores outcomes in
//! batches; [`maintenance`] heartbeats leases and rescues expired ones.

mod backoff;
mod builder;
mod completer;
mod config;
mod executor;
mod inline;
mod maintenance;
mod presence;
mod queue_config;
mod retention;
mod wake;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use futures_util::FutureExt;
use tracing::Instrument;

use zart_core::queue::{ClaimScope, ClaimedTask, Lease, OutcomeKind};
use zart_core::schedules::TICK_TASK;
use zart_core::store::Store;

use crate::durable::{scope_runtime, Checkpoints, Runtime};
use crate::error::{panic_message, Error, Result};
use crate::observe::{TaskEvent, TaskObserver};
use crate::registry::TaskRegistry;
use crate::trace;

use backoff::Backoff;
pub use builder::{RunningWorker, WorkerBuilder};
use completer::{Completer, Report};
use config::QueueScope;
pub use config::WorkerConfig;
use executor::Finished;
pub(crate) use inline::Inline;
pub use inline::{Ending, Ran};
pub use queue_config::QueueConfig;
pub use retention::Retention;
use wake::{WakeSignal, Wakes};

/// First pause after a failed claim: a killed connection is usually replaced at once.
const FIRST_CLAIM_RETRY: Duration = Duration::from_millis(25);
/// Longest pause after failed claims (or the poll interval, if shorter). Short, since a
/// failed claim holds no slot; a notification cuts any pause short.
const MAX_CLAIM_BACKOFF: Duration = Duration::from_secs(1);
/// Pauses between tries to register schedules and declare queues at start.
const FIRST_START_RETRY: Duration = Duration::from_millis(100);
const MAX_START_BACKOFF: Duration = Duration::from_secs(5);

/// Runs registered task handlers for due tasks.
///
/// ```no_run
/// use std::sync::Arc;
/// use zart::postgres::PostgresTaskScheduler;
/// use zart::scheduler::{TaskRegistry, Worker, WorkerConfig};
///
/// # async fn demo(pool: zart::postgres::sqlx::PgPool) -> Result<(), zart::Error> {
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
    store: Arc<dyn Store>,
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
    /// Reports an event to every observer. A panicking observer is logged and skipped:
    /// it must not take the worker's completer down with it.
    pub(crate) fn emit(&self, event: impl FnOnce() -> TaskEvent) {
        if self.0.is_empty() {
            return;
        }
        let event = event();
        for observer in self.0.iter() {
            let call = AssertUnwindSafe(|| observer.on_event(&event));
            if let Err(panic) = std::panic::catch_unwind(call) {
                tracing::error!(
                    panic = panic_message(panic.as_ref()),
                    "a task observer panicked"
                );
            }
        }
    }
}

impl Worker {
    /// A worker running `registry`'s handlers for tasks kept in `store`, reporting to
    /// `observers`. Nothing happens until [`run`](Self::run).
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<TaskRegistry>,
        config: WorkerConfig,
        observers: Vec<Arc<dyn TaskObserver>>,
    ) -> Self {
        Worker::with_store(store, registry, config, observers)
    }

    pub(crate) fn with_store(
        store: Arc<dyn Store>,
        registry: Arc<TaskRegistry>,
        config: WorkerConfig,
        observers: Vec<Arc<dyn TaskObserver>>,
    ) -> Self {
        let worker_id = config
            .worker_id
            .clone()
            .unwrap_or_else(config::default_worker_id);
        Worker {
            store,
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
    /// registry holding a refused registration returns [`Error::Registry`] at once, an
    /// unusable configuration [`Error::Config`], and tables that are missing or older than
    /// this code the store's error that says to run `migrate()`.
    ///
    /// Dropping (aborting) the returned future stops everything at once, like a crash:
    /// the tasks it held are rescued when their leases expire.
    pub async fn run(&self) -> Result<()> {
        self.config.validate()?;
        self.registry.validate()?;
        let queues = self.config.claim_scopes(&self.registry)?;
        check_tables(self.store.as_ref()).await?;
        if self.started.swap(true, Ordering::AcqRel) {
            return Err(Error::WorkerAlreadyRunning);
        }
        self.running.send_replace(true);
        let _running = RunningGuard(&self.running);
        let mut shutdown = self.shutdown.subscribe();
        let signals: Vec<WakeSignal> = queues.iter().map(|_| WakeSignal::default()).collect();
        let wakes = Wakes::new(signals.clone());
        let mut services = self.start_services(&wakes);
        let scopes: Vec<ClaimScope> = queues.iter().map(|q| q.scope.clone()).collect();
        services.spawn(presence::keep(
            self.store.clone(),
            presence::record(&self.worker_id, &self.config, &self.registry, &scopes),
            self.config.heartbeat_interval,
        ));

        let (reports, outcomes) = mpsc::unbounded_channel();
        let mut completer = JoinSet::new();
        completer.spawn(
            Completer {
                store: self.store.clone(),
                observers: self.observers.clone(),
                wake: wakes.clone(),
                give_up_after: self.config.lease_duration,
            }
            .run(outcomes),
        );
        let (checkpoints, checkpoint_writer) = Checkpoints::start(self.store.clone());
        services.spawn(checkpoint_writer);
        let shared_slots = Arc::new(Semaphore::new(self.config.max_concurrent_tasks.max(1)));
        let in_flight: Arc<Mutex<HashMap<Lease, AbortHandle>>> = Arc::default();
        let mut loops: Vec<(QueueScope, Tasks, WakeSignal)> = queues
            .into_iter()
            .zip(signals)
            .map(|(queue, signal)| {
                let slots = match queue.slots {
                    Some(n) => Arc::new(Semaphore::new(n.max(1))),
                    None => shared_slots.clone(),
                };
                let tasks = Tasks {
                    checkpoints: checkpoints.clone(),
                    slots,
                    in_flight: in_flight.clone(),
                    executors: JoinSet::new(),
                    reports: reports.clone(),
                };
                (queue, tasks, signal)
            })
            .collect();
        drop(reports);

        tracing::info!(worker_id = %self.worker_id, "worker started");
        if self.register_schedules(&mut shutdown).await && self.declare_queues(&mut shutdown).await
        {
            let claiming = loops.iter_mut().map(|(queue, tasks, signal)| {
                let mut shutdown = self.shutdown.subscribe();
                async move {
                    self.claim_until_shutdown(queue, tasks, signal, &mut shutdown)
                        .await
                }
            });
            futures_util::future::join_all(claiming).await;
        }
        tracing::info!(worker_id = %self.worker_id, "worker stopping");

        let drained = tokio::time::timeout(self.config.shutdown_timeout, async {
            for (_, tasks, _) in &mut loops {
                while tasks.executors.join_next().await.is_some() {}
            }
        })
        .await;
        if drained.is_err() {
            self.release_unfinished(&in_flight).await;
            for (_, tasks, _) in &mut loops {
                tasks.executors.shutdown().await;
            }
        }
        drop(loops); // closes the report channel: the completer stores what is left, then ends
        if let Some(Err(error)) = completer.join_next().await {
            tracing::error!(%error, "the completer stopped abnormally");
        }
        services.shutdown().await;
        presence::remove(self.store.as_ref(), &self.worker_id).await;
        tracing::info!(worker_id = %self.worker_id, "worker stopped");
        Ok(())
    }

    /// Stores the limits of the queues this worker has settings for, retrying while the
    /// database is unreachable. Returns `false` if shutdown came first.
    async fn declare_queues(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let declared: Vec<_> = self
            .config
            .queue_configs
            .iter()
            .map(QueueConfig::declaration)
            .collect();
        if declared.is_empty() {
            return true;
        }
        let mut backoff = Backoff::new(FIRST_START_RETRY, MAX_START_BACKOFF);
        loop {
            match self.store.declare_queues(&declared).await {
                Ok(()) => return true,
                Err(error) => {
                    tracing::warn!(%error, "declaring queues failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.pause()) => {}
                        _ = shutdown.changed() => return false,
                    }
                }
            }
        }
    }

    /// Stores the registry's recurring tasks, retrying while the database is unreachable.
    /// Returns `false` if shutdown came first.
    async fn register_schedules(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let mut backoff = Backoff::new(FIRST_START_RETRY, MAX_START_BACKOFF);
        for task in self.registry.recurring_tasks() {
            loop {
                match crate::recurring::register(self.store.as_ref(), task).await {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::warn!(%error, schedule_id = task.schedule_id(), "registering a schedule failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff.pause()) => {}
                            _ = shutdown.changed() => return false,
                        }
                    }
                }
            }
        }
        true
    }

    /// Notifications, heartbeats and maintenance, for as long as the worker runs.
    fn start_services(&self, wake: &Wakes) -> JoinSet<()> {
        let mut services = JoinSet::new();
        let (store, wake) = (self.store.clone(), wake.clone());
        services.spawn(async move {
            if let Err(error) = store.listen(&|heard| wake.heard(heard)).await {
                tracing::warn!(%error, "task notifications unavailable; polling only");
            }
        });
        services.spawn(maintenance::heartbeat(
            self.store.clone(),
            self.worker_id.clone(),
            self.config.heartbeat_interval,
            self.config.lease_duration,
        ));
        services.spawn(maintenance::rescue(
            self.store.clone(),
            self.config.rescue_interval,
            self.config.max_rescues,
            presence::silence_limit(self.config.heartbeat_interval),
            self.config.retention,
        ));
        services
    }

    /// The claim loop of one queue: whenever slots are free, claim up to that many due
    /// tasks (at most `max_tasks_per_poll`) and start them. A full batch means more may be
    /// due: claim again at once. Otherwise sleep until a notification, the earliest
    /// announced due instant or the poll interval, whichever comes first; in a queue whose
    /// limits held the claim back, also until tasks end somewhere (freeing room) or its
    /// rate limit lets the next task start.
    async fn claim_until_shutdown(
        &self,
        queue: &QueueScope,
        tasks: &mut Tasks,
        wake: &WakeSignal,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let config = &self.config;
        let scope = &queue.scope;
        let batch_limit = config.max_tasks_per_poll.max(1);
        let mut claim_backoff = Backoff::new(
            FIRST_CLAIM_RETRY,
            MAX_CLAIM_BACKOFF.min(config.poll_interval),
        );
        let mut ended = None;
        while !*shutdown.borrow() {
            while tasks.executors.try_join_next().is_some() {}
            let first = tokio::select! {
                permit = tasks.slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
                _ = shutdown.changed() => return,
            };
            let mut permits = vec![first];
            while permits.len() < batch_limit {
                match tasks.slots.clone().try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }
            let asked = permits.len();
            let claim_began = self.store.clock().now();
            let claimed = match self
                .store
                .claim(&self.worker_id, asked, config.lease_duration, scope)
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, queue = ?scope.queue, "claiming tasks failed; retrying");
                    drop(permits);
                    // Work announced meanwhile (a listener that reconnected announces all)
                    // means the database answers again: the pause ends early, though not
                    // before a quarter of it, so that a claim that keeps failing under a
                    // stream of notifications does not spin.
                    let pause = claim_backoff.pause();
                    let announced = async {
                        tokio::time::sleep(pause / 4).await;
                        wake.notified().await;
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = announced => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            };
            claim_backoff.reset();
            let got = claimed.len();
            for (task, permit) in claimed.into_iter().zip(permits) {
                self.spawn_executor(tasks, task, permit);
            }
            if got == asked {
                continue;
            }
            let mut idle = match wake.next_due() {
                Some(due) => (due - self.store.clock().now())
                    .to_std()
                    .unwrap_or_default()
                    .min(config.poll_interval),
                None => config.poll_interval,
            };
            if let (Some(name), Some(_)) = (&scope.queue, queue.rate) {
                // Room that came after the claim began (the window opened while it ran)
                // or comes later ends the wait then; room from before it did not hold the
                // claim back, so tasks were not due.
                if let Ok(Some(opens)) = self.store.rate_opens_at(name).await {
                    if opens > claim_began {
                        let wait = opens - self.store.clock().now();
                        idle = idle.min(wait.to_std().unwrap_or_default());
                    }
                }
            }
            if queue.limited && ended.is_none() {
                // Room in a limited queue frees when its tasks end, on any worker.
                ended = self.store.ended().await.ok();
            }
            let ended_elsewhere = async {
                match &mut ended {
                    Some(ended) => {
                        let _ = ended.changed().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(idle) => {}
                _ = ended_elsewhere => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    fn spawn_executor(&self, tasks: &mut Tasks, task: ClaimedTask, permit: OwnedSemaphorePermit) {
        let registry = self.registry.clone();
        let store = self.store.clone();
        let observers = self.observers.clone();
        let worker_id = self.worker_id.clone();
        let reports = tasks.reports.clone();
        let checkpoints = tasks.checkpoints.clone();
        let tracked = tasks.in_flight.clone();
        let lease = task.lease.clone();
        // Holding the map while spawning keeps the executor from finishing (and removing
        // its entry) before the entry exists.
        let mut in_flight = tasks
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let abort = tasks.executors.spawn(async move {
            observers.emit(|| TaskEvent::Started {
                task_id: task.lease.task_id.clone(),
                task_name: task.task_name.clone(),
                attempt: task.attempt,
            });
            let report = attempt(&store, &registry, &worker_id, &checkpoints, task, permit).await;
            // No await between leaving the in-flight map and handing over the report: a
            // shutdown that aborts executors sees each task either in flight or reported.
            let mut in_flight = tracked.lock().unwrap_or_else(PoisonError::into_inner);
            in_flight.remove(&report.lease);
            let _ = reports.send(report);
        });
        in_flight.insert(lease, abort);
    }

    /// Aborts the tasks still running after the shutdown timeout and puts them back to
    /// pending at once, so that another worker need not wait for their leases to expire.
    async fn release_unfinished(&self, in_flight: &Mutex<HashMap<Lease, AbortHandle>>) {
        let leases: Vec<Lease> = {
            let mut in_flight = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            in_flight
                .drain()
                .map(|(lease, abort)| {
                    abort.abort();
                    lease
                })
                .collect()
        };
        if leases.is_empty() {
            return;
        }
        match self.store.release(&leases).await {
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

/// Runs one attempt of a claimed task: its handler (or a recurring tick), in the attempt's
/// span, with the step log the claim brought. Handler panics are caught inside; this also
/// catches one from any other user code (retry policy, timeout), so that no task is ever
/// left without an outcome. Returns the report for the completer, which holds `permit`
/// (the task's slot) until the outcome is stored.
async fn attempt(
    store: &Arc<dyn Store>,
    registry: &TaskRegistry,
    worker_id: &str,
    checkpoints: &Checkpoints,
    mut task: ClaimedTask,
    permit: OwnedSemaphorePermit,
) -> Report {
    let labels = crate::metrics::AttemptLabels::of(registry, &task.task_name);
    crate::metrics::started(&labels, task.run_at, store.clock().now());
    let start = Instant::now();
    let span = trace::attempt_span(&task, registry.queue_of(&task.task_name));
    let runtime = Runtime {
        store: store.clone(),
        checkpoints: checkpoints.clone(),
        lease: task.lease.clone(),
        steps: task.steps.take().map(Arc::from),
        created_at: task.created_at,
        priority: task.priority,
    };
    let run = async {
        match task.task_name == TICK_TASK {
            true => executor::tick(store.as_ref(), &task).await,
            false => {
                let clock = store.clock();
                let run = executor::run(registry, &task, worker_id, &clock);
                scope_runtime(runtime, run).await
            }
        }
    };
    let finished = AssertUnwindSafe(run.instrument(span.clone()))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            Finished::Failed(OutcomeKind::Failed {
                error: format!("task code panicked: {}", panic_message(panic.as_ref())),
            })
        });
    finished.record_on(&span);
    Report {
        trace_context: trace::context_of(&span),
        elapsed: start.elapsed(),
        priority: task.priority,
        lease: task.lease,
        finished,
        labels,
        permit,
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

/// The tasks one run of the worker holds.
struct Tasks {
    /// One permit per task held, from claim until its outcome is stored.
    slots: Arc<Semaphore>,
    /// Running tasks, for release at shutdown.
    in_flight: Arc<Mutex<HashMap<Lease, AbortHandle>>>,
    executors: JoinSet<()>,
    /// To the completer.
    reports: mpsc::UnboundedSender<Report>,
    /// To the checkpoint writer.
    checkpoints: Checkpoints,
}

/// Marks the worker stopped however `run` ends: returned, or dropped mid-way.
struct RunningGuard<'a>(&'a watch::Sender<bool>);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.send_replace(false);
    }
}

/// Refuses to run over tables that are missing or older than this code: the worker would
/// only log that, over and over. A database that does not answer yet is the loops' to wait
/// for, as they wait for it whenever it goes away.
pub(crate) async fn check_tables(store: &dyn Store) -> Result<()> {
    match store.check_migrated().await {
        Err(error) if !error.is_transient() => Err(error.into()),
        Err(error) => {
            tracing::warn!(%error, "cannot check Zart's tables yet; starting all the same");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}
