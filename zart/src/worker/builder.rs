//! [`WorkerBuilder`]: a worker assembled step by step, in the style users of Zart know.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use zart_core::schedule::Schedule;
use zart_core::schedules::{OverlapPolicy, RecurringError, RecurringTask};
use zart_core::store::Store;
use zart_core::task::Recurrence;

use super::{Worker, WorkerConfig};
use crate::durable::DurableExecution;
use crate::error::{Error, RegistryError, Result};
use crate::observe::TaskObserver;
use crate::registry::TaskRegistry;
use crate::task::ScheduledTask;

/// Builds a [`Worker`]: handlers, durable executions and recurring durable executions,
/// then [`build`](Self::build).
///
/// ```no_run
/// use serde_json::{json, Value};
/// use zart::durable::{DurableExecution, TaskError};
/// use zart::postgres::PostgresTaskScheduler as PostgresScheduler;
/// use zart::scheduler::Recurrence;
/// use zart::{OverlapPolicy, WorkerBuilder};
///
/// struct NightlyReport;
///
/// #[zart::prelude::async_trait]
/// impl DurableExecution for NightlyReport {
///     type Data = Value;
///     type Output = Value;
///     async fn run(&self, _: Value) -> Result<Value, TaskError> {
///         Ok(json!({ "status": "ok" }))
///     }
/// }
///
/// # fn demo(pg: PostgresScheduler) {
/// let worker = WorkerBuilder::from_backend(&pg)
///     .register_durable_task("nightly-report", NightlyReport)
///     .register_recurring_durable::<NightlyReport>(
///         "nightly-report",
///         "report-{occurrence}",
///         Recurrence::Cron { expression: "0 2 * * *".into(), timezone: "UTC".into() },
///         OverlapPolicy::SkipIfRunning,
///         json!({ "warehouse": "EU-1" }),
///     )
///     .build();
/// # let _ = worker;
/// # }
/// ```
pub struct WorkerBuilder {
    store: Arc<dyn Store>,
    registry: TaskRegistry,
    config: WorkerConfig,
    observers: Vec<Arc<dyn TaskObserver>>,
    durable_names: HashMap<TypeId, String>,
}

impl WorkerBuilder {
    /// A builder for a worker over `store` (a clone of it: stores share their pool).
    pub fn from_backend<S: Store + Clone>(store: &S) -> Self {
        WorkerBuilder::from_arc(Arc::new(store.clone()))
    }

    pub(crate) fn from_arc(store: Arc<dyn Store>) -> Self {
        WorkerBuilder {
            store,
            registry: TaskRegistry::new(),
            config: WorkerConfig::default(),
            observers: Vec::new(),
            durable_names: HashMap::new(),
        }
    }

    /// Registers everything in `registry`: typically `zart::registry![a, b, c]`, the tasks
    /// and durable executions declared with the macros. A name registered twice is refused
    /// when the worker starts.
    pub fn register(mut self, registry: TaskRegistry) -> Self {
        self.registry.merge(registry);
        self
    }

    /// Registers shared application state: every task function taking a
    /// [`State<T>`](crate::State) parameter gets this value. One value per type.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.registry.state(value);
        self
    }

    /// Registers a plain task handler.
    pub fn register_task<T: ScheduledTask>(mut self, name: &str, task: T) -> Self {
        self.registry.register(name, task);
        self
    }

    /// Registers a durable execution under `name`.
    pub fn register_durable_task<D: DurableExecution>(mut self, name: &str, execution: D) -> Self {
        self.durable_names
            .insert(TypeId::of::<D>(), name.to_owned());
        self.registry.durable(name, execution);
        self
    }

    /// Runs the durable execution registered for type `D` on a recurring schedule:
    /// `schedule_id` names the schedule, `id_template` the executions (`{occurrence}`),
    /// `payload` is every execution's input. `D` must be registered with
    /// [`register_durable_task`](Self::register_durable_task) first; missed slots are
    /// skipped (see [`RecurringTask`] for the other policies).
    pub fn register_recurring_durable<D: DurableExecution>(
        mut self,
        schedule_id: &str,
        id_template: &str,
        recurrence: Recurrence,
        overlap: OverlapPolicy,
        payload: Value,
    ) -> Self {
        let refuse = |reason: String| RecurringError::new(schedule_id, reason);
        let task = match (
            self.durable_names.get(&TypeId::of::<D>()),
            schedule_of(recurrence),
        ) {
            (None, _) => Err(refuse(format!(
                "{} is not registered as a durable task: call register_durable_task first",
                std::any::type_name::<D>()
            ))),
            (Some(_), Err(reason)) => Err(refuse(reason)),
            (Some(name), Ok(schedule)) => {
                Ok(RecurringTask::new(schedule_id, name.clone(), schedule)
                    .id_template(id_template)
                    .overlap(overlap)
                    .data(payload))
            }
        };
        match task {
            Ok(task) => {
                self.registry.recurring(task);
            }
            Err(refused) => self
                .registry
                .refuse(RegistryError::InvalidRecurring(refused)),
        }
        self
    }

    /// Adds a recurring task of any kind.
    pub fn recurring(mut self, task: RecurringTask) -> Self {
        self.registry.recurring(task);
        self
    }

    /// Worker settings (default: [`WorkerConfig::default`]).
    pub fn config(self, config: WorkerConfig) -> Self {
        WorkerBuilder { config, ..self }
    }

    /// Serves only the tasks in these queues ([`WorkerConfig::queues`]); by default a worker
    /// serves all it registers. Call it after [`config`](Self::config), which replaces every
    /// setting.
    pub fn queues<Q: Into<String>>(mut self, queues: impl IntoIterator<Item = Q>) -> Self {
        self.config.queues = Some(queues.into_iter().map(Into::into).collect());
        self
    }

    /// Settings for one queue: this process's slots for it and the limits every worker
    /// honours ([`QueueConfig`](crate::scheduler::QueueConfig)). Call it after
    /// [`config`](Self::config), which replaces every setting.
    pub fn queue(mut self, queue: super::QueueConfig) -> Self {
        self.config.queue_configs.push(queue);
        self
    }

    /// Reports the worker's events to `observer`.
    pub fn observer(mut self, observer: Arc<dyn TaskObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Builds the worker and runs it on the current Tokio runtime. A refused
    /// registration, a missing state, an unusable configuration, or tables that are
    /// missing or older than this code (run `migrate()`) are returned here, before anything
    /// runs.
    pub async fn start(self) -> Result<RunningWorker> {
        self.registry.validate()?;
        self.config.validate()?;
        self.config.claim_scopes(&self.registry)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        super::check_tables(self.store.as_ref()).await?;
        let worker = Arc::new(self.build());
        let run = runtime.spawn({
            let worker = worker.clone();
            async move { worker.run().await }
        });
        Ok(RunningWorker { worker, run })
    }

    /// The worker, to run with [`Worker::run`]. A refused registration surfaces when it
    /// runs ([`Error::Registry`](crate::Error::Registry)).
    pub fn build(self) -> Worker {
        Worker::with_store(
            self.store,
            Arc::new(self.registry),
            self.config,
            self.observers,
        )
    }
}

/// A worker running in the background ([`WorkerBuilder::start`]).
pub struct RunningWorker {
    worker: Arc<Worker>,
    run: tokio::task::JoinHandle<Result<()>>,
}

impl RunningWorker {
    /// The worker's id, as stored on the tasks it holds.
    pub fn id(&self) -> &str {
        self.worker.id()
    }

    /// Stops the worker gracefully (see [`Worker::shutdown`]) and returns how its run
    /// ended.
    pub async fn shutdown(self) -> Result<()> {
        self.worker.shutdown().await;
        match self.run.await {
            Ok(ended) => ended,
            Err(join) => Err(Error::WorkerStopped(join.to_string())),
        }
    }
}

impl std::fmt::Debug for RunningWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningWorker")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

/// The schedule a seed-style [`Recurrence`] stands for.
fn schedule_of(recurrence: Recurrence) -> Result<Schedule, String> {
    let schedule = match recurrence {
        Recurrence::FixedDelay { duration_ms } => {
            Schedule::fixed_delay(std::time::Duration::from_millis(duration_ms))
        }
        Recurrence::Cron {
            expression,
            timezone,
        } => Schedule::cron(&expression, &timezone),
        other => {
            return Err(format!(
                "{other:?} is not a recurrence this version of Zart runs"
            ))
        }
    };
    schedule.map_err(|e| e.to_string())
}
