//! The two end effects of the store contract ([`zart_core::store`]), applied by the
//! statements that end tasks rather than by triggers (see the migration for why).
//!
//! Every statement that can end a task returns [`ENDED`]'s columns for the rows it
//! touched; [`apply`] then does, in the same transaction, what the contract asks of a task
//! that ended: an occurrence of a schedule notes the time and wakes the schedule's tick if
//! it asked to be woken, a child sends its parent `child:<id>` and wakes it if suspended.

use rusqlite::{Connection, Row};
use zart_core::schedules::tick_id;
use zart_core::task::TaskStatus;

use crate::notify::Effects;
use crate::queries::Queries;
use crate::queue::status;

/// The columns an ending statement returns, in the order [`Ended::read`] reads them.
pub(crate) const ENDED: &str =
    "task_id, status, schedule_id, parent_id, result, error, cancel_requested";

/// `cancel_requested` of a run ended at once while a worker ran it: the worker's outcome,
/// stored later, ends nothing (the run ended already).
pub(crate) const ENDED_WHILE_RUNNING: i64 = 2;

/// A task as an ending statement left it.
#[derive(Debug)]
pub(crate) struct Ended {
    pub task_id: String,
    pub status: TaskStatus,
    schedule_id: Option<String>,
    parent_id: Option<String>,
    result: Option<String>,
    /// The error the task carries after the statement.
    pub error: Option<String>,
    cancel_requested: i64,
}

impl Ended {
    /// Reads [`ENDED`]'s columns, starting at column 0.
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Ended> {
        Ok(Ended {
            task_id: row.get(0)?,
            status: status(row, 1)?,
            schedule_id: row.get(2)?,
            parent_id: row.get(3)?,
            result: row.get(4)?,
            error: row.get(5)?,
            cancel_requested: row.get(6)?,
        })
    }

    /// Whether the run had ended before this statement (replaced by a newer run while a
    /// worker ran it): what the worker stores now ends nothing.
    pub(crate) fn ended_before(&self) -> bool {
        self.cancel_requested == ENDED_WHILE_RUNNING
    }
}

/// The end effects of `ended`, if it is in an end status: in `conn`'s transaction.
pub(crate) fn apply(
    conn: &Connection,
    sql: &Queries,
    ended: &Ended,
    effects: &mut Effects,
) -> rusqlite::Result<()> {
    if !ended.status.is_terminal() {
        return Ok(());
    }
    effects.ended();
    if let Some(schedule_id) = &ended.schedule_id {
        conn.prepare_cached(&sql.occurrence_ended)?
            .execute([schedule_id])?;
        let woken = conn
            .prepare_cached(&sql.wake_tick)?
            .execute([tick_id(schedule_id)])?;
        if woken > 0 {
            effects.due_now();
        }
    }
    if let Some(parent) = &ended.parent_id {
        conn.prepare_cached(&sql.child_ended)?.execute((
            parent,
            &ended.task_id,
            ended.status.as_str(),
            &ended.result,
            &ended.error,
        ))?;
        let woken = conn
            .prepare_cached(&sql.wake_suspended)?
            .execute([parent])?;
        if woken > 0 {
            effects.due_now();
        }
    }
    Ok(())
}
