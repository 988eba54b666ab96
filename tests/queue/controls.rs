//! Priorities and queue pauses: what a claim takes first, and a pause every worker sees,
//! in one process and across worker processes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zart::scheduler::{
    Completion, OnComplete, QueueConfig, ScheduleAtParams, TaskRegistry, TaskScheduler, TaskStatus,
};
use zart::store::ClaimScope;
use zart_tests::{quick_config, task, TestDb};

use crate::processes::{schedule_jobs, starts, JobWorkers};

fn scope(aging: Option<Duration>) -> ClaimScope {
    scope_of("job", aging)
}

fn scope_of(name: &str, aging: Option<Duration>) -> ClaimScope {
    ClaimScope {
        names: Some(vec![name.to_owned()]),
        priority_aging: aging,
        ..ClaimScope::default()
    }
}

/// Schedules `job-0`..`job-{n-1}` due a second ago, each with the priority `priority(i)`.
async fn schedule_with_priorities(db: &TestDb, n: usize, priority: impl Fn(usize) -> i16) {
    schedule_named(db, "job", n, priority).await
}

async fn schedule_named(db: &TestDb, name: &str, n: usize, priority: impl Fn(usize) -> i16) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let at = chrono::Utc::now() - chrono::Duration::seconds(1)
                + chrono::Duration::milliseconds(i as i64);
            ScheduleAtParams::at(format!("{name}-{i}"), name, at, json!(i))
                .with_priority(priority(i))
        })
        .collect();
    db.scheduler.schedule_many(tasks).await.expect("scheduled");
}

async fn claim_ids(db: &TestDb, n: usize, scope: &ClaimScope) -> Vec<String> {
    let mut ids: Vec<String> = db
        .scheduler
        .claim("w", n, Duration::from_secs(30), scope)
        .await
        .expect("claimed")
        .into_iter()
        .map(|task| task.lease.task_id)
        .collect();
    ids.sort();
    ids
}

#[zart_tests::each_store]
#[tokio::test]
async fn claims_take_higher_priority_first_then_the_oldest_due(db: TestDb) {
    // Priorities 0, 1, 2, 0, 1, 2, ... and -1 for the last two.
    schedule_with_priorities(&db, 12, |i| if i >= 10 { -1 } else { (i % 3) as i16 }).await;
    let strict = scope(None);
    assert_eq!(
        claim_ids(&db, 3, &strict).await,
        ["job-2", "job-5", "job-8"]
    );
    assert_eq!(claim_ids(&db, 2, &strict).await, ["job-1", "job-4"]);
    assert_eq!(
        claim_ids(&db, 5, &strict).await,
        ["job-0", "job-3", "job-6", "job-7", "job-9"]
    );
    assert_eq!(
        claim_ids(&db, 5, &strict).await,
        ["job-10", "job-11"],
        "below 0 comes last"
    );
}

#[zart_tests::each_store]
#[tokio::test]
async fn a_task_waiting_longer_than_the_aging_bound_goes_first_whatever_its_priority(db: TestDb) {
    schedule_with_priorities(&db, 4, |i| if i == 0 { 0 } else { 5 }).await;
    db.execute(&format!(
        "UPDATE {} SET run_at = {} WHERE task_id = 'job-0'",
        db.tasks_table(),
        db.sql_ago(600)
    ))
    .await;
    let aging = scope(Some(Duration::from_secs(300)));
    assert_eq!(
        claim_ids(&db, 1, &aging).await,
        ["job-0"],
        "ten minutes due beats priority 5"
    );
    assert_eq!(claim_ids(&db, 3, &aging).await, ["job-1", "job-2", "job-3"]);

    // Without aging, priority alone decides.
    schedule_named(&db, "strict", 2, |i| i as i16).await;
    db.execute(&format!(
        "UPDATE {} SET run_at = {} WHERE task_id = 'strict-0'",
        db.tasks_table(),
        db.sql_ago(600)
    ))
    .await;
    assert_eq!(
        claim_ids(&db, 1, &scope_of("strict", None)).await,
        ["strict-1"]
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_is_claimed_by_no_worker_until_resumed(db: TestDb) {
    let ran = Arc::new(AtomicUsize::new(0));
    let registry = || {
        let ran = ran.clone();
        let mut registry = TaskRegistry::new();
        registry
            .register(
                "mail",
                task(move |_| {
                    let ran = ran.clone();
                    async move {
                        ran.fetch_add(1, Ordering::SeqCst);
                        Ok(OnComplete::done())
                    }
                }),
            )
            .set_queue("mail", "emails");
        registry
    };
    let config = || {
        let mut config = quick_config();
        config
            .queue_configs
            .push(QueueConfig::new("emails").global_limit(100));
        config
    };
    let zart = zart::Zart::from_store(db.scheduler.clone());
    assert!(zart.pause_queue("emails").await.expect("paused"));
    assert!(
        !zart.pause_queue("emails").await.expect("paused twice"),
        "already paused"
    );
    let first = db.start_worker(registry(), config());
    let second = db.start_worker(registry(), config());
    for i in 0..5 {
        db.scheduler
            .schedule_now(&format!("mail-{i}"), "mail", json!(i))
            .await
            .expect("scheduled");
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "nothing ran while the queue was paused"
    );
    assert_eq!(db.task("mail-0").await.status, TaskStatus::Pending);
    let states = db.scheduler.queue_states().await.expect("queue states");
    assert!(states
        .iter()
        .any(|q| q.queue == "emails" && q.paused_at.is_some()));

    assert!(zart.resume_queue("emails").await.expect("resumed"));
    for i in 0..5 {
        db.wait_for_status(
            &format!("mail-{i}"),
            TaskStatus::Completed,
            Duration::from_secs(10),
        )
        .await;
    }
    assert_eq!(ran.load(Ordering::SeqCst), 5);
    first.stop().await;
    second.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_ups_run_at_their_own_priority_or_at_their_schedulers(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry
        .register(
            "first",
            task(|_| async {
                Ok(Box::new(
                    Completion::new()
                        .result(json!("first"))
                        .follow_up(ScheduleAtParams::now("second-1", "second", json!(null)))
                        .follow_up_at_priority(
                            ScheduleAtParams::now("second-2", "second", json!(null)),
                            -3,
                        ),
                )
                    as Box<dyn zart::scheduler::CompletionHandler>)
            }),
        )
        .register("second", task(|_| async { Ok(OnComplete::done()) }));
    db.scheduler
        .schedule_at(ScheduleAtParams::now("first-1", "first", json!(null)).with_priority(7))
        .await
        .expect("scheduled");
    let worker = db.start_worker(registry, quick_config());
    let second = db
        .wait_for_status("second-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    let own = db
        .wait_for_status("second-2", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    let first = db.task("first-1").await;
    assert_eq!(first.priority, 7);
    assert_eq!(first.result, Some(json!("first")));
    assert_eq!(
        second.priority, 7,
        "the follow-up inherited its parent's priority"
    );
    assert_eq!(own.priority, -3, "the follow-up that named one has it");
    assert_eq!(
        second.queue.as_deref(),
        Some("default"),
        "claimed in its queue"
    );
}

const PROCESSES: usize = 3;

async fn count_status(db: &TestDb, status: TaskStatus) -> i64 {
    db.number(&format!(
        "SELECT count(*) FROM {} WHERE status = '{}'",
        db.tasks_table(),
        status.as_str()
    ))
    .await
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_stops_every_process_claiming_and_lets_running_tasks_finish(db: TestDb) {
    const TASKS: i64 = 60;
    schedule_jobs(&db, (0..TASKS).map(|i| (format!("job-{i}"), 0)), 100).await;
    let mut workers = JobWorkers::start(&db, PROCESSES, 2, 0).await;
    let zart = zart::Zart::from_store(db.scheduler.clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while starts(&db).await < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "the processes start work"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(zart.pause_queue("jobs").await.expect("paused"));
    // A claim that read the queue before the pause committed may still land: let it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while count_status(&db, TaskStatus::Running).await > 0 {
        assert!(std::time::Instant::now() < deadline, "running tasks finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = starts(&db).await;
    assert_eq!(
        count_status(&db, TaskStatus::Completed).await,
        started,
        "every task that started before the pause completed"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    workers.assert_alive();
    assert_eq!(
        starts(&db).await,
        started,
        "no process claimed while paused"
    );
    assert!(started < TASKS, "the pause came before the work was done");

    assert!(zart.resume_queue("jobs").await.expect("resumed"));
    while count_status(&db, TaskStatus::Completed).await < TASKS {
        assert!(
            std::time::Instant::now() < deadline + Duration::from_secs(30),
            "the rest runs after the resume"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    workers.stop().await;
    assert_eq!(starts(&db).await, TASKS, "each task started once");
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_claim_higher_priorities_first(db: TestDb) {
    // 30 urgent tasks among 60 ordinary ones, the ordinary ones due first.
    let jobs = (0..90).map(|i| match i % 3 {
        2 => (format!("urgent-{i}"), 5),
        _ => (format!("ordinary-{i}"), 0),
    });
    schedule_jobs(&db, jobs, 20).await;
    let workers = JobWorkers::start(&db, PROCESSES, 1, 0).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count_status(&db, TaskStatus::Completed).await < 90 {
        assert!(std::time::Instant::now() < deadline, "every task runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    workers.stop().await;
    // Each process claims one task at a time, the most urgent due: an ordinary task is
    // claimed only once no urgent one is left unclaimed, so an urgent claim can follow the
    // first ordinary one only while claims race (at most one per other process).
    let urgent_after_first_ordinary = db
        .number(&format!(
            "SELECT count(*) FROM {tasks} WHERE priority = 5 AND started_at > \
             (SELECT min(started_at) FROM {tasks} WHERE priority = 0)",
            tasks = db.tasks_table()
        ))
        .await;
    assert!(
        urgent_after_first_ordinary < PROCESSES as i64,
        "{urgent_after_first_ordinary} urgent tasks were claimed after an ordinary one"
    );
    let workers_used = db
        .number(&format!(
            "SELECT count(DISTINCT worker) FROM {}",
            db.own_table("starts")
        ))
        .await;
    assert!(
        workers_used > 1,
        "the work was shared: {workers_used} process(es)"
    );
}

#[zart_tests::each_store]
#[tokio::test]
async fn limits_set_from_outside_are_checked_and_shown_beside_the_declared_ones(db: TestDb) {
    use zart::store::{KeyLimit, QueueLimits};
    let zart = zart::Zart::from_store(db.scheduler.clone());
    let bad = QueueLimits {
        per_key: Some(KeyLimit {
            field: "tenant..id".into(),
            limit: 1,
        }),
        ..QueueLimits::default()
    };
    let refused = zart.set_queue_limits("emails", bad).await;
    assert!(
        matches!(&refused, Err(zart::Error::InvalidQueueLimits { queue, reason })
            if queue == "emails" && reason.contains("tenant..id")),
        "{refused:?}"
    );
    assert!(
        db.scheduler
            .queue_states()
            .await
            .expect("states")
            .is_empty(),
        "nothing stored"
    );
    let one = QueueLimits {
        concurrency: Some(1),
        ..QueueLimits::default()
    };
    zart.set_queue_limits("emails", one.clone())
        .await
        .expect("set");
    let emails = zart
        .inspector()
        .queues()
        .await
        .expect("queues")
        .into_iter()
        .find(|q| q.queue == "emails")
        .expect("the queue is listed");
    assert_eq!(emails.limits, one);
    assert_eq!(emails.declared_limits, QueueLimits::default());
    assert!(emails.overridden_at.is_some());
    assert!(zart.reset_queue_limits("emails").await.expect("reset"));
    assert!(!zart
        .reset_queue_limits("emails")
        .await
        .expect("reset twice"));
}

/// A claim in a controlled queue that waited (for the queue's lock, or as here for its
/// table) stamps the start and the lease from when it ran, not from when it was sent: the
/// lease would come out short by the wait, and the start leave the rate window early.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_waited_for_its_queue_counts_from_after_the_wait() {
    use zart::store::QueueLimits;
    let db = TestDb::postgres().await;
    let zart = zart::Zart::from_store(db.scheduler.clone());
    let limits = QueueLimits {
        concurrency: Some(10),
        ..QueueLimits::default()
    };
    zart.set_queue_limits("emails", limits).await.expect("set");
    let scope = ClaimScope {
        names: Some(vec!["mail".to_owned()]),
        queue: Some("emails".to_owned()),
        ..ClaimScope::default()
    };
    // A first claim learns that the queue has controls: the next goes straight to the
    // claim under the queue's lock.
    assert!(claim_ids(&db, 1, &scope).await.is_empty());
    db.scheduler
        .schedule_many(vec![ScheduleAtParams::now("waited", "mail", json!({}))])
        .await
        .expect("scheduled");

    let pool = &db.pg().pool;
    let mut holder = pool.begin().await.expect("a transaction");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {}.\"zart_queues\" IN ACCESS EXCLUSIVE MODE",
        db.pg().schema
    )))
    .execute(&mut *holder)
    .await
    .expect("the queues table locked");
    let lease = Duration::from_secs(30);
    let claiming = tokio::spawn({
        let store = db.scheduler.clone();
        let scope = scope.clone();
        async move { store.claim("w", 1, lease, &scope).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let released = chrono::Utc::now();
    holder.commit().await.expect("released");
    let claimed = claiming.await.expect("joined").expect("claimed");
    assert_eq!(claimed.len(), 1);

    let row = db
        .rows(&format!(
            "SELECT (extract(epoch FROM started_at) * 1000)::bigint,
                    (extract(epoch FROM lease_expires_at - started_at) * 1000)::bigint
             FROM {} WHERE task_id = 'waited'",
            db.tasks_table()
        ))
        .await;
    let started: i64 = row[0][0].parse().expect("an instant");
    let leased_for: i64 = row[0][1].parse().expect("a length");
    let lag = released.timestamp_millis() - started;
    assert!(
        lag < 1000,
        "the start is stamped after the 2 s wait, not {lag} ms before its end"
    );
    assert_eq!(leased_for, 30_000, "the lease runs from the start");
}
