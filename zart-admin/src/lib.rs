//! # zart-admin
//!
//! See and steer what a [Zart](zart) store holds: a JSON API under `/api/v1` (described by
//! the OpenAPI document it serves at `/api/v1/openapi.json`) and a server-rendered web UI
//! over it (overview, tasks and executions with their step timelines, recurring schedules,
//! queues and workers; cancel, retry, restart, send an event, trigger, pause, resume, stop,
//! and bulk retry or cancel of everything a filter matches), with live updates. No
//! JavaScript toolchain: the page's one small script and its style sheet are compiled in.
//!
//! It is an [`axum::Router`] to nest in an application, or to serve on its own (as
//! `zart serve` does):
//!
//! ```no_run
//! use zart_admin::Admin;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let zart = zart::Zart::connect("sqlite://app.db").await?;
//! let admin = Admin::new(zart).with_token("a-long-random-secret");
//! let app = axum::Router::new().nest("/admin", admin.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Safe by default
//!
//! - Every request needs the admin's token: `Authorization: Bearer <token>` (the API's
//!   clients), or the cookie a browser gets by opening any page once with `?token=<token>`.
//!   [`Admin::new`] makes a random token (see [`Admin::token`]) unless one is given;
//!   [`Admin::authorize`] replaces the token check with the application's own.
//! - A request that changes something and carries no `Authorization` header (a browser's)
//!   must also carry the page's anti-forgery value and come from the same site, so another
//!   site cannot make a logged-in browser act.
//! - [`Admin::read_only`] refuses every change.
//! - Every value from the database is escaped in the pages; request bodies are bounded;
//!   a bad filter or an unknown id is a 4xx with a message naming what was wrong.
//! - [`serve`] serves where it is told; `zart serve` binds 127.0.0.1 unless told otherwise.
#![warn(missing_docs)]

mod actions;
mod api;
mod auth;
mod error;
mod extract;
mod live;
mod metrics;
mod model;
mod openapi;
mod params;
mod ui;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::request::Parts;
use axum::Router;
use zart::inspect::Inspector;
use zart::Zart;

/// The Prometheus exporter whose recorder [`Admin::metrics`] serves, re-exported so that
/// its version always matches the admin's.
pub use metrics_exporter_prometheus as prometheus;

/// The largest request body accepted (an event's payload, a form): 64 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A check of a request's credentials, in place of the admin's token.
type Authorize = dyn Fn(&Parts) -> bool + Send + Sync;

/// The admin over one Zart store: build it, then take its [`router`](Admin::router).
#[derive(Clone)]
pub struct Admin {
    state: State,
}

/// What every handler sees.
#[derive(Clone)]
pub(crate) struct State {
    pub zart: Zart,
    pub inspector: Inspector,
    pub token: String,
    pub authorize: Option<Arc<Authorize>>,
    /// The anti-forgery value the pages put in every form that changes something.
    pub csrf: String,
    pub read_only: bool,
    /// What `GET /metrics` renders, if the application asked for it.
    pub metrics: Option<prometheus::PrometheusHandle>,
}

/// A value no one can guess: 244 random bits from the operating system, as hex.
fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Admin {
    /// The admin over `zart`, with a random token ([`token`](Self::token) tells it).
    pub fn new(zart: Zart) -> Self {
        let inspector = zart.inspector();
        Admin {
            state: State {
                zart,
                inspector,
                token: secret(),
                authorize: None,
                csrf: secret(),
                read_only: false,
                metrics: None,
            },
        }
    }

    /// Requests must carry `token`. An empty token is replaced by a random one.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        if !token.is_empty() {
            self.state.token = token;
        }
        self
    }

    /// Lets through the requests `authorize` accepts, instead of checking the token: for
    /// an application that authenticates its users itself (a session it already has).
    /// The anti-forgery check still applies to browsers' changes.
    pub fn authorize(mut self, authorize: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        self.state.authorize = Some(Arc::new(authorize));
        self
    }

    /// Refuses every request that would change something (403).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.state.read_only = read_only;
        self
    }

    /// Serves `GET /metrics`: what the recorder of `handle` holds, in the Prometheus text
    /// format, behind the same credentials as every other route (a scraper sends the
    /// token as a bearer token). Also gives Zart's metrics their descriptions
    /// ([`zart::metrics::describe`]) in the global recorder, which should be that same
    /// recorder.
    ///
    /// ```no_run
    /// use zart_admin::{prometheus::PrometheusBuilder, Admin};
    ///
    /// # async fn demo(zart: zart::Zart) -> Result<(), Box<dyn std::error::Error>> {
    /// let handle = PrometheusBuilder::new().install_recorder()?;
    /// let admin = Admin::new(zart).with_token("a-long-random-secret").metrics(handle);
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:7080").await?;
    /// zart_admin::serve(&admin, listener).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn metrics(mut self, handle: prometheus::PrometheusHandle) -> Self {
        zart::metrics::describe();
        self.state.metrics = Some(handle);
        self
    }

    /// The token requests must carry (unless [`authorize`](Self::authorize) replaced it).
    pub fn token(&self) -> &str {
        &self.state.token
    }

    /// The admin's routes: the UI at `/`, the API under `/api/v1`. Nest it anywhere.
    pub fn router(&self) -> Router {
        let state = Arc::new(self.state.clone());
        Router::new()
            .merge(ui::routes())
            .merge(metrics::routes())
            .nest("/api/v1", api::routes())
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::guard,
            ))
            .merge(ui::assets())
            .layer(axum::middleware::from_fn(auth::security_headers))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(state)
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("read_only", &self.state.read_only)
            .finish_non_exhaustive()
    }
}

/// The admin over `zart` with a random token: [`Admin::new`]`(zart).router()`.
pub fn router(zart: Zart) -> Router {
    Admin::new(zart).router()
}

/// Serves `admin` on `listener` until the process ends.
///
/// ```no_run
/// # async fn demo(admin: zart_admin::Admin) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:7080").await?;
/// println!("open http://{}/?token={}", listener.local_addr()?, admin.token());
/// zart_admin::serve(&admin, listener).await
/// # }
/// ```
pub async fn serve(admin: &Admin, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, admin.router()).await
}

/// The examples of `docs/admin.md`, compiled as doc tests so that it only says what is true.
#[doc = include_str!("../../docs/admin.md")]
#[cfg(doctest)]
pub struct AdminDocDoctests;

/// The examples of `docs/metrics.md`, compiled as doc tests.
#[doc = include_str!("../../docs/metrics.md")]
#[cfg(doctest)]
pub struct MetricsDocDoctests;
