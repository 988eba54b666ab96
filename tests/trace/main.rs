//! Traces that follow the work: the span of each attempt and of each step that runs, and
//! the trace context a task carries from the span that scheduled it, exported through the
//! OpenTelemetry bridge (feature `opentelemetry`) to an in-memory exporter.
//!
//! Each test installs the process's one global subscriber: nextest runs every test in a
//! process of its own.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry::Value as OtelValue;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{json, Value};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use zart::durable::{step, DurableExecution, StepError, TaskError};
use zart::scheduler::{OnComplete, RetryConfig, TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, TestDb};

/// Installs the OpenTelemetry layer over an in-memory exporter, for the whole process.
fn export_spans() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("zart-tests"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("the only subscriber of this process");
    (provider, exporter)
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match &kv.value {
            OtelValue::String(s) => s.to_string(),
            other => other.to_string(),
        })
}

fn spans_named(exporter: &InMemorySpanExporter, name: &str) -> Vec<SpanData> {
    exporter
        .get_finished_spans()
        .expect("spans")
        .into_iter()
        .filter(|span| span.name == name)
        .collect()
}

/// Runs a worker of `registry` until task `done` completes, after scheduling `task` (id,
/// name) inside a span named `request` if `in_request`.
async fn run(
    db: &TestDb,
    registry: TaskRegistry,
    in_request: bool,
    (id, name): (&str, &str),
    done: &str,
) {
    let worker = db.start_worker(registry, quick_config());
    let scheduled = db.scheduler.schedule_now(id, name, json!({}));
    match in_request {
        true => scheduled.instrument(tracing::info_span!("request")).await,
        false => scheduled.await,
    }
    .expect("scheduled");
    db.wait_for_status(done, TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
}

/// The `traceparent` stored with task `id`.
async fn stored_traceparent(db: &TestDb, id: &str) -> String {
    db.rows(&format!(
        "SELECT coalesce(trace_parent, '-') FROM {} WHERE task_id = '{id}'",
        db.tasks_table()
    ))
    .await
    .concat()
    .concat()
}

/// A plain task whose first attempt fails: two attempts, the second a retry.
fn flaky(calls: Arc<AtomicU32>) -> impl zart::scheduler::ScheduledTask {
    zart_tests::task(move |_| {
        let calls = calls.clone();
        async move {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(zart::scheduler::SchedulerTaskError::failed(
                    "first attempt fails",
                )),
                _ => Ok(OnComplete::done()),
            }
        }
    })
    .retry(RetryConfig {
        max_attempts: 3,
        initial_delay: Duration::from_millis(10),
        jitter: 0.0,
        ..RetryConfig::default()
    })
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_attempt_is_a_child_of_the_scheduling_span_and_a_retry_links_to_it(db: TestDb) {
    let (provider, exporter) = export_spans();
    let calls = Arc::new(AtomicU32::new(0));
    let mut registry = TaskRegistry::new();
    registry.register("flaky", flaky(calls.clone()));
    run(&db, registry, true, ("flaky-1", "flaky"), "flaky-1").await;
    provider.force_flush().expect("flushed");

    let request = spans_named(&exporter, "request")
        .pop()
        .expect("the request span");
    let (trace, parent) = (
        request.span_context.trace_id(),
        request.span_context.span_id(),
    );
    assert_eq!(
        stored_traceparent(&db, "flaky-1").await,
        format!("00-{trace}-{parent}-01"),
        "the scheduling span's context, stored with the task"
    );
    let mut attempts = spans_named(&exporter, "run flaky");
    attempts.sort_by_key(|span| attribute(span, "task.attempt"));
    assert_eq!(attempts.len(), 2, "one span per attempt");
    let (first, retry) = (&attempts[0], &attempts[1]);
    assert_eq!(
        first.span_context.trace_id(),
        trace,
        "the first attempt joins the trace"
    );
    assert_eq!(
        first.parent_span_id, parent,
        "as the scheduling span's child"
    );
    assert_eq!(attribute(first, "outcome").as_deref(), Some("retry"));
    assert_eq!(
        attribute(first, "error").as_deref(),
        Some("first attempt fails")
    );
    assert_eq!(attribute(first, "task.id").as_deref(), Some("flaky-1"));
    assert_eq!(attribute(first, "task.name").as_deref(), Some("flaky"));
    assert_eq!(attribute(first, "queue").as_deref(), Some("default"));

    assert_ne!(
        retry.span_context.trace_id(),
        trace,
        "a retry is a trace of its own"
    );
    assert_eq!(retry.parent_span_id, SpanId::INVALID);
    let linked: Vec<_> = retry
        .links
        .iter()
        .map(|link| link.span_context.clone())
        .collect();
    assert_eq!(linked.len(), 1);
    assert_eq!(
        (linked[0].trace_id(), linked[0].span_id()),
        (trace, parent),
        "linked"
    );
    assert_eq!(attribute(retry, "task.attempt").as_deref(), Some("2"));
    assert_eq!(attribute(retry, "outcome").as_deref(), Some("completed"));
}

/// Two steps around a suspension: the second attempt replays the first step.
struct TwoSteps;

#[zart::prelude::async_trait]
impl DurableExecution for TwoSteps {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        step("reserve", || async { Ok::<_, StepError>(1) }).await?;
        zart::sleep("a moment", Duration::from_millis(200)).await?;
        step("confirm", || async { Ok::<_, StepError>(2) }).await?;
        Ok(json!("done"))
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_that_runs_has_a_span_below_its_attempt_and_replayed_steps_have_none(db: TestDb) {
    let (provider, exporter) = export_spans();
    let mut registry = TaskRegistry::new();
    registry.durable("two-steps", TwoSteps);
    run(&db, registry, true, ("exec-1", "two-steps"), "exec-1").await;
    provider.force_flush().expect("flushed");

    let mut attempts = spans_named(&exporter, "run two-steps");
    assert_eq!(attempts.len(), 2, "asleep, then resumed");
    attempts.sort_by_key(|span| span.start_time);
    assert_eq!(
        attribute(&attempts[0], "outcome").as_deref(),
        Some("suspended")
    );
    assert_eq!(
        attribute(&attempts[1], "outcome").as_deref(),
        Some("completed")
    );
    let reserve = spans_named(&exporter, "step reserve");
    let confirm = spans_named(&exporter, "step confirm");
    assert_eq!(
        (reserve.len(), confirm.len()),
        (1, 1),
        "replayed steps do not run"
    );
    assert_eq!(
        reserve[0].parent_span_id,
        attempts[0].span_context.span_id()
    );
    assert_eq!(
        confirm[0].parent_span_id,
        attempts[1].span_context.span_id()
    );
    let request = spans_named(&exporter, "request")
        .pop()
        .expect("the request span");
    let request = request.span_context.span_id();
    assert_eq!(
        attempts[0].parent_span_id, request,
        "the first run: a child"
    );
    assert_eq!(
        attempts[1].parent_span_id,
        SpanId::INVALID,
        "the resumption: a root"
    );
    let linked: Vec<SpanId> = attempts[1]
        .links
        .iter()
        .map(|link| link.span_context.span_id())
        .collect();
    assert_eq!(linked, [request], "linked to the scheduling span");
    assert_eq!(
        attribute(&reserve[0], "step.name").as_deref(),
        Some("reserve")
    );
    assert_eq!(
        attribute(&confirm[0], "outcome").as_deref(),
        Some("completed")
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_scheduled_outside_any_trace_carries_no_context(db: TestDb) {
    let (provider, exporter) = export_spans();
    let mut registry = TaskRegistry::new();
    registry.register("flaky", flaky(Arc::new(AtomicU32::new(1))));
    run(&db, registry, false, ("plain-1", "flaky"), "plain-1").await;
    provider.force_flush().expect("flushed");
    assert_eq!(stored_traceparent(&db, "plain-1").await, "-");
    let attempts = spans_named(&exporter, "run flaky");
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        attempts[0].parent_span_id,
        SpanId::INVALID,
        "a root of its own"
    );
    assert!(attempts[0].links.is_empty());
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_is_traced_as_a_child_of_the_attempt_that_scheduled_it(db: TestDb) {
    let (provider, exporter) = export_spans();
    let mut registry = TaskRegistry::new();
    registry.register(
        "order",
        zart_tests::task(|_| async {
            Ok(Box::new(OnComplete {
                result: None,
                schedule_next: vec![zart::scheduler::ScheduleAtParams::now(
                    "receipt-1",
                    "receipt",
                    json!({}),
                )],
            })
                as Box<dyn zart::scheduler::CompletionHandler>)
        }),
    );
    registry.register(
        "receipt",
        zart_tests::task(|_| async { Ok(OnComplete::done()) }),
    );
    run(&db, registry, true, ("order-1", "order"), "receipt-1").await;
    provider.force_flush().expect("flushed");

    let order = spans_named(&exporter, "run order")
        .pop()
        .expect("the order's attempt");
    let receipt = spans_named(&exporter, "run receipt")
        .pop()
        .expect("the follow-up's attempt");
    assert_eq!(
        receipt.span_context.trace_id(),
        order.span_context.trace_id()
    );
    assert_eq!(receipt.parent_span_id, order.span_context.span_id());
}
