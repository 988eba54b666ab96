//! Every SQL statement the PostgreSQL backend runs, rendered once for its table names.
//!
//! Queries are checked at run time (the crates build with no database in reach); the
//! integration tests run each of them against a real server.

use std::sync::Arc;

use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr};
use zart_core::schedules::TICK_TASK;

use crate::table_names::TableNames;

/// A statement rendered for one set of table names; clones share it.
fn sql(text: String) -> SqlStr {
    AssertSqlSafe(Arc::<str>::from(text)).into_sql_str()
}

/// The backend's statements for one set of table names.
#[derive(Debug)]
pub(crate) struct Queries {
    /// `$1` ids, `$2` names, `$3` run_at, `$4` data, `$5` metadata, `$6` schedule ids,
    /// `$7` notify channel, `$8` priorities.
    /// Inserts skipping existing ids; returns the inserted ids and, in the same statement
    /// (so in the inserting transaction), notifies listeners with the earliest due instant.
    pub insert: SqlStr,
    /// Inserts as `insert` does, without notifying: returns each inserted id and its due
    /// instant (epoch milliseconds, rounded up) for the announcer (see `announce`).
    /// Parameters as `insert`'s, without `$10`.
    pub insert_quiet: SqlStr,
    /// `$1` worker id, `$2` lease seconds.
    pub heartbeat: SqlStr,
    /// `$1` ids, `$2` tokens, `$3` statuses (or `suspended`: pending again without counting
    /// the attempt), `$4` results, `$5` errors, `$6` run_at overrides, `$7` ended channel.
    pub finish: SqlStr,
    /// `$1` id, `$2` token, `$3` result, `$4` ended channel.
    pub complete_one: SqlStr,
    /// `$1` ids, `$2` tokens, `$3` notify channel.
    pub release: SqlStr,
    /// `$1` max rescues, `$2` notify channel. A recurring schedule's tick is never marked
    /// dead: a schedule must not stop because its workers kept dying.
    pub rescue: SqlStr,
    /// `$1` id. Ends a task that is not running; asks a running one to stop. Returns the
    /// status: `cancelled`, or `running` for a request.
    pub cancel: SqlStr,
    /// `$1` id.
    pub get: SqlStr,
    /// Counts by task name and status, with the oldest due instant of each.
    pub counts: SqlStr,
    /// `$1` since: how many tasks ended per minute and status.
    pub ended_per_minute: SqlStr,
    pub recurring: RecurringQueries,
    /// `$1` task id.
    pub load_steps: SqlStr,
    /// Arrays: `$1` task ids, `$2` tokens, `$3` seqs, `$4` names, `$5` occurrences,
    /// `$6` statuses, `$7` outputs, `$8` errors, `$9` attempts, `$10` start times, `$11`
    /// failed attempts (a JSON array, NULL for none). Each row fenced by its token. Returns
    /// each input's (task id, seq) with `saved`, `cancelled` (a cancel was asked for) or
    /// `refused` (lease lost, position taken).
    pub save_steps: SqlStr,
    /// `$1` task id, `$2` whether to forget its record, `$3` notify channel. Puts an ended
    /// task back to pending, due now, attempts reset; with `$2`, deletes its steps and
    /// events too.
    pub rerun: SqlStr,
    /// `$1` child id, `$2` name, `$3` input, `$4` parent id, `$5` notify channel, `$6`
    /// priority. Starts a
    /// child execution unless the id exists; returns how many were inserted.
    pub start_child: SqlStr,
    /// `$1` task id, `$2` event name, `$3` index among that name's events.
    pub find_event: SqlStr,
    /// `$1` task id: its events, oldest first.
    pub events: SqlStr,
    /// `$1` task id: its failed attempts, oldest first.
    pub attempts: SqlStr,
    /// `$1` task id, `$2` name, `$3` payload, `$4` channel. Stores the event and makes a
    /// suspended execution due now.
    pub send_event: SqlStr,
}

/// The statements behind recurring schedules.
#[derive(Debug)]
pub(crate) struct RecurringQueries {
    /// `$1` schedule id.
    pub select: SqlStr,
    /// `$1` schedule id; locks the row for the transaction.
    pub select_for_update: SqlStr,
    /// Every schedule, by id (its id first).
    pub select_all: SqlStr,
    /// `$1`..`$12`: id, task name, schedule, data, template, missed, overlap, window,
    /// max runs, grace ms, state, next slot. Skips an existing id.
    pub insert: SqlStr,
    /// `$1`..`$10` as in `insert`.
    pub update_definition: SqlStr,
    /// `$1` id, `$2` next slot.
    pub update_next_slot: SqlStr,
    /// `$1` id, `$2` occurrence, `$3` next slot, `$4` buffered slot, `$5` state.
    pub after_tick: SqlStr,
    /// `$1` id, `$2` from state, `$3` to state. Returns the id if the state changed.
    pub change_state: SqlStr,
    /// `$1` id. Records a trigger request on an active schedule.
    pub request_trigger: SqlStr,
    /// `$1` schedule id.
    pub active_runs: SqlStr,
    /// `$1` run ids. Ends them cancelled at once; a worker still running one keeps its
    /// lease token, so a durable body learns at its next checkpoint that it was cancelled,
    /// and whatever outcome the worker stores, the task stays cancelled.
    pub cancel_runs: SqlStr,
    /// `$1` schedule id, then arrays: `$2` slots, `$3` decisions, `$4` reasons,
    /// `$5` occurrences, `$6` task ids, `$7` catch-up flags.
    pub record: SqlStr,
    /// `$1` schedule id, `$2` how many to keep.
    pub prune: SqlStr,
    /// `$1` schedule id, `$2` limit.
    pub history: SqlStr,
    /// `$1` tick id, `$2` status, `$3` run_at, `$4` metadata patch, `$5` channel. Creates
    /// or resets the tick unless a worker is running it.
    pub set_tick: SqlStr,
    /// `$1` tick id, `$2` token, `$3` status, `$4` run_at, `$5` metadata patch, `$6` channel.
    /// Fenced.
    pub after_fire: SqlStr,
}

/// The fence of every write a worker makes about a claimed task: the task still carries the
/// token the worker's claim gave it.
///
/// That alone proves the claim is live, because every statement that starts or ends a
/// lease (claim, finish, release, rescue) increments `lease_token`. It is also why the
/// condition names no status: `status = 'running'` would let the planner trust stale
/// statistics (few rows were running at the last ANALYZE) and pick a nested loop over
/// the whole batch for every running row, instead of one primary-key lookup per outcome.
const FENCE: &str = "t.task_id = o.task_id AND t.lease_token = o.token";

/// The tasks table as `t`, each row beside the last step of its log (`wait_step`,
/// `wait_state`, `wait_until`, `wait_error` for a retrying step) when it may be suspended:
/// pending, due in the future, with no error. Other rows read no step (the lateral's
/// conditions on `t` alone are checked before any step is).
pub(crate) fn read_from(names: &TableNames) -> String {
    format!(
        "{tasks} t LEFT JOIN LATERAL (
            SELECT s.name AS wait_step, s.status AS wait_state, s.output ->> 'until' AS wait_until,
                   CASE WHEN s.status = 'retrying' THEN s.error END AS wait_error
            FROM {steps} s
            WHERE t.status = 'pending' AND t.run_at > now() AND t.error IS NULL
              AND s.task_id = t.task_id
            ORDER BY s.seq DESC LIMIT 1
         ) w ON true",
        tasks = names.tasks(),
        steps = names.steps(),
    )
}

/// A row of [`read_from`]'s status as read: the wait a suspended execution is in (see
/// `zart_core::steps::wait_steps`), else the stored status.
pub(crate) fn read_status() -> String {
    let waits: String = zart_core::steps::wait_steps()
        .iter()
        .map(|(status, prefix)| {
            format!(
                "WHEN w.wait_state = 'completed' AND starts_with(w.wait_step, '{}') THEN '{status}' ",
                prefix.replace('\'', "''")
            )
        })
        .collect();
    format!("(CASE {waits}ELSE t.status END)")
}

/// The columns `task_record` reads, from [`read_from`].
pub(crate) fn read_columns() -> String {
    format!(
        "t.task_id, t.task_name, {status} AS status, t.run_at, t.data, t.metadata, t.attempts,
         t.rescues, t.worker_id, t.lease_expires_at, t.last_worker_id, t.result, t.error,
         t.created_at, t.started_at, t.finished_at, t.parent_id, t.schedule_id,
         t.cancel_requested, t.priority, t.queue, t.app_version,
         w.wait_step, w.wait_until, w.wait_error",
        status = read_status()
    )
}

/// A `LIKE` pattern matching ids and names reserved for Zart's own tasks.
pub(crate) fn reserved_pattern() -> String {
    let escaped: String = zart_core::task::RESERVED_PREFIX
        .chars()
        .flat_map(|c| match c {
            '_' | '%' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("{escaped}%")
}

/// Tells waiters (`wait`) that tasks ended: one notification per statement on the channel
/// bound to `param`, whatever the number of rows.
fn ended(param: &str) -> String {
    format!(
        "ended AS (
            SELECT pg_notify({param}, '') FROM updated WHERE status <> 'pending' LIMIT 1
         )"
    )
}

/// Ends a lease: clears the holder and makes its token stale.
const END_LEASE: &str =
    "worker_id = NULL, lease_expires_at = NULL, lease_token = t.lease_token + 1";

impl Queries {
    pub(crate) fn new(names: &TableNames) -> Self {
        let tasks = names.tasks();
        let events = names.events();
        let reserved = reserved_pattern();
        // The tasks an insert adds (`$1`..`$9`, see `queue::Columns`), skipping existing ids.
        let inserted = format!(
            "INSERT INTO {tasks} (task_id, task_name, run_at, data, metadata, schedule_id, priority,
                                  trace_parent, trace_state)
             SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::jsonb[], $5::jsonb[],
                                  $6::text[], $7::int2[], $8::text[], $9::text[])
             ON CONFLICT (task_id) DO NOTHING
             RETURNING task_id, run_at"
        );
        Queries {
            insert: sql(format!(
                "WITH ins AS ({inserted}),
                 wake AS (
                    SELECT pg_notify($10, ceil(extract(epoch FROM min(run_at)) * 1000)::bigint::text)
                    FROM ins HAVING count(*) > 0
                 )
                 SELECT ins.task_id FROM ins, wake"
            )),
            insert_quiet: sql(format!(
                "WITH ins AS ({inserted})
                 SELECT task_id, ceil(extract(epoch FROM run_at) * 1000)::bigint FROM ins"
            )),
            // Rows another statement holds are skipped, not waited for: the worker's own
            // outcome batch locks the same rows in another order, and waiting would let
            // the two deadlock. A skipped lease is extended by the next heartbeat, long
            // before it expires (or its task has just ended).
            heartbeat: sql(format!(
                "UPDATE {tasks} t SET lease_expires_at = now() + $2::float8 * interval '1 second'
                 FROM (SELECT task_id FROM {tasks} WHERE worker_id = $1 AND status = 'running'
                       FOR UPDATE SKIP LOCKED) held
                 WHERE t.task_id = held.task_id"
            )),
            finish: sql(format!(
                "WITH updated AS (
                 UPDATE {tasks} t
                 SET status = CASE WHEN t.cancel_requested THEN 'cancelled'
                                   WHEN o.status = 'suspended' THEN 'pending' ELSE o.status END,
                     result = CASE WHEN t.cancel_requested THEN NULL ELSE o.result END,
                     error = CASE WHEN t.cancel_requested THEN t.error ELSE o.error END,
                     -- A suspended execution that was sent an event while it ran (it may
                     -- have looked before the event arrived) is due again at once.
                     run_at = CASE
                         WHEN o.status <> 'suspended' THEN coalesce(o.run_at, t.run_at)
                         WHEN EXISTS (SELECT 1 FROM {events} e WHERE e.task_id = t.task_id
                                      AND e.created_at >= t.started_at - interval '1 second')
                         THEN now()
                         ELSE o.run_at
                     END,
                     -- A suspended task did not fail: its attempt does not count.
                     attempts = t.attempts - (o.status = 'suspended')::int,
                     finished_at = CASE WHEN o.status IN ('pending', 'suspended') AND NOT t.cancel_requested
                                        THEN NULL ELSE now() END,
                     {END_LEASE}
                 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::jsonb[], $5::text[], $6::timestamptz[])
                      AS o(task_id, token, status, result, error, run_at)
                 WHERE {FENCE}
                 RETURNING t.task_id, t.status, t.attempts, t.last_worker_id, t.started_at,
                           o.error AS attempt_error
                 ),
                 failed AS (
                    INSERT INTO {attempts} (task_id, attempt, worker_id, started_at, error)
                    SELECT task_id, attempts, last_worker_id, started_at, attempt_error
                    FROM updated WHERE attempt_error IS NOT NULL
                 ),
                 {}
                 SELECT updated.task_id FROM updated LEFT JOIN ended ON true",
                ended("$7"),
                attempts = names.attempts()
            )),
            complete_one: sql(format!(
                "WITH updated AS (
                 UPDATE {tasks} t
                 SET status = CASE WHEN t.cancel_requested THEN 'cancelled' ELSE 'completed' END,
                     result = CASE WHEN t.cancel_requested THEN NULL ELSE $3 END,
                     error = CASE WHEN t.cancel_requested THEN t.error END,
                     finished_at = now(),
                     {END_LEASE}
                 FROM (SELECT $1::text AS task_id, $2::bigint AS token) o
                 WHERE {FENCE}
                 RETURNING t.task_id, t.status
                 ),
                 {}
                 SELECT updated.status FROM updated LEFT JOIN ended ON true",
                ended("$4")
            )),
            release: sql(format!(
                "WITH released AS (
                    UPDATE {tasks} t
                    SET status = 'pending', run_at = now(), attempts = greatest(t.attempts - 1, 0),
                        {END_LEASE}
                    FROM unnest($1::text[], $2::bigint[]) AS o(task_id, token)
                    WHERE {FENCE}
                    RETURNING t.task_id
                 ),
                 wake AS (
                    SELECT pg_notify($3, (extract(epoch FROM now()) * 1000)::bigint::text)
                    FROM released HAVING count(*) > 0
                 )
                 SELECT released.task_id FROM released, wake"
            )),
            rescue: sql(format!(
                "WITH rescued AS (
                    UPDATE {tasks} t
                    SET status = CASE WHEN (rescues >= $1 AND task_name <> '{TICK_TASK}') THEN 'dead' ELSE 'pending' END,
                        finished_at = CASE WHEN (rescues >= $1 AND task_name <> '{TICK_TASK}') THEN now() END,
                        error = format('lease of worker %s expired at %s; %s', worker_id, lease_expires_at,
                                       CASE WHEN (rescues >= $1 AND task_name <> '{TICK_TASK}')
                                            THEN format('already rescued %s time(s), marked dead', rescues)
                                            ELSE format('rescued (%s of %s allowed)', rescues + 1, $1) END),
                        rescues = rescues + 1, run_at = now(),
                        {END_LEASE}
                    -- Rows another statement holds are left for the next pass, as the
                    -- heartbeat leaves them: that statement is most likely the task's own
                    -- outcome ending it, and waiting on it could deadlock.
                    WHERE t.task_id IN (
                        SELECT task_id FROM {tasks}
                        WHERE worker_id IS NOT NULL AND status = 'running' AND lease_expires_at < now()
                        FOR UPDATE SKIP LOCKED)
                    RETURNING task_id, status, attempts, last_worker_id, started_at, error
                 ),
                 failed AS (
                    INSERT INTO {attempts} (task_id, attempt, worker_id, started_at, error)
                    SELECT task_id, attempts, last_worker_id, started_at, error FROM rescued
                 ),
                 wake AS (
                    SELECT pg_notify($2, (extract(epoch FROM now()) * 1000)::bigint::text)
                    FROM rescued WHERE status = 'pending' HAVING count(*) > 0
                 )
                 SELECT task_id, status, (SELECT count(*) FROM wake) AS woken FROM rescued",
                attempts = names.attempts()
            )),
            cancel: sql(format!(
                "UPDATE {tasks}
                 SET status = CASE WHEN status = 'running' THEN status ELSE 'cancelled' END,
                     finished_at = CASE WHEN status = 'running' THEN finished_at ELSE now() END,
                     error = CASE WHEN status = 'running' THEN 'cancelled while running' ELSE error END,
                     cancel_requested = (status = 'running')
                 WHERE task_id = $1 AND status IN ('pending', 'waiting', 'running')
                   AND task_name NOT LIKE '{reserved}' AND task_id NOT LIKE '{reserved}'
                 RETURNING status"
            )),
            recurring: RecurringQueries::new(names),
            rerun: sql(format!(
                "WITH rerun AS (
                    UPDATE {tasks} t
                    SET status = 'pending', run_at = now(), attempts = 0, rescues = 0, error = NULL,
                        result = NULL, finished_at = NULL, cancel_requested = false,
                        lease_token = t.lease_token + 1
                    WHERE task_id = $1 AND status IN ('completed', 'failed', 'dead', 'cancelled')
                      AND task_name NOT LIKE '{reserved}' AND task_id NOT LIKE '{reserved}'
                    RETURNING task_id, run_at
                 ),
                 forget_steps AS (
                    DELETE FROM {steps} WHERE $2 AND task_id IN (SELECT task_id FROM rerun)
                 ),
                 forget_events AS (
                    DELETE FROM {events} WHERE $2 AND task_id IN (SELECT task_id FROM rerun)
                 ),
                 forget_attempts AS (
                    DELETE FROM {attempts} WHERE $2 AND task_id IN (SELECT task_id FROM rerun)
                 ),
                 wake AS (
                    SELECT pg_notify($3, (extract(epoch FROM now()) * 1000)::bigint::text)
                    FROM rerun HAVING count(*) > 0
                 )
                 SELECT count(*) FROM rerun LEFT JOIN wake ON true",
                steps = names.steps(),
                attempts = names.attempts()
            )),
            start_child: sql(format!(
                "WITH ins AS (
                    INSERT INTO {tasks} (task_id, task_name, run_at, data, parent_id, priority,
                                         trace_parent, trace_state)
                    VALUES ($1, $2, now(), $3, $4, $6, $7, $8)
                    ON CONFLICT (task_id) DO NOTHING
                    RETURNING task_id, run_at
                 ),
                 wake AS (
                    SELECT pg_notify($5, (extract(epoch FROM now()) * 1000)::bigint::text)
                    FROM ins HAVING count(*) > 0
                 )
                 SELECT count(*) FROM ins LEFT JOIN wake ON true"
            )),
            attempts: sql(format!(
                "SELECT attempt, worker_id, started_at, finished_at, error FROM {attempts}
                 WHERE task_id = $1 ORDER BY id",
                attempts = names.attempts()
            )),
            events: sql(format!(
                "SELECT name, payload, created_at FROM {events} WHERE task_id = $1 ORDER BY id",
                events = names.events()
            )),
            find_event: sql(format!(
                "SELECT payload FROM {events} WHERE task_id = $1 AND name = $2 ORDER BY id OFFSET $3 LIMIT 1",
                events = names.events()
            )),
            send_event: sql(format!(
                "WITH sent AS (
                    INSERT INTO {events} (task_id, name, payload) VALUES ($1, $2, $3) RETURNING task_id
                 ),
                 woken AS (
                    UPDATE {tasks} SET run_at = now()
                    WHERE task_id = (SELECT task_id FROM sent) AND status = 'pending' AND run_at > now()
                    RETURNING run_at
                 ),
                 wake AS (
                    SELECT pg_notify($4, (extract(epoch FROM now()) * 1000)::bigint::text)
                    FROM woken HAVING count(*) > 0
                 )
                 SELECT (SELECT count(*) FROM woken), (SELECT count(*) FROM wake)",
                events = names.events()
            )),
            load_steps: sql(format!(
                "SELECT coalesce(jsonb_agg(jsonb_build_array(seq, name, occurrence, status, output,
                                                             error, attempts, started_at, finished_at,
                                                             failed_attempts) ORDER BY seq), '[]')
                 FROM {steps} WHERE task_id = $1",
                steps = names.steps()
            )),
            save_steps: sql(format!(
                "WITH input AS (
                    SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[], $4::text[], $5::int[],
                                         $6::text[], $7::jsonb[], $8::text[], $9::int[], $10::timestamptz[],
                                         $11::jsonb[])
                        AS i(task_id, token, seq, name, occurrence, status, output, error, attempts, started_at,
                             failed_attempts)
                 ),
                 held AS (
                    -- The row lock keeps a rescue or a cancel from slipping in between.
                    -- One row per task, however many of its steps the batch holds.
                    SELECT t.task_id, t.lease_token, t.cancel_requested FROM {tasks} t
                    WHERE t.task_id IN (SELECT task_id FROM input)
                    FOR SHARE
                 ),
                 saved AS (
                    INSERT INTO {steps} (task_id, seq, name, occurrence, status, output, error, attempts, started_at,
                                         failed_attempts)
                    SELECT i.task_id, i.seq, i.name, i.occurrence, i.status, i.output, i.error, i.attempts, i.started_at,
                           i.failed_attempts
                    FROM input i JOIN held h ON h.task_id = i.task_id AND h.lease_token = i.token
                    WHERE NOT h.cancel_requested
                    -- A step waiting out a long backoff is recorded as `retrying`; its
                    -- later attempts replace that row. Any other recorded step stays.
                    ON CONFLICT (task_id, seq) DO UPDATE
                    SET status = EXCLUDED.status, output = EXCLUDED.output, error = EXCLUDED.error,
                        attempts = EXCLUDED.attempts, failed_attempts = EXCLUDED.failed_attempts,
                        finished_at = now()
                    WHERE {steps}.status = 'retrying' AND {steps}.name = EXCLUDED.name
                    RETURNING task_id, seq
                 )
                 SELECT i.task_id, i.seq,
                        CASE WHEN s.task_id IS NOT NULL THEN 'saved'
                             WHEN h.cancel_requested THEN 'cancelled'
                             ELSE 'refused' END
                 FROM input i
                 LEFT JOIN held h ON h.task_id = i.task_id AND h.lease_token = i.token
                 LEFT JOIN saved s ON s.task_id = i.task_id AND s.seq = i.seq",
                steps = names.steps()
            )),
            get: sql(format!(
                "SELECT {columns} FROM {read} WHERE t.task_id = $1",
                columns = read_columns(),
                read = read_from(names),
            )),
            // Only pending tasks may be suspended: they alone read their steps, so that
            // counting the ended ones stays one plain (parallel) scan.
            counts: sql(format!(
                "SELECT task_name, status, count(*) AS count,
                        min(run_at) FILTER (WHERE run_at <= now()) AS oldest_due
                 FROM {tasks}
                 WHERE status <> 'pending'
                   AND task_name NOT LIKE '{reserved}' AND task_id NOT LIKE '{reserved}'
                 GROUP BY 1, 2
                 UNION ALL
                 SELECT t.task_name, {status}, count(*),
                        min(t.run_at) FILTER (WHERE t.run_at <= now())
                 FROM {read}
                 WHERE t.status = 'pending'
                   AND t.task_name NOT LIKE '{reserved}' AND t.task_id NOT LIKE '{reserved}'
                 GROUP BY 1, 2",
                status = read_status(),
                read = read_from(names),
            )),
            ended_per_minute: sql(format!(
                "SELECT date_trunc('minute', finished_at) AS minute, status, count(*) AS count
                 FROM {tasks}
                 WHERE finished_at >= $1
                   AND task_name NOT LIKE '{reserved}' AND task_id NOT LIKE '{reserved}'
                 GROUP BY 1, 2 ORDER BY 1, 2"
            )),
        }
    }
}

impl RecurringQueries {
    fn new(names: &TableNames) -> Self {
        let tasks = names.tasks();
        let schedules = names.schedules();
        let runs = names.schedule_runs();
        let wake = |rows: &str, channel: &str| {
            format!(
                "wake AS (
                    SELECT pg_notify({channel}, ceil(extract(epoch FROM min(run_at)) * 1000)::bigint::text)
                    FROM {rows} WHERE status = 'pending' HAVING count(*) > 0
                 )"
            )
        };
        RecurringQueries {
            select: sql(format!(
                "SELECT task_name, schedule, data, id_template, missed, overlap, time_window,
                        max_runs, grace_ms, state, occurrence, next_slot, buffered_slot,
                        trigger_requested, last_finished_at
                 FROM {schedules} WHERE schedule_id = $1"
            )),
            select_all: sql(format!(
                "SELECT schedule_id, task_name, schedule, data, id_template, missed, overlap,
                        time_window, max_runs, grace_ms, state, occurrence, next_slot,
                        buffered_slot, trigger_requested, last_finished_at
                 FROM {schedules} ORDER BY schedule_id"
            )),
            select_for_update: sql(format!(
                "SELECT task_name, schedule, data, id_template, missed, overlap, time_window,
                        max_runs, grace_ms, state, occurrence, next_slot, buffered_slot,
                        trigger_requested, last_finished_at
                 FROM {schedules} WHERE schedule_id = $1 FOR UPDATE"
            )),
            insert: sql(format!(
                "INSERT INTO {schedules} (schedule_id, task_name, schedule, data, id_template, missed,
                        overlap, time_window, max_runs, grace_ms, state, next_slot)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (schedule_id) DO NOTHING
                 RETURNING schedule_id"
            )),
            update_definition: sql(format!(
                "UPDATE {schedules}
                 SET task_name = $2, schedule = $3, data = $4, id_template = $5, missed = $6,
                     overlap = $7, time_window = $8, max_runs = $9, grace_ms = $10, updated_at = now()
                 WHERE schedule_id = $1"
            )),
            update_next_slot: sql(format!(
                "UPDATE {schedules} SET next_slot = $2, updated_at = now() WHERE schedule_id = $1"
            )),
            after_tick: sql(format!(
                "UPDATE {schedules}
                 SET occurrence = $2, next_slot = $3, buffered_slot = $4, state = $5,
                     trigger_requested = false, updated_at = now()
                 WHERE schedule_id = $1"
            )),
            change_state: sql(format!(
                "UPDATE {schedules} SET state = $3, updated_at = now()
                 WHERE schedule_id = $1 AND state = ANY($2::text[])
                 RETURNING schedule_id"
            )),
            request_trigger: sql(format!(
                "UPDATE {schedules} SET trigger_requested = true, updated_at = now()
                 WHERE schedule_id = $1 AND state = 'active'
                 RETURNING schedule_id"
            )),
            active_runs: sql(format!(
                "SELECT task_id FROM {tasks}
                 WHERE schedule_id = $1 AND status IN ('pending', 'waiting', 'running')
                 ORDER BY run_at"
            )),
            cancel_runs: sql(format!(
                "UPDATE {tasks} t
                 SET status = 'cancelled', finished_at = now(), cancel_requested = true,
                     error = 'cancelled: a newer run of its schedule replaced it (cancel_and_restart)'
                 WHERE task_id = ANY($1) AND status IN ('pending', 'waiting', 'running')"
            )),
            record: sql(format!(
                "INSERT INTO {runs} (schedule_id, slot, decision, reason, occurrence, task_id, catch_up)
                 SELECT $1, * FROM unnest($2::timestamptz[], $3::text[], $4::text[], $5::bigint[],
                                         $6::text[], $7::bool[])"
            )),
            prune: sql(format!(
                "DELETE FROM {runs}
                 WHERE schedule_id = $1 AND id <= (
                    SELECT id FROM {runs} WHERE schedule_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1
                 )"
            )),
            history: sql(format!(
                "SELECT r.slot, r.decision, r.reason, r.occurrence, r.task_id, r.recorded_at,
                        t.status, t.started_at, t.finished_at, t.error
                 FROM (SELECT * FROM {runs} WHERE schedule_id = $1 ORDER BY id DESC LIMIT $2) r
                 LEFT JOIN {tasks} t ON t.task_id = r.task_id
                 ORDER BY r.id"
            )),
            set_tick: sql(format!(
                "WITH tick AS (
                    INSERT INTO {tasks} (task_id, task_name, status, run_at, metadata)
                    VALUES ($1, '{TICK_TASK}', $2, $3, $4)
                    ON CONFLICT (task_id) DO UPDATE
                    SET status = EXCLUDED.status, run_at = EXCLUDED.run_at,
                        metadata = {tasks}.metadata || EXCLUDED.metadata,
                        attempts = 0, error = NULL, finished_at = NULL, worker_id = NULL,
                        lease_expires_at = NULL, lease_token = {tasks}.lease_token + 1
                    WHERE {tasks}.status <> 'running'
                    RETURNING status, run_at
                 ),
                 {}
                 SELECT count(*) FROM tick LEFT JOIN wake ON true",
                wake("tick", "$5")
            )),
            after_fire: sql(format!(
                "WITH tick AS (
                    UPDATE {tasks} t
                    SET status = $3, run_at = $4, metadata = t.metadata || $5, attempts = 0, error = NULL,
                        finished_at = CASE WHEN $3 = 'completed' THEN now() END,
                        {END_LEASE}
                    FROM (SELECT $1::text AS task_id, $2::bigint AS token) o
                    WHERE {FENCE}
                    RETURNING t.status, t.run_at
                 ),
                 {}
                 SELECT count(*) FROM tick LEFT JOIN wake ON true",
                wake("tick", "$6")
            )),
        }
    }
}
