use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use zart::scheduler::{ScheduleAtParams, TaskScheduler};
use zart_tests::TestDb;

const TASKS: usize = 10_000;
const PROCESSES: usize = 4;

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_worker_processes_run_every_task_exactly_once(db: TestDb) {
    db.execute(&format!(
        "CREATE TABLE {} (task_id text NOT NULL, worker text NOT NULL)",
        db.own_table("runs")
    ))
    .await;
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
                .args(db.process_args())
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

    let counts = db
        .rows(&format!(
            "SELECT count(*), count(DISTINCT task_id), count(DISTINCT worker) FROM {}",
            db.own_table("runs")
        ))
        .await;
    let number = |i: usize| -> i64 { counts[0][i].parse().expect("a count") };
    let (runs, distinct, processes) = (number(0), number(1), number(2));
    assert_eq!(distinct, TASKS as i64, "no task lost");
    assert_eq!(runs, TASKS as i64, "no task ran twice");
    assert!(processes > 1, "the work was shared between processes");
    let completed = db
        .number(&format!(
            "SELECT count(*) FROM {} WHERE status = 'completed' AND attempts = 1",
            db.tasks_table()
        ))
        .await;
    assert_eq!(completed, TASKS as i64);
}
