//! Waiting for a task or an execution to end: woken by the store's notifications, with a
//! look now and then in case one was lost.

use std::time::Duration;

use zart_core::store::Store;
use zart_core::task::TaskRecord;

use crate::error::{Error, Result};

/// How often a waiter looks again when no notification came: notifications can be lost
/// (a reconnecting listener).
pub(crate) const LOOK_AGAIN_EVERY: Duration = Duration::from_secs(1);

/// Waits until task `task_id` has ended, at most `timeout`, and returns its record (check
/// its status to tell an end from a timeout). Looks again at least every `look_again`.
/// [`Error::NotFound`] for an unknown id.
pub(crate) async fn wait(
    store: &dyn Store,
    task_id: &str,
    timeout: Duration,
    look_again: Duration,
) -> Result<TaskRecord> {
    // Subscribed before the first look, so that an end between the look and the wait is
    // not missed.
    let mut ended = store.ended().await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let look_again = look_again.max(Duration::from_millis(1));
    loop {
        let record = store
            .task(task_id)
            .await?
            .ok_or_else(|| Error::NotFound(task_id.to_owned()))?;
        let now = tokio::time::Instant::now();
        if record.status.is_terminal() || now >= deadline {
            return Ok(record);
        }
        let pause = (deadline - now).min(look_again);
        tokio::select! {
            _ = ended.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
