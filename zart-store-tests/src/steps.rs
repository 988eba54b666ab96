//! Step logs: [`save_steps`](zart_core::store::StepStore::save_steps) and
//! [`load_steps`](zart_core::store::StepStore::load_steps).

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use serde_json::json;
use zart_core::queue::Lease;
use zart_core::steps::{Checkpointed, StepAttempt, StepOutcome, StepRecord};
use zart_core::store::Store;
use zart_core::task::TaskStatus;

use crate::support::*;

/// Claims execution `id` (durable name `flow`) as a new task.
async fn execution(store: &Arc<dyn Store>, id: &str) -> Lease {
    add(store, id, "flow").await;
    claim_id(store, "w", id, &durable("flow"), LEASE)
        .await
        .lease
}

/// Saves `steps` under `lease`, returning what became of each.
async fn save(store: &Arc<dyn Store>, lease: &Lease, steps: &[StepRecord]) -> Vec<Checkpointed> {
    let batch: Vec<_> = steps.iter().map(|s| (lease.clone(), s.clone())).collect();
    store.save_steps(&batch).await.expect("save_steps succeeds")
}

/// The step log of `id`.
async fn log(store: &Arc<dyn Store>, id: &str) -> Vec<StepRecord> {
    store.load_steps(id).await.expect("load_steps succeeds")
}

/// Steps of every outcome, written out of order, load back whole and in call order.
pub async fn saved_steps_load_back_in_call_order(store: Arc<dyn Store>) {
    let lease = execution(&store, "t").await;
    let until = secs_from_now(600);
    let mut third = step(
        2,
        "charge",
        0,
        StepOutcome::Retrying {
            until,
            error: "503".into(),
        },
    );
    third.attempts = 4;
    let steps = vec![
        third,
        step(
            0,
            "fetch",
            0,
            done(json!({ "rows": [1, 2, 3], "next": null })),
        ),
        step(1, "fetch", 1, StepOutcome::Failed("no rows left".into())),
        step(3, "note", 0, done(json!(null))),
    ];
    let saved = save(&store, &lease, &steps).await;
    assert_eq!(
        saved,
        vec![Checkpointed::Saved; 4],
        "every new position is saved"
    );
    let loaded = log(&store, "t").await;
    let seqs: Vec<_> = loaded.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3], "the log comes in call order");
    for loaded in &loaded {
        let written = steps
            .iter()
            .find(|s| s.seq == loaded.seq)
            .expect("a written step");
        assert_same_step(loaded, written);
    }
    assert!(
        log(&store, "other").await.is_empty(),
        "another execution's log is empty"
    );
}

/// `finished_at` is the store's: whatever the writer puts there is ignored.
pub async fn the_store_sets_when_a_step_was_recorded(store: Arc<dyn Store>) {
    let lease = execution(&store, "t").await;
    let mut first = step(0, "a", 0, done(json!(1)));
    first.finished_at = Some(chrono::Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap());
    save(&store, &lease, &[first]).await;
    let recorded = log(&store, "t").await[0]
        .finished_at
        .expect("the store sets finished_at");
    assert_recent(recorded, "a step's finished_at, set by the store");
}

/// A recorded position is never overwritten: a second write there is refused.
pub async fn a_recorded_position_is_refused(store: Arc<dyn Store>) {
    let lease = execution(&store, "t").await;
    let first = step(0, "a", 0, done(json!("first")));
    let failed = step(1, "b", 0, StepOutcome::Failed("gave up".into()));
    assert_eq!(
        save(&store, &lease, &[first.clone(), failed.clone()]).await,
        [Checkpointed::Saved; 2]
    );

    let over = [
        step(0, "a", 0, done(json!("second"))),
        step(1, "b", 0, done(json!("recovered"))),
        step(
            0,
            "a",
            0,
            StepOutcome::Retrying {
                until: later(),
                error: "x".into(),
            },
        ),
    ];
    for attempt in over {
        let saved = save(&store, &lease, std::slice::from_ref(&attempt)).await;
        assert_eq!(
            saved,
            vec![Checkpointed::Refused],
            "position {} is taken",
            attempt.seq
        );
    }
    let loaded = log(&store, "t").await;
    assert_eq!(loaded.len(), 2);
    assert_same_step(&loaded[0], &first);
    assert_same_step(&loaded[1], &failed);
}

/// A `retrying` step is replaced by a later attempt of the same step (not of another),
/// and its `finished_at` moves to the latest attempt.
pub async fn a_retrying_step_is_replaced_by_a_later_attempt_of_the_same_step(
    store: Arc<dyn Store>,
) {
    let lease = execution(&store, "t").await;
    let mut retrying = step(
        0,
        "charge",
        0,
        StepOutcome::Retrying {
            until: later(),
            error: "1".into(),
        },
    );
    assert_eq!(
        save(&store, &lease, &[retrying.clone()]).await,
        vec![Checkpointed::Saved]
    );
    let first_recorded = log(&store, "t").await[0]
        .finished_at
        .expect("finished_at is set");

    let other = step(0, "refund", 0, done(json!("other step")));
    let saved = save(&store, &lease, &[other]).await;
    assert_eq!(
        saved,
        vec![Checkpointed::Refused],
        "another step cannot take the position"
    );

    // Long enough for any store clock to tell the two writes apart.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    retrying.outcome = StepOutcome::Retrying {
        until: secs_from_now(7200),
        error: "2".into(),
    };
    retrying.attempts = 2;
    assert_eq!(
        save(&store, &lease, &[retrying.clone()]).await,
        vec![Checkpointed::Saved]
    );
    let loaded = log(&store, "t").await;
    assert_eq!(loaded.len(), 1, "the attempt replaced the step: {loaded:?}");
    assert_same_step(&loaded[0], &retrying);
    let later_recorded = loaded[0].finished_at.expect("finished_at is set");
    assert!(
        later_recorded > first_recorded,
        "finished_at is the latest attempt's: {later_recorded} after {first_recorded}"
    );

    let mut completed = retrying.clone();
    completed.outcome = done(json!({ "charged": 100 }));
    completed.attempts = 3;
    assert_eq!(
        save(&store, &lease, &[completed.clone()]).await,
        vec![Checkpointed::Saved]
    );
    assert_same_step(&log(&store, "t").await[0], &completed);
    let saved = save(&store, &lease, &[retrying]).await;
    assert_eq!(
        saved,
        vec![Checkpointed::Refused],
        "a completed step is not replaced"
    );
}

/// An execution asked to stop gets `Cancelled` for its next steps, which are not written,
/// on the store and in a unit of work.
pub async fn a_step_of_an_execution_asked_to_stop_is_cancelled(store: Arc<dyn Store>) {
    let lease = execution(&store, "t").await;
    let first = step(0, "a", 0, done(json!(1)));
    assert_eq!(
        save(&store, &lease, std::slice::from_ref(&first)).await,
        vec![Checkpointed::Saved]
    );
    assert_eq!(
        store.cancel_task("t").await.expect("cancel"),
        Some(TaskStatus::Running)
    );

    let saved = save(&store, &lease, &[step(1, "b", 0, done(json!(2)))]).await;
    assert_eq!(
        saved,
        vec![Checkpointed::Cancelled],
        "the step after the cancel"
    );
    let mut uow = begin(&store).await;
    let saved = uow
        .save_steps(&[(lease.clone(), step(1, "b", 0, done(json!(2))))])
        .await
        .expect("save_steps succeeds");
    assert_eq!(
        saved,
        vec![Checkpointed::Cancelled],
        "the step after the cancel, in a unit"
    );
    commit(uow).await;
    let loaded = log(&store, "t").await;
    assert_eq!(
        loaded.len(),
        1,
        "nothing written after the cancel: {loaded:?}"
    );
    assert_same_step(&loaded[0], &first);
}

/// One batch holds several executions and several steps of each; each step is judged on
/// its own: saved, refused for a taken position or a stale lease, cancelled for an
/// execution asked to stop.
pub async fn a_batch_of_steps_is_judged_step_by_step(store: Arc<dyn Store>) {
    let a = execution(&store, "a").await;
    let b = execution(&store, "b").await;
    let c = execution(&store, "c").await;
    let (stale, _) = stolen(&store, "d", "flow-d").await;
    let taken = step(0, "b0", 0, done(json!("b0")));
    save(&store, &b, std::slice::from_ref(&taken)).await;
    assert_eq!(
        store.cancel_task("c").await.expect("cancel"),
        Some(TaskStatus::Running)
    );

    let a0 = step(0, "a0", 0, done(json!("a0")));
    let a1 = step(1, "a1", 0, StepOutcome::Failed("a1".into()));
    let b1 = step(
        1,
        "b1",
        0,
        StepOutcome::Retrying {
            until: later(),
            error: "b1".into(),
        },
    );
    let batch = vec![
        (a.clone(), a0.clone()),
        (b.clone(), step(0, "b0", 0, done(json!("again")))),
        (stale, step(0, "d0", 0, done(json!("stale")))),
        (a.clone(), a1.clone()),
        (c, step(0, "c0", 0, done(json!("c0")))),
        (b.clone(), b1.clone()),
    ];
    let saved = store.save_steps(&batch).await.expect("save_steps succeeds");
    use Checkpointed::*;
    assert_eq!(
        saved,
        vec![Saved, Refused, Refused, Saved, Cancelled, Saved],
        "each step's fate"
    );

    let log_a = log(&store, "a").await;
    assert_eq!(log_a.len(), 2);
    assert_same_step(&log_a[0], &a0);
    assert_same_step(&log_a[1], &a1);
    let log_b = log(&store, "b").await;
    assert_eq!(log_b.len(), 2);
    assert_same_step(&log_b[0], &taken);
    assert_same_step(&log_b[1], &b1);
    assert!(
        log(&store, "c").await.is_empty(),
        "the cancelled execution's step is not written"
    );
    assert!(
        log(&store, "d").await.is_empty(),
        "the stale lease's step is not written"
    );
    assert!(store
        .save_steps(&[])
        .await
        .expect("an empty batch succeeds")
        .is_empty());
}

/// Failed attempts `from..=to` of a step first tried a minute ago, each a second long.
fn failures(from: u32, to: u32) -> Vec<StepAttempt> {
    let first = ms(chrono::Utc::now() - chrono::TimeDelta::seconds(60));
    (from..=to)
        .map(|attempt| {
            let started_at = first + chrono::TimeDelta::seconds(i64::from(attempt) * 2);
            StepAttempt {
                attempt,
                started_at,
                finished_at: started_at + chrono::TimeDelta::seconds(1),
                error: format!("attempt {attempt}: \"503\"\nupstream said no"),
            }
        })
        .collect()
}

/// A step's failed attempts are kept with it, in order, as written: on the store, in a
/// unit of work and through a retrying step's replacement; they load back and come with
/// the claim. A step without any loads back with none.
pub async fn a_steps_failed_attempts_are_kept_with_it(store: Arc<dyn Store>) {
    let lease = execution(&store, "t").await;
    let clean = step(0, "fetch", 0, done(json!(1)));
    let mut charge = step(
        1,
        "charge",
        0,
        StepOutcome::Retrying {
            until: later(),
            error: "attempt 2".into(),
        },
    );
    charge.attempts = 2;
    charge.failed_attempts = failures(1, 2);
    let mut gave_up = step(2, "notify", 0, StepOutcome::Failed("attempt 3".into()));
    gave_up.attempts = 3;
    gave_up.failed_attempts = failures(1, 3);
    assert_eq!(
        save(&store, &lease, &[clean.clone(), charge.clone()]).await,
        vec![Checkpointed::Saved; 2]
    );
    let mut uow = begin(&store).await;
    let saved = uow
        .save_steps(&[(lease.clone(), gave_up.clone())])
        .await
        .expect("save_steps succeeds");
    assert_eq!(saved, vec![Checkpointed::Saved], "in a unit of work");
    commit(uow).await;
    let loaded = log(&store, "t").await;
    assert_eq!(loaded.len(), 3);
    assert_same_step(&loaded[0], &clean);
    assert_same_step(&loaded[1], &charge);
    assert_same_step(&loaded[2], &gave_up);

    // The later record of the retrying step carries every failed attempt so far.
    charge.outcome = done(json!("charged"));
    charge.attempts = 4;
    charge.failed_attempts = failures(1, 3);
    assert_eq!(
        save(&store, &lease, &[charge.clone()]).await,
        vec![Checkpointed::Saved]
    );
    assert_same_step(&log(&store, "t").await[1], &charge);

    let released = store
        .release(std::slice::from_ref(&lease))
        .await
        .expect("release succeeds");
    assert_eq!(released, vec!["t"]);
    let claimed = claim_id(&store, "w", "t", &durable("flow"), LEASE).await;
    let log = claimed
        .steps
        .expect("a durable execution comes with its steps");
    assert_eq!(log.len(), 3, "the whole step log: {log:?}");
    assert_same_step(&log[0], &clean);
    assert_same_step(&log[1], &charge);
    assert_same_step(&log[2], &gave_up);
}
