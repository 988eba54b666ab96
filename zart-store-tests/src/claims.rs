//! [`QueueStore::claim`](zart_core::store::QueueStore::claim): which tasks a claim takes, in
//! which order, with what.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;
use zart_core::queue::{ClaimScope, OutcomeKind};
use zart_core::schedules::{tick_id, TICK_TASK};
use zart_core::steps::StepOutcome;
use zart_core::store::Store;
use zart_core::task::TaskStatus;

use crate::support::*;

/// Only tasks whose due instant has come are claimed.
pub async fn a_claim_takes_only_due_tasks(store: Arc<dyn Store>) {
    let tasks = [task("due", "job"), task_at("future", "job", later())];
    insert(&store, &tasks).await;
    let claimed = claim(&store, "w", 10, LEASE, &ClaimScope::default()).await;
    let ids: Vec<_> = claimed.iter().map(|c| c.lease.task_id.as_str()).collect();
    assert_eq!(ids, vec!["due"], "only the due task is claimed");
    assert_status(&store, "future", TaskStatus::Pending).await;
}

/// The task due longest ago goes first, whatever the insertion order, and `limit` caps
/// each claim.
pub async fn a_claim_takes_the_oldest_due_tasks_first_up_to_its_limit(store: Arc<dyn Store>) {
    let tasks = [
        task_at("t-30", "job", secs_from_now(-30)),
        task_at("t-10", "job", secs_from_now(-10)),
        task_at("t-50", "job", secs_from_now(-50)),
        task_at("t-20", "job", secs_from_now(-20)),
        task_at("t-40", "job", secs_from_now(-40)),
    ];
    insert(&store, &tasks).await;
    let first = claim(&store, "w", 1, LEASE, &ClaimScope::default()).await;
    let first: Vec<_> = first.iter().map(|c| c.lease.task_id.clone()).collect();
    assert_eq!(
        first,
        vec!["t-50"],
        "a claim of one takes the oldest due task"
    );

    let next = claim(&store, "w", 2, LEASE, &ClaimScope::default()).await;
    let next: HashSet<_> = next.iter().map(|c| c.lease.task_id.clone()).collect();
    let expected: HashSet<_> = ["t-40".to_owned(), "t-30".to_owned()].into();
    assert_eq!(
        next, expected,
        "a claim of two takes the two oldest remaining"
    );

    let rest = claim(&store, "w", 10, LEASE, &ClaimScope::default()).await;
    let rest: HashSet<_> = rest.iter().map(|c| c.lease.task_id.clone()).collect();
    let expected: HashSet<_> = ["t-20".to_owned(), "t-10".to_owned()].into();
    assert_eq!(rest, expected, "a larger limit takes what remains");
}

/// `ClaimScope::names` restricts the names claimed; `None` claims every name and an empty
/// list none.
pub async fn a_claim_scope_restricts_the_names_claimed(store: Arc<dyn Store>) {
    insert(
        &store,
        &[task("a", "alpha"), task("b", "beta"), task("g", "gamma")],
    )
    .await;
    let none = claim(&store, "w", 10, LEASE, &only(&[])).await;
    assert!(
        none.is_empty(),
        "an empty name list claims nothing: {none:?}"
    );

    let betas = claim(&store, "w", 10, LEASE, &only(&["beta", "delta"])).await;
    let ids: Vec<_> = betas.iter().map(|c| c.lease.task_id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["b"],
        "only tasks of the names in scope are claimed"
    );
    assert_eq!(
        betas[0].task_name, "beta",
        "the claim says which handler runs it"
    );

    let rest = claim(&store, "w", 10, LEASE, &ClaimScope::default()).await;
    let ids: HashSet<_> = rest.iter().map(|c| c.lease.task_id.clone()).collect();
    assert_eq!(
        ids,
        ["a".to_owned(), "g".to_owned()].into(),
        "no name list claims every name"
    );
}

/// A claimed task comes with what was stored, and becomes running with its worker, its
/// lease and its start time.
pub async fn a_claimed_task_comes_with_its_record_and_becomes_running(store: Arc<dyn Store>) {
    let given = task_at("t", "job", secs_from_now(-5));
    insert(&store, std::slice::from_ref(&given)).await;
    let before = record(&store, "t").await;
    let claimed = claim_id(&store, "worker-7", "t", &only(&["job"]), LEASE).await;
    assert_eq!(claimed.task_name, "job");
    assert_eq!(claimed.data, given.data, "the claim brings the input");
    assert_eq!(
        claimed.metadata, given.metadata,
        "the claim brings the metadata"
    );
    assert_eq!(
        claimed.run_at, given.execution_time,
        "the claim brings the due instant"
    );
    assert_eq!(
        claimed.created_at, before.created_at,
        "the claim brings the creation instant"
    );
    assert_eq!(claimed.attempt, 1, "the first claim starts attempt 1");
    assert!(
        claimed.steps.is_none(),
        "a task not named durable comes without a step log"
    );

    let now = record(&store, "t").await;
    assert_eq!(now.status, TaskStatus::Running);
    assert_eq!(now.attempts, 1, "the claim counts one attempt");
    assert_eq!(
        now.worker_id.as_deref(),
        Some("worker-7"),
        "the worker holds it"
    );
    assert_eq!(
        now.last_worker_id.as_deref(),
        Some("worker-7"),
        "the last worker is the claimer"
    );
    assert_recent(
        now.started_at.expect("a claimed task has started"),
        "started_at",
    );
    let expires = now.lease_expires_at.expect("a running task has a lease");
    assert_recent(
        expires - chrono::TimeDelta::seconds(60),
        "the lease's expiry, less the lease",
    );
}

/// Attempts count from 1, one more per claim; every claim gives a token the task never had.
pub async fn each_claim_counts_an_attempt_and_gives_a_fresh_token(store: Arc<dyn Store>) {
    add(&store, "t", "job").await;
    let mut tokens = HashSet::new();
    for attempt in 1..=3 {
        let claimed = claim_id(&store, "w", "t", &only(&["job"]), LEASE).await;
        assert_eq!(
            claimed.attempt, attempt,
            "claim number {attempt} starts attempt {attempt}"
        );
        assert!(
            tokens.insert(claimed.lease.token),
            "claim number {attempt} gives a fresh token, not one of {tokens:?}"
        );
        let retry = OutcomeKind::Retry {
            error: format!("attempt {attempt} failed"),
            run_at: secs_from_now(-1),
        };
        finish_ok(&store, &claimed.lease, retry).await;
    }
    assert_eq!(
        record(&store, "t").await.attempts,
        3,
        "three attempts are counted"
    );
}

/// A running task is not claimed again while its lease holds.
pub async fn a_running_task_is_not_claimed_twice(store: Arc<dyn Store>) {
    add(&store, "t", "job").await;
    claim_id(&store, "w1", "t", &only(&["job"]), LEASE).await;
    let again = claim(&store, "w2", 10, LEASE, &ClaimScope::default()).await;
    assert!(
        again.is_empty(),
        "a running task is not claimed again: {again:?}"
    );
    let holder = record(&store, "t").await.worker_id;
    assert_eq!(
        holder.as_deref(),
        Some("w1"),
        "the first claimer still holds it"
    );
}

/// Two workers claiming at the same time over many tasks take each task exactly once.
pub async fn concurrent_claimers_take_each_task_exactly_once(store: Arc<dyn Store>) {
    const TASKS: usize = 60;
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| task(&format!("t{i:02}"), "job"))
        .collect();
    assert_eq!(insert(&store, &tasks).await.len(), TASKS);
    let start = Arc::new(tokio::sync::Barrier::new(2));
    let claimer = |worker: &'static str| {
        let (store, start) = (store.clone(), start.clone());
        tokio::spawn(async move {
            start.wait().await;
            let mut taken = Vec::new();
            loop {
                let claimed = claim(&store, worker, 3, LEASE, &ClaimScope::default()).await;
                if claimed.is_empty() {
                    return taken;
                }
                taken.extend(claimed.into_iter().map(|c| c.lease.task_id));
            }
        })
    };
    let (one, two) = (claimer("w1"), claimer("w2"));
    let one = one.await.expect("the first claimer does not panic");
    let two = two.await.expect("the second claimer does not panic");
    let mut all: Vec<_> = one.iter().chain(&two).cloned().collect();
    all.sort();
    let mut expected: Vec<_> = tasks.iter().map(|t| t.task_id.clone()).collect();
    expected.sort();
    assert_eq!(
        all, expected,
        "every task is claimed exactly once (w1: {one:?}, w2: {two:?})"
    );
}

/// A durable execution comes with its step log, in order (empty if it has none); a task of
/// another name claimed at the same time comes without one.
pub async fn a_durable_claim_brings_the_step_log(store: Arc<dyn Store>) {
    insert(&store, &[task("flow", "flow"), task("plain", "plain")]).await;
    let lease = claim_id(&store, "w", "flow", &durable("flow"), LEASE)
        .await
        .lease;
    let steps = [
        step(0, "fetch", 0, done(json!({ "rows": 3 }))),
        step(1, "fetch", 1, StepOutcome::Failed("gone".into())),
    ];
    let written: Vec<_> = steps.iter().map(|s| (lease.clone(), s.clone())).collect();
    store
        .save_steps(&written)
        .await
        .expect("save_steps succeeds");
    let released = store
        .release(std::slice::from_ref(&lease))
        .await
        .expect("release succeeds");
    assert_eq!(released, vec!["flow"]);

    let scope = ClaimScope {
        names: None,
        durable: vec!["flow".into()],
        ..ClaimScope::default()
    };
    let claimed = claim(&store, "w", 10, LEASE, &scope).await;
    assert_eq!(
        claimed.len(),
        2,
        "the released execution and the plain task are claimed"
    );
    for task in &claimed {
        match task.lease.task_id.as_str() {
            "flow" => {
                let log = task
                    .steps
                    .as_ref()
                    .expect("a durable execution comes with its steps");
                assert_eq!(log.len(), 2, "the whole step log: {log:?}");
                assert_same_step(&log[0], &steps[0]);
                assert_same_step(&log[1], &steps[1]);
            }
            "plain" => assert!(
                task.steps.is_none(),
                "a plain task comes without a step log"
            ),
            other => panic!("unexpected claim of {other}"),
        }
    }
}

/// A durable execution with no recorded step comes with an empty log, not none.
pub async fn a_durable_execution_without_steps_comes_with_an_empty_log(store: Arc<dyn Store>) {
    add(&store, "flow", "flow").await;
    let claimed = claim_id(&store, "w", "flow", &durable("flow"), LEASE).await;
    assert_eq!(
        claimed.steps,
        Some(Vec::new()),
        "a durable claim brings the (empty) step log"
    );
}

/// Zart's own tick tasks are claimed like any other when their name is in scope, and not
/// when it is not.
pub async fn a_tick_is_claimable_when_its_name_is_in_scope(store: Arc<dyn Store>) {
    let state = tick(TaskStatus::Pending, secs_from_now(-1), false);
    schedule_with_tick(&store, "nightly", &state).await;
    let others = claim(&store, "w", 10, LEASE, &only(&["report"])).await;
    assert!(
        others.is_empty(),
        "a tick is not claimed outside its name: {others:?}"
    );
    let claimed = claim_id(&store, "w", &tick_id("nightly"), &only(&[TICK_TASK]), LEASE).await;
    assert_eq!(claimed.task_name, TICK_TASK, "the tick's name is TICK_TASK");
    assert_status(&store, &tick_id("nightly"), TaskStatus::Running).await;
}
