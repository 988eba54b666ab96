//! The functions from psql: what they return, the errors they raise (the SQLSTATE, and
//! the message Rust's error displays for the same input), and their transactions.

use std::time::Duration;

use serde_json::{json, Value};
use zart::scheduler::{
    OnComplete, TaskRegistry, TaskScheduler, TaskStatus, MAX_ID_LEN, MAX_NAME_LEN,
};
use zart_tests::{quick_config, task, TestDb};

use crate::{listen, next_payload, psql, psql_ok, SqlError};

/// Rust's error for scheduling task `id` named `name`, as it displays.
async fn rusts_error(db: &TestDb, id: &str, name: &str) -> String {
    match db.scheduler.schedule_now(id, name, Value::Null).await {
        Err(error) => error.to_string(),
        Ok(()) => panic!("Rust scheduled {id:?} ({name:?})"),
    }
}

/// `text` as a PostgreSQL escape-string literal, control characters included.
fn literal(text: &str) -> String {
    let mut out = String::from("E'");
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_inserts_once_and_if_absent_skips_an_existing_id() {
    let db = TestDb::postgres().await;
    assert_eq!(
        psql_ok(&db, "SELECT zart_producer_api_version()").await,
        "1"
    );
    assert_eq!(
        psql_ok(&db, r#"SELECT zart_schedule('report', 'r-1', '{"n": 1}')"#).await,
        "t"
    );
    let task = db.task("r-1").await;
    assert_eq!(
        (task.status, task.data),
        (TaskStatus::Pending, json!({"n": 1}))
    );

    let again = psql(&db, "SELECT zart_schedule('report', 'r-1')").await;
    assert_eq!(
        again,
        Err(SqlError {
            sqlstate: "23505".into(),
            message: rusts_error(&db, "r-1", "report").await,
        })
    );
    assert_eq!(
        psql_ok(
            &db,
            "SELECT zart_schedule('report', 'r-1', if_absent => true)"
        )
        .await,
        "f"
    );
    assert_eq!(db.task("r-1").await.data, json!({"n": 1}), "left as it was");

    // Named arguments as psql writes them: an integer priority, a due time.
    assert_eq!(
        psql_ok(
            &db,
            "SELECT zart_schedule(task_name => 'report', task_id => 'r-2', priority => 5,
                                  run_at => now() + interval '1 hour')"
        )
        .await,
        "t"
    );
    let later = db.task("r-2").await;
    assert_eq!(later.priority, 5);
    assert!(later.run_at > chrono::Utc::now() + chrono::Duration::minutes(50));
    assert_eq!(
        psql_ok(&db, "SELECT zart_start('checkout', 'c-1', '[1, 2]')").await,
        "t"
    );
    assert_eq!(db.task("c-1").await.data, json!([1, 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tasks_are_refused_with_rusts_words() {
    let db = TestDb::postgres().await;
    let long_id = "x".repeat(MAX_ID_LEN + 1);
    let long_multibyte_id = "é".repeat(MAX_ID_LEN / 2 + 1); // 257 characters, 514 bytes
    let long_name = "n".repeat(MAX_NAME_LEN + 1);
    let cases = [
        ("", "report"),
        ("r-1", ""),
        (long_id.as_str(), "report"),
        (long_multibyte_id.as_str(), "report"),
        ("r-1", long_name.as_str()),
        ("__zart-tick", "report"),
        ("r-1", "__zart_tick"),
        // Quoted in the message as Rust quotes it.
        ("say \"hi\"\\ to\tme\nnow\u{1}", ""),
    ];
    for (id, name) in cases {
        for function in ["zart_schedule", "zart_start"] {
            let sql = format!("SELECT {function}({}, {})", literal(name), literal(id));
            assert_eq!(
                psql(&db, &sql).await,
                Err(SqlError {
                    sqlstate: "22023".into(),
                    message: rusts_error(&db, id, name).await,
                }),
                "{id:?} ({name:?})"
            );
        }
    }
    // What Rust's types rule out: a NULL id or name, a priority beyond smallint.
    assert_eq!(
        psql(&db, "SELECT zart_schedule('report', NULL)").await,
        Err(SqlError {
            sqlstate: "22004".into(),
            message: "invalid task NULL: the task id is NULL".into(),
        })
    );
    assert_eq!(
        psql(&db, "SELECT zart_schedule(NULL, 'r-1')").await,
        Err(SqlError {
            sqlstate: "22004".into(),
            message: "invalid task \"r-1\": the task name is NULL".into(),
        })
    );
    assert_eq!(
        psql(
            &db,
            "SELECT zart_schedule('report', 'r-1', priority => 40000)"
        )
        .await,
        Err(SqlError {
            sqlstate: "22023".into(),
            message: "invalid task \"r-1\": the priority 40000 is out of range: it must be \
                      between -32768 and 32767"
                .into(),
        })
    );
    // A traceparent is stored as given, as Rust stores one: a malformed one is passed
    // over when the task runs, never an error.
    assert_eq!(
        psql_ok(
            &db,
            "SELECT zart_schedule('report', 'r-1', traceparent => 'garbage')"
        )
        .await,
        "t"
    );
    assert_eq!(
        db.rows(&format!(
            "SELECT trace_parent, trace_state FROM {} WHERE task_id = 'r-1'",
            db.tasks_table()
        ))
        .await,
        [["garbage", ""]]
    );
    assert_eq!(
        db.number(&format!("SELECT count(*) FROM {}", db.tasks_table()))
            .await,
        1,
        "nothing invalid was inserted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_event_cancel_and_get_task() {
    let db = TestDb::postgres().await;
    let get = |id: &str| format!("SELECT status, data, attempts FROM zart_get_task('{id}')");
    assert_eq!(
        psql_ok(&db, &get("nobody")).await,
        "",
        "no row for an unknown id"
    );
    psql_ok(&db, r#"SELECT zart_schedule('report', 'r-1', '{"n": 1}')"#).await;
    assert_eq!(psql_ok(&db, &get("r-1")).await, r#"pending|{"n": 1}|0"#);

    // An event for an execution that is not suspended is kept, and wakes nothing: as Rust.
    assert_eq!(
        psql_ok(&db, r#"SELECT zart_send_event('r-1', 'go', '{"k": 2}')"#).await,
        "f"
    );
    assert_eq!(
        psql_ok(&db, "SELECT zart_send_event('nobody', 'go')").await,
        "f"
    );
    let events = db.scheduler.events("r-1").await.expect("events");
    assert_eq!(
        events
            .iter()
            .map(|e| (e.name.as_str(), &e.payload))
            .collect::<Vec<_>>(),
        [("go", &json!({"k": 2}))]
    );
    assert_eq!(
        db.scheduler.events("nobody").await.expect("events").len(),
        1
    );

    assert_eq!(psql_ok(&db, "SELECT zart_cancel('r-1')").await, "cancelled");
    assert_eq!(
        psql_ok(&db, "SELECT zart_cancel('r-1') IS NULL").await,
        "t",
        "nothing left to cancel"
    );
    assert_eq!(
        psql_ok(&db, "SELECT zart_cancel('nobody') IS NULL").await,
        "t"
    );
    assert_eq!(
        psql_ok(
            &db,
            "SELECT status, finished_at IS NOT NULL FROM zart_get_task('r-1')"
        )
        .await,
        "cancelled|t"
    );
    let cancelled = db.task("r-1").await;
    assert_eq!(cancelled.status, TaskStatus::Cancelled);

    // A running task is asked to stop, and ends cancelled whatever its outcome.
    let mut registry = TaskRegistry::new();
    registry.register(
        "slow",
        task(|_| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok(OnComplete::done())
        }),
    );
    let worker = db.start_worker(registry, quick_config());
    psql_ok(&db, "SELECT zart_schedule('slow', 's-1')").await;
    db.wait_for_status("s-1", TaskStatus::Running, Duration::from_secs(10))
        .await;
    assert_eq!(psql_ok(&db, "SELECT zart_cancel('s-1')").await, "running");
    assert!(db.task("s-1").await.cancel_requested);
    let ended = db
        .wait_for_status("s-1", TaskStatus::Cancelled, Duration::from_secs(10))
        .await;
    worker.stop().await;
    assert_eq!(ended.error.as_deref(), Some("cancelled while running"));

    // Zart's own tasks are not the caller's to cancel.
    db.execute(&format!(
        "INSERT INTO {} (task_id, task_name) VALUES ('__zart_recurring__:x', '__zart_tick')",
        db.tasks_table()
    ))
    .await;
    assert_eq!(
        psql_ok(&db, "SELECT zart_cancel('__zart_recurring__:x') IS NULL").await,
        "t"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_schedules_nothing_and_notifies_nobody() {
    let db = TestDb::postgres().await;
    let mut listener = listen(&db).await;
    let rolled_back = "2031-01-01T00:00:00Z";
    let committed = "2032-01-01T00:00:00Z";
    psql_ok(
        &db,
        &format!(
            "BEGIN;
             SELECT zart_schedule('report', 'gone', run_at => '{rolled_back}');
             SELECT zart_send_event('gone', 'go');
             ROLLBACK;
             SELECT zart_schedule('report', 'kept', run_at => '{committed}');"
        ),
    )
    .await;
    let ms = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| t.timestamp_millis().to_string())
            .expect("an instant")
    };
    assert_eq!(
        next_payload(&mut listener, Duration::from_secs(5)).await,
        Some(ms(committed)),
        "the first notification is the committed task's"
    );
    assert_eq!(
        next_payload(&mut listener, Duration::from_millis(300)).await,
        None
    );
    assert_eq!(
        db.rows(&format!("SELECT task_id FROM {}", db.tasks_table()))
            .await,
        [["kept"]]
    );
    assert!(db
        .scheduler
        .events("gone")
        .await
        .expect("events")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_with_the_documented_privileges_can_call_every_function() {
    let db = TestDb::postgres().await;
    let schema = &db.pg().schema;
    let role = format!("{schema}_producer");
    // A task of a recurring schedule and of a parent execution: cancelling it fires both
    // triggers, which run with the caller's rights too.
    db.execute(&format!(
        "INSERT INTO {} (task_id, task_name, schedule_id, parent_id)
         VALUES ('occurrence', 'report', 'nightly', 'parent')",
        db.tasks_table()
    ))
    .await;
    let produced = psql(
        &db,
        &format!(
            r#"CREATE ROLE "{role}" NOLOGIN;
            GRANT USAGE ON SCHEMA "{schema}" TO "{role}";
            GRANT SELECT, INSERT, UPDATE ON "{schema}".zart_tasks TO "{role}";
            GRANT INSERT ON "{schema}".zart_events TO "{role}";
            GRANT USAGE ON SEQUENCE "{schema}".zart_events_id_seq TO "{role}";
            GRANT SELECT ON "{schema}".zart_steps TO "{role}";
            GRANT SELECT, UPDATE ON "{schema}".zart_schedules TO "{role}";
            SET ROLE "{role}";
            SELECT zart_producer_api_version();
            SELECT zart_schedule('report', 'r-1');
            SELECT zart_start('checkout', 'c-1');
            SELECT zart_send_event('c-1', 'go');
            SELECT zart_cancel('occurrence');
            SELECT status FROM zart_get_task('r-1');"#
        ),
    )
    .await;
    let dropped = psql(
        &db,
        &format!(
            r#"DO $$ BEGIN
                IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                    EXECUTE 'DROP OWNED BY "{role}"';
                END IF;
            END $$;
            DROP ROLE IF EXISTS "{role}";"#
        ),
    )
    .await;
    assert_eq!(
        produced.map(|out| out.lines().map(str::to_owned).collect::<Vec<_>>()),
        Ok(["1", "t", "t", "f", "cancelled", "pending"]
            .map(String::from)
            .to_vec())
    );
    dropped.expect("the role dropped");
    let told = db.scheduler.events("parent").await.expect("events");
    assert_eq!(told.len(), 1, "the parent was told: {told:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_write_their_own_tables_whatever_the_callers_search_path() {
    use std::str::FromStr;
    use zart::postgres::{PostgresTaskScheduler, TableNames};
    use zart::store::StepStore;

    // Two sets of Zart tables: the test's (a configured schema) and, in a schema beside
    // it (dropped with it), ones migrated with no schema configured, found by the search
    // path of the connection that migrated them.
    let db = TestDb::postgres().await;
    let plain_schema = format!("{}_plain", db.pg().schema);
    db.execute(&format!("CREATE SCHEMA \"{plain_schema}\""))
        .await;
    let options = sqlx::postgres::PgConnectOptions::from_str(&zart_tests::database_url())
        .expect("the test database's URL")
        .options([("search_path", plain_schema.as_str())]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .expect("connected");
    let plain = PostgresTaskScheduler::with_table_names(pool.clone(), TableNames::default());
    plain.migrate().await.expect("migrated");

    // The caller's search path has the test's tables: the plain functions still write
    // theirs (the path they were created with)...
    assert_eq!(
        psql_ok(
            &db,
            &format!("SELECT \"{plain_schema}\".zart_schedule('report', 'to-plain')")
        )
        .await,
        "t"
    );
    assert!(plain.get_task("to-plain").await.expect("read").is_some());
    assert!(db
        .scheduler
        .get_task("to-plain")
        .await
        .expect("read")
        .is_none());

    // ... and the schema's functions write the schema's tables, from a caller whose
    // search path has the plain ones first.
    let schema = &db.pg().schema;
    let from_plain = format!(
        "SET search_path = \"{plain_schema}\";
         SELECT \"{schema}\".zart_schedule('report', 'to-schema');
         SELECT \"{schema}\".zart_send_event('to-schema', 'go');
         SELECT status FROM \"{schema}\".zart_get_task('to-schema');
         SELECT \"{schema}\".zart_cancel('to-schema');"
    );
    assert_eq!(psql_ok(&db, &from_plain).await, "t\nf\npending\ncancelled");
    assert_eq!(db.task("to-schema").await.status, TaskStatus::Cancelled);
    assert_eq!(
        db.scheduler
            .events("to-schema")
            .await
            .expect("events")
            .len(),
        1
    );
    assert!(plain.get_task("to-schema").await.expect("read").is_none());
    assert!(plain.events("to-schema").await.expect("events").is_empty());
    pool.close().await;
}
