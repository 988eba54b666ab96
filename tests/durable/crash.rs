use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use zart::scheduler::{TaskScheduler, TaskStatus};
use zart_tests::{database_url, TestDb};

fn worker_process(db: &TestDb, name: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_zart-test-worker"))
        .arg(database_url())
        .arg(&db.schema)
        .arg(name)
        .arg("durable")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn worker process")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_step_two_resumes_without_repeating_steps() {
    let db = TestDb::new().await;
    let effects = format!("\"{}\".side_effects", db.schema);
    sqlx::query(sqlx::AssertSqlSafe(&*format!(
        "CREATE TABLE {effects} (step text NOT NULL)"
    )))
    .execute(&db.pool)
    .await
    .expect("side effects table");
    db.scheduler
        .schedule_now("wf-1", "four-steps", json!({}))
        .await
        .expect("scheduled");

    let mut first = worker_process(&db, "first");
    let recorded = format!(
        "SELECT count(*) FROM {} WHERE task_id = 'wf-1'",
        db.scheduler.table_names().steps()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let steps: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(&*recorded))
            .fetch_one(&db.pool)
            .await
            .expect("count steps");
        if steps >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first worker never got past step two"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().await.expect("SIGKILL the first worker");

    let mut second = worker_process(&db, "second");
    let status = tokio::time::timeout(Duration::from_secs(60), second.wait())
        .await
        .expect("the second worker finished in time")
        .expect("waited");
    assert!(status.success(), "{status}");

    let counts: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(&*format!(
        "SELECT step, count(*) FROM {effects} GROUP BY step ORDER BY min(ctid)"
    )))
    .fetch_all(&db.pool)
    .await
    .expect("count side effects");
    let counts: Vec<(&str, i64)> = counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    assert_eq!(counts, [("one", 1), ("two", 1), ("three", 1), ("four", 1)]);
    let record = db.task("wf-1").await;
    assert_eq!(record.status, TaskStatus::Completed);
    assert_eq!(record.result, Some(json!("all four")));
    assert_eq!(record.rescues, 1, "resumed through lease rescue");
}

async fn side_effects(db: &TestDb) -> Vec<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(&*format!(
        "SELECT step FROM \"{}\".side_effects",
        db.schema
    )))
    .fetch_all(&db.pool)
    .await
    .expect("read side effects")
}

/// Starts `tx-steps`, kills its worker when `kill_when` says so, lets a second worker
/// finish, and checks the transactional step's side effect happened exactly once.
async fn killed_during_tx_steps(kill_when: &str) {
    let db = TestDb::new().await;
    sqlx::query(sqlx::AssertSqlSafe(&*format!(
        "CREATE TABLE \"{}\".side_effects (step text NOT NULL)",
        db.schema
    )))
    .execute(&db.pool)
    .await
    .expect("side effects table");
    db.scheduler
        .schedule_now("tx-1", "tx-steps", json!({}))
        .await
        .expect("scheduled");
    let mut first = worker_process(&db, "first");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = match kill_when {
            // Inside the step's transaction: running, the write not yet committed.
            "in-transaction" => db.task("tx-1").await.status == TaskStatus::Running,
            // After the commit, during the next step.
            _ => !side_effects(&db).await.is_empty(),
        };
        if ready {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reached {kill_when}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if kill_when == "in-transaction" {
        tokio::time::sleep(Duration::from_millis(700)).await; // well inside the 2 s linger
        assert!(
            side_effects(&db).await.is_empty(),
            "the write is not committed yet"
        );
    }
    first.kill().await.expect("SIGKILL the first worker");

    let mut second = worker_process(&db, "second");
    let status = tokio::time::timeout(Duration::from_secs(60), second.wait())
        .await
        .expect("the second worker finished in time")
        .expect("waited");
    assert!(status.success(), "{status}");
    assert_eq!(
        side_effects(&db).await,
        ["write"],
        "exactly once ({kill_when})"
    );
    let record = db.task("tx-1").await;
    assert_eq!(record.status, TaskStatus::Completed);
    assert_eq!(record.result, Some(json!("written")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_step_killed_inside_its_transaction_happens_once() {
    killed_during_tx_steps("in-transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_step_killed_after_its_commit_happens_once() {
    killed_during_tx_steps("after-commit").await;
}
