//! Recurring schedules on PostgreSQL: registration, the tick transaction, and control.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::PostgresTaskScheduler;
use crate::backend::Lease;
use crate::error::{db, Error, Result};
use crate::recurring::{
    plan_tick, tick_id, Decision, MissedRunPolicy, NextTick, OverlapPolicy, RecurringScheduler,
    RecurringTask, RunContext, RunRecord, ScheduleInfo, ScheduleState, SkipReason, SlotRecord,
    TickInput, TickReport, HISTORY_LIMIT,
};
use crate::schedule::{Schedule, TimeWindow};
use crate::task::{ScheduleAtParams, TaskStatus};

/// A schedule row: the declaration and its state.
struct Stored {
    task: RecurringTask,
    state: ScheduleState,
    occurrence: u64,
    next_slot: Option<DateTime<Utc>>,
    buffered_slot: Option<DateTime<Utc>>,
    trigger_requested: bool,
    last_finished_at: Option<DateTime<Utc>>,
}

fn corrupt(what: &str, schedule_id: &str, detail: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: what.to_owned(),
        source: format!("schedule {schedule_id:?}: {detail}").into(),
    }
}

fn stored(schedule_id: &str, row: &PgRow) -> std::result::Result<Stored, sqlx::Error> {
    let schedule: Value = row.try_get("schedule")?;
    let schedule: Schedule =
        serde_json::from_value(schedule).map_err(|e| corrupt("schedule", schedule_id, e))?;
    let window: Option<Value> = row.try_get("time_window")?;
    let window = window
        .map(serde_json::from_value::<TimeWindow>)
        .transpose()
        .map_err(|e| corrupt("time_window", schedule_id, e))?;
    let missed: String = row.try_get("missed")?;
    let overlap: String = row.try_get("overlap")?;
    let state: String = row.try_get("state")?;
    let max_runs: Option<i64> = row.try_get("max_runs")?;
    let grace_ms: i64 = row.try_get("grace_ms")?;
    let occurrence: i64 = row.try_get("occurrence")?;
    Ok(Stored {
        task: RecurringTask {
            schedule_id: schedule_id.to_owned(),
            task_name: row.try_get("task_name")?,
            schedule,
            data: row.try_get("data")?,
            id_template: row.try_get("id_template")?,
            missed: MissedRunPolicy::parse(&missed)
                .ok_or_else(|| corrupt("missed", schedule_id, &missed))?,
            overlap: OverlapPolicy::parse(&overlap)
                .ok_or_else(|| corrupt("overlap", schedule_id, &overlap))?,
            window,
            max_runs: max_runs.map(|n| u64::try_from(n).unwrap_or(0)),
            grace: Duration::from_millis(u64::try_from(grace_ms).unwrap_or(0)),
        },
        state: ScheduleState::parse(&state).ok_or_else(|| corrupt("state", schedule_id, &state))?,
        occurrence: u64::try_from(occurrence).unwrap_or(0),
        next_slot: row.try_get("next_slot")?,
        buffered_slot: row.try_get("buffered_slot")?,
        trigger_requested: row.try_get("trigger_requested")?,
        last_finished_at: row.try_get("last_finished_at")?,
    })
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PostgresTaskScheduler {
    async fn load(
        &self,
        conn: &mut PgConnection,
        schedule_id: &str,
        lock: bool,
    ) -> Result<Option<Stored>> {
        let sql = match lock {
            true => format!("{} FOR UPDATE", self.sql.recurring.select),
            false => self.sql.recurring.select.clone(),
        };
        let row = sqlx::query(&sql)
            .bind(schedule_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("reading a schedule"))?;
        row.map(|row| stored(schedule_id, &row))
            .transpose()
            .map_err(db("decoding a schedule"))
    }

    /// Creates or resets the tick of `schedule_id`, unless a worker is running it (that
    /// worker's decision, taken under the schedule's row lock, comes after ours).
    async fn set_tick(
        &self,
        conn: &mut PgConnection,
        schedule_id: &str,
        status: TaskStatus,
        run_at: DateTime<Utc>,
        patch: Value,
    ) -> Result<()> {
        sqlx::query(&self.sql.recurring.set_tick)
            .bind(tick_id(schedule_id))
            .bind(status.as_str())
            .bind(run_at)
            .bind(patch)
            .bind(&*self.channel)
            .execute(&mut *conn)
            .await
            .map_err(db("scheduling a recurring tick"))?;
        Ok(())
    }

    /// Moves a schedule from one of the `from` states to `to` (paused or stopped) and
    /// parks its tick, which then waits for a resume. Returns whether the state changed.
    async fn park(&self, schedule_id: &str, from: &[&str], to: ScheduleState) -> Result<bool> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let changed = change_state(self, &mut tx, schedule_id, from, to).await?;
        if changed {
            let patch = json!({ "wake_on_finish": false });
            self.set_tick(&mut tx, schedule_id, TaskStatus::Waiting, Utc::now(), patch)
                .await?;
            match to {
                ScheduleState::Paused => tracing::info!(schedule_id, "schedule paused"),
                _ => tracing::info!(schedule_id, state = to.as_str(), "schedule stopped"),
            }
        }
        tx.commit()
            .await
            .map_err(db("committing a schedule change"))?;
        Ok(changed)
    }

    fn definition_args<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        task: &'q RecurringTask,
    ) -> Result<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>> {
        let schedule = serde_json::to_value(&task.schedule).map_err(|e| Error::InvalidTask {
            task_id: task.schedule_id.clone(),
            reason: format!("its schedule does not serialise: {e}"),
        })?;
        let window = task
            .window
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| Error::InvalidTask {
                task_id: task.schedule_id.clone(),
                reason: format!("its time window does not serialise: {e}"),
            })?;
        Ok(query
            .bind(&task.schedule_id)
            .bind(&task.task_name)
            .bind(schedule)
            .bind(&task.data)
            .bind(&task.id_template)
            .bind(task.missed.as_str())
            .bind(task.overlap.as_str())
            .bind(window)
            .bind(task.max_runs.map(count))
            .bind(millis(task.grace)))
    }
}

fn tick_metadata(occurrence: u64, wake_on_finish: bool) -> Value {
    // `occurrence` mirrors the schedule's counter where users of Zart look for it.
    json!({ "occurrence": occurrence, "wake_on_finish": wake_on_finish })
}

#[async_trait]
impl RecurringScheduler for PostgresTaskScheduler {
    async fn upsert_recurring(&self, task: &RecurringTask) -> Result<()> {
        task.validate().map_err(|e| Error::InvalidTask {
            task_id: task.schedule_id.clone(),
            reason: e.to_string(),
        })?;
        let now = Utc::now();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let first = task.schedule.first_after(now);
        let finished = task.max_runs == Some(0) || first.is_none();
        let state = match finished {
            true => ScheduleState::Finished,
            false => ScheduleState::Active,
        };
        let inserted = self
            .definition_args(sqlx::query(&self.sql.recurring.insert), task)?
            .bind(state.as_str())
            .bind(first)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("registering a schedule"))?;
        if inserted.is_some() {
            let (status, run_at) = match first {
                Some(at) if !finished => (TaskStatus::Pending, at),
                _ => (TaskStatus::Completed, now),
            };
            self.set_tick(
                &mut tx,
                &task.schedule_id,
                status,
                run_at,
                tick_metadata(0, false),
            )
            .await?;
            tracing::info!(schedule_id = task.schedule_id, next_slot = ?first, "schedule registered");
        } else if let Some(existing) = self.load(&mut tx, &task.schedule_id, true).await? {
            if existing.task != *task {
                self.definition_args(sqlx::query(&self.sql.recurring.update_definition), task)?
                    .execute(&mut *tx)
                    .await
                    .map_err(db("updating a schedule"))?;
            }
            if existing.task.schedule != task.schedule && existing.state == ScheduleState::Active {
                // A new schedule starts afresh from its next future slot.
                sqlx::query(&self.sql.recurring.update_next_slot)
                    .bind(&task.schedule_id)
                    .bind(first)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("updating a schedule"))?;
                if let Some(at) = first {
                    let patch = json!({ "wake_on_finish": false });
                    self.set_tick(&mut tx, &task.schedule_id, TaskStatus::Pending, at, patch)
                        .await?;
                }
                tracing::info!(schedule_id = task.schedule_id, next_slot = ?first, "schedule changed");
            }
        }
        tx.commit().await.map_err(db("committing a schedule"))
    }

    async fn pause(&self, schedule_id: &str) -> Result<bool> {
        self.park(schedule_id, &["active"], ScheduleState::Paused)
            .await
    }

    async fn resume(&self, schedule_id: &str) -> Result<bool> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let Some(current) = self.load(&mut tx, schedule_id, true).await? else {
            return Ok(false);
        };
        let now = Utc::now();
        let run_at = match current.state {
            // The tick handles the slots missed meanwhile by the missed-run policy.
            ScheduleState::Paused => now,
            ScheduleState::Stopped => {
                let Some(first) = current.task.schedule.first_after(now) else {
                    return Ok(false);
                };
                sqlx::query(&self.sql.recurring.update_next_slot)
                    .bind(schedule_id)
                    .bind(first)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("resuming a schedule"))?;
                first
            }
            ScheduleState::Active | ScheduleState::Finished => return Ok(false),
        };
        change_state(
            self,
            &mut tx,
            schedule_id,
            &["paused", "stopped"],
            ScheduleState::Active,
        )
        .await?;
        let patch = json!({ "wake_on_finish": false });
        self.set_tick(&mut tx, schedule_id, TaskStatus::Pending, run_at, patch)
            .await?;
        tx.commit().await.map_err(db("committing a resume"))?;
        tracing::info!(
            schedule_id,
            from = current.state.as_str(),
            "schedule resumed"
        );
        Ok(true)
    }

    async fn trigger_now(&self, schedule_id: &str) -> Result<bool> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let requested = sqlx::query(&self.sql.recurring.request_trigger)
            .bind(schedule_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("triggering a schedule"))?
            .is_some();
        if requested {
            let current = self.load(&mut tx, schedule_id, false).await?;
            // A waiting fixed delay keeps waiting to be woken by its run's end.
            let wake_on_finish =
                current.is_some_and(|c| c.buffered_slot.is_some() || c.next_slot.is_none());
            let patch = json!({ "wake_on_finish": wake_on_finish });
            self.set_tick(&mut tx, schedule_id, TaskStatus::Pending, Utc::now(), patch)
                .await?;
            tracing::info!(schedule_id, "schedule triggered by hand");
        }
        tx.commit().await.map_err(db("committing a trigger"))?;
        Ok(requested)
    }

    async fn stop(&self, schedule_id: &str) -> Result<bool> {
        self.park(schedule_id, &["active", "paused"], ScheduleState::Stopped)
            .await
    }

    async fn schedule_info(&self, schedule_id: &str) -> Result<Option<ScheduleInfo>> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(db("acquiring a connection"))?;
        Ok(self
            .load(&mut conn, schedule_id, false)
            .await?
            .map(|s| ScheduleInfo {
                task: s.task,
                state: s.state,
                occurrence: s.occurrence,
                next_slot: s.next_slot,
                buffered_slot: s.buffered_slot,
            }))
    }

    async fn history(&self, schedule_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(&self.sql.recurring.history)
            .bind(schedule_id)
            .bind(i64::try_from(limit.min(HISTORY_LIMIT)).unwrap_or(0))
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading a schedule's history"))?;
        rows.iter()
            .map(|row| {
                let status: Option<String> = row.try_get("status")?;
                let occurrence: Option<i64> = row.try_get("occurrence")?;
                Ok(RunRecord {
                    slot: row.try_get("slot")?,
                    decision: row.try_get("decision")?,
                    reason: row.try_get("reason")?,
                    occurrence: occurrence.map(|n| u64::try_from(n).unwrap_or(0)),
                    task_id: row.try_get("task_id")?,
                    recorded_at: row.try_get("recorded_at")?,
                    status: status.as_deref().and_then(TaskStatus::parse),
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                    error: row.try_get("error")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(db("decoding a schedule's history"))
    }
}

async fn change_state(
    scheduler: &PostgresTaskScheduler,
    conn: &mut PgConnection,
    schedule_id: &str,
    from: &[&str],
    to: ScheduleState,
) -> Result<bool> {
    let changed = sqlx::query(&scheduler.sql.recurring.change_state)
        .bind(schedule_id)
        .bind(from)
        .bind(to.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("changing a schedule's state"))?;
    Ok(changed.is_some())
}

/// The tick transaction (see [`TaskBackend::fire_tick`](crate::backend::TaskBackend::fire_tick)).
pub(super) async fn fire_tick(
    scheduler: &PostgresTaskScheduler,
    lease: &Lease,
    now: DateTime<Utc>,
) -> Result<Option<TickReport>> {
    let Some(schedule_id) = lease.task_id.strip_prefix("__zart_recurring__:") else {
        return Err(Error::InvalidTask {
            task_id: lease.task_id.clone(),
            reason: "not a recurring tick".to_owned(),
        });
    };
    let sql = &scheduler.sql.recurring;
    let mut tx = scheduler
        .pool
        .begin()
        .await
        .map_err(db("starting a transaction"))?;
    let Some(current) = scheduler.load(&mut tx, schedule_id, true).await? else {
        // The schedule row is gone: end the tick instead of firing for nothing.
        let ended = end_tick(
            scheduler,
            &mut tx,
            lease,
            TaskStatus::Completed,
            now,
            tick_metadata(0, false),
        )
        .await?;
        tx.commit().await.map_err(db("committing a tick"))?;
        return Ok(ended.then(|| TickReport {
            schedule_id: schedule_id.to_owned(),
            slots: Vec::new(),
            unrecorded_skips: 0,
            cancelled: Vec::new(),
            next_slot: None,
            state: ScheduleState::Finished,
        }));
    };
    let active_runs: Vec<String> = sqlx::query_scalar(&sql.active_runs)
        .bind(schedule_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading a schedule's runs"))?;
    let plan = plan_tick(&TickInput {
        task: &current.task,
        state: current.state,
        occurrence: current.occurrence,
        next_slot: current.next_slot,
        buffered_slot: current.buffered_slot,
        trigger_requested: current.trigger_requested,
        last_finished_at: current.last_finished_at,
        active_runs,
        now,
    });

    if !plan.cancel.is_empty() {
        sqlx::query(&sql.cancel_runs)
            .bind(&plan.cancel)
            .execute(&mut *tx)
            .await
            .map_err(db("cancelling runs"))?;
    }
    let timezone = current.task.schedule.timezone().name().to_owned();
    let mut runs = Vec::new();
    let mut slots: Vec<SlotRecord> = Vec::with_capacity(plan.slots.len());
    for (slot, decision) in &plan.slots {
        let task_id = match decision {
            Decision::Started {
                occurrence,
                catch_up,
                manual,
            } => {
                let context = RunContext {
                    schedule_id: schedule_id.to_owned(),
                    slot: *slot,
                    occurrence: *occurrence,
                    catch_up: *catch_up,
                    manual: *manual,
                    timezone: timezone.clone(),
                };
                let id = current.task.run_id(*occurrence);
                runs.push(ScheduleAtParams {
                    task_id: id.clone(),
                    task_name: current.task.task_name.clone(),
                    execution_time: now,
                    data: current.task.data.clone(),
                    recurrence: None,
                    metadata: json!({ "schedule": context }),
                });
                Some(id)
            }
            _ => None,
        };
        slots.push(SlotRecord {
            slot: *slot,
            decision: decision.clone(),
            task_id,
        });
    }
    let inserted = scheduler.insert(&mut *tx, &runs, Some(schedule_id)).await?;
    for record in &mut slots {
        // A run id that already existed (scheduled by hand, say) did not start a run.
        if record
            .task_id
            .as_ref()
            .is_some_and(|id| !inserted.contains(id))
        {
            tracing::warn!(schedule_id, task_id = ?record.task_id, "run id already exists; slot skipped");
            record.decision = Decision::Skipped(SkipReason::RunIdExists);
            record.task_id = None;
        }
    }
    record(scheduler, &mut tx, schedule_id, &slots).await?;

    sqlx::query(&sql.after_tick)
        .bind(schedule_id)
        .bind(count(plan.occurrence))
        .bind(plan.next_slot)
        .bind(plan.buffered_slot)
        .bind(plan.state.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db("updating a schedule"))?;
    let (status, run_at, wake_on_finish) = match plan.tick {
        NextTick::Due { at, wake_on_finish } => (TaskStatus::Pending, at, wake_on_finish),
        NextTick::Wait { wake_on_finish } => (TaskStatus::Waiting, now, wake_on_finish),
        NextTick::Done => (TaskStatus::Completed, now, false),
    };
    let metadata = tick_metadata(plan.occurrence, wake_on_finish);
    if !end_tick(scheduler, &mut tx, lease, status, run_at, metadata).await? {
        return Ok(None); // lease lost: dropping the transaction rolls everything back
    }
    tx.commit().await.map_err(db("committing a tick"))?;
    Ok(Some(TickReport {
        schedule_id: schedule_id.to_owned(),
        slots,
        unrecorded_skips: plan.unrecorded_skips,
        cancelled: plan.cancel,
        next_slot: plan.next_slot,
        state: plan.state,
    }))
}

/// Reschedules (or ends) the tick, fenced by its lease. Returns whether the lease held.
async fn end_tick(
    scheduler: &PostgresTaskScheduler,
    conn: &mut PgConnection,
    lease: &Lease,
    status: TaskStatus,
    run_at: DateTime<Utc>,
    metadata: Value,
) -> Result<bool> {
    let updated: i64 = sqlx::query_scalar(&scheduler.sql.recurring.after_fire)
        .bind(&lease.task_id)
        .bind(lease.token)
        .bind(status.as_str())
        .bind(run_at)
        .bind(metadata)
        .bind(&*scheduler.channel)
        .fetch_one(&mut *conn)
        .await
        .map_err(db("rescheduling a recurring tick"))?;
    Ok(updated > 0)
}

/// Appends the slots' decisions to the schedule's history, keeping it bounded.
async fn record(
    scheduler: &PostgresTaskScheduler,
    conn: &mut PgConnection,
    schedule_id: &str,
    slots: &[SlotRecord],
) -> Result<()> {
    if slots.is_empty() {
        return Ok(());
    }
    let n = slots.len();
    let (mut at, mut decisions, mut reasons) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut occurrences, mut ids, mut catch_ups) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for record in slots {
        let (decision, reason, occurrence, catch_up) = match &record.decision {
            Decision::Started {
                occurrence,
                catch_up,
                manual,
            } => {
                let reason = match (catch_up, manual) {
                    (true, _) => Some("catch_up"),
                    (_, true) => Some("manual"),
                    _ => None,
                };
                ("started", reason, Some(count(*occurrence)), *catch_up)
            }
            Decision::Buffered => ("buffered", None, None, false),
            Decision::Skipped(reason) => ("skipped", Some(reason.as_str()), None, false),
        };
        at.push(record.slot);
        decisions.push(decision);
        reasons.push(reason);
        occurrences.push(occurrence);
        ids.push(record.task_id.as_deref());
        catch_ups.push(catch_up);
    }
    sqlx::query(&scheduler.sql.recurring.record)
        .bind(schedule_id)
        .bind(at)
        .bind(decisions)
        .bind(reasons)
        .bind(occurrences)
        .bind(ids)
        .bind(catch_ups)
        .execute(&mut *conn)
        .await
        .map_err(db("recording a schedule's decisions"))?;
    sqlx::query(&scheduler.sql.recurring.prune)
        .bind(schedule_id)
        .bind(i64::try_from(HISTORY_LIMIT).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await
        .map_err(db("pruning a schedule's history"))?;
    Ok(())
}
