//! The OpenAPI 3.1 document of the JSON API, served at `/api/v1/openapi.json`.

use axum::Json;
use serde_json::{json, Map, Value};

/// Every operation: method, path (under `/api/v1`), summary, and the parameters it takes
/// beyond the path's.
const OPERATIONS: &[(&str, &str, &str, &[&str])] = &[
    (
        "get",
        "/overview",
        "Counts by status and queue, the last hour's throughput, workers and schedules",
        &[],
    ),
    (
        "get",
        "/tasks",
        "A page of tasks matching the filter, newest first; `next` is the next page's `after`. A suspended durable execution has the status of its wait (`sleeping`, `awaiting_event`, `awaiting_child`) and `waiting_on`: `{\"kind\": \"sleep\", \"name\", \"until\"}`, `{\"kind\": \"event\", \"name\", \"deadline\"}`, `{\"kind\": \"child\", \"child_id\", \"deadline\"}` (or, pending, `{\"kind\": \"retry\", \"step\", \"until\", \"error\"}`)",
        FILTER,
    ),
    (
        "get",
        "/tasks/{id}",
        "One task with its step timeline (each step with its `failed_attempts`), what it waits on (`waiting_on`, as in the task), its events and children; `durable` tells an execution from a plain task (`null`: unknown)",
        &[],
    ),
    (
        "post",
        "/tasks/{id}/{action}",
        "`cancel`, `retry` (keeps completed steps) or `restart` (from scratch) one task",
        &[],
    ),
    (
        "post",
        "/tasks/{id}/events",
        "Send an event to a durable execution (409 for a plain task); body `{\"name\": .., \"payload\": ..}`",
        &[],
    ),
    (
        "post",
        "/bulk/{action}",
        "`retry`, `restart` or `cancel` every task the filter matches that the action applies to",
        FILTER,
    ),
    (
        "get",
        "/schedules",
        "Every recurring schedule, described in plain words, with its next slots",
        &[],
    ),
    (
        "get",
        "/schedules/{id}",
        "One schedule with its history of decisions, newest first",
        &[],
    ),
    (
        "post",
        "/schedules/{id}/{action}",
        "`pause`, `resume`, `trigger` or `stop` a schedule",
        &[],
    ),
    (
        "get",
        "/queues",
        "Each queue's task names, counts by status, oldest due task, limits and pause",
        &[],
    ),
    (
        "post",
        "/queues/{queue}/{action}",
        "`pause` or `resume` a queue for every worker (running tasks finish); 404 for a queue no worker declared and without controls, the message listing the queues there are",
        &[],
    ),
    (
        "put",
        "/queues/{queue}/limits",
        "Set a queue's limits for every worker over its declared ones; body like `limits` in `/queues`: `{\"global\": 3, \"per_key\": {\"field\": \"tenant\", \"limit\": 1}, \"rate\": {\"limit\": 10, \"period_ms\": 1000}}`, each key optional (absent: no such limit); 404 for an unknown queue, as for `pause`",
        &[],
    ),
    (
        "delete",
        "/queues/{queue}/limits",
        "Remove the limits set with `put`: the declared ones hold again (409 when none were set; 404 for an unknown queue)",
        &[],
    ),
    (
        "get",
        "/workers",
        "Live worker processes with their last heartbeat and the tasks they run",
        &[],
    ),
    (
        "get",
        "/stream",
        "Server-sent events: `change` whenever work is scheduled or tasks end",
        &[],
    ),
    ("get", "/openapi.json", "This document", &[]),
];

/// The task filter's query parameters.
const FILTER: &[&str] = &[
    "status", "name", "queue", "id", "since", "until", "parent", "after", "limit", "count",
];

fn parameter(name: &str) -> Value {
    let description = match name {
        "status" => "pending, waiting, running, completed, failed, dead or cancelled; or, for a durable execution suspended in a wait (stored as pending, which then leaves it out), sleeping, awaiting_event or awaiting_child",
        "name" => "the task name",
        "queue" => "a queue: its task names, as workers declared them",
        "id" => "an id prefix (exact, case included)",
        "since" => "created at or after: RFC 3339, or a time ago like -2h",
        "until" => "created before: RFC 3339, or a time ago",
        "parent" => "the children of this execution",
        "after" => "the `next` of the previous page",
        "limit" => "tasks per page, 1 to 500 (default 50)",
        "count" => "true: also count every matching task",
        _ => "",
    };
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string" } })
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect()
}

/// The document.
pub(crate) fn spec() -> Value {
    let mut paths = Map::new();
    for (method, path, summary, query) in OPERATIONS {
        let mut parameters = path_parameters(path);
        parameters.extend(query.iter().map(|name| parameter(name)));
        let operation = json!({
            "summary": summary,
            "parameters": parameters,
            "responses": {
                "200": { "description": "OK", "content": { "application/json": {} } },
                "4XX": { "description": "`{\"error\": {\"code\", \"message\"}}` naming what was wrong" },
            },
        });
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        if let Some(methods) = entry.as_object_mut() {
            methods.insert(method.to_string(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Zart admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every request needs the admin's token (`Authorization: Bearer <token>`). Changes are refused in read-only mode.",
        },
        "servers": [{ "url": "." }],
        "components": { "securitySchemes": { "token": { "type": "http", "scheme": "bearer" } } },
        "security": [{ "token": [] }],
        "paths": paths,
    })
}

pub(crate) async fn document() -> Json<Value> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_a_path_parameter_for_each_braced_segment() {
        let spec = spec();
        for (method, path, _, _) in OPERATIONS {
            let operation = &spec["paths"][path][method];
            let named: Vec<_> = operation["parameters"]
                .as_array()
                .map(|p| p.iter().filter(|p| p["in"] == "path").collect())
                .unwrap_or_default();
            assert_eq!(named.len(), path.matches('{').count(), "{method} {path}");
        }
    }
}
