//! Recurring schedules: each one's expression in plain words, time zone, state and next
//! slots; one schedule's declaration, actions and history of decisions.

use axum::response::Response;
use maud::{html, Markup};

use super::layout::{id, maybe_time, status, task_link, time, visible, Live, Page};
use super::{schedule_path, Request, Shown};
use crate::actions::{self, ScheduleAction};
use crate::error::AdminError;
use crate::extract::Path;
use crate::model::{self, Schedule, ScheduleDetail};

pub(crate) async fn list(request: Request) -> Response {
    match model::schedules(&request.state.inspector).await {
        Ok(schedules) => {
            let page = request.page();
            let body = html! {
                table.schedules {
                    thead { tr { th { "Schedule" } th { "Task" } th { "State" } th { "When" } th { "Next slot" } th.n { "Runs" } } }
                    tbody {
                        @for s in &schedules {
                            tr {
                                td { a href=(page.link(&schedule_path(&s.id))) { (id(&s.id)) } }
                                td { (id(&s.task_name)) }
                                td { span class={ "state " (s.state) } { (s.state) } }
                                td { (s.description) }
                                td { (maybe_time(s.next_slot)) }
                                td.n { (s.occurrence) }
                            }
                        }
                        @if schedules.is_empty() { tr { td colspan="6" { "No recurring schedule is stored." } } }
                    }
                }
            };
            request.render("Schedules", "schedules", Live::EVERY_SECOND, body)
        }
        Err(error) => request.failed(error),
    }
}

pub(crate) async fn show(request: Request, Shown(Path(id)): Shown<Path<String>>) -> Response {
    match model::schedule_detail(&request.state.inspector, &id).await {
        Ok(detail) => {
            let body = body(&request.page(), &detail);
            request.render(
                &format!("Schedule {}", visible(&id)),
                "schedules",
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
        let action = ScheduleAction::parse(&action)?;
        actions::on_schedule(&request.state.zart, action, &id).await?;
        Ok::<_, AdminError>(action)
    };
    match done.await {
        Ok(action) => request.redirect(&schedule_path(&id), &format!("Schedule {}", action.done())),
        Err(error) => request.failed(error),
    }
}

fn controls(page: &Page<'_>, s: &Schedule) -> Markup {
    let path = schedule_path(&s.id);
    html! {
        p.actions {
            @match s.state {
                "active" => {
                    (page.button(&format!("{path}/trigger"), "Trigger now", "", Some("Start a run now?")))
                    (page.button(&format!("{path}/pause"), "Pause", "", None))
                    (page.button(&format!("{path}/stop"), "Stop", "danger", Some("Stop this schedule?")))
                },
                "paused" => {
                    (page.button(&format!("{path}/resume"), "Resume", "", None))
                    (page.button(&format!("{path}/stop"), "Stop", "danger", Some("Stop this schedule?")))
                },
                "stopped" => { (page.button(&format!("{path}/resume"), "Resume", "", None)) },
                _ => {},
            }
        }
    }
}

fn body(page: &Page<'_>, d: &ScheduleDetail) -> Markup {
    let s = &d.schedule;
    html! {
        (controls(page, s))
        dl.record {
            dt { "Task" } dd { (id(&s.task_name)) }
            dt { "When" } dd { (s.description) }
            dt { "Time zone" } dd { (s.timezone) }
            dt { "State" } dd { span class={ "state " (s.state) } { (s.state) } @if s.trigger_requested { " (trigger asked)" } }
            dt { "Missed runs" } dd { (s.missed) }
            dt { "Overlap" } dd { (s.overlap) }
            @if let Some(window) = &s.window { dt { "Window" } dd { code { (window) } } }
            dt { "Runs started" } dd { (s.occurrence) @if let Some(max) = s.max_runs { " of at most " (max) } }
            dt { "Last run ended" } dd { (maybe_time(s.last_finished_at)) }
        }
        h2 { "Next slots" }
        @if s.upcoming.is_empty() { p.none { "None: the schedule is not active, or has run its course." } }
        ol.upcoming {
            @for slot in &s.upcoming {
                li { (time(slot.at)) @if slot.outside_window { " — outside the window, skipped" } }
            }
        }
        h2 { "History" }
        table.history {
            thead { tr { th { "Slot" } th { "Decision" } th { "Run" } th { "Run status" } th { "Recorded" } } }
            tbody {
                @for h in &d.history {
                    tr {
                        td { (time(h.slot)) }
                        td { (h.decision) @if let Some(reason) = &h.reason { " (" (reason) ")" } }
                        td { @if let Some(id) = &h.task_id { (task_link(page, id)) } }
                        td { @if let Some(s) = h.status { (status(s)) } }
                        td { (time(h.recorded_at)) }
                    }
                }
                @if d.history.is_empty() { tr { td colspan="5" { "No slot was decided yet." } } }
            }
        }
    }
}
