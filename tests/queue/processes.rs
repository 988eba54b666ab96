//! Worker processes for the tests of controls across processes: `zart-test-worker` in its
//! `jobs` mode, each recording the tasks it starts in the test's table `starts`, and each
//! stopped gracefully by closing its standard input.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::process::Child;
use zart::scheduler::{ScheduleAtParams, TaskScheduler};
use zart_tests::{Driver, TestDb};

/// Running `zart-test-worker jobs` processes.
pub struct JobWorkers {
    children: Vec<Child>,
}

impl JobWorkers {
    /// Creates the test's table `starts` and starts `n` processes serving queue `jobs`,
    /// each running at most `concurrency` tasks at once and keeping completed tasks
    /// `retention_ms` (0: the default retention).
    pub async fn start(db: &TestDb, n: usize, concurrency: usize, retention_ms: u64) -> JobWorkers {
        let clock = match db.driver {
            Driver::Postgres(_) => "timestamptz NOT NULL DEFAULT clock_timestamp()",
            Driver::Sqlite(_) => {
                "INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))"
            }
        };
        db.execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} (task_id text NOT NULL, worker text NOT NULL, at {clock})",
            db.own_table("starts")
        ))
        .await;
        let children = (0..n)
            .map(|i| {
                tokio::process::Command::new(env!("CARGO_BIN_EXE_zart-test-worker"))
                    .args(db.process_args())
                    .arg(format!("process-{i}"))
                    .arg("jobs")
                    .arg(concurrency.to_string())
                    .arg(retention_ms.to_string())
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .expect("spawn worker process")
            })
            .collect();
        JobWorkers { children }
    }

    /// Panics if a process ended before it was asked to.
    pub fn assert_alive(&mut self) {
        for child in &mut self.children {
            let status = child.try_wait().expect("child status");
            assert!(status.is_none(), "a worker process ended early: {status:?}");
        }
    }

    /// Asks every process to stop (closes its standard input) and waits until each shut
    /// down cleanly.
    pub async fn stop(mut self) {
        self.assert_alive();
        for child in &mut self.children {
            drop(child.stdin.take());
        }
        for child in &mut self.children {
            let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .expect("a worker process stops within 30 s")
                .expect("child status");
            assert!(status.success(), "worker process failed: {status}");
        }
    }
}

/// Schedules `job` tasks `ids` (with their priorities), due a second ago in order, each
/// lingering `linger_ms` when it runs.
pub async fn schedule_jobs(
    db: &TestDb,
    ids: impl IntoIterator<Item = (String, i16)>,
    linger_ms: u64,
) {
    let start = chrono::Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<_> = ids
        .into_iter()
        .enumerate()
        .map(|(i, (id, priority))| {
            let at = start + chrono::Duration::milliseconds(i as i64);
            ScheduleAtParams::at(id, "job", at, json!({ "linger_ms": linger_ms }))
                .with_priority(priority)
        })
        .collect();
    db.scheduler.schedule_many(tasks).await.expect("scheduled");
}

/// How many starts the processes recorded.
pub async fn starts(db: &TestDb) -> i64 {
    db.number(&format!("SELECT count(*) FROM {}", db.own_table("starts")))
        .await
}
