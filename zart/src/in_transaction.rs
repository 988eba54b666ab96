//! Scheduling inside the application's own transaction: the `_in` family.
//!
//! An order row and the task that emails its receipt are written in ONE transaction of the
//! application's, so that both happen or neither does (the transactional outbox). Every
//! way of producing work has an `_in` form that takes the application's connection first
//! ([`InTransaction`]): the typed ones the macros generate (`send_receipt::schedule_in`,
//! `checkout::start_in`, ...) and the untyped ones here. They check, trace and count exactly
//! as their siblings do; only the transaction is the caller's:
//!
//! - workers see nothing until the caller commits, and a rollback leaves no trace;
//! - an idle worker wakes on the commit (PostgreSQL's `NOTIFY` is transactional; SQLite's
//!   workers look at the file every poll interval, 50 ms unless set);
//! - a batch that must be new is all or nothing under a savepoint: an id in the way fails
//!   the call with [`Error::AlreadyExists`] and the caller's transaction goes on;
//! - the metric `zart_tasks_scheduled_total` counts a task when it is scheduled, before the
//!   caller's commit or rollback: a rolled-back task is counted too.
//!
//! ```no_run
//! use zart::postgres::sqlx::{self, PgPool};
//! use zart::TaskError;
//!
//! #[zart::task]
//! async fn send_receipt(order_id: i64) -> Result<(), TaskError> {
//!     Ok(())
//! }
//!
//! # async fn demo(pool: PgPool) -> Result<(), Box<dyn std::error::Error>> {
//! let mut tx = pool.begin().await?;
//! let order_id: i64 = sqlx::query_scalar("INSERT INTO orders (total) VALUES (42) RETURNING id")
//!     .fetch_one(&mut *tx)
//!     .await?;
//! send_receipt::schedule_in(&mut *tx, format!("receipt-{order_id}"), order_id).await?;
//! tx.commit().await?; // the order and its receipt, or neither
//! # Ok(())
//! # }
//! ```
//!
//! The PostgreSQL forms take the `sqlx` Zart is built with (re-exported as
//! [`zart::postgres::sqlx`](crate::postgres::sqlx)); the SQLite forms the `rusqlite` it is
//! built with ([`zart::sqlite::rusqlite`](crate::sqlite::rusqlite)).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use zart_core::joined::JoinedTransaction;
use zart_core::task::{NewTask, ScheduleAtParams};

use crate::client::{params, StartOptions};
use crate::definition::TaskDefinition;
use crate::enqueue::{event_payload, insert_in, IfExists};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;

/// A connection of the application's that the `_in` functions schedule through, in its
/// transaction if it has one open:
///
/// - PostgreSQL: `&mut PgConnection` (so `&mut *tx` of a `sqlx::Transaction`, or of a
///   pooled connection) and `&mut sqlx::Transaction<Postgres>`, for tables under the
///   default names (found through the connection's `search_path`); for other names, the
///   store's [`join`](crate::postgres::PostgresTaskScheduler::join) of the connection;
/// - SQLite: `&rusqlite::Connection` and `&rusqlite::Transaction` on the store's file, for
///   tables under the default prefix; for another, the store's
///   [`join`](crate::sqlite::SqliteTaskScheduler::join) of the connection.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a connection Zart can schedule through",
    label = "not a connection of the application's",
    note = "pass `&mut *tx` (a sqlx PgConnection of the `sqlx` Zart re-exports as `zart::postgres::sqlx`), `&tx` (a `zart::sqlite::rusqlite` Transaction), or a store's `join(..)` of one"
)]
pub trait InTransaction {
    /// The driver's writer over the connection.
    type Joined: JoinedTransaction;

    /// The connection joined to the store's tables.
    fn join(self) -> Self::Joined;
}

#[cfg(feature = "postgres")]
mod postgres {
    use zart_postgres::sqlx::{PgConnection, Postgres, Transaction};
    use zart_postgres::Joined;

    impl<'c> super::InTransaction for &'c mut PgConnection {
        type Joined = Joined<'c>;

        fn join(self) -> Joined<'c> {
            Joined::default_tables(self)
        }
    }

    impl<'c> super::InTransaction for &'c mut Transaction<'_, Postgres> {
        type Joined = Joined<'c>;

        fn join(self) -> Joined<'c> {
            Joined::default_tables(self)
        }
    }

    impl<'c> super::InTransaction for Joined<'c> {
        type Joined = Joined<'c>;

        fn join(self) -> Joined<'c> {
            self
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use zart_sqlite::rusqlite::{Connection, Transaction};
    use zart_sqlite::Joined;

    impl<'c> super::InTransaction for &'c Connection {
        type Joined = Joined<'c>;

        fn join(self) -> Joined<'c> {
            Joined::default_tables(self)
        }
    }

    impl<'c> super::InTransaction for &'c Transaction<'_> {
        type Joined = Joined<'c>;

        fn join(self) -> Joined<'c> {
            Joined::default_tables(self)
        }
    }

    impl<'c> super::InTransaction for Joined<'c> {
        type Joined = Joined<'c>;

        fn join(self) -> Joined<'c> {
            self
        }
    }
}

/// [`TaskScheduler::schedule_many_with`](crate::scheduler::TaskScheduler::schedule_many_with)
/// in the caller's transaction.
pub async fn schedule_many_with_in<T: Into<NewTask>>(
    tx: impl InTransaction,
    tasks: Vec<T>,
    if_exists: IfExists,
) -> Result<Vec<String>> {
    let tasks: Vec<NewTask> = tasks.into_iter().map(Into::into).collect();
    insert_in(&mut tx.join(), &tasks, if_exists).await
}

/// [`TaskScheduler::schedule_now`](crate::scheduler::TaskScheduler::schedule_now) in the
/// caller's transaction.
pub async fn schedule_now_in(
    tx: impl InTransaction,
    task_id: &str,
    task_name: &str,
    data: Value,
) -> Result<()> {
    let task = ScheduleAtParams::at(task_id, task_name, Utc::now(), data);
    schedule_at_in(tx, task).await
}

/// [`TaskScheduler::schedule_at`](crate::scheduler::TaskScheduler::schedule_at) in the
/// caller's transaction.
pub async fn schedule_at_in<T: Into<NewTask>>(tx: impl InTransaction, params: T) -> Result<()> {
    schedule_many_with_in(tx, vec![params], IfExists::Error)
        .await
        .map(drop)
}

/// [`TaskScheduler::schedule_at_if_absent`](crate::scheduler::TaskScheduler::schedule_at_if_absent)
/// in the caller's transaction. Returns whether it was inserted.
pub async fn schedule_at_if_absent_in<T: Into<NewTask>>(
    tx: impl InTransaction,
    params: T,
) -> Result<bool> {
    let inserted = schedule_many_with_in(tx, vec![params], IfExists::Skip).await?;
    Ok(!inserted.is_empty())
}

/// [`TaskScheduler::schedule_many`](crate::scheduler::TaskScheduler::schedule_many) in the
/// caller's transaction: all or none, and the caller's transaction goes on either way.
pub async fn schedule_many_in<T: Into<NewTask>>(
    tx: impl InTransaction,
    tasks: Vec<T>,
) -> Result<()> {
    schedule_many_with_in(tx, tasks, IfExists::Error)
        .await
        .map(drop)
}

/// [`TaskScheduler::cancel`](crate::scheduler::TaskScheduler::cancel) in the caller's
/// transaction: it takes effect when the caller commits. Returns whether the task will be
/// cancelled or asked to stop.
pub async fn cancel_in(tx: impl InTransaction, task_id: &str) -> Result<bool> {
    Ok(tx.join().cancel_task(task_id).await?.is_some())
}

/// [`Handle::send_event`](crate::Handle::send_event) in the caller's transaction: the
/// execution receives the event once the caller commits, and never if it rolls back.
/// Returns whether a waiting execution will be woken.
pub async fn send_event_in(
    tx: impl InTransaction,
    task_id: &str,
    name: &str,
    payload: &impl Serialize,
) -> Result<bool> {
    let payload = event_payload(task_id, name, payload)?;
    Ok(tx.join().send_event(task_id, name, &payload).await?)
}

/// [`Zart::start`](crate::Zart::start) in the caller's transaction: run `id` of `D`, due
/// now. The macros' `schedule_in`/`start_in` call it.
pub async fn start_in<D: TaskDefinition>(
    tx: impl InTransaction,
    id: impl Into<String>,
    input: D::Input,
) -> Result<()> {
    start_with_in::<D>(tx, id, input, StartOptions::new()).await
}

/// [`Zart::start_at`](crate::Zart::start_at) in the caller's transaction.
pub async fn start_at_in<D: TaskDefinition>(
    tx: impl InTransaction,
    id: impl Into<String>,
    at: DateTime<Utc>,
    input: D::Input,
) -> Result<()> {
    start_with_in::<D>(tx, id, input, StartOptions::new().at(at)).await
}

/// [`Zart::start_with`](crate::Zart::start_with) in the caller's transaction.
pub async fn start_with_in<D: TaskDefinition>(
    tx: impl InTransaction,
    id: impl Into<String>,
    input: D::Input,
    options: StartOptions,
) -> Result<()> {
    let task = params::<D>(id.into(), options, &input)?;
    insert_in(&mut tx.join(), std::slice::from_ref(&task), IfExists::Error)
        .await
        .map(drop)
}

/// [`Zart::start_if_absent`](crate::Zart::start_if_absent) in the caller's transaction.
/// Returns whether this call started it.
pub async fn start_if_absent_in<D: TaskDefinition>(
    tx: impl InTransaction,
    id: impl Into<String>,
    input: D::Input,
) -> Result<bool> {
    let task = params::<D>(id.into(), StartOptions::new(), &input)?;
    let inserted = insert_in(&mut tx.join(), std::slice::from_ref(&task), IfExists::Skip).await?;
    Ok(!inserted.is_empty())
}
