use std::time::Duration;

use serde_json::json;
use std::sync::Arc;
use zart::postgres::{PostgresTaskScheduler as PostgresScheduler, TableNames};
use zart::scheduler::{OnComplete, TaskRegistry, TaskScheduler, TaskStatus};

use zart::sqlite::{SqliteOptions, SqliteTaskScheduler};
use zart::store::Store;
use zart_tests::{database_url, quick_config, task, Driver, TestDb};

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_prefixes_in_one_database_never_see_each_others_tasks(db: TestDb) {
    let other = db.sibling("other_").await;
    db.scheduler
        .schedule_now("same-id", "noop", json!("mine"))
        .await
        .expect("scheduled");
    other
        .schedule_now("same-id", "noop", json!("theirs"))
        .await
        .expect("same id, other table");

    let mut registry = TaskRegistry::new();
    registry.register(
        "noop",
        task(|i| async move { Ok(OnComplete::with_result(i.data)) }),
    );
    let worker = db.start_worker(registry, quick_config());
    db.wait_for_status("same-id", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await;

    assert_eq!(db.task("same-id").await.result, Some(json!("mine")));
    let theirs = other
        .get_task("same-id")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        theirs.status,
        TaskStatus::Pending,
        "a worker on one prefix never runs another's tasks"
    );

    assert_eq!(
        db.table_list().await,
        [
            "other_attempts",
            "other_declared_tasks",
            "other_events",
            "other_migrations",
            "other_queue_starts",
            "other_queues",
            "other_schedule_runs",
            "other_schedules",
            "other_steps",
            "other_tasks",
            "other_workers",
            "zart_attempts",
            "zart_declared_tasks",
            "zart_events",
            "zart_migrations",
            "zart_queue_starts",
            "zart_queues",
            "zart_schedule_runs",
            "zart_schedules",
            "zart_steps",
            "zart_tasks",
            "zart_workers"
        ]
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_safe_to_run_concurrently(db: TestDb) {
    let scheduler: Arc<dyn Store> = match &db.driver {
        Driver::Postgres(pg) => {
            let names = TableNames::with_prefix("race_")
                .and_then(|n| n.with_schema(&format!("{}_race", pg.schema)))
                .expect("names");
            let runs = (0..4).map(|_| {
                let scheduler = PostgresScheduler::with_table_names(pg.pool.clone(), names.clone());
                tokio::spawn(async move { scheduler.migrate().await })
            });
            for run in runs {
                run.await
                    .expect("joined")
                    .expect("concurrent migrate succeeds");
            }
            let scheduler = PostgresScheduler::with_table_names(pg.pool.clone(), names.clone());
            scheduler
                .migrate()
                .await
                .expect("migrating again is a no-op");
            let applied = db
                .rows(&format!(
                    "SELECT version FROM {} ORDER BY version",
                    names.migrations()
                ))
                .await;
            assert_eq!(
                applied,
                [
                    ["1"],
                    ["2"],
                    ["3"],
                    ["4"],
                    ["5"],
                    ["6"],
                    ["7"],
                    ["8"],
                    ["9"],
                    ["10"],
                    ["11"],
                    ["12"],
                    ["13"]
                ],
                "each migration recorded once"
            );
            Arc::new(scheduler)
        }
        Driver::Sqlite(lite) => {
            // Four connections of their own on one file, as four processes would be.
            let options = SqliteOptions::file(&lite.path)
                .prefix("race_")
                .expect("prefix");
            let runs = (0..4).map(|_| {
                let options = options.clone();
                tokio::spawn(async move { SqliteTaskScheduler::connect_with(options).await })
            });
            for run in runs {
                run.await
                    .expect("joined")
                    .expect("concurrent migrate succeeds");
            }
            let scheduler = SqliteTaskScheduler::connect_with(options)
                .await
                .expect("migrating again is a no-op");
            let applied = db
                .rows("SELECT version FROM race_migrations ORDER BY version")
                .await;
            assert_eq!(
                applied,
                [["1"], ["2"], ["3"], ["4"], ["5"], ["6"]],
                "each migration recorded once"
            );
            Arc::new(scheduler)
        }
    };
    scheduler
        .schedule_now("works", "noop", json!({}))
        .await
        .expect("tables usable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_rejected_from_code_and_environment() {
    let err = TableNames::with_prefix("x; drop table y").expect_err("hostile prefix");
    assert!(err.to_string().contains("x; drop table y"), "{err}");
    assert!(TableNames::default()
        .with_schema("public\"; drop schema public; --")
        .is_err());

    // This test runs in its own process under nextest; the variables cannot leak.
    std::env::set_var(zart_table_prefix(), "x; drop table y");
    assert!(TableNames::from_env_or_default().is_err());
    std::env::set_var(zart_table_prefix(), "envapp_");
    std::env::set_var("ZART_SCHEMA", "tenant_env");
    let names = TableNames::from_env_or_default().expect("valid env names");
    assert_eq!(names.tasks(), "\"tenant_env\".\"envapp_tasks\"");
    std::env::remove_var(zart_table_prefix());
    std::env::remove_var("ZART_SCHEMA");
    assert_eq!(TableNames::from_env_or_default(), Ok(TableNames::default()));
}

fn zart_table_prefix() -> &'static str {
    "ZART_TABLE_PREFIX"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_creates_the_default_tables() {
    let scheduler = PostgresScheduler::connect_with_pool(
        &database_url(),
        zart::postgres::PoolConfig {
            max_connections: 2,
            ..Default::default()
        },
    )
    .await
    .expect("connect migrates");
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass('zart_tasks')::text")
        .fetch_one(scheduler.pool())
        .await
        .expect("lookup");
    assert_eq!(exists.as_deref(), Some("zart_tasks"));
}
