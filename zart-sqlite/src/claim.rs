//! Which due tasks a claim takes on SQLite: priorities, aging, and a queue's controls.
//!
//! A claim runs in a write transaction, and SQLite has one writer at a time across every
//! process on the file: the capacity a queue's controls leave and the claim that uses it
//! are one serial step without any lock of Zart's own. The candidates are read per task
//! name and priority from the (name, priority, due) index, so a backlog of other names or
//! other priorities is never walked; the best of them are chosen here.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};
use zart_core::queue::ClaimScope;

use crate::codec::NOW;

/// A queue's stored controls, as a claim reads them.
struct Control {
    concurrency: Option<i64>,
    key_path: Option<String>,
    key_limit: Option<i64>,
    rate: Option<(i64, i64)>,
    paused: bool,
}

/// A due task a claim may take.
struct Candidate {
    row_key: i64,
    run_at: i64,
    priority: i64,
    overdue: bool,
    key: Option<String>,
}

impl Candidate {
    /// Best first: tasks waiting too long by due instant, then by priority and due instant.
    fn rank(&self) -> (bool, i64, i64) {
        match self.overdue {
            true => (false, 0, self.run_at),
            false => (true, -self.priority, self.run_at),
        }
    }
}

/// The row keys of the tasks a claim of up to `limit` takes in `scope`, best first, and
/// whether their starts are to be recorded (the queue has a rate limit). Reads only.
pub(crate) fn pick(
    conn: &Connection,
    tasks: &str,
    queues: &str,
    starts: &str,
    limit: i64,
    scope: &ClaimScope,
) -> rusqlite::Result<(Vec<i64>, bool)> {
    let control = match &scope.queue {
        Some(queue) => control(conn, queues, queue)?,
        None => None,
    };
    let mut room = limit;
    let mut busy: HashMap<String, i64> = HashMap::new();
    if let (Some(control), Some(queue)) = (&control, &scope.queue) {
        if control.paused {
            return Ok((Vec::new(), false));
        }
        let running: i64 = conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM {tasks}
                 WHERE worker_id IS NOT NULL AND status = 'running' AND queue = ?1"
            ))?
            .query_row([queue], |row| row.get(0))?;
        if let Some(concurrency) = control.concurrency {
            room = room.min(concurrency - running);
        }
        if let Some((rate, period_ms)) = control.rate {
            let started: i64 = conn
                .prepare_cached(&format!(
                    "SELECT count(*) FROM {starts} WHERE queue = ?1 AND started_at > {NOW} - ?2"
                ))?
                .query_row((queue, period_ms), |row| row.get(0))?;
            room = room.min(rate - started);
        }
        if let (Some(path), Some(_)) = (&control.key_path, control.key_limit) {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT json_extract(data, ?2), count(*) FROM {tasks}
                 WHERE worker_id IS NOT NULL AND status = 'running' AND queue = ?1
                 GROUP BY 1"
            ))?;
            let rows = statement.query_map((queue, path), |row| {
                Ok((
                    row.get::<_, Option<rusqlite::types::Value>>(0)?,
                    row.get::<_, i64>(1)?,
                ))
            })?;
            for row in rows {
                let (key, n) = row?;
                if let Some(key) = key.and_then(key_text) {
                    busy.insert(key, n);
                }
            }
        }
    }
    if room <= 0 {
        return Ok((Vec::new(), false));
    }
    let key_path = control
        .as_ref()
        .and_then(|c| c.key_limit.and(c.key_path.clone()));
    let key_limit = control.as_ref().and_then(|c| c.key_limit);
    // With a key limit, a key's tasks beyond its room are passed over: read more than the
    // room so that other keys' tasks are among the candidates.
    let scan = match key_limit {
        Some(_) => room.saturating_mul(4).saturating_add(16),
        None => room,
    };
    let aging = scope
        .priority_aging
        .map(|aging| i64::try_from(aging.as_millis()).unwrap_or(i64::MAX));
    let mut candidates = candidates(conn, tasks, scope, scan, aging, key_path.as_deref())?;
    candidates.sort_by_key(Candidate::rank);
    let mut picked = Vec::new();
    for candidate in candidates {
        if picked.len() as i64 >= room {
            break;
        }
        if let (Some(key), Some(key_limit)) = (&candidate.key, key_limit) {
            let running = busy.entry(key.clone()).or_insert(0);
            if *running >= key_limit {
                continue;
            }
            *running += 1;
        }
        picked.push(candidate.row_key);
    }
    let rated = control.is_some_and(|c| c.rate.is_some());
    Ok((picked, rated))
}

/// A key as text: a string as it is, a number or boolean as JSON writes it.
fn key_text(value: rusqlite::types::Value) -> Option<String> {
    use rusqlite::types::Value;
    match value {
        Value::Null | Value::Blob(_) => None,
        Value::Integer(n) => Some(n.to_string()),
        Value::Real(x) => Some(x.to_string()),
        Value::Text(text) => Some(text),
    }
}

/// The stored controls of `queue`, or `None` if it has none.
fn control(conn: &Connection, queues: &str, queue: &str) -> rusqlite::Result<Option<Control>> {
    conn.prepare_cached(&format!(
        "SELECT concurrency_limit, key_field, key_limit, rate_limit, rate_period_ms,
                paused_at IS NOT NULL
         FROM {queues} WHERE queue = ?1"
    ))?
    .query_row([queue], |row| {
        let rate = match (row.get::<_, Option<i64>>(3)?, row.get::<_, Option<i64>>(4)?) {
            (Some(limit), Some(period)) => Some((limit, period)),
            _ => None,
        };
        Ok(Control {
            concurrency: row.get(0)?,
            key_path: row
                .get::<_, Option<String>>(1)?
                .map(|field| format!("$.{field}")),
            key_limit: row.get(2)?,
            rate,
            paused: row.get(5)?,
        })
    })
    .optional()
}

/// Up to `scan` due tasks of each name and priority in `scope` (every due task's best
/// `scan` without names), with their keys at `key_path`.
fn candidates(
    conn: &Connection,
    tasks: &str,
    scope: &ClaimScope,
    scan: i64,
    aging: Option<i64>,
    key_path: Option<&str>,
) -> rusqlite::Result<Vec<Candidate>> {
    let read = |row: &rusqlite::Row<'_>| {
        Ok(Candidate {
            row_key: row.get(0)?,
            run_at: row.get(1)?,
            priority: row.get(2)?,
            overdue: row.get::<_, Option<bool>>(3)?.unwrap_or(false),
            key: row
                .get::<_, Option<rusqlite::types::Value>>(4)?
                .and_then(key_text),
        })
    };
    let columns = format!(
        "id, run_at, priority, run_at <= {NOW} - ?2, CASE WHEN ?3 IS NULL THEN NULL ELSE json_extract(data, ?3) END"
    );
    // The versions that may be claimed, as a JSON array (a task of no version always may).
    let versions = scope
        .app_versions
        .as_ref()
        .map(|versions| serde_json::Value::from(versions.all()).to_string());
    let of_versions = |n: u8| {
        format!("(?{n} IS NULL OR app_version IS NULL OR app_version IN (SELECT value FROM json_each(?{n})))")
    };
    let mut found = Vec::new();
    let Some(names) = &scope.names else {
        // No names: every due task, sorted here (the engine always names what it claims).
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {columns} FROM {tasks} WHERE status = 'pending' AND run_at <= {NOW}
                 AND {}
             ORDER BY run_at <= {NOW} - ?2 DESC,
                      CASE WHEN run_at <= {NOW} - ?2 THEN run_at END, priority DESC, run_at
             LIMIT ?1",
            of_versions(4)
        ))?;
        for candidate in statement.query_map((scan, aging, key_path, &versions), read)? {
            found.push(candidate?);
        }
        return Ok(found);
    };
    // A name's priorities, highest first: one index probe each.
    let mut levels = conn.prepare_cached(&format!(
        "WITH RECURSIVE level(p) AS (
            SELECT max(priority) FROM {tasks} WHERE status = 'pending' AND task_name = ?1
            UNION ALL
            SELECT (SELECT max(priority) FROM {tasks}
                    WHERE status = 'pending' AND task_name = ?1 AND priority < level.p)
            FROM level WHERE level.p IS NOT NULL
         )
         SELECT p FROM level WHERE p IS NOT NULL"
    ))?;
    let mut due = conn.prepare_cached(&format!(
        "SELECT {columns} FROM {tasks}
         WHERE status = 'pending' AND task_name = ?4 AND priority = ?5 AND run_at <= {NOW}
             AND {}
         ORDER BY run_at LIMIT ?1",
        of_versions(6)
    ))?;
    for name in names {
        let priorities: Vec<i64> = levels
            .query_map([name], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for priority in priorities {
            // The `scan` oldest due of one name and priority hold every task of theirs
            // that a claim of `scan` could take, overdue or not.
            let params = (scan, aging, key_path, name, priority, &versions);
            for candidate in due.query_map(params, read)? {
                found.push(candidate?);
            }
        }
    }
    Ok(found)
}
