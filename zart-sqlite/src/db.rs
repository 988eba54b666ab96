//! The store's one connection, and how statements reach it.
//!
//! SQLite lets one transaction write at a time, so the store keeps one connection behind
//! an async mutex: writers of this process queue on the mutex (in order, without spinning),
//! and only writers of other processes meet SQLite's lock. Statements run on the calling
//! task's thread: they take microseconds, much less than handing each to another thread
//! and back (see the crate docs). What can take long is waiting for another process's
//! lock, so that wait is never SQLite's sleeping busy handler (which would block the
//! thread): a write that finds the file locked gives the thread back and tries again
//! shortly, until the lock timeout.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Mutex, OwnedMutexGuard};
use zart_core::clock::Clock;
use zart_core::{ErrorKind, StoreError, StoreResult};

use crate::error::{is_busy, store_error};
use crate::options::{Location, SqliteOptions};

/// The connection and what every statement's errors mention.
#[derive(Debug)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
    place: String,
    lock_timeout: Duration,
}

/// The connection of a running write transaction (or of a read): held by one caller.
pub(crate) type Held = OwnedMutexGuard<Connection>;

/// First and longest pause between two tries at a lock another process holds.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const LONGEST_PAUSE: Duration = Duration::from_millis(16);

impl Db {
    /// Opens the database `options` names, with the store's settings.
    pub(crate) fn open(options: &SqliteOptions) -> StoreResult<Db> {
        let place = options.describe();
        let conn = open_connection(options)
            .map_err(|e| crate::error::open_error(options.path(), &place, e))?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            place,
            lock_timeout: options.lock_timeout,
        })
    }

    /// Where the tables are, for messages.
    pub(crate) fn place(&self) -> &str {
        &self.place
    }

    /// Maps a driver error raised while doing `context`.
    pub(crate) fn error(
        &self,
        context: &'static str,
    ) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |error| store_error(&self.place, context, error)
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`: the write lock is taken at once, so a
    /// transaction that reads before it writes cannot fail half-way on another writer).
    pub(crate) async fn begin(&self, context: &'static str) -> StoreResult<Held> {
        let mut conn = self.conn.clone().lock_owned().await;
        if !conn.is_autocommit() {
            // A transaction left open (a panic between BEGIN and COMMIT): nothing of it
            // was acknowledged, so it is rolled back rather than joined.
            conn.execute_batch("ROLLBACK")
                .map_err(self.error(context))?;
        }
        self.patiently(context, &mut conn, |conn| {
            conn.execute_batch("BEGIN IMMEDIATE")
        })
        .await?;
        Ok(conn)
    }

    /// Runs `f` in a write transaction and commits it; rolls back if `f` fails.
    pub(crate) async fn write<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let conn = self.begin(context).await?;
        let done = f(&conn).and_then(|value| conn.execute_batch("COMMIT").map(|()| value));
        done.map_err(|error| {
            rollback(&conn);
            store_error(&self.place, context, error)
        })
    }

    /// Runs `f`, which only reads, outside any transaction of this store's.
    pub(crate) async fn read<T>(
        &self,
        context: &'static str,
        f: impl FnMut(&Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn.clone().lock_owned().await;
        self.patiently(context, &mut conn, f).await
    }

    /// Runs `f` until it does not find the database locked by another process, pausing in
    /// between without holding the thread, for at most the lock timeout. (`conn` is taken
    /// by `&mut`: a shared reference to a connection cannot cross an `.await`.)
    async fn patiently<T>(
        &self,
        context: &'static str,
        conn: &mut Held,
        mut f: impl FnMut(&Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let deadline = tokio::time::Instant::now() + self.lock_timeout;
        let mut pause = FIRST_PAUSE;
        loop {
            match f(conn) {
                Err(error) if is_busy(&error) => {
                    if tokio::time::Instant::now() + pause > deadline {
                        return Err(StoreError::new(
                            ErrorKind::Transient,
                            context,
                            format!(
                                "the database ({}) stayed locked by another connection for {:?}: {error}",
                                self.place, self.lock_timeout
                            ),
                        ));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
                done => return done.map_err(|error| store_error(&self.place, context, error)),
            }
        }
    }
}

/// Rolls back what `conn` started; an error here leaves nothing to undo.
pub(crate) fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// A connection with the store's settings: WAL journal (readers never wait for the writer,
/// and a commit appends to the log instead of rewriting pages), the chosen `synchronous`,
/// and no busy handler (see the module docs).
pub(crate) fn open_connection(options: &SqliteOptions) -> rusqlite::Result<Connection> {
    let conn = match &options.location {
        Location::File(path) => open_file(path)?,
        Location::Memory => Connection::open_in_memory()?,
    };
    // Setting the journal mode needs a moment's exclusive access, which a process opening
    // the file at the same time may hold: a short busy wait covers it.
    conn.busy_timeout(Duration::from_secs(5))?;
    if options.path().is_some() {
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    }
    conn.execute_batch(&format!(
        // Statement journals (a statement's undo within its transaction) stay in memory.
        "PRAGMA synchronous = {}; PRAGMA foreign_keys = OFF; PRAGMA temp_store = MEMORY;",
        options.synchronous.as_str()
    ))?;
    conn.busy_timeout(Duration::ZERO)?;
    conn.set_prepared_statement_cache_capacity(64);
    read_clock(&conn, options.clock.clone())?;
    Ok(conn)
}

/// Registers [`NOW_FUNCTION`] on `conn`, reading `clock`.
pub(crate) fn read_clock(conn: &Connection, clock: Clock) -> rusqlite::Result<()> {
    // Not deterministic: the time moves between statements (and a driven clock with it).
    conn.create_scalar_function(NOW_FUNCTION, 0, FunctionFlags::SQLITE_UTF8, move |_| {
        Ok(clock.now_millis())
    })
}

/// The SQL function every statement reads the current instant from, in milliseconds since
/// the epoch: the store's [`Clock`](zart_core::clock::Clock). Registered on each connection;
/// no stored trigger, view or default names it, so other tools can still write the file.
pub(crate) const NOW_FUNCTION: &str = "zart_now";

fn open_file(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(path, flags)
}
