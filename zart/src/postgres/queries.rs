//! Every SQL statement the PostgreSQL backend runs, rendered once for its table names.
//!
//! Queries are checked at run time (the crates build with no database in reach); the
//! integration tests run each of them against a real server.

use crate::table_names::TableNames;

/// The backend's statements for one set of table names.
#[derive(Debug)]
pub(crate) struct Queries {
    /// `$1` ids, `$2` names, `$3` run_at, `$4` data, `$5` metadata, `$6` notify channel.
    /// Inserts skipping existing ids; returns the inserted ids and, in the same statement
    /// (so in the inserting transaction), notifies listeners with the earliest due instant.
    pub insert: String,
    /// `$1` limit, `$2` worker id, `$3` lease seconds.
    pub claim: String,
    /// `$1` worker id, `$2` lease seconds.
    pub heartbeat: String,
    /// `$1` ids, `$2` tokens, `$3` statuses, `$4` results, `$5` errors, `$6` run_at overrides.
    pub finish: String,
    /// `$1` id, `$2` token, `$3` result.
    pub complete_one: String,
    /// `$1` ids, `$2` tokens, `$3` notify channel.
    pub release: String,
    /// `$1` max rescues, `$2` notify channel.
    pub rescue: String,
    /// `$1` id.
    pub cancel: String,
    /// `$1` id.
    pub get: String,
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

/// Ends a lease: clears the holder and makes its token stale.
const END_LEASE: &str =
    "worker_id = NULL, lease_expires_at = NULL, lease_token = t.lease_token + 1";

impl Queries {
    pub(crate) fn new(names: &TableNames) -> Self {
        let tasks = names.tasks();
        Queries {
            insert: format!(
                "WITH ins AS (
                    INSERT INTO {tasks} (task_id, task_name, run_at, data, metadata)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::jsonb[], $5::jsonb[])
                    ON CONFLICT (task_id) DO NOTHING
                    RETURNING task_id, run_at
                 ),
                 wake AS (
                    SELECT pg_notify($6, (extract(epoch FROM min(run_at)) * 1000)::bigint::text)
                    FROM ins HAVING count(*) > 0
                 )
                 SELECT ins.task_id FROM ins, wake"
            ),
            claim: format!(
                "WITH due AS (
                    SELECT task_id FROM {tasks}
                    WHERE status = 'pending' AND run_at <= now()
                    ORDER BY run_at
                    LIMIT $1
                    FOR UPDATE SKIP LOCKED
                 )
                 UPDATE {tasks} t
                 SET status = 'running', worker_id = $2, lease_token = t.lease_token + 1,
                     lease_expires_at = now() + $3::float8 * interval '1 second',
                     attempts = t.attempts + 1, started_at = now()
                 FROM due WHERE t.task_id = due.task_id
                 RETURNING t.task_id, t.lease_token, t.task_name, t.data, t.metadata, t.run_at, t.attempts"
            ),
            heartbeat: format!(
                "UPDATE {tasks} SET lease_expires_at = now() + $2::float8 * interval '1 second'
                 WHERE worker_id = $1 AND status = 'running'"
            ),
            finish: format!(
                "UPDATE {tasks} t
                 SET status = o.status, result = o.result, error = o.error,
                     run_at = coalesce(o.run_at, t.run_at),
                     finished_at = CASE WHEN o.status = 'pending' THEN NULL ELSE now() END,
                     {END_LEASE}
                 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::jsonb[], $5::text[], $6::timestamptz[])
                      AS o(task_id, token, status, result, error, run_at)
                 WHERE {FENCE}
                 RETURNING t.task_id"
            ),
            complete_one: format!(
                "UPDATE {tasks} t
                 SET status = 'completed', result = $3, error = NULL, finished_at = now(),
                     {END_LEASE}
                 FROM (SELECT $1::text AS task_id, $2::bigint AS token) o
                 WHERE {FENCE}
                 RETURNING t.task_id"
            ),
            release: format!(
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
            ),
            rescue: format!(
                "WITH rescued AS (
                    UPDATE {tasks} t
                    SET status = CASE WHEN rescues >= $1 THEN 'dead' ELSE 'pending' END,
                        finished_at = CASE WHEN rescues >= $1 THEN now() END,
                        error = format('lease of worker %s expired at %s; %s', worker_id, lease_expires_at,
                                       CASE WHEN rescues >= $1
                                            THEN format('already rescued %s time(s), marked dead', rescues)
                                            ELSE format('rescued (%s of %s allowed)', rescues + 1, $1) END),
                        rescues = rescues + 1, run_at = now(),
                        {END_LEASE}
                    WHERE worker_id IS NOT NULL AND status = 'running' AND lease_expires_at < now()
                    RETURNING task_id, status
                 ),
                 wake AS (
                    SELECT pg_notify($2, (extract(epoch FROM now()) * 1000)::bigint::text)
                    FROM rescued WHERE status = 'pending' HAVING count(*) > 0
                 )
                 SELECT task_id, status, (SELECT count(*) FROM wake) AS woken FROM rescued"
            ),
            cancel: format!(
                "UPDATE {tasks} SET status = 'cancelled', finished_at = now()
                 WHERE task_id = $1 AND status = 'pending'"
            ),
            get: format!(
                "SELECT task_id, task_name, status, run_at, data, metadata, attempts, rescues,
                        worker_id, result, error, created_at, started_at, finished_at
                 FROM {tasks} WHERE task_id = $1"
            ),
        }
    }
}
