//! How values are kept in SQLite's types: instants as INTEGER milliseconds since the
//! epoch, JSON as TEXT, flags as 0 and 1.

use chrono::{DateTime, Utc};
use rusqlite::Row;
use serde_json::Value;

use crate::error::corrupt;

/// The current instant in milliseconds, in SQL: the store's clock (see `db::NOW_FUNCTION`),
/// this machine's unless a test drives it.
pub(crate) const NOW: &str = "zart_now()";

/// The system's current instant in milliseconds, in SQL, read once per statement: what the
/// tables' defaults hold (stored in the schema, so that any tool's insert can read it).
pub(crate) const SYSTEM_NOW: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/// An instant as stored.
pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A duration as stored.
pub(crate) fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// JSON as stored.
pub(crate) fn json_text(value: &Value) -> String {
    value.to_string()
}

/// A stored instant.
pub(crate) fn instant(row: &Row<'_>, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    let ms: i64 = row.get(column)?;
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| corrupt(column, format!("{ms} is no instant")))
}

/// A stored instant, or `None`.
pub(crate) fn maybe_instant(
    row: &Row<'_>,
    column: usize,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get::<_, Option<i64>>(column)? {
        None => Ok(None),
        Some(_) => instant(row, column).map(Some),
    }
}

/// Stored JSON.
pub(crate) fn json(row: &Row<'_>, column: usize) -> rusqlite::Result<Value> {
    let text: String = row.get(column)?;
    parse_json(column, &text)
}

/// Stored JSON, or `None`.
pub(crate) fn maybe_json(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<Value>> {
    match row.get::<_, Option<String>>(column)? {
        None => Ok(None),
        Some(text) => parse_json(column, &text).map(Some),
    }
}

fn parse_json(column: usize, text: &str) -> rusqlite::Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| corrupt(column, format!("stored JSON does not parse: {e}")))
}

/// A stored count (never negative as Zart writes it).
pub(crate) fn count(row: &Row<'_>, column: usize) -> rusqlite::Result<u32> {
    let n: i64 = row.get(column)?;
    Ok(u32::try_from(n).unwrap_or(0))
}

/// A count as stored.
pub(crate) fn stored_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
