//! Notifications: [`ended`](zart_core::store::QueueStore::ended) and
//! [`listen`](zart_core::store::QueueStore::listen).

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use zart_core::queue::{OutcomeKind, Wake};
use zart_core::store::Store;

use crate::support::*;

/// How long a case waits for a notification.
const WAIT: Duration = Duration::from_secs(5);

/// The `ended` counter goes up after a task ends.
///
/// Notifications may be lost and a store may count other things too (a reconnection), so
/// the case lets the counter settle first and then ends one task after another until the
/// counter moves, failing only if it never does within a few seconds.
pub async fn the_ended_counter_moves_when_a_task_ends(store: Arc<dyn Store>) {
    let mut ended = store.ended().await.expect("ended() succeeds");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = *ended.borrow_and_update();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut n = 0;
    loop {
        n += 1;
        let lease = running(&store, &format!("t{n}"), "job", "w").await;
        finish_ok(&store, &lease, OutcomeKind::Completed { result: None }).await;
        let changed = tokio::time::timeout(Duration::from_millis(700), ended.changed()).await;
        if let Ok(result) = changed {
            result.expect("the ended watch stays open while the store lives");
            let after = *ended.borrow_and_update();
            assert!(after > before, "the counter goes up: {before} -> {after}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ended counter did not move within {WAIT:?} of {n} tasks ending (still {before})"
        );
    }
}

/// A listener hears that work was scheduled.
///
/// This case expects push notifications: the contract lets a store without them never
/// call `wake` (workers then poll), but every store Zart ships pushes (PostgreSQL through
/// `LISTEN/NOTIFY`; an embedded store can notify in process), and a store that promises
/// push and stays silent would leave workers idle until their next poll, which no other
/// case would notice. A store that truly has no push should not run this case.
///
/// A listener may report `Wake::Now` when it (re)connects, and a notification sent before
/// it listens is lost; so the case lets the first wakes pass, then inserts a task due in
/// an hour every half second until a wake arrives. That wake may be `Wake::Now`, or
/// `Wake::At` naming when the inserted work is due.
pub async fn a_listener_hears_of_an_insert(store: Arc<dyn Store>) {
    let (sender, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let listener = tokio::spawn({
        let store = store.clone();
        async move {
            let wake = move |wake: Wake| {
                let _ = sender.send(wake);
            };
            store.listen(&wake).await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    while heard.try_recv().is_ok() {}

    let mut due = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let wake = loop {
        let at = secs_from_now(3600 + due.len() as i64);
        due.push(at);
        let id = format!("t{}", due.len());
        assert_eq!(insert(&store, &[task_at(&id, "job", at)]).await, vec![id]);
        if let Ok(wake) = tokio::time::timeout(Duration::from_millis(500), heard.recv()).await {
            break wake.expect("the listener's channel stays open while it listens");
        }
        assert!(
            tokio::time::Instant::now() < deadline && !listener.is_finished(),
            "no wake within {WAIT:?} of {} inserts (listener finished: {})",
            due.len(),
            listener.is_finished()
        );
    };
    if let Wake::At(instant) = wake {
        let close =
            |at: &chrono::DateTime<chrono::Utc>| (instant - *at).abs() <= TimeDelta::seconds(1);
        assert!(
            due.iter().any(close),
            "a wake at {instant} names when inserted work is due (one of {due:?})"
        );
    }
    listener.abort();
}
