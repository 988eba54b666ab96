//! `zart queues` and `zart workers`: where work waits, and who does it.

use chrono::Utc;
use serde_json::{json, Value};
use zart::scheduler::TaskFilter;
use zart::store::QueueLimits;
use zart::Zart;

use crate::cli::{Global, QueuesCommand};
use crate::connect::{connect, Missing};
use crate::error::{CliError, CliResult};
use crate::output::{self, Output, Table};
use crate::{parse, records};

const NAMES_WIDTH: usize = 50;

pub(crate) async fn run(global: &Global, action: Option<&QueuesCommand>) -> CliResult<Output> {
    match action {
        None | Some(QueuesCommand::List) => queues(global).await,
        Some(QueuesCommand::Pause { queue }) => pause(global, queue, true).await,
        Some(QueuesCommand::Resume { queue }) => pause(global, queue, false).await,
        Some(QueuesCommand::Limit {
            queue,
            global: concurrency,
            per_key,
            rate,
        }) => {
            let limits = QueueLimits {
                concurrency: *concurrency,
                per_key: per_key.as_deref().map(parse::key_limit).transpose()?,
                rate: rate.as_deref().map(parse::rate).transpose()?,
            };
            limit(global, queue, Some(limits)).await
        }
        Some(QueuesCommand::Reset { queue }) => limit(global, queue, None).await,
    }
}

/// Sets `queue`'s limits over the declared ones, or (`None`) puts the declared ones back.
async fn limit(global: &Global, queue: &str, limits: Option<QueueLimits>) -> CliResult<Output> {
    if queue.is_empty() {
        return Err(CliError::usage("a queue name must not be empty"));
    }
    if let Some(Err(reason)) = limits.as_ref().map(QueueLimits::check) {
        return Err(CliError::usage(format!(
            "invalid limits for queue {queue:?}: {reason}"
        )));
    }
    let zart = connect(global, Missing::Refuse).await?;
    known(&zart, queue).await?;
    let (action, text) = match limits {
        Some(limits) => {
            let text = limits.describe().unwrap_or_else(|| "no limits".into());
            zart.set_queue_limits(queue, limits).await?;
            (
                "limited",
                format!("queue {queue} now runs with {text}, for every worker, until reset\n"),
            )
        }
        None => {
            if !zart.reset_queue_limits(queue).await? {
                return Err(CliError::refused(format!(
                    "queue {queue:?} has no limits set from outside: it runs with its declared ones"
                )));
            }
            (
                "reset",
                format!("queue {queue} runs with its declared limits again\n"),
            )
        }
    };
    if global.json {
        return Ok(Output::Json(
            json!({ "queue": queue, "action": action, "done": true }),
        ));
    }
    Ok(Output::Text(text))
}

/// Pauses or resumes `queue` for every worker.
async fn pause(global: &Global, queue: &str, paused: bool) -> CliResult<Output> {
    if queue.is_empty() {
        return Err(CliError::usage("a queue name must not be empty"));
    }
    let zart = connect(global, Missing::Refuse).await?;
    known(&zart, queue).await?;
    let changed = match paused {
        true => zart.pause_queue(queue).await?,
        false => zart.resume_queue(queue).await?,
    };
    let (verb, state) = match paused {
        true => ("paused", "paused"),
        false => ("resumed", "running"),
    };
    if !changed {
        return Err(CliError::refused(format!(
            "queue {queue:?} is {state} already"
        )));
    }
    if global.json {
        return Ok(Output::Json(
            json!({ "queue": queue, "action": verb, "done": true }),
        ));
    }
    let note = match paused {
        true => ": running tasks finish, no worker starts new ones until it is resumed",
        false => "",
    };
    Ok(Output::Text(format!(
        "{verb} queue {queue}{note}
"
    )))
}

/// Refuses a queue the store does not know of: a mistyped name would otherwise be paused
/// or limited for good, while the queue meant runs on.
async fn known(zart: &Zart, queue: &str) -> CliResult<()> {
    let known = zart.inspector().known_queues().await?;
    if known.iter().any(|q| q == queue) {
        return Ok(());
    }
    Err(CliError::not_found(format!(
        "no queue {queue:?}: no worker declared it and it has no controls; the queues are {} \
         (see `zart queues`)",
        known.join(", ")
    )))
}

async fn queues(global: &Global) -> CliResult<Output> {
    let zart = connect(global, Missing::Refuse).await?;
    let queues = zart.inspector().queues().await?;
    let now = Utc::now();
    if global.json {
        let queues: Vec<Value> = queues.iter().map(|q| records::queue(q, now)).collect();
        return Ok(Output::Json(json!({ "queues": queues })));
    }
    if queues.is_empty() {
        return Ok(Output::Text(
            "no queues: no tasks, and no worker declared any\n".into(),
        ));
    }
    let mut table = Table::new(&[
        "QUEUE",
        "STATE",
        "PENDING",
        "RUNNING",
        "FAILED",
        "DEAD",
        "OLDEST DUE",
        "LIMITS",
        "TASK NAMES",
    ]);
    for queue in &queues {
        let counts = &queue.counts;
        table.row(vec![
            queue.queue.clone(),
            match queue.paused_at {
                Some(_) => "paused".into(),
                None => "running".into(),
            },
            counts.pending.to_string(),
            counts.running.to_string(),
            counts.failed.to_string(),
            counts.dead.to_string(),
            queue
                .oldest_due
                .map_or("-".into(), |at| format!("{} ago", output::age(now - at))),
            match (queue.limits.describe(), queue.overridden_at) {
                (Some(text), Some(_)) => format!("{text} (set)"),
                (None, Some(_)) => "none (set)".into(),
                (text, None) => text.unwrap_or_else(|| "-".into()),
            },
            output::shorten(&queue.task_names.join(", "), NAMES_WIDTH),
        ]);
    }
    let mut out = String::new();
    table.render(&mut out);
    Ok(Output::Text(out))
}

pub(crate) async fn workers(global: &Global) -> CliResult<Output> {
    let zart = connect(global, Missing::Refuse).await?;
    let inspector = zart.inspector();
    let workers = inspector.workers().await?;
    let mut running = Vec::with_capacity(workers.len());
    for worker in &workers {
        let held = TaskFilter::default().held_by(&worker.worker_id);
        running.push(inspector.count(&held).await?);
    }
    let now = Utc::now();
    if global.json {
        let workers: Vec<Value> = workers
            .iter()
            .zip(&running)
            .map(|(w, n)| records::worker(w, *n, now))
            .collect();
        return Ok(Output::Json(json!({ "workers": workers })));
    }
    if workers.is_empty() {
        return Ok(Output::Text("no live workers\n".into()));
    }
    let mut table = Table::new(&[
        "ID",
        "HOST",
        "PID",
        "QUEUES",
        "CONCURRENCY",
        "RUNNING",
        "STARTED",
        "HEARTBEAT",
    ]);
    for (worker, running) in workers.iter().zip(&running) {
        let queues = match worker.queues.is_empty() {
            true => "all".to_owned(),
            false => worker.queues.join(", "),
        };
        table.row(vec![
            worker.worker_id.clone(),
            worker.host.clone(),
            worker.pid.to_string(),
            queues,
            worker.concurrency.to_string(),
            running.to_string(),
            output::time(worker.started_at),
            format!("{} ago", output::age(now - worker.heartbeat_at)),
        ]);
    }
    let mut out = String::new();
    table.render(&mut out);
    Ok(Output::Text(out))
}
