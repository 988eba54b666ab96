//! # zart-postgres
//!
//! Zart's PostgreSQL driver: the [store contract](zart_core::store) on PostgreSQL.
//! Batched `FOR UPDATE SKIP LOCKED` claims under fenced leases, one heartbeat statement,
//! advisory-locked maintenance, `LISTEN/NOTIFY` sent once an insert has committed, and the
//! embedded migrations (in the workspace's `migrations/postgres/`) rendered for the
//! [`TableNames`] in use.
//!
//! Most programs use it through `zart` (`Zart::connect("postgres://...")`); the hand-written
//! style builds the store itself:
//!
//! ```no_run
//! use zart_postgres::{PostgresTaskScheduler, TableNames};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = zart_postgres::sqlx::PgPool::connect_lazy("postgres://localhost/app")?;
//! let names = TableNames::with_prefix("myapp_")?; // refused unless a plain identifier
//! let scheduler = PostgresTaskScheduler::with_table_names(pool, names);
//! scheduler.migrate().await?; // a store built from a pool touches nothing until asked
//! # Ok(())
//! # }
//! ```
//!
//! The `sqlx` this driver is built with is re-exported as [`zart_postgres::sqlx`](sqlx), so
//! that a program passing its own pool names the same version.
#![warn(missing_docs)]

mod announce;
mod claim;
mod connections;
mod controls;
mod error;
mod inspect;
mod joined;
mod listener;
mod migrate;
mod queries;
mod queue;
mod retention;
mod schedules;
mod steps;
mod table_names;
mod unit_of_work;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool, Postgres, Transaction};
use zart_core::migrations::MigrationState;
use zart_core::{ErrorKind, StoreError, StoreResult};

pub use joined::Joined;
pub use sqlx;
pub use table_names::{TableNames, TableNamesError, PREFIX_ENV, SCHEMA_ENV};
pub use unit_of_work::PgUnitOfWork;

use connections::Connections;
use queries::Queries;

/// Connection pool settings for [`PostgresTaskScheduler::connect_with_pool`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections open at once, at least 1 (0 is refused at connect). Listening for
    /// notifications takes one more, of its own, outside the pool.
    pub max_connections: u32,
    /// Connections opened at connect and kept open from then on, idle or not (capped at
    /// `max_connections`). A server that is full refuses the pool any connection it does not
    /// hold yet, so these are what a worker can count on.
    pub min_connections: u32,
    /// How long to wait for a free connection before failing.
    pub acquire_timeout: Duration,
}

/// Connections of the pool a busy worker uses at once: a claim, an outcome batch, a
/// checkpoint batch, and a heartbeat or a maintenance pass. (A store that listens for
/// notifications holds one more connection, of its own, outside the pool.)
///
/// What [`PoolConfig::default`] keeps open; a pool of one's own for a worker should keep
/// at least as many:
///
/// ```
/// use zart_postgres::{PoolConfig, WORKER_CONNECTIONS};
///
/// assert_eq!(PoolConfig::default().min_connections, WORKER_CONNECTIONS);
/// let mine = zart_postgres::sqlx::postgres::PgPoolOptions::new()
///     .min_connections(WORKER_CONNECTIONS)
///     .max_lifetime(None);
/// # let _ = mine;
/// ```
pub const WORKER_CONNECTIONS: u32 = 4;

impl Default for PoolConfig {
    /// 10 connections at most, [`WORKER_CONNECTIONS`] kept open, 30 s to acquire one.
    fn default() -> Self {
        PoolConfig {
            max_connections: 10,
            min_connections: WORKER_CONNECTIONS,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// Zart's store on PostgreSQL. Cheap to clone; clones share the pool.
///
/// ```no_run
/// use zart_postgres::PostgresTaskScheduler;
///
/// # async fn demo() -> Result<(), zart_core::StoreError> {
/// let scheduler = PostgresTaskScheduler::connect("postgres://localhost/app").await?; // migrates
/// # let _ = scheduler;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PostgresTaskScheduler {
    connections: Arc<Connections>,
    shared: Arc<Shared>,
}

/// What every statement of one store needs: its names, its SQL, its channels.
#[derive(Debug)]
pub(crate) struct Shared {
    pub names: TableNames,
    pub sql: Queries,
    pub claims: claim::ClaimQueries,
    /// Announces new due work (payload: the earliest due instant, epoch milliseconds).
    pub channel: String,
    /// Announces that tasks ended (for waiters).
    pub ended_channel: String,
    /// The connection both channels are listened on, while anything listens.
    pub listening: listener::Listening,
    /// Sends the store's own inserts' notifications, outside their transactions.
    pub announcer: announce::Announcer,
    /// The store's inserts under way.
    pub inserts: announce::Inserts,
    /// Whether ids sort by code point in this database (see `inspect`).
    pub ids_by_code_point: tokio::sync::OnceCell<bool>,
    pub maintenance_lock: i64,
}

impl Shared {
    /// The names, statements and channels of the tables `names` gives.
    pub(crate) fn new(names: TableNames) -> Self {
        Shared {
            channel: names.channel("notify"),
            ended_channel: names.channel("ended"),
            listening: listener::Listening::default(),
            announcer: announce::Announcer::new(names.channel("notify")),
            inserts: announce::Inserts::default(),
            ids_by_code_point: tokio::sync::OnceCell::new(),
            maintenance_lock: i64::from_ne_bytes(names.fingerprint("maintenance").to_ne_bytes()),
            sql: Queries::new(&names),
            claims: claim::ClaimQueries::new(&names),
            names,
        }
    }

    /// Maps a driver error raised while doing `context`.
    pub(crate) fn db(&self, context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
        move |error| error::store_error(&self.names, context, error)
    }
}

impl PostgresTaskScheduler {
    /// A store over `pool` with the default table names. Does not touch the database:
    /// call [`migrate`](Self::migrate) once before use if the tables may be missing.
    ///
    /// Listening for notifications (workers, waiters, the admin's live updates) takes a
    /// connection of its own made with the pool's connect options, never one of the pool's.
    ///
    /// The pool's settings stay the caller's: a worker's pool should keep
    /// [`WORKER_CONNECTIONS`] open (`min_connections`, and no `max_lifetime`), as the pools
    /// [`connect`](Self::connect) builds do, or a full server can leave it without them.
    pub fn new(pool: PgPool) -> Self {
        PostgresTaskScheduler::with_table_names(pool, TableNames::default())
    }

    /// A store over `pool` using `names` for its tables.
    pub fn with_table_names(pool: PgPool, names: TableNames) -> Self {
        PostgresTaskScheduler {
            connections: Arc::new(Connections::new(pool)),
            shared: Arc::new(Shared::new(names)),
        }
    }

    /// Connects with [`PoolConfig::default`] and applies pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        PostgresTaskScheduler::connect_with_pool(url, PoolConfig::default()).await
    }

    /// Connects with `config` and applies pending migrations.
    ///
    /// A server that cannot be reached is reported at once, with its address (a pool
    /// alone would retry until its acquire timeout and say only that it timed out).
    pub async fn connect_with_pool(url: &str, config: PoolConfig) -> StoreResult<Self> {
        PostgresTaskScheduler::connect_with(url, config, TableNames::default()).await
    }

    /// Connects with `config`, keeps its tables under `names`, and applies pending
    /// migrations to them. A server that cannot be reached is reported at once.
    ///
    /// ```no_run
    /// use zart_postgres::{PoolConfig, PostgresTaskScheduler, TableNames};
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let names = TableNames::with_prefix("billing_")?.with_schema("jobs")?;
    /// let store =
    ///     PostgresTaskScheduler::connect_with("postgres://localhost/app", PoolConfig::default(), names)
    ///         .await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_with(
        url: &str,
        config: PoolConfig,
        names: TableNames,
    ) -> StoreResult<Self> {
        let (scheduler, kept) = PostgresTaskScheduler::build(url, &config, names).await?;
        scheduler.migrate().await?;
        tokio::spawn(connections::open(scheduler.connections.clone(), kept));
        Ok(scheduler)
    }

    /// Connects as [`connect_with`](Self::connect_with) does, but leaves the tables as they
    /// are: for tools that read or steer a store and must not create one where a name was
    /// mistyped. [`migration_state`](Self::migration_state) says whether the tables are
    /// there.
    ///
    /// ```no_run
    /// use zart_core::migrations::MigrationState;
    /// use zart_postgres::{PoolConfig, PostgresTaskScheduler, TableNames};
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let (url, names) = ("postgres://localhost/app", TableNames::default());
    /// let store = PostgresTaskScheduler::open_with(url, PoolConfig::default(), names).await?;
    /// if store.migration_state().await? != MigrationState::Current {
    ///     eprintln!("run the migrations first");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open_with(url: &str, config: PoolConfig, names: TableNames) -> StoreResult<Self> {
        let (scheduler, kept) = PostgresTaskScheduler::build(url, &config, names).await?;
        tokio::spawn(connections::open(scheduler.connections.clone(), kept));
        Ok(scheduler)
    }

    /// A store over a new pool for `url`, once a first connection says the server takes
    /// them; with the number of connections the pool keeps.
    async fn build(url: &str, config: &PoolConfig, names: TableNames) -> StoreResult<(Self, u32)> {
        if config.max_connections == 0 {
            return Err(StoreError::new(
                ErrorKind::Rejected,
                "connecting to PostgreSQL",
                "a pool of 0 connections cannot run a statement: \
                 PoolConfig::max_connections must be at least 1",
            ));
        }
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError::new(ErrorKind::Rejected, "parsing the PostgreSQL URL", e))?;
        let address = format!("{}:{}", options.get_host(), options.get_port());
        let unreachable = |e: sqlx::Error| {
            let said = error::Described(&e);
            match e.as_database_error().and_then(|e| e.code()).as_deref() {
                // invalid_catalog_name: the server is there, the database is not.
                Some("3D000") => {
                    let database = options.get_database().unwrap_or(options.get_username());
                    StoreError::new(
                        ErrorKind::NotFound,
                        "connecting to PostgreSQL",
                        format!(
                            "{said} on the PostgreSQL server at {address}: create it \
                             (`createdb {database}`, or `CREATE DATABASE \"{database}\"` in psql)"
                        ),
                    )
                }
                _ => StoreError::new(
                    error::classify(&e),
                    "connecting to PostgreSQL",
                    format!("cannot connect to PostgreSQL at {address}: {said}"),
                ),
            }
        };
        options
            .connect()
            .await
            .map_err(unreachable)?
            .close()
            .await
            .map_err(unreachable)?;
        let kept = config.min_connections.min(config.max_connections);
        // Never closed for age: closing one while the server is full would leave the pool
        // short of what it keeps. (A broken connection is replaced at once.)
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(kept)
            .max_lifetime(None)
            .acquire_timeout(config.acquire_timeout)
            .connect_lazy_with(options);
        Ok((PostgresTaskScheduler::with_table_names(pool, names), kept))
    }

    /// Creates or upgrades the tables for this store's [`TableNames`] from the embedded
    /// migrations. Idempotent, and safe to run from several processes at once.
    pub async fn migrate(&self) -> StoreResult<()> {
        migrate::run(self.pool(), &self.shared.names).await
    }

    /// How this store's tables compare with the migrations this driver embeds: missing,
    /// behind, or current. Reads only.
    pub async fn migration_state(&self) -> StoreResult<MigrationState> {
        // Through the store's own acquire: a pool's plain one waits in silence, and past
        // returned connections, while the server refuses it a new one.
        migrate::state(&mut *self.connection().await?, &self.shared.names).await
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        self.connections.pool()
    }

    /// How many times one of this store's statements has waited longer than half a second
    /// for a connection from the pool. Each such wait is also logged at `warn`, with the
    /// pool and the reason (every connection in use, or the server's answer to a new one:
    /// `too many connections for role "app"`), at most once every five seconds.
    ///
    /// ```no_run
    /// # async fn demo(store: zart_postgres::PostgresTaskScheduler) {
    /// if store.slow_connection_waits() > 0 {
    ///     eprintln!("statements have waited for connections; see the log for why");
    /// }
    /// # }
    /// ```
    pub fn slow_connection_waits(&self) -> u64 {
        self.connections.slow_waits()
    }

    /// A connection from the pool, for one or more statements.
    pub(crate) async fn connection(&self) -> StoreResult<PoolConnection<Postgres>> {
        self.connections
            .acquire()
            .await
            .map_err(self.shared.db("waiting for a connection"))
    }

    /// A connection from the pool in a transaction of its own.
    pub(crate) async fn transaction(&self) -> StoreResult<Transaction<'static, Postgres>> {
        let connection = self.connection().await?;
        Transaction::begin(connection, None)
            .await
            .map_err(self.shared.db("starting a transaction"))
    }

    /// What the store's listening connection hears from now on.
    pub(crate) fn heard(&self) -> tokio::sync::broadcast::Receiver<listener::Heard> {
        let shared = &self.shared;
        (shared.listening).subscribe(self.pool(), &shared.channel, &shared.ended_channel)
    }

    /// The table names in use.
    pub fn table_names(&self) -> &TableNames {
        &self.shared.names
    }

    /// The `LISTEN`/`NOTIFY` channel that announces new tasks for these table names.
    pub fn notify_channel(&self) -> &str {
        &self.shared.channel
    }

    /// The advisory-lock key a maintenance pass holds for these table names (visible in
    /// `pg_locks` as `objid`/`classid` halves).
    pub fn maintenance_lock_key(&self) -> i64 {
        self.shared.maintenance_lock
    }

    /// Starts a unit of work on this store, as the driver's own type: what a transactional
    /// step's connection comes from.
    pub async fn begin_work(&self) -> StoreResult<PgUnitOfWork> {
        let tx = self.transaction().await?;
        Ok(PgUnitOfWork::new(
            tx,
            self.shared.clone(),
            self.connections.clone(),
        ))
    }
}

#[async_trait::async_trait]
impl zart_core::store::Store for PostgresTaskScheduler {
    async fn begin(&self) -> StoreResult<Box<dyn zart_core::store::UnitOfWork>> {
        Ok(Box::new(self.begin_work().await?))
    }

    async fn migration_state(&self) -> StoreResult<MigrationState> {
        PostgresTaskScheduler::migration_state(self).await
    }

    async fn check_migrated(&self) -> StoreResult<()> {
        match self.migration_state().await? {
            MigrationState::Current => Ok(()),
            state => Err(StoreError::not_migrated(
                "checking the tables' migrations",
                self.shared.names.describe(),
                "PostgresTaskScheduler::connect",
                state,
            )),
        }
    }
}
