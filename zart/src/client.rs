//! [`Zart`]: one value for a program's whole use of Zart: start typed tasks, build workers,
//! reach the store.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::backend::TaskBackend;
use crate::definition::{Handle, TaskDefinition};
use crate::durable::DurableScheduler;
use crate::error::Result;
use crate::postgres::PostgresScheduler;
use crate::scheduler::IfExists;
use crate::task::ScheduleAtParams;
use crate::worker::WorkerBuilder;

/// A connection to Zart's store: starts typed tasks, builds workers.
///
/// Cheap to clone (the store's pool is shared). The functions that `#[task]` and
/// `#[durable]` generate (`checkout::start(&zart, ..)`) take it.
///
/// ```no_run
/// use std::time::Duration;
/// use zart::{TaskError, Zart};
///
/// #[zart::durable]
/// async fn greet(name: String) -> Result<String, TaskError> {
///     Ok(format!("Hello, {name}!"))
/// }
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let zart = Zart::connect("postgres://localhost/app").await?; // runs the migrations
/// let worker = zart.worker().register(zart::registry![greet]).start()?;
/// let handle = greet::start(&zart, "greet-1", "Ada".to_owned()).await?;
/// assert_eq!(handle.wait(Duration::from_secs(10)).await?, "Hello, Ada!");
/// worker.shutdown().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Zart {
    backend: Arc<dyn TaskBackend>,
}

impl Zart {
    /// Connects to PostgreSQL at `url` and creates or upgrades Zart's tables (see
    /// [`PostgresScheduler::connect`]).
    pub async fn connect(url: &str) -> Result<Zart> {
        let scheduler = PostgresScheduler::connect(url).await?;
        Ok(Zart::from_backend(&scheduler))
    }

    /// Zart over `backend` (a clone of it: backends share their pool). The store must be
    /// migrated already (a [`PostgresScheduler`] built from a pool: call `migrate`).
    pub fn from_backend<B: TaskBackend + Clone>(backend: &B) -> Zart {
        Zart {
            backend: Arc::new(backend.clone()),
        }
    }

    /// The store, for everything untyped: scheduling by name, listing, recurring control
    /// (`pause`, `resume`, `trigger_now`, ...).
    pub fn backend(&self) -> &dyn TaskBackend {
        self.backend.as_ref()
    }

    /// Durable executions by id: wait, steps, events, retry, restart.
    pub fn durable(&self) -> DurableScheduler {
        DurableScheduler::from_arc(self.backend.clone())
    }

    /// A builder for a worker over this store.
    pub fn worker(&self) -> WorkerBuilder {
        WorkerBuilder::from_arc(self.backend.clone())
    }

    /// Starts run `id` of `D`, due now. The id is an idempotency key: an existing id is
    /// [`Error::AlreadyExists`](crate::Error::AlreadyExists).
    pub async fn start<D: TaskDefinition>(
        &self,
        id: impl Into<String>,
        input: D::Input,
    ) -> Result<Handle<D>> {
        self.start_at::<D>(id, Utc::now(), input).await
    }

    /// Starts run `id` of `D`, due at `at`.
    pub async fn start_at<D: TaskDefinition>(
        &self,
        id: impl Into<String>,
        at: DateTime<Utc>,
        input: D::Input,
    ) -> Result<Handle<D>> {
        let params = params::<D>(id.into(), at, &input)?;
        let id = params.task_id.clone();
        self.backend.schedule_at(params).await?;
        Ok(self.handle(id))
    }

    /// Starts run `id` of `D` unless a run with that id exists. Returns its handle either
    /// way, and whether this call started it.
    pub async fn start_if_absent<D: TaskDefinition>(
        &self,
        id: impl Into<String>,
        input: D::Input,
    ) -> Result<(Handle<D>, bool)> {
        let params = params::<D>(id.into(), Utc::now(), &input)?;
        let id = params.task_id.clone();
        let inserted = self
            .backend
            .schedule_many_with(vec![params], IfExists::Skip)
            .await?;
        Ok((self.handle(id), !inserted.is_empty()))
    }

    /// The handle of run `id` of `D`, started earlier (by this process or another).
    pub fn handle<D: TaskDefinition>(&self, id: impl Into<String>) -> Handle<D> {
        Handle::new(id.into(), self.backend.clone())
    }
}

fn params<D: TaskDefinition>(
    id: String,
    at: DateTime<Utc>,
    input: &D::Input,
) -> Result<ScheduleAtParams> {
    let data = crate::durable::input_json(&id, input)?;
    Ok(ScheduleAtParams::at(id, D::NAME, at, data))
}

impl std::fmt::Debug for Zart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zart").finish_non_exhaustive()
    }
}
