//! The `_in` family under faults: an application killed inside its transaction, an
//! application holding a lock the worker's claim needs, a worker idle until the commit,
//! and the PostgreSQL futures a web handler must be able to send across threads.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::io::{AsyncBufReadExt, BufReader};
use zart::in_transaction::schedule_now_in;
use zart::postgres::PostgresTaskScheduler;
use zart::scheduler::{OnComplete, TaskRegistry, TaskScheduler, TaskStatus, WorkerConfig};
use zart::sqlite::rusqlite::{self, TransactionBehavior};
use zart::TaskError;
use zart_tests::{database_url, quick_config, sqlite_connection, task, Driver, TestDb};

/// The application's task (what `zart-test-producer` schedules, under the same name).
#[zart::task]
async fn receipt(order: String) -> Result<(), TaskError> {
    let _ = order;
    Ok(())
}

/// The `application_name` of `zart-test-producer`'s connection on the test's schema.
fn producer_name(db: &TestDb) -> String {
    format!("zart-test-producer {}", db.pg().schema)
}

/// The producer's backend: its state and whether its transaction has written (holds a
/// transaction id). None once the server has let it go.
async fn producer_backend(db: &TestDb) -> Option<(String, bool)> {
    sqlx::query_as(
        "SELECT state, backend_xid IS NOT NULL FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(producer_name(db))
    .fetch_optional(&db.pg().pool)
    .await
    .expect("reading pg_stat_activity")
}

/// Panics unless the producer's transaction is open with its writes in it.
async fn assert_producer_in_transaction(db: &TestDb) {
    match &db.driver {
        Driver::Postgres(_) => {
            let backend = producer_backend(db).await;
            assert_eq!(
                backend,
                Some(("idle in transaction".to_owned(), true)),
                "the producer waits inside a transaction that has written"
            );
        }
        Driver::Sqlite(lite) => {
            // Its write lock stands in the way of any other writer.
            let conn = sqlite_connection(&lite.path);
            conn.busy_timeout(Duration::ZERO).expect("no busy wait");
            let begun = conn.execute_batch("BEGIN IMMEDIATE");
            assert!(
                matches!(
                    begun,
                    Err(rusqlite::Error::SqliteFailure(ref e, _))
                        if e.code == rusqlite::ErrorCode::DatabaseBusy
                ),
                "the producer holds the write lock: {begun:?}"
            );
        }
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_killed_before_its_commit_leaves_neither_its_row_nor_its_task(db: TestDb) {
    const ID: &str = "order-1";
    let orders = db.own_table("orders");
    db.execute(&format!("CREATE TABLE {orders} (task_id text NOT NULL)"))
        .await;
    let [url, schema] = db.process_args();
    let mut producer = tokio::process::Command::new(env!("CARGO_BIN_EXE_zart-test-producer"))
        .args([url, schema, ID.to_owned()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the producer");
    let stdout = producer.stdout.take().expect("the producer's output");
    let line = tokio::time::timeout(
        Duration::from_secs(60),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("the producer scheduled within 60 s")
    .expect("reading the producer's output");
    assert_eq!(
        line.as_deref(),
        Some("scheduled order-1"),
        "the producer ended early: {:?}",
        producer.try_wait()
    );
    assert_producer_in_transaction(&db).await;

    // SIGKILL: no rollback, no closing of the connection by the process itself.
    producer.kill().await.expect("SIGKILL the producer");

    assert_eq!(
        db.number(&format!("SELECT count(*) FROM {orders}")).await,
        0,
        "the application's row died with its transaction"
    );
    assert!(
        db.scheduler.get_task(ID).await.expect("reading").is_none(),
        "the task died with the application's transaction"
    );
    // The id is free again. On PostgreSQL an insert of the same id would wait on the dead
    // transaction until the server notices the closed connection and rolls it back.
    tokio::time::timeout(
        Duration::from_secs(60),
        receipt::schedule_now(&db.zart(), ID, "from the test".to_owned()),
    )
    .await
    .expect("the id is free within 60 s of the kill")
    .expect("scheduling the id the killed transaction had taken");
    assert_eq!(db.task(ID).await.data, json!("from the test"));
    if let Driver::Postgres(_) = db.driver {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(backend) = producer_backend(&db).await {
            assert!(
                Instant::now() < deadline,
                "the killed producer's backend is still there: {backend:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A handler that records the id of each run in `ran`.
fn recording(ran: &Arc<Mutex<Vec<String>>>, names: &[&str]) -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    for name in names {
        let ran = ran.clone();
        registry.register(
            *name,
            task(move |instance| {
                let ran = ran.clone();
                async move {
                    ran.lock().expect("runs").push(instance.task_id);
                    Ok(OnComplete::done())
                }
            }),
        );
    }
    registry
}

/// Awaits `step` of the application's, panicking if it has no answer within 20 s: a
/// deadlock fails the test instead of hanging it.
async fn within<T>(what: &str, step: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), step)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 20 s"))
}

/// How long the application holds the lock every claim needs.
const HOLD: Duration = Duration::from_millis(1500);

/// Whether a statement of the worker's waits for a lock on the test's task table (no one
/// else uses it).
async fn the_worker_waits_on_the_task_table(db: &TestDb) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM pg_locks
                        WHERE relation = to_regclass($1) AND NOT granted)",
    )
    .bind(db.tasks_table())
    .fetch_one(&db.pg().pool)
    .await
    .expect("reading pg_locks")
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_holding_the_lock_claims_need_does_not_wedge_the_worker(db: TestDb) {
    let ran = Arc::new(Mutex::new(Vec::new()));
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(50),
        ..quick_config()
    };
    let worker = db.start_worker(recording(&ran, &["noop"]), config);
    tokio::time::sleep(Duration::from_millis(300)).await; // polling, idle

    match &db.driver {
        Driver::Postgres(pg) => {
            let mut tx = pg.pool.begin().await.expect("begin");
            schedule_now_in(pg.store.join(&mut tx), "before-lock", "noop", json!({}))
                .await
                .expect("scheduled in the transaction");
            // A claim's UPDATE needs ROW EXCLUSIVE, which this excludes: claims queue
            // behind the application until it commits.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE",
                db.tasks_table()
            )))
            .execute(&mut *tx)
            .await
            .expect("locking the task table");
            let locked = Instant::now();
            let deadline = locked + Duration::from_secs(20);
            while !the_worker_waits_on_the_task_table(&db).await {
                assert!(
                    Instant::now() < deadline,
                    "the worker never came to wait on the lock"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // While the worker waits, the application goes on scheduling.
            within(
                "scheduling while the worker waits",
                schedule_now_in(pg.store.join(&mut tx), "under-lock", "noop", json!({})),
            )
            .await
            .expect("scheduled while the worker waits");
            tokio::time::sleep(HOLD.saturating_sub(locked.elapsed())).await;
            within("committing", tx.commit()).await.expect("commit");
        }
        Driver::Sqlite(lite) => {
            let mut conn = sqlite_connection(&lite.path);
            // The write lock every claim (a BEGIN IMMEDIATE of the store's) needs.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .expect("begin immediate");
            schedule_now_in(&tx, "before-lock", "noop", json!({}))
                .await
                .expect("scheduled in the transaction");
            tokio::time::sleep(HOLD).await;
            schedule_now_in(&tx, "under-lock", "noop", json!({}))
                .await
                .expect("scheduled while claims wait");
            tx.commit().expect("commit");
        }
    }

    for id in ["before-lock", "under-lock"] {
        db.wait_for_status(id, TaskStatus::Completed, Duration::from_secs(20))
            .await;
    }
    // And the worker still works.
    db.scheduler
        .schedule_now("after", "noop", json!({}))
        .await
        .expect("scheduled");
    db.wait_for_status("after", TaskStatus::Completed, Duration::from_secs(20))
        .await;
    let mut runs = ran.lock().expect("runs").clone();
    runs.sort();
    assert_eq!(runs, ["after", "before-lock", "under-lock"], "each once");
    within("stopping the worker", worker.stop()).await;
}

/// A poll interval so long that only a wake-up can explain a prompt start.
const NO_POLLING: Duration = Duration::from_secs(60);

/// A bound a loaded machine keeps, far under [`NO_POLLING`]: a worker that missed the
/// commit's wake-up would not look before its next poll, a minute after the last.
const PROMPT: Duration = Duration::from_secs(10);

/// The backends listening on `channel` (whose `application_name` is `name`, if given).
async fn listeners(pool: &sqlx::PgPool, channel: &str, name: Option<&str>) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
         WHERE query ILIKE 'LISTEN%' AND query LIKE '%' || $1 || '%'
           AND ($2::text IS NULL OR application_name = $2)",
    )
    .bind(channel)
    .bind(name)
    .fetch_all(pool)
    .await
    .expect("reading pg_stat_activity")
}

/// Waits until something listens on `channel` on `pool`'s server.
async fn until_listening(pool: &sqlx::PgPool, channel: &str, name: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while listeners(pool, channel, name).await.is_empty() {
        assert!(Instant::now() < deadline, "the worker never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for `id` to complete; panics unless it did within [`PROMPT`] of `committed`.
async fn assert_prompt(db: &TestDb, id: &str, committed: Instant) {
    db.wait_for_status(id, TaskStatus::Completed, Duration::from_secs(30))
        .await;
    let took = committed.elapsed();
    assert!(
        took < PROMPT,
        "an idle worker ran {id} {took:?} after the commit: not woken by it"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_wakes_when_the_application_commits(db: TestDb) {
    let ran = Arc::new(Mutex::new(Vec::new()));
    let config = WorkerConfig {
        poll_interval: NO_POLLING,
        ..quick_config()
    };
    let worker = db.start_worker(recording(&ran, &["receipt"]), config);
    if let Driver::Postgres(pg) = &db.driver {
        until_listening(&pg.pool, pg.store.notify_channel(), None).await;
    }
    // Its first claim, at start, found nothing: it sleeps until woken or a minute passes.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let committed = match &db.driver {
        Driver::Postgres(pg) => {
            let mut tx = pg.pool.begin().await.expect("begin");
            receipt::schedule_in(pg.store.join(&mut tx), "woken", "1".to_owned())
                .await
                .expect("scheduled in the transaction");
            // Nothing to find yet: a wake-up sent before the commit would be wasted.
            tokio::time::sleep(Duration::from_millis(500)).await;
            tx.commit().await.expect("commit");
            Instant::now()
        }
        Driver::Sqlite(lite) => {
            let mut conn = sqlite_connection(&lite.path);
            let tx = conn.transaction().expect("begin");
            receipt::schedule_in(&tx, "woken", "1".to_owned())
                .await
                .expect("scheduled in the transaction");
            tokio::time::sleep(Duration::from_millis(500)).await;
            tx.commit().expect("commit");
            Instant::now()
        }
    };
    assert_prompt(&db, "woken", committed).await;
    worker.stop().await;
    assert_eq!(*ran.lock().expect("runs"), ["woken"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_wakes_when_the_application_commits_through_the_default_names() {
    // PostgreSQL only: the default names found through the connection's search_path (the
    // `&mut *tx` form); SQLite's default prefix is what the test above uses.
    let db = TestDb::postgres().await;
    let schema = db.pg().schema.clone();
    let name = format!("zart-in-tx {schema}");
    let options: PgConnectOptions = database_url().parse().expect("the test URL");
    let options = options
        .application_name(&name)
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(6)
        .connect_with(options)
        .await
        .expect("connecting");
    let store = Arc::new(PostgresTaskScheduler::new(pool.clone()));
    let ran = Arc::new(Mutex::new(Vec::new()));
    let worker = Arc::new(zart::scheduler::Worker::new(
        store.clone(),
        Arc::new(recording(&ran, &["receipt"])),
        WorkerConfig {
            poll_interval: NO_POLLING,
            ..quick_config()
        },
        vec![],
    ));
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });
    until_listening(&pool, store.notify_channel(), Some(&name)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut tx = pool.begin().await.expect("begin");
    receipt::schedule_in(&mut *tx, "woken", "1".to_owned())
        .await
        .expect("scheduled in the transaction, under the default names");
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.commit().await.expect("commit");
    let committed = Instant::now();
    assert_prompt(&db, "woken", committed).await;

    worker.shutdown().await;
    running
        .await
        .expect("the worker did not panic")
        .expect("the worker ran");
    assert_eq!(*ran.lock().expect("runs"), ["woken"]);
    pool.close().await;
}

/// Compiles only for a `Send` value.
fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_in_futures_are_send() {
    // PostgreSQL only: a web handler (axum's) must be a Send future, and SQLite's
    // connections are not Sync, so its `_in` futures cannot be.
    let db = TestDb::postgres().await;
    let pg = db.pg();
    let mut tx = pg.pool.begin().await.expect("begin");
    // Under the default names (not this schema's, so only built, never run).
    drop(assert_send(receipt::schedule_in(
        &mut *tx,
        "default",
        "1".to_owned(),
    )));
    drop(assert_send(receipt::schedule_in(
        &mut tx,
        "default",
        "1".to_owned(),
    )));
    assert_send(receipt::schedule_in(
        pg.store.join(&mut tx),
        "typed",
        "1".to_owned(),
    ))
    .await
    .expect("typed");
    assert_send(schedule_now_in(
        pg.store.join(&mut tx),
        "untyped",
        "receipt",
        json!("1"),
    ))
    .await
    .expect("untyped");
    assert_send(zart::in_transaction::send_event_in(
        pg.store.join(&mut tx),
        "typed",
        "paid",
        &json!(1),
    ))
    .await
    .expect("event");
    assert_send(zart::in_transaction::cancel_in(
        pg.store.join(&mut tx),
        "untyped",
    ))
    .await
    .expect("cancel");
    tx.commit().await.expect("commit");

    // As a handler runs: spawned onto a multi-threaded runtime.
    let (pool, store) = (pg.pool.clone(), pg.store.clone());
    tokio::spawn(async move {
        let mut tx = pool.begin().await?;
        receipt::schedule_in(store.join(&mut tx), "spawned", "1".to_owned()).await?;
        tx.commit().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })
    .await
    .expect("the handler did not panic")
    .expect("the handler scheduled");
    for id in ["typed", "spawned"] {
        assert_eq!(db.task(id).await.status, TaskStatus::Pending);
    }
    assert_eq!(db.task("untyped").await.status, TaskStatus::Cancelled);
}
