//! [`SqliteUnitOfWork`]: several store primitives in one SQLite write transaction.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;
use zart_core::queue::Lease;
use zart_core::schedules::{
    tick_id, HistoryEntry, RecurringTask, ScheduleInfo, ScheduleProgress, ScheduleState, TickState,
};
use zart_core::steps::{Checkpointed, StepRecord};
use zart_core::store::UnitOfWork;
use zart_core::task::{NewTask, TaskStatus};
use zart_core::StoreResult;

use crate::codec::{instant, json_text, millis, stored_count};
use crate::db::{rollback, Held};
use crate::end_effects::{self, Ended};
use crate::notify::Effects;
use crate::queries::Queries;
use crate::queue::{complete_on, insert_on, status};
use crate::schedules::{load_on, Definition};
use crate::{steps, Shared};

/// A unit of work on SQLite: one `BEGIN IMMEDIATE` transaction, holding the store's
/// connection (its other writers wait meanwhile). Dropped without
/// [`commit`](UnitOfWork::commit), it rolls back, and announces nothing.
///
/// Its [`connection`](UnitOfWork::connection) is the store's `rusqlite::Connection`,
/// inside the transaction: what a transactional step's own SQL runs on, so that it
/// commits with the step's checkpoint.
pub struct SqliteUnitOfWork {
    conn: Held,
    shared: Arc<Shared>,
    effects: Effects,
}

impl std::fmt::Debug for SqliteUnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteUnitOfWork").finish_non_exhaustive()
    }
}

impl Drop for SqliteUnitOfWork {
    fn drop(&mut self) {
        rollback(&self.conn);
    }
}

impl SqliteUnitOfWork {
    pub(crate) fn new(conn: Held, shared: Arc<Shared>) -> Self {
        SqliteUnitOfWork {
            conn,
            shared,
            effects: Effects::default(),
        }
    }

    /// The transaction's connection.
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Runs `f` on the transaction.
    fn run<T>(
        &mut self,
        context: &'static str,
        f: impl FnOnce(&Connection, &Queries, &mut Effects) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let shared = &self.shared;
        f(&self.conn, &shared.sql, &mut self.effects).map_err(shared.db.error(context))
    }

    /// A tick that became pending is announced; a waiting one is not.
    fn tick_row(row: &rusqlite::Row<'_>, effects: &mut Effects) -> rusqlite::Result<()> {
        if status(row, 0)? == TaskStatus::Pending {
            effects.due(instant(row, 1)?);
        }
        Ok(())
    }
}

#[async_trait]
impl UnitOfWork for SqliteUnitOfWork {
    async fn insert(
        &mut self,
        tasks: &[NewTask],
        schedule_id: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        self.run("scheduling tasks", |conn, sql, effects| {
            insert_on(conn, sql, tasks, schedule_id, effects)
        })
    }

    async fn complete(
        &mut self,
        lease: &Lease,
        result: Option<&Value>,
    ) -> StoreResult<Option<TaskStatus>> {
        self.shared.row_keys().remove(&lease.task_id);
        self.run("completing a task", |conn, sql, effects| {
            complete_on(conn, sql, lease, result, effects)
        })
    }

    async fn save_steps(
        &mut self,
        steps: &[(Lease, StepRecord)],
    ) -> StoreResult<Vec<Checkpointed>> {
        self.run("recording steps", |conn, sql, _| {
            steps::save_on(conn, sql, steps)
        })
    }

    async fn lock_schedule(&mut self, schedule_id: &str) -> StoreResult<Option<ScheduleInfo>> {
        // The transaction holds the file's write lock: the row is as locked as can be.
        self.run("reading a schedule", |conn, sql, _| {
            load_on(conn, sql, schedule_id)
        })
    }

    async fn insert_schedule(
        &mut self,
        task: &RecurringTask,
        state: ScheduleState,
        next_slot: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let definition = Definition::of(task)?;
        self.run("registering a schedule", |conn, sql, _| {
            let [a, b, c, d, e, f, g, h, i, j] = definition.columns();
            let params: [&dyn rusqlite::ToSql; 12] = [
                &a,
                &b,
                &c,
                &d,
                &e,
                &f,
                &g,
                &h,
                &i,
                &j,
                &state.as_str(),
                &next_slot.map(millis),
            ];
            Ok(conn
                .prepare_cached(&sql.schedules.insert)?
                .query_row(&params[..], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    async fn update_schedule(&mut self, task: &RecurringTask) -> StoreResult<()> {
        let definition = Definition::of(task)?;
        self.run("updating a schedule", |conn, sql, _| {
            let columns = definition.columns();
            let params: Vec<&dyn rusqlite::ToSql> = columns
                .iter()
                .map(|c| c.as_ref() as &dyn rusqlite::ToSql)
                .collect();
            conn.prepare_cached(&sql.schedules.update_definition)?
                .execute(&params[..])
                .map(drop)
        })
    }

    async fn set_next_slot(
        &mut self,
        schedule_id: &str,
        next_slot: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        self.run("updating a schedule's next slot", |conn, sql, _| {
            conn.prepare_cached(&sql.schedules.update_next_slot)?
                .execute((schedule_id, next_slot.map(millis)))
                .map(drop)
        })
    }

    async fn change_state(
        &mut self,
        schedule_id: &str,
        from: &[ScheduleState],
        to: ScheduleState,
    ) -> StoreResult<bool> {
        let from = json_text(&Value::from(
            from.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        ));
        self.run("changing a schedule's state", |conn, sql, _| {
            Ok(conn
                .prepare_cached(&sql.schedules.change_state)?
                .query_row((schedule_id, from, to.as_str()), |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    async fn request_trigger(&mut self, schedule_id: &str) -> StoreResult<bool> {
        self.run("triggering a schedule", |conn, sql, _| {
            Ok(conn
                .prepare_cached(&sql.schedules.request_trigger)?
                .query_row([schedule_id], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    async fn save_progress(
        &mut self,
        schedule_id: &str,
        progress: &ScheduleProgress,
    ) -> StoreResult<()> {
        self.run("updating a schedule", |conn, sql, _| {
            conn.prepare_cached(&sql.schedules.after_tick)?
                .execute((
                    schedule_id,
                    stored_count(progress.occurrence),
                    progress.next_slot.map(millis),
                    progress.buffered_slot.map(millis),
                    progress.state.as_str(),
                ))
                .map(drop)
        })
    }

    async fn active_runs(&mut self, schedule_id: &str) -> StoreResult<Vec<String>> {
        self.run("reading a schedule's runs", |conn, sql, _| {
            conn.prepare_cached(&sql.schedules.active_runs)?
                .query_map([schedule_id], |row| row.get(0))?
                .collect()
        })
    }

    async fn cancel_runs(&mut self, task_ids: &[String]) -> StoreResult<()> {
        self.run("cancelling runs", |conn, sql, effects| {
            for id in task_ids {
                let ended = conn
                    .prepare_cached(&sql.schedules.cancel_run)?
                    .query_row([id], Ended::read)
                    .optional()?;
                if let Some(ended) = ended {
                    end_effects::apply(conn, sql, &ended, effects)?;
                }
            }
            Ok(())
        })
    }

    async fn record_history(
        &mut self,
        schedule_id: &str,
        entries: &[HistoryEntry],
        keep: usize,
    ) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.run("recording a schedule's decisions", |conn, sql, _| {
            let mut record = conn.prepare_cached(&sql.schedules.record)?;
            for entry in entries {
                record.execute((
                    schedule_id,
                    millis(entry.slot),
                    entry.decision,
                    entry.reason,
                    entry.occurrence.map(stored_count),
                    entry.task_id.as_deref(),
                    entry.catch_up,
                ))?;
            }
            conn.prepare_cached(&sql.schedules.prune)?
                .execute((schedule_id, i64::try_from(keep).unwrap_or(i64::MAX)))
                .map(drop)
        })
    }

    async fn set_tick(&mut self, schedule_id: &str, tick: &TickState) -> StoreResult<()> {
        let params = (
            tick_id(schedule_id),
            tick.status.as_str(),
            millis(tick.run_at),
            json_text(&tick.metadata_patch()),
        );
        self.run("scheduling a recurring tick", |conn, sql, effects| {
            conn.prepare_cached(&sql.schedules.set_tick)?
                .query_row(params, |row| Self::tick_row(row, effects))
                .optional()
                .map(drop)
        })
    }

    async fn end_tick(&mut self, lease: &Lease, tick: &TickState) -> StoreResult<bool> {
        self.shared.row_keys().remove(&lease.task_id);
        let params = (
            &lease.task_id,
            lease.token,
            tick.status.as_str(),
            millis(tick.run_at),
            json_text(&tick.metadata_patch()),
        );
        self.run("rescheduling a recurring tick", |conn, sql, effects| {
            Ok(conn
                .prepare_cached(&sql.schedules.end_tick)?
                .query_row(params, |row| Self::tick_row(row, effects))
                .optional()?
                .is_some())
        })
    }

    fn connection(&mut self) -> Option<&mut (dyn std::any::Any + Send)> {
        let conn: &mut Connection = &mut self.conn;
        Some(conn)
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(self.shared.db.error("committing a transaction"))?;
        let effects = std::mem::take(&mut self.effects);
        self.shared.bells.announce(effects);
        Ok(())
    }
}
