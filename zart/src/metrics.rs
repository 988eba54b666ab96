//! Metrics through the [`metrics`](https://docs.rs/metrics) facade: what the queue, the
//! workers and durable steps record, under the names listed here.
//!
//! Zart records into whatever recorder the program installs (Prometheus, StatsD, ...); with
//! none installed, recording costs next to nothing. Call [`describe`] once after installing
//! the recorder so that each metric carries its unit and description. `docs/metrics.md`
//! says when each one is recorded.
//!
//! ```
//! // Once, after installing the recorder (see docs/metrics.md for Prometheus and the admin):
//! zart::metrics::describe();
//! assert_eq!(zart::metrics::TASKS_COMPLETED, "zart_tasks_completed_total");
//! ```
//!
//! Counters and histograms describe the work of the process that records them: add them
//! up across processes. The queue gauges describe the whole store, as sampled by whichever
//! worker ran the last maintenance pass: read them with `max()`, not `sum()`, across
//! processes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use ::metrics::Unit;
use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use chrono::{DateTime, Utc};

use zart_core::inspect::TaskLoad;
use zart_core::queue::{OutcomeKind, RescueReport};
use zart_core::store::Store;
use zart_core::task::{NewTask, RESERVED_PREFIX};
use zart_core::workers::DeclaredTask;
use zart_core::StoreError;

use crate::registry::{TaskRegistry, DEFAULT_QUEUE};

/// Tasks put into the store: scheduled by a program, as follow-ups, as children of a
/// durable execution or as runs of a recurring schedule. Counter; label `task_name`.
pub const TASKS_SCHEDULED: &str = "zart_tasks_scheduled_total";
/// Attempts that began: a worker claimed a task and ran its handler. Counter; labels
/// `task_name`, `queue`.
pub const TASKS_STARTED: &str = "zart_tasks_started_total";
/// Tasks that completed (the store accepted the outcome). Counter; labels `task_name`,
/// `queue`.
pub const TASKS_COMPLETED: &str = "zart_tasks_completed_total";
/// Tasks that failed for good: no retry is left or the error is permanent. Counter;
/// labels `task_name`, `queue`.
pub const TASKS_FAILED: &str = "zart_tasks_failed_total";
/// Failed attempts whose task is retried later. Counter; labels `task_name`, `queue`.
pub const TASKS_RETRIED: &str = "zart_tasks_retried_total";
/// Tasks whose lease expired (their worker died or stalled), put back to pending by a
/// maintenance pass. Counter, no label (a pass reports task ids only).
pub const TASKS_RESCUED: &str = "zart_tasks_rescued_total";
/// Tasks whose lease expired too often, marked dead by a maintenance pass. Counter, no
/// label.
pub const TASKS_DEAD: &str = "zart_tasks_dead_total";
/// How long a task waited from its due instant until a worker claimed it. Histogram in
/// seconds; labels `task_name`, `queue`.
pub const TASK_START_DELAY: &str = "zart_task_start_delay_seconds";
/// How long an attempt ran, from its start until its handler returned. Histogram in
/// seconds; labels `task_name`, `queue`.
pub const TASK_ATTEMPT_DURATION: &str = "zart_task_attempt_duration_seconds";
/// How long a step's body ran, per attempt that ran (a replayed step records nothing).
/// Histogram in seconds; labels `task_name`, `step`.
pub const STEP_DURATION: &str = "zart_step_duration_seconds";
/// How long a step waited for its checkpoint to be written to the store. Histogram in
/// seconds, no label.
pub const CHECKPOINT_WRITE_DURATION: &str = "zart_checkpoint_write_duration_seconds";
/// Pending tasks that are due, per queue. Gauge, sampled by maintenance; label `queue`.
pub const QUEUE_DUE: &str = "zart_queue_due_tasks";
/// Running tasks, per queue. Gauge, sampled by maintenance; label `queue`.
pub const QUEUE_RUNNING: &str = "zart_queue_running_tasks";
/// How long the oldest due pending task of the queue has waited (0 with none). Gauge in
/// seconds, sampled by maintenance; label `queue`.
pub const QUEUE_OLDEST_DUE_AGE: &str = "zart_queue_oldest_due_age_seconds";

/// The label naming the task.
pub const TASK_NAME_LABEL: &str = "task_name";
/// The label naming the queue.
pub const QUEUE_LABEL: &str = "queue";
/// The label naming the step.
pub const STEP_LABEL: &str = "step";

/// Gives every metric its unit and description in the installed recorder. Call it after
/// installing the recorder (a recorder installed later knows nothing of earlier calls);
/// calling it again is harmless.
pub fn describe() {
    let counters = [
        (TASKS_SCHEDULED, "Tasks put into the store."),
        (TASKS_STARTED, "Attempts that began."),
        (TASKS_COMPLETED, "Tasks that completed."),
        (TASKS_FAILED, "Tasks that failed for good."),
        (
            TASKS_RETRIED,
            "Failed attempts whose task is retried later.",
        ),
        (
            TASKS_RESCUED,
            "Tasks put back to pending after their lease expired.",
        ),
        (
            TASKS_DEAD,
            "Tasks marked dead: their lease expired too often.",
        ),
    ];
    for (name, description) in counters {
        describe_counter!(name, Unit::Count, description);
    }
    let histograms = [
        (
            TASK_START_DELAY,
            "Time from a task's due instant until its claim.",
        ),
        (TASK_ATTEMPT_DURATION, "Time an attempt ran."),
        (STEP_DURATION, "Time a step's body ran, per attempt."),
        (
            CHECKPOINT_WRITE_DURATION,
            "Time a step waited for its checkpoint write.",
        ),
    ];
    for (name, description) in histograms {
        describe_histogram!(name, Unit::Seconds, description);
    }
    describe_gauge!(QUEUE_DUE, Unit::Count, "Due pending tasks in the queue.");
    describe_gauge!(QUEUE_RUNNING, Unit::Count, "Running tasks in the queue.");
    describe_gauge!(
        QUEUE_OLDEST_DUE_AGE,
        Unit::Seconds,
        "How long the queue's oldest due pending task has waited."
    );
}

/// Zart's own tasks (recurring ticks) are machinery, not work: the admin hides them, and so
/// do the metrics.
fn counted(task_name: &str) -> bool {
    !task_name.starts_with(RESERVED_PREFIX)
}

/// The labels of an attempt's metrics.
#[derive(Clone, Debug)]
pub(crate) struct AttemptLabels {
    task_name: String,
    queue: String,
}

impl AttemptLabels {
    /// The labels of an attempt of `task_name`, in the queue `registry` puts it in.
    pub(crate) fn of(registry: &TaskRegistry, task_name: &str) -> Self {
        AttemptLabels {
            task_name: task_name.to_owned(),
            queue: registry
                .queue_of(task_name)
                .unwrap_or(DEFAULT_QUEUE)
                .to_owned(),
        }
    }

    fn pairs(&self) -> [(&'static str, String); 2] {
        [
            (TASK_NAME_LABEL, self.task_name.clone()),
            (QUEUE_LABEL, self.queue.clone()),
        ]
    }
}

/// Counts the tasks of `tasks` whose ids are in `inserted` (all of them when every task
/// went in).
pub(crate) fn scheduled(tasks: &[NewTask], inserted: &[String]) {
    if inserted.len() == tasks.len() {
        tasks
            .iter()
            .for_each(|task| scheduled_one(&task.params.task_name));
        return;
    }
    let inserted: HashSet<&str> = inserted.iter().map(String::as_str).collect();
    let mut seen = HashSet::new();
    for task in tasks {
        let id = task.params.task_id.as_str();
        if inserted.contains(id) && seen.insert(id) {
            scheduled_one(&task.params.task_name);
        }
    }
}

/// Counts a completion the store accepted with its follow-ups, all of which it scheduled.
pub(crate) fn completed_with_follow_ups(labels: &AttemptLabels, follow_ups: &[NewTask]) {
    completed(labels);
    for task in follow_ups {
        scheduled_one(&task.params.task_name);
    }
}

/// Counts one task of `task_name` put into the store.
pub(crate) fn scheduled_one(task_name: &str) {
    if counted(task_name) {
        counter!(TASKS_SCHEDULED, TASK_NAME_LABEL => task_name.to_owned()).increment(1);
    }
}

/// Counts an attempt that began at `claimed_at` on a task due at `run_at`.
pub(crate) fn started(labels: &AttemptLabels, run_at: DateTime<Utc>, claimed_at: DateTime<Utc>) {
    if !counted(&labels.task_name) {
        return;
    }
    counter!(TASKS_STARTED, &labels.pairs()).increment(1);
    let waited = (claimed_at - run_at).to_std().unwrap_or_default();
    histogram!(TASK_START_DELAY, &labels.pairs()).record(waited.as_secs_f64());
}

/// Records how long an attempt ran.
pub(crate) fn attempt_ran(labels: &AttemptLabels, elapsed: Duration) {
    if counted(&labels.task_name) {
        histogram!(TASK_ATTEMPT_DURATION, &labels.pairs()).record(elapsed.as_secs_f64());
    }
}

/// Counts an outcome the store accepted. A suspension (a durable execution waiting) is no
/// outcome: the task goes on later.
pub(crate) fn outcome_stored(labels: &AttemptLabels, kind: &OutcomeKind) {
    let name = match kind {
        OutcomeKind::Completed { .. } => TASKS_COMPLETED,
        OutcomeKind::Failed { .. } => TASKS_FAILED,
        OutcomeKind::Retry { .. } => TASKS_RETRIED,
        OutcomeKind::Suspended { .. } => return,
    };
    if counted(&labels.task_name) {
        counter!(name, &labels.pairs()).increment(1);
    }
}

/// Counts a completion the store accepted.
pub(crate) fn completed(labels: &AttemptLabels) {
    if counted(&labels.task_name) {
        counter!(TASKS_COMPLETED, &labels.pairs()).increment(1);
    }
}

/// Counts what a maintenance pass rescued and marked dead.
pub(crate) fn rescued(report: &RescueReport) {
    counter!(TASKS_RESCUED).increment(report.requeued.len() as u64);
    counter!(TASKS_DEAD).increment(report.dead.len() as u64);
}

/// Records how long one attempt of a step's body ran, under the name of the task running
/// it (empty outside a worker).
pub(crate) fn step_ran(step: &str, elapsed: Duration) {
    let task_name = crate::inject::current_task_name().unwrap_or_default();
    histogram!(STEP_DURATION, TASK_NAME_LABEL => task_name, STEP_LABEL => step.to_owned())
        .record(elapsed.as_secs_f64());
}

/// Records how long a step waited for its checkpoint.
pub(crate) fn checkpoint_written(elapsed: Duration) {
    histogram!(CHECKPOINT_WRITE_DURATION).record(elapsed.as_secs_f64());
}

/// One queue's sampled load.
#[derive(Debug, Default, PartialEq)]
struct QueueLoad {
    due: u64,
    running: u64,
    oldest_due: Option<DateTime<Utc>>,
}

/// Sets the queue gauges from the store's current load, each task name counted in the
/// queue workers declared it in (else in the default queue). Every declared queue gets a
/// value, so that a queue that emptied reads 0 rather than its last load. Maintenance
/// calls it from the pass that ran, so that the store is read once per pass, not once per
/// worker.
pub(crate) async fn sample_queues(store: &dyn Store) {
    let read = async { Ok::<_, StoreError>((store.load().await?, store.declared_tasks().await?)) };
    let (load, declared) = match read.await {
        Ok(read) => read,
        Err(error) => return tracing::warn!(%error, "reading the queues' load for metrics failed"),
    };
    let now = store.clock().now();
    for (queue, load) in per_queue(&load, &declared, DEFAULT_QUEUE) {
        let age = load
            .oldest_due
            .and_then(|due| (now - due).to_std().ok())
            .unwrap_or_default();
        gauge!(QUEUE_DUE, QUEUE_LABEL => queue.clone()).set(load.due as f64);
        gauge!(QUEUE_RUNNING, QUEUE_LABEL => queue.clone()).set(load.running as f64);
        gauge!(QUEUE_OLDEST_DUE_AGE, QUEUE_LABEL => queue).set(age.as_secs_f64());
    }
}

fn per_queue(
    load: &[TaskLoad],
    declared: &[DeclaredTask],
    default_queue: &str,
) -> BTreeMap<String, QueueLoad> {
    let queue_of: HashMap<&str, &str> = declared
        .iter()
        .map(|d| (d.task_name.as_str(), d.queue.as_str()))
        .collect();
    let mut queues: BTreeMap<String, QueueLoad> = declared
        .iter()
        .map(|d| d.queue.as_str())
        .chain([default_queue])
        .map(|queue| (queue.to_owned(), QueueLoad::default()))
        .collect();
    for name in load {
        let queue = queue_of
            .get(name.task_name.as_str())
            .copied()
            .unwrap_or(default_queue);
        let summed = queues.entry(queue.to_owned()).or_default();
        summed.due += name.due;
        summed.running += name.running;
        summed.oldest_due = match (summed.oldest_due, name.oldest_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    queues
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(task_name: &str, due: u64, running: u64, oldest_due: Option<i64>) -> TaskLoad {
        TaskLoad {
            task_name: task_name.into(),
            due,
            running,
            oldest_due: oldest_due.and_then(|s| DateTime::from_timestamp(s, 0)),
        }
    }

    fn declared(task_name: &str, queue: &str) -> DeclaredTask {
        DeclaredTask {
            task_name: task_name.into(),
            queue: queue.into(),
            durable: false,
        }
    }

    #[test]
    fn load_is_summed_per_declared_queue_with_undeclared_names_in_the_default() {
        let queues = per_queue(
            &[
                load("mail", 2, 1, Some(50)),
                load("sms", 3, 0, Some(40)),
                load("unknown", 1, 4, None),
            ],
            &[
                declared("mail", "notify"),
                declared("sms", "notify"),
                declared("idle", "quiet"),
            ],
            "default",
        );
        let at = |s| DateTime::from_timestamp(s, 0);
        assert_eq!(
            queues.into_iter().collect::<Vec<_>>(),
            vec![
                (
                    "default".to_owned(),
                    QueueLoad {
                        due: 1,
                        running: 4,
                        oldest_due: None
                    }
                ),
                (
                    "notify".to_owned(),
                    QueueLoad {
                        due: 5,
                        running: 1,
                        oldest_due: at(40)
                    }
                ),
                ("quiet".to_owned(), QueueLoad::default()),
            ]
        );
    }
}
