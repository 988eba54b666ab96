//! Queue limits across worker processes: four processes share one queue, each task marks
//! itself in a side table while it runs, and the test samples that table many times a
//! second. No sample may show more tasks running than the queue's global limit, or more of
//! one key than its per-key limit.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use zart::scheduler::{ScheduleAtParams, TaskScheduler};
use zart_tests::{Driver, TestDb};

const PROCESSES: usize = 4;

/// What the samples saw at most: tasks running at once, and of one tenant at once.
struct Seen {
    most_running: i64,
    most_of_one_tenant: i64,
    samples: usize,
}

/// Runs `tasks` (`(id, tenant)`) on four worker processes whose queue `limited` has the
/// limits `[global, per_key, rate per second]` (0: none), sampling the side table until
/// every process finished.
async fn run_limited(db: &TestDb, limits: [u32; 3], tasks: &[(String, u32)]) -> Seen {
    let clock = match db.driver {
        Driver::Postgres(_) => "timestamptz NOT NULL DEFAULT clock_timestamp()",
        Driver::Sqlite(_) => {
            "INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))"
        }
    };
    db.execute(&format!(
        "CREATE TABLE {} (task_id text NOT NULL, tenant text NOT NULL)",
        db.own_table("active")
    ))
    .await;
    db.execute(&format!(
        "CREATE TABLE {} (task_id text NOT NULL, at {clock})",
        db.own_table("starts")
    ))
    .await;
    let params = tasks
        .iter()
        .map(|(id, tenant)| ScheduleAtParams::now(id, "limited", json!({ "tenant": tenant })))
        .collect();
    db.scheduler.schedule_many(params).await.expect("scheduled");

    let mut children: Vec<_> = (0..PROCESSES)
        .map(|n| {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_zart-test-worker"))
                .args(db.process_args())
                .arg(format!("process-{n}"))
                .arg("limited")
                .args(limits.map(|limit| limit.to_string()))
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn worker process")
        })
        .collect();
    let mut seen = Seen {
        most_running: 0,
        most_of_one_tenant: 0,
        samples: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    let sample = format!(
        "SELECT count(*), coalesce(max(n), 0) FROM (SELECT tenant, count(*) AS n FROM {} GROUP BY tenant) per",
        db.own_table("active")
    );
    let total = format!("SELECT count(*) FROM {}", db.own_table("active"));
    loop {
        let running = db.number(&total).await;
        let per_tenant = db.rows(&sample).await;
        let most_of_one: i64 = per_tenant[0][1].parse().expect("a count");
        seen.most_running = seen.most_running.max(running);
        seen.most_of_one_tenant = seen.most_of_one_tenant.max(most_of_one);
        seen.samples += 1;
        let mut all_done = true;
        for child in &mut children {
            match child.try_wait().expect("child status") {
                Some(status) => assert!(status.success(), "worker process failed: {status}"),
                None => all_done = false,
            }
        }
        if all_done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker processes did not finish in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let runs = db
        .number(&format!(
            "SELECT count(DISTINCT task_id) FROM {}",
            db.own_table("starts")
        ))
        .await;
    assert_eq!(runs, tasks.len() as i64, "every task ran");
    seen
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_limit_of_one_holds_across_four_processes(db: TestDb) {
    let tasks: Vec<_> = (0..60).map(|i| (format!("one-{i}"), i % 7)).collect();
    let seen = run_limited(&db, [1, 0, 0], &tasks).await;
    assert!(seen.samples > 100, "sampled often: {}", seen.samples);
    assert_eq!(
        seen.most_running, 1,
        "never more than one running, and one at times"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_limit_of_three_holds_across_four_processes(db: TestDb) {
    let tasks: Vec<_> = (0..150).map(|i| (format!("three-{i}"), i % 11)).collect();
    let seen = run_limited(&db, [3, 0, 0], &tasks).await;
    assert_eq!(
        seen.most_running, 3,
        "never more than three running, and three at times"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_key_limit_of_one_holds_while_other_keys_proceed(db: TestDb) {
    // Tenant 0 has most of the work, and all of it first: the others must not wait for it.
    let mut tasks: Vec<_> = (0..60).map(|i| (format!("big-{i}"), 0)).collect();
    tasks.extend((0..60).map(|i| (format!("small-{i}"), 1 + i % 5)));
    let seen = run_limited(&db, [0, 1, 0], &tasks).await;
    assert_eq!(seen.most_of_one_tenant, 1, "one task of a tenant at a time");
    assert!(
        seen.most_running > 1,
        "other tenants ran beside tenant 0: at most {} ran at once",
        seen.most_running
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_key_limit_of_three_holds_across_four_processes(db: TestDb) {
    let tasks: Vec<_> = (0..240).map(|i| (format!("key-{i}"), i % 4)).collect();
    let seen = run_limited(&db, [0, 3, 0], &tasks).await;
    assert_eq!(
        seen.most_of_one_tenant, 3,
        "never more than three of a tenant, three at times"
    );
    assert!(
        seen.most_running > 3,
        "tenants ran side by side: {}",
        seen.most_running
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_starts_per_second_across_four_processes(db: TestDb) {
    const RATE: i64 = 20;
    let tasks: Vec<_> = (0..230).map(|i| (format!("rate-{i}"), i % 3)).collect();
    run_limited(&db, [0, 0, RATE as u32], &tasks).await;
    // When each task was claimed (what the limit counts): none ran twice, so its start is
    // its only one.
    let epoch_ms = match db.driver {
        Driver::Postgres(_) => "(extract(epoch FROM started_at) * 1000)::bigint",
        Driver::Sqlite(_) => "started_at",
    };
    let starts: Vec<i64> = db
        .rows(&format!(
            "SELECT {epoch_ms} FROM {} WHERE task_name = 'limited' ORDER BY started_at",
            db.tasks_table()
        ))
        .await
        .iter()
        .map(|row| row[0].parse().expect("an instant"))
        .collect();
    let first = starts[0];
    let mut per_second = [0_i64; 10];
    for start in &starts {
        if let Some(count) =
            per_second.get_mut(usize::try_from((start - first) / 1000).unwrap_or(99))
        {
            *count += 1;
        }
    }
    assert!(
        per_second.iter().all(|n| *n <= RATE),
        "at most {RATE} starts a second: {per_second:?}"
    );
    // Once a start leaves the window, the next start follows it (with room in the window and
    // tasks due, a worker waits for nothing): a claim that finds the window full and asks
    // when it opens, just as it opened, used to hear "not held back" and sleep its poll
    // interval, a gap of a second with the window empty.
    let late: Vec<i64> = starts
        .windows(RATE as usize + 1)
        .map(|w| w[RATE as usize] - w[0] - 1000)
        .filter(|late| *late > 500)
        .collect();
    assert!(
        late.is_empty(),
        "a start waited past its window's room (ms late): {late:?}"
    );
    let total: i64 = per_second.iter().sum();
    assert!(
        total >= RATE * 10 * 95 / 100,
        "the limit was used, not undershot: {total} starts in 10 s, {per_second:?}"
    );
}
