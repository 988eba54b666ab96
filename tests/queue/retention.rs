//! Retention: ended tasks are deleted once old enough, so that the task table stays
//! bounded while work flows through it, with several worker processes on the database
//! (one of which runs the maintenance at a time).

use std::time::{Duration, Instant};

use zart_tests::{Driver, TestDb};

use crate::processes::{schedule_jobs, starts, JobWorkers};

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_table_stays_bounded_while_work_flows_through_three_processes(db: TestDb) {
    let count = format!("SELECT count(*) FROM {}", db.tasks_table());
    let mut inserted = 0;
    let schedule_batch = async |inserted: &mut usize| {
        let ids = (*inserted..*inserted + 20).map(|i| (format!("flow-{i}"), 0));
        schedule_jobs(&db, ids, 0).await;
        *inserted += 20;
    };
    // Some work before the processes start, so that none finds an empty table.
    schedule_batch(&mut inserted).await;
    let mut workers = JobWorkers::start(&db, 3, 10, 1000).await;
    let mut most = 0;
    // Counted in batches, not seconds: a busy machine schedules fewer a second, and then
    // fewer are stored at once too.
    let flowing = Instant::now();
    while inserted < 1000 {
        assert!(
            flowing.elapsed() < Duration::from_secs(120),
            "work flows: {inserted} tasks"
        );
        schedule_batch(&mut inserted).await;
        most = most.max(db.number(&count).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // At most 200 tasks a second, each kept a second after it completed and deleted within
    // a maintenance interval or two: a few hundred stored at any time, not all of them.
    assert!(
        most < 700,
        "at most {most} of {inserted} tasks were stored at once"
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    while db.number(&count).await > 0 {
        assert!(
            Instant::now() < deadline,
            "every completed task is deleted in the end"
        );
        workers.assert_alive();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    workers.stop().await;
    let distinct = db
        .number(&format!(
            "SELECT count(DISTINCT task_id) FROM {}",
            db.own_table("starts")
        ))
        .await;
    assert_eq!(
        distinct, inserted as i64,
        "every task ran before it was deleted"
    );
    assert_eq!(starts(&db).await, inserted as i64, "and ran once");
}

/// A backlog of expired tasks far larger than one statement deletes is gone in one pass,
/// not a share of it a pass: with a share, any inflow above it grows the table for good.
#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_fifty_thousand_expired_tasks_is_gone_in_one_pass(db: TestDb) {
    const BACKLOG: i64 = 50_000;
    let (series, id) = match db.driver {
        Driver::Postgres(_) => (
            format!("generate_series(1, {BACKLOG}) AS n"),
            "'old-' || n",
        ),
        Driver::Sqlite(_) => (
            format!(
                "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {BACKLOG})
                  SELECT n FROM s)"
            ),
            "'old-' || n",
        ),
    };
    let ended = db.sql_ago(3600);
    db.execute(&format!(
        "INSERT INTO {} (task_id, task_name, status, created_at, finished_at)
         SELECT {id}, 'job', 'completed', {ended}, {ended} FROM {series}",
        db.tasks_table()
    ))
    .await;
    let count = format!("SELECT count(*) FROM {}", db.tasks_table());
    assert_eq!(db.number(&count).await, BACKLOG);

    // Passes 4 s apart at the least (the interval is jittered by a quarter): a share of
    // the backlog a pass would leave a plateau of seconds between two passes.
    let mut config = zart_tests::quick_config();
    config.rescue_interval = Duration::from_secs(4);
    config.retention = zart::scheduler::Retention {
        completed: Some(Duration::from_secs(60)),
        ..zart::scheduler::Retention::forever()
    };
    let worker = db.start_worker(zart::scheduler::TaskRegistry::new(), config);
    let started = Instant::now();
    let mut left = db.number(&count).await;
    while left == BACKLOG {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a maintenance pass deletes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = db.number(&count).await;
    }
    let mut unchanged_since = Instant::now();
    while left > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now_left = db.number(&count).await;
        if now_left < left {
            unchanged_since = Instant::now();
        }
        left = now_left;
        assert!(
            unchanged_since.elapsed() < Duration::from_millis(2500),
            "the pass went on until none was left: {left} waited for the next pass"
        );
    }
    worker.stop().await;
}
