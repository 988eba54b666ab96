//! What a new user hits first, said at once and by name: an unreachable server, tables never
//! created, a URL no driver takes; and the reads that answer "how many" and "who ran it".

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use zart::postgres::{sqlx, PoolConfig, PostgresTaskScheduler, TableNames};
use zart::scheduler::{TaskFilter, TaskScheduler, TaskStatus};
use zart::sqlite::{SqliteOptions, SqliteTaskScheduler};
use zart::store::{ClaimScope, ErrorKind, MigrationState, Outcome, OutcomeKind, QueueStore, Store};
use zart::{Error, Zart};
use zart_tests::{database_url, sqlite_test_file, Driver, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_reported_at_once_with_its_address() {
    // Port 1 on the loopback: nothing listens there, so the connection is refused.
    let url = "postgres://postgres@127.0.0.1:1/test";
    let started = Instant::now();
    let error = PostgresTaskScheduler::connect(url)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "reported after {:?}, not at once",
        started.elapsed()
    );
    assert!(error.contains("127.0.0.1:1"), "{error}");
    assert!(!error.contains("PoolTimedOut"), "{error}");

    let through_the_client = Zart::connect(url).await.err().map(|e| e.to_string());
    assert!(
        through_the_client
            .as_deref()
            .is_some_and(|e| e.contains("cannot connect to PostgreSQL at 127.0.0.1:1")),
        "{through_the_client:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_never_created_say_to_migrate_naming_where_they_were_looked_for() {
    let pool = sqlx::PgPool::connect(&database_url())
        .await
        .expect("PostgreSQL is reachable");
    let schema = format!("zt_never_{}", std::process::id());
    let names = TableNames::with_prefix("app_")
        .and_then(|n| n.with_schema(&schema))
        .expect("valid names");
    let store = PostgresTaskScheduler::with_table_names(pool, names);
    let error = store
        .schedule_now("t-1", "noop", json!(null))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("migrate()"), "{error}");
    assert!(error.contains(&schema), "names the schema: {error}");
    assert!(error.contains("\"app_\""), "names the prefix: {error}");
    assert!(
        error.contains("does not exist"),
        "PostgreSQL's words: {error}"
    );
    // sqlx appends the line of PostgreSQL's own source that raised the error.
    assert!(!error.contains(" at line "), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_does_not_exist_is_said_by_name_with_how_to_create_it() {
    let url = database_url();
    let server = url
        .rsplit_once('/')
        .map_or(url.as_str(), |(server, _)| server);
    let error = PostgresTaskScheduler::connect(&format!("{server}/zart_no_such_db"))
        .await
        .expect_err("no such database");
    let said = error.to_string();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{said}");
    assert!(
        said.contains("database \"zart_no_such_db\" does not exist"),
        "{said}"
    );
    assert!(said.contains("CREATE DATABASE"), "says how: {said}");
    assert!(!said.contains(" at line "), "{said}");
}

/// The listeners (new work, ended tasks) have a connection of their own: a pool of one
/// still runs every statement while they listen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_one_connection_serves_statements_while_it_listens() {
    // PostgreSQL only: the pool is PostgreSQL's.
    let db = TestDb::postgres().await;
    let config = PoolConfig {
        max_connections: 1,
        min_connections: 1,
        acquire_timeout: Duration::from_secs(5),
    };
    let names = db.pg().store.table_names().clone();
    let store = PostgresTaskScheduler::connect_with(&database_url(), config, names)
        .await
        .expect("connects");
    let store = Arc::new(store);
    let (sender, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let listening = tokio::spawn({
        let store = store.clone();
        async move {
            let wake = move |wake| {
                let _ = sender.send(wake);
            };
            store.listen(&wake).await
        }
    });
    let _ended = store.ended().await.expect("ended() succeeds");
    // The first wake says the listener connected.
    tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .expect("the listener connects")
        .expect("a wake");
    let started = Instant::now();
    for i in 0..3 {
        store
            .schedule_now(&format!("one-{i}"), "noop", json!(i))
            .await
            .expect("scheduled on the pool's one connection");
    }
    let pending = TaskFilter::default().status(TaskStatus::Pending);
    assert_eq!(store.count_tasks(&pending).await.expect("counted"), 3);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "statements waited {:?} for the pool's connection",
        started.elapsed()
    );
    tokio::time::timeout(Duration::from_secs(5), heard.recv())
        .await
        .expect("the listener hears the inserts")
        .expect("a wake");
    listening.abort();
    store.pool().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_no_connections_is_refused_at_connect_saying_why() {
    let config = PoolConfig {
        max_connections: 0,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(5),
    };
    let started = Instant::now();
    let error = PostgresTaskScheduler::connect_with(&database_url(), config, TableNames::default())
        .await
        .expect_err("refused");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused at once"
    );
    assert_eq!(error.kind(), ErrorKind::Rejected, "{error}");
    assert!(
        error
            .to_string()
            .contains("max_connections must be at least 1"),
        "{error}"
    );
}

/// What a tool reads before it touches a store it must not create: whether the tables
/// are there, and as new as the code.
#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_state_says_missing_behind_or_current_and_creates_nothing(db: TestDb) {
    let before = db.table_list().await;
    let (state, never) = match &db.driver {
        Driver::Postgres(pg) => {
            let never = TableNames::with_prefix("never_")
                .and_then(|n| n.with_schema(&pg.schema))
                .expect("valid names");
            let never = PostgresTaskScheduler::with_table_names(pg.pool.clone(), never);
            (
                pg.store.migration_state().await,
                never.migration_state().await,
            )
        }
        Driver::Sqlite(lite) => {
            let options = SqliteOptions::file(&lite.path)
                .prefix("never_")
                .expect("a valid prefix");
            let never = SqliteTaskScheduler::open(options).expect("the file opens");
            (
                lite.store.migration_state().await,
                never.migration_state().await,
            )
        }
    };
    assert_eq!(state.expect("read"), MigrationState::Current);
    assert_eq!(never.expect("read"), MigrationState::Missing);
    assert_eq!(db.table_list().await, before, "nothing was created");

    let migrations = db.own_table("zart_migrations");
    db.execute(&format!(
        "DELETE FROM {migrations} WHERE version = (SELECT max(version) FROM {migrations})"
    ))
    .await;
    let behind = match &db.driver {
        Driver::Postgres(pg) => pg.store.migration_state().await,
        Driver::Sqlite(lite) => lite.store.migration_state().await,
    };
    assert!(
        matches!(behind, Ok(MigrationState::Behind { applied, embedded }) if applied + 1 == embedded),
        "{behind:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_the_sqlx_zart_reexports_builds_a_store() {
    // Built only through `zart::postgres::sqlx`: the version the driver takes.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&database_url())
        .await
        .expect("PostgreSQL is reachable");
    // PostgreSQL only: the pool is PostgreSQL's.
    let db = TestDb::postgres().await;
    let store = PostgresTaskScheduler::with_table_names(pool, db.pg().store.table_names().clone());
    store
        .migrate()
        .await
        .expect("already migrated: nothing to do");
    store
        .schedule_now("from-own-pool", "noop", json!(1))
        .await
        .expect("scheduled");
    assert_eq!(db.task("from-own-pool").await.data, json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_no_driver_takes_is_refused_without_its_password() {
    let error = Zart::connect("mysql://app:s3cret@db.internal/app").await;
    match error {
        Err(Error::UnsupportedUrl { url, reason }) => {
            assert_eq!(url, "mysql://app:***@db.internal/app");
            assert!(reason.contains("postgres://"), "{reason}");
        }
        other => panic!("expected UnsupportedUrl, got {other:?}"),
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_counted_by_name_and_status_without_zart_s_own(db: TestDb) {
    for i in 0..3 {
        db.scheduler
            .schedule_now(&format!("a-{i}"), "alpha", json!(i))
            .await
            .expect("scheduled");
    }
    db.scheduler
        .schedule_now("b-0", "beta", json!(0))
        .await
        .expect("scheduled");
    db.schedules()
        .register(&zart::recurring::RecurringTask::new(
            "tick-owner",
            "alpha",
            zart::schedule::Schedule::every(Duration::from_secs(3600)).expect("interval"),
        ))
        .await
        .expect("a schedule and its tick");
    db.scheduler.cancel("a-2").await.expect("cancel");

    let count = |filter: TaskFilter| {
        let scheduler = db.scheduler.clone();
        async move { scheduler.count_tasks(&filter).await.expect("count") }
    };
    assert_eq!(
        count(TaskFilter::default()).await,
        4,
        "the tick is not counted"
    );
    assert_eq!(count(TaskFilter::default().name("alpha")).await, 3);
    assert_eq!(
        count(TaskFilter::default().status(TaskStatus::Pending)).await,
        3
    );
    assert_eq!(
        count(
            TaskFilter::default()
                .name("alpha")
                .status(TaskStatus::Cancelled)
        )
        .await,
        1
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_task_shows_its_lease_and_an_ended_one_its_last_worker(db: TestDb) {
    db.scheduler
        .schedule_now("job", "noop", json!(null))
        .await
        .expect("scheduled");
    let before = chrono::Utc::now();
    let claimed = db
        .scheduler
        .claim(
            "worker-7",
            1,
            Duration::from_secs(30),
            &ClaimScope::default(),
        )
        .await
        .expect("claimed");
    let running = db.task("job").await;
    assert_eq!(running.worker_id.as_deref(), Some("worker-7"));
    assert_eq!(running.last_worker_id.as_deref(), Some("worker-7"));
    let expires = running
        .lease_expires_at
        .expect("a running task has a lease");
    assert!(
        expires > before + chrono::Duration::seconds(25)
            && expires < chrono::Utc::now() + chrono::Duration::seconds(31),
        "the lease runs 30 s from the claim: {expires}"
    );

    let outcome = Outcome {
        lease: claimed[0].lease.clone(),
        kind: OutcomeKind::Completed { result: None },
    };
    db.scheduler.finish(&[outcome]).await.expect("finished");
    let ended = db.task("job").await;
    assert_eq!(ended.worker_id, None);
    assert_eq!(ended.lease_expires_at, None);
    assert_eq!(ended.last_worker_id.as_deref(), Some("worker-7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_never_migrated_says_to_migrate_naming_the_file_and_prefix() {
    // SQLite only: its counterpart above names PostgreSQL's schema.
    let path = sqlite_test_file();
    let options = SqliteOptions::file(&path)
        .prefix("app_")
        .expect("a valid prefix");
    let store = SqliteTaskScheduler::open(options).expect("the file opens");
    let error = store
        .schedule_now("t-1", "noop", json!(null))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("migrate()"), "{error}");
    assert!(
        error.contains(&path.display().to_string()),
        "names the file: {error}"
    );
    assert!(error.contains("\"app_\""), "names the prefix: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_sqlite_url_or_a_missing_folder_is_refused_saying_what_is_wrong() {
    // SQLite only: the URL's parameters and the file are SQLite's.
    let error = Zart::connect("sqlite://app.db?journal=off")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("\"journal\"") && error.contains("synchronous"),
        "names the unknown parameter and the known ones: {error}"
    );
    let error = Zart::connect("sqlite://app.db?synchronous=sometimes")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("sometimes"), "{error}");
    let missing = std::env::temp_dir()
        .join("zart-no-such-folder")
        .join("app.db");
    let error = Zart::connect(&format!("sqlite://{}", missing.display()))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains(&missing.display().to_string()),
        "names the file it cannot open: {error}"
    );
    let folder = missing.parent().map(|f| f.display().to_string());
    assert!(
        error.contains(&format!(
            "the folder {} does not exist",
            folder.unwrap_or_default()
        )),
        "names the folder that is not there: {error}"
    );
    // Trying again cannot create the folder: no transient failure.
    let error = Zart::connect(&format!("sqlite://{}", missing.display())).await;
    assert!(
        matches!(&error, Err(Error::Store(e)) if e.kind() == ErrorKind::Rejected),
        "{error:?}"
    );
}

/// A worker over tables never created, or created by older code, refuses to start, saying
/// to migrate: started anyway, it would only log that the tables are missing, forever.
#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_refuses_to_start_over_tables_missing_or_older_than_the_code(db: TestDb) {
    let (unmigrated, place): (Arc<dyn Store>, String) = match &db.driver {
        zart_tests::Driver::Postgres(pg) => {
            let names = TableNames::with_prefix("never_")
                .and_then(|n| n.with_schema(&pg.schema))
                .expect("valid names");
            let store = PostgresTaskScheduler::with_table_names(pg.pool.clone(), names);
            (Arc::new(store), pg.schema.clone())
        }
        zart_tests::Driver::Sqlite(lite) => {
            let options = SqliteOptions::file(&lite.path)
                .prefix("never_")
                .expect("a valid prefix");
            let store = SqliteTaskScheduler::open(options).expect("the file opens");
            (Arc::new(store), lite.path.display().to_string())
        }
    };
    let started = Instant::now();
    let refused = Zart::from_store(unmigrated.clone())
        .worker()
        .start()
        .await
        .err()
        .map(|e| e.to_string());
    assert!(started.elapsed() < Duration::from_secs(5), "at once");
    let refused = refused.unwrap_or_default();
    assert!(
        refused.contains("tables are missing") && refused.contains("run `migrate()`"),
        "{refused}"
    );
    assert!(refused.contains(&place), "names where it looked: {refused}");
    let testing = zart::testing::TestZart::on_store(
        unmigrated,
        zart::scheduler::TaskRegistry::new(),
        zart::scheduler::WorkerConfig::default(),
    )
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(testing.contains("run `migrate()`"), "{testing}");

    // Tables one migration behind the code.
    db.execute(&format!(
        "DELETE FROM {} WHERE version = (SELECT max(version) FROM {})",
        db.zart_table("migrations"),
        db.zart_table("migrations")
    ))
    .await;
    let behind = db
        .zart()
        .worker()
        .start()
        .await
        .err()
        .map(|e| e.to_string());
    let behind = behind.unwrap_or_default();
    assert!(
        behind.contains("older than this code") && behind.contains("run `migrate()`"),
        "{behind}"
    );
    let worker = zart::scheduler::Worker::new(
        db.scheduler.clone(),
        std::sync::Arc::new(zart::scheduler::TaskRegistry::new()),
        zart::scheduler::WorkerConfig::default(),
        vec![],
    );
    let run = tokio::time::timeout(Duration::from_secs(5), worker.run()).await;
    assert!(
        matches!(&run, Ok(Err(e)) if e.to_string().contains("older than this code")),
        "run() returns the same error at once: {run:?}"
    );
}

/// Migrating fresh tables says nothing but what it applied: PostgreSQL's notices about
/// the triggers it replaces ("does not exist, skipping") reached the log at each start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_logs_no_notices_of_the_server() {
    let logs = zart_tests::logs::warnings();
    let db = TestDb::postgres().await;
    let notices = logs.info_containing("does not exist");
    assert!(notices.is_empty(), "{notices:?}");
    assert!(
        !logs.info_containing("applied migration").is_empty(),
        "info lines are captured"
    );
    drop(db);
}
