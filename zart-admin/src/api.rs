//! The JSON API under `/api/v1`: what the pages show, for programs, and the same actions.
//! `openapi.json` describes every route.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State as Shared;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actions::{self, BulkReport, QueueAction, ScheduleAction, TaskAction};
use crate::error::{AdminError, AdminResult};
use crate::extract::{Path, Query};
use crate::model::{
    self, Limits, Overview, Queue, Schedule, ScheduleDetail, TaskDetail, TaskPage, Worker,
};
use crate::params::ListParams;
use crate::{live, openapi, State};

type Shared_ = Shared<Arc<State>>;

pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/overview", get(overview))
        .route("/tasks", get(tasks))
        .route("/tasks/{id}", get(task))
        .route("/tasks/{id}/events", post(send_event))
        .route("/tasks/{id}/{action}", post(task_action))
        .route("/bulk/{action}", post(bulk))
        .route("/schedules", get(schedules))
        .route("/schedules/{id}", get(schedule))
        .route("/schedules/{id}/{action}", post(schedule_action))
        .route("/queues", get(queues))
        .route("/queues/{queue}/{action}", post(queue_action))
        .route(
            "/queues/{queue}/limits",
            axum::routing::put(set_limits).delete(reset_limits),
        )
        .route("/workers", get(workers))
        .route("/stream", get(live::stream))
        .route("/openapi.json", get(openapi::document))
        .fallback(|| async { AdminError::not_found("no such API route: see /api/v1/openapi.json") })
}

async fn overview(Shared(state): Shared_) -> AdminResult<Json<Overview>> {
    Ok(Json(model::overview(&state.inspector).await?))
}

/// A page of tasks, and their count when asked for (`count=true`).
#[derive(Serialize)]
struct Listing {
    #[serde(flatten)]
    page: TaskPage,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
}

#[derive(Deserialize)]
struct CountParam {
    count: Option<bool>,
}

async fn tasks(
    Shared(state): Shared_,
    Query(params): Query<ListParams>,
    Query(count): Query<CountParam>,
) -> AdminResult<Json<Listing>> {
    let filter = params.filter(&state.inspector).await?;
    let page = model::task_page(&state.inspector, &filter, params.limit()?).await?;
    let count = match count.count {
        Some(true) => Some(state.inspector.count(&filter).await?),
        _ => None,
    };
    Ok(Json(Listing { page, count }))
}

async fn task(Shared(state): Shared_, Path(id): Path<String>) -> AdminResult<Json<TaskDetail>> {
    Ok(Json(model::task_detail(&state.inspector, &id).await?))
}

async fn task_action(
    Shared(state): Shared_,
    Path((id, action)): Path<(String, String)>,
) -> AdminResult<Json<Value>> {
    let action = TaskAction::parse(&action)?;
    actions::on_task(&state.zart, action, &id).await?;
    Ok(Json(json!({ "id": id, "done": action.done() })))
}

#[derive(Deserialize)]
struct EventBody {
    name: String,
    #[serde(default)]
    payload: Value,
}

async fn send_event(
    Shared(state): Shared_,
    Path(id): Path<String>,
    body: Result<Json<EventBody>, JsonRejection>,
) -> AdminResult<Json<Value>> {
    // The rejection's own status: 413 for a body over the limit, 415 without the JSON type.
    let Json(event) = body.map_err(|e| AdminError {
        status: e.status(),
        ..AdminError::bad_request(e.body_text())
    })?;
    let woken = actions::send_event(&state.zart, &id, &event.name, &event.payload).await?;
    Ok(Json(
        json!({ "id": id, "event": event.name, "woke": woken }),
    ))
}

async fn bulk(
    Shared(state): Shared_,
    Path(action): Path<String>,
    Query(params): Query<ListParams>,
) -> AdminResult<Json<BulkReport>> {
    let action = TaskAction::parse(&action)?;
    let filter = params.filter(&state.inspector).await?;
    Ok(Json(actions::bulk(&state.zart, action, &filter).await?))
}

async fn schedules(Shared(state): Shared_) -> AdminResult<Json<Vec<Schedule>>> {
    Ok(Json(model::schedules(&state.inspector).await?))
}

async fn schedule(
    Shared(state): Shared_,
    Path(id): Path<String>,
) -> AdminResult<Json<ScheduleDetail>> {
    Ok(Json(model::schedule_detail(&state.inspector, &id).await?))
}

async fn schedule_action(
    Shared(state): Shared_,
    Path((id, action)): Path<(String, String)>,
) -> AdminResult<Json<Value>> {
    let action = ScheduleAction::parse(&action)?;
    actions::on_schedule(&state.zart, action, &id).await?;
    Ok(Json(json!({ "id": id, "done": action.done() })))
}

async fn queue_action(
    Shared(state): Shared_,
    Path((queue, action)): Path<(String, String)>,
) -> AdminResult<Json<Value>> {
    let action = QueueAction::parse(&action)?;
    actions::on_queue(&state.zart, action, &queue).await?;
    Ok(Json(json!({ "queue": queue, "done": action.done() })))
}

async fn set_limits(
    Shared(state): Shared_,
    Path(queue): Path<String>,
    body: Result<Json<Limits>, JsonRejection>,
) -> AdminResult<Json<Value>> {
    let Json(limits) = body.map_err(|e| AdminError {
        status: e.status(),
        ..AdminError::bad_request(e.body_text())
    })?;
    actions::set_limits(&state.zart, &queue, Some(limits)).await?;
    Ok(Json(json!({ "queue": queue, "done": "limited" })))
}

async fn reset_limits(
    Shared(state): Shared_,
    Path(queue): Path<String>,
) -> AdminResult<Json<Value>> {
    actions::set_limits(&state.zart, &queue, None).await?;
    Ok(Json(json!({ "queue": queue, "done": "reset" })))
}

async fn queues(Shared(state): Shared_) -> AdminResult<Json<Vec<Queue>>> {
    let queues = state.inspector.queues().await?;
    Ok(Json(queues.into_iter().map(Queue::from).collect()))
}

async fn workers(Shared(state): Shared_) -> AdminResult<Json<Vec<Worker>>> {
    Ok(Json(model::workers(&state.inspector).await?))
}
