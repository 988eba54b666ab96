//! Lease rescue as workers live it: the maintenance loop, heartbeats, and the lock that lets
//! one pass run at a time. What a store does with expired leases is the conformance suite's
//! (`zart-store-tests`).

use std::time::Duration;

use serde_json::json;
use zart::scheduler::{TaskScheduler, TaskStatus};
use zart::store::{ClaimScope, Lease};
use zart_tests::TestDb;

/// Schedules task `id` and lets `worker` claim it with `lease`.
async fn claimed(db: &TestDb, id: &str, worker: &str, lease: Duration) -> Lease {
    db.scheduler
        .schedule_now(id, "noop", json!({}))
        .await
        .expect("scheduled");
    let claimed = db
        .scheduler
        .claim(worker, 1, lease, &ClaimScope::default())
        .await
        .expect("claimed");
    claimed[0].lease.clone()
}

/// One maintenance pass, which no other pass holds back.
async fn pass(db: &TestDb) -> zart::store::RescueReport {
    db.scheduler
        .rescue_expired(3)
        .await
        .expect("rescue")
        .expect("no other pass is running")
}

/// Makes every running lease look expired, as if its worker had stopped heartbeating.
async fn expire_leases(db: &TestDb) {
    db.execute(&format!(
        "UPDATE {} SET lease_expires_at = {} WHERE status = 'running'",
        db.tasks_table(),
        db.sql_ago(1)
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_maintenance_pass_at_a_time() {
    // PostgreSQL only: passes are serialised by an advisory lock that another session can hold; on SQLite each pass is one write transaction, so passes never overlap and none is skipped.
    let db = TestDb::postgres().await;
    claimed(&db, "job", "w", Duration::from_secs(30)).await;
    expire_leases(&db).await;

    // Another worker's pass holds the lock: this one skips at once and touches nothing.
    let mut other = db.pg().pool.acquire().await.expect("connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(db.pg().store.maintenance_lock_key())
        .execute(&mut *other)
        .await
        .expect("lock");
    assert_eq!(db.scheduler.rescue_expired(3).await.expect("rescue"), None);
    assert_eq!(db.task("job").await.status, TaskStatus::Running);

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(db.pg().store.maintenance_lock_key())
        .execute(&mut *other)
        .await
        .expect("unlock");
    let report = pass(&db).await;
    assert_eq!(report.requeued, vec!["job".to_owned()]);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_maintenance_loop_rescues_expired_leases(db: TestDb) {
    // A worker that died holding the task: claimed, then never heard of again.
    claimed(&db, "orphan", "dead-worker", Duration::from_millis(200)).await;

    let mut registry = zart::scheduler::TaskRegistry::new();
    registry.register(
        "noop",
        zart_tests::task(|_| async { Ok(zart::scheduler::OnComplete::done()) }),
    );
    let config = zart::scheduler::WorkerConfig {
        rescue_interval: Duration::from_millis(200),
        ..zart_tests::quick_config()
    };
    let worker = db.start_worker(registry, config);
    let record = db
        .wait_for_status("orphan", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    assert_eq!(record.rescues, 1);
    assert_eq!(record.attempts, 2);
    worker.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_long_task_from_being_rescued(db: TestDb) {
    let mut registry = zart::scheduler::TaskRegistry::new();
    registry.register(
        "long",
        zart_tests::task(|_| async {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            Ok(zart::scheduler::OnComplete::done())
        }),
    );
    // The lease is far shorter than the task: only heartbeats keep it alive, while the
    // maintenance pass runs every 100 ms looking for expired leases.
    let config = zart::scheduler::WorkerConfig {
        lease_duration: Duration::from_millis(800),
        heartbeat_interval: Duration::from_millis(200),
        rescue_interval: Duration::from_millis(100),
        ..zart_tests::quick_config()
    };
    let worker = db.start_worker(registry, config);
    db.scheduler
        .schedule_now("long-1", "long", json!({}))
        .await
        .expect("scheduled");
    let record = db
        .wait_for_status("long-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!((record.attempts, record.rescues), (1, 0), "{record:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rescue_passes_over_a_task_another_statement_holds() {
    // PostgreSQL only: SQLite has no row locks (one writer at a time).
    let db = TestDb::postgres().await;
    claimed(&db, "held", "w", Duration::from_secs(30)).await;
    claimed(&db, "free", "w", Duration::from_secs(30)).await;
    expire_leases(&db).await;

    // Another statement (the task's own outcome, say) holds one of the expired rows.
    let mut holder = db.pg().pool.begin().await.expect("transaction");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM {} WHERE task_id = 'held' FOR UPDATE",
        db.tasks_table()
    )))
    .execute(&mut *holder)
    .await
    .expect("row lock");
    let report = tokio::time::timeout(Duration::from_secs(3), db.scheduler.rescue_expired(3))
        .await
        .expect("the pass does not wait for the held row")
        .expect("rescue")
        .expect("lock free");
    assert_eq!(report.requeued, vec!["free".to_owned()]);

    holder.rollback().await.expect("rollback");
    let report = pass(&db).await;
    assert_eq!(
        report.requeued,
        vec!["held".to_owned()],
        "the next pass takes it"
    );
}
