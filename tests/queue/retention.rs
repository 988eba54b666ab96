//! Retention: ended tasks are deleted once old enough, so that the task table stays
//! bounded while work flows through it, with several worker processes on the database
//! (one of which runs the maintenance at a time).

use std::time::{Duration, Instant};

use zart_tests::TestDb;

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
    let flowing = Instant::now();
    while flowing.elapsed() < Duration::from_secs(6) {
        schedule_batch(&mut inserted).await;
        most = most.max(db.number(&count).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // About 200 tasks a second, each kept a second after it completed and deleted within
    // a maintenance interval or two: a few hundred stored at any time, not all of them.
    assert!(inserted >= 1000, "work flowed: {inserted} tasks");
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
