//! The overview: counts by status and by queue, the last hour's throughput and failures,
//! the oldest due task's age per queue.

use maud::{html, Markup};
use zart::scheduler::TaskStatus;

use super::layout::{id, span, status_words, Live, Page};
use super::Request;
use crate::model::{self, Minute, Overview};

pub(crate) async fn show(request: Request) -> axum::response::Response {
    match model::overview(&request.state.inspector).await {
        Ok(overview) => {
            let body = body(&request.page(), &overview);
            // The overview counts the whole table: refreshed less often.
            request.render("Overview", "overview", Live::EVERY_5_SECONDS, body)
        }
        Err(error) => request.failed(error),
    }
}

fn body(page: &Page<'_>, o: &Overview) -> Markup {
    html! {
        section.cards {
            @for status in TaskStatus::ALL {
                a.card href=(page.link(&format!("/tasks?status={status}"))) {
                    span class={ "count " (status.as_str()) } { (count(o, status)) }
                    span.label { (status_words(status)) }
                }
            }
        }
        section {
            h2 { "Last hour" }
            p.summary {
                (o.completed_last_hour) " completed, " (o.failed_last_hour) " failed or dead · "
                (o.workers) " live worker" @if o.workers != 1 { "s" } " · "
                a href=(page.link("/schedules")) { (o.schedules) " schedule" @if o.schedules != 1 { "s" } }
            }
            (throughput(&o.last_hour))
        }
        section {
            h2 { "Queues" }
            table.queues {
                thead { tr { th { "Queue" } th.n { "Pending" } th.n { "Running" } th.n { "Failed" } th.n { "Dead" } th { "Oldest due" } } }
                tbody {
                    @for q in &o.queues {
                        tr {
                            td { a href=(page.link(&format!("/tasks?queue={}", crate::params::percent_encode(&q.queue)))) { (id(&q.queue)) } }
                            td.n { (q.counts.pending) }
                            td.n { (q.counts.running) }
                            td.n { (q.counts.failed) }
                            td.n { (q.counts.dead) }
                            td { @match q.oldest_due_age_s { Some(s) => { "waiting " (span(s)) }, None => span.none { "—" } } }
                        }
                    }
                    @if o.queues.is_empty() { tr { td colspan="6" { "No tasks yet." } } }
                }
            }
        }
    }
}

fn count(o: &Overview, status: TaskStatus) -> u64 {
    let c = &o.counts;
    match status {
        TaskStatus::Pending => c.pending,
        TaskStatus::Waiting => c.waiting,
        TaskStatus::Running => c.running,
        TaskStatus::Sleeping => c.sleeping,
        TaskStatus::AwaitingEvent => c.awaiting_event,
        TaskStatus::AwaitingChild => c.awaiting_child,
        TaskStatus::Completed => c.completed,
        TaskStatus::Failed => c.failed,
        TaskStatus::Dead => c.dead,
        TaskStatus::Cancelled => c.cancelled,
    }
}

/// A bar per minute: completions above the line, failures below. Drawn as SVG, whose
/// sizes are attributes (the page's policy allows no inline style).
fn throughput(minutes: &[Minute]) -> Markup {
    const WIDTH: u64 = 600;
    const HALF: u64 = 50;
    let peak = minutes
        .iter()
        .map(|m| m.completed.max(m.failed + m.dead))
        .max()
        .unwrap_or(0)
        .max(1);
    let bar = WIDTH / minutes.len().max(1) as u64;
    let height = |n: u64| n * HALF / peak;
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HALF * 2) } role="img" aria-label="tasks ended per minute over the last hour" {
            line x1="0" y1=(HALF) x2=(WIDTH) y2=(HALF) class="axis" {}
            @for (i, m) in minutes.iter().enumerate() {
                @let x = i as u64 * bar;
                @let ok = height(m.completed);
                @let bad = height(m.failed + m.dead);
                rect.ok x=(x) y=(HALF - ok) width=(bar.saturating_sub(1)) height=(ok) {
                    title { (m.minute.format("%H:%M")) ": " (m.completed) " completed" }
                }
                rect.bad x=(x) y=(HALF) width=(bar.saturating_sub(1)) height=(bad) {
                    title { (m.minute.format("%H:%M")) ": " (m.failed) " failed, " (m.dead) " dead" }
                }
            }
        }
    }
}
