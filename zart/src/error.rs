//! The error type of Zart's scheduling, storage and worker APIs.

use crate::registry::RegistryError;
use crate::table_names::TableNamesError;

/// `Result` with Zart's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when scheduling, storing or running tasks.
///
/// Errors raised *by a task handler* are [`SchedulerTaskError`](crate::SchedulerTaskError);
/// they are stored on the task, never returned here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Task ids are idempotency keys: these ids already exist, and nothing was scheduled.
    /// Use an `*_if_absent` method to skip existing ids instead.
    #[error("task id(s) already exist: {}", .0.join(", "))]
    AlreadyExists(Vec<String>),

    /// No task has this id.
    #[error("no task {0:?}")]
    NotFound(String),

    /// A task was rejected before it reached the database.
    #[error("invalid task {task_id:?}: {reason}")]
    InvalidTask {
        /// The id of the rejected task.
        task_id: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A table prefix or schema name is not a plain identifier.
    #[error(transparent)]
    TableNames(#[from] TableNamesError),

    /// The task registry is inconsistent (for example two handlers under one name).
    #[error(transparent)]
    Registry(#[from] RegistryError),

    /// The worker's configuration cannot work (see [`WorkerConfig::validate`](crate::WorkerConfig::validate)).
    #[error(transparent)]
    Config(#[from] crate::worker::ConfigError),

    /// The database refused or failed an operation.
    #[error("database error while {context}: {source}")]
    Database {
        /// What Zart was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// An embedded migration failed; the transaction was rolled back, nothing was applied.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// The migration's version number.
        version: i64,
        /// The migration's name.
        name: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// [`Worker::run`](crate::Worker::run) was called while the worker was already running.
    #[error("this worker is already running")]
    WorkerAlreadyRunning,

    /// [`WorkerBuilder::start`](crate::WorkerBuilder::start) was called outside a Tokio
    /// runtime.
    #[error("a worker is started on a Tokio runtime: call start from within one")]
    NoRuntime,

    /// A worker's run ended abnormally (it panicked or was aborted).
    #[error("the worker stopped abnormally: {0}")]
    WorkerStopped(String),
}

impl Error {
    /// Whether the database refused the statement itself (data it cannot store, a violated
    /// constraint, a missing table), so that running it again cannot succeed. Connection
    /// failures, timeouts, serialization failures and deadlocks are not rejections.
    pub fn is_rejection(&self) -> bool {
        let source = match self {
            Error::Database { source, .. } | Error::Migration { source, .. } => source,
            _ => return false,
        };
        let sqlx::Error::Database(error) = source else {
            return false;
        };
        let class = error
            .code()
            .map(|code| code.chars().take(2).collect::<String>());
        // 08 connection, 40 rollback (serialization, deadlock), 53 resources, 55 lock
        // not available, 57 operator intervention (shutdown, cancel): worth retrying.
        !matches!(class.as_deref(), Some("08" | "40" | "53" | "55" | "57"))
    }
}

/// Wraps a driver error with what Zart was doing when it happened.
pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Database { context, source }
}
