//! The page shell (navigation, notices, the live-update switch) and the small pieces every
//! page uses. maud escapes every value it is given: a task id of `<script>` shows as text.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};
use serde_json::Value;
use zart::scheduler::TaskStatus;

use crate::auth::CSRF_PARAM;
use crate::params::{percent_encode, under};

/// How often at most a page refreshes its live region when the store changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Live(Option<u32>);

impl Live {
    /// Never: the page shows what it read.
    pub const OFF: Live = Live(None);
    /// At most once a second.
    pub const EVERY_SECOND: Live = Live(Some(1000));
    /// At most every five seconds: for a page whose reads are heavy.
    pub const EVERY_5_SECONDS: Live = Live(Some(5000));
}

/// What a page needs to know of the request that asked for it.
pub(crate) struct Page<'a> {
    /// Where the admin is mounted.
    pub base: &'a str,
    /// The anti-forgery value forms carry.
    pub csrf: &'a str,
    pub read_only: bool,
    /// A notice to show (what an action just did).
    pub notice: Option<&'a str>,
}

impl Page<'_> {
    /// A link to `path` under the admin.
    pub fn link(&self, path: &str) -> String {
        under(self.base, path)
    }

    /// Where a form that changes something posts: `path` with the anti-forgery value.
    pub fn action(&self, path: &str) -> String {
        let separator = if path.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}{CSRF_PARAM}={}",
            self.link(path),
            percent_encode(self.csrf)
        )
    }

    /// A button that posts to `path` (nothing in read-only mode).
    pub fn button(&self, path: &str, label: &str, class: &str, confirm: Option<&str>) -> Markup {
        if self.read_only {
            return html! {};
        }
        html! {
            form.inline method="post" action=(self.action(path)) data-confirm=[confirm] {
                button.(class) type="submit" { (label) }
            }
        }
    }

    /// The whole page: `body` inside the shell; unless `live` is off, the region `#live`
    /// refreshes when the store changes, at most as often as it says (the user can pause
    /// it).
    pub fn render(&self, title: &str, section: &str, live: Live, body: Markup) -> Markup {
        let every = live.0;
        let live = every.is_some();
        let sections = [
            ("overview", "/", "Overview"),
            ("tasks", "/tasks", "Tasks"),
            ("schedules", "/schedules", "Schedules"),
            ("queues", "/queues", "Queues"),
            ("workers", "/workers", "Workers"),
        ];
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (visible(title)) " · Zart" }
                    link rel="stylesheet" href=(self.link("/assets/admin.css"));
                    script src=(self.link("/assets/admin.js")) defer {}
                }
                body data-base=(self.base) {
                    header.top {
                        a.brand href=(self.link("/")) { "Zart" }
                        nav {
                            @for (key, path, label) in sections {
                                a href=(self.link(path)) class=[(key == section).then_some("active")] { (label) }
                            }
                        }
                        @if self.read_only { span.badge.readonly { "read-only" } }
                        @if live {
                            span.live {
                                span #live-state { "live" }
                                button #live-toggle type="button" { "Pause" }
                            }
                        }
                    }
                    main {
                        h1 { (visible(title)) }
                        @if let Some(notice) = self.notice { p.notice role="status" { (visible(notice)) } }
                        div #live data-live=[live.then_some("on")] data-every=[every] { (body) }
                    }
                    dialog #confirm-dialog {
                        form method="dialog" {
                            p {}
                            button #confirm-yes value="yes" { "Yes" }
                            " "
                            button #confirm-no value="no" { "No" }
                        }
                    }
                }
            }
        }
    }
}

/// A status as a coloured word.
pub(crate) fn status(status: TaskStatus) -> Markup {
    html! { span class={ "status " (status.as_str()) } { (status_words(status)) } }
}

/// A status as people read it: `awaiting event` for `awaiting_event`.
pub(crate) fn status_words(status: TaskStatus) -> String {
    status.as_str().replace('_', " ")
}

/// An instant, in UTC to the second, with the exact value on hover.
pub(crate) fn time(at: DateTime<Utc>) -> Markup {
    html! { time datetime=(at.to_rfc3339()) title=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M:%S UTC")) } }
}

pub(crate) fn maybe_time(at: Option<DateTime<Utc>>) -> Markup {
    match at {
        Some(at) => time(at),
        None => html! { span.none { "—" } },
    }
}

/// How long ago `at` was, in words: `3 s`, `4 min`, `2 h`, `5 d`.
pub(crate) fn age(at: DateTime<Utc>) -> String {
    span((Utc::now() - at).num_seconds())
}

/// A span of seconds in words.
pub(crate) fn span(seconds: i64) -> String {
    match seconds {
        s if s < 0 => "in the future".to_owned(),
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// JSON, indented, at most `limit` characters (the rest is cut, and said to be).
pub(crate) fn json(value: &Value, limit: usize) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    let shown: String = text.chars().take(limit).collect();
    let cut = shown.len() < text.len();
    html! { pre.json { (shown) @if cut { "\n… (" (text.len()) " bytes in all)" } } }
}

/// Text cut to `limit` characters.
pub(crate) fn short(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Whether `c` is a control or an invisible formatting character: bidirectional marks,
/// embeddings, overrides and isolates, zero-width characters.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

/// `text` with every control and invisible formatting character shown as its escape
/// (`\u{202e}`, as Rust's debug format writes it): an override in an id would otherwise
/// reorder what the page shows (`gnp.exe` read as `exe.png`), and a zero-width one hide
/// that two ids differ.
pub(crate) fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match hidden(c) {
            true => shown.extend(c.escape_unicode()),
            false => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

/// An id or a name from the database: its hidden characters shown (see [`visible`]), and
/// isolated from the text around it, so that right-to-left letters in it move nothing
/// outside it.
pub(crate) fn id(text: &str) -> Markup {
    html! { bdi { (visible(text)) } }
}

/// A link to task `id`.
pub(crate) fn task_link(page: &Page<'_>, task: &str) -> Markup {
    html! { a.id href=(page.link(&format!("/tasks/{}", percent_encode(task)))) { (id(task)) } }
}

/// A complete HTML response.
pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// An error page. It has no form, so it needs no anti-forgery value.
pub(crate) fn error_page(
    base: &str,
    read_only: bool,
    status: StatusCode,
    message: &str,
) -> Response {
    let page = Page {
        base,
        csrf: "",
        read_only,
        notice: None,
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        p.error role="alert" { (message) }
        p { a href=(page.link("/")) { "Back to the overview" } }
    };
    respond(status, page.render(title, "", Live::OFF, body))
}

/// The page a request without the token gets: a field to give it.
pub(crate) fn unauthorized(base: &str, read_only: bool, message: &str) -> Response {
    let page = Page {
        base,
        csrf: "",
        read_only,
        notice: None,
    };
    let body = html! {
        p.error role="alert" { (message) }
        form.token method="get" {
            label for="token" { "Token" }
            input #token type="password" name="token" autocomplete="off" required;
            button type="submit" { "Open" }
        }
        p.hint { "`zart serve` prints the token (or a link with it) when it starts; it is "
            code { "ZART_ADMIN_TOKEN" } " when that is set." }
    };
    respond(
        StatusCode::UNAUTHORIZED,
        page.render("Token required", "", Live::OFF, body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_shown_as_escapes() {
        assert_eq!(visible("plain-id ü 日本"), "plain-id ü 日本");
        assert_eq!(visible("a\u{202e}gnp.exe"), "a\\u{202e}gnp.exe");
        assert_eq!(
            visible("x\u{200b}y\u{2066}z\n"),
            "x\\u{200b}y\\u{2066}z\\u{a}"
        );
        assert_eq!(
            id("<b>\u{202e}").into_string(),
            "<bdi>&lt;b&gt;\\u{202e}</bdi>"
        );
    }
}
