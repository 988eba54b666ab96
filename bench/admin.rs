//! The admin's API over a million tasks: how long its list and detail endpoints take (p50,
//! p95), through the router (the handler and the database, not the network).
//!
//! The table is filled by one SQL statement (the queue's own insert path is measured by
//! the other scenarios): 1M tasks of four names, created 100 ms apart over ~28 hours, 75 %
//! completed, 5 % failed, 15 % pending, 2 % cancelled, 3 % dead.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use zart::sqlite::rusqlite;
use zart::Zart;
use zart_admin::Admin;

use crate::target::{Bench, Driver, Place};
use crate::BoxError;

/// Tasks in the table.
const TASKS: u64 = 1_000_000;
/// Requests per endpoint.
const SAMPLES: usize = 200;

/// Makes the next request's URI (a random id, instant or prefix).
type UriMaker = Box<dyn Fn() -> String>;

/// One endpoint's figures.
pub struct Timing {
    pub endpoint: &'static str,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// Fills a fresh store with [`TASKS`] tasks and times each endpoint.
pub async fn measure(driver: &Driver) -> Result<Vec<Timing>, BoxError> {
    let bench = driver.bench("admin").await?;
    let started = Instant::now();
    fill(&bench).await?;
    bench.analyze().await?;
    eprintln!("  filled {TASKS} tasks in {:.0?}", started.elapsed());
    let admin = Admin::new(Zart::from_store(bench.scheduler.clone()));
    let token = admin.token().to_owned();
    let router = admin.router();
    let get = |uri: String| {
        let router = router.clone();
        let token = token.clone();
        async move {
            let request = Request::builder()
                .uri(&uri)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())?;
            let response = router.oneshot(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            if status != StatusCode::OK {
                return Err(format!("{uri}: {status} {}", String::from_utf8_lossy(&body)).into());
            }
            Ok::<_, BoxError>(body)
        }
    };
    let random_task = || format!("task-{:07}", fastrand::u64(1..=TASKS));
    // An instant within the table's ~28 hours, as the `until` of a page deep in the list.
    let random_until = || {
        let back = chrono::Duration::milliseconds(fastrand::i64(0..100_000_000));
        (chrono::Utc::now() - back).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let endpoints: Vec<(&'static str, UriMaker)> = vec![
        (
            "task detail: /tasks/{id}",
            Box::new(move || format!("/api/v1/tasks/{}", random_task())),
        ),
        (
            "failed, first page",
            Box::new(|| "/api/v1/tasks?status=failed".to_owned()),
        ),
        (
            "completed, a page deep in (until=random)",
            Box::new(move || format!("/api/v1/tasks?status=completed&until={}", random_until())),
        ),
        (
            "pending of one name",
            Box::new(|| "/api/v1/tasks?status=pending&name=resize".to_owned()),
        ),
        (
            "failed, id prefix",
            Box::new(|| {
                format!(
                    "/api/v1/tasks?status=failed&id=task-0{:02}",
                    fastrand::u32(0..100)
                )
            }),
        ),
        (
            "every status, first page",
            Box::new(|| "/api/v1/tasks".to_owned()),
        ),
        (
            "every status, id prefix",
            Box::new(|| format!("/api/v1/tasks?id=task-0{:03}", fastrand::u32(0..1000))),
        ),
    ];
    let mut timings = Vec::new();
    for (endpoint, uri) in &endpoints {
        let mut took = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let uri = uri();
            let started = Instant::now();
            get(uri).await?;
            took.push(started.elapsed());
        }
        timings.push(timing(endpoint, took));
    }
    // The overview counts the whole table: a few samples tell its cost.
    let mut took = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        get("/api/v1/overview".to_owned()).await?;
        took.push(started.elapsed());
    }
    timings.push(timing("overview (counts the whole table)", took));
    bench.remove().await?;
    Ok(timings)
}

fn timing(endpoint: &'static str, mut took: Vec<Duration>) -> Timing {
    took.sort();
    let at = |q: f64| {
        let index = ((took.len() as f64 - 1.0) * q).round() as usize;
        took.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let (p50_ms, p95_ms) = (at(0.50), at(0.95));
    eprintln!("  {endpoint}: p50 {p50_ms:.1} ms, p95 {p95_ms:.1} ms");
    Timing {
        endpoint,
        p50_ms,
        p95_ms,
    }
}

/// One statement that writes the whole table.
async fn fill(bench: &Bench) -> Result<(), BoxError> {
    let status = |i: &str| {
        format!(
            "CASE WHEN {i} % 100 < 75 THEN 'completed' WHEN {i} % 100 < 80 THEN 'failed'
                  WHEN {i} % 100 < 95 THEN 'pending' WHEN {i} % 100 < 97 THEN 'cancelled'
                  ELSE 'dead' END"
        )
    };
    match bench.place() {
        Place::Schema { pool, schema } => {
            let sql = format!(
                "INSERT INTO \"{schema}\".zart_tasks
                    (task_id, task_name, status, run_at, data, attempts, created_at, finished_at, error)
                 SELECT 'task-' || lpad(i::text, 7, '0'),
                        (ARRAY['send_email', 'resize', 'report', 'sync'])[1 + i % 4],
                        s, at, jsonb_build_object('n', i), 1, at,
                        CASE WHEN s <> 'pending' THEN at + interval '1 second' END,
                        CASE WHEN s IN ('failed', 'dead') THEN 'boom ' || i END
                 FROM (SELECT i, {status} AS s,
                              now() - ({TASKS} - i) * interval '100 milliseconds' AS at
                       FROM generate_series(1, {TASKS}) i) g",
                status = status("i")
            );
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
        }
        Place::File(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> Result<(), BoxError> {
                let conn = rusqlite::Connection::open(path)?;
                conn.busy_timeout(Duration::from_secs(30))?;
                let now = chrono::Utc::now().timestamp_millis();
                conn.execute_batch(&format!(
                    "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {TASKS})
                     INSERT INTO zart_tasks
                        (task_id, task_name, status, run_at, data, attempts, created_at, finished_at, error)
                     SELECT 'task-' || printf('%07d', i),
                            CASE i % 4 WHEN 0 THEN 'send_email' WHEN 1 THEN 'resize'
                                       WHEN 2 THEN 'report' ELSE 'sync' END,
                            s, at, json_object('n', i), 1, at,
                            CASE WHEN s <> 'pending' THEN at + 1000 END,
                            CASE WHEN s IN ('failed', 'dead') THEN 'boom ' || i END
                     FROM (SELECT i, {status} AS s, {now} - ({TASKS} - i) * 100 AS at FROM g)",
                    status = status("i")
                ))?;
                Ok(())
            })
            .await??;
        }
    }
    Ok(())
}
