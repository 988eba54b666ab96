//! Wake-ups without `LISTEN/NOTIFY`.
//!
//! Within a process, a store rings a doorbell when a commit scheduled work (and bumps a
//! counter when tasks ended): every worker and waiter of the same store hears it at once.
//! Across processes sharing the file, each listener keeps a connection of its own and
//! looks at `PRAGMA data_version` every poll interval (a read of shared memory, no I/O):
//! when another connection committed, it asks for the earliest due instant and passes it
//! on. So work scheduled by another process is noticed within one poll interval.

use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use tokio::sync::{broadcast, watch};
use zart_core::queue::Wake;
use zart_core::StoreResult;

use crate::db::open_connection;
use crate::error::store_error;
use crate::Shared;

/// What a committed transaction announces.
#[derive(Clone, Debug, Default)]
pub(crate) struct Effects {
    /// The earliest instant at which work it scheduled is due.
    due: Option<DateTime<Utc>>,
    /// Whether tasks ended.
    ended: bool,
}

impl Effects {
    /// Work becomes due at `at`.
    pub(crate) fn due(&mut self, at: DateTime<Utc>) {
        self.due = Some(self.due.map_or(at, |due| due.min(at)));
    }

    /// Work is due now.
    pub(crate) fn due_now(&mut self) {
        self.due(Utc::now());
    }

    /// Tasks ended.
    pub(crate) fn ended(&mut self) {
        self.ended = true;
    }
}

/// The doorbell and the counter of ended tasks, shared by every clone of a store.
#[derive(Debug)]
pub(crate) struct Bells {
    doorbell: broadcast::Sender<Wake>,
    ended: watch::Sender<u64>,
}

/// Notifications a slow listener may fall behind by before it is told "look now".
const DOORBELL_CAPACITY: usize = 256;

impl Bells {
    pub(crate) fn new() -> Self {
        Bells {
            doorbell: broadcast::channel(DOORBELL_CAPACITY).0,
            ended: watch::channel(0).0,
        }
    }

    /// Announces what a committed transaction did.
    pub(crate) fn announce(&self, effects: Effects) {
        if let Some(at) = effects.due {
            // No listener is no error: nobody waits.
            let _ = self.doorbell.send(Wake::At(at));
        }
        if effects.ended {
            self.ended_elsewhere();
        }
    }

    /// Tasks may have ended (seen in the file, perhaps by another process).
    fn ended_elsewhere(&self) {
        self.ended.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn ended(&self) -> watch::Receiver<u64> {
        self.ended.subscribe()
    }
}

/// A connection of its own that tells when another connection committed to the file.
struct FileWatch {
    conn: Connection,
    version: i64,
}

impl FileWatch {
    /// `None` for an in-memory database, which no other connection can write.
    fn open(shared: &Shared) -> StoreResult<Option<FileWatch>> {
        if shared.options.path().is_none() {
            return Ok(None);
        }
        let place = shared.db.place();
        let opened = open_connection(&shared.options).and_then(|conn| {
            let version = data_version(&conn)?;
            Ok(FileWatch { conn, version })
        });
        opened
            .map(Some)
            .map_err(|e| store_error(place, "opening a connection to watch the file", e))
    }

    /// Whether another connection committed since the last look.
    fn changed(&mut self) -> rusqlite::Result<bool> {
        let version = data_version(&self.conn)?;
        let changed = version != self.version;
        self.version = version;
        Ok(changed)
    }
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |row| row.get(0))
}

/// Calls `wake` for every doorbell of this store and every commit another connection made
/// to its file that left work due; never returns while the store lives.
pub(crate) async fn listen(
    shared: &Shared,
    wake: &(dyn Fn(Wake) + Send + Sync),
) -> StoreResult<()> {
    let mut doorbell = shared.bells.doorbell.subscribe();
    let mut watch = FileWatch::open(shared)?;
    let mut poll = tokio::time::interval(shared.options.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            heard = doorbell.recv() => match heard {
                Ok(heard) => wake(heard),
                Err(broadcast::error::RecvError::Lagged(_)) => wake(Wake::Now),
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            _ = poll.tick(), if watch.is_some() => {
                if let Some(watch) = watch.as_mut() {
                    match next_due_if_changed(shared, watch) {
                        Ok(Some(due)) => wake(Wake::At(due)),
                        Ok(None) => {}
                        Err(error) => {
                            tracing::warn!(%error, "looking at the SQLite file for new work failed");
                            wake(Wake::Now);
                        }
                    }
                }
            }
        }
    }
}

/// When the file changed, the earliest due instant of a pending task.
fn next_due_if_changed(
    shared: &Shared,
    watch: &mut FileWatch,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    if !watch.changed()? {
        return Ok(None);
    }
    let due: Option<i64> = watch
        .conn
        .prepare_cached(&shared.sql.next_due)?
        .query_row([], |row| row.get(0))?;
    Ok(due.and_then(DateTime::from_timestamp_millis))
}

/// The counter of ended tasks; for a file, a task started on first use also bumps it
/// whenever another connection commits (tasks may have ended in another process).
pub(crate) fn ended(shared: &Arc<Shared>) -> StoreResult<watch::Receiver<u64>> {
    let receiver = shared.bells.ended();
    // Marked only once the watch is open: a file that could not be opened is tried again
    // by the next caller. (Of two callers at once, only the first to mark it starts one.)
    if shared.watching_ended.get().is_none() {
        if let Some(watch) = FileWatch::open(shared)? {
            if shared.watching_ended.set(()).is_ok() {
                tokio::spawn(watch_ended(Arc::downgrade(shared), watch));
            }
        }
    }
    Ok(receiver)
}

async fn watch_ended(shared: Weak<Shared>, mut watch: FileWatch) {
    let Some(interval) = shared.upgrade().map(|s| s.options.poll_interval) else {
        return;
    };
    let mut poll = tokio::time::interval(interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        poll.tick().await;
        let Some(shared) = shared.upgrade() else {
            return; // the store is gone
        };
        match watch.changed() {
            Ok(true) => shared.bells.ended_elsewhere(),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "looking at the SQLite file for ended tasks failed")
            }
        }
    }
}
