//! Recurring schedules on SQLite: their rows, their history, and the statements a unit of
//! work runs on them.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row};
use zart_core::schedule::{Schedule, TimeWindow};
use zart_core::schedules::{
    MissedRunPolicy, OverlapPolicy, RecurringTask, RunRecord, ScheduleInfo, ScheduleState,
    HISTORY_LIMIT,
};
use zart_core::store::ScheduleStore;
use zart_core::task::TaskStatus;
use zart_core::StoreResult;

use crate::codec::{
    duration_ms, instant, json, json_text, maybe_instant, maybe_json, stored_count,
};
use crate::error::corrupt;
use crate::queries::Queries;
use crate::SqliteTaskScheduler;

fn schedule_row(schedule_id: &str, row: &Row<'_>) -> rusqlite::Result<ScheduleInfo> {
    let bad = |column: usize, detail: String| {
        corrupt(column, format!("schedule {schedule_id:?}: {detail}"))
    };
    let schedule: Schedule =
        serde_json::from_value(json(row, 1)?).map_err(|e| bad(1, e.to_string()))?;
    let window = maybe_json(row, 6)?
        .map(serde_json::from_value::<TimeWindow>)
        .transpose()
        .map_err(|e| bad(6, e.to_string()))?;
    let missed: String = row.get(4)?;
    let overlap: String = row.get(5)?;
    let state: String = row.get(9)?;
    let max_runs: Option<i64> = row.get(7)?;
    let grace_ms: i64 = row.get(8)?;
    let occurrence: i64 = row.get(10)?;
    Ok(ScheduleInfo {
        task: RecurringTask {
            schedule_id: schedule_id.to_owned(),
            task_name: row.get(0)?,
            schedule,
            data: json(row, 2)?,
            id_template: row.get(3)?,
            missed: MissedRunPolicy::parse(&missed).ok_or_else(|| bad(4, missed.clone()))?,
            overlap: OverlapPolicy::parse(&overlap).ok_or_else(|| bad(5, overlap.clone()))?,
            window,
            max_runs: max_runs.map(|n| u64::try_from(n).unwrap_or(0)),
            grace: Duration::from_millis(u64::try_from(grace_ms).unwrap_or(0)),
        },
        state: ScheduleState::parse(&state).ok_or_else(|| bad(9, state.clone()))?,
        occurrence: u64::try_from(occurrence).unwrap_or(0),
        next_slot: maybe_instant(row, 11)?,
        buffered_slot: maybe_instant(row, 12)?,
        trigger_requested: row.get(13)?,
        last_finished_at: maybe_instant(row, 14)?,
    })
}

/// The schedule `schedule_id`, read on `conn`.
pub(crate) fn load_on(
    conn: &Connection,
    sql: &Queries,
    schedule_id: &str,
) -> rusqlite::Result<Option<ScheduleInfo>> {
    conn.prepare_cached(&sql.schedules.select)?
        .query_row([schedule_id], |row| schedule_row(schedule_id, row))
        .optional()
}

/// A declaration's columns as stored (`?1`..`?10` of the insert and update statements).
pub(crate) struct Definition<'a> {
    task: &'a RecurringTask,
    schedule: String,
    window: Option<String>,
}

impl<'a> Definition<'a> {
    pub(crate) fn of(task: &'a RecurringTask) -> StoreResult<Self> {
        let (schedule, window) = task.stored_schedule()?;
        let (schedule, window) = (json_text(&schedule), window.as_ref().map(json_text));
        Ok(Definition {
            task,
            schedule,
            window,
        })
    }

    /// The ten columns, in statement order.
    pub(crate) fn columns(&self) -> [Box<dyn rusqlite::ToSql + '_>; 10] {
        let task = self.task;
        [
            Box::new(&task.schedule_id),
            Box::new(&task.task_name),
            Box::new(&self.schedule),
            Box::new(json_text(&task.data)),
            Box::new(&task.id_template),
            Box::new(task.missed.as_str()),
            Box::new(task.overlap.as_str()),
            Box::new(&self.window),
            Box::new(task.max_runs.map(stored_count)),
            Box::new(duration_ms(task.grace)),
        ]
    }
}

#[async_trait]
impl ScheduleStore for SqliteTaskScheduler {
    async fn schedule(&self, schedule_id: &str) -> StoreResult<Option<ScheduleInfo>> {
        self.read("reading a schedule", |conn, sql| {
            load_on(conn, sql, schedule_id)
        })
        .await
    }

    async fn schedules(&self) -> StoreResult<Vec<ScheduleInfo>> {
        // The id comes last: the columns before it are those `schedule_row` reads.
        let statement = format!(
            "SELECT task_name, schedule, data, id_template, missed, overlap, time_window,
                    max_runs, grace_ms, state, occurrence, next_slot, buffered_slot,
                    trigger_requested, last_finished_at, schedule_id
             FROM \"{}schedules\" ORDER BY schedule_id",
            self.shared.options.prefix
        );
        self.read("listing schedules", |conn, _| {
            conn.prepare_cached(&statement)?
                .query_map([], |row| schedule_row(&row.get::<_, String>(15)?, row))?
                .collect()
        })
        .await
    }

    async fn history(&self, schedule_id: &str, limit: usize) -> StoreResult<Vec<RunRecord>> {
        let limit = i64::try_from(limit.min(HISTORY_LIMIT)).unwrap_or(0);
        self.read("reading a schedule's history", |conn, sql| {
            conn.prepare_cached(&sql.schedules.history)?
                .query_map((schedule_id, limit), |row| {
                    let status: Option<String> = row.get(6)?;
                    let occurrence: Option<i64> = row.get(3)?;
                    Ok(RunRecord {
                        slot: instant(row, 0)?,
                        decision: row.get(1)?,
                        reason: row.get(2)?,
                        occurrence: occurrence.map(|n| u64::try_from(n).unwrap_or(0)),
                        task_id: row.get(4)?,
                        recorded_at: instant(row, 5)?,
                        status: status.as_deref().and_then(TaskStatus::parse),
                        started_at: maybe_instant(row, 7)?,
                        finished_at: maybe_instant(row, 8)?,
                        error: row.get(9)?,
                    })
                })?
                .collect()
        })
        .await
    }
}
