//! Every SQL statement the SQLite driver runs, rendered once for its table prefix.
//!
//! Statements are prepared on first use and kept in the connection's statement cache. A
//! batch (tasks to insert, outcomes to store) is one statement over a JSON array parameter
//! read with `json_each`: one statement's overhead for the whole batch, as PostgreSQL's
//! `unnest` gives the other driver.

use zart_core::schedules::{TICK_TASK, WAKE_ON_FINISH_KEY};
use zart_core::task::RESERVED_PREFIX;

use crate::codec::NOW;
use crate::end_effects::{ENDED, ENDED_WHILE_RUNNING};

/// The tasks table as `t`, each row beside the last step of its log (`wait_step`,
/// `wait_state`, `wait_until`, `wait_error` for a retrying step) when it may be suspended:
/// pending, due in the future, with no error. The step is found by its primary key.
pub(crate) fn read_from(prefix: &str) -> String {
    format!(
        "\"{prefix}tasks\" t LEFT JOIN (
            SELECT task_id AS wait_task, seq AS wait_seq, name AS wait_step, status AS wait_state,
                   CASE WHEN json_valid(output) THEN json_extract(output, '$.until') END AS wait_until,
                   CASE WHEN status = 'retrying' THEN error END AS wait_error
            FROM \"{prefix}steps\"
         ) w ON t.status = 'pending' AND t.run_at > {NOW} AND t.error IS NULL
            AND w.wait_task = t.task_id
            AND w.wait_seq = (SELECT max(seq) FROM \"{prefix}steps\" m WHERE m.task_id = t.task_id)"
    )
}

/// A row of [`read_from`]'s status as read: the wait a suspended execution is in (see
/// `zart_core::steps::wait_steps`), else the stored status. Prefixes are compared exactly
/// (SQLite's `LIKE` ignores case).
pub(crate) fn read_status() -> String {
    let waits: String = zart_core::steps::wait_steps()
        .iter()
        .map(|(status, prefix)| {
            format!(
                "WHEN w.wait_state = 'completed' AND substr(w.wait_step, 1, {}) = '{}' THEN '{status}' ",
                prefix.chars().count(),
                prefix.replace('\'', "''")
            )
        })
        .collect();
    format!("(CASE {waits}ELSE t.status END)")
}

/// The columns of a [`TaskRecord`](zart_core::task::TaskRecord) from [`read_from`], in the
/// order `inspect::task_record` reads them.
pub(crate) fn read_columns() -> String {
    format!(
        "t.task_id, t.task_name, {status}, t.run_at, t.data, t.metadata, t.attempts, t.rescues,
         t.worker_id, t.lease_expires_at, t.last_worker_id, t.result, t.error, t.created_at,
         t.started_at, t.finished_at, t.parent_id, t.schedule_id, t.cancel_requested, t.priority,
         t.queue, t.app_version, w.wait_step, w.wait_until, w.wait_error",
        status = read_status()
    )
}

/// Ends a lease: clears the holder and makes its token stale.
const END_LEASE: &str = "worker_id = NULL, lease_expires_at = NULL, lease_token = lease_token + 1";

/// A condition: `column` is none of Zart's own ids or names. Compared exactly (SQLite's
/// `LIKE` ignores case).
pub(crate) fn not_reserved(column: &str) -> String {
    format!(
        "substr({column}, 1, {}) <> '{RESERVED_PREFIX}'",
        RESERVED_PREFIX.len()
    )
}

/// The driver's statements for one table prefix.
#[derive(Debug)]
pub(crate) struct Queries {
    /// `?1` a JSON array of `[id, name, run_at, data, metadata, priority]` (data and
    /// metadata as JSON text), `?2` schedule id. Returns the inserted ids.
    pub insert: String,
    /// `?1` worker, `?2` lease ms, `?3` a JSON array of row keys, `?4` queue. Claims
    /// those still pending.
    pub claim: String,
    /// `?1` queue, `?2` how many started now.
    pub record_starts: String,
    /// `?1` queue: forgets starts older than its rate limit's period.
    pub forget_starts: String,
    /// `?1` worker, `?2` lease ms.
    pub heartbeat: String,
    /// `?1` id, `?2` token, `?3` status (or `suspended`), `?4` result, `?5` error,
    /// `?6` run_at override. Returns [`ENDED`].
    pub finish: String,
    /// As `finish`, found by `?7`, the row key its claim returned (one B-tree descent
    /// instead of two through the task id's index).
    pub finish_by_row: String,
    /// `?1` id, `?2` token, `?3` result. Returns [`ENDED`].
    pub complete: String,
    /// `?1` a JSON array of `[id, token]`. Returns the released ids.
    pub release: String,
    /// `?1` max rescues. Returns [`ENDED`].
    pub rescue: String,
    /// `?1` id. Returns [`ENDED`] (status `cancelled`, or `running` for a stop request).
    pub cancel: String,
    /// `?1` id. Returns the id if it was put back.
    pub rerun: String,
    /// `?1` id.
    pub forget_steps: String,
    /// `?1` id.
    pub forget_events: String,
    /// `?1` task id.
    pub forget_attempts: String,
    /// `?1` task id, `?2` error: records the task's current attempt as failed.
    pub record_attempt: String,
    /// `?1` id.
    pub get: String,
    /// The earliest due instant of a pending task.
    pub next_due: String,
    /// `?1` task id.
    pub load_steps: String,
    /// `?1` task id. Its lease token and stop request.
    pub step_fence: String,
    /// `?1`..`?8`: task id, seq, name, occurrence, status, output, error, attempts,
    /// `?9` started_at, `?10` the lease's token, `?11` failed attempts (a JSON array, NULL for
    /// none). Returns the seq if written.
    pub save_step: String,
    /// `?1` child id, `?2` name, `?3` input, `?4` parent.
    pub start_child: String,
    /// `?1` task id, `?2` name, `?3` index.
    pub find_event: String,
    /// `?1` task id, `?2` name, `?3` payload.
    pub send_event: String,
    /// `?1` task id. Makes a suspended execution due now.
    pub wake_suspended: String,
    /// `?1` schedule id. An occurrence ended: the time is noted on its schedule.
    pub occurrence_ended: String,
    /// `?1` tick id. Makes the tick due now if it waits for its runs to end.
    pub wake_tick: String,
    /// `?1` parent, `?2` child id, `?3` its status, `?4` result, `?5` error.
    pub child_ended: String,
    /// The prefix's tasks table, for statements built per call.
    pub tasks: String,
    /// The prefix's queue controls table.
    pub queues: String,
    /// The prefix's table of rate-limited queues' recent starts.
    pub starts: String,
    pub schedules: ScheduleQueries,
}

/// The statements behind recurring schedules.
#[derive(Debug)]
pub(crate) struct ScheduleQueries {
    /// `?1` schedule id.
    pub select: String,
    /// `?1`..`?12`: id, task name, schedule, data, template, missed, overlap, window,
    /// max runs, grace ms, state, next slot. Skips an existing id.
    pub insert: String,
    /// `?1`..`?10` as in `insert`.
    pub update_definition: String,
    /// `?1` id, `?2` next slot.
    pub update_next_slot: String,
    /// `?1` id, `?2` occurrence, `?3` next slot, `?4` buffered slot, `?5` state.
    pub after_tick: String,
    /// `?1` id, `?2` JSON array of from-states, `?3` to-state.
    pub change_state: String,
    /// `?1` id.
    pub request_trigger: String,
    /// `?1` schedule id.
    pub active_runs: String,
    /// `?1` run id. Returns [`ENDED`].
    pub cancel_run: String,
    /// `?1` schedule id, `?2` slot, `?3` decision, `?4` reason, `?5` occurrence,
    /// `?6` task id, `?7` catch-up.
    pub record: String,
    /// `?1` schedule id, `?2` how many to keep.
    pub prune: String,
    /// `?1` schedule id, `?2` limit.
    pub history: String,
    /// `?1` tick id, `?2` status, `?3` run_at, `?4` metadata patch. Returns the status
    /// and run_at unless a worker is running the tick.
    pub set_tick: String,
    /// `?1` tick id, `?2` token, `?3` status, `?4` run_at, `?5` metadata patch. Fenced.
    pub end_tick: String,
}

impl Queries {
    pub(crate) fn new(prefix: &str) -> Self {
        let tasks = format!("\"{prefix}tasks\"");
        let steps = format!("\"{prefix}steps\"");
        let events = format!("\"{prefix}events\"");
        let queues = format!("\"{prefix}queues\"");
        let starts = format!("\"{prefix}queue_starts\"");
        let listed = format!(
            "{} AND {}",
            not_reserved("task_name"),
            not_reserved("task_id")
        );
        // An outcome's update, the row `found` by its task id or by its row key.
        let finish = |found: &str| {
            format!(
                "UPDATE {tasks}
                 SET status = CASE WHEN cancel_requested THEN 'cancelled'
                                   WHEN ?3 = 'suspended' THEN 'pending' ELSE ?3 END,
                     result = CASE WHEN cancel_requested THEN NULL ELSE ?4 END,
                     error = CASE WHEN cancel_requested THEN error ELSE ?5 END,
                     -- A suspended execution that was sent an event while it ran (it may
                     -- have looked before the event arrived) is due again at once.
                     run_at = CASE
                         WHEN ?3 <> 'suspended' THEN coalesce(?6, run_at)
                         WHEN EXISTS (SELECT 1 FROM {events} e WHERE e.task_id = {tasks}.task_id
                                      AND e.created_at >= {tasks}.started_at - 1000)
                         THEN {NOW}
                         ELSE ?6
                     END,
                     -- A suspended task did not fail: its attempt does not count.
                     attempts = attempts - (?3 = 'suspended'),
                     finished_at = CASE WHEN ?3 IN ('pending', 'suspended') AND NOT cancel_requested
                                        THEN NULL ELSE {NOW} END,
                     {END_LEASE}
                 WHERE {found} AND lease_token = ?2
                 RETURNING {ENDED}"
            )
        };
        Queries {
            insert: format!(
                "INSERT INTO {tasks} (task_id, task_name, run_at, data, metadata, schedule_id, priority,
                                      trace_parent, trace_state)
                 SELECT value ->> '$[0]', value ->> '$[1]', value ->> '$[2]', value ->> '$[3]',
                        value ->> '$[4]', ?2, value ->> '$[5]', value ->> '$[6]', value ->> '$[7]'
                 FROM json_each(?1) WHERE true
                 ON CONFLICT (task_id) DO NOTHING
                 RETURNING task_id"
            ),
            claim: format!(
                "UPDATE {tasks}
                 SET status = 'running', worker_id = ?1, last_worker_id = ?1,
                     lease_token = lease_token + 1, lease_expires_at = {NOW} + ?2,
                     attempts = attempts + 1, started_at = {NOW}, queue = ?4,
                     -- A durable execution never claimed before is recorded with the
                     -- worker's version (?6, null if it has none).
                     app_version = CASE WHEN started_at IS NULL
                                             AND task_name IN (SELECT value FROM json_each(?5))
                                        THEN ?6 ELSE app_version END
                 WHERE id IN (SELECT value FROM json_each(?3)) AND status = 'pending'
                 RETURNING task_id, lease_token, task_name, data, metadata, run_at, attempts,
                     created_at, id, priority, trace_parent, trace_state, app_version"
            ),
            record_starts: format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
                 INSERT INTO {starts} (queue, started_at) SELECT ?1, {NOW} FROM n"
            ),
            forget_starts: format!(
                "DELETE FROM {starts} WHERE queue = ?1 AND started_at <= {NOW} - coalesce(
                     (SELECT rate_period_ms FROM {queues} WHERE queue = ?1), 0)"
            ),
            heartbeat: format!(
                "UPDATE {tasks} SET lease_expires_at = {NOW} + ?2
                 WHERE worker_id = ?1 AND status = 'running'"
            ),
            finish: finish("task_id = ?1"),
            finish_by_row: finish("id = ?7 AND task_id = ?1"),
            complete: format!(
                "UPDATE {tasks}
                 SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'completed' END,
                     result = CASE WHEN cancel_requested THEN NULL ELSE ?3 END,
                     finished_at = {NOW},
                     {END_LEASE}
                 WHERE task_id = ?1 AND lease_token = ?2
                 RETURNING {ENDED}"
            ),
            release: format!(
                "UPDATE {tasks}
                 SET status = 'pending', run_at = {NOW}, attempts = max(attempts - 1, 0), {END_LEASE}
                 FROM (SELECT value ->> '$[0]' AS o_id, value ->> '$[1]' AS o_token FROM json_each(?1))
                 WHERE task_id = o_id AND lease_token = o_token
                 RETURNING task_id"
            ),
            rescue: format!(
                "UPDATE {tasks}
                 SET status = CASE WHEN rescues >= ?1 AND task_name <> '{TICK_TASK}' THEN 'dead' ELSE 'pending' END,
                     finished_at = CASE WHEN rescues >= ?1 AND task_name <> '{TICK_TASK}' THEN {NOW} END,
                     error = printf('lease of worker %s expired at %s; %s', worker_id,
                                    strftime('%Y-%m-%dT%H:%M:%fZ', lease_expires_at / 1000.0, 'unixepoch'),
                                    CASE WHEN rescues >= ?1 AND task_name <> '{TICK_TASK}'
                                         THEN printf('already rescued %d time(s), marked dead', rescues)
                                         ELSE printf('rescued (%d of %d allowed)', rescues + 1, ?1) END),
                     rescues = rescues + 1, run_at = {NOW},
                     {END_LEASE}
                 WHERE worker_id IS NOT NULL AND status = 'running' AND lease_expires_at < {NOW}
                 RETURNING {ENDED}"
            ),
            cancel: format!(
                "UPDATE {tasks}
                 SET status = CASE WHEN status = 'running' THEN status ELSE 'cancelled' END,
                     finished_at = CASE WHEN status = 'running' THEN finished_at ELSE {NOW} END,
                     error = CASE WHEN status = 'running' THEN 'cancelled while running' ELSE error END,
                     cancel_requested = (status = 'running')
                 WHERE task_id = ?1 AND status IN ('pending', 'waiting', 'running') AND {listed}
                 RETURNING {ENDED}"
            ),
            rerun: format!(
                "UPDATE {tasks}
                 SET status = 'pending', run_at = {NOW}, attempts = 0, rescues = 0, error = NULL,
                     result = NULL, finished_at = NULL, cancel_requested = 0,
                     lease_token = lease_token + 1
                 WHERE task_id = ?1 AND status IN ('completed', 'failed', 'dead', 'cancelled') AND {listed}
                 RETURNING task_id"
            ),
            forget_steps: format!("DELETE FROM {steps} WHERE task_id = ?1"),
            forget_events: format!("DELETE FROM {events} WHERE task_id = ?1"),
            forget_attempts: format!("DELETE FROM \"{prefix}attempts\" WHERE task_id = ?1"),
            record_attempt: format!(
                "INSERT INTO \"{prefix}attempts\" (task_id, attempt, worker_id, started_at, finished_at, error)
                 SELECT task_id, attempts, last_worker_id, started_at, {NOW}, ?2 FROM {tasks}
                 WHERE task_id = ?1"
            ),
            get: format!(
                "SELECT {columns} FROM {read} WHERE t.task_id = ?1",
                columns = read_columns(),
                read = read_from(prefix),
            ),
            next_due: format!("SELECT min(run_at) FROM {tasks} WHERE status = 'pending'"),
            load_steps: format!(
                "SELECT seq, name, occurrence, status, output, error, attempts, started_at, finished_at,
                        failed_attempts
                 FROM {steps} WHERE task_id = ?1 ORDER BY seq"
            ),
            step_fence: format!("SELECT lease_token, cancel_requested FROM {tasks} WHERE task_id = ?1"),
            save_step: format!(
                "INSERT INTO {steps} (task_id, seq, name, occurrence, status, output, error, attempts, started_at,
                                      failed_attempts)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11
                 -- Fenced: the execution still carries the lease's token, and no stop was asked.
                 WHERE EXISTS (SELECT 1 FROM {tasks} WHERE task_id = ?1 AND lease_token = ?10
                               AND NOT cancel_requested)
                 -- A step waiting out a long backoff is recorded as `retrying`; its later
                 -- attempts replace that row. Any other recorded step stays.
                 ON CONFLICT (task_id, seq) DO UPDATE
                 SET status = excluded.status, output = excluded.output, error = excluded.error,
                     attempts = excluded.attempts, failed_attempts = excluded.failed_attempts,
                     finished_at = {NOW}
                 WHERE {steps}.status = 'retrying' AND {steps}.name = excluded.name
                 RETURNING seq"
            ),
            start_child: format!(
                "INSERT INTO {tasks} (task_id, task_name, run_at, data, parent_id, priority,
                                      trace_parent, trace_state)
                 VALUES (?1, ?2, {NOW}, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (task_id) DO NOTHING
                 RETURNING task_id"
            ),
            find_event: format!(
                "SELECT payload FROM {events} WHERE task_id = ?1 AND name = ?2 ORDER BY id LIMIT 1 OFFSET ?3"
            ),
            send_event: format!("INSERT INTO {events} (task_id, name, payload) VALUES (?1, ?2, ?3)"),
            wake_suspended: format!(
                "UPDATE {tasks} SET run_at = {NOW}
                 WHERE task_id = ?1 AND status = 'pending' AND run_at > {NOW}"
            ),
            occurrence_ended: format!(
                "UPDATE \"{prefix}schedules\" SET last_finished_at = {NOW}, updated_at = {NOW}
                 WHERE schedule_id = ?1"
            ),
            wake_tick: format!(
                "UPDATE {tasks} SET status = 'pending', run_at = {NOW}, lease_token = lease_token + 1
                 WHERE task_id = ?1 AND status IN ('pending', 'waiting')
                   AND json_extract(metadata, '$.{WAKE_ON_FINISH_KEY}') = 1"
            ),
            child_ended: format!(
                "INSERT INTO {events} (task_id, name, payload)
                 VALUES (?1, 'child:' || ?2, json_object('status', ?3, 'result', json(?4), 'error', ?5))"
            ),
            tasks: tasks.clone(),
            queues: queues.clone(),
            starts: starts.clone(),
            schedules: ScheduleQueries::new(prefix, &tasks),
        }
    }
}

impl ScheduleQueries {
    fn new(prefix: &str, tasks: &str) -> Self {
        let schedules = format!("\"{prefix}schedules\"");
        let runs = format!("\"{prefix}schedule_runs\"");
        ScheduleQueries {
            select: format!(
                "SELECT task_name, schedule, data, id_template, missed, overlap, time_window,
                        max_runs, grace_ms, state, occurrence, next_slot, buffered_slot,
                        trigger_requested, last_finished_at
                 FROM {schedules} WHERE schedule_id = ?1"
            ),
            insert: format!(
                "INSERT INTO {schedules} (schedule_id, task_name, schedule, data, id_template, missed,
                        overlap, time_window, max_runs, grace_ms, state, next_slot)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (schedule_id) DO NOTHING
                 RETURNING schedule_id"
            ),
            update_definition: format!(
                "UPDATE {schedules}
                 SET task_name = ?2, schedule = ?3, data = ?4, id_template = ?5, missed = ?6,
                     overlap = ?7, time_window = ?8, max_runs = ?9, grace_ms = ?10, updated_at = {NOW}
                 WHERE schedule_id = ?1"
            ),
            update_next_slot: format!(
                "UPDATE {schedules} SET next_slot = ?2, updated_at = {NOW} WHERE schedule_id = ?1"
            ),
            after_tick: format!(
                "UPDATE {schedules}
                 SET occurrence = ?2, next_slot = ?3, buffered_slot = ?4, state = ?5,
                     trigger_requested = 0, updated_at = {NOW}
                 WHERE schedule_id = ?1"
            ),
            change_state: format!(
                "UPDATE {schedules} SET state = ?3, updated_at = {NOW}
                 WHERE schedule_id = ?1 AND state IN (SELECT value FROM json_each(?2))
                 RETURNING schedule_id"
            ),
            request_trigger: format!(
                "UPDATE {schedules} SET trigger_requested = 1, updated_at = {NOW}
                 WHERE schedule_id = ?1 AND state = 'active'
                 RETURNING schedule_id"
            ),
            active_runs: format!(
                "SELECT task_id FROM {tasks}
                 WHERE schedule_id = ?1 AND status IN ('pending', 'waiting', 'running')
                 ORDER BY run_at"
            ),
            cancel_run: format!(
                "UPDATE {tasks}
                 SET status = 'cancelled', finished_at = {NOW},
                     cancel_requested = CASE WHEN status = 'running' THEN {ENDED_WHILE_RUNNING} ELSE 1 END,
                     error = 'cancelled: a newer run of its schedule replaced it (cancel_and_restart)'
                 WHERE task_id = ?1 AND status IN ('pending', 'waiting', 'running')
                 RETURNING {ENDED}"
            ),
            record: format!(
                "INSERT INTO {runs} (schedule_id, slot, decision, reason, occurrence, task_id, catch_up)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            prune: format!(
                "DELETE FROM {runs}
                 WHERE schedule_id = ?1 AND id <= (
                    SELECT id FROM {runs} WHERE schedule_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2
                 )"
            ),
            history: format!(
                "SELECT r.slot, r.decision, r.reason, r.occurrence, r.task_id, r.recorded_at,
                        t.status, t.started_at, t.finished_at, t.error
                 FROM (SELECT * FROM {runs} WHERE schedule_id = ?1 ORDER BY id DESC LIMIT ?2) r
                 LEFT JOIN {tasks} t ON t.task_id = r.task_id
                 ORDER BY r.id"
            ),
            set_tick: format!(
                "INSERT INTO {tasks} (task_id, task_name, status, run_at, metadata)
                 VALUES (?1, '{TICK_TASK}', ?2, ?3, ?4)
                 ON CONFLICT (task_id) DO UPDATE
                 SET status = excluded.status, run_at = excluded.run_at,
                     metadata = json_patch({tasks}.metadata, excluded.metadata),
                     attempts = 0, error = NULL, finished_at = NULL, worker_id = NULL,
                     lease_expires_at = NULL, lease_token = {tasks}.lease_token + 1
                 WHERE {tasks}.status <> 'running'
                 RETURNING status, run_at"
            ),
            end_tick: format!(
                "UPDATE {tasks}
                 SET status = ?3, run_at = ?4, metadata = json_patch(metadata, ?5), attempts = 0,
                     error = NULL, finished_at = CASE WHEN ?3 = 'completed' THEN {NOW} END,
                     {END_LEASE}
                 WHERE task_id = ?1 AND lease_token = ?2
                 RETURNING status, run_at"
            ),
        }
    }
}
