use std::time::Duration;

use serde_json::json;
use zart::scheduler::{OnComplete, SchedulerTaskError, TaskRegistry, TaskScheduler, TaskStatus};
use zart_tests::{quick_config, quick_retry, task, TestDb};

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_its_task_and_the_worker_goes_on(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.register(
        "explode",
        task(|instance| async move {
            if instance.data == json!("boom") {
                panic!("kaboom: {}", instance.task_id);
            }
            Ok(OnComplete::done())
        }),
    );
    let config = zart::scheduler::WorkerConfig {
        max_concurrent_tasks: 1,
        ..quick_config()
    };
    let worker = db.start_worker(registry, config);
    db.scheduler
        .schedule_now("bomb", "explode", json!("boom"))
        .await
        .expect("scheduled");

    let record = db
        .wait_for_status("bomb", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    let error = record.error.unwrap_or_default();
    assert_eq!(error, "handler panicked: kaboom: bomb");
    assert_eq!(record.worker_id, None, "the lease is released");

    db.scheduler
        .schedule_now("after", "explode", json!("fine"))
        .await
        .expect("scheduled");
    db.wait_for_status("after", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    assert!(!worker.handle.is_finished(), "the worker keeps running");
    worker.stop().await;
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_that_outlives_its_timeout_fails_and_is_retried(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.register(
        "slow",
        task(|instance| async move {
            if instance.attempt == 1 {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Ok::<_, SchedulerTaskError>(OnComplete::with_result(json!(instance.attempt)))
        })
        .retry(quick_retry(2))
        .timeout(Duration::from_millis(200)),
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("slow-1", "slow", json!({}))
        .await
        .expect("scheduled");
    let record = db
        .wait_for_status("slow-1", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(record.result, Some(json!(2)));
    assert_eq!(
        record.error, None,
        "a completion clears the previous attempt's error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_the_database_refuses_fails_only_its_own_task() {
    // PostgreSQL only: the poisoned result holds U+0000, which jsonb refuses; SQLite stores any JSON the engine produces, so it has no result to refuse.
    let db = TestDb::postgres().await;
    let mut registry = TaskRegistry::new();
    registry.register(
        "echo",
        task(|instance| async move {
            // PostgreSQL's jsonb cannot hold U+0000: this result poisons any batch it is in.
            let result = match instance.data == json!("poison") {
                true => json!("nul \u{0000} inside"),
                false => json!("fine"),
            };
            Ok(OnComplete::with_result(result))
        }),
    );
    let config = zart::scheduler::WorkerConfig {
        max_concurrent_tasks: 32,
        max_tasks_per_poll: 32,
        ..quick_config()
    };
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let data = if i == 15 { json!("poison") } else { json!(i) };
            zart::scheduler::ScheduleAtParams::now(format!("t-{i}"), "echo", data)
        })
        .collect();
    db.scheduler.schedule_many(tasks).await.expect("scheduled");
    let worker = db.start_worker(registry, config);

    let poisoned = db
        .wait_for_status("t-15", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    for i in (0..30).filter(|i| *i != 15) {
        let record = db
            .wait_for_status(
                &format!("t-{i}"),
                TaskStatus::Completed,
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(record.result, Some(json!("fine")));
    }
    worker.stop().await;
    let error = poisoned.error.unwrap_or_default();
    assert!(
        error.starts_with("its outcome could not be stored"),
        "{error}"
    );
    assert_eq!(poisoned.result, None);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unschedulable_follow_ups_fail_the_task_instead_of_completing_it(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.register(
        "chain",
        task(|instance| async move {
            let next = match instance.task_id.as_str() {
                "nameless" => zart::scheduler::ScheduleAtParams::now("next-1", "", json!({})),
                _ => {
                    zart::scheduler::ScheduleAtParams::now("next-2", "other", json!("nul \u{0000}"))
                }
            };
            Ok(Box::new(OnComplete {
                result: Some(json!("done")),
                schedule_next: vec![next],
            })
                as Box<dyn zart::scheduler::CompletionHandler>)
        })
        .retry(quick_retry(3)),
    );
    let worker = db.start_worker(registry, quick_config());
    db.scheduler
        .schedule_now("nameless", "chain", json!({}))
        .await
        .expect("scheduled");
    // PostgreSQL's jsonb refuses the follow-up's U+0000; SQLite stores any JSON, so there
    // only the nameless follow-up is unschedulable.
    let database_refuses_nul = !db.is_sqlite();
    if database_refuses_nul {
        db.scheduler
            .schedule_now("refused", "chain", json!({}))
            .await
            .expect("scheduled");
    }
    let nameless = db
        .wait_for_status("nameless", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    if database_refuses_nul {
        let refused = db
            .wait_for_status("refused", TaskStatus::Failed, Duration::from_secs(10))
            .await;
        let error = refused.error.unwrap_or_default();
        assert!(error.contains("database refused"), "{error}");
    }
    worker.stop().await;

    let error = nameless.error.unwrap_or_default();
    assert!(
        error.contains("follow-up that cannot be scheduled")
            && error.contains("task name is empty"),
        "{error}"
    );
    assert_eq!(nameless.attempts, 1, "a handler bug is not retried");
    for id in ["next-1", "next-2"] {
        assert_eq!(db.scheduler.get_task(id).await.expect("read"), None);
    }
}

struct PanickingObserver;

impl zart::observe::TaskObserver for PanickingObserver {
    fn on_event(&self, _: &zart::observe::TaskEvent) {
        panic!("observer bug");
    }
}

struct PanickingCompletion;

impl zart::scheduler::CompletionHandler for PanickingCompletion {
    fn into_on_complete(self: Box<Self>) -> OnComplete {
        panic!("completion bug");
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_in_observers_and_completion_handlers_do_not_stop_the_worker(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.register(
        "odd",
        task(|instance| async move {
            match instance.data == json!("bad completion") {
                true => {
                    Ok(Box::new(PanickingCompletion)
                        as Box<dyn zart::scheduler::CompletionHandler>)
                }
                false => Ok(OnComplete::done()),
            }
        }),
    );
    let worker = db.start_observed_worker(
        registry,
        quick_config(),
        vec![std::sync::Arc::new(PanickingObserver)],
    );
    db.scheduler
        .schedule_now("bad", "odd", json!("bad completion"))
        .await
        .expect("scheduled");
    let bad = db
        .wait_for_status("bad", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    assert_eq!(
        bad.error.as_deref(),
        Some("handler panicked: completion bug")
    );
    db.scheduler
        .schedule_now("good", "odd", json!("fine"))
        .await
        .expect("scheduled");
    db.wait_for_status("good", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_edited_into_invalid_json_fails_alone_and_the_queue_goes_on() {
    // SQLite only: PostgreSQL's jsonb column cannot hold text that is not JSON.
    let db = TestDb::sqlite().await;
    let mut registry = TaskRegistry::new();
    registry.register(
        "echo",
        task(|i| async move { Ok(OnComplete::with_result(i.data)) }),
    );
    let worker = db.start_worker(registry, quick_config());
    db.execute(&format!(
        "INSERT INTO {} (task_id, task_name, data) VALUES ('edited', 'echo', 'not json {{')",
        db.tasks_table()
    ))
    .await;
    db.scheduler
        .schedule_now("fine", "echo", json!(7))
        .await
        .expect("scheduled");
    let edited = db
        .wait_for_status("edited", TaskStatus::Failed, Duration::from_secs(10))
        .await;
    let error = edited.error.unwrap_or_default();
    assert!(
        error.contains("edited") && error.contains("input is not JSON"),
        "names the task and what is wrong: {error}"
    );
    let fine = db
        .wait_for_status("fine", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    assert_eq!(fine.result, Some(json!(7)));
    worker.stop().await;
}
