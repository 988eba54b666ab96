//! The JSON API over seeded data: every view, the filters and their pages, and each action
//! changing the database.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use zart::scheduler::TaskStatus;
use zart_tests::TestDb;

use super::{seed, send_email, Client, WAIT};

fn ids(listing: &Value) -> Vec<String> {
    listing["tasks"]
        .as_array()
        .map(|tasks| {
            tasks
                .iter()
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// An instant the API wrote.
fn instant(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("{value} is no instant"))
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_reads_the_seeded_store(db: TestDb) {
    let worker = seed(&db).await;
    let client = Client::new(&db);

    let overview = client.get("/api/v1/overview").await.json();
    assert_eq!(overview["counts"]["completed"], 3, "{overview}");
    assert_eq!(overview["counts"]["failed"], 2);
    assert_eq!(overview["completed_last_hour"], 3);
    assert_eq!(overview["failed_last_hour"], 2);
    assert_eq!(overview["last_hour"].as_array().map(Vec::len), Some(60));
    assert_eq!(overview["workers"], 1);
    assert_eq!(overview["schedules"], 1);

    let failed = client
        .get("/api/v1/tasks?status=failed&count=true")
        .await
        .json();
    let mut failed_ids = ids(&failed);
    failed_ids.sort();
    assert_eq!(failed_ids, ["email-2", "email-4"]);
    assert_eq!(failed["count"], 2);
    assert_eq!(
        failed["tasks"][0]["error"]
            .as_str()
            .map(|e| e.contains("unavailable")),
        Some(true)
    );

    let detail = client.get("/api/v1/tasks/checkout-7").await.json();
    let steps: Vec<_> = detail["steps"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        steps,
        ["reserve", "charge", "event-deadline:approved"],
        "{detail}"
    );
    assert_eq!(detail["steps"][1]["output"], "pay-7");
    assert_eq!(detail["steps"][0]["outcome"], "completed");
    assert_eq!(detail["steps"][0]["failed_attempts"], json!([]), "{detail}");
    let charge = &detail["steps"][1];
    assert_eq!(charge["attempts"], 3);
    let failed = charge["failed_attempts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(failed.len(), 2, "the charge's failed attempts: {charge}");
    let mut previous_end = None;
    for (n, attempt) in (1..).zip(&failed) {
        assert_eq!(attempt["attempt"], n, "{attempt}");
        assert_eq!(
            attempt["error"], "card declined for order 7:\ninsufficient funds",
            "{attempt}"
        );
        let started = instant(&attempt["started_at"]);
        let ended = instant(&attempt["finished_at"]);
        assert!(started <= ended, "{attempt}");
        assert!(previous_end <= Some(started), "in order: {charge}");
        assert!(
            attempt["duration_ms"].as_i64().is_some_and(|ms| ms >= 0),
            "{attempt}"
        );
        previous_end = Some(ended);
    }
    assert_eq!(detail["waiting_on"]["kind"], "event");
    assert_eq!(detail["waiting_on"]["name"], "approved");
    assert_eq!(detail["task"]["input"], 7);

    let email = client.get("/api/v1/tasks/email-2").await.json();
    let failures = email["failed_attempts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(failures.len(), 1, "{email}");
    assert_eq!(failures[0]["attempt"], 1);
    assert!(failures[0]["error"]
        .as_str()
        .is_some_and(|e| e.contains("unavailable")));
    assert!(failures[0]["worker_id"].is_string());

    let queues = client.get("/api/v1/queues").await.json();
    let default = &queues[0];
    assert_eq!(default["queue"], "default");
    assert!(default["task_names"]
        .as_array()
        .is_some_and(|names| names.contains(&json!("no-worker-knows-it"))));
    assert_eq!(
        default["limits"]["global"], 50,
        "as the worker declared: {default}"
    );
    assert_eq!(default["paused"], false);

    let workers = client.get("/api/v1/workers").await.json();
    assert_eq!(workers.as_array().map(Vec::len), Some(1), "{workers}");
    assert!(workers[0]["task_names"]
        .as_array()
        .is_some_and(|names| names.contains(&json!("send_email"))));

    let schedules = client.get("/api/v1/schedules").await.json();
    let schedule = &schedules[0];
    assert_eq!(schedule["task_name"], "morning_report");
    assert_eq!(schedule["timezone"], "Europe/Paris");
    assert!(
        schedule["description"]
            .as_str()
            .is_some_and(|d| d.contains("09:00") && d.contains("Monday through Friday")),
        "{schedule}"
    );
    assert_eq!(schedule["upcoming"].as_array().map(Vec::len), Some(5));
    let id = schedule["id"].as_str().unwrap_or_default();
    let one = client.get(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(one.status, 200, "{}", one.body);
    worker.shutdown().await.expect("stops");
}

/// The checkout waiting for its approval reads, lists and counts as awaiting that event,
/// with its name and deadline; `pending` leaves it out; the older status names still
/// filter.
#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_execution_is_shown_and_found_by_what_it_waits_for(db: TestDb) {
    let worker = seed(&db).await;
    let client = Client::new(&db);

    let awaiting = client
        .get("/api/v1/tasks?status=awaiting_event&count=true")
        .await
        .json();
    assert_eq!(ids(&awaiting), ["checkout-7"], "{awaiting}");
    assert_eq!(awaiting["count"], 1);
    let task = &awaiting["tasks"][0];
    assert_eq!(task["status"], "awaiting_event");
    assert_eq!(task["waiting_on"]["kind"], "event", "{task}");
    assert_eq!(task["waiting_on"]["name"], "approved");
    let instant = |value: &Value| {
        value
            .as_str()
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
    };
    let (deadline, run_at) = (
        instant(&task["waiting_on"]["deadline"]),
        instant(&task["run_at"]),
    );
    assert!(
        deadline
            .zip(run_at)
            .is_some_and(|(d, r)| (d - r).abs() < chrono::Duration::seconds(1)),
        "the deadline is when it wakes (as the store keeps it): {task}"
    );

    let detail = client.get("/api/v1/tasks/checkout-7").await.json();
    assert_eq!(detail["task"]["status"], "awaiting_event");
    assert_eq!(
        detail["task"]["waiting_on"], detail["waiting_on"],
        "{detail}"
    );

    for (status, expected) in [
        ("pending", vec!["mystery-1"]),
        ("sleeping", vec![]),
        ("awaiting_child", vec![]),
        ("waiting", vec![]),
    ] {
        let listed = client.get(&format!("/api/v1/tasks?status={status}")).await;
        assert_eq!(listed.status, 200, "{status}: {}", listed.body);
        assert_eq!(ids(&listed.json()), expected, "{status}");
    }
    let overview = client.get("/api/v1/overview").await.json();
    assert_eq!(overview["counts"]["awaiting_event"], 1, "{overview}");
    assert_eq!(overview["counts"]["pending"], 1, "{overview}");
    let unknown = client.get("/api/v1/tasks?status=suspended").await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.body.contains("awaiting_event, awaiting_child"),
        "{}",
        unknown.body
    );
    worker.shutdown().await.expect("stops");
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_list_every_task_once_and_filters_combine(db: TestDb) {
    let worker = seed(&db).await;
    worker.shutdown().await.expect("stops");
    let client = Client::new(&db);
    let mut seen = Vec::new();
    let mut uri = "/api/v1/tasks?limit=2".to_owned();
    loop {
        let page = client.get(&uri).await.json();
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => uri = format!("/api/v1/tasks?limit=2&after={}", encode(next)),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(seen.len(), 7, "every task once: {seen:?}");
    assert_eq!(unique.len(), 7);

    let emails = client
        .get("/api/v1/tasks?id=email-&status=completed")
        .await
        .json();
    assert_eq!(ids(&emails).len(), 3);
    let queue = client
        .get("/api/v1/tasks?queue=default&name=send_email")
        .await
        .json();
    assert_eq!(ids(&queue).len(), 5, "the queue's names, then the name");
    let none = client.get("/api/v1/tasks?since=-1s&until=-2s").await.json();
    assert_eq!(ids(&none).len(), 0);
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_filters_and_unknown_ids_are_told_with_4xx(db: TestDb) {
    let client = Client::new(&db);
    for (uri, status, needle) in [
        ("/api/v1/tasks?status=done", 400, "unknown status \"done\""),
        ("/api/v1/tasks?limit=0", 400, "limit \"0\""),
        ("/api/v1/tasks?limit=many", 400, "limit \"many\""),
        ("/api/v1/tasks?since=yesterday", 400, "since \"yesterday\""),
        ("/api/v1/tasks?after=nonsense", 400, "invalid cursor"),
        (
            "/api/v1/tasks?queue=nope",
            400,
            "no queue is named \"nope\"",
        ),
        (
            "/api/v1/tasks/unknown-id",
            404,
            "no task has the id \"unknown-id\"",
        ),
        (
            "/api/v1/schedules/unknown",
            404,
            "no schedule has the id \"unknown\"",
        ),
        ("/api/v1/nothing-here", 404, "no such API route"),
    ] {
        let answer = client.get(uri).await;
        assert_eq!(answer.status, status, "{uri}: {}", answer.body);
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(needle), "{uri}: {message}");
    }
    for (uri, body, status, needle) in [
        (
            "/api/v1/tasks/unknown-id/cancel",
            None,
            404,
            "no task has the id",
        ),
        (
            "/api/v1/tasks/x/explode",
            None,
            404,
            "no task action \"explode\"",
        ),
        (
            "/api/v1/schedules/unknown/pause",
            None,
            404,
            "no schedule has the id",
        ),
        ("/api/v1/bulk/explode", None, 404, "no task action"),
        (
            "/api/v1/tasks/unknown-id/events",
            Some(json!({"payload": 1})),
            422,
            "missing field `name`",
        ),
    ] {
        let answer = client.post(uri, body).await;
        assert_eq!(answer.status, status, "{uri}: {}", answer.body);
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(needle), "{uri}: {message}");
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_change_the_database(db: TestDb) {
    let worker = seed(&db).await;
    let client = Client::new(&db);

    let retried = client.post("/api/v1/tasks/email-2/retry", None).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    db.wait_for_status("email-2", TaskStatus::Failed, WAIT)
        .await;
    assert_eq!(
        db.task("email-2").await.attempts,
        1,
        "ran again from a fresh count"
    );

    let again = client.post("/api/v1/tasks/mystery-1/retry", None).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("is pending"), "{}", again.body);

    let cancelled = client.post("/api/v1/tasks/mystery-1/cancel", None).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(db.task("mystery-1").await.status, TaskStatus::Cancelled);

    let sent = client
        .post(
            "/api/v1/tasks/checkout-7/events",
            Some(json!({"name": "approved", "payload": {"by": "ops"}})),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    db.wait_for_status("checkout-7", TaskStatus::Completed, WAIT)
        .await;
    assert_eq!(db.task("checkout-7").await.result, Some(json!("pay-7")));

    let bulk = client
        .post("/api/v1/bulk/retry?name=send_email", None)
        .await
        .json();
    assert_eq!(bulk["matched"], 5, "every ended email: {bulk}");
    assert_eq!(bulk["changed"], 5);
    for id in ["email-1", "email-3"] {
        db.wait_for_status(id, TaskStatus::Completed, WAIT).await;
    }

    let schedule_id = client.get("/api/v1/schedules").await.json()[0]["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    let paused = client
        .post(&format!("/api/v1/schedules/{schedule_id}/pause"), None)
        .await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    let twice = client
        .post(&format!("/api/v1/schedules/{schedule_id}/pause"), None)
        .await;
    assert_eq!(twice.status, 409, "{}", twice.body);
    let state = client
        .get(&format!("/api/v1/schedules/{schedule_id}"))
        .await
        .json();
    assert_eq!(state["schedule"]["state"], "paused");
    assert_eq!(
        state["schedule"]["upcoming"],
        json!([]),
        "a paused schedule comes to no slot"
    );

    let paused = client.post("/api/v1/queues/default/pause", None).await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(
        client
            .post("/api/v1/queues/default/pause", None)
            .await
            .status,
        409
    );
    let queues = client.get("/api/v1/queues").await.json();
    assert_eq!(queues[0]["paused"], true, "{queues}");
    let zart = db.zart();
    send_email::schedule_now(&zart, "email-paused", "held@example.com".into())
        .await
        .expect("scheduled");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        db.task("email-paused").await.status,
        TaskStatus::Pending,
        "a paused queue starts nothing"
    );
    let resumed = client.post("/api/v1/queues/default/resume", None).await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    db.wait_for_status("email-paused", TaskStatus::Completed, WAIT)
        .await;
    assert_eq!(
        client
            .post("/api/v1/queues/default/halt", None)
            .await
            .status,
        404
    );
    worker.shutdown().await.expect("stops");
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_limits_are_set_over_the_declared_ones_and_reset(db: TestDb) {
    use axum::http::Method;
    let zart = db.zart();
    // A worker declares the queue's limits, as code does.
    let worker = zart
        .worker()
        .register(zart::registry![send_email])
        .queue(zart::scheduler::QueueConfig::new("default").global_limit(7))
        .start()
        .await
        .expect("starts");
    let client = Client::new(&db);
    let default = |queues: Value| {
        queues
            .as_array()
            .and_then(|all| all.iter().find(|q| q["queue"] == "default").cloned())
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + WAIT;
    while default(client.get("/api/v1/queues").await.json())["limits"]["global"] != 7 {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker declared its queue"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let limits = json!({"global": 2, "per_key": {"field": "tenant.id", "limit": 1}, "rate": {"limit": 10, "period_ms": 60000}});
    let set = client
        .call(
            Method::PUT,
            "/api/v1/queues/default/limits",
            Some(limits.clone()),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let queue = default(client.get("/api/v1/queues").await.json());
    assert_eq!(queue["limits"], limits, "{queue}");
    assert_eq!(queue["overridden"], true);
    assert_eq!(
        queue["declared_limits"]["global"], 7,
        "the declaration is kept"
    );
    assert_eq!(queue["declared_limits_text"], "7 at once");
    assert_eq!(
        queue["limits_text"],
        "2 at once · 1 per tenant.id · 10 per 1 min"
    );

    // Limits no queue can run with are 400; a body of the wrong shape, 422.
    for (body, status, named) in [
        (json!({"global": 0}), 400, "global limit"),
        (
            json!({"per_key": {"field": "a..b", "limit": 1}}),
            400,
            "key field",
        ),
        (json!({"rate": {"limit": 5, "period_ms": 0}}), 400, "period"),
        (json!({"globl": 3}), 422, "globl"),
    ] {
        let refused = client
            .call(
                Method::PUT,
                "/api/v1/queues/default/limits",
                Some(body.clone()),
            )
            .await;
        assert_eq!(refused.status, status, "{body}: {}", refused.body);
        assert!(refused.body.contains(named), "{body}: {}", refused.body);
    }
    assert_eq!(
        default(client.get("/api/v1/queues").await.json())["limits"],
        limits,
        "a refused change stores nothing"
    );

    let reset = client
        .call(Method::DELETE, "/api/v1/queues/default/limits", None)
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    let queue = default(client.get("/api/v1/queues").await.json());
    assert_eq!(
        queue["limits"],
        json!({"global": 7, "per_key": null, "rate": null})
    );
    assert_eq!(queue["overridden"], false);
    let again = client
        .call(Method::DELETE, "/api/v1/queues/default/limits", None)
        .await;
    assert_eq!(again.status, 409, "nothing to reset: {}", again.body);
    worker.shutdown().await.expect("stops");
}

/// A queue no worker declared and no control names is most likely mistyped: pausing or
/// limiting it would change nothing but leave a control behind, so the API says it is not
/// found, naming the queues there are; the pages show the same.
#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_the_store_does_not_know_is_not_found(db: TestDb) {
    use axum::http::Method;
    let zart = db.zart();
    // A control makes a queue known without a worker.
    assert!(zart.pause_queue("billing").await.expect("paused"));
    let client = Client::new(&db);
    let limits = json!({ "global": 3 });
    for (method, uri, body) in [
        (Method::POST, "/api/v1/queues/emials/pause", None),
        (Method::POST, "/api/v1/queues/emials/resume", None),
        (Method::PUT, "/api/v1/queues/emials/limits", Some(limits)),
        (Method::DELETE, "/api/v1/queues/emials/limits", None),
    ] {
        let answer = client.call(method.clone(), uri, body).await;
        assert_eq!(answer.status, 404, "{method} {uri}: {}", answer.body);
        let error = answer.json()["error"].clone();
        assert_eq!(error["code"], "not_found", "{method} {uri}: {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("no queue \"emials\"")
                && message.ends_with("the queues are billing, default"),
            "{method} {uri}: {message}"
        );
    }
    let states = db.scheduler.queue_states().await.expect("queue states");
    assert!(
        states.iter().all(|state| state.queue != "emials"),
        "nothing stored for it: {states:?}"
    );

    // The pages: the limits form of an unknown queue, and its buttons' targets.
    for (method, uri, form) in [
        (Method::GET, "/queues/emials/limits", ""),
        (Method::POST, "/queues/emials/limits", "global=3"),
        (Method::POST, "/queues/emials/pause", ""),
    ] {
        let request = axum::http::Request::builder()
            .method(method.clone())
            .uri(uri)
            .header("authorization", format!("Bearer {}", client.admin.token()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(form))
            .expect("a request");
        let answer = client.send(request).await;
        assert_eq!(answer.status, 404, "{method} {uri}: {}", answer.body);
        assert!(
            answer.body.contains("<html")
                && answer.body.contains("no queue &quot;emials&quot;")
                && answer.body.contains("the queues are billing, default"),
            "{method} {uri}: {}",
            answer.body
        );
    }

    // A known queue without a worker is steered as before.
    let resumed = client.post("/api/v1/queues/billing/resume", None).await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_tells_of_a_change(db: TestDb) {
    use futures_like::next_chunk;
    let client = Client::new(&db);
    let request = axum::http::Request::builder()
        .uri("/api/v1/stream")
        .header("authorization", format!("Bearer {}", client.admin.token()))
        .body(axum::body::Body::empty())
        .expect("a request");
    let response = tower::ServiceExt::oneshot(client.admin.router(), request)
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut body = response.into_body();
    let scheduler = db.scheduler.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        use zart::scheduler::TaskScheduler;
        let _ = scheduler.schedule_now("new-1", "job", json!({})).await;
    });
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), next_chunk(&mut body))
        .await
        .expect("an event within 10 s");
    assert!(chunk.contains("event: change"), "{chunk}");
}

/// Reading a streamed body a frame at a time.
mod futures_like {
    use http_body_util::BodyExt;

    pub async fn next_chunk(body: &mut axum::body::Body) -> String {
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let text = String::from_utf8_lossy(&data).into_owned();
                        if text.contains("event:") {
                            return text;
                        }
                    }
                }
                _ => return String::new(),
            }
        }
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_no_id_can_hold_is_a_json_400_naming_it(db: TestDb) {
    use axum::http::Method;
    use zart::scheduler::TaskScheduler;
    db.scheduler
        .schedule_now("t-1", "job", json!({}))
        .await
        .expect("scheduled");
    let client = Client::new(&db);
    let error = |answer: &super::Answer, what: &str| {
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        let error = answer.json()["error"].clone();
        assert_eq!(error["code"], "bad_request", "{what}: {error}");
        error["message"].as_str().unwrap_or_default().to_owned()
    };
    for (uri, named) in [
        ("/api/v1/tasks/a%00b", "`id`"),
        ("/api/v1/tasks/%FF", "`id`"),
        ("/api/v1/schedules/a%00b", "`id`"),
        ("/api/v1/tasks?name=%00", "`name`"),
        ("/api/v1/tasks?queue=a%00", "`queue`"),
        ("/api/v1/tasks?id=%00", "`id`"),
        ("/api/v1/tasks?parent=%00", "`parent`"),
        ("/api/v1/tasks?after=%00", "`after`"),
        ("/api/v1/tasks?count=abc", "count"),
        ("/api/v1/tasks?limit=abc", "limit"),
    ] {
        let message = error(&client.get(uri).await, uri);
        assert!(message.contains(named), "{uri}: {message}");
    }
    for (method, uri, body, named) in [
        (Method::POST, "/api/v1/tasks/a%00b/cancel", None, "`id`"),
        (Method::POST, "/api/v1/tasks/%FF/retry", None, "`id`"),
        (Method::POST, "/api/v1/queues/q%00/pause", None, "`queue`"),
        (Method::POST, "/api/v1/bulk/retry?name=%00", None, "`name`"),
        (
            Method::POST,
            "/api/v1/tasks/t-1/events",
            Some(json!({"name": "a\u{0}b"})),
            "event's name",
        ),
        (
            Method::POST,
            "/api/v1/tasks/t-1/events",
            Some(json!({"name": "a", "payload": {"k": "\u{0}"}})),
            "payload",
        ),
        (
            Method::PUT,
            "/api/v1/queues/default/limits",
            Some(json!({"per_key": {"field": "a\u{0}", "limit": 1}})),
            "key field",
        ),
    ] {
        let message = error(&client.call(method, uri, body).await, uri);
        assert!(message.contains(named), "{uri}: {message}");
    }
    for uri in ["/tasks/a%00b", "/tasks/%FF", "/tasks?name=%00"] {
        let page = client.get(uri).await;
        assert_eq!(page.status, 400, "{uri}: {}", page.body);
        assert!(page.body.contains("<html"), "a page: {}", page.body);
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_page_is_true_to_what_the_task_is(db: TestDb) {
    use zart::scheduler::{ScheduleAtParams, TaskScheduler};
    let worker = seed(&db).await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    db.scheduler
        .schedule_at(ScheduleAtParams::at(
            "email-later",
            "send_email",
            later,
            json!("later@example.com"),
        ))
        .await
        .expect("scheduled");
    let client = Client::new(&db);

    // Only a durable execution waits for events: a plain task's page offers none, and the
    // API refuses to send one (which would have made the task due at once).
    let plain = client.get("/tasks/email-later").await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert!(!plain.body.contains("class=\"event\""), "{}", plain.body);
    let execution = client.get("/tasks/checkout-7").await;
    assert!(
        execution.body.contains("class=\"event\""),
        "{}",
        execution.body
    );
    let refused = client
        .post(
            "/api/v1/tasks/email-later/events",
            Some(json!({"name": "approved"})),
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    let message = refused.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("plain task") && message.contains("durable execution"),
        "{message}"
    );
    let task = db.task("email-later").await;
    assert_eq!(task.status, TaskStatus::Pending);
    assert!(task.run_at > chrono::Utc::now(), "still due later");
    assert!(db
        .scheduler
        .events("email-later")
        .await
        .expect("events")
        .is_empty());
    assert_eq!(
        client.get("/api/v1/tasks/email-later").await.json()["durable"],
        false
    );
    assert_eq!(
        client.get("/api/v1/tasks/checkout-7").await.json()["durable"],
        true
    );
    assert_eq!(
        client.get("/api/v1/tasks/mystery-1").await.json()["durable"],
        Value::Null,
        "no worker declared it: unknown"
    );

    // The checkout ran once and is suspended in that attempt: it is in attempt 1, and
    // stays in it when it resumes.
    let attempts = execution
        .body
        .split("<dt>Attempts</dt><dd>")
        .nth(1)
        .and_then(|rest| rest.split("</dd>").next())
        .unwrap_or_default()
        .to_owned();
    assert!(attempts.starts_with('1'), "{attempts}");
    assert!(attempts.contains("suspended"), "{attempts}");
    let stored = db.task("checkout-7").await;
    assert_eq!(
        stored.attempts, 0,
        "a suspension is not counted as an attempt"
    );
    assert!(stored.started_at.is_some());
    worker.shutdown().await.expect("stops");
}
