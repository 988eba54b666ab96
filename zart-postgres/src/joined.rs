//! [`Joined`]: a connection of the application's, joined to a store's tables, so that
//! tasks scheduled through it commit or roll back with the application's own rows.

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use sqlx::{Connection, PgConnection};
use zart_core::joined::JoinedTransaction;
use zart_core::task::{NewTask, TaskStatus};
use zart_core::StoreResult;

use crate::{queue, steps, PostgresTaskScheduler, Shared, TableNames};

/// The application's connection (usually inside its transaction) and the tables of one
/// store: what Zart's `_in` functions write through. Everything happens in the caller's
/// transaction, with the statements the store itself runs: workers see nothing before the
/// caller commits, and are woken by the commit (`NOTIFY` is transactional).
///
/// Most programs never name it: `zart`'s `_in` functions take `&mut *tx` directly, for
/// tables under the default names. A store whose tables have other names joins the
/// connection itself:
///
/// ```no_run
/// use zart_postgres::{PostgresTaskScheduler, TableNames};
///
/// # async fn demo(pool: zart_postgres::sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let names = TableNames::with_prefix("billing_")?.with_schema("jobs")?;
/// let store = PostgresTaskScheduler::with_table_names(pool.clone(), names);
/// let mut tx = pool.begin().await?;
/// let joined = store.join(&mut tx); // pass it to an `_in` function
/// # let _ = joined;
/// tx.commit().await?;
/// # Ok(())
/// # }
/// ```
pub struct Joined<'c> {
    connection: &'c mut PgConnection,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined")
            .field("tables", &self.shared.names)
            .finish_non_exhaustive()
    }
}

impl<'c> Joined<'c> {
    /// `connection` joined to the tables under the default names ([`TableNames::default`]:
    /// `zart_tasks` and so on, found through the connection's `search_path`).
    pub fn default_tables(connection: &'c mut PgConnection) -> Self {
        static DEFAULT: OnceLock<Arc<Shared>> = OnceLock::new();
        let shared = DEFAULT.get_or_init(|| Arc::new(Shared::new(TableNames::default())));
        Joined {
            connection,
            shared: shared.clone(),
        }
    }

    /// The names of the tables it writes to.
    pub fn table_names(&self) -> &TableNames {
        &self.shared.names
    }
}

impl PostgresTaskScheduler {
    /// `connection` (the application's, usually inside its transaction) joined to this
    /// store's tables: see [`Joined`].
    pub fn join<'c>(&self, connection: &'c mut PgConnection) -> Joined<'c> {
        Joined {
            connection,
            shared: self.shared.clone(),
        }
    }
}

/// `SAVEPOINT` outside a transaction block: the connection commits each statement.
const NO_TRANSACTION: &str = "25P01";
const SAVEPOINT: &str = "SAVEPOINT zart_all_or_none";
const ROLLBACK: &str = "ROLLBACK TO SAVEPOINT zart_all_or_none";
const RELEASE: &str = "RELEASE SAVEPOINT zart_all_or_none";

impl Joined<'_> {
    /// Inserts `tasks` all or none inside the caller's transaction: under a savepoint, rolled
    /// back to when an id was in the way (or the insert failed, so that the caller's
    /// transaction stays usable). A connection outside a transaction block gets a
    /// transaction of its own instead.
    async fn insert_all_or_none(&mut self, tasks: &[NewTask]) -> StoreResult<Vec<String>> {
        let shared = self.shared.clone();
        match sqlx::raw_sql(SAVEPOINT)
            .execute(&mut *self.connection)
            .await
        {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(NO_TRANSACTION) => {
                let mut own = self
                    .connection
                    .begin()
                    .await
                    .map_err(shared.db("scheduling tasks"))?;
                let inserted = queue::insert_on(&shared, &mut *own, tasks, None).await?;
                match inserted.len() == tasks.len() {
                    true => own.commit().await,
                    false => own.rollback().await,
                }
                .map_err(shared.db("scheduling tasks"))?;
                return Ok(inserted);
            }
            Err(e) => return Err(shared.db("scheduling tasks")(e)),
        }
        let inserted = queue::insert_on(&shared, &mut *self.connection, tasks, None).await;
        let undo = inserted
            .as_ref()
            .map_or(true, |ids| ids.len() < tasks.len());
        let mut end = String::new();
        if undo {
            end.push_str(ROLLBACK);
            end.push_str("; ");
        }
        end.push_str(RELEASE);
        let ended = sqlx::raw_sql(sqlx::AssertSqlSafe(end))
            .execute(&mut *self.connection)
            .await;
        // The insert's own failure says more than the savepoint's that followed it.
        let inserted = inserted?;
        ended.map_err(shared.db("scheduling tasks"))?;
        Ok(inserted)
    }
}

impl JoinedTransaction for Joined<'_> {
    async fn insert(&mut self, tasks: &[NewTask], all_or_none: bool) -> StoreResult<Vec<String>> {
        if all_or_none && tasks.len() > 1 {
            return self.insert_all_or_none(tasks).await;
        }
        queue::insert_on(&self.shared, &mut *self.connection, tasks, None).await
    }

    async fn send_event(
        &mut self,
        task_id: &str,
        name: &str,
        payload: &Value,
    ) -> StoreResult<bool> {
        steps::send_event_on(&self.shared, &mut *self.connection, task_id, name, payload).await
    }

    async fn cancel_task(&mut self, task_id: &str) -> StoreResult<Option<TaskStatus>> {
        queue::cancel_on(&self.shared, &mut *self.connection, task_id).await
    }
}
