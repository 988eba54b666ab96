//! `LISTEN` on a channel, reconnecting when the connection is lost.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

use zart_core::queue::Wake;

/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a listener hears.
enum Heard<'a> {
    /// A notification with its payload.
    Notification(&'a str),
    /// The connection was (re-)established: notifications sent meanwhile are lost.
    Connected,
}

/// Calls `on` for every notification on `channel`, forever (until the pool closes or
/// `on` says stop by returning `false`). A lost connection is re-opened, with backoff while
/// the server is unreachable.
async fn listen(pool: &PgPool, channel: &str, mut on: impl FnMut(Heard<'_>) -> bool) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut listener = match connect(pool, channel).await {
            Ok(listener) => listener,
            Err(_) if pool.is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, channel, "cannot listen; polling meanwhile");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        if !on(Heard::Connected) {
            return;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if !on(Heard::Notification(notification.payload())) {
                        return;
                    }
                }
                Ok(None) => {
                    // The connection dropped; the next try_recv reconnects and re-listens.
                    tracing::info!(channel, "listener reconnecting");
                    if !on(Heard::Connected) {
                        return;
                    }
                }
                Err(_) if pool.is_closed() => return,
                Err(error) => {
                    tracing::warn!(%error, channel, "listener failed; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

/// Forwards notifications of new tasks on `channel` to `wake` until the pool closes. Every
/// (re)connection also wakes the worker, since notifications sent meanwhile are gone.
pub(crate) async fn run(pool: &PgPool, channel: &str, wake: &(dyn Fn(Wake) + Send + Sync)) {
    listen(pool, channel, |heard| {
        let heard = match heard {
            Heard::Notification(payload) => payload
                .parse::<i64>()
                .ok()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map_or(Wake::Now, Wake::At),
            Heard::Connected => Wake::Now,
        };
        wake(heard);
        true
    })
    .await;
}

/// A counter that goes up whenever tasks end (notifications on `channel`), kept by a
/// background task until every receiver is dropped.
pub(crate) fn watch_ended(pool: PgPool, channel: String) -> watch::Receiver<u64> {
    let (sender, receiver) = watch::channel(0u64);
    tokio::spawn(async move {
        let heard = |_: Heard<'_>| {
            sender.send_modify(|n| *n += 1);
            !sender.is_closed()
        };
        tokio::select! {
            _ = listen(&pool, &channel, heard) => {}
            _ = sender.closed() => {}
        }
    });
    receiver
}

async fn connect(pool: &PgPool, channel: &str) -> std::result::Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}
