//! The `zart` binary against real stores: a fresh SQLite file and a fresh PostgreSQL
//! schema per test, seeded through the zart API and by a real worker.

mod browser;
mod support;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use zart::durable::StepError;
use zart::postgres::sqlx;
use zart::recurring::ScheduleState;
use zart::scheduler::RunningWorker;
use zart::scheduler::{ScheduleAtParams, TaskInstance, TaskScheduler, TaskStatus};
use zart::{TaskError, Zart};

use support::{eventually, ids, run, worker_config, Db};

/// The ids `hold` may finish.
static RELEASED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn release(id: &str) {
    RELEASED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(id.to_owned());
}

fn released(id: &str) -> bool {
    RELEASED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|r| r == id)
}

/// Fails the tasks whose id says so.
#[zart::task(retry = none)]
async fn job(_input: Value, task: &TaskInstance) -> Result<Value, TaskError> {
    if task.task_id.contains("bad") {
        return Err(TaskError::failed("card declined:\ninsufficient funds"));
    }
    Ok(json!({ "done": task.task_id }))
}

/// Runs until the test releases it: a task a worker holds while the test looks.
#[zart::task(queue = "slow", retry = none)]
async fn hold(_input: Value, task: &TaskInstance) -> Result<(), TaskError> {
    while !released(&task.task_id) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[zart::step(retry = none)]
async fn reserve(order: &Value) -> Result<u64, StepError> {
    Ok(order["items"].as_u64().unwrap_or(1))
}

/// Declines the order's first `declines` attempts.
#[zart::step(retry = fixed(max_attempts = 3, delay = "1ms"))]
async fn charge(order: &Value) -> Result<String, StepError> {
    let declines = order["declines"].as_u64().unwrap_or(0);
    if zart_tests::calls_of_this_task().unwrap_or(1) <= declines {
        return Err(StepError::failed("card declined:\ninsufficient funds"));
    }
    Ok(format!("pay-{}", order["id"]))
}

#[zart::durable(retry = none)]
async fn checkout(order: Value) -> Result<Value, TaskError> {
    let parcels = reserve(&order).await?;
    let payment = charge(&order).await?;
    let approval: Value = zart::wait_for_event("approved", Duration::from_secs(600)).await?;
    Ok(json!({ "parcels": parcels, "payment": payment, "approval": approval }))
}

#[zart::recurring(every = "1h", schedule = "hourly-report")]
#[zart::task(retry = none)]
async fn report() -> Result<(), TaskError> {
    Ok(())
}

async fn start_worker(zart: &Zart, id: &str) -> RunningWorker {
    zart.worker()
        .register(zart::registry![job, hold, checkout, report])
        .config(worker_config(id))
        .start()
        .await
        .expect("the worker starts")
}

async fn status(zart: &Zart, id: &str) -> Option<TaskStatus> {
    zart.tasks().status(id).await.expect("status reads")
}

async fn wait_for_status(zart: &Zart, id: &str, wanted: TaskStatus) {
    eventually(&format!("{id} to be {wanted}"), || async {
        (status(zart, id).await == Some(wanted)).then_some(())
    })
    .await;
}

on_each_store!(
    listing_filters_and_pages,
    a_failed_task_is_shown_retried_restarted_and_cancelled,
    queues_and_workers_while_a_worker_runs,
    an_execution_shows_its_steps_and_takes_events,
    schedules_are_listed_shown_and_steered,
    a_queue_the_store_does_not_know_is_not_found,
);

async fn listing_filters_and_pages(db: &Db) {
    let later = Utc::now() + chrono::Duration::hours(1);
    let mut seeded = Vec::new();
    for (i, name) in [
        "email", "email", "resize", "email", "resize", "email", "email",
    ]
    .iter()
    .enumerate()
    {
        let id = format!("order-{i}");
        seeded.push(ScheduleAtParams::at(&id, *name, later, json!({ "n": i })));
    }
    seeded.push(ScheduleAtParams::at("other-1", "email", later, json!(null)));
    db.zart.tasks().schedule_many(seeded).await.expect("seeded");
    assert!(db.zart.tasks().cancel("order-2").await.expect("cancel"));

    let listed = |args: &'static [&'static str]| async move {
        let mut all = vec!["tasks", "list", "--json"];
        all.extend(args);
        let out = db.zart(&all).await.json();
        let mut found = ids(&out["tasks"]);
        found.sort();
        found
    };
    assert_eq!(listed(&["--status", "cancelled"]).await, ["order-2"]);
    assert_eq!(listed(&["--name", "resize"]).await, ["order-2", "order-4"]);
    assert_eq!(listed(&["--id-prefix", "other-"]).await, ["other-1"]);
    assert_eq!(listed(&["--since", "-1h"]).await.len(), 8);
    assert_eq!(listed(&["--until", "-1h"]).await, Vec::<String>::new());
    assert_eq!(
        listed(&["--status", "PENDING", "--name", "resize"]).await,
        ["order-4"]
    );

    // Pages of three: every task exactly once, and `next` null on the last page.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..5 {
        let mut args = vec!["tasks", "list", "--json", "--limit", "3"];
        if let Some(cursor) = &after {
            args.extend(["--after", cursor.as_str()]);
        }
        let page = db.zart(&args).await.json();
        seen.extend(ids(&page["tasks"]));
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8, "every task once: {seen:?}");
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 8, "{seen:?}");

    let text = db.zart(&["tasks", "list", "--limit", "3"]).await;
    let lines: Vec<&str> = text.ok().lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].ends_with("LAST ERROR"),
        "{text:?}"
    );
    assert_eq!(lines.len(), 5, "header, three tasks, next page: {text:?}");
    assert!(lines[4].starts_with("next page: --after "), "{text:?}");
    let whole = db.zart(&["tasks", "list"]).await;
    assert!(!whole.ok().contains("next page"), "{whole:?}");

    let bad = db.zart(&["tasks", "list", "--status", "lost"]).await;
    assert!(
        bad.fails(2).contains("pending, waiting, running"),
        "{bad:?}"
    );
    let bad = db.zart(&["tasks", "list", "--since", "last week"]).await;
    assert!(bad.fails(2).contains("--since"), "{bad:?}");
    let bad = db.zart(&["tasks", "list", "--after", "page-2"]).await;
    bad.fails(2);
    let bad = db.zart(&["tasks", "list", "--queue", "nowhere"]).await;
    bad.fails(3);
}

async fn a_failed_task_is_shown_retried_restarted_and_cancelled(db: &Db) {
    let worker = start_worker(&db.zart, "cli-w1").await;
    let tasks = db.zart.tasks();
    tasks
        .schedule_now("good-1", "job", json!({}))
        .await
        .expect("scheduled");
    tasks
        .schedule_now("bad-1", "job", json!({ "card": 4 }))
        .await
        .expect("scheduled");
    wait_for_status(&db.zart, "bad-1", TaskStatus::Failed).await;
    wait_for_status(&db.zart, "good-1", TaskStatus::Completed).await;
    worker.shutdown().await.expect("clean stop");

    let failed = db
        .zart(&["tasks", "list", "--status", "failed", "--json"])
        .await;
    assert_eq!(ids(&failed.json()["tasks"]), ["bad-1"]);
    let listing = db.zart(&["tasks", "list", "--status", "failed"]).await;
    assert!(
        listing.ok().contains("card declined: insufficient funds"),
        "{listing:?}"
    );

    let shown = db.zart(&["tasks", "show", "bad-1"]).await;
    let text = shown.ok();
    for expected in [
        "task bad-1 (job): failed",
        "card declined",
        "\"card\": 4",
        "last worker  cli-w1",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    let shown = db.zart(&["tasks", "show", "good-1", "--json"]).await.json();
    assert_eq!(shown["kind"], "task");
    assert_eq!(shown["task"]["result"], json!({ "done": "good-1" }));
    let missing = db.zart(&["tasks", "show", "nope"]).await;
    assert!(missing.fails(3).contains("nope"));

    db.zart(&["tasks", "retry", "bad-1"]).await.ok();
    let record = tasks
        .get_task("bad-1")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!((record.status, record.attempts), (TaskStatus::Pending, 0));
    let again = db.zart(&["tasks", "retry", "bad-1"]).await;
    assert!(again.fails(4).contains("is pending"), "{again:?}");

    let cancelled = db
        .zart(&["tasks", "cancel", "bad-1", "--json"])
        .await
        .json();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(status(&db.zart, "bad-1").await, Some(TaskStatus::Cancelled));
    db.zart(&["tasks", "cancel", "bad-1"]).await.fails(4);
    db.zart(&["tasks", "cancel", "nope"]).await.fails(3);

    db.zart(&["tasks", "restart", "bad-1"]).await.ok();
    assert_eq!(status(&db.zart, "bad-1").await, Some(TaskStatus::Pending));
    db.zart(&["tasks", "retry", "good-1"]).await.ok();
    assert_eq!(status(&db.zart, "good-1").await, Some(TaskStatus::Pending));
}

async fn queues_and_workers_while_a_worker_runs(db: &Db) {
    let worker = start_worker(&db.zart, "cli-w2").await;
    let held = format!("hold-{}", support::unique());
    db.zart
        .tasks()
        .schedule_now(&held, "hold", json!({}))
        .await
        .expect("scheduled");
    wait_for_status(&db.zart, &held, TaskStatus::Running).await;

    let workers = db.zart(&["workers", "--json"]).await.json();
    let ours = workers["workers"]
        .as_array()
        .and_then(|all| all.iter().find(|w| w["worker_id"] == "cli-w2"))
        .cloned()
        .expect("the worker is listed");
    assert_eq!(ours["running"], 1, "{ours}");
    assert_eq!(ours["pid"], std::process::id());
    let text = db.zart(&["workers"]).await;
    assert!(text.ok().contains("cli-w2"), "{text:?}");

    let queues = db.zart(&["queues", "--json"]).await.json();
    let slow = queues["queues"]
        .as_array()
        .and_then(|all| all.iter().find(|q| q["queue"] == "slow"))
        .cloned()
        .expect("the slow queue is listed");
    assert_eq!(slow["task_names"], json!(["hold"]));
    assert_eq!(slow["counts"]["running"], 1);
    let text = db.zart(&["queues"]).await;
    assert!(text.ok().starts_with("QUEUE"), "{text:?}");
    let in_queue = db
        .zart(&["tasks", "list", "--queue", "slow", "--json"])
        .await;
    assert_eq!(ids(&in_queue.json()["tasks"]), vec![held.as_str()]);

    release(&held);
    wait_for_status(&db.zart, &held, TaskStatus::Completed).await;

    // Pausing the queue holds its next task back; resuming lets it run.
    let paused = db.zart(&["queues", "pause", "slow"]).await;
    assert!(paused.ok().starts_with("paused queue slow"), "{paused:?}");
    let twice = db.zart(&["queues", "pause", "slow"]).await;
    assert!(twice.fails(4).contains("paused already"), "{twice:?}");
    let listed = db.zart(&["queues", "list", "--json"]).await.json();
    let slow = listed["queues"]
        .as_array()
        .and_then(|all| all.iter().find(|q| q["queue"] == "slow"))
        .cloned()
        .expect("the slow queue is listed");
    assert!(slow["paused_at"].is_string(), "{slow}");
    let next = format!("hold-{}", support::unique());
    db.zart
        .tasks()
        .schedule_now(&next, "hold", json!({}))
        .await
        .expect("scheduled");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        status(&db.zart, &next).await,
        Some(TaskStatus::Pending),
        "held back"
    );
    let resumed = db
        .zart(&["queues", "resume", "slow", "--json"])
        .await
        .json();
    assert_eq!(resumed["action"], "resumed");
    wait_for_status(&db.zart, &next, TaskStatus::Running).await;
    release(&next);
    wait_for_status(&db.zart, &next, TaskStatus::Completed).await;

    // Limits set here hold over the declared ones until reset.
    let limited = db
        .zart(&[
            "queues",
            "limit",
            "slow",
            "--global",
            "2",
            "--per-key",
            "tenant=1",
            "--rate",
            "10/1s",
        ])
        .await;
    assert!(
        limited
            .ok()
            .contains("2 at once · 1 per tenant · 10 per 1 s"),
        "{limited:?}"
    );
    let listed = db.zart(&["queues", "--json"]).await.json();
    let slow = listed["queues"]
        .as_array()
        .and_then(|all| all.iter().find(|q| q["queue"] == "slow"))
        .cloned()
        .expect("the slow queue is listed");
    assert_eq!(slow["limits"]["global"], 2, "{slow}");
    assert_eq!(slow["limits"]["rate"]["period_ms"], 1000, "{slow}");
    assert!(slow["overridden_at"].is_string(), "{slow}");
    let table = db.zart(&["queues"]).await;
    assert!(table.ok().contains("(set)"), "{table:?}");
    let zero = db.zart(&["queues", "limit", "slow", "--global", "0"]).await;
    assert!(zero.fails(2).contains("at least 1"), "{zero:?}");
    let bad_rate = db.zart(&["queues", "limit", "slow", "--rate", "10"]).await;
    assert!(bad_rate.fails(2).contains("N/PERIOD"), "{bad_rate:?}");
    let reset = db.zart(&["queues", "reset", "slow"]).await;
    assert!(reset.ok().contains("declared limits again"), "{reset:?}");
    let again = db.zart(&["queues", "reset", "slow"]).await;
    assert!(again.fails(4).contains("no limits set"), "{again:?}");

    worker.shutdown().await.expect("clean stop");
    let gone = db.zart(&["workers"]).await;
    assert_eq!(gone.ok(), "no live workers\n");
}

/// A mistyped queue is not paused or limited for good while the one meant runs on: it is
/// not found (exit 3), and the message lists the queues there are.
async fn a_queue_the_store_does_not_know_is_not_found(db: &Db) {
    // The worker declares its queues: default and slow.
    let worker = start_worker(&db.zart, "cli-w5").await;
    eventually("the worker's queues to be declared", || async {
        let names = db
            .zart
            .inspector()
            .queue_names()
            .await
            .expect("queues read");
        names.contains(&"slow".to_owned()).then_some(())
    })
    .await;
    for action in [
        &["pause", "slwo"][..],
        &["resume", "slwo"],
        &["limit", "slwo", "--global", "2"],
        &["reset", "slwo"],
    ] {
        let mut args = vec!["queues"];
        args.extend(action);
        let out = db.zart(&args).await;
        let said = out.fails(3);
        assert!(
            said.contains("\"slwo\"") && said.contains("default, slow"),
            "{out:?}"
        );
    }
    let listed = db.zart(&["queues", "--json"]).await.json();
    let names: Vec<&str> = listed["queues"]
        .as_array()
        .map(|all| all.iter().filter_map(|q| q["queue"].as_str()).collect())
        .unwrap_or_default();
    assert!(!names.contains(&"slwo"), "nothing stored for it: {listed}");
    // A declared queue, and one that has controls, are known.
    db.zart(&["queues", "pause", "slow"]).await.ok();
    db.zart(&["queues", "resume", "slow"]).await.ok();
    db.zart
        .pause_queue("later")
        .await
        .expect("paused through the API");
    db.zart(&["queues", "resume", "later"]).await.ok();
    worker.shutdown().await.expect("clean stop");
}

async fn an_execution_shows_its_steps_and_takes_events(db: &Db) {
    let worker = start_worker(&db.zart, "cli-w3").await;
    checkout::start(
        &db.zart,
        "order-9",
        json!({ "id": 9, "items": 2, "declines": 2 }),
    )
    .await
    .expect("started");
    let zart = &db.zart;
    wait_for_status(zart, "order-9", TaskStatus::AwaitingEvent).await;

    // Listed, and found, as awaiting its event, with the event's name.
    let listed = db
        .zart(&["tasks", "list", "--status", "awaiting_event"])
        .await;
    let text = listed.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("STATUS          WAITING ON"), "{text}");
    assert!(
        lines.len() == 2 && lines[1].contains("awaiting_event  event approved"),
        "{text}"
    );
    let json = db
        .zart(&["tasks", "list", "--status", "awaiting_event", "--json"])
        .await
        .json();
    assert_eq!(json["tasks"][0]["task_id"], "order-9", "{json}");
    assert_eq!(json["tasks"][0]["status"], "awaiting_event");
    assert_eq!(json["tasks"][0]["waiting_on"]["kind"], "event");
    assert_eq!(json["tasks"][0]["waiting_on"]["name"], "approved");
    assert!(json["tasks"][0]["waiting_on"]["deadline"].is_string());
    for other in ["pending", "waiting", "sleeping", "awaiting_child"] {
        let none = db.zart(&["tasks", "list", "--status", other]).await;
        assert!(!none.ok().contains("order-9"), "{other}: {none:?}");
    }

    let shown = db.zart(&["executions", "show", "order-9"]).await;
    let text = shown.ok();
    assert!(
        text.starts_with("durable execution order-9 (checkout): awaiting_event\n"),
        "{text}"
    );
    let steps_at = text.find("\nsteps\n").expect("a step timeline");
    let record_at = text.find("\nid ").expect("the record");
    assert!(steps_at < record_at, "steps first: {text}");
    for expected in [
        "reserve",
        "charge",
        "event-deadline:approved",
        "waiting on: event \"approved\"",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    // The charge's failed attempts, in order, on the lines under its own.
    let lines: Vec<&str> = text.lines().collect();
    let charge = lines
        .iter()
        .position(|line| line.starts_with("1 ") && line.contains("charge"))
        .unwrap_or_else(|| panic!("a charge line in {text}"));
    for (n, line) in (1..=2).zip(&lines[charge + 1..]) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            words[..4],
            ["-", "attempt", &n.to_string(), "failed"],
            "attempt {n} under the charge: {text}"
        );
        assert!(
            line.ends_with("card declined: insufficient funds"),
            "{line}"
        );
    }
    assert!(
        lines[charge + 3].starts_with("2 "),
        "the next step after two failed attempts: {text}"
    );
    let json = db
        .zart(&["executions", "show", "order-9", "--json"])
        .await
        .json();
    assert_eq!(json["kind"], "durable");
    assert_eq!(json["steps"][1]["name"], "charge");
    assert_eq!(json["steps"][1]["result"], "pay-9");
    assert_eq!(json["steps"][1]["attempts"], 3);
    assert_eq!(json["steps"][0]["failed_attempts"], json!([]));
    let failed = json["steps"][1]["failed_attempts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(failed.len(), 2, "{json}");
    let mut previous_end = None;
    for (n, attempt) in (1..).zip(&failed) {
        assert_eq!(attempt["attempt"], n, "{attempt}");
        assert_eq!(
            attempt["error"], "card declined:\ninsufficient funds",
            "{attempt}"
        );
        let instant = |field: &str| {
            attempt[field]
                .as_str()
                .and_then(|t| t.parse::<chrono::DateTime<Utc>>().ok())
                .unwrap_or_else(|| panic!("{field} of {attempt}"))
        };
        let (started, ended) = (instant("started_at"), instant("finished_at"));
        assert!(started <= ended && previous_end <= Some(started), "{json}");
        assert!(attempt["duration_ms"].is_i64(), "{attempt}");
        previous_end = Some(ended);
    }
    assert_eq!(json["waiting_on"]["kind"], "event");

    let bad = db
        .zart(&[
            "events",
            "send",
            "order-9",
            "approved",
            "--payload",
            "{by: ada}",
        ])
        .await;
    assert!(
        bad.fails(2).contains("invalid JSON in --payload"),
        "{bad:?}"
    );
    db.zart(&["events", "send", "order-0", "approved"])
        .await
        .fails(3);
    let sent = db
        .zart(&[
            "events",
            "send",
            "order-9",
            "approved",
            "--payload",
            r#"{"by":"ada"}"#,
            "--json",
        ])
        .await
        .json();
    assert_eq!(sent["woke"], true);
    wait_for_status(zart, "order-9", TaskStatus::Completed).await;
    worker.shutdown().await.expect("clean stop");

    let done = db
        .zart(&["tasks", "show", "order-9", "--json"])
        .await
        .json();
    assert_eq!(done["events"][0]["payload"], json!({ "by": "ada" }));
    assert_eq!(done["task"]["result"]["approval"], json!({ "by": "ada" }));
    assert_eq!(done["waiting_on"], Value::Null);
}

async fn schedules_are_listed_shown_and_steered(db: &Db) {
    let worker = start_worker(&db.zart, "cli-w4").await;
    let zart = &db.zart;
    let state = || async {
        let info = zart
            .inspector()
            .schedule("hourly-report")
            .await
            .expect("reads");
        info.map(|i| i.state)
    };
    eventually("the schedule to be registered", || async { state().await }).await;

    let list = db.zart(&["schedules", "list"]).await;
    let text = list.ok();
    assert!(text.starts_with("ID"), "{text}");
    assert!(
        text.contains("hourly-report  report  active  every hour"),
        "{text}"
    );
    let shown = db.zart(&["schedules", "show", "hourly-report"]).await;
    let text = shown.ok();
    assert!(text.contains("next slots\n"), "{text}");
    assert!(text.contains("overlap        skip_if_running"), "{text}");
    let json = db
        .zart(&["schedules", "show", "hourly-report", "--json"])
        .await
        .json();
    assert_eq!(json["upcoming"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        json["schedule"]["schedule"],
        json!({ "kind": "interval", "every_ms": 3_600_000 })
    );
    db.zart(&["schedules", "show", "nope"]).await.fails(3);

    db.zart(&["schedules", "pause", "hourly-report"]).await.ok();
    assert_eq!(state().await, Some(ScheduleState::Paused));
    let again = db.zart(&["schedules", "pause", "hourly-report"]).await;
    assert!(again.fails(4).contains("is paused"), "{again:?}");
    db.zart(&["schedules", "trigger", "hourly-report"])
        .await
        .fails(4);
    db.zart(&["schedules", "resume", "hourly-report"])
        .await
        .ok();
    assert_eq!(state().await, Some(ScheduleState::Active));

    db.zart(&["schedules", "trigger", "hourly-report"])
        .await
        .ok();
    let history = eventually("the triggered run", || async {
        let out = db
            .zart(&["schedules", "show", "hourly-report", "--json"])
            .await
            .json();
        let history = out["history"].as_array().cloned().unwrap_or_default();
        history
            .iter()
            .any(|r| r["reason"] == "manual")
            .then_some(history)
    })
    .await;
    assert_eq!(history[0]["decision"], "started");
    db.zart(&["schedules", "stop", "hourly-report"]).await.ok();
    assert_eq!(state().await, Some(ScheduleState::Stopped));
    worker.shutdown().await.expect("clean stop");
}

#[tokio::test]
async fn migrate_creates_a_sqlite_file_that_other_commands_refuse_to_invent() {
    let path = std::env::temp_dir().join(format!("zart-cli-{}.db", support::unique()));
    let url = format!("sqlite://{}", path.display());
    let zart = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--url".to_owned(), url.clone()]);
        run(all)
    };
    let refused = zart(&["tasks", "list"]).await;
    assert!(refused.fails(1).contains("zart migrate"), "{refused:?}");
    assert!(!path.exists());
    let migrated = zart(&["migrate"]).await;
    assert!(migrated.ok().starts_with("migrated: "), "{migrated:?}");
    assert_eq!(zart(&["tasks", "list"]).await.ok(), "no tasks\n");
    assert_eq!(zart(&["migrate", "--json"]).await.json()["migrated"], true);
    let schema = zart(&["queues", "--schema", "tenant"]).await;
    assert!(schema.fails(2).contains("--schema"), "{schema:?}");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_the_tables_in_a_postgres_schema() {
    let pool = support::pg_pool().await;
    let schema = format!("zt_cli_{}", support::unique());
    let args = |extra: &[&str]| {
        let mut all: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        all.extend([
            "--url".into(),
            support::database_url(),
            "--schema".into(),
            schema.clone(),
        ]);
        all
    };
    let migrated = run(args(&["migrate", "--prefix", "app_"])).await;
    assert!(
        migrated
            .ok()
            .contains(&format!("schema \"{schema}\", prefix \"app_\"")),
        "{migrated:?}"
    );
    let sql = format!(
        "SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename = 'app_tasks'"
    );
    let (tables,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_one(&pool)
        .await
        .expect("pg_tables reads");
    assert_eq!(tables, 1);
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(&pool)
    .await;
}

/// A prefix keeps a second set of tables apart, on both drivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_names_another_set_of_tables() {
    for db in [
        Db::sqlite_with_prefix(Some("app_")).await,
        Db::postgres_with_prefix(Some("app_")).await,
    ] {
        db.zart
            .tasks()
            .schedule_now("p-1", "job", json!({}))
            .await
            .expect("scheduled");
        let listed = db.zart(&["tasks", "list", "--json"]).await.json();
        assert_eq!(ids(&listed["tasks"]), ["p-1"]);
        let mut default_names = db.args.clone();
        default_names.truncate(default_names.len() - 2);
        default_names.splice(0..0, ["tasks".to_owned(), "list".to_owned()]);
        // The default prefix's tables are not there, and listing does not create them.
        let plain = run(default_names).await;
        assert!(plain.fails(1).contains("prefix \"zart_\""), "{plain:?}");
        db.cleanup().await;
    }
}

/// Only `zart migrate` creates tables: every other command, reading or acting, refuses
/// tables that are not there (a mistyped prefix or schema) and says where it looked and to
/// migrate; and tables older than the binary, saying to upgrade them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_migrate_creates_tables_the_other_commands_say_to_run_it() {
    for db in [Db::postgres().await, Db::sqlite().await] {
        let mut other = db.args.clone();
        other.extend(["--prefix".to_owned(), "other_".to_owned()]);
        let with = |command: &[&str]| {
            let mut all: Vec<String> = command.iter().map(|a| a.to_string()).collect();
            all.extend(other.iter().cloned());
            all
        };
        for command in [
            &["tasks", "list"][..],
            &["queues"],
            &["workers"],
            &["schedules", "list"],
            &["tasks", "cancel", "t-1"],
            &["queues", "pause", "default"],
        ] {
            let out = run(with(command)).await;
            let said = out.fails(1);
            assert!(
                said.contains("zart migrate") && said.contains("prefix \"other_\""),
                "{command:?}: {out:?}"
            );
            if let support::Place::Postgres { schema, .. } = &db.place {
                assert!(said.contains(schema.as_str()), "names the schema: {out:?}");
            }
        }
        assert_eq!(other_tables(&db).await, 0, "nothing was created");
        let migrated = run(with(&["migrate"])).await;
        assert!(migrated.ok().starts_with("migrated: "), "{migrated:?}");
        assert!(other_tables(&db).await > 0, "migrate creates them");
        assert_eq!(run(with(&["tasks", "list"])).await.ok(), "no tasks\n");

        // Tables an older zart created: upgraded by `migrate` only.
        let latest = match &db.place {
            support::Place::Postgres { schema, .. } => format!("\"{schema}\".other_migrations"),
            support::Place::Sqlite(_) => "other_migrations".to_owned(),
        };
        // (The latest migration's row is hidden, then put back: its SQL has run.)
        let flip = format!("UPDATE {latest} SET version = -version WHERE version = ");
        execute(&db, &format!("{flip}(SELECT max(version) FROM {latest})")).await;
        let older = run(with(&["tasks", "list"])).await;
        assert!(
            older.fails(1).contains("older than this zart")
                && older.stderr.contains("zart migrate"),
            "{older:?}"
        );
        execute(&db, &format!("{flip}(SELECT min(version) FROM {latest})")).await;
        assert_eq!(run(with(&["tasks", "list"])).await.ok(), "no tasks\n");
        db.cleanup().await;
    }
}

/// How many tables with the prefix `other_` the test's store holds.
async fn other_tables(db: &Db) -> i64 {
    match &db.place {
        support::Place::Postgres { pool, schema } => {
            let sql = format!(
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_schema = '{schema}' AND table_name LIKE 'other\\_%'"
            );
            let (count,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await
                .expect("information_schema reads");
            count
        }
        support::Place::Sqlite(path) => {
            let conn = zart::sqlite::rusqlite::Connection::open(path).expect("the file opens");
            conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'other\\_%' ESCAPE '\\'",
                [],
                |row| row.get(0),
            )
            .expect("sqlite_master reads")
        }
    }
}

/// Runs `sql` on the test's store, outside Zart.
async fn execute(db: &Db, sql: &str) {
    match &db.place {
        support::Place::Postgres { pool, .. } => {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(pool)
                .await
                .expect("the statement runs");
        }
        support::Place::Sqlite(path) => {
            let conn = zart::sqlite::rusqlite::Connection::open(path).expect("the file opens");
            conn.execute_batch(sql).expect("the statement runs");
        }
    }
}

#[tokio::test]
async fn a_database_that_does_not_exist_is_said_so_with_exit_1() {
    let url = support::database_url();
    let server = url
        .rsplit_once('/')
        .map_or(url.as_str(), |(server, _)| server);
    let args = [
        "tasks",
        "list",
        "--url",
        &format!("{server}/zart_no_such_db"),
    ]
    .map(str::to_owned)
    .to_vec();
    let out = run(args).await;
    let said = out.fails(1);
    assert!(
        said.contains("database \"zart_no_such_db\" does not exist") && said.contains("createdb"),
        "{out:?}"
    );
    assert!(
        !said.contains("invalid") && !said.contains(" at line "),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_sqlite_file_in_a_folder_that_does_not_exist_names_the_folder() {
    let folder = std::env::temp_dir().join(format!("zart-cli-no-folder-{}", support::unique()));
    let url = format!("sqlite://{}", folder.join("app.db").display());
    let out = run(vec!["migrate".into(), "--url".into(), url]).await;
    let said = out.fails(1);
    assert!(
        said.contains(&format!("the folder {} does not exist", folder.display())),
        "{out:?}"
    );
    assert!(!said.contains("transient"), "{out:?}");
    assert!(!folder.exists());
}

#[tokio::test]
async fn an_unreachable_server_is_one_line_and_exit_1() {
    let args = ["workers", "--url", "postgres://postgres@127.0.0.1:1/none"];
    let out = run(args.iter().map(|a| a.to_string()).collect()).await;
    assert!(
        out.fails(1)
            .contains("cannot connect to PostgreSQL at 127.0.0.1:1"),
        "{out:?}"
    );
}

#[tokio::test]
async fn completions_print_a_script() {
    let out = run(vec!["completions".into(), "bash".into()]).await;
    let script = out.ok();
    assert!(
        script.contains("_zart()") && script.contains("complete -F"),
        "{script}"
    );
    let zsh = run(vec!["completions".into(), "zsh".into()]).await;
    assert!(zsh.ok().starts_with("#compdef zart"));
}

/// `zart serve` as a process: it prints where it listens and the link with its token;
/// a request with the token is answered, one without is refused.
async fn serve_answers_with_its_token_only(db: Db) {
    use std::io::{Read, Write};
    db.zart
        .tasks()
        .schedule_now("served-1", "job", json!({}))
        .await
        .expect("scheduled");
    let served = db.serve(&[]).await;
    let (address, token) = (served.address.clone(), served.token.clone());
    let get = |auth: Option<String>| {
        let address = address.clone();
        move || -> String {
            let mut stream = std::net::TcpStream::connect(&address).expect("connects");
            let auth = auth
                .map(|t| format!("Authorization: Bearer {t}\r\n"))
                .unwrap_or_default();
            write!(
                stream,
                "GET /api/v1/tasks HTTP/1.1\r\nHost: {address}\r\n{auth}Connection: close\r\n\r\n"
            )
            .expect("writes");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).expect("reads");
            answer
        }
    };
    let with = tokio::task::spawn_blocking(get(Some(token)))
        .await
        .expect("joined");
    let without = tokio::task::spawn_blocking(get(None))
        .await
        .expect("joined");
    drop(served);
    assert!(with.starts_with("HTTP/1.1 200"), "{with}");
    assert!(with.contains("served-1"), "{with}");
    assert!(without.starts_with("HTTP/1.1 401"), "{without}");
    assert!(address.starts_with("127.0.0.1:"), "loopback by default");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_with_its_token_only_sqlite() {
    serve_answers_with_its_token_only(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_with_its_token_only_postgres() {
    serve_answers_with_its_token_only(Db::postgres().await).await;
}

/// `zart serve` keeps answering while browsers hold the live-update stream open: the
/// stream's listeners have a connection of their own, never one of the two the command's
/// pool has for the requests.
async fn serve_keeps_answering_while_its_stream_is_open(db: Db) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;

    db.zart
        .tasks()
        .schedule_now("served-2", "job", json!({}))
        .await
        .expect("scheduled");
    let served = db.serve(&[]).await;
    let (address, token) = (served.address.clone(), served.token.clone());
    let answers = tokio::task::spawn_blocking(move || {
        let send = |path: &str, close: bool| {
            let mut stream = TcpStream::connect(&address).expect("connects");
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .expect("a read timeout");
            let connection = if close { "close" } else { "keep-alive" };
            write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
                 Connection: {connection}\r\n\r\n"
            )
            .expect("writes");
            stream
        };
        // Each answer: the path, its status line and how long it took.
        let get = |path: &str| {
            let started = Instant::now();
            let mut answer = String::new();
            let _ = send(path, true).read_to_string(&mut answer);
            let status = answer.lines().next().unwrap_or_default().to_owned();
            (path.to_owned(), status, started.elapsed())
        };
        let stream = |path: &str| {
            let mut reader = BufReader::new(send(path, false));
            let mut status = String::new();
            let _ = reader.read_line(&mut status);
            (reader, status)
        };
        let mut answers = vec![get("/api/v1/tasks")];
        let (first, status) = stream("/api/v1/stream");
        answers.push(("/api/v1/stream".to_owned(), status, Duration::ZERO));
        std::thread::sleep(Duration::from_secs(3));
        answers.push(get("/api/v1/tasks"));
        // A second page open, with its own stream, while requests go on.
        let (second, status) = stream("/api/v1/stream");
        answers.push(("/api/v1/stream".to_owned(), status, Duration::ZERO));
        for path in [
            "/api/v1/overview",
            "/api/v1/tasks/served-2",
            "/api/v1/queues",
            "/api/v1/workers",
            "/api/v1/schedules",
            "/",
            "/tasks",
            "/tasks/served-2",
            "/queues",
            "/workers",
            "/schedules",
        ] {
            answers.push(get(path));
        }
        std::thread::sleep(Duration::from_secs(2));
        answers.push(get("/api/v1/tasks"));
        drop((first, second));
        answers.push(get("/api/v1/tasks"));
        answers
    })
    .await;
    drop(served);
    let answers = answers.expect("the requests ran");
    for (path, status, took) in &answers {
        assert!(status.starts_with("HTTP/1.1 200"), "{path}: {status:?}");
        // The pool's acquire timeout is 10 s: a request stuck behind the listeners took
        // that long, then failed.
        assert!(*took < Duration::from_secs(5), "{path} took {took:?}");
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_keeps_answering_while_its_stream_is_open_sqlite() {
    serve_keeps_answering_while_its_stream_is_open(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_keeps_answering_while_its_stream_is_open_postgres() {
    serve_keeps_answering_while_its_stream_is_open(Db::postgres().await).await;
}
