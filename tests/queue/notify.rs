use std::time::{Duration, Instant};

use serde_json::json;
use zart::scheduler::{OnComplete, TaskRegistry, TaskScheduler, TaskStatus, WorkerConfig};
use zart::sqlite::{SqliteOptions, SqliteTaskScheduler};
use zart_tests::{quick_config, task, Driver, TestDb};

/// A poll interval so long that only a notification can explain a prompt start.
const NO_POLLING: Duration = Duration::from_secs(120);

async fn listener_pids(db: &TestDb) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND query LIKE '%' || $1 || '%'",
    )
    .bind(db.pg().store.notify_channel())
    .fetch_all(&db.pg().pool)
    .await
    .expect("read pg_stat_activity")
}

/// Schedules the task `later` (name `noop`) due `after` from now; its due instant.
async fn schedule_later(db: &TestDb, after: chrono::Duration) -> chrono::DateTime<chrono::Utc> {
    // Whole milliseconds: a store may keep no finer (SQLite does not).
    let due = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now() + after, 3);
    db.scheduler
        .schedule_at(zart::scheduler::ScheduleAtParams::at(
            "later",
            "noop",
            due,
            json!({}),
        ))
        .await
        .expect("scheduled");
    due
}

async fn time_to_complete(db: &TestDb, id: &str) -> Duration {
    let start = Instant::now();
    db.scheduler
        .schedule_now(id, "noop", json!({}))
        .await
        .expect("scheduled");
    db.wait_for_status(id, TaskStatus::Completed, Duration::from_secs(20))
        .await;
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_tasks_wake_idle_workers_and_a_lost_listener_reconnects() {
    // PostgreSQL only: it watches the LISTEN connection in pg_stat_activity and kills it (SQLite has no connection to lose; its cross-process wake-up is tested below).
    let db = TestDb::postgres().await;
    let mut registry = TaskRegistry::new();
    registry.register("noop", task(|_| async { Ok(OnComplete::done()) }));
    let config = WorkerConfig {
        poll_interval: NO_POLLING,
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);

    // Let the worker go idle (its first claim finds nothing) with its listener connected.
    let deadline = Instant::now() + Duration::from_secs(10);
    while listener_pids(&db).await.is_empty() {
        assert!(Instant::now() < deadline, "the worker never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let woken = time_to_complete(&db, "first").await;
    assert!(
        woken < Duration::from_secs(2),
        "woken by NOTIFY, not polling: {woken:?}"
    );

    for pid in listener_pids(&db).await {
        let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&db.pg().pool)
            .await
            .expect("terminate");
        assert!(killed);
    }
    // The listener notices the lost connection, reconnects and listens again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while listener_pids(&db).await.is_empty() {
        assert!(Instant::now() < deadline, "the listener did not reconnect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let woken = time_to_complete(&db, "after-reconnect").await;
    assert!(
        woken < Duration::from_secs(2),
        "still woken by NOTIFY: {woken:?}"
    );
    worker.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_task_starts_when_due_without_waiting_for_a_poll(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.register("noop", task(|_| async { Ok(OnComplete::done()) }));
    let config = WorkerConfig {
        poll_interval: NO_POLLING,
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let due = schedule_later(&db, chrono::Duration::milliseconds(700)).await;
    let record = db
        .wait_for_status("later", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    let started = record.started_at.expect("started");
    assert!(started >= due, "not before it was due");
    assert!(
        started - due < chrono::Duration::seconds(2),
        "started {started}, due {due}"
    );
    worker.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_finds_work_when_notifications_are_missed(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.register("noop", task(|_| async { Ok(OnComplete::done()) }));
    let worker = db.start_worker(registry, quick_config());
    tokio::time::sleep(Duration::from_millis(300)).await; // idle now
                                                          // Inserted behind Zart's back: no notification is sent.
    db.execute(&format!(
        "INSERT INTO {} (task_id, task_name) VALUES ('silent', 'noop')",
        db.tasks_table()
    ))
    .await;
    db.wait_for_status("silent", TaskStatus::Completed, Duration::from_secs(2))
        .await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_another_process_schedules_wakes_an_idle_worker_within_the_poll_interval() {
    // SQLite only: across processes PostgreSQL wakes workers by NOTIFY (tested above);
    // SQLite's workers watch the file.
    let db = TestDb::sqlite().await;
    let Driver::Sqlite(lite) = &db.driver else {
        unreachable!("a SQLite database")
    };
    let mut registry = TaskRegistry::new();
    registry.register("noop", task(|_| async { Ok(OnComplete::done()) }));
    let config = WorkerConfig {
        poll_interval: NO_POLLING,
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);
    tokio::time::sleep(Duration::from_millis(300)).await; // idle now

    // A store of its own on the same file rings no bell of this one: as another process.
    let elsewhere = SqliteTaskScheduler::connect_with(SqliteOptions::file(&lite.path))
        .await
        .expect("a second store on the file");
    for round in 0..3 {
        let id = format!("from-elsewhere-{round}");
        let start = Instant::now();
        elsewhere
            .schedule_now(&id, "noop", json!({}))
            .await
            .expect("scheduled");
        db.wait_for_status(&id, TaskStatus::Completed, Duration::from_secs(20))
            .await;
        let woken = start.elapsed();
        assert!(
            woken < Duration::from_secs(1),
            "noticed within the 50 ms poll interval (give or take a busy machine), not by polling: {woken:?}"
        );
    }
    worker.stop().await;
}

/// The store's own inserts announce their work with its due instant: alone, in their
/// statement; beside others, after their commit, from outside their transaction (a
/// `NOTIFY` in each would make concurrent producers commit one at a time). Never in more
/// notifications than inserts (`announce`'s unit tests cover the coalescing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_are_announced_with_their_due_instants_alone_or_beside_others() {
    let db = TestDb::postgres().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&db.pg().pool)
        .await
        .expect("listener");
    listener
        .listen(db.pg().store.notify_channel())
        .await
        .expect("listen");

    let due = schedule_later(&db, chrono::Duration::hours(1)).await;
    let heard = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("announced within 10 s")
        .expect("notification");
    assert_eq!(heard.payload(), due.timestamp_millis().to_string());

    let producers: Vec<_> = (0..8)
        .map(|p| {
            let scheduler = db.scheduler.clone();
            tokio::spawn(async move {
                for n in 0..50 {
                    scheduler
                        .schedule_now(&format!("now-{p}-{n}"), "noop", json!({}))
                        .await
                        .expect("scheduled");
                }
            })
        })
        .collect();
    for producer in producers {
        producer.await.expect("producer");
    }
    let mut announcements = 0;
    while let Ok(Ok(notification)) =
        tokio::time::timeout(Duration::from_millis(1500), listener.recv()).await
    {
        let millis: i64 = notification.payload().parse().expect("an instant");
        assert!(
            millis <= chrono::Utc::now().timestamp_millis(),
            "announced as already due"
        );
        announcements += 1;
    }
    assert!(announcements >= 1, "the inserts were announced");
    assert!(
        announcements <= 400,
        "{announcements} notifications for 400 inserts"
    );
}
