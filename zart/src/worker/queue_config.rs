//! A queue's settings as a worker's code declares them: how many of its tasks this process
//! runs at once, and the limits every worker honours (stored, so that all see the same).

use std::time::Duration;

use zart_core::controls::{KeyLimit, QueueDeclaration, QueueLimits, RateLimit};

use crate::error::ConfigError;

/// The settings of one queue, given to a worker with
/// [`WorkerBuilder::queue`](crate::WorkerBuilder::queue).
///
/// Limits hold across every worker on the database: a worker that starts stores its
/// queues' limits (the latest declaration of a queue wins), and every claim in the queue
/// honours what is stored. A queue may also be paused from outside
/// ([`Zart::pause_queue`](crate::Zart::pause_queue)): that is not part of its settings, and
/// a worker that starts leaves it as it is.
///
/// ```
/// use std::time::Duration;
/// use zart::scheduler::QueueConfig;
///
/// let emails = QueueConfig::new("emails")
///     .concurrency(8) // this process runs at most 8 of its tasks at once
///     .global_limit(20) // all workers together run at most 20
///     .limit_per_key("tenant_id", 2) // at most 2 of one tenant at once
///     .rate_limit(100, Duration::from_secs(60)); // at most 100 starts a minute
/// assert_eq!(emails.name(), "emails");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    name: String,
    concurrency: Option<usize>,
    limits: QueueLimits,
}

impl QueueConfig {
    /// Settings for queue `name`, with no limits.
    pub fn new(name: impl Into<String>) -> Self {
        QueueConfig {
            name: name.into(),
            concurrency: None,
            limits: QueueLimits::default(),
        }
    }

    /// The queue.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// At most `n` of the queue's tasks run at once in this worker process (its own
    /// slots, apart from [`WorkerConfig::max_concurrent_tasks`](crate::scheduler::WorkerConfig::max_concurrent_tasks),
    /// which the queues without this setting share).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n);
        self
    }

    /// At most `n` of the queue's tasks run at once across every worker.
    pub fn global_limit(mut self, n: u32) -> Self {
        self.limits.concurrency = Some(n);
        self
    }

    /// At most `n` tasks of one key run at once across every worker, while other keys
    /// proceed. A task's key is the value in its input at `field`, a dotted path
    /// (`"tenant_id"`, `"customer.id"`); a task whose input has nothing there is not held
    /// back by this limit.
    pub fn limit_per_key(mut self, field: impl Into<String>, n: u32) -> Self {
        self.limits.per_key = Some(KeyLimit {
            field: field.into(),
            limit: n,
        });
        self
    }

    /// At most `n` of the queue's tasks start in any window of `period`, across every
    /// worker.
    pub fn rate_limit(mut self, n: u32, period: Duration) -> Self {
        self.limits.rate = Some(RateLimit { limit: n, period });
        self
    }

    /// This process's own slots for the queue, if it has them.
    pub(crate) fn local_concurrency(&self) -> Option<usize> {
        self.concurrency
    }

    /// The limits, as stored.
    pub(crate) fn declaration(&self) -> QueueDeclaration {
        QueueDeclaration {
            queue: self.name.clone(),
            limits: self.limits.clone(),
        }
    }

    /// The rate limit, if any.
    pub(crate) fn rate(&self) -> Option<RateLimit> {
        self.limits.rate
    }

    /// Whether a limit counts running tasks (so room frees when tasks end).
    pub(crate) fn counts_running(&self) -> bool {
        self.limits.concurrency.is_some() || self.limits.per_key.is_some()
    }

    /// Checks what no worker can run with: an empty name, zero limits, a bad key field.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.name;
        let refuse = |why: String| Err(ConfigError(format!("queue {name:?}: {why}")));
        if name.is_empty() {
            return Err(ConfigError("a queue's name must not be empty".to_owned()));
        }
        if self.concurrency == Some(0) {
            return refuse("concurrency must be at least 1".into());
        }
        self.limits.check().or_else(refuse)
    }
}
