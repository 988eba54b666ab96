//! Queue controls: [`declare_queues`](zart_core::store::QueueControlStore::declare_queues),
//! [`pause_queue`](zart_core::store::QueueControlStore::pause_queue),
//! [`queue_states`](zart_core::store::QueueControlStore::queue_states), and claims in a
//! queue honouring them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::json;
use zart_core::controls::{KeyLimit, QueueDeclaration, QueueLimits, RateLimit};
use zart_core::queue::{ClaimScope, OutcomeKind};
use zart_core::store::Store;
use zart_core::task::ScheduleAtParams;

use crate::support::*;

fn in_queue(queue: &str, names: &[&str]) -> ClaimScope {
    ClaimScope {
        queue: Some(queue.to_owned()),
        ..only(names)
    }
}

async fn declare(store: &Arc<dyn Store>, queue: &str, limits: QueueLimits) {
    store
        .declare_queues(&[QueueDeclaration {
            queue: queue.to_owned(),
            limits,
        }])
        .await
        .expect("declare_queues succeeds");
}

/// Declared limits read back whole; a later declaration replaces them and leaves a pause.
pub async fn declared_limits_read_back_and_a_later_declaration_replaces_them(
    store: Arc<dyn Store>,
) {
    let limits = QueueLimits {
        concurrency: Some(5),
        per_key: Some(KeyLimit {
            field: "customer.id".into(),
            limit: 2,
        }),
        rate: Some(RateLimit {
            limit: 100,
            period: Duration::from_secs(60),
        }),
    };
    declare(&store, "emails", limits.clone()).await;
    let states = store.queue_states().await.expect("queue_states succeeds");
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].queue, "emails");
    assert_eq!(states[0].limits, limits);
    assert_eq!(states[0].declared, limits);
    assert_eq!(states[0].overridden_at, None);
    assert_eq!(states[0].paused_at, None);
    assert_eq!(states[0].running, 0);

    assert!(store.pause_queue("emails", true).await.expect("paused"));
    declare(&store, "emails", QueueLimits::default()).await;
    let states = store.queue_states().await.expect("queue_states succeeds");
    assert_eq!(states[0].limits, QueueLimits::default(), "replaced");
    assert!(
        states[0].paused_at.is_some(),
        "a declaration leaves a pause alone"
    );
}

/// Pause and resume report whether the queue changed.
pub async fn pausing_and_resuming_say_whether_they_changed_anything(store: Arc<dyn Store>) {
    assert!(
        !store.pause_queue("never", false).await.expect("resume"),
        "a queue never paused is not resumed"
    );
    assert!(store.pause_queue("never", true).await.expect("pause"));
    assert!(!store.pause_queue("never", true).await.expect("pause again"));
    assert!(store.pause_queue("never", false).await.expect("resume"));
    assert!(!store
        .pause_queue("never", false)
        .await
        .expect("resume again"));
}

/// A paused queue gives its claims nothing.
pub async fn nothing_is_claimed_from_a_paused_queue(store: Arc<dyn Store>) {
    insert(&store, &[task("mail-1", "mail")]).await;
    store.pause_queue("emails", true).await.expect("paused");
    let scope = in_queue("emails", &["mail"]);
    assert!(claim(&store, "w", 10, LEASE, &scope).await.is_empty());
    assert_eq!(
        claim(&store, "w", 10, LEASE, &only(&["mail"])).await.len(),
        1,
        "a claim outside the queue's controls is not held"
    );
}

/// A global limit counts the queue's running tasks, which record their queue.
pub async fn a_claim_in_a_queue_records_the_queue_and_counts_its_running_tasks(
    store: Arc<dyn Store>,
) {
    insert(
        &store,
        &[task("a", "mail"), task("b", "mail"), task("c", "mail")],
    )
    .await;
    declare(
        &store,
        "emails",
        QueueLimits {
            concurrency: Some(2),
            ..QueueLimits::default()
        },
    )
    .await;
    let scope = in_queue("emails", &["mail"]);
    let first = claim(&store, "w1", 10, LEASE, &scope).await;
    assert_eq!(first.len(), 2, "at most two run at once");
    assert!(claim(&store, "w2", 10, LEASE, &scope).await.is_empty());
    assert_eq!(
        record(&store, &first[0].lease.task_id)
            .await
            .queue
            .as_deref(),
        Some("emails")
    );
    let states = store.queue_states().await.expect("queue_states succeeds");
    assert_eq!(states[0].running, 2);

    finish_ok(
        &store,
        &first[0].lease,
        OutcomeKind::Completed { result: None },
    )
    .await;
    let more = claim(&store, "w2", 10, LEASE, &scope).await;
    assert_eq!(more.len(), 1, "an ended task frees its slot");
}

/// A per-key limit holds back a busy key only.
pub async fn a_per_key_limit_holds_one_key_back_and_lets_others_through(store: Arc<dyn Store>) {
    let keyed = |id: &str, tenant: &str| {
        ScheduleAtParams::at(
            id,
            "mail",
            secs_from_now(-1),
            json!({ "tenant": { "id": tenant } }),
        )
    };
    insert(
        &store,
        &[
            keyed("a1", "a"),
            keyed("a2", "a"),
            keyed("a3", "a"),
            keyed("b1", "b"),
            task("nokey", "mail"),
        ],
    )
    .await;
    declare(
        &store,
        "emails",
        QueueLimits {
            per_key: Some(KeyLimit {
                field: "tenant.id".into(),
                limit: 1,
            }),
            ..QueueLimits::default()
        },
    )
    .await;
    let scope = in_queue("emails", &["mail"]);
    let mut ids: Vec<String> = claim(&store, "w", 10, LEASE, &scope)
        .await
        .into_iter()
        .map(|task| task.lease.task_id)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["a1", "b1", "nokey"],
        "one of each key; a task without a key is not held"
    );
    assert!(claim(&store, "w", 10, LEASE, &scope).await.is_empty());
}

/// A rate limit counts starts in its period, also of tasks that ended since.
pub async fn a_rate_limit_counts_starts_whatever_became_of_the_tasks(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..5).map(|i| task(&format!("r{i}"), "mail")).collect();
    insert(&store, &tasks).await;
    declare(
        &store,
        "emails",
        QueueLimits {
            rate: Some(RateLimit {
                limit: 2,
                period: Duration::from_secs(3600),
            }),
            ..QueueLimits::default()
        },
    )
    .await;
    assert_eq!(
        store.rate_opens_at("emails").await.expect("read"),
        None,
        "no start yet: room all along"
    );
    let scope = in_queue("emails", &["mail"]);
    let started = claim(&store, "w", 10, LEASE, &scope).await;
    assert_eq!(started.len(), 2);
    for task in &started {
        finish_ok(&store, &task.lease, OutcomeKind::Completed { result: None }).await;
    }
    assert!(
        claim(&store, "w", 10, LEASE, &scope).await.is_empty(),
        "ended tasks still count: they started within the period"
    );
    let opens = store
        .rate_opens_at("emails")
        .await
        .expect("rate_opens_at succeeds")
        .expect("the rate holds starts back");
    assert!(
        opens > secs_from_now(3500),
        "opens an hour after the first start: {opens}"
    );
    assert_eq!(store.rate_opens_at("unknown").await.expect("read"), None);
}

/// A rate window that has room again says since when: a claim that took less than it
/// asked learns whether the room came after it began (the rate held it back) or before.
pub async fn a_rate_window_with_room_says_since_when(store: Arc<dyn Store>) {
    insert(&store, &[task("r0", "mail"), task("r1", "mail")]).await;
    let period = Duration::from_millis(300);
    declare(
        &store,
        "emails",
        QueueLimits {
            rate: Some(RateLimit { limit: 1, period }),
            ..QueueLimits::default()
        },
    )
    .await;
    let scope = in_queue("emails", &["mail"]);
    let before = Utc::now() - TimeDelta::milliseconds(5);
    assert_eq!(claim(&store, "w", 10, LEASE, &scope).await.len(), 1);
    let opens = store
        .rate_opens_at("emails")
        .await
        .expect("rate_opens_at succeeds")
        .expect("one start fills the window");
    assert!(opens > Utc::now(), "full: room comes later ({opens})");
    let period = TimeDelta::from_std(period).expect("a short period");
    assert!(
        opens >= before + period,
        "a period after the start: {opens}"
    );
    while Utc::now() < opens + TimeDelta::milliseconds(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        store.rate_opens_at("emails").await.expect("read"),
        Some(opens),
        "room since the start left the window, not nothing"
    );
    assert_eq!(claim(&store, "w", 10, LEASE, &scope).await.len(), 1);
}

/// Old ended tasks are deleted with their steps, events and attempts; recent or unended
/// ones, and other statuses, stay.
pub async fn old_ended_tasks_are_deleted_with_their_records(store: Arc<dyn Store>) {
    insert(
        &store,
        &[
            task("old", "job"),
            task("fresh", "job"),
            task("failed", "job"),
            task("open", "job"),
        ],
    )
    .await;
    for id in ["old", "fresh"] {
        let claimed = claim_id(&store, "w", id, &only(&["job"]), LEASE).await;
        finish_ok(
            &store,
            &claimed.lease,
            OutcomeKind::Completed { result: None },
        )
        .await;
    }
    let failed = claim_id(&store, "w", "failed", &only(&["job"]), LEASE).await;
    finish_ok(
        &store,
        &failed.lease,
        OutcomeKind::Failed { error: "no".into() },
    )
    .await;
    store
        .send_event("old", "ping", &json!(1))
        .await
        .expect("event stored");
    assert_eq!(store.attempts("failed").await.expect("attempts").len(), 1);

    let later = secs_from_now(5);
    let completed = zart_core::task::TaskStatus::Completed;
    assert_eq!(
        store
            .delete_ended(completed, later, 1)
            .await
            .expect("deleted"),
        1,
        "one at a time"
    );
    assert_eq!(
        store
            .delete_ended(completed, later, 10)
            .await
            .expect("deleted"),
        1
    );
    assert_eq!(
        store
            .delete_ended(completed, later, 10)
            .await
            .expect("deleted"),
        0
    );
    for id in ["old", "fresh"] {
        assert!(
            store.task(id).await.expect("read").is_none(),
            "{id} is gone"
        );
    }
    assert!(
        store.events("old").await.expect("events").is_empty(),
        "with its events"
    );
    let earlier = secs_from_now(-3600);
    let failed_status = zart_core::task::TaskStatus::Failed;
    assert_eq!(
        store
            .delete_ended(failed_status, earlier, 10)
            .await
            .expect("deleted"),
        0,
        "too recent"
    );
    assert_eq!(
        store
            .delete_ended(failed_status, later, 10)
            .await
            .expect("deleted"),
        1
    );
    assert!(
        store.attempts("failed").await.expect("attempts").is_empty(),
        "with its attempts"
    );
    assert!(
        store.task("open").await.expect("read").is_some(),
        "a pending task stays"
    );
}

/// Limits changed between claims hold at the next claim: a key limit added to a queue
/// that had only a global one, then taken away again.
pub async fn changed_limits_hold_at_the_next_claim(store: Arc<dyn Store>) {
    let keyed =
        |id: &str| ScheduleAtParams::at(id, "mail", secs_from_now(-1), json!({ "tenant": "a" }));
    insert(
        &store,
        &[keyed("k1"), keyed("k2"), keyed("k3"), keyed("k4")],
    )
    .await;
    let global = QueueLimits {
        concurrency: Some(10),
        ..QueueLimits::default()
    };
    declare(&store, "emails", global.clone()).await;
    let scope = in_queue("emails", &["mail"]);
    assert_eq!(claim(&store, "w", 1, LEASE, &scope).await.len(), 1);
    declare(
        &store,
        "emails",
        QueueLimits {
            per_key: Some(KeyLimit {
                field: "tenant".into(),
                limit: 2,
            }),
            ..global.clone()
        },
    )
    .await;
    assert_eq!(
        claim(&store, "w", 10, LEASE, &scope).await.len(),
        1,
        "one more of tenant a: two of it run"
    );
    declare(&store, "emails", global).await;
    assert_eq!(
        claim(&store, "w", 10, LEASE, &scope).await.len(),
        2,
        "no key limit now"
    );
}

/// Limits set from outside hold over the declared ones, whatever is declared after, until
/// removed: then the declared ones (the latest) are in force again at once.
pub async fn an_override_holds_over_declarations_until_removed(store: Arc<dyn Store>) {
    let declared = QueueLimits {
        concurrency: Some(3),
        ..QueueLimits::default()
    };
    declare(&store, "emails", declared.clone()).await;
    assert!(
        !store.set_queue_limits("emails", None).await.expect("reset"),
        "nothing to remove before an override"
    );
    let override_ = QueueLimits {
        concurrency: Some(1),
        per_key: Some(KeyLimit {
            field: "tenant".into(),
            limit: 1,
        }),
        rate: None,
    };
    assert!(store
        .set_queue_limits("emails", Some(&override_))
        .await
        .expect("override"));
    let later = QueueLimits {
        concurrency: Some(4),
        ..QueueLimits::default()
    };
    declare(&store, "emails", later.clone()).await;
    let states = store.queue_states().await.expect("queue_states succeeds");
    assert_eq!(states[0].limits, override_, "the override stays in force");
    assert_eq!(
        states[0].declared, later,
        "the declaration is kept beside it"
    );
    assert!(states[0].overridden_at.is_some());

    insert(
        &store,
        &[task("a", "mail"), task("b", "mail"), task("c", "mail")],
    )
    .await;
    let scope = in_queue("emails", &["mail"]);
    assert_eq!(
        claim(&store, "w1", 10, LEASE, &scope).await.len(),
        1,
        "claims honour the override"
    );

    assert!(store.set_queue_limits("emails", None).await.expect("reset"));
    let states = store.queue_states().await.expect("queue_states succeeds");
    assert_eq!(states[0].limits, later, "the latest declaration is back");
    assert_eq!(states[0].overridden_at, None);
    assert_eq!(
        claim(&store, "w1", 10, LEASE, &scope).await.len(),
        2,
        "claims honour the declaration again (4 at once, 1 running)"
    );

    // A queue nobody declared can be limited from outside, and has no limits once reset.
    let one = QueueLimits {
        concurrency: Some(1),
        ..QueueLimits::default()
    };
    assert!(store
        .set_queue_limits("adhoc", Some(&one))
        .await
        .expect("override"));
    let adhoc = store
        .queue_states()
        .await
        .expect("queue_states succeeds")
        .into_iter()
        .find(|state| state.queue == "adhoc")
        .expect("a record for the queue");
    assert_eq!(
        (adhoc.limits, adhoc.declared),
        (one, QueueLimits::default())
    );
    assert!(store.set_queue_limits("adhoc", None).await.expect("reset"));
    assert!(store
        .queue_states()
        .await
        .expect("queue_states succeeds")
        .iter()
        .any(|state| state.queue == "adhoc" && !state.limits.is_limited()));
}
