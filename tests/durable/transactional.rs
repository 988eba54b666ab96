use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use zart::durable::{transactional_step, DurableExecution, StepError, StepOptions, TaskError};
use zart::postgres::sqlx::PgConnection;
use zart::scheduler::{TaskRegistry, TaskScheduler, TaskStatus};
use zart::sqlite::rusqlite;
use zart_tests::{quick_config, quick_retry, TestDb};

/// Writes a row in a transactional step whose first attempt fails after the write, then
/// fails the whole execution once after the step.
struct Ledger {
    table: String,
    /// Whether the store is SQLite (its connection is rusqlite's), not PostgreSQL.
    sqlite: bool,
    step_attempts: Arc<AtomicU32>,
    runs: Arc<AtomicU32>,
}

#[zart::prelude::async_trait]
impl DurableExecution for Ledger {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let insert = format!(
            "INSERT INTO {} (entry) VALUES ('credit') RETURNING id",
            self.table
        );
        let attempts = self.step_attempts.clone();
        let options = StepOptions {
            retry: quick_retry(3),
            timeout: None,
        };
        let fail_first = move |id: i64| match attempts.fetch_add(1, Ordering::SeqCst) + 1 {
            1 => Err(StepError::failed("failed after writing: rolled back")),
            _ => Ok(id),
        };
        let id: i64 = if self.sqlite {
            transactional_step("credit", options, move |tx: &mut rusqlite::Connection| {
                let written = tx
                    .query_row(&insert, [], |row| row.get(0))
                    .map_err(StepError::failed)
                    .and_then(fail_first.clone());
                Box::pin(async move { written })
            })
            .await?
        } else {
            transactional_step("credit", options, move |tx: &mut PgConnection| {
                let (insert, fail_first) = (insert.clone(), fail_first.clone());
                Box::pin(async move {
                    let id: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(&*insert))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(StepError::failed)?;
                    fail_first(id)
                })
            })
            .await?
        };
        if run == 1 {
            return Err(TaskError::failed("the execution fails once after the step"));
        }
        Ok(json!({ "id": id }))
    }

    fn retry_config(&self) -> zart::scheduler::RetryConfig {
        quick_retry(2)
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_step_commits_its_writes_with_its_checkpoint(db: TestDb) {
    let table = db.own_table("ledger");
    let id_column = match db.is_sqlite() {
        true => "id INTEGER PRIMARY KEY",
        false => "id bigserial PRIMARY KEY",
    };
    db.execute(&format!(
        "CREATE TABLE {table} ({id_column}, entry text NOT NULL)"
    ))
    .await;
    let step_attempts = Arc::new(AtomicU32::new(0));
    let mut registry = TaskRegistry::new();
    registry.durable(
        "ledger",
        Ledger {
            table: table.clone(),
            sqlite: db.is_sqlite(),
            step_attempts: step_attempts.clone(),
            runs: Arc::default(),
        },
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("l-1", "ledger", json!({}))
        .await
        .expect("scheduled");
    let done = db
        .wait_for_status("l-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;

    let rows: Vec<i64> = db
        .rows(&format!("SELECT id FROM {table}"))
        .await
        .into_iter()
        .flatten()
        .map(|id| id.parse().expect("an id"))
        .collect();
    assert_eq!(
        rows.len(),
        1,
        "the failed attempt's write was rolled back: {rows:?}"
    );
    assert_eq!(
        done.result,
        Some(json!({ "id": rows[0] })),
        "the replay returned the stored id"
    );
    assert_eq!(
        step_attempts.load(Ordering::SeqCst),
        2,
        "not run again by the replay"
    );
    let steps = db.executions().steps("l-1").await.expect("steps");
    let failed: Vec<_> = steps[0]
        .failed_attempts
        .iter()
        .map(|a| (a.attempt, a.error.as_str()))
        .collect();
    assert_eq!(
        failed,
        [(1, "failed after writing: rolled back")],
        "the failed attempt is recorded with the step"
    );
}
