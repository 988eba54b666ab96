//! Priorities and queue pauses: what a claim takes first, and a pause every worker sees.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zart::scheduler::{
    Completion, OnComplete, QueueConfig, ScheduleAtParams, TaskRegistry, TaskScheduler, TaskStatus,
};
use zart::store::ClaimScope;
use zart_tests::{quick_config, task, TestDb};

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
