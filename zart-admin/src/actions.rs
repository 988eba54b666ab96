//! What the admin changes, the same for the API and the pages: each action goes through
//! Zart's own views (so nothing bypasses a worker's lease), and one that does nothing says
//! why (an unknown id is 404, a task in the wrong state 409).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zart::scheduler::{TaskFilter, TaskScheduler, TaskStatus};
use zart::Zart;

use crate::error::{AdminError, AdminResult};
use crate::params::without_nul;

/// How many tasks a bulk action reads at a time.
const BULK_PAGE: usize = 500;

/// Something done to one task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TaskAction {
    /// Ends a waiting task; asks a running one to stop.
    Cancel,
    /// Runs an ended task again, keeping the steps it completed.
    Retry,
    /// Runs an ended task again from scratch.
    Restart,
}

impl TaskAction {
    pub fn parse(text: &str) -> AdminResult<Self> {
        match text {
            "cancel" => Ok(TaskAction::Cancel),
            "retry" => Ok(TaskAction::Retry),
            "restart" => Ok(TaskAction::Restart),
            other => Err(AdminError::not_found(format!(
                "no task action {other:?}: use cancel, retry or restart"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskAction::Cancel => "cancel",
            TaskAction::Retry => "retry",
            TaskAction::Restart => "restart",
        }
    }

    /// The statuses it applies to.
    pub fn applies_to(self, status: TaskStatus) -> bool {
        match self {
            TaskAction::Cancel => !status.is_terminal(),
            TaskAction::Retry | TaskAction::Restart => status.is_terminal(),
        }
    }

    /// `cancelled`, `retried`, `restarted`.
    pub fn done(self) -> &'static str {
        match self {
            TaskAction::Cancel => "cancelled",
            TaskAction::Retry => "retried",
            TaskAction::Restart => "restarted",
        }
    }

    async fn apply(self, zart: &Zart, id: &str) -> AdminResult<bool> {
        Ok(match self {
            TaskAction::Cancel => zart.tasks().cancel(id).await?,
            TaskAction::Retry => zart.executions().retry(id).await?,
            TaskAction::Restart => zart.executions().restart(id).await?,
        })
    }
}

/// Does `action` to task `id`.
pub(crate) async fn on_task(zart: &Zart, action: TaskAction, id: &str) -> AdminResult<()> {
    if action.apply(zart, id).await? {
        return Ok(());
    }
    let task = zart
        .tasks()
        .get_task(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("no task has the id {id:?}")))?;
    let why = match action {
        TaskAction::Cancel => "it has ended already",
        TaskAction::Retry | TaskAction::Restart => "only an ended task runs again",
    };
    Err(AdminError::conflict(format!(
        "task {id:?} is {}: {why}",
        task.status
    )))
}

/// Sends event `name` with `payload` to execution `id`. Returns whether it woke the
/// execution.
pub(crate) async fn send_event(
    zart: &Zart,
    id: &str,
    name: &str,
    payload: &Value,
) -> AdminResult<bool> {
    if name.trim().is_empty() {
        return Err(AdminError::bad_request("an event needs a name"));
    }
    without_nul("the event's name", name)?;
    if holds_nul(payload) {
        return Err(AdminError::bad_request(
            "the payload must not contain a NUL character (\\u0000), which the store cannot keep",
        ));
    }
    let Some(task) = zart.tasks().get_task(id).await? else {
        return Err(AdminError::not_found(format!("no task has the id {id:?}")));
    };
    // An event would make a plain task due at once, and nothing would ever read it.
    let inspector = zart.inspector();
    let durable = crate::model::declared_durable(&inspector, &task.task_name).await?;
    if durable == Some(false) && inspector.steps(id).await?.is_empty() {
        return Err(AdminError::conflict(format!(
            "task {id:?} is a plain task ({:?}), not a durable execution: only a durable execution receives events",
            task.task_name
        )));
    }
    Ok(zart.executions().send_event(id, name, payload).await?)
}

/// Whether a string or key anywhere in `value` holds a NUL character.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// What a bulk action did.
#[derive(Debug, Default, Serialize)]
pub(crate) struct BulkReport {
    /// Tasks the filter matched that the action applies to.
    pub matched: u64,
    /// Tasks it changed (fewer if some moved on meanwhile).
    pub changed: u64,
}

/// Does `action` to every task `filter` matches that it applies to, a page at a time.
pub(crate) async fn bulk(
    zart: &Zart,
    action: TaskAction,
    filter: &TaskFilter,
) -> AdminResult<BulkReport> {
    let inspector = zart.inspector();
    let mut report = BulkReport::default();
    let mut page_filter = filter.clone();
    page_filter.after = None;
    loop {
        let page = inspector.tasks(&page_filter, BULK_PAGE).await?;
        let Some(last) = page.last() else { break };
        page_filter.after = Some(last.cursor());
        for task in page.iter().filter(|t| action.applies_to(t.status)) {
            report.matched += 1;
            if action.apply(zart, &task.task_id).await? {
                report.changed += 1;
            }
        }
        if page.len() < BULK_PAGE {
            break;
        }
    }
    Ok(report)
}

/// Something done to a recurring schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScheduleAction {
    Pause,
    Resume,
    Trigger,
    Stop,
}

impl ScheduleAction {
    pub fn parse(text: &str) -> AdminResult<Self> {
        match text {
            "pause" => Ok(ScheduleAction::Pause),
            "resume" => Ok(ScheduleAction::Resume),
            "trigger" => Ok(ScheduleAction::Trigger),
            "stop" => Ok(ScheduleAction::Stop),
            other => Err(AdminError::not_found(format!(
                "no schedule action {other:?}: use pause, resume, trigger or stop"
            ))),
        }
    }

    /// `paused`, `resumed`, `triggered`, `stopped`.
    pub fn done(self) -> &'static str {
        match self {
            ScheduleAction::Pause => "paused",
            ScheduleAction::Resume => "resumed",
            ScheduleAction::Trigger => "triggered",
            ScheduleAction::Stop => "stopped",
        }
    }
}

/// Does `action` to schedule `id`.
pub(crate) async fn on_schedule(zart: &Zart, action: ScheduleAction, id: &str) -> AdminResult<()> {
    let schedules = zart.schedules();
    let done = match action {
        ScheduleAction::Pause => schedules.pause(id).await?,
        ScheduleAction::Resume => schedules.resume(id).await?,
        ScheduleAction::Trigger => schedules.trigger_now(id).await?,
        ScheduleAction::Stop => schedules.stop(id).await?,
    };
    if done {
        return Ok(());
    }
    let info = schedules
        .info(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("no schedule has the id {id:?}")))?;
    let why = match action {
        ScheduleAction::Pause | ScheduleAction::Trigger => "only an active schedule",
        ScheduleAction::Resume => "only a paused or stopped schedule",
        ScheduleAction::Stop => "only an active or paused schedule",
    };
    Err(AdminError::conflict(format!(
        "schedule {id:?} is {}: {why} can be {}",
        info.state.as_str(),
        action.done()
    )))
}

/// Something done to a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueueAction {
    Pause,
    Resume,
}

impl QueueAction {
    pub fn parse(text: &str) -> AdminResult<Self> {
        match text {
            "pause" => Ok(QueueAction::Pause),
            "resume" => Ok(QueueAction::Resume),
            other => Err(AdminError::not_found(format!(
                "no queue action {other:?}: use pause or resume"
            ))),
        }
    }

    /// `paused`, `resumed`.
    pub fn done(self) -> &'static str {
        match self {
            QueueAction::Pause => "paused",
            QueueAction::Resume => "resumed",
        }
    }
}

/// Does `action` to queue `queue`: every worker sees it at its next claim.
pub(crate) async fn on_queue(zart: &Zart, action: QueueAction, queue: &str) -> AdminResult<()> {
    known_queue(zart, queue).await?;
    let changed = match action {
        QueueAction::Pause => zart.pause_queue(queue).await?,
        QueueAction::Resume => zart.resume_queue(queue).await?,
    };
    match changed {
        true => Ok(()),
        false => Err(AdminError::conflict(format!(
            "queue {queue:?} is {} already",
            match action {
                QueueAction::Pause => "paused",
                QueueAction::Resume => "running",
            }
        ))),
    }
}

/// Sets queue `queue`'s limits for every worker, over the declared ones (`None`: back to
/// the declared ones; a conflict if none were set).
pub(crate) async fn set_limits(
    zart: &Zart,
    queue: &str,
    limits: Option<crate::model::Limits>,
) -> AdminResult<()> {
    known_queue(zart, queue).await?;
    if let Some(key) = limits.as_ref().and_then(|limits| limits.per_key.as_ref()) {
        without_nul("the key field", &key.field)?;
    }
    match limits {
        Some(limits) => Ok(zart.set_queue_limits(queue, limits.into()).await?),
        None => match zart.reset_queue_limits(queue).await? {
            true => Ok(()),
            false => Err(AdminError::conflict(format!(
                "queue {queue:?} has no limits set here: it runs with its declared ones"
            ))),
        },
    }
}

/// Refuses a queue the store does not know of (the default queue, those workers declared,
/// those with controls): a mistyped name would be paused or limited for good, a control
/// left behind for a queue that does not exist, while the queue meant runs on.
pub(crate) async fn known_queue(zart: &Zart, queue: &str) -> AdminResult<()> {
    if queue.is_empty() {
        return Err(AdminError::bad_request("a queue name must not be empty"));
    }
    let known = zart.inspector().known_queues().await?;
    if known.iter().any(|q| q == queue) {
        return Ok(());
    }
    Err(AdminError::not_found(format!(
        "no queue {queue:?}: no worker declared it and it has no controls; the queues are {}",
        known.join(", ")
    )))
}
