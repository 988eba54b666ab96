//! Small helpers the cases share: tasks to insert, claims that must succeed, and the checks
//! on instants that every case makes the same way.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::{json, Value};
use zart_core::queue::{ClaimScope, ClaimedTask, Lease, Outcome, OutcomeKind, RescueReport};
use zart_core::schedules::{RecurringTask, ScheduleState, TickState};
use zart_core::steps::{StepOutcome, StepRecord};
use zart_core::store::{Store, UnitOfWork};
use zart_core::task::{NewTask, ScheduleAtParams, TaskRecord, TaskStatus};

/// A lease no case outlives.
pub(crate) const LEASE: Duration = Duration::from_secs(60);

/// A lease that has expired by the time the case looks again (see [`EXPIRY_WAIT`]).
pub(crate) const EXPIRING: Duration = Duration::from_millis(1);

/// How long a case waits for an [`EXPIRING`] lease to be over: far more than the lease, so
/// that a busy machine cannot make the lease look alive.
pub(crate) const EXPIRY_WAIT: Duration = Duration::from_millis(50);

/// How far "now" may be from the store's clock in the checks on instants. Generous: the
/// store's clock is the database's, and the machine running the suite may be busy.
pub(crate) fn slack() -> TimeDelta {
    TimeDelta::seconds(5)
}

/// `t` to whole milliseconds: a store may keep instants to the millisecond only, so the
/// instants a case writes and compares are whole milliseconds.
pub(crate) fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::milliseconds(1))
        .expect("truncating an instant to the millisecond")
}

/// Now plus `seconds` (negative: in the past), in whole milliseconds.
pub(crate) fn secs_from_now(seconds: i64) -> DateTime<Utc> {
    ms(Utc::now() + TimeDelta::seconds(seconds))
}

/// An hour from now: a due instant that no case reaches.
pub(crate) fn later() -> DateTime<Utc> {
    secs_from_now(3600)
}

/// Task `id` named `name`, due a second ago (so that it is due on the store's clock even
/// if that runs slightly behind), with input and metadata that name it.
pub(crate) fn task(id: &str, name: &str) -> ScheduleAtParams {
    task_at(id, name, secs_from_now(-1))
}

/// Task `id` named `name`, due at `at`.
pub(crate) fn task_at(id: &str, name: &str, at: DateTime<Utc>) -> ScheduleAtParams {
    ScheduleAtParams {
        metadata: json!({ "origin": "conformance", "of": id }),
        ..ScheduleAtParams::at(id, name, at, json!({ "input": id }))
    }
}

/// A scope that claims only `names` (none of them durable).
pub(crate) fn only(names: &[&str]) -> ClaimScope {
    ClaimScope {
        names: Some(names.iter().map(|n| n.to_string()).collect()),
        ..ClaimScope::default()
    }
}

/// A scope that claims only `name`, a durable execution (claimed with its step log).
pub(crate) fn durable(name: &str) -> ClaimScope {
    ClaimScope {
        names: Some(vec![name.to_owned()]),
        durable: vec![name.to_owned()],
        ..ClaimScope::default()
    }
}

/// Inserts `tasks`, returning the inserted ids.
pub(crate) async fn insert(store: &Arc<dyn Store>, tasks: &[ScheduleAtParams]) -> Vec<String> {
    let tasks: Vec<NewTask> = tasks.iter().cloned().map(NewTask::from).collect();
    store.insert(&tasks).await.expect("insert succeeds")
}

/// Inserts one due task and checks that it was inserted.
pub(crate) async fn add(store: &Arc<dyn Store>, id: &str, name: &str) {
    let inserted = insert(store, &[task(id, name)]).await;
    assert_eq!(inserted, vec![id.to_owned()], "inserting new task {id}");
}

/// Claims within `scope`.
pub(crate) async fn claim(
    store: &Arc<dyn Store>,
    worker: &str,
    limit: usize,
    lease: Duration,
    scope: &ClaimScope,
) -> Vec<ClaimedTask> {
    store
        .claim(worker, limit, lease, scope)
        .await
        .expect("claim succeeds")
}

/// Claims task `id` (the only due task named `name`) with `lease`, as `worker`.
pub(crate) async fn claim_id(
    store: &Arc<dyn Store>,
    worker: &str,
    id: &str,
    scope: &ClaimScope,
    lease: Duration,
) -> ClaimedTask {
    let mut claimed = claim(store, worker, 1, lease, scope).await;
    assert_eq!(
        claimed.len(),
        1,
        "claiming due task {id} within {scope:?} takes exactly one task: {claimed:?}"
    );
    let claimed = claimed.remove(0);
    assert_eq!(
        claimed.lease.task_id, id,
        "the claim takes the due task {id}"
    );
    claimed
}

/// Inserts task `id` named `name` and claims it as `worker` with a long lease.
pub(crate) async fn running(store: &Arc<dyn Store>, id: &str, name: &str, worker: &str) -> Lease {
    add(store, id, name).await;
    claim_id(store, worker, id, &only(&[name]), LEASE)
        .await
        .lease
}

/// Inserts task `id` named `name` and claims it as `worker` with a lease that expires at
/// once; returns after the lease is over.
pub(crate) async fn expired(store: &Arc<dyn Store>, id: &str, name: &str, worker: &str) -> Lease {
    add(store, id, name).await;
    let lease = claim_id(store, worker, id, &only(&[name]), EXPIRING)
        .await
        .lease;
    tokio::time::sleep(EXPIRY_WAIT).await;
    lease
}

/// A stale lease and the live one that replaced it: task `id` is claimed by `old-worker`,
/// its lease expires and is rescued, and `new-worker` claims it again.
pub(crate) async fn stolen(store: &Arc<dyn Store>, id: &str, name: &str) -> (Lease, Lease) {
    let old = expired(store, id, name, "old-worker").await;
    let report = rescue(store, 10).await;
    assert_eq!(
        report.requeued,
        vec![id.to_owned()],
        "the expired lease of {id} is rescued"
    );
    let new = claim_id(store, "new-worker", id, &only(&[name]), LEASE)
        .await
        .lease;
    assert_ne!(
        old.token, new.token,
        "claiming {id} again gives it a new token"
    );
    (old, new)
}

/// One maintenance pass that must run (nothing else runs one meanwhile).
pub(crate) async fn rescue(store: &Arc<dyn Store>, max_rescues: u32) -> RescueReport {
    store
        .rescue_expired(max_rescues)
        .await
        .expect("rescue_expired succeeds")
        .expect("a maintenance pass runs when no other pass is running")
}

/// Stores one outcome; returns the ids stored.
pub(crate) async fn finish(
    store: &Arc<dyn Store>,
    lease: &Lease,
    kind: OutcomeKind,
) -> Vec<String> {
    store
        .finish(&[Outcome {
            lease: lease.clone(),
            kind,
        }])
        .await
        .expect("finish succeeds")
}

/// Stores one outcome that must be stored.
pub(crate) async fn finish_ok(store: &Arc<dyn Store>, lease: &Lease, kind: OutcomeKind) {
    let stored = finish(store, lease, kind.clone()).await;
    assert_eq!(
        stored,
        vec![lease.task_id.clone()],
        "the live lease of {} stores outcome {kind:?}",
        lease.task_id
    );
}

/// One outcome of each kind, named for messages. Retries and suspensions are due in an hour.
pub(crate) fn every_outcome() -> Vec<(&'static str, OutcomeKind)> {
    vec![
        (
            "completed",
            OutcomeKind::Completed {
                result: Some(json!({ "done": true })),
            },
        ),
        (
            "retry",
            OutcomeKind::Retry {
                error: "boom".into(),
                run_at: later(),
            },
        ),
        (
            "failed",
            OutcomeKind::Failed {
                error: "broken".into(),
            },
        ),
        ("suspended", OutcomeKind::Suspended { run_at: later() }),
    ]
}

/// Everything stored about task `id`, which must exist.
pub(crate) async fn record(store: &Arc<dyn Store>, id: &str) -> TaskRecord {
    store
        .task(id)
        .await
        .expect("task() succeeds")
        .unwrap_or_else(|| panic!("task {id} exists"))
}

/// Checks that task `id` has `status`.
pub(crate) async fn assert_status(
    store: &Arc<dyn Store>,
    id: &str,
    status: TaskStatus,
) -> TaskRecord {
    let record = record(store, id).await;
    assert_eq!(record.status, status, "task {id}: {record:?}");
    record
}

/// Checks that `t` is now, give or take the slack (and at most a minute in the past, for
/// a busy machine).
pub(crate) fn assert_recent(t: DateTime<Utc>, what: &str) {
    let now = Utc::now();
    assert!(
        t >= now - TimeDelta::seconds(60) && t <= now + slack(),
        "{what} should be now ({now}), is {t}"
    );
}

/// Checks that the task is due now: not in the future, and not still at an instant well in
/// the past that it had before (the cases make those at least a minute old).
pub(crate) fn assert_due_now(record: &TaskRecord, what: &str) {
    let now = Utc::now();
    assert!(
        record.run_at <= now + slack() && record.run_at >= now - TimeDelta::seconds(30),
        "{what}: task {} should be due now ({now}), is due at {}: {record:?}",
        record.task_id,
        record.run_at
    );
}

/// Starts a unit of work.
pub(crate) async fn begin(store: &Arc<dyn Store>) -> Box<dyn UnitOfWork> {
    store.begin().await.expect("begin succeeds")
}

/// Commits a unit of work.
pub(crate) async fn commit(uow: Box<dyn UnitOfWork>) {
    uow.commit().await.expect("commit succeeds");
}

/// A declaration with no field left at its default, so that a store that loses one is seen.
pub(crate) fn recurring(schedule_id: &str) -> RecurringTask {
    use zart_core::schedule::{Schedule, TimeWindow};
    use zart_core::schedules::{MissedRunPolicy, OverlapPolicy};
    RecurringTask::new(
        schedule_id,
        "report",
        Schedule::cron("15 2 * * mon-fri", "Europe/Berlin").expect("a valid cron schedule"),
    )
    .data(json!({ "warehouse": "EU-1", "depth": [1, 2] }))
    .id_template("{schedule}-run-{occurrence}")
    .missed(MissedRunPolicy::ReplayAll)
    .overlap(OverlapPolicy::BufferOne)
    .window(TimeWindow::parse("Europe/Berlin", "mon-fri 01:00-05:00").expect("a valid window"))
    .max_runs(12)
    .grace(Duration::from_millis(90_500))
}

/// A tick state.
pub(crate) fn tick(status: TaskStatus, run_at: DateTime<Utc>, wake_on_finish: bool) -> TickState {
    TickState {
        status,
        run_at,
        wake_on_finish,
        occurrence: None,
    }
}

/// Stores schedule `schedule_id` (active, next slot in an hour) with its tick in state
/// `tick`, in one committed unit of work.
pub(crate) async fn schedule_with_tick(
    store: &Arc<dyn Store>,
    schedule_id: &str,
    tick: &TickState,
) {
    let mut uow = begin(store).await;
    let stored = uow
        .insert_schedule(
            &recurring(schedule_id),
            ScheduleState::Active,
            Some(later()),
        )
        .await
        .expect("insert_schedule succeeds");
    assert!(stored, "schedule {schedule_id} is new");
    uow.set_tick(schedule_id, tick)
        .await
        .expect("set_tick succeeds");
    commit(uow).await;
}

/// Inserts run `run_id` of schedule `schedule_id` (named `name`), due now, committed.
pub(crate) async fn add_run(store: &Arc<dyn Store>, schedule_id: &str, run_id: &str, name: &str) {
    add_run_at(store, schedule_id, run_id, name, secs_from_now(-1)).await;
}

/// Inserts run `run_id` of schedule `schedule_id` (named `name`), due at `at`, committed.
pub(crate) async fn add_run_at(
    store: &Arc<dyn Store>,
    schedule_id: &str,
    run_id: &str,
    name: &str,
    at: DateTime<Utc>,
) {
    let mut uow = begin(store).await;
    let inserted = uow
        .insert(&[task_at(run_id, name, at).into()], Some(schedule_id))
        .await
        .expect("insert in a unit of work succeeds");
    assert_eq!(inserted, vec![run_id.to_owned()], "inserting run {run_id}");
    commit(uow).await;
}

/// Step `seq` named `name` with `outcome`, first attempted a minute ago, in one attempt.
pub(crate) fn step(seq: u32, name: &str, occurrence: u32, outcome: StepOutcome) -> StepRecord {
    StepRecord {
        seq,
        name: name.to_owned(),
        occurrence,
        outcome,
        attempts: 1,
        started_at: ms(Utc::now() - TimeDelta::seconds(60)),
        finished_at: None,
        failed_attempts: Vec::new(),
    }
}

/// A completed step's outcome.
pub(crate) fn done(value: Value) -> StepOutcome {
    StepOutcome::Completed(value)
}

/// Checks that `loaded` is `written` as the store keeps it: `finished_at` is the store's.
pub(crate) fn assert_same_step(loaded: &StepRecord, written: &StepRecord) {
    let mut expected = written.clone();
    expected.finished_at = loaded.finished_at;
    assert_eq!(loaded, &expected, "a loaded step equals the step written");
    let finished = loaded.finished_at.unwrap_or_else(|| {
        panic!(
            "the store sets finished_at of step {}: {loaded:?}",
            loaded.seq
        )
    });
    assert_recent(finished, "a step's finished_at");
}
