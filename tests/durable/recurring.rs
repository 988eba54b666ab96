use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use zart::durable::{step, DurableExecution, StepError, TaskError};
use zart::recurring::{OverlapPolicy, ScheduleState};
use zart::scheduler::{Recurrence, TaskStatus};
use zart_tests::{quick_config, TestDb};

struct Report;

#[zart::prelude::async_trait]
impl DurableExecution for Report {
    type Data = Value;
    type Output = Value;

    async fn run(&self, data: Value) -> Result<Value, TaskError> {
        let rows: u32 = step("count-rows", || async { Ok::<_, StepError>(7) }).await?;
        Ok(json!({ "warehouse": data["warehouse"], "rows": rows }))
    }
}

struct Unregistered;

#[zart::prelude::async_trait]
impl DurableExecution for Unregistered {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        Ok(Value::Null)
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recurring_durable_executions_as_seed_users_write_them(db: TestDb) {
    let worker = db
        .zart()
        .worker()
        .config(quick_config())
        .register_durable_task("nightly-report", Report)
        .register_recurring_durable::<Report>(
            "nightly-report",
            "report-{occurrence}",
            Recurrence::FixedDelay { duration_ms: 200 },
            OverlapPolicy::SkipIfRunning,
            json!({ "warehouse": "EU-1" }),
        )
        .build();
    let worker = Arc::new(worker);
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });

    let durable = db.executions();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while durable.status("report-2").await.expect("status") != Some(TaskStatus::Completed) {
        assert!(tokio::time::Instant::now() < deadline, "no third report");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let record = durable
        .wait("report-2", Duration::from_secs(5), None)
        .await
        .expect("waited");
    assert_eq!(
        record.result,
        Some(json!({ "warehouse": "EU-1", "rows": 7 }))
    );

    // Started by hand too, by id.
    durable
        .start("nightly-report", "adhoc-1", &json!({ "warehouse": "US-2" }))
        .await
        .expect("started");
    assert!(!durable
        .start_if_absent("nightly-report", "adhoc-1", &json!({}))
        .await
        .expect("if absent"));
    let adhoc = durable
        .wait("adhoc-1", Duration::from_secs(10), None)
        .await
        .expect("waited");
    assert_eq!(
        adhoc.result,
        Some(json!({ "warehouse": "US-2", "rows": 7 }))
    );

    assert!(durable
        .stop_recurring("nightly-report")
        .await
        .expect("stopped"));
    let info = db
        .schedules()
        .info("nightly-report")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(info.state, ScheduleState::Stopped);
    worker.shutdown().await;
    running.await.expect("joined").expect("ran");
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recurring_durable_of_an_unregistered_type_stops_the_worker_from_starting(db: TestDb) {
    let worker = db
        .zart()
        .worker()
        .config(quick_config())
        .register_recurring_durable::<Unregistered>(
            "orphan",
            "orphan-{occurrence}",
            Recurrence::Cron {
                expression: "0 2 * * *".into(),
                timezone: "UTC".into(),
            },
            OverlapPolicy::SkipIfRunning,
            Value::Null,
        )
        .build();
    let result = worker.run().await;
    let message = result.map_err(|e| e.to_string()).err().unwrap_or_default();
    assert!(
        message.contains("is not registered as a durable task"),
        "{message}"
    );

    let bad_cron = db
        .zart()
        .worker()
        .register_durable_task("report", Report)
        .register_recurring_durable::<Report>(
            "bad",
            "bad-{occurrence}",
            Recurrence::Cron {
                expression: "0 2 * *".into(),
                timezone: "UTC".into(),
            },
            OverlapPolicy::SkipIfRunning,
            Value::Null,
        )
        .build();
    let message = bad_cron
        .run()
        .await
        .map_err(|e| e.to_string())
        .err()
        .unwrap_or_default();
    assert!(message.contains("expected 5 fields"), "{message}");
}
