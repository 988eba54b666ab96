//! # zart-sqlite
//!
//! Zart's embedded driver: the [store contract](zart_core::store) on a SQLite file (or in
//! memory), with nothing to install: SQLite is compiled into the crate. It passes the same
//! conformance suite as the PostgreSQL driver, so the engine behaves the same on both.
//!
//! Most programs use it through `zart` (`Zart::connect("sqlite://app.db")`); the
//! hand-written style builds the store itself:
//!
//! ```no_run
//! use zart_sqlite::{SqliteOptions, SqliteTaskScheduler, Synchronous};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let options = SqliteOptions::file("app.db").prefix("myapp_")?.with_synchronous(Synchronous::Full);
//! let scheduler = SqliteTaskScheduler::connect_with(options).await?; // migrates
//! # let _ = scheduler;
//! # Ok(())
//! # }
//! ```
//!
//! # How it writes
//!
//! - **One writer.** SQLite runs one write transaction at a time per file. A store keeps
//!   one connection; its writers queue on an async mutex, so within a process they never
//!   meet SQLite's lock. Writers in other processes on the same file wait for each other's
//!   lock without blocking a thread (they pause and try again, up to
//!   [`SqliteOptions::lock_timeout`]).
//! - **Claims without `SKIP LOCKED`.** A claim is one statement, `UPDATE .. WHERE id IN
//!   (SELECT .. ORDER BY run_at LIMIT n) RETURNING ..`, in a `BEGIN IMMEDIATE`
//!   transaction: the write lock is what keeps two claimers from taking one task. Scoped to
//!   names, it reads each name's oldest due tasks from a `(task_name, run_at)` index, so a
//!   backlog of other names is never walked.
//! - **End effects in the statements.** What the contract asks when a task ends (its
//!   schedule's tick woken, its parent told) is done by the driver in the transaction that
//!   ends it, not by row triggers, which SQLite would run for every claim and outcome.
//! - **Durability.** The journal is WAL. With the default [`Synchronous::Normal`], a commit
//!   is in the WAL file before it is acknowledged: a completed outcome that was
//!   acknowledged survives the process being killed; only a power loss or an operating
//!   system crash can take the last commits. [`Synchronous::Full`] flushes every commit to
//!   disk (one `fsync` each) and survives those too.
//! - **Wake-ups.** Workers of the same store are woken at once by an in-process doorbell;
//!   workers of other processes notice new work within [`SqliteOptions::poll_interval`]
//!   (50 ms by default) by watching the file's `data_version`.
//!
//! # Why rusqlite
//!
//! Statements run on the calling thread through `rusqlite`, with cached prepared
//! statements. sqlx's SQLite driver hands every statement to a worker thread and back;
//! measured on this project's machine with `shared/bench/sqlite-limit`'s loops, that cost
//! more than the statements themselves (about 1/15 of rusqlite's rate for single inserts
//! and 1/9 for claim-and-complete). A SQLite statement takes microseconds, so running it
//! in place costs the async runtime less than the hand-off would.
//!
//! # What differs from PostgreSQL
//!
//! One machine (the file must be on a local disk, not a network share); one writer at a
//! time; table prefixes but no schemas. A transactional step gets the store's
//! `rusqlite::Connection` inside the open transaction (re-exported as
//! [`zart_sqlite::rusqlite`](rusqlite)); it must not commit or roll back itself, and while
//! it runs, the store's other writers wait for it.
#![warn(missing_docs)]

mod claim;
mod codec;
mod controls;
mod db;
mod end_effects;
mod error;
mod inspect;
mod joined;
mod migrate;
mod notify;
mod options;
mod queries;
mod queue;
mod retention;
mod schedules;
mod steps;
mod unit_of_work;
mod workers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use zart_core::migrations::MigrationState;
use zart_core::StoreResult;

pub use joined::Joined;
pub use options::{OptionsError, SqliteOptions, Synchronous};
pub use rusqlite;
pub use unit_of_work::SqliteUnitOfWork;

use db::Db;
use notify::Bells;
use queries::Queries;

/// Zart's store on SQLite. Cheap to clone; clones share the connection.
///
/// ```
/// use zart_sqlite::SqliteTaskScheduler;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), zart_core::StoreError> {
/// let scheduler = SqliteTaskScheduler::connect("sqlite::memory:").await?; // migrates
/// # let _ = scheduler;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SqliteTaskScheduler {
    shared: Arc<Shared>,
}

/// What every statement of one store needs: its connection, its SQL, its bells.
#[derive(Debug)]
pub(crate) struct Shared {
    pub db: Db,
    pub sql: Arc<Queries>,
    pub options: SqliteOptions,
    pub bells: Bells,
    /// Set once a task watches the file for tasks other processes ended.
    pub watching_ended: OnceLock<()>,
    /// The row keys of the tasks this store's claims handed out, by task id, until their
    /// outcome is stored or they are released.
    pub row_keys: Mutex<HashMap<String, i64>>,
}

impl Shared {
    /// The row keys of handed-out leases (a panic elsewhere leaves the map usable).
    pub(crate) fn row_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.row_keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SqliteTaskScheduler {
    /// Opens the database a `sqlite:` URL names (see [`SqliteOptions`]'s `FromStr`) and
    /// applies pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options: SqliteOptions = url.parse().map_err(|e| {
            zart_core::StoreError::new(zart_core::ErrorKind::Rejected, "parsing the SQLite URL", e)
        })?;
        SqliteTaskScheduler::connect_with(options).await
    }

    /// Opens the database `options` names and applies pending migrations.
    pub async fn connect_with(options: SqliteOptions) -> StoreResult<Self> {
        let scheduler = SqliteTaskScheduler::open(options)?;
        scheduler.migrate().await?;
        Ok(scheduler)
    }

    /// Opens the database `options` names without touching its tables: call
    /// [`migrate`](Self::migrate) before use if they may be missing.
    pub fn open(options: SqliteOptions) -> StoreResult<Self> {
        let shared = Shared {
            db: Db::open(&options)?,
            sql: Arc::new(Queries::new(&options.prefix)),
            bells: Bells::new(),
            watching_ended: OnceLock::new(),
            row_keys: Mutex::default(),
            options,
        };
        Ok(SqliteTaskScheduler {
            shared: Arc::new(shared),
        })
    }

    /// Creates or upgrades the tables for this store's prefix from the embedded
    /// migrations. Idempotent, and safe to run from several processes at once.
    pub async fn migrate(&self) -> StoreResult<()> {
        migrate::run(&self.shared.db, &self.shared.options.prefix).await
    }

    /// How this store's tables compare with the migrations this driver embeds: missing,
    /// behind, or current. Reads only.
    pub async fn migration_state(&self) -> StoreResult<MigrationState> {
        migrate::state(&self.shared.db, &self.shared.options.prefix).await
    }

    /// The settings in use.
    pub fn options(&self) -> &SqliteOptions {
        &self.shared.options
    }

    /// Starts a unit of work on this store, as the driver's own type: what a transactional
    /// step's connection comes from.
    pub async fn begin_work(&self) -> StoreResult<SqliteUnitOfWork> {
        let conn = self.shared.db.begin("starting a transaction").await?;
        Ok(SqliteUnitOfWork::new(conn, self.shared.clone()))
    }
}

#[async_trait::async_trait]
impl zart_core::store::Store for SqliteTaskScheduler {
    async fn begin(&self) -> StoreResult<Box<dyn zart_core::store::UnitOfWork>> {
        Ok(Box::new(self.begin_work().await?))
    }

    async fn migration_state(&self) -> zart_core::StoreResult<MigrationState> {
        SqliteTaskScheduler::migration_state(self).await
    }

    async fn check_migrated(&self) -> zart_core::StoreResult<()> {
        match self.migration_state().await? {
            MigrationState::Current => Ok(()),
            state => Err(zart_core::StoreError::not_migrated(
                "checking the tables' migrations",
                self.shared.db.place(),
                "SqliteTaskScheduler::connect",
                state,
            )),
        }
    }

    fn clock(&self) -> zart_core::clock::Clock {
        self.shared.options.clock.clone()
    }
}
