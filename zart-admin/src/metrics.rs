//! `GET /metrics`: the process's metrics in the Prometheus text format, rendered from the
//! Prometheus recorder the application installed (see [`Admin::metrics`](crate::Admin::metrics)).

use std::sync::Arc;

use axum::extract::State as Shared;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::State;

/// The content type of Prometheus's text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new().route("/metrics", get(render))
}

async fn render(Shared(state): Shared<Arc<State>>) -> Response {
    let Some(handle) = &state.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Without the exporter's HTTP listener nothing else drains the histograms' buckets.
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], handle.render()).into_response()
}
