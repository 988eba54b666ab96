//! The admin against real stores: the JSON API and its safety rules (through the router),
//! and the web UI in a real browser (headless Chromium over WebDriver, on a served port).

mod api;
mod browser;
mod metrics;
mod safety;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::Value;
use zart::durable::StepError;
use zart::scheduler::TaskStatus;
use zart::{TaskError, Zart};
use zart_admin::Admin;
use zart_tests::{quick_config, TestDb};

/// How long a test waits for the worker.
pub const WAIT: Duration = Duration::from_secs(20);

#[zart::step]
async fn reserve(order: u32) -> Result<u32, StepError> {
    Ok(order * 2)
}

/// Declined twice, then paid: a step with failed attempts to show.
#[zart::step(retry = fixed(max_attempts = 3, delay = "1ms"))]
async fn charge(order: u32) -> Result<String, StepError> {
    if zart_tests::calls_of_this_task().is_some_and(|calls| calls <= 2) {
        return Err(StepError::failed(format!(
            "card declined for order {order}:\ninsufficient funds"
        )));
    }
    Ok(format!("pay-{order}"))
}

/// Reserves, charges, then waits (up to an hour) for its approval.
#[zart::durable]
pub async fn checkout(order: u32) -> Result<String, TaskError> {
    reserve(order).await?;
    let payment = charge(order).await?;
    let _approval: Value =
        zart::durable::wait_for_event("approved", Duration::from_secs(3600)).await?;
    Ok(payment)
}

/// Fails for good for any address with `bad` in it.
#[zart::task]
pub async fn send_email(to: String) -> Result<String, TaskError> {
    match to.contains("bad") {
        true => Err(TaskError::permanent(format!("mailbox {to} unavailable"))),
        false => Ok(format!("sent to {to}")),
    }
}

/// A weekday morning report, in Paris.
#[zart::recurring(cron = "0 9 * * mon-fri", timezone = "Europe/Paris")]
#[zart::task]
pub async fn morning_report() -> Result<(), TaskError> {
    Ok(())
}

/// A store with a little of everything, after a worker ran it: three sent and two failed
/// emails, a checkout waiting for its approval event (its two steps done, the charge on its
/// third attempt), a schedule,
/// and a task no worker knows, still pending. Returns the running worker.
pub async fn seed(db: &TestDb) -> zart::scheduler::RunningWorker {
    let zart = db.zart();
    let worker = zart
        .worker()
        .config(zart::scheduler::WorkerConfig {
            app_versions: Some(zart::durable::AppVersions::new("2026.12.2")),
            ..quick_config()
        })
        .queue(zart::scheduler::QueueConfig::new("default").global_limit(50))
        .register(zart::registry![checkout, send_email, morning_report])
        .start()
        .await
        .expect("the worker starts");
    for (id, to) in [
        ("email-1", "ada@example.com"),
        ("email-2", "bad@example.com"),
        ("email-3", "grace@example.com"),
        ("email-4", "bad-too@example.com"),
        ("email-5", "alan@example.com"),
    ] {
        send_email::schedule_now(&zart, id, to.to_owned())
            .await
            .expect("started");
    }
    checkout::start(&zart, "checkout-7", 7)
        .await
        .expect("started");
    use zart::scheduler::TaskScheduler;
    db.scheduler
        .schedule_now(
            "mystery-1",
            "no-worker-knows-it",
            serde_json::json!({"n": 1}),
        )
        .await
        .expect("scheduled");
    for id in ["email-1", "email-3", "email-5"] {
        db.wait_for_status(id, TaskStatus::Completed, WAIT).await;
    }
    for id in ["email-2", "email-4"] {
        db.wait_for_status(id, TaskStatus::Failed, WAIT).await;
    }
    wait_until_suspended(&zart, "checkout-7").await;
    worker
}

/// Waits until execution `id` is suspended, waiting for something.
pub async fn wait_until_suspended(zart: &Zart, id: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let task = zart.inspector().task(id).await.expect("task");
        if task.is_some_and(|task| task.waiting_on.is_some()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never suspended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An answer from the admin.
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends requests through the admin's router, with its token unless told otherwise.
pub struct Client {
    pub admin: Admin,
}

impl Client {
    pub fn new(db: &TestDb) -> Self {
        Client {
            admin: Admin::new(db.zart()),
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        answer(self.admin.router(), request).await
    }

    fn authorized(&self, method: Method, uri: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(uri).header(
            header::AUTHORIZATION,
            format!("Bearer {}", self.admin.token()),
        )
    }

    pub async fn get(&self, uri: &str) -> Answer {
        let request = self.authorized(Method::GET, uri).body(Body::empty());
        self.send(request.expect("a request")).await
    }

    pub async fn post(&self, uri: &str, json: Option<Value>) -> Answer {
        self.call(Method::POST, uri, json).await
    }

    /// A request of any method, with a JSON body if given.
    pub async fn call(&self, method: Method, uri: &str, json: Option<Value>) -> Answer {
        let builder = self.authorized(method, uri);
        let request = match json {
            Some(json) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.expect("a request")).await
    }
}

/// A request through `router`, answered whole.
pub async fn answer(router: axum::Router, request: Request<Body>) -> Answer {
    use http_body_util::BodyExt;
    let response = tower::ServiceExt::oneshot(router, request)
        .await
        .expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}
