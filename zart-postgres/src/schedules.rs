//! Recurring schedules on PostgreSQL: their rows, their history, and the statements a
//! unit of work runs on them.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgConnection, Postgres, Row};
use zart_core::schedule::{Schedule, TimeWindow};
use zart_core::schedules::{
    MissedRunPolicy, OverlapPolicy, RecurringTask, RunRecord, ScheduleInfo, ScheduleState,
    HISTORY_LIMIT,
};
use zart_core::store::ScheduleStore;
use zart_core::task::TaskStatus;
use zart_core::StoreResult;

use crate::{PostgresTaskScheduler, Shared};

fn corrupt(what: &str, schedule_id: &str, detail: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: what.to_owned(),
        source: format!("schedule {schedule_id:?}: {detail}").into(),
    }
}

fn schedule_row(schedule_id: &str, row: &PgRow) -> Result<ScheduleInfo, sqlx::Error> {
    let schedule: serde_json::Value = row.try_get("schedule")?;
    let schedule: Schedule =
        serde_json::from_value(schedule).map_err(|e| corrupt("schedule", schedule_id, e))?;
    let window: Option<serde_json::Value> = row.try_get("time_window")?;
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
    Ok(ScheduleInfo {
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

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The schedule `schedule_id` read on `conn`, locked for the transaction with `lock`.
pub(crate) async fn load(
    shared: &Shared,
    conn: &mut PgConnection,
    schedule_id: &str,
    lock: bool,
) -> StoreResult<Option<ScheduleInfo>> {
    let sql = match lock {
        true => shared.sql.recurring.select_for_update.clone(),
        false => shared.sql.recurring.select.clone(),
    };
    let row = sqlx::query(sql)
        .bind(schedule_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(shared.db("reading a schedule"))?;
    row.map(|row| schedule_row(schedule_id, &row))
        .transpose()
        .map_err(shared.db("decoding a schedule"))
}

/// Binds a declaration's columns (`$1`..`$10` of the insert and update statements).
pub(crate) fn bind_definition<'q>(
    query: sqlx::query::Query<'q, Postgres, PgArguments>,
    task: &'q RecurringTask,
) -> StoreResult<sqlx::query::Query<'q, Postgres, PgArguments>> {
    let (schedule, window) = task.stored_schedule()?;
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

#[async_trait]
impl ScheduleStore for PostgresTaskScheduler {
    async fn schedule(&self, schedule_id: &str) -> StoreResult<Option<ScheduleInfo>> {
        let mut conn = self.connection().await?;
        load(&self.shared, &mut conn, schedule_id, false).await
    }

    async fn schedules(&self) -> StoreResult<Vec<ScheduleInfo>> {
        let rows = sqlx::query(self.shared.sql.recurring.select_all.clone())
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("listing schedules"))?;
        rows.iter()
            .map(|row| schedule_row(&row.try_get::<String, _>("schedule_id")?, row))
            .collect::<Result<_, _>>()
            .map_err(self.shared.db("decoding a schedule"))
    }

    async fn history(&self, schedule_id: &str, limit: usize) -> StoreResult<Vec<RunRecord>> {
        let rows = sqlx::query(self.shared.sql.recurring.history.clone())
            .bind(schedule_id)
            .bind(i64::try_from(limit.min(HISTORY_LIMIT)).unwrap_or(0))
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("reading a schedule's history"))?;
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
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.shared.db("decoding a schedule's history"))
    }
}
