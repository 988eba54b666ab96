//! Queues (depth, running, oldest due age) and the live worker processes (last heartbeat,
//! what they run).

use axum::extract::Path;
use axum::response::Response;
use maud::html;

use super::layout::{age, span, task_link, time, Live};
use super::Request;
use crate::actions::{self, QueueAction};
use crate::error::AdminError;
use crate::model::{self, Queue};
use crate::params::percent_encode;

pub(crate) async fn queues(request: Request) -> Response {
    let queues = match request.state.inspector.queues().await {
        Ok(queues) => queues.into_iter().map(Queue::from).collect::<Vec<_>>(),
        Err(error) => return request.failed(error.into()),
    };
    let page = request.page();
    let body = html! {
        table.queues {
            thead { tr { th { "Queue" } th { "Tasks" } th.n { "Pending" } th.n { "Running" } th.n { "Failed" } th.n { "Dead" } th { "Oldest due" } th { "Limits" } th { "State" } } }
            tbody {
                @for q in &queues {
                    @let path = format!("/queues/{}", percent_encode(&q.queue));
                    tr {
                        td { a href=(page.link(&format!("/tasks?queue={}", percent_encode(&q.queue)))) { (q.queue) } }
                        td { (q.task_names.join(", ")) }
                        td.n { (q.counts.pending) }
                        td.n { (q.counts.running) }
                        td.n { (q.counts.failed) }
                        td.n { (q.counts.dead) }
                        td { @match q.oldest_due_age_s { Some(s) => { "waiting " (span(s)) }, None => span.none { "—" } } }
                        td { @match &q.limits_text { Some(limits) => { (limits) }, None => span.none { "none" } } }
                        td {
                            @match q.paused_at {
                                Some(at) => {
                                    span.state.paused { "paused" } " " (time(at)) " "
                                    (page.button(&format!("{path}/resume"), "Resume", "", None))
                                },
                                None => {
                                    span.state.active { "running" } " "
                                    (page.button(&format!("{path}/pause"), "Pause", "", Some("Pause this queue? Running tasks finish; no worker starts new ones until it is resumed.")))
                                },
                            }
                        }
                    }
                }
                @if queues.is_empty() { tr { td colspan="9" { "No queue: no worker declared tasks and none are stored." } } }
            }
        }
    };
    request.render("Queues", "queues", Live::EVERY_SECOND, body)
}

pub(crate) async fn act(
    request: Request,
    Path((queue, action)): Path<(String, String)>,
) -> Response {
    let done = async {
        let action = QueueAction::parse(&action)?;
        actions::on_queue(&request.state.zart, action, &queue).await?;
        Ok::<_, AdminError>(action)
    };
    match done.await {
        Ok(action) => request.redirect("/queues", &format!("Queue {queue} {}", action.done())),
        Err(error) => request.failed(error),
    }
}

pub(crate) async fn workers(request: Request) -> Response {
    let workers = match model::workers(&request.state.inspector).await {
        Ok(workers) => workers,
        Err(error) => return request.failed(error),
    };
    let page = request.page();
    let body = html! {
        table.workers {
            thead { tr { th { "Worker" } th { "Host" } th.n { "Pid" } th { "Queues" } th.n { "Slots" } th { "Started" } th { "Heartbeat" } th { "Running" } } }
            tbody {
                @for w in &workers {
                    tr {
                        td.id { (w.id) }
                        td { (w.host) }
                        td.n { (w.pid) }
                        td { @if w.queues.is_empty() { "all" } @else { (w.queues.join(", ")) } }
                        td.n { (w.running.len()) " / " (w.concurrency) }
                        td { (time(w.started_at)) }
                        td { (age(w.heartbeat_at)) " ago" }
                        td { @for id in &w.running { (task_link(&page, id)) " " } }
                    }
                }
                @if workers.is_empty() { tr { td colspan="8" { "No worker is running." } } }
            }
        }
    };
    request.render("Workers", "workers", Live::EVERY_SECOND, body)
}
