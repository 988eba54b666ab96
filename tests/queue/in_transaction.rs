//! The `_in` family: tasks scheduled, events sent and cancels asked for inside the
//! application's own transaction commit or roll back with the application's rows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use zart::durable::{wait_for_event, TaskError};
use zart::in_transaction::{
    cancel_in, schedule_at_if_absent_in, schedule_many_in, schedule_now_in, send_event_in,
};
use zart::postgres::sqlx::{self, Postgres};
use zart::scheduler::{RunningWorker, ScheduleAtParams, TaskRegistry, TaskScheduler, TaskStatus};
use zart::sqlite::rusqlite;
use zart::{Error, Zart};
use zart_tests::{quick_config, Driver, TestDb};

/// How many times each receipt was sent, by order.
static SENT: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

fn sent(order: &str) -> u32 {
    let sent = SENT.lock().unwrap_or_else(|e| e.into_inner());
    sent.as_ref()
        .and_then(|s| s.get(order))
        .copied()
        .unwrap_or(0)
}

#[zart::task]
async fn send_receipt(order: String) -> Result<(), TaskError> {
    let mut sent = SENT.lock().unwrap_or_else(|e| e.into_inner());
    *sent
        .get_or_insert_with(HashMap::new)
        .entry(order)
        .or_default() += 1;
    Ok(())
}

#[zart::durable]
async fn await_payment(order: String) -> Result<Value, TaskError> {
    let paid: Value = wait_for_event("paid", Duration::from_secs(120)).await?;
    Ok(json!({ "order": order, "paid": paid }))
}

/// The application's own transaction on the test's database: a sqlx one on PostgreSQL, a
/// rusqlite connection inside `BEGIN IMMEDIATE` on SQLite.
enum AppTx<'db> {
    Pg(
        sqlx::Transaction<'static, Postgres>,
        &'db zart::postgres::PostgresTaskScheduler,
    ),
    Lite(rusqlite::Connection),
}

impl<'db> AppTx<'db> {
    async fn begin(db: &'db TestDb) -> AppTx<'db> {
        match &db.driver {
            Driver::Postgres(pg) => {
                AppTx::Pg(pg.pool.begin().await.expect("begin"), pg.store.as_ref())
            }
            Driver::Sqlite(lite) => {
                let conn = zart_tests::sqlite_connection(&lite.path);
                conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
                AppTx::Lite(conn)
            }
        }
    }

    /// Runs one of the application's own statements.
    async fn execute(&mut self, statement: &str) {
        match self {
            AppTx::Pg(tx, _) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
                    .execute(&mut **tx)
                    .await
                    .expect("the application's statement");
            }
            AppTx::Lite(conn) => conn
                .execute_batch(statement)
                .expect("the application's statement"),
        }
    }

    async fn commit(self) {
        match self {
            AppTx::Pg(tx, _) => tx.commit().await.expect("commit"),
            AppTx::Lite(conn) => conn.execute_batch("COMMIT").expect("commit"),
        }
    }

    async fn rollback(self) {
        match self {
            AppTx::Pg(tx, _) => tx.rollback().await.expect("rollback"),
            AppTx::Lite(conn) => conn.execute_batch("ROLLBACK").expect("rollback"),
        }
    }

    async fn schedule_receipt(&mut self, id: &str, order: &str) -> zart::Result<()> {
        match self {
            AppTx::Pg(tx, store) => {
                send_receipt::schedule_in(store.join(tx), id, order.to_owned()).await
            }
            AppTx::Lite(conn) => send_receipt::schedule_in(&*conn, id, order.to_owned()).await,
        }
    }

    async fn start_payment(&mut self, id: &str, order: &str) -> zart::Result<()> {
        match self {
            AppTx::Pg(tx, store) => {
                await_payment::start_in(store.join(tx), id, order.to_owned()).await
            }
            AppTx::Lite(conn) => await_payment::start_in(&*conn, id, order.to_owned()).await,
        }
    }

    async fn schedule_many(&mut self, tasks: Vec<ScheduleAtParams>) -> zart::Result<()> {
        match self {
            AppTx::Pg(tx, store) => schedule_many_in(store.join(tx), tasks).await,
            AppTx::Lite(conn) => schedule_many_in(&*conn, tasks).await,
        }
    }

    async fn schedule_if_absent(&mut self, task: ScheduleAtParams) -> zart::Result<bool> {
        match self {
            AppTx::Pg(tx, store) => schedule_at_if_absent_in(store.join(tx), task).await,
            AppTx::Lite(conn) => schedule_at_if_absent_in(&*conn, task).await,
        }
    }

    async fn schedule_now(&mut self, id: &str, name: &str) -> zart::Result<()> {
        match self {
            AppTx::Pg(tx, store) => schedule_now_in(store.join(tx), id, name, json!(null)).await,
            AppTx::Lite(conn) => schedule_now_in(&*conn, id, name, json!(null)).await,
        }
    }

    async fn cancel(&mut self, id: &str) -> zart::Result<bool> {
        match self {
            AppTx::Pg(tx, store) => cancel_in(store.join(tx), id).await,
            AppTx::Lite(conn) => cancel_in(&*conn, id).await,
        }
    }

    async fn send_event(&mut self, id: &str, payload: &Value) -> zart::Result<bool> {
        match self {
            AppTx::Pg(tx, store) => send_event_in(store.join(tx), id, "paid", payload).await,
            AppTx::Lite(conn) => send_event_in(&*conn, id, "paid", payload).await,
        }
    }
}

/// An `orders` table of the application's, beside Zart's.
async fn orders_table(db: &TestDb) -> String {
    let table = db.own_table("orders");
    db.execute(&format!("CREATE TABLE {table} (id TEXT PRIMARY KEY)"))
        .await;
    table
}

/// A worker over `zart` with the tests' quick settings, running `registry`.
async fn start_worker(zart: &Zart, registry: TaskRegistry) -> RunningWorker {
    zart.worker()
        .config(quick_config())
        .register(registry)
        .start()
        .await
        .expect("the worker starts")
}

/// A name no other test (or run) uses, for the receipts counted in [`SENT`].
fn unique(what: &str) -> String {
    format!("{what}-{}", uuid::Uuid::new_v4().simple())
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_scheduled_in_a_transaction_runs_once_if_it_commits_and_never_if_it_rolls_back(
    db: TestDb,
) {
    let orders = orders_table(&db).await;
    let zart: Zart = db.zart();
    let (kept, dropped) = (unique("kept"), unique("dropped"));

    let mut tx = AppTx::begin(&db).await;
    tx.execute(&format!("INSERT INTO {orders} (id) VALUES ('{kept}')"))
        .await;
    tx.schedule_receipt("receipt-kept", &kept)
        .await
        .expect("scheduled in the transaction");
    assert_eq!(
        db.scheduler.get_task("receipt-kept").await.expect("read"),
        None,
        "nothing is seen before the commit"
    );
    tx.commit().await;

    let mut tx = AppTx::begin(&db).await;
    tx.execute(&format!("INSERT INTO {orders} (id) VALUES ('{dropped}')"))
        .await;
    tx.schedule_receipt("receipt-dropped", &dropped)
        .await
        .expect("scheduled in the transaction");
    tx.rollback().await;

    let worker = start_worker(&zart, zart::registry![send_receipt]).await;
    db.wait_for_status(
        "receipt-kept",
        TaskStatus::Completed,
        Duration::from_secs(30),
    )
    .await;
    // The worker keeps polling meanwhile: a rolled-back task would have been claimed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker.shutdown().await.expect("the worker stops");

    assert_eq!(sent(&kept), 1, "the committed receipt is sent once");
    assert_eq!(sent(&dropped), 0, "the rolled-back receipt is never sent");
    assert_eq!(
        db.scheduler
            .get_task("receipt-dropped")
            .await
            .expect("read"),
        None,
        "a rollback leaves no row"
    );
    let count = |id: &str| format!("SELECT count(*) FROM {orders} WHERE id = '{id}'");
    assert_eq!(db.number(&count(&kept)).await, 1);
    assert_eq!(db.number(&count(&dropped)).await, 0);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_in_a_transaction_is_all_or_none_and_the_transaction_goes_on(db: TestDb) {
    let orders = orders_table(&db).await;
    db.scheduler
        .schedule_now("b", "noop", json!(null))
        .await
        .expect("scheduled");

    let mut tx = AppTx::begin(&db).await;
    tx.execute(&format!("INSERT INTO {orders} (id) VALUES ('order-1')"))
        .await;
    let batch = ["a", "b", "c"].map(|id| ScheduleAtParams::now(id, "noop", json!(null)));
    let refused = tx.schedule_many(batch.to_vec()).await;
    assert!(
        matches!(&refused, Err(Error::AlreadyExists(ids)) if ids == &["b".to_owned()]),
        "{refused:?}"
    );
    let invalid = tx.schedule_now("", "noop").await;
    assert!(
        matches!(&invalid, Err(Error::InvalidTask { reason, .. }) if reason.contains("the task id is empty")),
        "{invalid:?}"
    );
    // The same checks as outside a transaction, and the transaction is still usable.
    tx.schedule_now("d", "noop")
        .await
        .expect("after the refusals");
    let again = tx
        .schedule_if_absent(ScheduleAtParams::now("d", "noop", json!(null)))
        .await
        .expect("if absent");
    assert!(!again, "d exists in this transaction already");
    tx.execute(&format!("INSERT INTO {orders} (id) VALUES ('order-2')"))
        .await;
    tx.commit().await;

    for (id, exists) in [("a", false), ("c", false), ("d", true)] {
        let found = db.scheduler.get_task(id).await.expect("read").is_some();
        assert_eq!(found, exists, "task {id}");
    }
    assert_eq!(
        db.number(&format!("SELECT count(*) FROM {orders}")).await,
        2,
        "the application's rows around the refusals are kept"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_in_a_transaction_takes_effect_on_commit_only(db: TestDb) {
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    db.scheduler
        .schedule_at(ScheduleAtParams::at("report", "noop", later, json!(null)))
        .await
        .expect("scheduled");

    let mut tx = AppTx::begin(&db).await;
    assert!(tx.cancel("report").await.expect("cancel"));
    tx.rollback().await;
    assert_eq!(db.task("report").await.status, TaskStatus::Pending);

    let mut tx = AppTx::begin(&db).await;
    assert!(tx.cancel("report").await.expect("cancel"));
    assert!(
        !tx.cancel("missing").await.expect("cancel"),
        "nothing to cancel"
    );
    tx.commit().await;
    assert_eq!(db.task("report").await.status, TaskStatus::Cancelled);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_sent_in_a_rolled_back_transaction_is_not_delivered(db: TestDb) {
    let zart = db.zart();
    let worker = start_worker(&zart, zart::registry![await_payment]).await;
    let order = unique("order");
    let mut tx = AppTx::begin(&db).await;
    tx.start_payment("pay-1", &order).await.expect("started");
    tx.commit().await;
    db.wait_for_status("pay-1", TaskStatus::AwaitingEvent, Duration::from_secs(30))
        .await;

    let mut tx = AppTx::begin(&db).await;
    tx.send_event("pay-1", &json!({ "cents": 1 }))
        .await
        .expect("sent in the transaction");
    tx.rollback().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        db.task("pay-1").await.status,
        TaskStatus::AwaitingEvent,
        "a rolled-back event wakes nothing"
    );
    let events = db.scheduler.events("pay-1").await.expect("events");
    assert!(
        events.is_empty(),
        "a rolled-back event is not stored: {events:?}"
    );

    let mut tx = AppTx::begin(&db).await;
    tx.send_event("pay-1", &json!({ "cents": 2 }))
        .await
        .expect("sent in the transaction");
    tx.commit().await;
    let result = await_payment::handle(&zart, "pay-1")
        .wait(Duration::from_secs(30))
        .await
        .expect("the committed event is delivered");
    assert_eq!(result, json!({ "order": order, "paid": { "cents": 2 } }));
    worker.shutdown().await.expect("the worker stops");
}

/// PostgreSQL only: on SQLite the application's open transaction holds the one writer, so
/// the execution cannot suspend before the commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_sent_in_a_transaction_wakes_an_execution_that_suspended_before_the_commit() {
    let db = TestDb::postgres().await;
    let zart = db.zart();
    let store = db.pg().store.clone();
    let order = unique("order");
    zart.start::<await_payment>("pay-late", order.clone())
        .await
        .expect("started");

    // The event is sent while the execution is still due, in a transaction that stays
    // open: the execution looks for the event, finds none (it is not committed), and
    // suspends for the wait's two minutes.
    let mut tx = db.pg().pool.begin().await.expect("begin");
    send_event_in(
        store.join(&mut tx),
        "pay-late",
        "paid",
        &json!({ "cents": 3 }),
    )
    .await
    .expect("sent in the transaction");
    let worker = start_worker(&zart, zart::registry![await_payment]).await;
    db.wait_for_status(
        "pay-late",
        TaskStatus::AwaitingEvent,
        Duration::from_secs(30),
    )
    .await;
    tx.commit().await.expect("commit");

    // The commit wakes it: far sooner than the wait's timeout, even on a loaded machine.
    let result = await_payment::handle(&zart, "pay-late")
        .wait(Duration::from_secs(30))
        .await
        .expect("the event wakes the execution on commit");
    assert_eq!(result, json!({ "order": order, "paid": { "cents": 3 } }));
    worker.shutdown().await.expect("the worker stops");
}

/// PostgreSQL: a pooled connection outside any transaction block is no savepoint's place;
/// a batch that must be new gets a transaction of its own, and is still all or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_on_a_connection_outside_a_transaction_is_all_or_none() {
    let db = TestDb::postgres().await;
    let store = db.pg().store.clone();
    let mut connection = db.pg().pool.acquire().await.expect("a connection");
    db.scheduler
        .schedule_now("b", "noop", json!(null))
        .await
        .expect("scheduled");
    let batch = |ids: [&str; 3]| ids.map(|id| ScheduleAtParams::now(id, "noop", json!(null)));
    let refused =
        schedule_many_in(store.join(&mut connection), batch(["a", "b", "c"]).to_vec()).await;
    assert!(
        matches!(&refused, Err(Error::AlreadyExists(ids)) if ids == &["b".to_owned()]),
        "{refused:?}"
    );
    assert_eq!(db.scheduler.get_task("a").await.expect("read"), None);
    schedule_many_in(store.join(&mut connection), batch(["x", "y", "z"]).to_vec())
        .await
        .expect("a batch of new ids");
    // Each statement committed on its own: another connection sees them at once.
    for id in ["x", "y", "z"] {
        assert!(
            db.scheduler.get_task(id).await.expect("read").is_some(),
            "{id}"
        );
    }
}
