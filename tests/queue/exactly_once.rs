use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use zart::scheduler::{ScheduleAtParams, TaskScheduler};
use zart_tests::{database_url, TestDb};

const TASKS: usize = 10_000;
const PROCESSES: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_worker_processes_run_every_task_exactly_once() {
    let db = TestDb::new().await;
    sqlx::query(sqlx::AssertSqlSafe(&*format!(
        "CREATE TABLE \"{}\".runs (task_id text NOT NULL, worker text NOT NULL)",
        db.schema
    )))
    .execute(&db.pool)
    .await
    .expect("runs table");
    for chunk in (0..TASKS).collect::<Vec<_>>().chunks(2_000) {
        let tasks = chunk
            .iter()
            .map(|i| ScheduleAtParams::now(format!("task-{i}"), "count", json!({ "i": i })))
            .collect();
        db.scheduler.schedule_many(tasks).await.expect("scheduled");
    }

    let mut children: Vec<_> = (0..PROCESSES)
        .map(|n| {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_zart-test-worker"))
                .arg(database_url())
                .arg(&db.schema)
                .arg(format!("process-{n}"))
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn worker process")
        })
        .collect();
    for child in &mut children {
        let status = tokio::time::timeout(Duration::from_secs(240), child.wait())
            .await
            .expect("worker process finished in time")
            .expect("waited");
        assert!(status.success(), "worker process failed: {status}");
    }

    let (runs, distinct, processes): (i64, i64, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(&*format!(
            "SELECT count(*), count(DISTINCT task_id), count(DISTINCT worker) FROM \"{}\".runs",
            db.schema
        )))
        .fetch_one(&db.pool)
        .await
        .expect("count runs");
    assert_eq!(distinct, TASKS as i64, "no task lost");
    assert_eq!(runs, TASKS as i64, "no task ran twice");
    assert!(processes > 1, "the work was shared between processes");
    let completed: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(&*format!(
        "SELECT count(*) FROM {} WHERE status = 'completed' AND attempts = 1",
        db.tasks_table()
    )))
    .fetch_one(&db.pool)
    .await
    .expect("count completed");
    assert_eq!(completed, TASKS as i64);
}
