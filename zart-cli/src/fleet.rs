//! `zart queues` and `zart workers`: where work waits, and who does it.

use chrono::Utc;
use serde_json::{json, Value};
use zart::scheduler::TaskFilter;

use crate::cli::Global;
use crate::connect::{connect, Missing};
use crate::error::CliResult;
use crate::output::{self, Output, Table};
use crate::records;

const NAMES_WIDTH: usize = 50;

pub(crate) async fn queues(global: &Global) -> CliResult<Output> {
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
        "PENDING",
        "RUNNING",
        "FAILED",
        "DEAD",
        "OLDEST DUE",
        "TASK NAMES",
    ]);
    for queue in &queues {
        let counts = &queue.counts;
        table.row(vec![
            queue.queue.clone(),
            counts.pending.to_string(),
            counts.running.to_string(),
            counts.failed.to_string(),
            counts.dead.to_string(),
            queue
                .oldest_due
                .map_or("-".into(), |at| format!("{} ago", output::age(now - at))),
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
