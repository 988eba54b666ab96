//! [`Zart`]: one value for a program's whole use of Zart: start typed tasks, build workers,
//! read and steer what is stored.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use zart_core::controls::QueueLimits;
use zart_core::store::Store;
use zart_core::task::{NewTask, ScheduleAtParams};

use crate::definition::{Handle, TaskDefinition};
use crate::durable::DurableScheduler;
use crate::enqueue::{insert, IfExists};
use crate::error::{Error, Result};
use crate::inspect::Inspector;
use crate::recurring::Schedules;
use crate::scheduler::Tasks;
use crate::worker::WorkerBuilder;

/// The client: starts typed tasks, builds workers, and hands out views of what is stored
/// ([`tasks`](Self::tasks), [`executions`](Self::executions),
/// [`schedules`](Self::schedules)). Nothing it offers bypasses a worker's lease.
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
/// let worker = zart.worker().register(zart::registry![greet]).start().await?;
/// let handle = greet::start(&zart, "greet-1", "Ada".to_owned()).await?;
/// assert_eq!(handle.wait(Duration::from_secs(10)).await?, "Hello, Ada!");
/// worker.shutdown().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Zart {
    store: Arc<dyn Store>,
}

impl Zart {
    /// Connects to the store at `url`, picked by the URL's scheme, and creates or upgrades
    /// Zart's tables:
    ///
    /// - `sqlite://path/to/file.db`, `sqlite:file.db` or `sqlite::memory:` for the embedded
    ///   SQLite store (see [`SqliteOptions`](crate::sqlite::SqliteOptions) for its
    ///   parameters); the file is created if missing;
    /// - `postgres://` or `postgresql://` for PostgreSQL (see
    ///   [`PostgresTaskScheduler::connect`](crate::postgres::PostgresTaskScheduler::connect));
    ///   a server that cannot be reached is reported at once, with its address.
    ///
    /// Moving between the two changes only the URL.
    pub async fn connect(url: &str) -> Result<Zart> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme);
        match scheme {
            #[cfg(feature = "postgres")]
            Some("postgres" | "postgresql") => {
                let store = zart_postgres::PostgresTaskScheduler::connect(url).await?;
                Ok(Zart::from_backend(&store))
            }
            #[cfg(feature = "sqlite")]
            Some("sqlite") => {
                let store = zart_sqlite::SqliteTaskScheduler::connect(url).await?;
                Ok(Zart::from_backend(&store))
            }
            #[cfg(not(feature = "postgres"))]
            Some("postgres" | "postgresql") => Err(Error::UnsupportedUrl {
                url: without_password(url),
                reason: "PostgreSQL needs zart's `postgres` feature, which is off".to_owned(),
            }),
            #[cfg(not(feature = "sqlite"))]
            Some("sqlite") => Err(Error::UnsupportedUrl {
                url: without_password(url),
                reason: "SQLite needs zart's `sqlite` feature, which is off".to_owned(),
            }),
            _ => Err(Error::UnsupportedUrl {
                url: without_password(url),
                reason: "Zart connects to sqlite: and postgres:// (or postgresql://) URLs"
                    .to_owned(),
            }),
        }
    }

    /// Connects to `DATABASE_URL` if it is set (and not empty), and otherwise to the SQLite
    /// file [`DEFAULT_URL`](Self::DEFAULT_URL) names, in the current directory: what lets a
    /// program run on a machine with no database server and no setting.
    ///
    /// ```no_run
    /// # async fn demo() -> zart::Result<()> {
    /// let zart = zart::Zart::connect_default().await?; // DATABASE_URL, or ./zart.db
    /// # let _ = zart;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_default() -> Result<Zart> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Zart::connect(&url).await,
            _ => Zart::connect(Zart::DEFAULT_URL).await,
        }
    }

    /// The store [`connect_default`](Self::connect_default) uses when `DATABASE_URL` is
    /// not set: the SQLite file `zart.db` in the current directory.
    pub const DEFAULT_URL: &'static str = "sqlite://zart.db";

    /// Zart over `store` (a clone of it: stores share their connections). The store must
    /// be migrated already (a `PostgresTaskScheduler` built from a pool, or a
    /// `SqliteTaskScheduler` opened with `open`: call `migrate`).
    pub fn from_backend<S: Store + Clone>(store: &S) -> Zart {
        Zart {
            store: Arc::new(store.clone()),
        }
    }

    /// Zart over a store shared as a trait object (one picked at run time, say). The store
    /// must be migrated already.
    pub fn from_store(store: Arc<dyn Store>) -> Zart {
        Zart { store }
    }

    /// The store this client works on, for what takes one as it is: a
    /// [`Worker`](crate::scheduler::Worker) built by hand (`Worker::new(zart.store(), ..)`),
    /// or [`TaskScheduler`](crate::scheduler::TaskScheduler)'s methods, which `dyn Store`
    /// has.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Tasks by id and by name: schedule untyped tasks, read, list, count, cancel.
    pub fn tasks(&self) -> Tasks {
        Tasks::new(self.store.clone())
    }

    /// Durable executions by id: wait, steps, events, cancel, retry, restart.
    pub fn executions(&self) -> DurableScheduler {
        DurableScheduler::from_arc(self.store.clone())
    }

    /// Recurring schedules by id: pause, resume, trigger, stop, state and history.
    pub fn schedules(&self) -> Schedules {
        Schedules::from_arc(self.store.clone())
    }

    /// Read access to everything stored, for dashboards and tools.
    pub fn inspector(&self) -> Inspector {
        Inspector::new(self.store.clone())
    }

    /// Pauses queue `queue` for every worker: running tasks finish, nothing new is claimed
    /// from it until [`resume_queue`](Self::resume_queue). Returns whether it was running.
    ///
    /// ```no_run
    /// # async fn demo(zart: zart::Zart) -> zart::Result<()> {
    /// zart.pause_queue("emails").await?;
    /// // ... the mail server is back:
    /// zart.resume_queue("emails").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn pause_queue(&self, queue: &str) -> Result<bool> {
        Ok(self.store.pause_queue(queue, true).await?)
    }

    /// Resumes a paused queue. Returns whether it was paused.
    pub async fn resume_queue(&self, queue: &str) -> Result<bool> {
        Ok(self.store.pause_queue(queue, false).await?)
    }

    /// Sets queue `queue`'s limits for every worker, in place of those its workers' code
    /// declares ([`QueueConfig`](crate::scheduler::QueueConfig)), until
    /// [`reset_queue_limits`](Self::reset_queue_limits): workers that start meanwhile keep
    /// the override. Claims honour it from their next round (a worker's loop woken by ended
    /// tasks or a rate window only if its code declared such limits; others poll).
    /// Limits that no queue can run with (zeros, a bad key field) are
    /// [`Error::InvalidQueueLimits`], naming the limit.
    ///
    /// ```no_run
    /// # async fn demo(zart: zart::Zart) -> zart::Result<()> {
    /// use zart::store::QueueLimits;
    ///
    /// // The mail provider throttles us: one at a time until it recovers.
    /// let one = QueueLimits { concurrency: Some(1), ..QueueLimits::default() };
    /// zart.set_queue_limits("emails", one).await?;
    /// // ... and back to what the code declares:
    /// zart.reset_queue_limits("emails").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_queue_limits(&self, queue: &str, limits: QueueLimits) -> Result<()> {
        if queue.is_empty() {
            return Err(Error::InvalidQueueLimits {
                queue: queue.to_owned(),
                reason: "a queue's name must not be empty".to_owned(),
            });
        }
        limits.check().map_err(|reason| Error::InvalidQueueLimits {
            queue: queue.to_owned(),
            reason,
        })?;
        self.store.set_queue_limits(queue, Some(&limits)).await?;
        Ok(())
    }

    /// Removes the override [`set_queue_limits`](Self::set_queue_limits) set: the limits
    /// workers' code declared last are in force again. Returns whether there was one.
    pub async fn reset_queue_limits(&self, queue: &str) -> Result<bool> {
        Ok(self.store.set_queue_limits(queue, None).await?)
    }

    /// A builder for a worker over this store.
    pub fn worker(&self) -> WorkerBuilder {
        WorkerBuilder::from_arc(self.store.clone())
    }

    /// Starts run `id` of `D`, due now. The id is an idempotency key: an existing id is
    /// [`Error::AlreadyExists`](crate::Error::AlreadyExists).
    pub async fn start<D: TaskDefinition>(
        &self,
        id: impl Into<String>,
        input: D::Input,
    ) -> Result<Handle<D>> {
        self.start_with::<D>(id, input, StartOptions::new()).await
    }

    /// Starts run `id` of `D`, due at `at`.
    pub async fn start_at<D: TaskDefinition>(
        &self,
        id: impl Into<String>,
        at: DateTime<Utc>,
        input: D::Input,
    ) -> Result<Handle<D>> {
        self.start_with::<D>(id, input, StartOptions::new().at(at))
            .await
    }

    /// Starts run `id` of `D` as `options` say: when it is due, and at what priority
    /// (instead of the one `D` declares).
    ///
    /// ```no_run
    /// # async fn demo(zart: zart::Zart) -> zart::Result<()> {
    /// use zart::scheduler::StartOptions;
    ///
    /// #[zart::task]
    /// async fn reindex(shard: u32) -> Result<(), zart::TaskError> {
    ///     Ok(())
    /// }
    ///
    /// // A customer is waiting on this shard: ahead of the nightly ones.
    /// zart.start_with::<reindex>("reindex-7", 7, StartOptions::new().priority(10))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_with<D: TaskDefinition>(
        &self,
        id: impl Into<String>,
        input: D::Input,
        options: StartOptions,
    ) -> Result<Handle<D>> {
        let params = params::<D>(id.into(), options, &input)?;
        insert(
            self.store.as_ref(),
            std::slice::from_ref(&params),
            IfExists::Error,
        )
        .await?;
        Ok(self.handle(params.params.task_id))
    }

    /// Starts run `id` of `D` unless a run with that id exists. Returns its handle either
    /// way, and whether this call started it.
    pub async fn start_if_absent<D: TaskDefinition>(
        &self,
        id: impl Into<String>,
        input: D::Input,
    ) -> Result<(Handle<D>, bool)> {
        let params = params::<D>(id.into(), StartOptions::new(), &input)?;
        let inserted = insert(
            self.store.as_ref(),
            std::slice::from_ref(&params),
            IfExists::Skip,
        )
        .await?;
        Ok((self.handle(params.params.task_id), !inserted.is_empty()))
    }

    /// The handle of run `id` of `D`, started earlier (by this process or another).
    pub fn handle<D: TaskDefinition>(&self, id: impl Into<String>) -> Handle<D> {
        Handle::new(id.into(), self.store.clone())
    }
}

/// The task that starts run `id` of `D` as `options` say.
pub(crate) fn params<D: TaskDefinition>(
    id: String,
    options: StartOptions,
    input: &D::Input,
) -> Result<NewTask> {
    let data = crate::durable::input_json(&id, input)?;
    let at = options.at.unwrap_or_else(Utc::now);
    let priority = options.priority.unwrap_or(D::PRIORITY);
    Ok(ScheduleAtParams::at(id, D::NAME, at, data).with_priority(priority))
}

/// How [`Zart::start_with`] starts a run: when it is due (default: now) and its priority
/// (default: the one its task declares, `#[task(priority = N)]`, else 0). Of the due
/// tasks, higher priorities are claimed first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StartOptions {
    at: Option<DateTime<Utc>>,
    priority: Option<i16>,
}

impl StartOptions {
    /// Due now, at the declared priority.
    pub fn new() -> Self {
        StartOptions::default()
    }

    /// Due at `at`.
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = Some(at);
        self
    }

    /// At `priority` instead of the declared one (negative runs after the default 0).
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = Some(priority);
        self
    }
}

/// `url` with its password, if any, replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

impl std::fmt::Debug for Zart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zart").finish_non_exhaustive()
    }
}
