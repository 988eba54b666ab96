//! Faults the worker rides out without stalling: claims that fail, and connections the
//! server refuses. (That the heartbeat and the outcome batch cannot deadlock is the
//! conformance suite's, `leases::heartbeats_and_outcome_batches_never_deadlock`.)

use std::time::Duration;

use serde_json::json;
use zart::postgres::{PoolConfig, PostgresTaskScheduler, TableNames};
use zart::scheduler::{
    NewTask, OnComplete, ScheduleAtParams, TaskFilter, TaskRegistry, TaskScheduler, TaskStatus,
    WorkerConfig,
};
use zart::store::{InspectStore, QueueStore};
use zart_tests::TestDb;

/// `ALTER TABLE` statements that move the task table out of the store's sight and back,
/// so that every claim fails meanwhile.
fn hide_and_restore_tasks(db: &TestDb) -> (String, String) {
    let table = db.tasks_table();
    let hidden = match db.is_sqlite() {
        true => "\"zart_tasks_hidden\"".to_owned(),
        false => format!("\"{}\".\"zart_tasks_hidden\"", db.pg().schema),
    };
    (
        format!("ALTER TABLE {table} RENAME TO \"zart_tasks_hidden\""),
        format!("ALTER TABLE {hidden} RENAME TO \"zart_tasks\""),
    )
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_failed_claims_a_notification_brings_the_worker_back_at_once(db: TestDb) {
    let mut registry = TaskRegistry::new();
    registry.register(
        "noop",
        zart_tests::task(|_| async { Ok(OnComplete::done()) }),
    );
    // A poll interval this long is what a failed claim used to sit out (capped at 5 s),
    // deaf to notifications.
    let config = WorkerConfig {
        poll_interval: Duration::from_secs(30),
        ..zart_tests::quick_config()
    };
    let (hide, restore) = hide_and_restore_tasks(&db);
    db.execute(&hide).await;
    let worker = db.start_worker(registry, config);
    // Long enough for the first claims to fail and the pauses between them to grow.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    db.execute(&restore).await;

    let scheduled = tokio::time::Instant::now();
    db.scheduler
        .schedule_now("after-outage", "noop", json!({}))
        .await
        .expect("scheduled");
    db.wait_for_status(
        "after-outage",
        TaskStatus::Completed,
        Duration::from_secs(10),
    )
    .await;
    let took = scheduled.elapsed();
    worker.stop().await;
    assert!(
        took < Duration::from_millis(1200),
        "the task waited {took:?} for a worker whose claims had failed"
    );
}

/// A login role of the test's own that may hold at most `limit` connections (a server
/// that refuses more is what a full server is to a pool), with its own schema.
struct LimitedRole {
    name: String,
    admin: sqlx::PgPool,
}

impl LimitedRole {
    async fn create(limit: u32) -> LimitedRole {
        let admin = sqlx::PgPool::connect(&zart_tests::database_url())
            .await
            .expect("PostgreSQL is reachable");
        let name = format!("zt_role_{}", uuid::Uuid::new_v4().simple());
        let database = database(&admin).await;
        serialized(
            &admin,
            [
                format!("CREATE ROLE {name} LOGIN CONNECTION LIMIT {limit}"),
                format!("GRANT CREATE ON DATABASE \"{database}\" TO {name}"),
            ],
        )
        .await
        .expect("creating the test role");
        LimitedRole { name, admin }
    }

    fn url(&self) -> String {
        let options: sqlx::postgres::PgConnectOptions = zart_tests::database_url()
            .parse()
            .expect("DATABASE_URL parses");
        format!(
            "postgres://{}@{}:{}/{}",
            self.name,
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("postgres")
        )
    }

    /// A store connecting as this role, its tables in a schema named as the role.
    async fn store(&self, config: PoolConfig) -> PostgresTaskScheduler {
        let names = TableNames::default()
            .with_schema(&self.name)
            .expect("a valid schema name");
        PostgresTaskScheduler::connect_with(&self.url(), config, names)
            .await
            .expect("the role connects and migrates")
    }

    /// A connection as this role, outside any pool (tried for a few seconds: a connection
    /// just closed counts against the role's limit until its server process has ended).
    async fn connection(&self) -> sqlx::PgConnection {
        use sqlx::Connection;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            match sqlx::PgConnection::connect(&self.url()).await {
                Ok(connection) => return connection,
                Err(error) if tokio::time::Instant::now() > deadline => {
                    panic!("the role has no free connection: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    async fn drop(self) {
        let name = &self.name;
        // The role's connections end with its pools; wait for the server to see them go.
        for _ in 0..100 {
            let open: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = $1")
                    .bind(name)
                    .fetch_one(&self.admin)
                    .await
                    .unwrap_or(0);
            if open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let dropped = serialized(
            &self.admin,
            [
                format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"),
                format!("DROP OWNED BY {name}"),
                format!("DROP ROLE {name}"),
            ],
        )
        .await;
        if let Err(error) = dropped {
            eprintln!("dropping test role {name}: {error}");
        }
    }
}

/// Runs `statements` in one transaction, one test at a time: granting on (or revoking
/// from) the database updates its catalog row, and two tests doing so at once fail with
/// "tuple concurrently updated".
async fn serialized<const N: usize>(
    admin: &sqlx::PgPool,
    statements: [String; N],
) -> Result<(), sqlx::Error> {
    const ROLES_LOCK: i64 = 0x7a61_7274_726f_6c65; // "zartrole"
    let mut tx = admin.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ROLES_LOCK)
        .execute(&mut *tx)
        .await?;
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

async fn database(pool: &sqlx::PgPool) -> String {
    sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(pool)
        .await
        .expect("the current database")
}

fn new_task(id: &str) -> NewTask {
    NewTask::from(ScheduleAtParams::at(
        id,
        "noop",
        chrono::Utc::now(),
        json!({}),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_for_a_connection_the_server_refuses_is_logged_and_ends_once_it_has_room() {
    let warnings = zart_tests::logs::warnings();
    let role = LimitedRole::create(2).await;
    let store = role
        .store(PoolConfig {
            min_connections: 0,
            ..PoolConfig::default()
        })
        .await;
    // The pool's one connection (the migration's, back in the pool a moment after it
    // ended) is busy, and the role's other slot is someone else's: the next statement
    // needs a connection the server will not give.
    while store.pool().num_idle() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let busy = store.begin_work().await.expect("a transaction");
    assert_eq!(store.pool().size(), 1);
    let other = role.connection().await;
    let scheduling = tokio::spawn({
        let store = store.clone();
        async move { store.insert(&[new_task("waits")]).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!scheduling.is_finished(), "the insert has no connection");
    let reported = warnings.containing("waiting for a PostgreSQL connection");
    assert_eq!(reported.len(), 1, "one report per wait: {reported:?}");
    assert!(
        reported[0].contains("too many connections for role")
            && reported[0].contains(&format!("pool={}@", role.name)),
        "the report names the pool and the server's reason: {}",
        reported[0]
    );
    assert_eq!(store.slow_connection_waits(), 1);

    // Room again: the wait ends at once, not after a pause grown while it was refused.
    use sqlx::Connection;
    other.close().await.expect("closing");
    let freed = tokio::time::Instant::now();
    let inserted = scheduling
        .await
        .expect("the insert does not panic")
        .expect("the insert succeeds");
    let took = freed.elapsed();
    assert_eq!(inserted, vec!["waits".to_owned()]);
    assert!(
        took < Duration::from_millis(1500),
        "the insert went on {took:?} after the server had room"
    );
    drop(busy);
    store.pool().close().await;
    role.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_keeps_working_on_its_kept_connections_while_the_server_is_full() {
    let kept = PoolConfig::default().min_connections;
    // The server gives this role no more than the pool keeps: once they are open, every
    // further connection is refused.
    let role = LimitedRole::create(kept).await;
    let store = role.store(PoolConfig::default()).await;
    let opened = tokio::time::Instant::now();
    while store.pool().size() < kept {
        assert!(
            opened.elapsed() < Duration::from_secs(5),
            "the pool opens the {kept} connections it keeps at connect (has {})",
            store.pool().size()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tasks: Vec<NewTask> = (0..200).map(|i| new_task(&format!("t{i:03}"))).collect();
    store.insert(&tasks).await.expect("scheduled");

    let mut registry = TaskRegistry::new();
    registry.register(
        "noop",
        zart_tests::task(|_| async { Ok(OnComplete::done()) }),
    );
    let config = WorkerConfig {
        heartbeat_interval: Duration::from_millis(100),
        ..zart_tests::quick_config()
    };
    let store = std::sync::Arc::new(store);
    let worker = std::sync::Arc::new(zart::scheduler::Worker::new(
        store.clone(),
        std::sync::Arc::new(registry),
        config,
        vec![],
    ));
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });
    let started = tokio::time::Instant::now();
    loop {
        let done = store
            .count(&TaskFilter::default().status(TaskStatus::Completed))
            .await
            .expect("counting");
        if done == 200 {
            break;
        }
        if running.is_finished() {
            panic!("the worker stopped: {:?}", running.await);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{done} of 200 tasks completed on {kept} connections"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.shutdown().await;
    running.await.expect("no panic").expect("the worker ran");
    assert!(store.pool().size() <= kept);
    store.pool().close().await;
    role.drop().await;
}
