use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use zart::observe::{TaskEvent, TaskObserver};
use zart::scheduler::{OnComplete, ScheduleAtParams, TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, task, TestDb};

#[derive(Default)]
struct Recorder(Mutex<Vec<TaskEvent>>);

impl TaskObserver for Recorder {
    fn on_event(&self, event: &TaskEvent) {
        self.0.lock().expect("recorder lock").push(event.clone());
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_stores_the_result_and_schedules_follow_ups(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry
        .register(
            "first",
            task(|instance| async move {
                Ok(Box::new(OnComplete {
                    result: Some(json!({ "seen": instance.data })),
                    schedule_next: vec![ScheduleAtParams::now(
                        "second-1",
                        "second",
                        json!({ "n": 2 }),
                    )],
                })
                    as Box<dyn zart::scheduler::CompletionHandler>)
            }),
        )
        .register(
            "second",
            task(|i| async move { Ok(OnComplete::with_result(i.data)) }),
        );
    let recorder = Arc::new(Recorder::default());
    let worker = db.start_observed_worker(registry, quick_config(), vec![recorder.clone()]);

    db.scheduler
        .schedule_now("first-1", "first", json!({ "n": 1 }))
        .await
        .expect("scheduled");
    let second = db
        .wait_for_status("second-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    assert_eq!(second.result, Some(json!({ "n": 2 })));
    let first = db.task("first-1").await;
    assert_eq!(first.status, TaskStatus::Completed);
    assert_eq!(first.result, Some(json!({ "seen": { "n": 1 } })));
    assert_eq!(first.worker_id, None, "a finished task holds no lease");
    assert!(first.finished_at.is_some());
    worker.stop().await;

    let events = recorder.0.lock().expect("lock").clone();
    let started = |id: &str| {
        events
            .iter()
            .any(|e| matches!(e, TaskEvent::Started { task_id, attempt: 1, .. } if task_id == id))
    };
    let completed = |id: &str| {
        events
            .iter()
            .any(|e| matches!(e, TaskEvent::Completed { task_id, .. } if task_id == id))
    };
    assert!(started("first-1") && completed("first-1"), "{events:?}");
    assert!(started("second-1") && completed("second-1"), "{events:?}");
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_that_cannot_be_scheduled_leaves_the_task_uncompleted(db: TestDb) {
    db.scheduler
        .schedule_at(ScheduleAtParams::at(
            "taken",
            "other",
            chrono::Utc::now() + chrono::Duration::hours(1),
            json!("original"),
        ))
        .await
        .expect("scheduled");
    let mut registry = TaskRegistry::new();
    registry.register(
        "chain",
        task(|_| async {
            Ok(Box::new(OnComplete {
                result: Some(json!("would be stored")),
                schedule_next: vec![
                    ScheduleAtParams::now("fresh", "other", json!("new")),
                    ScheduleAtParams::now("taken", "other", json!("duplicate")),
                ],
            })
                as Box<dyn zart::scheduler::CompletionHandler>)
        }),
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("chain-1", "chain", json!({}))
        .await
        .expect("scheduled");

    let record = db
        .wait_for_status("chain-1", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(
        record.result, None,
        "no result is stored for an uncompleted task"
    );
    let error = record.error.unwrap_or_default();
    assert!(
        error.contains("taken") && error.contains("already exist"),
        "{error}"
    );
    assert_eq!(
        db.scheduler.get_task("fresh").await.expect("read"),
        None,
        "the other follow-up rolled back with the completion"
    );
    assert_eq!(
        db.task("taken").await.data,
        json!("original"),
        "the existing task is untouched"
    );
}
