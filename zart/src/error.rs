//! The errors of Zart's scheduling, storage and worker APIs: the bottom of the engine, so
//! that every other module can name them.

use zart_core::schedules::RecurringError;
use zart_core::StoreError;

/// `Result` with Zart's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when scheduling, storing or running tasks.
///
/// Errors raised *by a task handler* are
/// [`SchedulerTaskError`](crate::scheduler::SchedulerTaskError); they are stored on the
/// task, never returned here.
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

    /// Limits no queue can be claimed under (set with
    /// [`Zart::set_queue_limits`](crate::Zart::set_queue_limits)); nothing was stored.
    #[error("invalid limits for queue {queue:?}: {reason}")]
    InvalidQueueLimits {
        /// The queue.
        queue: String,
        /// What is wrong with them.
        reason: String,
    },

    /// A task was refused before it reached the store.
    #[error("invalid task {task_id:?}: {reason}")]
    InvalidTask {
        /// The id of the refused task (cut short if it is very long).
        task_id: String,
        /// Why it was refused.
        reason: String,
    },

    /// The task registry is inconsistent (for example two handlers under one name).
    #[error(transparent)]
    Registry(#[from] RegistryError),

    /// The worker's configuration cannot work (see
    /// [`WorkerConfig::validate`](crate::scheduler::WorkerConfig::validate)).
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The store refused or failed an operation; its [`kind`](StoreError::kind) says
    /// whether trying again may help.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// [`Worker::run`](crate::scheduler::Worker::run) was called while the worker was
    /// already running.
    #[error("this worker is already running")]
    WorkerAlreadyRunning,

    /// A worker was started outside a Tokio runtime.
    #[error("a worker is started on a Tokio runtime: call start from within one")]
    NoRuntime,

    /// A worker's run ended abnormally (it panicked or was aborted).
    #[error("the worker stopped abnormally: {0}")]
    WorkerStopped(String),

    /// No store driver handles this URL.
    #[error("no store for {url:?}: {reason}")]
    UnsupportedUrl {
        /// The URL, without its password.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// Whether the operation was refused, so that running it again unchanged cannot
    /// succeed: input refused before it reached the store (an invalid task, such as an
    /// empty or over-long id, queue limits, a registry, a configuration, a URL), an id that
    /// exists or does not, or the store's own refusal (data it cannot store, a violated
    /// constraint, a missing table). Lost connections, timeouts, serialization failures
    /// and deadlocks are not rejections, nor is a worker's state.
    pub fn is_rejection(&self) -> bool {
        match self {
            Error::Store(error) => !error.is_transient(),
            Error::InvalidTask { .. }
            | Error::InvalidQueueLimits { .. }
            | Error::Registry(_)
            | Error::Config(_)
            | Error::UnsupportedUrl { .. }
            | Error::AlreadyExists(_)
            | Error::NotFound(_) => true,
            Error::WorkerAlreadyRunning | Error::NoRuntime | Error::WorkerStopped(_) => false,
        }
    }
}

/// A registration the registry refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A handler is already registered under this name.
    #[error("a handler is already registered for task name {0:?}")]
    DuplicateName(String),
    /// Task names must not be empty.
    #[error("task names must not be empty")]
    EmptyName,
    /// A recurring task is already registered under this schedule id.
    #[error("a recurring task is already registered for schedule id {0:?}")]
    DuplicateSchedule(String),
    /// A recurring task cannot be registered.
    #[error(transparent)]
    InvalidRecurring(#[from] RecurringError),
    /// A task takes a [`State`](crate::State) of a type that was not registered.
    #[error("task {task:?} takes State<{state}>, but no state of that type is registered (WorkerBuilder::state / TaskRegistry::state)")]
    MissingState {
        /// The task's name.
        task: String,
        /// The state's type.
        state: &'static str,
    },
    /// A queue was set for a name no handler is registered under.
    #[error("cannot put task {0:?} in a queue: no handler is registered under that name")]
    NotRegistered(String),
    /// Queue names must not be empty.
    #[error("task {0:?} cannot go in a queue with an empty name")]
    EmptyQueue(String),
    /// A state of this type is registered already.
    #[error("a state of type {0} is registered already")]
    DuplicateState(&'static str),
}

/// A [`WorkerConfig`](crate::scheduler::WorkerConfig) a worker cannot run with; the message
/// names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid worker configuration: {0}")]
pub struct ConfigError(pub(crate) String);

/// The text of a panic's payload.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "(a non-string panic payload)"
    }
}

#[cfg(test)]
mod tests {
    use zart_core::error::ErrorKind;

    use super::*;

    #[test]
    fn refusals_are_rejections_and_a_lost_connection_is_not() {
        let refused = [
            Error::InvalidQueueLimits {
                queue: String::new(),
                reason: "a queue's name must not be empty".into(),
            },
            Error::Registry(RegistryError::EmptyName),
            Error::Config(ConfigError("poll_interval must be positive".into())),
            Error::UnsupportedUrl {
                url: "mysql://db".into(),
                reason: "no driver".into(),
            },
            Error::Store(StoreError::new(
                ErrorKind::Rejected,
                "insert",
                "value too long",
            )),
            Error::AlreadyExists(vec!["r-1".into()]),
            Error::NotFound("r-1".into()),
        ];
        for error in refused {
            assert!(error.is_rejection(), "{error} is not a rejection");
        }
        let lost = Error::Store(StoreError::new(ErrorKind::Transient, "insert", "reset"));
        assert!(!lost.is_rejection(), "{lost} is a rejection");
    }
}
