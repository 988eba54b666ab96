//! Queues (depth, running, oldest due age) and the live worker processes (last heartbeat,
//! what they run).

use axum::response::Response;
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::layout::{age, id, span, task_link, time, visible, Live};
use super::{Request, Shown};
use crate::actions::{self, QueueAction};
use crate::error::AdminError;
use crate::extract::Path;
use crate::model::{self, Limits, Queue};
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
                        td { a href=(page.link(&format!("/tasks?queue={}", percent_encode(&q.queue)))) { (id(&q.queue)) } }
                        td { @for (i, name) in q.task_names.iter().enumerate() { @if i > 0 { ", " } (id(name)) } }
                        td.n { (q.counts.pending) }
                        td.n { (q.counts.running) }
                        td.n { (q.counts.failed) }
                        td.n { (q.counts.dead) }
                        td { @match q.oldest_due_age_s { Some(s) => { "waiting " (span(s)) }, None => span.none { "—" } } }
                        td.limits {
                            @match &q.limits_text { Some(limits) => { (limits) }, None => span.none { "none" } }
                            @if q.overridden {
                                " " span.badge title="Set here, in place of the limits its workers' code declares" { "set here" }
                                " " span.none { "(declared: " (q.declared_limits_text.as_deref().unwrap_or("none")) ")" }
                            }
                            @if !page.read_only {
                                " " a href=(page.link(&format!("{path}/limits"))) { "Edit" }
                            }
                            @if q.overridden {
                                " " (page.button(&format!("{path}/limits/reset"), "Reset to code", "", Some("Go back to the limits the workers' code declares?")))
                            }
                        }
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
    Shown(Path((queue, action))): Shown<Path<(String, String)>>,
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

/// The form that sets a queue's limits: each field empty for "no such limit".
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LimitsForm {
    #[serde(default)]
    global: String,
    #[serde(default)]
    key_field: String,
    #[serde(default)]
    key_limit: String,
    #[serde(default)]
    rate_limit: String,
    #[serde(default)]
    rate_period_s: String,
}

impl LimitsForm {
    fn limits(&self) -> Result<Limits, AdminError> {
        let number = |label: &str, text: &str| -> Result<Option<u32>, AdminError> {
            match text.trim() {
                "" => Ok(None),
                text => text.parse().map(Some).map_err(|_| {
                    AdminError::bad_request(format!(
                        "{label} must be a whole number of at least 1, not {text:?}"
                    ))
                }),
            }
        };
        let per_key = match (
            self.key_field.trim(),
            number("the limit per key", &self.key_limit)?,
        ) {
            ("", None) => None,
            (field, Some(limit)) if !field.is_empty() => Some(model::KeyLimit {
                field: field.to_owned(),
                limit,
            }),
            _ => {
                return Err(AdminError::bad_request(
                    "a limit per key needs both the key field and the limit",
                ))
            }
        };
        let period = match self.rate_period_s.trim() {
            "" => None,
            text => match text.parse::<f64>() {
                Ok(seconds) if seconds.is_finite() && seconds > 0.0 => {
                    Some((seconds * 1000.0).round() as u64)
                }
                _ => {
                    return Err(AdminError::bad_request(format!(
                        "the rate's period must be a number of seconds above 0, not {text:?}"
                    )))
                }
            },
        };
        let rate = match (number("the rate limit", &self.rate_limit)?, period) {
            (None, None) => None,
            (Some(limit), Some(period_ms)) => Some(model::Rate { limit, period_ms }),
            _ => {
                return Err(AdminError::bad_request(
                    "a rate limit needs both the number of starts and the period",
                ))
            }
        };
        Ok(Limits {
            global: number("the global limit", &self.global)?,
            per_key,
            rate,
        })
    }
}

/// The form that sets queue `queue`'s limits, filled with those in force.
pub(crate) async fn edit_limits(
    request: Request,
    Shown(Path(queue)): Shown<Path<String>>,
) -> Response {
    // A form for a queue that is not there would only fail when sent.
    if let Err(error) = actions::known_queue(&request.state.zart, &queue).await {
        return request.failed(error);
    }
    let queues = match request.state.inspector.queues().await {
        Ok(queues) => queues,
        Err(error) => return request.failed(error.into()),
    };
    let limits = queues
        .into_iter()
        .find(|q| q.queue == queue)
        .map(Queue::from)
        .map(|q| q.limits)
        .unwrap_or_default();
    let page = request.page();
    let path = format!("/queues/{}/limits", percent_encode(&queue));
    let text = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    let key = limits.per_key.as_ref();
    let rate = limits.rate.as_ref();
    let body = html! {
        p { "Limits hold across every worker on the database, from each worker's next claim. Set here, they replace the ones the workers' code declares until you reset them. Leave a field empty for no such limit." }
        @if page.read_only {
            p { "This admin is read-only." }
        } @else {
            form.limits method="post" action=(page.action(&path)) {
                fieldset {
                    legend { "At once, across all workers" }
                    label { "Global limit " input type="number" name="global" min="1" value=(text(limits.global)); }
                }
                fieldset {
                    legend { "Per key" }
                    label { "Key field " input type="text" name="key_field" placeholder="tenant.id" value=(key.map(|k| k.field.as_str()).unwrap_or_default()); }
                    label { "At most " input type="number" name="key_limit" min="1" value=(text(key.map(|k| k.limit))); " of one key" }
                }
                fieldset {
                    legend { "Rate" }
                    label { "At most " input type="number" name="rate_limit" min="1" value=(text(rate.map(|r| r.limit))); " starts" }
                    label { " per " input type="number" name="rate_period_s" min="0.001" step="0.001" value=(rate.map(|r| (r.period_ms as f64 / 1000.0).to_string()).unwrap_or_default()); " seconds" }
                }
                button type="submit" { "Set limits" }
            }
        }
        p { a href=(page.link("/queues")) { "Back to the queues" } }
    };
    request.render(
        &format!("Limits of {}", visible(&queue)),
        "queues",
        Live::OFF,
        body,
    )
}

pub(crate) async fn set_limits(
    request: Request,
    Shown(Path(queue)): Shown<Path<String>>,
    Form(form): Form<LimitsForm>,
) -> Response {
    let set = async {
        let limits = form.limits()?;
        actions::set_limits(&request.state.zart, &queue, Some(limits)).await
    };
    match set.await {
        Ok(()) => request.redirect("/queues", &format!("Queue {queue}'s limits set")),
        Err(error) => request.failed(error),
    }
}

pub(crate) async fn reset_limits(
    request: Request,
    Shown(Path(queue)): Shown<Path<String>>,
) -> Response {
    match actions::set_limits(&request.state.zart, &queue, None).await {
        Ok(()) => request.redirect(
            "/queues",
            &format!("Queue {queue} is back to its declared limits"),
        ),
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
                        td.id { (id(&w.id)) }
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
