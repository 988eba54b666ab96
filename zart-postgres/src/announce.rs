//! Announcing new work after the inserting statement committed, outside its transaction.
//!
//! A transaction that sends `NOTIFY` takes a lock of the whole database in its commit and
//! keeps it until the commit is flushed to disk: producers whose inserts notify commit one
//! at a time, each waiting out the others' flushes, where plain inserts would share them.
//! Measured with 8 clients on one server, a one-row insert that also notifies commits at
//! 40 % of the rate of one that does not. So the store's own inserts that run beside
//! others (each one statement, or a unit of work, in a transaction of the store's) insert
//! without notifying and hand their earliest due instant to the [`Announcer`], which sends
//! whatever piled up meanwhile in one short transaction of its own, with
//! `synchronous_commit` off: a notification is never durable anyway, and no flush is
//! waited for while the lock is held.
//!
//! Announcing costs a round trip or two after the commit, which an idle producer would
//! wait through before its task could start: an insert that no other insert of the store
//! runs beside ([`Inserting`]) still notifies in its own statement, as nothing waits on
//! its commit. An insert in a caller's transaction (`Joined`) always does: the commit is
//! the caller's, and the announcement must not come before it.
//! If the process dies between an insert's commit and its announcement, workers find the
//! task at their next poll, as they find tasks whose notification a dropped listening
//! connection missed.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr};
use tokio::sync::mpsc;

use crate::connections::Connections;

/// Most due instants one announcement carries; more wait for the next.
const MAX_PER_ANNOUNCEMENT: usize = 512;

/// Sends the notifications of one store's inserts, in the background, coalesced.
#[derive(Debug)]
pub(crate) struct Announcer {
    /// The channel workers listen on for new work.
    channel: String,
    statement: SqlStr,
    /// The running announcer's inbox; started by the first announcement, and again if
    /// the runtime it ran on has shut down since.
    sender: Mutex<Option<mpsc::UnboundedSender<i64>>>,
}

impl Announcer {
    /// An announcer on `channel`.
    pub(crate) fn new(channel: String) -> Self {
        Announcer {
            channel,
            // `set_config(.., true)` applies to the statement's own (implicit) transaction,
            // whose commit is then not waited for.
            statement: AssertSqlSafe(
                "SELECT set_config('synchronous_commit', 'off', true),
                        pg_notify($1, due)
                 FROM unnest($2::text[]) AS due"
                    .to_owned(),
            )
            .into_sql_str(),
            sender: Mutex::new(None),
        }
    }

    /// Announces, through `connections`, that work is due at `due_millis` (epoch
    /// milliseconds; a past instant means now). Returns at once.
    pub(crate) fn announce(&self, connections: &Arc<Connections>, due_millis: i64) {
        let mut sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = sender.as_ref() {
            if running.send(due_millis).is_ok() {
                return;
            }
        }
        let (started, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(
            connections.clone(),
            self.channel.clone(),
            self.statement.clone(),
            receiver,
        ));
        // The receiver was just handed to the task: the send cannot fail.
        let _ = started.send(due_millis);
        *sender = Some(started);
    }
}

/// The store's inserts under way (those of units of work until they end), which tells an
/// insert whether others commit beside it.
#[derive(Debug, Default)]
pub(crate) struct Inserts(Arc<AtomicUsize>);

/// One insert under way, until dropped.
#[derive(Debug)]
pub(crate) struct Inserting {
    count: Arc<AtomicUsize>,
    /// Whether other inserts were under way when this one began: it announces after its
    /// commit instead of notifying in it.
    pub(crate) beside_others: bool,
}

impl Inserts {
    pub(crate) fn begin(&self) -> Inserting {
        let before = self.0.fetch_add(1, Ordering::AcqRel);
        Inserting {
            count: self.0.clone(),
            beside_others: before > 0,
        }
    }
}

impl Drop for Inserting {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sends announcements until the store is dropped (its sender with it).
async fn run(
    connections: Arc<Connections>,
    channel: String,
    statement: SqlStr,
    mut due: mpsc::UnboundedReceiver<i64>,
) {
    let mut pending = BTreeSet::new();
    while let Some(first) = due.recv().await {
        pending.insert(first);
        while pending.len() < MAX_PER_ANNOUNCEMENT {
            match due.try_recv() {
                Ok(next) => {
                    pending.insert(next);
                }
                Err(_) => break,
            }
        }
        let payloads = coalesce(&mut pending, chrono::Utc::now().timestamp_millis());
        let sent = match connections.acquire().await {
            Ok(mut connection) => sqlx::query(statement.clone())
                .bind(&channel)
                .bind(&payloads)
                .execute(&mut *connection)
                .await
                .map(drop),
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            // Workers find the tasks at their next poll.
            tracing::warn!(%error, "announcing new tasks to workers failed");
        }
    }
}

/// The payloads that say what `pending` says, which it is emptied of: every instant still
/// ahead of `now` (a worker remembers each, to wake then), and of those already due only
/// the latest (each of them wakes a worker at once; one is enough).
fn coalesce(pending: &mut BTreeSet<i64>, now: i64) -> Vec<String> {
    let ahead = pending.split_off(&(now + 1));
    let due = pending.last().copied();
    pending.clear();
    due.into_iter()
        .chain(ahead)
        .map(|millis| millis.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stores_own_insert_does_not_notify_in_its_transaction() {
        let queries = crate::queries::Queries::new(&crate::TableNames::default());
        assert!(!queries.insert_quiet.as_str().contains("pg_notify"));
        // A caller's transaction still announces on its commit.
        assert!(queries.insert.as_str().contains("pg_notify"));
    }

    #[test]
    fn an_insert_knows_whether_others_are_under_way_beside_it() {
        let inserts = Inserts::default();
        let first = inserts.begin();
        assert!(!first.beside_others);
        let second = inserts.begin();
        assert!(second.beside_others);
        drop(first);
        drop(second);
        assert!(!inserts.begin().beside_others);
    }

    #[test]
    fn instants_already_due_collapse_into_one_and_later_ones_are_kept() {
        let mut pending = BTreeSet::from([5, 7, 10, 11, 30]);
        assert_eq!(coalesce(&mut pending, 10), ["10", "11", "30"]);
        assert!(pending.is_empty());
        let mut pending = BTreeSet::from([11, 30]);
        assert_eq!(coalesce(&mut pending, 10), ["11", "30"]);
    }
}
