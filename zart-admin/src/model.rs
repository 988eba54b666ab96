//! What the views show, read from the store once and shaped for both readers: the API
//! serializes these, the pages render them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zart::durable::{StepAttempt, StepOutcome, StepRecord, WaitingOn};
use zart::inspect::{
    AttemptRecord, EventRecord, Inspector, QueueSummary, StatusCounts, WorkerRecord,
};
use zart::recurring::{upcoming, RunRecord, ScheduleInfo};
use zart::scheduler::{TaskFilter, TaskRecord, TaskStatus};
use zart::store::QueueLimits;

use crate::error::{AdminError, AdminResult};

/// Most children an execution's view lists.
const MAX_CHILDREN: usize = 100;
/// How many of a schedule's decisions its view shows.
const HISTORY_SHOWN: usize = 50;
/// How many of a schedule's next slots its view shows.
const UPCOMING_SHOWN: usize = 5;

/// How many tasks have each status, as the API shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Counts {
    pub pending: u64,
    pub waiting: u64,
    pub running: u64,
    pub sleeping: u64,
    pub awaiting_event: u64,
    pub awaiting_child: u64,
    pub completed: u64,
    pub failed: u64,
    pub dead: u64,
    pub cancelled: u64,
    pub total: u64,
}

impl From<&StatusCounts> for Counts {
    fn from(c: &StatusCounts) -> Self {
        Counts {
            pending: c.pending,
            waiting: c.waiting,
            running: c.running,
            sleeping: c.sleeping,
            awaiting_event: c.awaiting_event,
            awaiting_child: c.awaiting_child,
            completed: c.completed,
            failed: c.failed,
            dead: c.dead,
            cancelled: c.cancelled,
            total: c.total(),
        }
    }
}

/// One task, whole.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Task {
    pub id: String,
    pub name: String,
    pub status: TaskStatus,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub rescues: u32,
    pub worker_id: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub last_worker_id: Option<String>,
    pub input: Value,
    pub metadata: Value,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub parent_id: Option<String>,
    pub schedule_id: Option<String>,
    pub cancel_requested: bool,
    /// The application version that began the execution, if recorded.
    pub app_version: Option<String>,
    /// What a suspended execution waits on.
    pub waiting_on: Option<Waiting>,
}

impl From<TaskRecord> for Task {
    fn from(t: TaskRecord) -> Self {
        Task {
            id: t.task_id,
            name: t.task_name,
            status: t.status,
            run_at: t.run_at,
            created_at: t.created_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
            attempts: t.attempts,
            rescues: t.rescues,
            worker_id: t.worker_id,
            lease_expires_at: t.lease_expires_at,
            last_worker_id: t.last_worker_id,
            input: t.data,
            metadata: t.metadata,
            result: t.result,
            error: t.error,
            parent_id: t.parent_id,
            schedule_id: t.schedule_id,
            cancel_requested: t.cancel_requested,
            app_version: t.app_version,
            waiting_on: t.waiting_on.and_then(Waiting::of),
        }
    }
}

/// A page of tasks, and where the next one starts.
#[derive(Debug, Serialize)]
pub(crate) struct TaskPage {
    pub tasks: Vec<Task>,
    /// Pass as `after` for the next page; `None` on the last.
    pub next: Option<String>,
}

pub(crate) async fn task_page(
    inspector: &Inspector,
    filter: &TaskFilter,
    limit: usize,
) -> AdminResult<TaskPage> {
    // One more than asked tells whether a next page exists.
    let mut tasks = inspector.tasks(filter, limit + 1).await?;
    let more = tasks.len() > limit;
    tasks.truncate(limit);
    let next = match more {
        true => tasks.last().map(|t| t.cursor().to_string()),
        false => None,
    };
    Ok(TaskPage {
        tasks: tasks.into_iter().map(Task::from).collect(),
        next,
    })
}

/// One step call of an execution.
#[derive(Debug, Serialize)]
pub(crate) struct Step {
    pub seq: u32,
    pub name: String,
    pub occurrence: u32,
    /// `completed`, `failed` or `retrying`.
    pub outcome: &'static str,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub retry_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    /// Its attempts that failed, in order.
    pub failed_attempts: Vec<StepFailure>,
}

/// An attempt of a step that failed.
#[derive(Debug, Serialize)]
pub(crate) struct StepFailure {
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub error: String,
}

impl From<StepAttempt> for StepFailure {
    fn from(a: StepAttempt) -> Self {
        StepFailure {
            attempt: a.attempt,
            duration_ms: (a.finished_at - a.started_at).num_milliseconds(),
            started_at: a.started_at,
            finished_at: a.finished_at,
            error: a.error,
        }
    }
}

impl From<StepRecord> for Step {
    fn from(s: StepRecord) -> Self {
        let (outcome, output, error, retry_at) = match s.outcome {
            StepOutcome::Completed(value) => ("completed", Some(value), None, None),
            StepOutcome::Failed(error) => ("failed", None, Some(error), None),
            StepOutcome::Retrying { until, error } => ("retrying", None, Some(error), Some(until)),
        };
        Step {
            seq: s.seq,
            duration_ms: s
                .finished_at
                .map(|end| (end - s.started_at).num_milliseconds()),
            name: s.name,
            occurrence: s.occurrence,
            outcome,
            output,
            error,
            retry_at,
            attempts: s.attempts,
            started_at: s.started_at,
            finished_at: s.finished_at,
            failed_attempts: s
                .failed_attempts
                .into_iter()
                .map(StepFailure::from)
                .collect(),
        }
    }
}

/// What a suspended execution waits for.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Waiting {
    Sleep {
        name: String,
        until: DateTime<Utc>,
    },
    Event {
        name: String,
        deadline: DateTime<Utc>,
    },
    Child {
        child_id: String,
        deadline: DateTime<Utc>,
    },
    Retry {
        step: String,
        until: DateTime<Utc>,
        error: String,
    },
}

impl Waiting {
    fn of(waiting: WaitingOn) -> Option<Self> {
        Some(match waiting {
            WaitingOn::Sleep { name, until } => Waiting::Sleep { name, until },
            WaitingOn::Event { name, deadline } => Waiting::Event { name, deadline },
            WaitingOn::Child { child_id, deadline } => Waiting::Child { child_id, deadline },
            WaitingOn::Retry { name, until, error } => Waiting::Retry {
                step: name,
                until,
                error,
            },
            _ => return None,
        })
    }
}

/// An event sent to an execution.
#[derive(Debug, Serialize)]
pub(crate) struct Event {
    pub name: String,
    pub payload: Value,
    pub sent_at: DateTime<Utc>,
}

impl From<EventRecord> for Event {
    fn from(e: EventRecord) -> Self {
        Event {
            name: e.name,
            payload: e.payload,
            sent_at: e.created_at,
        }
    }
}

/// An attempt that failed.
#[derive(Debug, Serialize)]
pub(crate) struct Attempt {
    pub attempt: u32,
    pub worker_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: Option<i64>,
    pub error: String,
}

impl From<AttemptRecord> for Attempt {
    fn from(a: AttemptRecord) -> Self {
        Attempt {
            duration_ms: a.started_at.map(|s| (a.finished_at - s).num_milliseconds()),
            attempt: a.attempt,
            worker_id: a.worker_id,
            started_at: a.started_at,
            finished_at: a.finished_at,
            error: a.error,
        }
    }
}

/// One task with everything around it: its failed attempts and, for a durable execution,
/// its step timeline, what it waits for, its events and its children.
#[derive(Debug, Serialize)]
pub(crate) struct TaskDetail {
    pub task: Task,
    /// Whether it is a durable execution (which steps, waits and takes events) rather
    /// than a plain task; `null` when no worker declared its name and it has no steps.
    pub durable: Option<bool>,
    pub failed_attempts: Vec<Attempt>,
    pub steps: Vec<Step>,
    pub waiting_on: Option<Waiting>,
    pub events: Vec<Event>,
    pub children: Vec<Task>,
}

pub(crate) async fn task_detail(inspector: &Inspector, id: &str) -> AdminResult<TaskDetail> {
    let record = inspector
        .task(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("no task has the id {id:?}")))?;
    let steps = inspector.steps(id).await?;
    let durable = match steps.is_empty() {
        true => declared_durable(inspector, &record.task_name).await?,
        false => Some(true),
    };
    let attempts = inspector.attempts(id).await?;
    let events = inspector.events(id).await?;
    let children = inspector
        .tasks(&TaskFilter::default().parent(id), MAX_CHILDREN)
        .await?;
    let task = Task::from(record);
    Ok(TaskDetail {
        waiting_on: task.waiting_on.clone(),
        task,
        durable,
        failed_attempts: attempts.into_iter().map(Attempt::from).collect(),
        steps: steps.into_iter().map(Step::from).collect(),
        events: events.into_iter().map(Event::from).collect(),
        children: children.into_iter().map(Task::from).collect(),
    })
}

/// Whether the workers that run tasks named `name` declared them durable executions
/// (the store keeps the latest declaration); `None` if none declared the name.
pub(crate) async fn declared_durable(
    inspector: &Inspector,
    name: &str,
) -> AdminResult<Option<bool>> {
    Ok(inspector
        .declared_tasks()
        .await?
        .into_iter()
        .find(|declared| declared.task_name == name)
        .map(|declared| declared.durable))
}

/// One queue.
#[derive(Debug, Serialize)]
pub(crate) struct Queue {
    pub queue: String,
    pub task_names: Vec<String>,
    pub counts: Counts,
    pub oldest_due: Option<DateTime<Utc>>,
    /// How long the oldest due task has waited, in seconds.
    pub oldest_due_age_s: Option<i64>,
    /// Nothing new is claimed from a paused queue.
    pub paused: bool,
    pub paused_at: Option<DateTime<Utc>>,
    /// The limits claims honour: set here (`overridden`) or as workers' code declares.
    pub limits: Limits,
    /// The limits in a few words, for people; `null`: none.
    pub limits_text: Option<String>,
    /// Whether `limits` were set from outside, in place of the declared ones.
    pub overridden: bool,
    pub overridden_at: Option<DateTime<Utc>>,
    /// The limits workers' code declares, in force again once the override is removed.
    pub declared_limits: Limits,
    /// The declared limits in a few words; `null`: none.
    pub declared_limits_text: Option<String>,
}

/// A queue's limits across every worker; `null`: none. Also the body that sets them.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limits {
    /// Most of its tasks running at once.
    #[serde(default)]
    pub global: Option<u32>,
    #[serde(default)]
    pub per_key: Option<KeyLimit>,
    #[serde(default)]
    pub rate: Option<Rate>,
}

/// Most tasks of one key (the input's value at `field`) running at once.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyLimit {
    pub field: String,
    pub limit: u32,
}

/// Most starts in any window of `period_ms`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rate {
    pub limit: u32,
    pub period_ms: u64,
}

impl From<QueueLimits> for Limits {
    fn from(limits: QueueLimits) -> Self {
        Limits {
            global: limits.concurrency,
            per_key: limits.per_key.map(|key| KeyLimit {
                field: key.field,
                limit: key.limit,
            }),
            rate: limits.rate.map(|rate| Rate {
                limit: rate.limit,
                period_ms: u64::try_from(rate.period.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }
}

impl From<Limits> for QueueLimits {
    fn from(limits: Limits) -> Self {
        QueueLimits {
            concurrency: limits.global,
            per_key: limits.per_key.map(|key| zart::store::KeyLimit {
                field: key.field,
                limit: key.limit,
            }),
            rate: limits.rate.map(|rate| zart::store::RateLimit {
                limit: rate.limit,
                period: std::time::Duration::from_millis(rate.period_ms),
            }),
        }
    }
}

impl From<QueueSummary> for Queue {
    fn from(q: QueueSummary) -> Self {
        let limits_text = q.limits.describe();
        let limits = Limits::from(q.limits);
        Queue {
            counts: Counts::from(&q.counts),
            oldest_due_age_s: q.oldest_due.map(|due| (Utc::now() - due).num_seconds()),
            oldest_due: q.oldest_due,
            queue: q.queue,
            task_names: q.task_names,
            paused: q.paused_at.is_some(),
            paused_at: q.paused_at,
            limits,
            limits_text,
            overridden: q.overridden_at.is_some(),
            overridden_at: q.overridden_at,
            declared_limits_text: q.declared_limits.describe(),
            declared_limits: Limits::from(q.declared_limits),
        }
    }
}

/// A live worker process.
#[derive(Debug, Serialize)]
pub(crate) struct Worker {
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// Empty: every queue.
    pub queues: Vec<String>,
    pub task_names: Vec<String>,
    pub concurrency: u32,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub heartbeat_age_s: i64,
    /// The tasks it runs now (at most its concurrency).
    pub running: Vec<String>,
}

pub(crate) async fn workers(inspector: &Inspector) -> AdminResult<Vec<Worker>> {
    let mut workers = Vec::new();
    for w in inspector.workers().await? {
        let held = TaskFilter::default()
            .status(TaskStatus::Running)
            .held_by(&w.worker_id);
        let limit = usize::try_from(w.concurrency)
            .unwrap_or(usize::MAX)
            .min(1000);
        let running = inspector.tasks(&held, limit).await?;
        workers.push(worker(w, running.into_iter().map(|t| t.task_id).collect()));
    }
    Ok(workers)
}

fn worker(w: WorkerRecord, running: Vec<String>) -> Worker {
    Worker {
        heartbeat_age_s: (Utc::now() - w.heartbeat_at).num_seconds(),
        task_names: w.tasks.into_iter().map(|t| t.task_name).collect(),
        id: w.worker_id,
        host: w.host,
        pid: w.pid,
        queues: w.queues,
        concurrency: w.concurrency,
        started_at: w.started_at,
        heartbeat_at: w.heartbeat_at,
        running,
    }
}

/// Tasks that ended in one minute.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Minute {
    pub minute: DateTime<Utc>,
    pub completed: u64,
    pub failed: u64,
    pub dead: u64,
    pub cancelled: u64,
}

/// The whole store at a glance.
#[derive(Debug, Serialize)]
pub(crate) struct Overview {
    pub counts: Counts,
    pub queues: Vec<Queue>,
    /// The last hour, a minute at a time, oldest first (every minute, none left out).
    pub last_hour: Vec<Minute>,
    pub completed_last_hour: u64,
    pub failed_last_hour: u64,
    pub workers: usize,
    pub schedules: usize,
}

pub(crate) async fn overview(inspector: &Inspector) -> AdminResult<Overview> {
    let queues = inspector.queues().await?;
    let mut totals = StatusCounts::default();
    for queue in &queues {
        for status in TaskStatus::ALL {
            totals.add(status, queue.counts.get(status));
        }
    }
    // The start of the minute 59 minutes ago: 60 whole minutes, this one included.
    let minute = Utc::now().timestamp().div_euclid(60);
    let start = DateTime::from_timestamp((minute - 59) * 60, 0).unwrap_or_default();
    let ended = inspector.ended_per_minute(start).await?;
    let mut last_hour: Vec<Minute> = (0..60)
        .map(|i| Minute {
            minute: start + Duration::minutes(i),
            ..Minute::default()
        })
        .collect();
    for count in ended {
        let index = (count.minute - start).num_minutes();
        let Some(minute) = usize::try_from(index)
            .ok()
            .and_then(|i| last_hour.get_mut(i))
        else {
            continue;
        };
        match count.status {
            TaskStatus::Completed => minute.completed += count.count,
            TaskStatus::Failed => minute.failed += count.count,
            TaskStatus::Dead => minute.dead += count.count,
            TaskStatus::Cancelled => minute.cancelled += count.count,
            _ => {}
        }
    }
    Ok(Overview {
        counts: Counts::from(&totals),
        completed_last_hour: last_hour.iter().map(|m| m.completed).sum(),
        failed_last_hour: last_hour.iter().map(|m| m.failed + m.dead).sum(),
        last_hour,
        queues: queues.into_iter().map(Queue::from).collect(),
        workers: inspector.workers().await?.len(),
        schedules: inspector.schedules().await?.len(),
    })
}

/// A recurring schedule.
#[derive(Debug, Serialize)]
pub(crate) struct Schedule {
    pub id: String,
    pub task_name: String,
    pub state: &'static str,
    /// The schedule in plain words.
    pub description: String,
    pub timezone: String,
    pub missed: &'static str,
    pub overlap: &'static str,
    pub window: Option<Value>,
    pub max_runs: Option<u64>,
    /// Runs started so far.
    pub occurrence: u64,
    pub next_slot: Option<DateTime<Utc>>,
    pub trigger_requested: bool,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub upcoming: Vec<Upcoming>,
}

/// A slot the schedule will come to.
#[derive(Debug, Serialize)]
pub(crate) struct Upcoming {
    pub at: DateTime<Utc>,
    pub outside_window: bool,
}

impl From<&ScheduleInfo> for Schedule {
    fn from(info: &ScheduleInfo) -> Self {
        let task = &info.task;
        Schedule {
            id: task.schedule_id.clone(),
            task_name: task.task_name.clone(),
            state: info.state.as_str(),
            description: task.schedule.describe(),
            timezone: task.schedule.timezone().name().to_owned(),
            missed: task.missed.as_str(),
            overlap: task.overlap.as_str(),
            window: task
                .window
                .as_ref()
                .and_then(|w| serde_json::to_value(w).ok()),
            max_runs: task.max_runs,
            occurrence: info.occurrence,
            next_slot: info.next_slot,
            trigger_requested: info.trigger_requested,
            last_finished_at: info.last_finished_at,
            upcoming: upcoming(info, UPCOMING_SHOWN)
                .into_iter()
                .map(|slot| Upcoming {
                    at: slot.at,
                    outside_window: slot.outside_window,
                })
                .collect(),
        }
    }
}

/// One decision a schedule made about a slot.
#[derive(Debug, Serialize)]
pub(crate) struct Decision {
    pub slot: DateTime<Utc>,
    pub decision: String,
    pub reason: Option<String>,
    pub occurrence: Option<u64>,
    pub task_id: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub status: Option<TaskStatus>,
    pub error: Option<String>,
}

impl From<RunRecord> for Decision {
    fn from(r: RunRecord) -> Self {
        Decision {
            slot: r.slot,
            decision: r.decision,
            reason: r.reason,
            occurrence: r.occurrence,
            task_id: r.task_id,
            recorded_at: r.recorded_at,
            status: r.status,
            error: r.error,
        }
    }
}

/// A schedule with its history, newest decision first.
#[derive(Debug, Serialize)]
pub(crate) struct ScheduleDetail {
    pub schedule: Schedule,
    pub history: Vec<Decision>,
}

pub(crate) async fn schedule_detail(
    inspector: &Inspector,
    id: &str,
) -> AdminResult<ScheduleDetail> {
    let info = inspector
        .schedule(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("no schedule has the id {id:?}")))?;
    let mut history: Vec<Decision> = inspector
        .history(id, HISTORY_SHOWN)
        .await?
        .into_iter()
        .map(Decision::from)
        .collect();
    history.reverse();
    Ok(ScheduleDetail {
        schedule: Schedule::from(&info),
        history,
    })
}

pub(crate) async fn schedules(inspector: &Inspector) -> AdminResult<Vec<Schedule>> {
    Ok(inspector
        .schedules()
        .await?
        .iter()
        .map(Schedule::from)
        .collect())
}
