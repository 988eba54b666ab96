//! Worker records: [`record_worker`](zart_core::store::WorkerStore::record_worker),
//! [`beat_worker`](zart_core::store::WorkerStore::beat_worker),
//! [`remove_worker`](zart_core::store::WorkerStore::remove_worker),
//! [`forget_workers`](zart_core::store::WorkerStore::forget_workers) and the declared
//! tasks.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use zart_core::store::Store;
use zart_core::workers::{DeclaredTask, WorkerRecord};

use crate::support::*;

fn declared(name: &str, queue: &str, durable: bool) -> DeclaredTask {
    DeclaredTask {
        task_name: name.to_owned(),
        queue: queue.to_owned(),
        durable,
    }
}

fn worker(id: &str, tasks: Vec<DeclaredTask>) -> WorkerRecord {
    WorkerRecord {
        worker_id: id.to_owned(),
        host: "host-1".to_owned(),
        pid: 4321,
        queues: vec!["emails".to_owned(), "default".to_owned()],
        tasks,
        concurrency: 16,
        started_at: secs_from_now(-100),
        heartbeat_at: secs_from_now(-100_000), // ignored: the store sets it
    }
}

async fn workers(store: &Arc<dyn Store>) -> Vec<WorkerRecord> {
    store.workers().await.expect("workers() succeeds")
}

/// A recorded worker reads back whole, its heartbeat now; its tasks are declared.
pub async fn a_recorded_worker_reads_back_with_its_declared_tasks(store: Arc<dyn Store>) {
    let tasks = vec![
        declared("send", "emails", false),
        declared("flow", "default", true),
    ];
    let given = worker("w1", tasks.clone());
    store
        .record_worker(&given)
        .await
        .expect("record_worker succeeds");
    store
        .record_worker(&worker("w0", Vec::new()))
        .await
        .expect("record_worker succeeds");

    let listed = workers(&store).await;
    let ids: Vec<_> = listed.iter().map(|w| w.worker_id.as_str()).collect();
    assert_eq!(ids, vec!["w0", "w1"], "by id");
    let stored = &listed[1];
    assert_eq!(
        WorkerRecord {
            heartbeat_at: given.heartbeat_at,
            ..stored.clone()
        },
        given,
        "everything but the heartbeat as given"
    );
    assert_recent(stored.heartbeat_at, "the heartbeat");
    let mut expected = tasks;
    expected.sort();
    assert_eq!(
        store.declared_tasks().await.expect("declared_tasks"),
        expected
    );
}

/// A beat refreshes a recorded worker's heartbeat and tells that it exists; an unknown
/// worker's beat says it does not.
pub async fn a_beat_refreshes_only_a_recorded_worker(store: Arc<dyn Store>) {
    store
        .record_worker(&worker("w1", Vec::new()))
        .await
        .expect("record");
    let first = workers(&store).await[0].heartbeat_at;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store.beat_worker("w1").await.expect("beat_worker succeeds"));
    let second = workers(&store).await[0].heartbeat_at;
    assert!(second > first, "the heartbeat moved: {first} -> {second}");
    assert!(
        !store
            .beat_worker("unknown")
            .await
            .expect("beat_worker succeeds"),
        "no record to refresh"
    );
    assert_eq!(workers(&store).await.len(), 1, "a beat records nobody");
}

/// Workers silent since before an instant are forgotten, the others kept; a removed
/// worker is gone, and removing it again is no error.
pub async fn silent_workers_are_forgotten_and_removed_ones_are_gone(store: Arc<dyn Store>) {
    store
        .record_worker(&worker("old", Vec::new()))
        .await
        .expect("record");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let between = Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    store
        .record_worker(&worker("new", Vec::new()))
        .await
        .expect("record");
    store
        .record_worker(&worker("gone", Vec::new()))
        .await
        .expect("record");

    store
        .remove_worker("gone")
        .await
        .expect("remove_worker succeeds");
    store
        .remove_worker("gone")
        .await
        .expect("removing twice succeeds");
    let forgotten = store
        .forget_workers(between)
        .await
        .expect("forget_workers succeeds");
    assert_eq!(forgotten, 1, "only the silent one");
    let ids: Vec<_> = workers(&store)
        .await
        .into_iter()
        .map(|w| w.worker_id)
        .collect();
    assert_eq!(ids, vec!["new".to_owned()]);
}

/// A name declared again (a deploy moved it to another queue) takes the later queue and
/// kind, also after the worker that declared it first is gone.
pub async fn a_later_declaration_of_a_name_replaces_the_earlier(store: Arc<dyn Store>) {
    let first = worker("w1", vec![declared("send", "default", false)]);
    store.record_worker(&first).await.expect("record");
    store.remove_worker("w1").await.expect("remove");
    assert_eq!(
        store.declared_tasks().await.expect("declared_tasks"),
        vec![declared("send", "default", false)],
        "kept after its worker stopped"
    );
    let second = worker(
        "w2",
        vec![
            declared("send", "emails", true),
            declared("sms", "sms", false),
        ],
    );
    store.record_worker(&second).await.expect("record");
    assert_eq!(
        store.declared_tasks().await.expect("declared_tasks"),
        vec![
            declared("send", "emails", true),
            declared("sms", "sms", false)
        ]
    );
}
