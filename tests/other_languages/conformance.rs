//! What the functions write is what the Rust driver writes: the same task row (every column
//! but the id and the creation time), the same notification, the same event; and each wakes
//! an idle worker, which only a notification can do within its minute-long poll.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Connection;
use zart::durable::{wait_for_event, DurableExecution, StepError, TaskError};
use zart::in_transaction::{schedule_at_in, schedule_now_in, send_event_in};
use zart::scheduler::{
    NewTask, OnComplete, ScheduleAtParams, TaskRegistry, TaskScheduler, TaskStatus, WorkerConfig,
};
use zart_core::task::TraceContext;
use zart_tests::{database_url, quick_config, task, TestDb};

use crate::{listen, next_payload, psql_ok, row, wait_until_listening, NO_POLLING};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn idle_worker_config() -> WorkerConfig {
    WorkerConfig {
        poll_interval: NO_POLLING,
        ..quick_config()
    }
}

/// Waits for task `id` to complete, within a few seconds; returns how long it took.
async fn completes_promptly(db: &TestDb, id: &str, since: Instant) -> Duration {
    db.wait_for_status(id, TaskStatus::Completed, Duration::from_secs(10))
        .await;
    let took = since.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "{id} was woken by a notification, not the poll: {took:?}"
    );
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_scheduled_in_sql_is_the_row_rust_writes_and_wakes_an_idle_worker() {
    let db = TestDb::postgres().await;
    let mut registry = TaskRegistry::new();
    registry.register(
        "noop",
        task(|i| async move { Ok(OnComplete::with_result(i.data)) }),
    );
    let worker = db.start_worker(registry, idle_worker_config());
    wait_until_listening(&db).await;
    let mut listener = listen(&db).await;

    // Due in an hour, every option given. Whole milliseconds: the notification says those.
    let due =
        chrono::SubsecRound::trunc_subsecs(chrono::Utc::now() + chrono::Duration::hours(1), 3);
    let data = json!({"to": "ada@example.com", "n": [1, 2.5, null]});
    db.scheduler
        .schedule_at(NewTask {
            params: ScheduleAtParams::at("rust-full", "noop", due, data.clone()),
            priority: 7,
            trace_context: Some(TraceContext {
                traceparent: TRACEPARENT.into(),
                tracestate: "vendor=1".into(),
            }),
        })
        .await
        .expect("scheduled");
    let rusts = next_payload(&mut listener, Duration::from_secs(5)).await;
    psql_ok(
        &db,
        &format!(
            "SELECT zart_schedule('noop', 'sql-full', '{data}', '{}', 7, false, '{TRACEPARENT}', 'vendor=1')",
            due.to_rfc3339()
        ),
    )
    .await;
    let sqls = next_payload(&mut listener, Duration::from_secs(5)).await;
    // And Rust's `_in` path, in a transaction of the application's.
    let mut tx = db.pg().pool.begin().await.expect("begin");
    schedule_at_in(
        db.pg().store.join(&mut tx),
        NewTask {
            params: ScheduleAtParams::at("in-full", "noop", due, data.clone()),
            priority: 7,
            trace_context: Some(TraceContext {
                traceparent: TRACEPARENT.into(),
                tracestate: "vendor=1".into(),
            }),
        },
    )
    .await
    .expect("scheduled in the transaction");
    tx.commit().await.expect("commit");
    let ins = next_payload(&mut listener, Duration::from_secs(5)).await;
    assert_eq!(row(&db, "sql-full").await, row(&db, "rust-full").await);
    assert_eq!(row(&db, "in-full").await, row(&db, "rust-full").await);
    assert_eq!(sqls, rusts, "the same notification");
    assert_eq!(ins, rusts, "the same notification");
    assert_eq!(rusts, Some(due.timestamp_millis().to_string()));

    // A trace context without a state.
    db.scheduler
        .schedule_at(NewTask {
            params: ScheduleAtParams::at("rust-trace", "noop", due, Value::Null),
            priority: 0,
            trace_context: Some(TraceContext::new(TRACEPARENT)),
        })
        .await
        .expect("scheduled");
    psql_ok(
        &db,
        &format!(
            "SELECT zart_schedule('noop', 'sql-trace', run_at => '{}', traceparent => '{TRACEPARENT}')",
            due.to_rfc3339()
        ),
    )
    .await;
    assert_eq!(row(&db, "sql-trace").await, row(&db, "rust-trace").await);

    // Every default, due now: the idle worker starts each at once.
    let started = Instant::now();
    psql_ok(&db, "SELECT zart_schedule('noop', 'sql-now')").await;
    completes_promptly(&db, "sql-now", started).await;
    let started = Instant::now();
    db.scheduler
        .schedule_now("rust-now", "noop", Value::Null)
        .await
        .expect("scheduled");
    completes_promptly(&db, "rust-now", started).await;
    let started = Instant::now();
    let mut tx = db.pg().pool.begin().await.expect("begin");
    schedule_now_in(db.pg().store.join(&mut tx), "in-now", "noop", Value::Null)
        .await
        .expect("scheduled in the transaction");
    tx.commit().await.expect("commit");
    completes_promptly(&db, "in-now", started).await;
    worker.stop().await;
    let ran = |mut row: Value| {
        // Both ran: what differs is when, and on which worker (the same one here).
        let columns = row.as_object_mut().expect("a row");
        for column in ["run_at", "started_at", "finished_at"] {
            assert!(!columns[column].is_null(), "{column}");
            columns.remove(column);
        }
        row
    };
    assert_eq!(
        ran(row(&db, "sql-now").await),
        ran(row(&db, "rust-now").await)
    );
    assert_eq!(
        ran(row(&db, "in-now").await),
        ran(row(&db, "rust-now").await)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_holds_back_only_its_own_task() {
    let db = TestDb::postgres().await;
    let mut registry = TaskRegistry::new();
    registry.register("noop", task(|_| async { Ok(OnComplete::done()) }));
    let worker = db.start_worker(registry, quick_config());

    let mut producer = sqlx::PgConnection::connect(&database_url())
        .await
        .expect("a producer's connection");
    let mut tx = producer.begin().await.expect("BEGIN");
    let inserted: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT \"{}\".zart_schedule('noop', 'held')",
        db.pg().schema
    )))
    .fetch_one(&mut *tx)
    .await
    .expect("scheduled in the transaction");
    assert!(inserted);
    // While it is open, the worker claims and runs other work, and cannot see this task.
    db.scheduler
        .schedule_now("free", "noop", Value::Null)
        .await
        .expect("scheduled");
    db.wait_for_status("free", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    assert!(db.scheduler.get_task("held").await.expect("read").is_none());
    tx.commit().await.expect("COMMIT");
    db.wait_for_status("held", TaskStatus::Completed, Duration::from_secs(10))
        .await;
    worker.stop().await;
}

/// Waits for `shipped` (a minute at most) and returns what it got.
pub(crate) struct AwaitShipping;

#[zart::prelude::async_trait]
impl DurableExecution for AwaitShipping {
    type Data = Value;
    type Output = Value;

    async fn run(&self, _: Value) -> Result<Value, TaskError> {
        match wait_for_event::<Value>("shipped", Duration::from_secs(60)).await {
            Ok(event) => Ok(json!({ "shipped": event })),
            Err(StepError::Exhausted { message, .. }) => Ok(json!({ "timed_out": message })),
            Err(other) => Err(other.into()),
        }
    }
}

/// Waits until execution `id` is suspended for its event, as Rust and SQL both read it.
pub(crate) async fn wait_until_awaiting(db: &TestDb, id: &str) {
    db.wait_for_status(id, TaskStatus::AwaitingEvent, Duration::from_secs(10))
        .await;
    assert_eq!(
        psql_ok(db, &format!("SELECT status FROM zart_get_task('{id}')")).await,
        TaskStatus::AwaitingEvent.as_str(),
        "the status Rust reads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_sent_in_sql_is_the_one_rust_sends_and_wakes_an_idle_worker() {
    let db = TestDb::postgres().await;
    let mut registry = TaskRegistry::new();
    registry.durable("await-shipping", AwaitShipping);
    let worker = db.start_worker(registry, idle_worker_config());
    wait_until_listening(&db).await;

    let input = json!({"order": 7});
    db.executions()
        .start("await-shipping", "rust-order", &input)
        .await
        .expect("started");
    psql_ok(
        &db,
        &format!("SELECT zart_start('await-shipping', 'sql-order', '{input}')"),
    )
    .await;
    db.executions()
        .start("await-shipping", "in-order", &input)
        .await
        .expect("started");
    wait_until_awaiting(&db, "rust-order").await;
    wait_until_awaiting(&db, "sql-order").await;
    wait_until_awaiting(&db, "in-order").await;

    let payload = json!({"carrier": "DHL", "at": [2026, 1, 2]});
    let sent = Instant::now();
    let woken = db
        .executions()
        .send_event("rust-order", "shipped", &payload)
        .await
        .expect("sent");
    assert!(woken);
    completes_promptly(&db, "rust-order", sent).await;
    let sent = Instant::now();
    assert_eq!(
        psql_ok(
            &db,
            &format!("SELECT zart_send_event('sql-order', 'shipped', '{payload}')")
        )
        .await,
        "t"
    );
    completes_promptly(&db, "sql-order", sent).await;
    let sent = Instant::now();
    let mut tx = db.pg().pool.begin().await.expect("begin");
    let woken = send_event_in(db.pg().store.join(&mut tx), "in-order", "shipped", &payload)
        .await
        .expect("sent in the transaction");
    assert!(woken);
    tx.commit().await.expect("commit");
    completes_promptly(&db, "in-order", sent).await;
    // Ended: nothing left to wake, from either.
    assert_eq!(
        psql_ok(&db, "SELECT zart_send_event('sql-order', 'late')").await,
        "f"
    );
    assert!(!db
        .executions()
        .send_event("rust-order", "late", &Value::Null)
        .await
        .expect("sent"));
    worker.stop().await;

    let (rust, sql) = (db.task("rust-order").await, db.task("sql-order").await);
    assert_eq!(sql.result, Some(json!({ "shipped": payload })));
    assert_eq!((sql.result, sql.attempts), (rust.result, rust.attempts));
    let events = |id: &'static str| {
        let db = &db;
        async move {
            db.scheduler
                .events(id)
                .await
                .expect("events")
                .into_iter()
                .map(|e| (e.name, e.payload))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(events("sql-order").await, events("rust-order").await);
    let ins = db.task("in-order").await;
    assert_eq!(
        (ins.result, ins.attempts),
        (Some(json!({ "shipped": payload })), 1)
    );
    let steps = |id: &'static str| {
        let db = &db;
        async move {
            db.rows(&format!(
                "SELECT name, status FROM {} WHERE task_id = '{id}' ORDER BY seq",
                db.zart_table("steps")
            ))
            .await
        }
    };
    assert_eq!(steps("sql-order").await, steps("rust-order").await);
    let unended = |mut row: Value| {
        let columns = row.as_object_mut().expect("a row");
        for column in ["run_at", "started_at", "finished_at", "last_worker_id"] {
            columns.remove(column);
        }
        row
    };
    assert_eq!(
        unended(row(&db, "sql-order").await),
        unended(row(&db, "rust-order").await)
    );
}
