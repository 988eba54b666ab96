//! `LISTEN` on the store's two channels over one connection of its own, reconnecting when
//! it is lost, for every listener of the store at once.
//!
//! The connection is never one of the pool's: a listener holds its connection for as long
//! as it listens, and one held from a small pool (the CLI's has two) would leave every
//! statement waiting for the pool's acquire timeout. It is opened with the pool's connect
//! options when the first listener subscribes, and closed when the last one is gone.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::{broadcast, watch};

use zart_core::queue::Wake;

use crate::error::Described;

/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Notifications a slow subscriber may fall behind by; one further behind is told that it
/// missed some ([`Heard::Connected`]), which makes it look again.
const BACKLOG: usize = 256;

/// What the store's listening connection heard.
#[derive(Clone, Debug)]
pub(crate) enum Heard {
    /// Work was scheduled; the payload is its earliest due instant (epoch milliseconds).
    Scheduled(String),
    /// Tasks ended.
    Ended,
    /// The connection was (re-)established, or the subscriber fell behind: notifications
    /// were lost.
    Connected,
}

/// The store's listening connection, shared by every listener of the store (and of its
/// clones): open while one of them listens.
#[derive(Debug, Default)]
pub(crate) struct Listening {
    hub: Arc<Mutex<Option<broadcast::Sender<Heard>>>>,
}

impl Listening {
    /// Everything heard on `scheduled` and `ended` from now on, listening on a connection
    /// made with `pool`'s options unless one is open already. Ends (`Closed`) when the pool
    /// closes.
    pub(crate) fn subscribe(
        &self,
        pool: &PgPool,
        scheduled: &str,
        ended: &str,
    ) -> broadcast::Receiver<Heard> {
        let mut hub = self.hub.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = hub.as_ref() {
            return sender.subscribe();
        }
        let (sender, receiver) = broadcast::channel(BACKLOG);
        *hub = Some(sender.clone());
        let channels = [scheduled.to_owned(), ended.to_owned()];
        tokio::spawn(run(pool.clone(), channels, sender, self.hub.clone()));
        receiver
    }
}

/// Listens on `channels` and forwards what it hears to `sender`'s subscribers until none
/// is left or `pool` closes, on a one-connection pool of its own.
async fn run(
    pool: PgPool,
    channels: [String; 2],
    sender: broadcast::Sender<Heard>,
    hub: Arc<Mutex<Option<broadcast::Sender<Heard>>>>,
) {
    // No lifetime or idle limit: the connection is replaced only when it breaks.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_lazy_with((*pool.connect_options()).clone());
    let forward = |heard: Heard| {
        // No subscriber right now is no error: the hub retires below.
        let _ = sender.send(heard);
    };
    let retired = async {
        loop {
            sender.closed().await;
            let mut hub = hub.lock().unwrap_or_else(PoisonError::into_inner);
            // A subscriber that came meanwhile keeps it going.
            if sender.receiver_count() == 0 {
                *hub = None;
                return;
            }
        }
    };
    tokio::select! {
        _ = listen(&own, &channels, forward) => {}
        _ = retired => {}
        _ = pool.close_event() => {}
    }
    // Taken down (unless a new connection took its place already), so that subscribers
    // hear that it ended and the next one starts a new connection.
    {
        let mut hub = hub.lock().unwrap_or_else(PoisonError::into_inner);
        if hub.as_ref().is_some_and(|s| s.same_channel(&sender)) {
            *hub = None;
        }
    }
    drop(sender);
    own.close().await;
}

/// Calls `on` for everything heard on `channels`, forever. A lost connection is re-opened,
/// with backoff while the server is unreachable.
async fn listen(own: &PgPool, channels: &[String; 2], on: impl Fn(Heard)) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut listener = match connect(own, channels).await {
            Ok(listener) => listener,
            Err(error) => {
                let error = Described(&error);
                tracing::warn!(%error, ?channels, "cannot listen; polling meanwhile");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        on(Heard::Connected);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) if notification.channel() == channels[1] => on(Heard::Ended),
                Ok(Some(notification)) => on(Heard::Scheduled(notification.payload().to_owned())),
                Ok(None) => {
                    // The connection dropped; try_recv re-opened it and listens again.
                    tracing::info!(?channels, "listener reconnected");
                    on(Heard::Connected);
                }
                Err(error) => {
                    let error = Described(&error);
                    tracing::warn!(%error, ?channels, "listener failed; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

async fn connect(own: &PgPool, channels: &[String; 2]) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(own).await?;
    listener
        .listen_all(channels.iter().map(String::as_str))
        .await?;
    Ok(listener)
}

/// Forwards notifications of new work from `heard` to `wake` until the store's pool closes.
/// Every (re)connection also wakes the worker, since notifications sent meanwhile are gone.
pub(crate) async fn wake_on(
    mut heard: broadcast::Receiver<Heard>,
    wake: &(dyn Fn(Wake) + Send + Sync),
) {
    loop {
        match heard.recv().await {
            Ok(Heard::Scheduled(payload)) => wake(
                payload
                    .parse::<i64>()
                    .ok()
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map_or(Wake::Now, Wake::At),
            ),
            Ok(Heard::Ended) => {}
            Ok(Heard::Connected) | Err(broadcast::error::RecvError::Lagged(_)) => wake(Wake::Now),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// A counter that goes up whenever tasks end (and whenever notifications may have been
/// lost), kept by a background task until its every receiver is dropped or the store's
/// pool closes.
pub(crate) fn count_ended(mut heard: broadcast::Receiver<Heard>) -> watch::Receiver<u64> {
    let (sender, receiver) = watch::channel(0u64);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                next = heard.recv() => match next {
                    Ok(Heard::Scheduled(_)) => {}
                    Ok(Heard::Ended | Heard::Connected)
                    | Err(broadcast::error::RecvError::Lagged(_)) => {
                        sender.send_modify(|n| *n += 1)
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = sender.closed() => return,
            }
        }
    });
    receiver
}
