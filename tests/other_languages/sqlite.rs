//! On SQLite, which has no stored functions: a program in another language (Python's
//! `sqlite3`) inserting into the file, as docs/other-languages.md describes, and a Rust
//! worker of another process running the task.

use std::time::{Duration, Instant};

use serde_json::json;
use zart::scheduler::{OnComplete, TaskRegistry, TaskStatus, WorkerConfig};
use zart_tests::{quick_config, task, Driver, TestDb};

use crate::{run, NO_POLLING};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_another_program_inserts_into_the_file_runs_without_waiting_for_a_poll() {
    let db = TestDb::sqlite().await;
    let Driver::Sqlite(lite) = &db.driver else {
        unreachable!("a SQLite test database")
    };
    let mut registry = TaskRegistry::new();
    registry.register(
        "noop",
        task(|i| async move { Ok(OnComplete::with_result(i.data)) }),
    );
    let config = WorkerConfig {
        poll_interval: NO_POLLING,
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);
    tokio::time::sleep(Duration::from_millis(300)).await; // idle now

    let started = Instant::now();
    let output = run(
        tokio::process::Command::new("python3")
            .arg("-")
            .arg(&lite.path),
        r#"
import sqlite3, sys, time
# The instants' defaults need SQLite 3.42 (unixepoch('subsec')); Python's may be older.
now = int(time.time() * 1000)
with sqlite3.connect(sys.argv[1], timeout=10) as conn:
    conn.execute(
        "INSERT INTO zart_tasks (task_id, task_name, data, run_at, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        ("from-python", "noop", '{"n": 1}', now, now),
    )
"#,
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let done = db
        .wait_for_status(
            "from-python",
            TaskStatus::Completed,
            Duration::from_secs(10),
        )
        .await;
    let took = started.elapsed();
    worker.stop().await;
    assert!(
        took < Duration::from_secs(5),
        "found by watching the file, not by the minute-long poll: {took:?}"
    );
    assert_eq!(done.result, Some(json!({"n": 1})));
}
