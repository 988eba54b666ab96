//! The task list (filter by status, name, queue, id prefix, creation time; a page at a
//! time) and the bulk actions on everything a filter matches, confirmed with its count.

use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use zart::scheduler::{TaskFilter, TaskStatus};

use super::layout::{id, short, status, status_words, task_link, time, visible, Live, Page};
use super::{Request, Shown};
use crate::actions::{self, TaskAction};
use crate::error::{AdminError, AdminResult};
use crate::extract::Query;
use crate::model::{self, TaskPage};
use crate::params::ListParams;

pub(crate) async fn list(
    request: Request,
    Shown(Query(params)): Shown<Query<ListParams>>,
) -> Response {
    let inspector = &request.state.inspector;
    let shown = async {
        let filter = params.filter(inspector).await?;
        let page = model::task_page(inspector, &filter, params.limit()?).await?;
        AdminResult::Ok((page, inspector.queue_names().await?))
    };
    match shown.await {
        Ok((tasks, queues)) => {
            let page = request.page();
            let body = html! {
                (filters(&page, &params, &queues))
                (table(&page, &params, &tasks))
            };
            request.render("Tasks", "tasks", Live::EVERY_SECOND, body)
        }
        Err(error) => request.failed(error),
    }
}

fn filters(page: &Page<'_>, params: &ListParams, queues: &[String]) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let current = params.status.as_deref().unwrap_or("");
    let keep = |status: &str| {
        let mut p = params.clone();
        p.status = (!status.is_empty()).then(|| status.to_owned());
        let query = p.query_without_position();
        page.link(&format!("/tasks?{query}"))
    };
    html! {
        nav.tabs {
            a href=(keep("")) class=[current.is_empty().then_some("active")] { "all" }
            @for s in TaskStatus::ALL {
                a href=(keep(s.as_str())) class=[(current == s.as_str()).then_some("active")] { (status_words(s)) }
            }
        }
        form.filters method="get" action=(page.link("/tasks")) {
            input type="hidden" name="status" value=(current);
            label { "Name " input type="text" name="name" value=(value(&params.name)); }
            label { "Queue "
                select name="queue" {
                    option value="" { "any" }
                    @for q in queues {
                        option value=(q) selected[params.queue.as_deref() == Some(q.as_str())] { (visible(q)) }
                    }
                }
            }
            label { "Id starts with " input type="text" name="id" value=(value(&params.id)); }
            label { "Created since " input type="text" name="since" placeholder="-1h or 2026-01-05T09:00:00Z" value=(value(&params.since)); }
            label { "until " input type="text" name="until" value=(value(&params.until)); }
            button type="submit" { "Filter" }
        }
        @if !page.read_only {
            // Only the actions that apply to the status shown.
            @let status = TaskStatus::parse(current);
            p.bulk {
                @if status.is_none_or(TaskStatus::is_terminal) {
                    a.button href=(page.link(&format!("/bulk?action=retry&{}", params.query_without_position()))) { "Retry all matching…" }
                    " "
                }
                @if status.is_none_or(|s| !s.is_terminal()) {
                    a.button.danger href=(page.link(&format!("/bulk?action=cancel&{}", params.query_without_position()))) { "Cancel all matching…" }
                }
            }
        }
    }
}

fn table(page: &Page<'_>, params: &ListParams, tasks: &TaskPage) -> Markup {
    let query = params.query_without_position();
    html! {
        table.tasks {
            thead { tr { th { "Id" } th { "Name" } th { "Status" } th.n { "Attempts" } th { "Due" } th { "Created" } th { "Last error" } } }
            tbody {
                @for t in &tasks.tasks {
                    tr {
                        td { (task_link(page, &t.id)) }
                        td { (id(&t.name)) }
                        td {
                            (status(t.status))
                            @if let Some(waiting) = &t.waiting_on { " " (super::task::waiting_briefly(page, waiting)) }
                        }
                        td.n { (t.attempts) }
                        td { (time(t.run_at)) }
                        td { (time(t.created_at)) }
                        td.error { @if let Some(e) = &t.error { (short(e, 80)) } }
                    }
                }
                @if tasks.tasks.is_empty() { tr { td colspan="7" { "No task matches." } } }
            }
        }
        p.pages {
            @if params.after.is_some() { a href=(page.link(&format!("/tasks?{query}"))) { "← First page" } " " }
            @if let Some(next) = &tasks.next {
                a.next href=(page.link(&format!("/tasks?{query}&after={}", crate::params::percent_encode(next)))) { "Next page →" }
            }
        }
    }
}

/// The action a bulk request names.
#[derive(Deserialize)]
pub(crate) struct BulkParams {
    action: Option<String>,
}

fn bulk_action(params: &BulkParams) -> AdminResult<TaskAction> {
    match params.action.as_deref() {
        Some(action) => TaskAction::parse(action),
        None => Err(AdminError::bad_request(
            "say which action: action=retry, restart or cancel",
        )),
    }
}

/// How many tasks `filter` matches that `action` applies to.
async fn applicable(
    request: &Request,
    action: TaskAction,
    filter: &TaskFilter,
) -> AdminResult<u64> {
    let mut total = 0;
    for s in TaskStatus::ALL
        .into_iter()
        .filter(|s| action.applies_to(*s))
    {
        if filter.status.is_some_and(|wanted| wanted != s) {
            continue;
        }
        total += request
            .state
            .inspector
            .count(&filter.clone().status(s))
            .await?;
    }
    Ok(total)
}

/// Asks before acting: the action, the filter and how many tasks it will touch.
pub(crate) async fn confirm_bulk(
    request: Request,
    Shown(Query(bulk)): Shown<Query<BulkParams>>,
    Shown(Query(params)): Shown<Query<ListParams>>,
) -> Response {
    let asked = async {
        let action = bulk_action(&bulk)?;
        let filter = params.filter(&request.state.inspector).await?;
        let count = applicable(&request, action, &filter).await?;
        AdminResult::Ok((action, count))
    };
    let (action, count) = match asked.await {
        Ok(asked) => asked,
        Err(error) => return request.failed(error),
    };
    let page = request.page();
    let query = params.query_without_position();
    let verb = match action {
        TaskAction::Cancel => "Cancel",
        TaskAction::Retry => "Retry",
        TaskAction::Restart => "Restart",
    };
    let body = html! {
        p.confirm #bulk-count data-count=(count) {
            (verb) " " strong { (count) } " task" @if count != 1 { "s" } " matching "
            code { @if query.is_empty() { "every task" } @else { (query) } } "?"
        }
        @if count > 0 {
            (page.button(&format!("/bulk?action={}&{query}", action.as_str()), &format!("{verb} {count} tasks"), "danger confirm", None))
        }
        " "
        a href=(page.link(&format!("/tasks?{query}"))) { "Back" }
    };
    request.render(&format!("{verb} matching tasks"), "tasks", Live::OFF, body)
}

/// Acts on everything the filter matches, then shows the list with what was done.
pub(crate) async fn run_bulk(
    request: Request,
    Shown(Query(bulk)): Shown<Query<BulkParams>>,
    Shown(Query(params)): Shown<Query<ListParams>>,
) -> Response {
    let done = async {
        let action = bulk_action(&bulk)?;
        let filter = params.filter(&request.state.inspector).await?;
        let report = actions::bulk(&request.state.zart, action, &filter).await?;
        AdminResult::Ok((action, report))
    };
    match done.await {
        Ok((action, report)) => {
            let notice = format!(
                "{} {} of {} matching task{}",
                action.done(),
                report.changed,
                report.matched,
                if report.matched == 1 { "" } else { "s" }
            );
            request.redirect(
                &format!("/tasks?{}", params.query_without_position()),
                &notice,
            )
        }
        Err(error) => request.failed(error),
    }
}
