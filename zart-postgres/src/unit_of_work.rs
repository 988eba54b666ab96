//! [`PgUnitOfWork`]: several store primitives in one PostgreSQL transaction.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, Transaction};
use zart_core::queue::Lease;
use zart_core::schedules::{
    tick_id, HistoryEntry, RecurringTask, ScheduleInfo, ScheduleProgress, ScheduleState, TickState,
};
use zart_core::steps::{Checkpointed, StepRecord};
use zart_core::store::UnitOfWork;
use zart_core::task::{NewTask, TaskStatus};
use zart_core::StoreResult;

use crate::announce::Inserting;
use crate::connections::Connections;
use crate::schedules::{bind_definition, count, load};
use crate::{queue, steps, Shared};

/// A unit of work on PostgreSQL: one transaction. Dropped without
/// [`commit`](UnitOfWork::commit), it rolls back, notifications included. The tasks it
/// inserts are announced to workers once it has committed, from outside it, if other
/// inserts were under way beside it (see `announce`); else its statement notifies.
///
/// Its [`connection`](UnitOfWork::connection) is the transaction's `PgConnection`: what a
/// transactional step's own SQL runs on, so that it commits with the step's checkpoint.
pub struct PgUnitOfWork {
    tx: Transaction<'static, Postgres>,
    shared: Arc<Shared>,
    connections: Arc<Connections>,
    /// The earliest due instant of the tasks inserted so far to announce (epoch
    /// milliseconds).
    earliest_inserted: Option<i64>,
    /// Held from the first insert until the unit of work ends.
    inserting: Option<Inserting>,
}

impl std::fmt::Debug for PgUnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgUnitOfWork").finish_non_exhaustive()
    }
}

impl PgUnitOfWork {
    pub(crate) fn new(
        tx: Transaction<'static, Postgres>,
        shared: Arc<Shared>,
        connections: Arc<Connections>,
    ) -> Self {
        PgUnitOfWork {
            tx,
            shared,
            connections,
            earliest_inserted: None,
            inserting: None,
        }
    }

    /// The transaction's connection.
    pub fn connection_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

fn state_names(states: &[ScheduleState]) -> Vec<&'static str> {
    states.iter().map(|s| s.as_str()).collect()
}

#[async_trait]
impl UnitOfWork for PgUnitOfWork {
    async fn insert(
        &mut self,
        tasks: &[NewTask],
        schedule_id: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let inserting = self
            .inserting
            .get_or_insert_with(|| self.shared.inserts.begin());
        let (ids, to_announce) = queue::insert_in_own_transaction_on(
            &self.shared,
            &mut *self.tx,
            tasks,
            schedule_id,
            inserting,
        )
        .await?;
        self.earliest_inserted = self.earliest_inserted.into_iter().chain(to_announce).min();
        Ok(ids)
    }

    async fn complete(
        &mut self,
        lease: &Lease,
        result: Option<&Value>,
    ) -> StoreResult<Option<TaskStatus>> {
        queue::complete_on(&self.shared, &mut *self.tx, lease, result).await
    }

    async fn save_steps(
        &mut self,
        steps: &[(Lease, StepRecord)],
    ) -> StoreResult<Vec<Checkpointed>> {
        steps::save_steps_on(&self.shared, &mut *self.tx, steps).await
    }

    async fn lock_schedule(&mut self, schedule_id: &str) -> StoreResult<Option<ScheduleInfo>> {
        load(&self.shared, &mut self.tx, schedule_id, true).await
    }

    async fn insert_schedule(
        &mut self,
        task: &RecurringTask,
        state: ScheduleState,
        next_slot: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let inserted =
            bind_definition(sqlx::query(self.shared.sql.recurring.insert.clone()), task)?
                .bind(state.as_str())
                .bind(next_slot)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(self.shared.db("registering a schedule"))?;
        Ok(inserted.is_some())
    }

    async fn update_schedule(&mut self, task: &RecurringTask) -> StoreResult<()> {
        bind_definition(
            sqlx::query(self.shared.sql.recurring.update_definition.clone()),
            task,
        )?
        .execute(&mut *self.tx)
        .await
        .map_err(self.shared.db("updating a schedule"))?;
        Ok(())
    }

    async fn set_next_slot(
        &mut self,
        schedule_id: &str,
        next_slot: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        sqlx::query(self.shared.sql.recurring.update_next_slot.clone())
            .bind(schedule_id)
            .bind(next_slot)
            .execute(&mut *self.tx)
            .await
            .map_err(self.shared.db("updating a schedule's next slot"))?;
        Ok(())
    }

    async fn change_state(
        &mut self,
        schedule_id: &str,
        from: &[ScheduleState],
        to: ScheduleState,
    ) -> StoreResult<bool> {
        let changed = sqlx::query(self.shared.sql.recurring.change_state.clone())
            .bind(schedule_id)
            .bind(state_names(from))
            .bind(to.as_str())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(self.shared.db("changing a schedule's state"))?;
        Ok(changed.is_some())
    }

    async fn request_trigger(&mut self, schedule_id: &str) -> StoreResult<bool> {
        let requested = sqlx::query(self.shared.sql.recurring.request_trigger.clone())
            .bind(schedule_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(self.shared.db("triggering a schedule"))?;
        Ok(requested.is_some())
    }

    async fn save_progress(
        &mut self,
        schedule_id: &str,
        progress: &ScheduleProgress,
    ) -> StoreResult<()> {
        sqlx::query(self.shared.sql.recurring.after_tick.clone())
            .bind(schedule_id)
            .bind(count(progress.occurrence))
            .bind(progress.next_slot)
            .bind(progress.buffered_slot)
            .bind(progress.state.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(self.shared.db("updating a schedule"))?;
        Ok(())
    }

    async fn active_runs(&mut self, schedule_id: &str) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(self.shared.sql.recurring.active_runs.clone())
            .bind(schedule_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(self.shared.db("reading a schedule's runs"))
    }

    async fn cancel_runs(&mut self, task_ids: &[String]) -> StoreResult<()> {
        if task_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(self.shared.sql.recurring.cancel_runs.clone())
            .bind(task_ids)
            .execute(&mut *self.tx)
            .await
            .map_err(self.shared.db("cancelling runs"))?;
        Ok(())
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
        let slots: Vec<DateTime<Utc>> = entries.iter().map(|e| e.slot).collect();
        let decisions: Vec<&str> = entries.iter().map(|e| e.decision).collect();
        let reasons: Vec<Option<&str>> = entries.iter().map(|e| e.reason).collect();
        let occurrences: Vec<Option<i64>> =
            entries.iter().map(|e| e.occurrence.map(count)).collect();
        let ids: Vec<Option<&str>> = entries.iter().map(|e| e.task_id.as_deref()).collect();
        let catch_ups: Vec<bool> = entries.iter().map(|e| e.catch_up).collect();
        sqlx::query(self.shared.sql.recurring.record.clone())
            .bind(schedule_id)
            .bind(slots)
            .bind(decisions)
            .bind(reasons)
            .bind(occurrences)
            .bind(ids)
            .bind(catch_ups)
            .execute(&mut *self.tx)
            .await
            .map_err(self.shared.db("recording a schedule's decisions"))?;
        sqlx::query(self.shared.sql.recurring.prune.clone())
            .bind(schedule_id)
            .bind(i64::try_from(keep).unwrap_or(i64::MAX))
            .execute(&mut *self.tx)
            .await
            .map_err(self.shared.db("pruning a schedule's history"))?;
        Ok(())
    }

    async fn set_tick(&mut self, schedule_id: &str, tick: &TickState) -> StoreResult<()> {
        sqlx::query(self.shared.sql.recurring.set_tick.clone())
            .bind(tick_id(schedule_id))
            .bind(tick.status.as_str())
            .bind(tick.run_at)
            .bind(tick.metadata_patch())
            .bind(&self.shared.channel)
            .execute(&mut *self.tx)
            .await
            .map_err(self.shared.db("scheduling a recurring tick"))?;
        Ok(())
    }

    async fn end_tick(&mut self, lease: &Lease, tick: &TickState) -> StoreResult<bool> {
        let updated: i64 = sqlx::query_scalar(self.shared.sql.recurring.after_fire.clone())
            .bind(&lease.task_id)
            .bind(lease.token)
            .bind(tick.status.as_str())
            .bind(tick.run_at)
            .bind(tick.metadata_patch())
            .bind(&self.shared.channel)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(self.shared.db("rescheduling a recurring tick"))?;
        Ok(updated > 0)
    }

    fn connection(&mut self) -> Option<&mut (dyn std::any::Any + Send)> {
        let conn: &mut PgConnection = &mut self.tx;
        Some(conn)
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let PgUnitOfWork {
            tx,
            shared,
            connections,
            earliest_inserted,
            inserting,
        } = *self;
        tx.commit()
            .await
            .map_err(shared.db("committing a transaction"))?;
        drop(inserting);
        if let Some(earliest) = earliest_inserted {
            shared.announcer.announce(&connections, earliest);
        }
        Ok(())
    }
}
