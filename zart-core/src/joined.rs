//! The store contract's part for the application's own transactions: what a driver writes
//! through a connection the application holds, so that scheduling a task commits or rolls
//! back with the application's rows (the transactional outbox).
//!
//! A driver offers a [`JoinedTransaction`] over its connection type (a `PgConnection`, a
//! `rusqlite::Connection`) and the table names of one store. It writes with the same
//! statements as the store's own methods; only the transaction is the caller's. Nothing it
//! writes is seen by workers before the caller commits, and a rollback leaves no trace:
//! notifications too are sent on commit, or never.

use std::future::Future;

use serde_json::Value;

use crate::error::StoreResult;
#[cfg(doc)]
use crate::store::{QueueStore, StepStore};
use crate::task::{NewTask, TaskStatus};

/// A connection of the application's, inside its transaction or not, joined to a store's
/// tables. The engine validates first; the driver stores what it is given.
///
/// Futures are as `Send` as the driver's connection allows: a PostgreSQL one is, so that a
/// web handler can schedule inside its transaction; a SQLite one is not (rusqlite's
/// connections are not `Sync`).
pub trait JoinedTransaction {
    /// [`QueueStore::insert`] in the caller's transaction: inserts `tasks`, skipping ids
    /// that exist, and wakes listening workers when the caller commits. Returns the
    /// inserted ids, in input order.
    ///
    /// With `all_or_none`, nothing stays inserted when any id exists (the caller's
    /// transaction goes on, unharmed), and the ids returned are those that were not in the
    /// way: fewer than `tasks` means none was inserted.
    fn insert(
        &mut self,
        tasks: &[NewTask],
        all_or_none: bool,
    ) -> impl Future<Output = StoreResult<Vec<String>>>;

    /// [`StepStore::send_event`] in the caller's transaction: the event exists, and a
    /// suspended execution waiting for it is woken, once the caller commits. Returns
    /// whether an execution will be woken.
    fn send_event(
        &mut self,
        task_id: &str,
        name: &str,
        payload: &Value,
    ) -> impl Future<Output = StoreResult<bool>>;

    /// [`QueueStore::cancel_task`] in the caller's transaction, with its end effects (a
    /// parent's wake-up, a schedule's tick).
    fn cancel_task(
        &mut self,
        task_id: &str,
    ) -> impl Future<Output = StoreResult<Option<TaskStatus>>>;
}
