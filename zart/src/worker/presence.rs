//! A worker's record of itself in the store, kept while it runs: what the admin shows as
//! the live workers, and where the queue of each task name comes from.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use zart_core::queue::ClaimScope;
use zart_core::schedules::TICK_TASK;
use zart_core::store::Store;
use zart_core::workers::{DeclaredTask, WorkerRecord};

use super::config::WorkerConfig;
use crate::registry::{TaskRegistry, DEFAULT_QUEUE};

/// A worker silent for this many heartbeat intervals is taken for dead and forgotten.
const SILENT_INTERVALS: u32 = 10;

/// The record of a worker about to run what `scopes` let it claim.
pub(crate) fn record(
    worker_id: &str,
    config: &WorkerConfig,
    registry: &TaskRegistry,
    scopes: &[ClaimScope],
) -> WorkerRecord {
    let tasks = scopes
        .iter()
        .flat_map(|scope| {
            scope
                .names
                .iter()
                .flatten()
                .filter(|name| name.as_str() != TICK_TASK)
                .map(|name| DeclaredTask {
                    task_name: name.clone(),
                    queue: registry.queue_of(name).unwrap_or(DEFAULT_QUEUE).to_owned(),
                    durable: scope.durable.contains(name),
                })
        })
        .collect();
    let now = Utc::now();
    WorkerRecord {
        worker_id: worker_id.to_owned(),
        host: host_name(),
        pid: std::process::id(),
        queues: config.queues.clone().unwrap_or_default(),
        tasks,
        concurrency: u32::try_from(config.max_concurrent_tasks).unwrap_or(u32::MAX),
        started_at: now,
        heartbeat_at: now,
    }
}

/// How long a worker must be silent before maintenance forgets it.
pub(crate) fn silence_limit(heartbeat_interval: Duration) -> Duration {
    (heartbeat_interval * SILENT_INTERVALS).max(Duration::from_secs(60))
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Records the worker, then says every `interval` that it is alive, recording it again if
/// its record was forgotten (after a long outage, say). A failed write is retried at the
/// next interval: the record is for people, the work goes on without it.
pub(crate) async fn keep(store: Arc<dyn Store>, record: WorkerRecord, interval: Duration) {
    let mut recorded = false;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let written = match recorded {
            true => store.beat_worker(&record.worker_id).await,
            false => store.record_worker(&record).await.map(|()| true),
        };
        match written {
            Ok(present) => recorded = present,
            Err(error) => tracing::warn!(%error, "refreshing the worker's record failed"),
        }
    }
}

/// Deletes the worker's record as it stops.
pub(crate) async fn remove(store: &dyn Store, worker_id: &str) {
    if let Err(error) = store.remove_worker(worker_id).await {
        tracing::warn!(%error, "removing the worker's record failed; maintenance forgets it later");
    }
}
