use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use zart::scheduler::{ScheduleAtParams, TaskScheduler, TaskStatus};
use zart::store::{ClaimScope, QueueStore};
use zart_tests::TestDb;

async fn schedule(db: &TestDb, n: usize) {
    let tasks = (0..n)
        .map(|i| ScheduleAtParams::now(format!("t-{i}"), "noop", json!({ "i": i })))
        .collect();
    db.scheduler.schedule_many(tasks).await.expect("scheduled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_come_in_batches_with_a_lease_each() {
    let db = TestDb::new().await;
    schedule(&db, 25).await;

    let claimed = db
        .scheduler
        .claim(
            "worker-a",
            10,
            Duration::from_secs(30),
            &ClaimScope::default(),
        )
        .await
        .expect("claimed");
    assert_eq!(claimed.len(), 10);
    for task in &claimed {
        assert_eq!(task.attempt, 1);
        assert_eq!(
            task.lease.token, 1,
            "the first claim carries fencing token 1"
        );
        let record = db.task(&task.lease.task_id).await;
        assert_eq!(record.status, TaskStatus::Running);
        assert_eq!(record.worker_id.as_deref(), Some("worker-a"));
    }
    let expiry: Vec<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(&*format!(
        "SELECT lease_expires_at BETWEEN now() + interval '25 seconds' AND now() + interval '31 seconds'
         FROM {} WHERE status = 'running'",
        db.tasks_table()
    )))
    .fetch_all(&db.pool)
    .await
    .expect("read leases");
    assert_eq!(expiry, vec![true; 10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_share_a_task() {
    let db = TestDb::new().await;
    schedule(&db, 100).await;

    let claims = (0..4).map(|w| {
        let scheduler = db.scheduler.clone();
        tokio::spawn(async move {
            scheduler
                .claim(
                    &format!("worker-{w}"),
                    30,
                    Duration::from_secs(30),
                    &ClaimScope::default(),
                )
                .await
                .expect("claimed")
        })
    });
    let mut seen = HashSet::new();
    let mut total = 0;
    for claim in claims {
        for task in claim.await.expect("claim task") {
            total += 1;
            assert!(
                seen.insert(task.lease.task_id.clone()),
                "{} claimed twice",
                task.lease.task_id
            );
        }
    }
    assert_eq!(
        total, 100,
        "SKIP LOCKED skips, but every due task is claimed by someone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_skip_tasks_not_yet_due_and_take_the_oldest_first() {
    let db = TestDb::new().await;
    let now = chrono::Utc::now();
    db.scheduler
        .schedule_many(vec![
            ScheduleAtParams::at(
                "later",
                "noop",
                now + chrono::Duration::hours(1),
                json!(null),
            ),
            ScheduleAtParams::at(
                "newer",
                "noop",
                now - chrono::Duration::seconds(1),
                json!(null),
            ),
            ScheduleAtParams::at(
                "older",
                "noop",
                now - chrono::Duration::seconds(5),
                json!(null),
            ),
        ])
        .await
        .expect("scheduled");
    let claimed = db
        .scheduler
        .claim("w", 1, Duration::from_secs(30), &ClaimScope::default())
        .await
        .expect("claimed");
    assert_eq!(claimed[0].lease.task_id, "older");
    let claimed = db
        .scheduler
        .claim("w", 10, Duration::from_secs(30), &ClaimScope::default())
        .await
        .expect("claimed");
    let ids: Vec<_> = claimed.iter().map(|t| t.lease.task_id.as_str()).collect();
    assert_eq!(ids, vec!["newer"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_heartbeat_extends_every_lease_of_its_worker() {
    let db = TestDb::new().await;
    schedule(&db, 6).await;
    db.scheduler
        .claim("mine", 4, Duration::from_secs(5), &ClaimScope::default())
        .await
        .expect("claimed");
    db.scheduler
        .claim("theirs", 2, Duration::from_secs(5), &ClaimScope::default())
        .await
        .expect("claimed");

    let extended = db
        .scheduler
        .heartbeat("mine", Duration::from_secs(600))
        .await
        .expect("heartbeat");
    assert_eq!(extended, 4);
    let long: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(&*format!(
        "SELECT count(*) FROM {} WHERE lease_expires_at > now() + interval '500 seconds'",
        db.tasks_table()
    )))
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert_eq!(long, 4, "only the heartbeating worker's leases move");
}
