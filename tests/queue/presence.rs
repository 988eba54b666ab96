//! A running worker records itself (host, process, queues, the tasks it runs and their
//! queues), records itself again if its record was forgotten, and removes it as it stops.

use std::time::Duration;

use serde_json::json;
use zart::inspect::DeclaredTask;
use zart::scheduler::{OnComplete, ScheduleAtParams, TaskRegistry, TaskScheduler, WorkerConfig};
use zart::Zart;
use zart_tests::{quick_config, task, TestDb};

async fn wait_for_workers(db: &TestDb, count: usize) -> Vec<zart::inspect::WorkerRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let workers = db.scheduler.workers().await.expect("workers() succeeds");
        if workers.len() == count || tokio::time::Instant::now() > deadline {
            return workers;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_worker_is_recorded_until_it_stops(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry
        .register("send-email", task(|_| async { Ok(OnComplete::done()) }))
        .set_queue("send-email", "emails")
        .register("resize", task(|_| async { Ok(OnComplete::done()) }));
    let config = WorkerConfig {
        worker_id: Some("presence-1".into()),
        heartbeat_interval: Duration::from_millis(200),
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);

    let workers = wait_for_workers(&db, 1).await;
    assert_eq!(workers.len(), 1, "recorded: {workers:?}");
    let recorded = &workers[0];
    assert_eq!(recorded.worker_id, "presence-1");
    assert_eq!(recorded.pid, std::process::id());
    assert_eq!(recorded.concurrency, 8);
    assert!(recorded.queues.is_empty(), "it serves every queue");
    let mut tasks = recorded.tasks.clone();
    tasks.sort();
    let declared = |name: &str, queue: &str| DeclaredTask {
        task_name: name.into(),
        queue: queue.into(),
        durable: false,
    };
    let expected = vec![
        declared("resize", "default"),
        declared("send-email", "emails"),
    ];
    assert_eq!(tasks, expected, "its tasks, with their queues; no tick");
    assert_eq!(
        db.scheduler.declared_tasks().await.expect("declared"),
        expected
    );

    let first_beat = recorded.heartbeat_at;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let later = wait_for_workers(&db, 1).await;
    assert!(later[0].heartbeat_at > first_beat, "the heartbeat moves on");

    db.scheduler
        .remove_worker("presence-1")
        .await
        .expect("remove");
    let again = wait_for_workers(&db, 1).await;
    assert_eq!(again.len(), 1, "a forgotten worker records itself again");

    worker.stop().await;
    assert_eq!(
        db.scheduler.workers().await.expect("workers()"),
        vec![],
        "a stopped worker removes its record"
    );
    assert_eq!(
        db.scheduler.declared_tasks().await.expect("declared").len(),
        2,
        "its declarations stay"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_count_the_tasks_of_the_names_workers_declared(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry
        .register("send-email", task(|_| async { Ok(OnComplete::done()) }))
        .set_queue("send-email", "emails")
        .register("resize", task(|_| async { Ok(OnComplete::done()) }));
    let worker = db.start_worker(registry, quick_config());
    assert_eq!(wait_for_workers(&db, 1).await.len(), 1);
    worker.stop().await;

    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let at = |id: &str, name: &str| ScheduleAtParams::at(id, name, later, json!({}));
    db.scheduler
        .schedule_many(vec![
            at("e1", "send-email"),
            at("e2", "send-email"),
            at("o1", "no-worker-knows-it"),
        ])
        .await
        .expect("scheduled");
    let queues = Zart::from_store(db.scheduler.clone())
        .inspector()
        .queues()
        .await
        .expect("queues() succeeds");
    let summary: Vec<_> = queues
        .iter()
        .map(|q| (q.queue.as_str(), q.task_names.clone(), q.counts.pending))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "default",
                vec!["no-worker-knows-it".to_owned(), "resize".to_owned()],
                1
            ),
            ("emails", vec!["send-email".to_owned()], 2),
        ],
        "an undeclared name counts in the default queue"
    );
    assert_eq!(queues[1].oldest_due, None, "nothing of it is due yet");
}
