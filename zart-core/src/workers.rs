//! Worker processes as they record themselves while alive ([`WorkerRecord`]), and the
//! tasks they declare they run ([`DeclaredTask`]): what the admin shows of workers and
//! queues, since neither lives in the task table.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A worker process, as it records itself when it starts and keeps fresh while it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerRecord {
    /// The worker's id (the one its leases carry).
    pub worker_id: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The queues it serves; empty when it serves every queue.
    pub queues: Vec<String>,
    /// The tasks it runs.
    pub tasks: Vec<DeclaredTask>,
    /// How many tasks it runs at once, at most.
    pub concurrency: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last said it was alive. Set by the store; what a writer puts here is
    /// ignored.
    pub heartbeat_at: DateTime<Utc>,
}

/// A task name a worker runs, with its queue and kind. The store keeps the latest
/// declaration of each name, also after its workers are gone.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeclaredTask {
    /// The task name.
    pub task_name: String,
    /// The queue it is in.
    pub queue: String,
    /// Whether it is a durable execution (it has a step log).
    pub durable: bool,
}
