//! Worker tuning.

use std::time::Duration;

use zart_core::queue::{AppVersions, ClaimScope};
use zart_core::schedules::TICK_TASK;

use super::queue_config::QueueConfig;
use super::retention::Retention;
use crate::error::ConfigError;
use crate::registry::TaskRegistry;

/// How a [`Worker`](crate::scheduler::Worker) claims, runs and guards tasks.
///
/// ```
/// use std::time::Duration;
/// use zart::scheduler::WorkerConfig;
///
/// let config = WorkerConfig {
///     poll_interval: Duration::from_millis(200),
///     max_tasks_per_poll: 10,
///     max_concurrent_tasks: 4,
///     ..Default::default()
/// };
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerConfig {
    /// How often an idle worker looks for due tasks when no notification arrives. New tasks
    /// normally wake workers at once through the backend's notifications; polling is the
    /// fallback (and finds tasks whose due time has come).
    pub poll_interval: Duration,
    /// Most tasks claimed in one round trip.
    pub max_tasks_per_poll: usize,
    /// Most tasks held at once: running, or finished with their outcome not yet stored.
    /// Values below 1 count as 1.
    pub max_concurrent_tasks: usize,
    /// At shutdown, how long in-flight tasks may run on before they are released for
    /// another worker.
    pub shutdown_timeout: Duration,
    /// How long a claim stays valid without a heartbeat. A task whose lease expires (its
    /// worker died or hung) is rescued by the maintenance pass.
    pub lease_duration: Duration,
    /// How often the worker extends the leases of all its tasks (one statement). Keep it
    /// well below `lease_duration`.
    pub heartbeat_interval: Duration,
    /// How often the worker tries to run the maintenance pass (only one worker at a time
    /// actually runs it).
    pub rescue_interval: Duration,
    /// How often a task may be rescued after its lease expired before it is marked dead
    /// instead (a task that keeps killing its worker must not loop forever).
    pub max_rescues: u32,
    /// This worker's id, stored on the tasks it holds. Default: host, process id and a
    /// random suffix.
    pub worker_id: Option<String>,
    /// The queues this worker serves: it claims only the registered tasks in them (see
    /// [`TaskRegistry::set_queue`]). `None`, the default, serves every registered task.
    /// An empty list, or a queue that none of the registered tasks is in, is refused when
    /// the worker starts (a misspelt queue would otherwise leave its tasks unserved without
    /// a word).
    ///
    /// Whatever the queues, a worker claims only tasks it has a handler for (and the
    /// internal ticks of recurring schedules): a task no running worker knows stays pending
    /// until one that knows it starts.
    pub queues: Option<Vec<String>>,
    /// The settings of queues: this process's slots for each, and the limits every worker
    /// honours (see [`QueueConfig`]). A queue without settings has no limits, and its
    /// tasks share `max_concurrent_tasks` with the other queues that have no slots of
    /// their own.
    pub queue_configs: Vec<QueueConfig>,
    /// How long a due task may wait before it is claimed ahead of every task that became
    /// due after it, whatever their priorities: so a steady flow of higher priority work
    /// delays lower priority work by at most about this long, never forever. `None` makes
    /// priorities strict. Default: 5 minutes.
    pub priority_aging: Option<Duration>,
    /// How long ended tasks are kept before the worker that runs maintenance deletes them
    /// with their steps, events and failed attempts. Default: completed a day, failed,
    /// dead and cancelled a week.
    pub retention: Retention,
    /// This worker's application version, and the earlier ones whose durable executions
    /// its code still replays. Each durable execution is recorded with the version of the
    /// worker that began it, and only a worker that knows that version goes on with it: an
    /// execution of a version this worker does not know stays where it is, for a worker
    /// that does (see `docs/durable-changes.md`). Executions recorded with no version (begun
    /// by a worker without one) are taken by every worker. `None`, the default: this worker
    /// records no version and takes every execution.
    pub app_versions: Option<AppVersions>,
}

/// What one claim loop of a worker claims: the tasks of one queue (or Zart's own ticks).
#[derive(Clone, Debug)]
pub(crate) struct QueueScope {
    pub scope: ClaimScope,
    /// The queue's own slots in this process, if it has them.
    pub slots: Option<usize>,
    /// The queue's declared rate limit, if any.
    pub rate: Option<zart_core::controls::RateLimit>,
    /// Whether its declared limits count running tasks (room frees when they end).
    pub limited: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_interval: Duration::from_secs(1),
            max_tasks_per_poll: 100,
            max_concurrent_tasks: 32,
            shutdown_timeout: Duration::from_secs(30),
            lease_duration: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(10),
            rescue_interval: Duration::from_secs(15),
            max_rescues: 3,
            worker_id: None,
            queues: None,
            queue_configs: Vec::new(),
            priority_aging: Some(Duration::from_secs(300)),
            retention: Retention::default(),
            app_versions: None,
        }
    }
}

impl WorkerConfig {
    /// Checks the settings a worker cannot run with: zero intervals, and heartbeats that
    /// come too late to keep leases alive.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("poll_interval", self.poll_interval),
            ("lease_duration", self.lease_duration),
            ("heartbeat_interval", self.heartbeat_interval),
            ("rescue_interval", self.rescue_interval),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, value)| value.is_zero()) {
            return Err(ConfigError(format!("{field} must be longer than zero")));
        }
        if self.heartbeat_interval >= self.lease_duration {
            return Err(ConfigError(format!(
                "heartbeat_interval ({:?}) must be shorter than lease_duration ({:?}), \
                 or leases expire between heartbeats",
                self.heartbeat_interval, self.lease_duration
            )));
        }
        if self.worker_id.as_deref() == Some("") {
            return Err(ConfigError("worker_id must not be empty".to_owned()));
        }
        if let Some(versions) = &self.app_versions {
            if versions.all().iter().any(String::is_empty) {
                return Err(ConfigError(
                    "app_versions names an empty version: name each version".to_owned(),
                ));
            }
        }
        for (i, queue) in self.queue_configs.iter().enumerate() {
            queue.validate()?;
            if self.queue_configs[..i]
                .iter()
                .any(|q| q.name() == queue.name())
            {
                return Err(ConfigError(format!(
                    "queue {:?} has settings twice: give each queue one QueueConfig",
                    queue.name()
                )));
            }
        }
        Ok(())
    }
}

impl WorkerConfig {
    /// What this worker may claim, given what it runs: the handlers of `registry` in the
    /// served [`queues`](Self::queues), one scope per queue, and recurring schedules' ticks
    /// in a scope of their own (no queue's pause or limits hold them up).
    pub(crate) fn claim_scopes(
        &self,
        registry: &TaskRegistry,
    ) -> Result<Vec<QueueScope>, ConfigError> {
        let served = |name: &str| match (&self.queues, registry.queue_of(name)) {
            (None, _) => true,
            (Some(queues), Some(queue)) => queues.iter().any(|served| served == queue),
            (Some(_), None) => false,
        };
        let known = registry.queue_names();
        if let Some(queues) = &self.queues {
            if queues.is_empty() {
                return Err(ConfigError(
                    "queues is empty: the worker would run no task (leave it `None` to serve \
                     every registered task)"
                        .to_owned(),
                ));
            }
            if let Some(unknown) = queues.iter().find(|q| !known.contains(&q.as_str())) {
                return Err(ConfigError(format!(
                    "queues names {unknown:?}, but no registered task is in it (queues of \
                     the registered tasks: {})",
                    known.join(", ")
                )));
            }
        }
        if let Some(unknown) = self
            .queue_configs
            .iter()
            .find(|q| !known.contains(&q.name()))
        {
            return Err(ConfigError(format!(
                "queue_configs has settings for {:?}, but no registered task is in it \
                 (queues of the registered tasks: {})",
                unknown.name(),
                known.join(", ")
            )));
        }
        let mut scopes: Vec<QueueScope> = known
            .iter()
            .map(|queue| {
                let names: Vec<String> = registry
                    .names()
                    .into_iter()
                    .filter(|name| served(name) && registry.queue_of(name) == Some(queue))
                    .map(str::to_owned)
                    .collect();
                let durable = registry
                    .durable_names()
                    .iter()
                    .filter(|name| names.contains(name))
                    .cloned()
                    .collect();
                let config = self.queue_configs.iter().find(|q| q.name() == *queue);
                QueueScope {
                    scope: ClaimScope {
                        names: Some(names),
                        durable,
                        queue: Some((*queue).to_owned()),
                        priority_aging: self.priority_aging,
                        app_versions: self.app_versions.clone(),
                    },
                    slots: config.and_then(QueueConfig::local_concurrency),
                    rate: config.and_then(QueueConfig::rate),
                    limited: config.is_some_and(QueueConfig::counts_running),
                }
            })
            .filter(|queue| queue.scope.names.as_ref().is_some_and(|n| !n.is_empty()))
            .collect();
        scopes.push(QueueScope {
            scope: ClaimScope {
                names: Some(vec![TICK_TASK.to_owned()]),
                durable: Vec::new(),
                queue: None,
                priority_aging: self.priority_aging,
                app_versions: None,
            },
            slots: None,
            rate: None,
            limited: false,
        });
        Ok(scopes)
    }
}

pub(crate) fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
    format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid() {
        assert_eq!(WorkerConfig::default().validate(), Ok(()));
    }

    #[test]
    fn zero_intervals_and_late_heartbeats_are_refused() {
        let zero_poll = WorkerConfig {
            poll_interval: Duration::ZERO,
            ..WorkerConfig::default()
        };
        let message = zero_poll.validate().map_err(|e| e.to_string());
        assert_eq!(
            message,
            Err("invalid worker configuration: poll_interval must be longer than zero".into())
        );
        let late = WorkerConfig {
            heartbeat_interval: Duration::from_secs(30),
            lease_duration: Duration::from_secs(30),
            ..WorkerConfig::default()
        };
        assert!(late.validate().is_err());
        let zero_heartbeat = WorkerConfig {
            heartbeat_interval: Duration::ZERO,
            ..WorkerConfig::default()
        };
        assert!(zero_heartbeat.validate().is_err());
    }

    #[test]
    fn a_worker_claims_what_it_runs_in_the_queues_it_serves_and_ticks() {
        struct Noop;
        #[async_trait::async_trait]
        impl crate::task::ScheduledTask for Noop {
            async fn execute(
                &self,
                _: &crate::task::TaskInstance,
            ) -> Result<Box<dyn crate::task::CompletionHandler>, crate::task::SchedulerTaskError>
            {
                Ok(crate::task::OnComplete::done())
            }
        }
        let mut registry = TaskRegistry::new();
        registry
            .register("send", Noop)
            .set_queue("send", "emails")
            .register("resize", Noop);

        let everything = WorkerConfig::default().claim_scopes(&registry);
        let names = |scopes: Result<Vec<QueueScope>, ConfigError>| {
            scopes.map(|scopes| {
                scopes
                    .into_iter()
                    .map(|q| (q.scope.queue, q.scope.names.unwrap_or_default()))
                    .collect::<Vec<_>>()
            })
        };
        let queue = |name: &str, names: &[&str]| {
            let names = names.iter().map(|n| n.to_string()).collect();
            (Some(name.to_owned()).filter(|n| !n.is_empty()), names)
        };
        assert_eq!(
            names(everything),
            Ok(vec![
                queue("default", &["resize"]),
                queue("emails", &["send"]),
                queue("", &[TICK_TASK]),
            ])
        );
        let emails = WorkerConfig {
            queues: Some(vec!["emails".into()]),
            ..WorkerConfig::default()
        };
        assert_eq!(
            names(emails.claim_scopes(&registry)),
            Ok(vec![queue("emails", &["send"]), queue("", &[TICK_TASK])])
        );
        let none = WorkerConfig {
            queues: Some(Vec::new()),
            ..WorkerConfig::default()
        };
        assert!(
            none.claim_scopes(&registry).is_err(),
            "an empty list runs nothing"
        );
    }
}
