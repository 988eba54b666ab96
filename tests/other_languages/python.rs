//! A producer in Python (psycopg 3, tests/other_languages/producer.py) feeding a Rust worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;
use zart::scheduler::{OnComplete, TaskRegistry, TaskScheduler, TaskStatus, WorkerConfig};
use zart_tests::{quick_config, task, TestDb};

use crate::conformance::{wait_until_awaiting, AwaitShipping};
use crate::{here, run_with_schema};

/// The pinned psycopg scripts/test.sh installs.
pub(crate) const PSYCOPG: &str = "psycopg[binary]==3.3.9";

/// Fails the test, saying how to fix it, unless `python3` can import psycopg.
pub(crate) fn require_psycopg() {
    let found = std::process::Command::new("python3")
        .args(["-c", "import psycopg"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        found,
        "python3 with psycopg 3 is needed: run scripts/test.sh, which installs it, or \
         `python3 -m pip install '{PSYCOPG}'`"
    );
}

/// Runs a phase of producer.py; returns what it printed.
async fn producer(db: &TestDb, args: &[&str]) -> String {
    let output = run_with_schema(
        db,
        tokio::process::Command::new("python3")
            .arg(here().join("producer.py"))
            .args(args),
        "",
    )
    .await;
    assert!(
        output.status.success(),
        "producer.py {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_producer_schedules_a_thousand_tasks_and_wakes_a_waiting_execution() {
    require_psycopg();
    let db = TestDb::postgres().await;
    let runs: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let mut registry = TaskRegistry::new();
    registry.register("count", {
        let runs = runs.clone();
        task(move |instance| {
            let runs = runs.clone();
            async move {
                *runs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(instance.task_id)
                    .or_default() += 1;
                Ok(OnComplete::done())
            }
        })
    });
    registry.durable("await-shipping", AwaitShipping);
    let config = WorkerConfig {
        max_tasks_per_poll: 100,
        max_concurrent_tasks: 16,
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);

    assert_eq!(
        producer(&db, &["start", "order-py"]).await,
        "started order-py"
    );
    wait_until_awaiting(&db, "order-py").await;
    let started = Instant::now();
    assert_eq!(producer(&db, &["bulk"]).await, "scheduled 1000");
    let scheduling = started.elapsed();
    assert_eq!(producer(&db, &["rollback"]).await, "rolled back");
    assert_eq!(producer(&db, &["event", "order-py"]).await, "woke order-py");

    let done = db
        .wait_for_status("order-py", TaskStatus::Completed, Duration::from_secs(20))
        .await;
    assert_eq!(
        done.result,
        Some(json!({ "shipped": { "from": "python" } }))
    );
    let completed = format!(
        "SELECT count(*) FROM {} WHERE task_name = 'count' AND status = 'completed'",
        db.tasks_table()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.number(&completed).await < 1000 {
        assert!(Instant::now() < deadline, "not all 1,000 tasks ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_ran = started.elapsed();
    worker.stop().await;

    let runs = runs.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(runs.len(), 1000);
    assert!(runs.values().all(|&n| n == 1), "each ran once");
    assert!((0..1000).all(|n| runs.contains_key(&format!("bulk-{n}"))));
    assert!(db
        .scheduler
        .get_task("rolled-back")
        .await
        .expect("read")
        .is_none());
    eprintln!("1,000 tasks scheduled from Python in {scheduling:?}, all run in {all_ran:?}");
}
