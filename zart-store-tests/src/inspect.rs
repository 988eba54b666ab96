//! Inspection: [`task`](zart_core::store::InspectStore::task),
//! [`tasks`](zart_core::store::InspectStore::tasks) with its filters and pages,
//! [`count`](zart_core::store::InspectStore::count),
//! [`counts`](zart_core::store::InspectStore::counts),
//! [`load`](zart_core::store::InspectStore::load),
//! [`ended_per_minute`](zart_core::store::InspectStore::ended_per_minute), an execution's
//! [`events`](zart_core::store::StepStore::events) and the list of
//! [`schedules`](zart_core::store::ScheduleStore::schedules).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use zart_core::queue::OutcomeKind;
use zart_core::schedules::ScheduleState;
use zart_core::store::Store;
use zart_core::task::{NewTask, ScheduleAtParams, TaskFilter, TaskRecord, TaskStatus};

use crate::support::*;

/// A task reads back whole after it ran; an unknown id reads as `None`.
pub async fn a_task_reads_back_its_whole_record(store: Arc<dyn Store>) {
    let given = task_at("t", "job", secs_from_now(-20));
    insert(&store, std::slice::from_ref(&given)).await;
    let claimed = claim_id(&store, "w", "t", &only(&["job"]), LEASE).await;
    let retry = OutcomeKind::Retry {
        error: "first".into(),
        run_at: secs_from_now(-1),
    };
    finish_ok(&store, &claimed.lease, retry).await;
    let claimed = claim_id(&store, "w2", "t", &only(&["job"]), LEASE).await;
    finish_ok(
        &store,
        &claimed.lease,
        OutcomeKind::Completed {
            result: Some(json!([1, 2])),
        },
    )
    .await;

    let stored = record(&store, "t").await;
    assert_eq!(stored.task_id, "t");
    assert_eq!(stored.task_name, "job");
    assert_eq!(stored.status, TaskStatus::Completed);
    assert_eq!(stored.data, given.data);
    assert_eq!(stored.metadata, given.metadata);
    assert_eq!(
        (stored.attempts, stored.rescues),
        (2, 0),
        "two attempts, no rescue"
    );
    assert_eq!(
        (&stored.worker_id, stored.lease_expires_at),
        (&None, None),
        "no lease"
    );
    assert_eq!(
        stored.last_worker_id.as_deref(),
        Some("w2"),
        "the last claimer"
    );
    assert_eq!(stored.result, Some(json!([1, 2])));
    assert_eq!(
        stored.created_at, claimed.created_at,
        "the creation instant"
    );
    let (started, finished) = (
        stored.started_at.expect("it started"),
        stored.finished_at.expect("it ended"),
    );
    assert!(
        stored.created_at <= started && started <= finished,
        "life in order: {stored:?}"
    );
    assert_eq!(
        store.task("unknown").await.expect("task() succeeds"),
        None,
        "unknown id"
    );
}

/// Listings come newest first, filtered by name and status, at most `limit`,
/// without ticks; counts agree.
pub async fn listings_are_newest_first_filtered_and_without_ticks(store: Arc<dyn Store>) {
    schedule_with_tick(&store, "s", &tick(TaskStatus::Pending, later(), false)).await;
    // Separate inserts, apart in time, so that creation instants differ on any store clock.
    for (id, name) in [("a", "mail"), ("b", "sms"), ("c", "mail"), ("d", "mail")] {
        add(&store, id, name).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let lease = claim_id(&store, "w", "b", &only(&["sms"]), LEASE)
        .await
        .lease;
    finish_ok(&store, &lease, OutcomeKind::Failed { error: "x".into() }).await;
    let lease = claim_id(&store, "w", "a", &only(&["mail"]), LEASE)
        .await
        .lease;
    finish_ok(&store, &lease, OutcomeKind::Failed { error: "y".into() }).await;

    let list = |filter: TaskFilter, limit: usize| {
        let store = store.clone();
        async move {
            let tasks = store.tasks(&filter, limit).await.expect("tasks() succeeds");
            let count = store.count(&filter).await.expect("count succeeds");
            (
                tasks.into_iter().map(|t| t.task_id).collect::<Vec<_>>(),
                count,
            )
        }
    };
    assert_eq!(
        list(TaskFilter::default(), 10).await,
        (ids(&["d", "c", "b", "a"]), 4),
        "all"
    );
    assert_eq!(
        list(TaskFilter::default(), 2).await,
        (ids(&["d", "c"]), 4),
        "limited"
    );
    let mail = TaskFilter::default().name("mail");
    assert_eq!(
        list(mail.clone(), 10).await,
        (ids(&["d", "c", "a"]), 3),
        "by name"
    );
    let failed = TaskFilter::default().status(TaskStatus::Failed);
    assert_eq!(list(failed, 10).await, (ids(&["b", "a"]), 2), "by status");
    let both = mail.status(TaskStatus::Pending);
    assert_eq!(
        list(both, 10).await,
        (ids(&["d", "c"]), 2),
        "by name and status"
    );
    let ticks = TaskFilter::default().name(zart_core::schedules::TICK_TASK);
    assert_eq!(list(ticks, 10).await, (vec![], 0), "ticks are never listed");
}

/// Tasks created together are listed by id, descending.
pub async fn listings_order_tasks_created_together_by_id(store: Arc<dyn Store>) {
    insert(
        &store,
        &[task("m", "job"), task("k", "job"), task("z", "job")],
    )
    .await;
    let tasks = store
        .tasks(&TaskFilter::default(), 10)
        .await
        .expect("tasks() succeeds");
    for pair in tasks.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.created_at > b.created_at || (a.created_at == b.created_at && a.task_id > b.task_id),
            "newest first, then by id descending: {} ({}) before {} ({})",
            a.task_id,
            a.created_at,
            b.task_id,
            b.created_at
        );
    }
    assert_eq!(tasks.len(), 3);
}

/// Following each page's cursor lists every task once, in order, even across tasks
/// created in one statement; a count ignores the cursor.
pub async fn pages_follow_the_cursor_through_every_task_once(store: Arc<dyn Store>) {
    let first: Vec<_> = (0..12).map(|i| task(&format!("a{i:02}"), "job")).collect();
    insert(&store, &first).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second: Vec<_> = (0..9).map(|i| task(&format!("b{i:02}"), "job")).collect();
    insert(&store, &second).await;

    let mut seen: Vec<TaskRecord> = Vec::new();
    let mut filter = TaskFilter::default();
    loop {
        let page = store.tasks(&filter, 5).await.expect("tasks() succeeds");
        assert!(page.len() <= 5, "a page holds at most its limit");
        let Some(last) = page.last() else { break };
        filter = TaskFilter::default().after(last.cursor());
        seen.extend(page);
    }
    assert_eq!(seen.len(), 21, "every task, once: {:?}", ids_of(&seen));
    for pair in seen.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            (a.created_at, &a.task_id) > (b.created_at, &b.task_id),
            "pages keep the order: {} before {}",
            a.task_id,
            b.task_id
        );
    }
    assert!(
        seen[..9].iter().all(|t| t.task_id.starts_with('b')),
        "the newer statement first"
    );
    assert_eq!(
        store.count(&filter).await.expect("count"),
        21,
        "counts ignore the cursor"
    );
}

/// Filters take an exact id prefix (wildcard characters and case included), a set of
/// names or of names to leave out, a creation range, an execution's children and a worker's held tasks, each alone
/// and together.
pub async fn filters_take_prefixes_name_sets_ranges_children_and_holders(store: Arc<dyn Store>) {
    for id in ["a%1", "ab1", "a_2", "A%3", "x"] {
        add(&store, id, "job").await;
    }
    add(&store, "mail-1", "mail").await;
    add(&store, "sms-1", "sms").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    add(&store, "parent", "flow").await;
    let child = ScheduleAtParams::now("child-1", "step", json!(null));
    assert!(store
        .start_child("parent", &NewTask::from(child.clone()))
        .await
        .expect("start_child"));
    add(&store, "held", "held").await;
    claim_id(&store, "w1", "held", &only(&["held"]), LEASE).await;

    let listed = |filter: TaskFilter| {
        let store = store.clone();
        async move {
            let tasks = store.tasks(&filter, 100).await.expect("tasks() succeeds");
            let count = store.count(&filter).await.expect("count succeeds");
            let mut ids = ids_of(&tasks);
            ids.sort();
            assert_eq!(count, ids.len() as u64, "count agrees with {filter:?}");
            ids
        }
    };
    assert_eq!(
        listed(TaskFilter::default().id_prefix("a%")).await,
        ids(&["a%1"])
    );
    assert_eq!(
        listed(TaskFilter::default().id_prefix("a_")).await,
        ids(&["a_2"])
    );
    assert_eq!(
        listed(TaskFilter::default().id_prefix("a")).await,
        ids(&["a%1", "a_2", "ab1"]),
        "case counts"
    );
    assert_eq!(
        listed(TaskFilter::default().names(["mail", "sms"])).await,
        ids(&["mail-1", "sms-1"])
    );
    assert_eq!(
        listed(TaskFilter::default().names(Vec::<String>::new())).await,
        ids(&[]),
        "an empty name set takes none"
    );
    assert_eq!(
        listed(TaskFilter::default().exclude_names(["job", "flow", "step", "held"])).await,
        ids(&["mail-1", "sms-1"]),
        "every other name"
    );
    assert_eq!(
        listed(TaskFilter::default().exclude_names(Vec::<String>::new()))
            .await
            .len(),
        10,
        "excluding no name takes every task"
    );
    let parent_created = record(&store, "parent").await.created_at;
    assert_eq!(
        listed(TaskFilter::default().created_between(Some(parent_created), None)).await,
        ids(&["child-1", "held", "parent"]),
        "created since"
    );
    let before = listed(TaskFilter::default().created_between(None, Some(parent_created))).await;
    assert_eq!(before.len(), 7, "created before: {before:?}");
    assert!(
        !before.contains(&"parent".to_owned()),
        "the bound is exclusive"
    );
    assert_eq!(
        listed(TaskFilter::default().parent("parent")).await,
        ids(&["child-1"])
    );
    assert_eq!(
        listed(TaskFilter::default().held_by("w1")).await,
        ids(&["held"])
    );
    assert_eq!(listed(TaskFilter::default().held_by("w2")).await, ids(&[]));
    let together = TaskFilter::default()
        .names(["job", "mail"])
        .id_prefix("a")
        .status(TaskStatus::Pending);
    assert_eq!(listed(together).await, ids(&["a%1", "a_2", "ab1"]));
    let child = record(&store, "child-1").await;
    assert_eq!(
        child.parent_id.as_deref(),
        Some("parent"),
        "the record names its parent"
    );
}

/// Counts by name and status leave out ticks and give the oldest due instant of each.
pub async fn counts_group_by_name_and_status_with_the_oldest_due(store: Arc<dyn Store>) {
    schedule_with_tick(
        &store,
        "s",
        &tick(TaskStatus::Pending, secs_from_now(-5), false),
    )
    .await;
    let oldest = secs_from_now(-30);
    insert(
        &store,
        &[
            task_at("j1", "job", oldest),
            task_at("j2", "job", secs_from_now(-10)),
            task_at("j3", "job", later()),
            task("m1", "mail"),
        ],
    )
    .await;
    let lease = claim_id(&store, "w", "m1", &only(&["mail"]), LEASE)
        .await
        .lease;
    finish_ok(&store, &lease, OutcomeKind::Failed { error: "x".into() }).await;

    let mut counts = store.counts().await.expect("counts() succeeds");
    counts.sort_by(|a, b| a.task_name.cmp(&b.task_name));
    let summary: Vec<_> = counts
        .iter()
        .map(|c| (c.task_name.as_str(), c.status, c.count))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("job", TaskStatus::Pending, 3),
            ("mail", TaskStatus::Failed, 1)
        ],
        "no tick among them"
    );
    assert_eq!(
        counts[0].oldest_due,
        Some(oldest),
        "the oldest due, not the future one"
    );
}

/// The load of each name counts its due pending tasks (not the future ones) and its
/// running ones, with the oldest due instant; ended tasks and ticks are left out.
pub async fn the_load_counts_due_and_running_tasks_by_name(store: Arc<dyn Store>) {
    schedule_with_tick(
        &store,
        "s",
        &tick(TaskStatus::Pending, secs_from_now(-5), false),
    )
    .await;
    let oldest = secs_from_now(-20);
    insert(
        &store,
        &[
            task_at("j1", "job", secs_from_now(-30)),
            task_at("j2", "job", secs_from_now(-10)),
            task_at("j3", "job", later()),
            task_at("j4", "job", oldest),
            task_at("m1", "mail", secs_from_now(-3)),
            task_at("m2", "mail", secs_from_now(-2)),
            task_at("f1", "future", later()),
        ],
    )
    .await;
    // The oldest is claimed: the oldest still due is the next one.
    claim_id(&store, "w", "j1", &only(&["job"]), LEASE).await;
    claim_id(&store, "w", "m1", &only(&["mail"]), LEASE).await;
    let lease = claim_id(&store, "w", "m2", &only(&["mail"]), LEASE)
        .await
        .lease;
    finish_ok(&store, &lease, OutcomeKind::Completed { result: None }).await;

    let mut load = store.load().await.expect("load() succeeds");
    load.sort_by(|a, b| a.task_name.cmp(&b.task_name));
    let summary: Vec<_> = load
        .iter()
        .map(|l| (l.task_name.as_str(), l.due, l.running))
        .collect();
    assert_eq!(
        summary,
        vec![("job", 2, 1), ("mail", 0, 1)],
        "due and running only: no future, ended or tick task"
    );
    assert_eq!(load[0].oldest_due, Some(oldest), "the oldest due instant");
    assert_eq!(load[1].oldest_due, None, "nothing of it is due");
}

/// Ended tasks are counted per minute and status since an instant.
pub async fn ended_tasks_are_counted_per_minute_and_status(store: Arc<dyn Store>) {
    for (id, kind) in [
        ("c1", OutcomeKind::Completed { result: None }),
        ("c2", OutcomeKind::Completed { result: None }),
        ("f1", OutcomeKind::Failed { error: "x".into() }),
    ] {
        let lease = running(&store, id, "job", "w").await;
        finish_ok(&store, &lease, kind).await;
    }
    add(&store, "still-pending", "job").await;
    let counted = store
        .ended_per_minute(secs_from_now(-3600))
        .await
        .expect("ended_per_minute() succeeds");
    let total = |status: TaskStatus| -> u64 {
        counted
            .iter()
            .filter(|c| c.status == status)
            .map(|c| c.count)
            .sum()
    };
    assert_eq!(total(TaskStatus::Completed), 2, "{counted:?}");
    assert_eq!(total(TaskStatus::Failed), 1, "{counted:?}");
    assert_eq!(
        counted.iter().map(|c| c.count).sum::<u64>(),
        3,
        "pending ones are not counted"
    );
    for count in &counted {
        assert_eq!(
            count.minute.timestamp() % 60,
            0,
            "a minute's start: {count:?}"
        );
        assert!(count.minute <= Utc::now() && count.minute > secs_from_now(-180));
    }
    let none = store
        .ended_per_minute(secs_from_now(60))
        .await
        .expect("succeeds");
    assert_eq!(none, vec![], "nothing ended after now");
}

/// An execution's events are listed oldest first, each with its payload.
pub async fn an_executions_events_are_listed_oldest_first(store: Arc<dyn Store>) {
    add(&store, "e", "flow").await;
    for (name, payload) in [
        ("paid", json!({"n": 1})),
        ("shipped", json!(2)),
        ("paid", json!(3)),
    ] {
        store
            .send_event("e", name, &payload)
            .await
            .expect("send_event");
    }
    let events = store.events("e").await.expect("events() succeeds");
    let listed: Vec<_> = events
        .iter()
        .map(|e| (e.name.as_str(), e.payload.clone()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("paid", json!({"n": 1})),
            ("shipped", json!(2)),
            ("paid", json!(3))
        ]
    );
    assert!(events
        .iter()
        .all(|e| (e.created_at - Utc::now()).num_seconds().abs() < 60));
    assert_eq!(store.events("unknown").await.expect("events()"), vec![]);
}

/// Every stored schedule is listed, by id, whole.
pub async fn every_schedule_is_listed_by_id(store: Arc<dyn Store>) {
    let mut uow = begin(&store).await;
    for id in ["nightly", "hourly"] {
        let stored = uow
            .insert_schedule(&recurring(id), ScheduleState::Active, Some(later()))
            .await
            .expect("insert_schedule succeeds");
        assert!(stored);
    }
    commit(uow).await;
    let listed = store.schedules().await.expect("schedules() succeeds");
    let ids: Vec<_> = listed.iter().map(|s| s.task.schedule_id.as_str()).collect();
    assert_eq!(ids, vec!["hourly", "nightly"]);
    assert_eq!(listed[0].task, recurring("hourly"), "the whole declaration");
    assert_eq!(listed[0].state, ScheduleState::Active);
}

/// Each failed attempt is recorded: a retry and a failure with their numbers, workers,
/// starts and errors, an expired lease with its rescue's error; a completion records none.
/// A rerun keeps them; one that forgets the task's record deletes them.
pub async fn failed_attempts_are_recorded_with_their_errors(store: Arc<dyn Store>) {
    add(&store, "t", "job").await;
    let first = claim_id(&store, "w1", "t", &only(&["job"]), LEASE).await;
    let retry = OutcomeKind::Retry {
        error: "first".into(),
        run_at: secs_from_now(-1),
    };
    finish_ok(&store, &first.lease, retry).await;
    let second = claim_id(&store, "w2", "t", &only(&["job"]), LEASE).await;
    let failed = OutcomeKind::Failed {
        error: "second".into(),
    };
    finish_ok(&store, &second.lease, failed).await;
    let attempts = store.attempts("t").await.expect("attempts() succeeds");
    let summary: Vec<_> = attempts
        .iter()
        .map(|a| (a.attempt, a.worker_id.as_deref(), a.error.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![(1, Some("w1"), "first"), (2, Some("w2"), "second")]
    );
    for attempt in &attempts {
        let started = attempt.started_at.expect("an attempt has a start");
        assert!(started <= attempt.finished_at, "{attempt:?}");
        assert_recent(attempt.finished_at, "a failed attempt's end");
    }

    let done = running(&store, "ok", "other", "w").await;
    finish_ok(&store, &done, OutcomeKind::Completed { result: None }).await;
    assert_eq!(
        store.attempts("ok").await.expect("attempts"),
        vec![],
        "a completion"
    );

    expired(&store, "lost", "third", "w3").await;
    rescue(&store, 3).await;
    let lost = store.attempts("lost").await.expect("attempts");
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(
        (lost[0].attempt, lost[0].worker_id.as_deref()),
        (1, Some("w3"))
    );
    assert_eq!(
        Some(lost[0].error.clone()),
        record(&store, "lost").await.error
    );

    assert!(store.rerun("t", false).await.expect("rerun"));
    assert_eq!(
        store.attempts("t").await.expect("attempts").len(),
        2,
        "kept"
    );
    store.cancel_task("t").await.expect("cancel");
    assert!(store.rerun("t", true).await.expect("rerun"));
    assert_eq!(
        store.attempts("t").await.expect("attempts"),
        vec![],
        "forgotten"
    );
}

fn ids_of(tasks: &[TaskRecord]) -> Vec<String> {
    tasks.iter().map(|t| t.task_id.clone()).collect()
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}
