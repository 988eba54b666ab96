//! The web UI: server-rendered pages over the same reads and actions as the API. Each page
//! also renders just its live region (`?fragment=1`), which the page's script fetches
//! again when the store announces a change.

mod fleet;
mod layout;
mod overview;
mod schedules;
mod task;
mod tasks;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Query};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::Markup;
use serde::Deserialize;

use crate::auth::Base;
use crate::error::AdminError;
use crate::params::{percent_encode, under};
use crate::State;

pub(crate) use layout::{error_page, unauthorized};
use layout::{respond, Live, Page};

pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/", get(overview::show))
        .route("/tasks", get(tasks::list))
        .route("/bulk", get(tasks::confirm_bulk).post(tasks::run_bulk))
        .route("/tasks/{id}", get(task::show))
        .route("/tasks/{id}/events", axum::routing::post(task::send_event))
        .route("/tasks/{id}/{action}", axum::routing::post(task::act))
        .route("/schedules", get(schedules::list))
        .route("/schedules/{id}", get(schedules::show))
        .route(
            "/schedules/{id}/{action}",
            axum::routing::post(schedules::act),
        )
        .route("/queues", get(fleet::queues))
        .route("/queues/{queue}/{action}", axum::routing::post(fleet::act))
        .route(
            "/queues/{queue}/limits",
            get(fleet::edit_limits).post(fleet::set_limits),
        )
        .route(
            "/queues/{queue}/limits/reset",
            axum::routing::post(fleet::reset_limits),
        )
        .route("/workers", get(fleet::workers))
        .fallback(|request: Request| async move {
            request.failed(AdminError::not_found("no such page"))
        })
}

/// The style sheet and the script, compiled in, outside the token check (the page that
/// asks for the token uses them).
pub(crate) fn assets() -> Router<Arc<State>> {
    const CSS: &str = include_str!("../../assets/admin.css");
    const JS: &str = include_str!("../../assets/admin.js");
    Router::new()
        .route(
            "/assets/admin.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS) }),
        )
        .route(
            "/assets/admin.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    JS,
                )
            }),
        )
}

/// What every page's query may hold besides its own: a notice to show, and whether only
/// the live region is wanted.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Common {
    notice: Option<String>,
    fragment: Option<String>,
}

/// A page's context from the request.
pub(crate) struct Request {
    base: String,
    state: Arc<State>,
    common: Common,
}

impl FromRequestParts<Arc<State>> for Request {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<State>,
    ) -> Result<Self, Response> {
        let Base(base) = parts.extensions.get::<Base>().cloned().unwrap_or_default();
        let common = Query::<Common>::try_from_uri(&parts.uri)
            .map(|Query(common)| common)
            .unwrap_or_default();
        Ok(Request {
            base,
            state: state.clone(),
            common,
        })
    }
}

/// An extractor of [`crate::extract`] whose failure is shown as the error page.
pub(crate) struct Shown<E>(pub E);

impl<E> FromRequestParts<Arc<State>> for Shown<E>
where
    E: FromRequestParts<Arc<State>, Rejection = AdminError> + Send,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<State>,
    ) -> Result<Self, Response> {
        match E::from_request_parts(parts, state).await {
            Ok(value) => Ok(Shown(value)),
            Err(error) => Err(Request::from_request_parts(parts, state)
                .await?
                .failed(error)),
        }
    }
}

impl Request {
    fn page(&self) -> Page<'_> {
        Page {
            base: &self.base,
            csrf: &self.state.csrf,
            read_only: self.state.read_only,
            notice: self.common.notice.as_deref().filter(|n| !n.is_empty()),
        }
    }

    /// `body` as a page, or only the body when the script asks for the live region.
    fn render(&self, title: &str, section: &str, live: Live, body: Markup) -> Response {
        match self.common.fragment.is_some() {
            true => respond(StatusCode::OK, body),
            false => respond(
                StatusCode::OK,
                self.page().render(title, section, live, body),
            ),
        }
    }

    /// The page for a failed request.
    fn failed(&self, error: AdminError) -> Response {
        error_page(
            &self.base,
            self.state.read_only,
            error.status,
            &error.message,
        )
    }

    /// Back to `path` (under the admin), showing `notice`.
    fn redirect(&self, path: &str, notice: &str) -> Response {
        let path = path.trim_end_matches(['?', '&']);
        let separator = if path.contains('?') { '&' } else { '?' };
        let location = format!(
            "{}{separator}notice={}",
            under(&self.base, path),
            percent_encode(notice)
        );
        Redirect::to(&location).into_response()
    }
}

/// The path of task `id`'s page (under the admin).
fn task_path(id: &str) -> String {
    format!("/tasks/{}", percent_encode(id))
}

/// The path of schedule `id`'s page (under the admin).
fn schedule_path(id: &str) -> String {
    format!("/schedules/{}", percent_encode(id))
}
