//! `LISTEN` for new tasks, reconnecting when the connection is lost.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;

use crate::backend::WakeSignal;
use crate::error::Result;

/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Forwards notifications on `channel` to `wake` forever. A lost connection is re-opened
/// (with backoff while the server is unreachable); since notifications sent meanwhile are
/// gone, every reconnection also wakes the worker so that it looks for due work.
pub(crate) async fn run(pool: &PgPool, channel: &str, wake: WakeSignal) -> Result<()> {
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut listener = match connect(pool, channel).await {
            Ok(listener) => listener,
            Err(_) if pool.is_closed() => return Ok(()),
            Err(error) => {
                tracing::warn!(%error, channel, "cannot listen for new tasks; polling meanwhile");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        wake.wake();
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => match notification.payload().parse::<i64>() {
                    Ok(due) => wake.due_at_millis(due),
                    Err(_) => wake.wake(),
                },
                Ok(None) => {
                    // The connection dropped; the next try_recv reconnects and re-listens.
                    tracing::info!(channel, "task listener reconnecting");
                    wake.wake();
                }
                Err(_) if pool.is_closed() => return Ok(()),
                Err(error) => {
                    tracing::warn!(%error, channel, "task listener failed; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

async fn connect(pool: &PgPool, channel: &str) -> std::result::Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}
