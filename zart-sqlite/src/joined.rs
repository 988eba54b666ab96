//! [`Joined`]: a connection of the application's to the store's file, joined to the
//! store's tables, so that tasks scheduled through it commit or roll back with the
//! application's own rows.

use std::sync::{Arc, OnceLock};

use rusqlite::Connection;
use serde_json::Value;
use zart_core::clock::Clock;
use zart_core::joined::JoinedTransaction;
use zart_core::task::{NewTask, TaskStatus};
use zart_core::StoreResult;

use crate::db::{read_clock, NOW_FUNCTION};
use crate::error::store_error;
use crate::notify::Effects;
use crate::queries::Queries;
use crate::{queue, steps, SqliteOptions, SqliteTaskScheduler};

/// The application's connection to the store's file (usually inside its transaction) and
/// the store's tables: what Zart's `_in` functions write through. Everything happens in the
/// caller's transaction, with the statements the store itself runs: workers see nothing
/// before the caller commits.
///
/// Workers hear of the commit the way they hear of another process's: each looks at the
/// file every [`poll_interval`](SqliteOptions::poll_interval) (50 ms unless set).
///
/// Most programs never name it: `zart`'s `_in` functions take `&tx` (a
/// `rusqlite::Transaction`) or a `&rusqlite::Connection` directly, for tables under the
/// default prefix. A store with another prefix joins the connection itself:
///
/// ```no_run
/// use zart_sqlite::{rusqlite, SqliteOptions, SqliteTaskScheduler};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqliteTaskScheduler::connect_with(SqliteOptions::file("app.db").prefix("billing_")?).await?;
/// let mut connection = rusqlite::Connection::open("app.db")?;
/// let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
/// let joined = store.join(&tx); // pass it to an `_in` function
/// # let _ = joined;
/// tx.commit()?;
/// # Ok(())
/// # }
/// ```
///
/// The connection gets the SQL function the store's statements read the time from
/// (`zart_now`), if it has none.
pub struct Joined<'c> {
    connection: &'c Connection,
    sql: Arc<Queries>,
    clock: Clock,
}

impl std::fmt::Debug for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined").finish_non_exhaustive()
    }
}

impl<'c> Joined<'c> {
    /// `connection` joined to the tables under the default prefix (`zart_`).
    pub fn default_tables(connection: &'c Connection) -> Self {
        static DEFAULT: OnceLock<Arc<Queries>> = OnceLock::new();
        let sql = DEFAULT.get_or_init(|| Arc::new(Queries::new(&SqliteOptions::memory().prefix)));
        Joined {
            connection,
            sql: sql.clone(),
            clock: Clock::system(),
        }
    }

    /// Runs `f` on the connection under a savepoint, released when it succeeds and rolled
    /// back to when it fails (or `keep` says no), so that the caller's transaction goes on,
    /// unharmed.
    fn under_savepoint<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Connection, &Queries) -> rusqlite::Result<T>,
        keep: impl FnOnce(&T) -> bool,
    ) -> StoreResult<T> {
        let conn = self.connection;
        let place = conn.path().unwrap_or(":memory:").to_owned();
        let fail = |e| store_error(&place, context, e);
        self.read_the_clock().map_err(fail)?;
        conn.execute_batch("SAVEPOINT zart_joined").map_err(fail)?;
        let done = f(conn, &self.sql);
        let end = match &done {
            Ok(value) if keep(value) => "RELEASE zart_joined",
            _ => "ROLLBACK TO zart_joined; RELEASE zart_joined",
        };
        let ended = conn.execute_batch(end);
        // The statements' own failure says more than the savepoint's that followed it.
        let done = done.map_err(fail)?;
        ended.map_err(fail)?;
        Ok(done)
    }

    /// Gives the connection the store's clock function unless it has one.
    fn read_the_clock(&self) -> rusqlite::Result<()> {
        // Cached: after the first call on a connection, the probe costs a lookup.
        let probe = format!("SELECT {NOW_FUNCTION}()");
        if self.connection.prepare_cached(&probe).is_ok() {
            return Ok(());
        }
        read_clock(self.connection, self.clock.clone())
    }
}

impl SqliteTaskScheduler {
    /// `connection` (the application's, to this store's file, usually inside its
    /// transaction) joined to this store's tables: see [`Joined`].
    pub fn join<'c>(&self, connection: &'c Connection) -> Joined<'c> {
        Joined {
            connection,
            sql: self.shared.sql.clone(),
            clock: self.shared.options.clock.clone(),
        }
    }
}

/// Workers learn of what the caller commits by watching the file: nothing to announce.
fn unannounced() -> Effects {
    Effects::default()
}

impl JoinedTransaction for Joined<'_> {
    async fn insert(&mut self, tasks: &[NewTask], all_or_none: bool) -> StoreResult<Vec<String>> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        self.under_savepoint(
            "scheduling tasks",
            |conn, sql| queue::insert_on(conn, sql, tasks, None, &mut unannounced()),
            |ids| !all_or_none || ids.len() == tasks.len(),
        )
    }

    async fn send_event(
        &mut self,
        task_id: &str,
        name: &str,
        payload: &Value,
    ) -> StoreResult<bool> {
        self.under_savepoint(
            "sending an event",
            |conn, sql| steps::send_event_on(conn, sql, task_id, name, payload, &mut unannounced()),
            |_| true,
        )
    }

    async fn cancel_task(&mut self, task_id: &str) -> StoreResult<Option<TaskStatus>> {
        self.under_savepoint(
            "cancelling a task",
            |conn, sql| queue::cancel_on(conn, sql, task_id, &mut unannounced()),
            |_| true,
        )
    }
}
