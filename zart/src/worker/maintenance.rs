//! The worker's background services: lease heartbeats, the rescue of expired leases, and
//! forgetting workers that died.

use std::sync::Arc;
use std::time::Duration;

use zart_core::store::Store;

use super::retention::{self, Retention};

/// Extends the leases of every task `worker_id` holds, every `interval`, in one statement.
pub(crate) async fn heartbeat(
    store: Arc<dyn Store>,
    worker_id: String,
    interval: Duration,
    lease: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store.heartbeat(&worker_id, lease).await {
            Ok(extended) => tracing::trace!(extended, "leases extended"),
            Err(error) => tracing::warn!(%error, "heartbeat failed; leases may expire"),
        }
    }
}

/// Every `interval` (with jitter, so that workers started together do not collide), tries
/// to run one maintenance pass. The store lets one worker at a time through; that one also
/// forgets the records of workers silent for longer than `forget_silent_after` and deletes
/// ended tasks older than `retention` keeps. The deletions run beside the rescues, one
/// pass of them at a time: a backlog of old tasks must not hold up the next rescue.
pub(crate) async fn rescue(
    store: Arc<dyn Store>,
    interval: Duration,
    max_rescues: u32,
    forget_silent_after: Duration,
    retention: Retention,
) {
    // Dropped with this loop (the worker's services end by being dropped), which aborts a
    // deletion pass under way.
    let mut deleting = tokio::task::JoinSet::new();
    loop {
        tokio::time::sleep(interval.mul_f64(0.75 + fastrand::f64() / 2.0)).await;
        match store.rescue_expired(max_rescues).await {
            Ok(Some(report)) => {
                crate::metrics::rescued(&report);
                crate::metrics::sample_queues(store.as_ref()).await;
                forget_silent(store.as_ref(), forget_silent_after).await;
                while deleting.try_join_next().is_some() {}
                if deleting.is_empty() {
                    let store = store.clone();
                    deleting.spawn(async move {
                        retention::delete_old(store.as_ref(), &retention).await;
                    });
                }
                if !report.requeued.is_empty() {
                    tracing::warn!(tasks = ?report.requeued, "re-queued tasks whose lease expired");
                }
                if !report.dead.is_empty() {
                    tracing::error!(tasks = ?report.dead, max_rescues, "marked tasks dead: their lease expired too often");
                }
            }
            Ok(None) => tracing::trace!("another worker is running maintenance"),
            Err(error) => tracing::warn!(%error, "maintenance pass failed"),
        }
    }
}

async fn forget_silent(store: &dyn Store, after: Duration) {
    let Some(silent_since) = chrono::Duration::from_std(after)
        .ok()
        .and_then(|after| store.clock().now().checked_sub_signed(after))
    else {
        return;
    };
    match store.forget_workers(silent_since).await {
        Ok(0) => {}
        Ok(forgotten) => tracing::info!(forgotten, "forgot the records of silent workers"),
        Err(error) => tracing::warn!(%error, "forgetting silent workers failed"),
    }
}
