//! What a killed process leaves behind on SQLite: every completion the store acknowledged.
//! (On PostgreSQL that is the server's promise, not the driver's.)

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use zart::scheduler::{TaskScheduler, TaskStatus};
use zart_tests::TestDb;

/// Completions to see acknowledged before the kill.
const ACKNOWLEDGED: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_completion_survives_a_killed_process() {
    // SQLite only: the journal and `synchronous` settings are the driver's choice there.
    let db = TestDb::sqlite().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_zart-test-worker"))
        .args(db.process_args())
        .arg("acker")
        .arg("ack")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the acknowledging process");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut acknowledged = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while acknowledged.len() < ACKNOWLEDGED {
            match lines.next_line().await.expect("read a line") {
                Some(id) => acknowledged.push(id),
                None => panic!("the process ended after {} completions", acknowledged.len()),
            }
        }
    });
    read.await.expect("completions acknowledged in time");
    // SIGKILL: no destructor, no checkpoint, no closing of the database.
    child.kill().await.expect("SIGKILL");

    for id in &acknowledged {
        let record = db
            .scheduler
            .get_task(id)
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("acknowledged task {id} exists after the kill"));
        assert_eq!(
            record.status,
            TaskStatus::Completed,
            "acknowledged completion of {id} survives: {record:?}"
        );
    }
}
