use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use zart::scheduler::{TaskScheduler, TaskStatus};
use zart_tests::TestDb;

fn worker_process(db: &TestDb, name: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_zart-test-worker"))
        .args(db.process_args())
        .arg(name)
        .arg("durable")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn worker process")
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_step_two_resumes_without_repeating_steps(db: TestDb) {
    let effects = db.own_table("side_effects");
    db.execute(&format!("CREATE TABLE {effects} (step text NOT NULL)"))
        .await;
    db.scheduler
        .schedule_now("wf-1", "four-steps", json!({}))
        .await
        .expect("scheduled");

    let mut first = worker_process(&db, "first");
    let recorded = format!(
        "SELECT count(*) FROM {} WHERE task_id = 'wf-1'",
        db.zart_table("steps")
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let steps = db.number(&recorded).await;
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

    let effects = side_effects(&db).await;
    assert_eq!(
        effects,
        ["one", "two", "three", "four"],
        "each step's effect once, in order"
    );
    let record = db.task("wf-1").await;
    assert_eq!(record.status, TaskStatus::Completed);
    assert_eq!(record.result, Some(json!("all four")));
    assert_eq!(record.rescues, 1, "resumed through lease rescue");
}

/// The side effects recorded, in the order they were written.
async fn side_effects(db: &TestDb) -> Vec<String> {
    db.rows(&format!(
        "SELECT step FROM {}",
        db.own_table("side_effects")
    ))
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// Starts `tx-steps`, kills its worker when `kill_when` says so, lets a second worker
/// finish, and checks the transactional step's side effect happened exactly once.
async fn killed_during_tx_steps(db: TestDb, kill_when: &str) {
    db.execute(&format!(
        "CREATE TABLE {} (step text NOT NULL)",
        db.own_table("side_effects")
    ))
    .await;
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

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_step_killed_inside_its_transaction_happens_once(db: TestDb) {
    killed_during_tx_steps(db, "in-transaction").await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_step_killed_after_its_commit_happens_once(db: TestDb) {
    killed_during_tx_steps(db, "after-commit").await;
}
