use serde_json::json;
use zart::scheduler::{IfExists, ScheduleAtParams, TaskScheduler, TaskStatus};
use zart::Error;
use zart_tests::TestDb;

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_an_existing_id_is_a_typed_error(db: TestDb) {
    db.scheduler
        .schedule_now("order-42", "charge", json!(1))
        .await
        .expect("first");
    let again = db
        .scheduler
        .schedule_now("order-42", "charge", json!(2))
        .await;
    assert!(
        matches!(&again, Err(Error::AlreadyExists(ids)) if ids == &["order-42".to_owned()]),
        "{again:?}"
    );
    assert_eq!(
        db.task("order-42").await.data,
        json!(1),
        "the first task is untouched"
    );

    let inserted = db
        .scheduler
        .schedule_at_if_absent(ScheduleAtParams::now("order-42", "charge", json!(3)))
        .await
        .expect("if absent");
    assert!(!inserted);
    let inserted = db
        .scheduler
        .schedule_at_if_absent(ScheduleAtParams::now("order-43", "charge", json!(3)))
        .await
        .expect("if absent");
    assert!(inserted);
    assert_eq!(db.task("order-42").await.data, json!(1));
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_all_or_nothing_and_names_the_existing_ids(db: TestDb) {
    db.scheduler
        .schedule_now("b", "noop", json!(null))
        .await
        .expect("scheduled");
    let batch = ["a", "b", "c"]
        .map(|id| ScheduleAtParams::now(id, "noop", json!(null)))
        .to_vec();
    let result = db.scheduler.schedule_many(batch.clone()).await;
    assert!(
        matches!(&result, Err(Error::AlreadyExists(ids)) if ids == &["b".to_owned()]),
        "{result:?}"
    );
    assert_eq!(
        db.scheduler.get_task("a").await.expect("read"),
        None,
        "nothing of the batch was kept"
    );

    let duplicated = ["x", "y", "x"]
        .map(|id| ScheduleAtParams::now(id, "noop", json!(null)))
        .to_vec();
    let result = db.scheduler.schedule_many(duplicated.clone()).await;
    // Said as what it is: no "x" exists, the batch names it twice.
    assert!(
        matches!(&result, Err(Error::InvalidTask { task_id, reason }) if task_id == "x" && reason.contains("names this id twice")),
        "{result:?}"
    );
    assert!(
        !result
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("already exist"),
        "not called existing"
    );
    assert_eq!(db.scheduler.get_task("x").await.expect("read"), None);
    assert_eq!(db.scheduler.get_task("y").await.expect("read"), None);
    // Skipping existing ids skips the repeat too.
    let inserted = db
        .scheduler
        .schedule_many_with(duplicated, IfExists::Skip)
        .await
        .expect("skip");
    assert_eq!(inserted.len(), 2, "{inserted:?}");

    let inserted = db
        .scheduler
        .schedule_many_with(batch, IfExists::Skip)
        .await
        .expect("skip");
    assert_eq!(inserted.len(), 2);
    assert!(inserted.contains(&"a".to_owned()) && inserted.contains(&"c".to_owned()));
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tasks_are_rejected_before_the_database(db: TestDb) {
    let empty_id = db.scheduler.schedule_now("", "noop", json!(null)).await;
    assert!(
        matches!(empty_id, Err(Error::InvalidTask { .. })),
        "{empty_id:?}"
    );
    let empty_name = db.scheduler.schedule_now("id", "", json!(null)).await;
    assert!(
        matches!(empty_name, Err(Error::InvalidTask { .. })),
        "{empty_name:?}"
    );
    let mut recurring = ScheduleAtParams::now("r", "noop", json!(null));
    recurring.recurrence = Some(zart::scheduler::Recurrence::FixedDelay { duration_ms: 1000 });
    let result = db.scheduler.schedule_at(recurring).await;
    assert!(
        matches!(&result, Err(Error::InvalidTask { reason, .. }) if reason.contains("recurrence")),
        "{result:?}"
    );
    // An id PostgreSQL's index could not hold is refused by name and length, before the
    // database sees it; so is an oversized name. Nothing is stored.
    let huge_id = "x".repeat(10_000);
    let result = db
        .scheduler
        .schedule_now(&huge_id, "noop", json!(null))
        .await;
    assert!(
        matches!(&result, Err(Error::InvalidTask { reason, .. })
            if reason.contains("task id is 10000 bytes long") && reason.contains(&zart::scheduler::MAX_ID_LEN.to_string())),
        "{result:?}"
    );
    let huge_name = "n".repeat(zart::scheduler::MAX_NAME_LEN + 1);
    let result = db
        .scheduler
        .schedule_now("fine-id", &huge_name, json!(null))
        .await;
    assert!(
        matches!(&result, Err(Error::InvalidTask { reason, .. }) if reason.contains("task name is")),
        "{result:?}"
    );
    let longest = "y".repeat(zart::scheduler::MAX_ID_LEN);
    db.scheduler
        .schedule_now(&longest, "noop", json!(null))
        .await
        .expect("an id of the documented maximum is stored");
    assert_eq!(db.task(&longest).await.task_id, longest);
    assert!(db
        .scheduler
        .get_task("fine-id")
        .await
        .expect("read")
        .is_none());
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_tasks_can_be_cancelled_and_then_never_run(db: TestDb) {
    db.scheduler
        .schedule_now("c", "noop", json!(null))
        .await
        .expect("scheduled");
    assert!(db.scheduler.cancel("c").await.expect("cancel"));
    assert!(!db.scheduler.cancel("c").await.expect("cancel twice"));
    assert!(!db
        .scheduler
        .cancel("missing")
        .await
        .expect("cancel unknown"));
    assert_eq!(
        db.scheduler.status("c").await.expect("status"),
        Some(TaskStatus::Cancelled)
    );
    assert_eq!(db.scheduler.status("missing").await.expect("status"), None);
    use zart::store::ClaimScope;
    let claimed = db
        .scheduler
        .claim(
            "w",
            10,
            std::time::Duration::from_secs(30),
            &ClaimScope::default(),
        )
        .await
        .expect("claim");
    assert!(claimed.is_empty());
}
