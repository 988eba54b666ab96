use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use zart::scheduler::{OnComplete, TaskRegistry, TaskScheduler, TaskStatus, WorkerConfig};
use zart_tests::{quick_config, task, TestDb};

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_tasks_finish_then_claims_nothing(db: TestDb) {
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    let mut registry = TaskRegistry::new();
    registry.register(
        "steady",
        task(move |_| {
            flag.store(true, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(OnComplete::with_result(json!("finished")))
            }
        }),
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("in-flight", "steady", json!({}))
        .await
        .expect("scheduled");
    while !started.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    worker.worker.shutdown().await;
    let record = db.task("in-flight").await;
    assert_eq!(
        record.status,
        TaskStatus::Completed,
        "shutdown waited for the task and stored it"
    );
    assert_eq!(record.result, Some(json!("finished")));

    db.scheduler
        .schedule_now("too-late", "steady", json!({}))
        .await
        .expect("scheduled");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(db.task("too-late").await.status, TaskStatus::Pending);
    worker.handle.await.expect("joined").expect("run ok");
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_still_running_at_the_timeout_are_released_for_another_worker_at_once(db: TestDb) {
    let lease = Duration::from_secs(60);
    let config = WorkerConfig {
        lease_duration: lease,
        shutdown_timeout: Duration::from_millis(200),
        ..quick_config()
    };
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    let mut stuck = TaskRegistry::new();
    stuck.register(
        "long",
        task(move |_| {
            flag.store(true, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(OnComplete::done())
            }
        }),
    );
    let first = db.start_worker(stuck, config.clone());
    db.scheduler
        .schedule_now("long-1", "long", json!({}))
        .await
        .expect("scheduled");
    while !started.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopping = Instant::now();
    first.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "shutdown honours its timeout"
    );
    let released = db.task("long-1").await;
    assert_eq!(released.status, TaskStatus::Pending);
    assert_eq!(released.worker_id, None);
    assert_eq!(
        released.attempts, 0,
        "an interrupted attempt is not counted"
    );

    let mut quick = TaskRegistry::new();
    quick.register(
        "long",
        task(|i| async move { Ok(OnComplete::with_result(json!(i.worker_id))) }),
    );
    let taking_over = Instant::now();
    let second = db.start_worker(quick, config);
    let record = db
        .wait_for_status("long-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    assert!(
        taking_over.elapsed() < lease / 10,
        "taken over long before the lease would expire"
    );
    assert_eq!(record.result, Some(json!(second.worker.id())));
    second.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_once(db: TestDb) {
    let worker = db.start_worker(TaskRegistry::new(), quick_config());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let again = worker.worker.run().await;
    assert!(
        matches!(again, Err(zart::Error::WorkerAlreadyRunning)),
        "{again:?}"
    );
    worker.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_refuses_to_start_with_two_handlers_for_one_name(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry
        .register("twice", task(|_| async { Ok(OnComplete::done()) }))
        .register("twice", task(|_| async { Ok(OnComplete::done()) }));
    let worker = db.start_worker(registry, quick_config());
    let result = worker.handle.await.expect("joined");
    assert!(
        matches!(&result, Err(zart::Error::Registry(zart::scheduler::RegistryError::DuplicateName(name))) if name == "twice"),
        "{result:?}"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_refuses_to_start_with_an_unusable_configuration(db: TestDb) {
    let config = WorkerConfig {
        heartbeat_interval: Duration::ZERO,
        ..quick_config()
    };
    let worker = db.start_worker(TaskRegistry::new(), config);
    let result = worker.handle.await.expect("joined");
    let message = result.map_err(|e| e.to_string());
    assert_eq!(
        message,
        Err("invalid worker configuration: heartbeat_interval must be longer than zero".to_owned())
    );
}
