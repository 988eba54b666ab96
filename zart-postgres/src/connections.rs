//! Connections from the pool, without waiting in silence.
//!
//! When the server refuses new connections (every slot taken, a role's or a database's
//! limit reached), sqlx's pool retries inside `acquire` with no error and no log until its
//! acquire timeout, and its pauses between tries grow to a fifth of that timeout: the work
//! stalls for seconds with nothing said, and goes on seconds after the server has room
//! again. It does not take a connection that another statement of this process returns
//! meanwhile either, since it is busy opening its own. [`Connections::acquire`] reports a
//! wait past [`SLOW_WAIT`] with the server's reason, and starts an acquire that is opening a
//! connection over every [`RETRY_OPEN_AFTER`], which takes a returned connection or tries
//! the server again at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{ConnectOptions, Connection, PgPool, Postgres};
use tokio::time::Instant;

/// A wait for a connection longer than this is logged (and counted).
pub(crate) const SLOW_WAIT: Duration = Duration::from_millis(500);

/// How long an acquire that is opening a connection goes on before it starts over.
const RETRY_OPEN_AFTER: Duration = Duration::from_millis(200);

/// At most one report per pool this often: a full server makes every statement wait.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// How long opening the kept connections may hold the ones already open.
const OPEN_WITHIN: Duration = Duration::from_secs(2);

/// How long the report's own connection attempt (to learn the server's reason) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens `count` connections in the pool at once (the pool keeps its minimum only by
/// replacing connections that close, so a fresh pool would otherwise open them one by one
/// as statements need them, perhaps when the server has no room left).
pub(crate) async fn open(connections: Arc<Connections>, count: u32) {
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..count {
        let connections = connections.clone();
        opening.spawn(async move { connections.acquire().await });
    }
    // All are held until all are open: one returned early would be taken again by the
    // next acquire instead of a new one being opened. But not for long: held while the
    // server refuses the rest, they would starve the store's own statements.
    let mut opened = Vec::new();
    let all = async {
        while let Some(result) = opening.join_next().await {
            if let Ok(Ok(connection)) = result {
                opened.push(connection);
            }
        }
    };
    if tokio::time::timeout(OPEN_WITHIN, all).await.is_err() || opened.len() < count as usize {
        tracing::warn!(
            pool = %connections.describe(),
            opened = opened.len(),
            kept = count,
            "cannot open all the connections the pool keeps; it opens more as statements need them"
        );
    }
}

/// The pool, and what its slow waits have been.
#[derive(Debug)]
pub(crate) struct Connections {
    pool: PgPool,
    slow_waits: AtomicU64,
    last_report: Mutex<Option<Instant>>,
}

impl Connections {
    pub(crate) fn new(pool: PgPool) -> Self {
        Connections {
            pool,
            slow_waits: AtomicU64::new(0),
            last_report: Mutex::new(None),
        }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How many acquires have waited longer than [`SLOW_WAIT`].
    pub(crate) fn slow_waits(&self) -> u64 {
        self.slow_waits.load(Ordering::Relaxed)
    }

    /// A connection from the pool, within the pool's acquire timeout (then
    /// `sqlx::Error::PoolTimedOut`, as the pool's own acquire fails).
    pub(crate) async fn acquire(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        let started = Instant::now();
        let give_up = started + self.pool.options().get_acquire_timeout();
        let mut attempt = Box::pin(self.pool.acquire());
        let mut slow = false;
        loop {
            if let Ok(acquired) = tokio::time::timeout(RETRY_OPEN_AFTER, &mut attempt).await {
                if slow && acquired.is_ok() {
                    tracing::info!(
                        pool = %self.describe(),
                        waited_ms = started.elapsed().as_millis() as u64,
                        "got a PostgreSQL connection after waiting"
                    );
                }
                return acquired;
            }
            if Instant::now() >= give_up {
                return Err(sqlx::Error::PoolTimedOut);
            }
            if !slow && started.elapsed() >= SLOW_WAIT {
                slow = true;
                self.slow_waits.fetch_add(1, Ordering::Relaxed);
                self.report(started.elapsed());
            }
            if self.opening() {
                attempt = Box::pin(self.pool.acquire());
            }
        }
    }

    /// Whether a waiting acquire must be opening a connection rather than waiting for one
    /// of the pool's to come back: the pool has room, or it holds an idle connection that
    /// the acquire did not take.
    fn opening(&self) -> bool {
        self.pool.size() < self.pool.options().get_max_connections() || self.pool.num_idle() > 0
    }

    /// Logs a slow wait with its cause, unless another wait was reported moments ago. The
    /// log is written by a task of its own: learning the server's reason takes a
    /// connection attempt, which the waiting statement must not wait for as well.
    fn report(&self, waited: Duration) {
        {
            let mut last = self
                .last_report
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < REPORT_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let open = self.pool.size();
        let idle = self.pool.num_idle() as u32;
        let max = self.pool.options().get_max_connections();
        let (pool, described) = (self.pool.clone(), self.describe());
        tokio::spawn(async move {
            let reason = match open >= max && idle == 0 {
                true => format!("all {max} connections of the pool are in use"),
                false => server_reason(&pool).await,
            };
            tracing::warn!(
                pool = %described,
                waited_ms = waited.as_millis() as u64,
                in_use = open.saturating_sub(idle),
                open,
                max,
                %reason,
                "waiting for a PostgreSQL connection"
            );
        });
    }

    /// The pool as an operator knows it: user, server and database.
    fn describe(&self) -> String {
        let options = self.pool.connect_options();
        format!(
            "{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        )
    }
}

/// What the server answers a new connection: why the pool cannot open one.
async fn server_reason(pool: &PgPool) -> String {
    let options = pool.connect_options();
    match tokio::time::timeout(PROBE_TIMEOUT, options.connect()).await {
        Ok(Err(error)) => format!(
            "the server refuses new connections: {}",
            crate::error::Described(&error)
        ),
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            "the server accepts connections again".to_owned()
        }
        Err(_) => format!(
            "opening a connection takes longer than {} s",
            PROBE_TIMEOUT.as_secs()
        ),
    }
}
