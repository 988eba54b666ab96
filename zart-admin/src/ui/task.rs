//! One task or execution: its record, its actions, the step timeline, what it waits on,
//! its events (and a form to send one) and its children.

use axum::extract::Form;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{id, json, maybe_time, short, status, task_link, time, visible, Live, Page};
use super::{task_path, Request, Shown};
use crate::actions::{self, TaskAction};
use crate::error::AdminError;
use crate::extract::Path;
use crate::model::{self, Step, TaskDetail, Waiting};

pub(crate) async fn show(request: Request, Shown(Path(id)): Shown<Path<String>>) -> Response {
    match model::task_detail(&request.state.inspector, &id).await {
        Ok(detail) => {
            let body = body(&request.page(), &detail);
            request.render(
                &format!("Task {}", visible(&short(&id, 60))),
                "tasks",
                Live::EVERY_SECOND,
                body,
            )
        }
        Err(error) => request.failed(error),
    }
}

pub(crate) async fn act(
    request: Request,
    Shown(Path((id, action))): Shown<Path<(String, String)>>,
) -> Response {
    let done = async {
        let action = TaskAction::parse(&action)?;
        actions::on_task(&request.state.zart, action, &id).await?;
        Ok::<_, AdminError>(action)
    };
    match done.await {
        Ok(action) => request.redirect(&task_path(&id), &format!("Task {}", action.done())),
        Err(error) => request.failed(error),
    }
}

/// The event form's fields.
#[derive(Deserialize)]
pub(crate) struct EventForm {
    name: String,
    #[serde(default)]
    payload: String,
}

pub(crate) async fn send_event(
    request: Request,
    Shown(Path(id)): Shown<Path<String>>,
    Form(form): Form<EventForm>,
) -> Response {
    let sent = async {
        let payload: Value = match form.payload.trim() {
            "" => Value::Null,
            text => serde_json::from_str(text)
                .map_err(|e| AdminError::bad_request(format!("the payload is not JSON: {e}")))?,
        };
        actions::send_event(&request.state.zart, &id, form.name.trim(), &payload).await
    };
    match sent.await {
        Ok(woke) => {
            let notice = match woke {
                true => format!("Event {:?} sent; the execution woke", form.name.trim()),
                false => format!("Event {:?} sent", form.name.trim()),
            };
            request.redirect(&task_path(&id), &notice)
        }
        Err(error) => request.failed(error),
    }
}

fn body(page: &Page<'_>, d: &TaskDetail) -> Markup {
    let t = &d.task;
    let path = task_path(&t.id);
    html! {
        p.actions {
            (status(t.status))
            @if t.cancel_requested && !t.status.is_terminal() { " " span.badge { "stop asked" } }
            " "
            @if TaskAction::Cancel.applies_to(t.status) {
                (page.button(&format!("{path}/cancel"), "Cancel", "danger", Some("Cancel this task?")))
            } @else {
                (page.button(&format!("{path}/retry"), "Retry", "", Some("Run this task again, keeping its completed steps?")))
                (page.button(&format!("{path}/restart"), "Restart", "", Some("Run this task again from scratch, forgetting its steps?")))
            }
        }
        dl.record {
            dt { "Id" } dd.id { (id(&t.id)) }
            dt { "Name" } dd { (id(&t.name)) }
            dt { "Due" } dd { (time(t.run_at)) }
            dt { "Created" } dd { (time(t.created_at)) }
            dt { "Started" } dd { (maybe_time(t.started_at)) }
            dt { "Ended" } dd { (maybe_time(t.finished_at)) }
            dt { "Attempts" } dd { (attempts(d)) @if t.rescues > 0 { " (" (t.rescues) " rescued)" } }
            dt { "Lease" } dd {
                @match (&t.worker_id, t.lease_expires_at) {
                    (Some(worker), Some(until)) => { (id(worker)) " until " (time(until)) },
                    _ => span.none { "—" },
                }
            }
            dt { "Last worker" } dd { @if let Some(w) = &t.last_worker_id { (id(w)) } @else { span.none { "—" } } }
            @if let Some(parent) = &t.parent_id { dt { "Parent" } dd { (task_link(page, parent)) } }
            @if let Some(version) = &t.app_version { dt { "Version" } dd { (version) } }
            @if let Some(schedule) = &t.schedule_id {
                dt { "Schedule" } dd { a href=(page.link(&super::schedule_path(schedule))) { (id(schedule)) } }
            }
        }
        @if let Some(waiting) = &d.waiting_on { (waiting_on(page, waiting)) }
        @if let Some(error) = &t.error { h2 { "Error" } pre.error { (error) } }
        @if !d.failed_attempts.is_empty() {
            h2 { "Failed attempts" }
            table.attempts {
                thead { tr { th.n { "Attempt" } th { "Worker" } th { "Started" } th { "Failed" } th.n { "Took" } th { "Error" } } }
                tbody {
                    @for a in &d.failed_attempts {
                        tr {
                            td.n { (a.attempt) }
                            td { @if let Some(w) = &a.worker_id { (id(w)) } }
                            td { (maybe_time(a.started_at)) }
                            td { (time(a.finished_at)) }
                            td.n { @if let Some(ms) = a.duration_ms { (ms) " ms" } }
                            td { pre.error { (short(&a.error, 2_000)) } }
                        }
                    }
                }
            }
        }
        h2 { "Input" } (json(&t.input, 20_000))
        @if let Some(result) = &t.result { h2 { "Result" } (json(result, 20_000)) }
        @if !t.metadata.is_null() { h2 { "Metadata" } (json(&t.metadata, 5_000)) }
        @if !d.steps.is_empty() { (timeline(&d.steps)) }
        h2 { "Events" }
        @if d.events.is_empty() { p.none { "No event was sent to it." } }
        @else {
            table.events {
                thead { tr { th { "Name" } th { "Sent" } th { "Payload" } } }
                tbody { @for e in &d.events { tr { td { (id(&e.name)) } td { (time(e.sent_at)) } td { (json(&e.payload, 2_000)) } } } }
            }
        }
        @if !page.read_only && !t.status.is_terminal() && d.durable != Some(false) {
            form.event method="post" action=(page.action(&format!("{path}/events"))) {
                label { "Event name " input type="text" name="name" required; }
                label { "Payload (JSON) " textarea name="payload" rows="3" placeholder="{\"approved\": true}" {} }
                button type="submit" { "Send event" }
            }
        }
        @if !d.children.is_empty() {
            h2 { "Children" }
            table.children {
                thead { tr { th { "Id" } th { "Name" } th { "Status" } th { "Created" } } }
                tbody { @for c in &d.children { tr { td { (task_link(page, &c.id)) } td { (id(&c.name)) } td { (status(c.status)) } td { (time(c.created_at)) } } } }
            }
        }
    }
}

/// How many attempts the task has had. The store counts an attempt when a worker claims
/// the task and takes it back when the execution suspends (a suspension is no failure), so
/// a suspended execution counts one less than the attempt it is in, and resumes in.
fn attempts(d: &TaskDetail) -> Markup {
    let stored = d.task.attempts;
    match d.waiting_on {
        Some(_) => html! { (stored.saturating_add(1)) " (in progress, suspended)" },
        None => html! { (stored) },
    }
}

fn waiting_on(page: &Page<'_>, waiting: &Waiting) -> Markup {
    html! {
        p.waiting {
            "Waiting on: "
            @match waiting {
                Waiting::Sleep { name, until } => { "sleep " code { (id(name)) } " until " (time(*until)) },
                Waiting::Event { name, deadline } => { "event " code { (id(name)) } " until " (time(*deadline)) },
                Waiting::Child { child_id, deadline } => { "child " (task_link(page, child_id)) " until " (time(*deadline)) },
                Waiting::Retry { step, until, error } => { "step " code { (id(step)) } "'s next attempt at " (time(*until)) " (last error: " (short(error, 200)) ")" },
            }
        }
    }
}

/// What a suspended execution waits on, in a word or two for a listing, whose due column
/// says until when: the sleep's or the event's name, the child, the step to retry.
pub(crate) fn waiting_briefly(page: &Page<'_>, waiting: &Waiting) -> Markup {
    html! {
        span.waiting-on {
            @match waiting {
                Waiting::Sleep { name, .. } | Waiting::Event { name, .. } => { code { (id(name)) } },
                Waiting::Child { child_id, .. } => { "child " (task_link(page, child_id)) },
                Waiting::Retry { step, .. } => { "retry of " code { (id(step)) } },
            }
        }
    }
}

/// Each step as a bar from its start to its end on a shared time axis, then as rows.
fn timeline(steps: &[Step]) -> Markup {
    const WIDTH: f64 = 600.0;
    const ROW: usize = 18;
    let start = steps.iter().map(|s| s.started_at).min();
    let end = steps
        .iter()
        .filter_map(|s| s.finished_at.max(Some(s.started_at)))
        .max();
    let (Some(start), Some(end)) = (start, end) else {
        return html! {};
    };
    let total = ((end - start).num_milliseconds().max(1)) as f64;
    let x = |at: DateTime<Utc>| (at - start).num_milliseconds() as f64 / total * WIDTH;
    html! {
        h2 { "Steps" }
        svg.timeline viewBox={ "0 0 " (WIDTH + 200.0) " " (steps.len() * ROW + 4) } role="img" aria-label="step timeline" {
            @for (i, s) in steps.iter().enumerate() {
                @let left = x(s.started_at);
                @let right = x(s.finished_at.unwrap_or(s.started_at));
                @let y = i * ROW + 2;
                rect class=(s.outcome) x=(format!("{left:.1}")) y=(y) width=(format!("{:.1}", (right - left).max(2.0))) height=(ROW - 4) {
                    title { (visible(&s.name)) ": " (s.outcome) ", " (s.attempts) " attempt(s)" }
                }
                text x=(format!("{:.1}", WIDTH + 8.0)) y=(y + ROW - 6) { (visible(&short(&s.name, 28))) }
            }
        }
        table.steps {
            thead { tr { th.n { "#" } th { "Step" } th { "Outcome" } th.n { "Attempts" } th { "Started" } th.n { "Took" } th { "Output or error" } } }
            tbody {
                @for s in steps {
                    tr {
                        td.n { (s.seq) }
                        td { (id(&s.name)) @if s.occurrence > 0 { " (" (s.occurrence + 1) ")" } }
                        td { span class={ "status " (s.outcome) } { (s.outcome) } @if let Some(at) = s.retry_at { " until " (time(at)) } }
                        td.n { (s.attempts) }
                        td { (time(s.started_at)) }
                        td.n { @if let Some(ms) = s.duration_ms { (ms) " ms" } }
                        td {
                            @if let Some(error) = &s.error { pre.error { (short(error, 500)) } }
                            @if let Some(output) = &s.output { (json(output, 500)) }
                        }
                    }
                    @if !s.failed_attempts.is_empty() { (step_failures(s)) }
                }
            }
        }
    }
}

/// A step's failed attempts, in a row under the step's.
fn step_failures(s: &Step) -> Markup {
    html! {
        tr.step-attempts {
            td {}
            td colspan="6" {
                table.step-attempts aria-label={ "failed attempts of step " (s.seq) } {
                    thead { tr { th.n { "Failed attempt" } th { "Started" } th { "Failed" } th.n { "Took" } th { "Error" } } }
                    tbody {
                        @for a in &s.failed_attempts {
                            tr {
                                td.n { (a.attempt) }
                                td { (time(a.started_at)) }
                                td { (time(a.finished_at)) }
                                td.n { (a.duration_ms) " ms" }
                                td { pre.error { (short(&a.error, 500)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
