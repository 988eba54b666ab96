//! Traces that follow the work, exported to stdout through OpenTelemetry.
//!
//! A "request" span schedules a durable execution; the execution's first attempt is traced
//! as that span's child (the W3C trace context was stored with the task), and each step
//! that runs is a span of its own below the attempt. The execution sleeps a moment, so its
//! second attempt (the resumption) is a new trace linked to the request, as OpenTelemetry's
//! messaging conventions advise.
//!
//! Run it with `cargo run -p zart-examples --example otel_stdout`. It keeps its tasks in a
//! SQLite file of the system's temporary folder, removed at the end. The spans are printed
//! as each ends: look for `run greet` (twice: parented, then linked) and `step ...`.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use zart::durable::{step, StepError};
use zart::{TaskError, Zart};

#[zart::durable]
async fn greet(name: String) -> Result<String, TaskError> {
    let greeting = step("compose", || async {
        Ok::<_, StepError>(format!("Hello, {name}!"))
    })
    .await?;
    zart::sleep("a moment", Duration::from_millis(300)).await?;
    step("send", || async { Ok::<_, StepError>(()) }).await?;
    Ok(greeting)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("zart-example"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;

    let path = std::env::temp_dir().join(format!("zart-otel-{}.db", std::process::id()));
    let zart = Zart::connect(&format!("sqlite://{}", path.display())).await?;
    let worker = zart
        .worker()
        .register(zart::registry![greet])
        .start()
        .await?;

    // The scheduling side: whatever span is current when a task is scheduled is its parent.
    let request = tracing::info_span!("request", http.route = "/greet");
    let handle = greet::start(&zart, "greet-ada", "Ada".to_owned())
        .instrument(request)
        .await?;
    println!("result: {}", handle.wait(Duration::from_secs(10)).await?);

    worker.shutdown().await?;
    provider.shutdown()?;
    let _ = std::fs::remove_file(&path);
    Ok(())
}
