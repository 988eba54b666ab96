//! Claiming on PostgreSQL: which due tasks a claim takes (priorities, aging), and how a
//! queue's stored controls hold across every worker.
//!
//! A queue without controls is claimed in one statement, as before queues had any. A queue
//! with controls (a pause, a limit) is claimed under a transaction-scoped advisory lock of
//! its own, taken before the claiming statement: that statement then starts after the
//! previous holder committed, so its snapshot counts the tasks that holder just claimed.
//! Taking the lock inside the claiming statement would not do: in READ COMMITTED a
//! statement keeps the snapshot it started with while it waits, and two workers could both
//! take the last slot. The lock and the claiming statement go in one round trip, through a
//! PL/pgSQL function whose statements each take a fresh snapshot (migration 9).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Row, SqlSafeStr, SqlStr};
use zart_core::queue::{AppVersions, ClaimScope, ClaimedTask};
use zart_core::StoreResult;

use crate::table_names::TableNames;
use crate::Shared;

/// How long a queue found with controls is claimed under its lock before the cheaper
/// unlocked claim is tried again (its controls may have been lifted).
const CONTROLLED_FOR: Duration = Duration::from_secs(10);

/// The claiming statements for one set of table names.
#[derive(Debug)]
pub(crate) struct ClaimQueries {
    names: TableNames,
    /// The unlocked claim of each scope (what of it is written into the text) and bound
    /// claimed with so far (see [`unlocked`]).
    unlocked: Mutex<HashMap<(ClaimScope, i64), SqlStr>>,
    /// Claims under the queue's lock, honouring its controls, for a queue without a key
    /// limit (see [`locked`]). Parameters: see [`bind`].
    locked: SqlStr,
    /// The same for a queue with a key limit.
    locked_keyed: SqlStr,
    /// Runs a locked statement (`$10`) under the queue's lock (`$9`) in one round trip (see
    /// migration 10's function). Parameters `$1`..`$8`: see [`bind`].
    under_lock: SqlStr,
    /// Queues lately found with controls: when, and whether they had a key limit.
    controlled_queues: Mutex<HashMap<String, (Instant, bool)>>,
}

fn sql(text: String) -> SqlStr {
    AssertSqlSafe(Arc::<str>::from(text)).into_sql_str()
}

/// The instant before which a due task counts as waiting too long (`aging`: seconds, null
/// for strict priorities, when no task ever does), at the claim's instant `now`.
fn aged(now: &str, aging: &str) -> String {
    format!(
        "(CASE WHEN {aging} IS NULL THEN '-infinity'::timestamptz
               ELSE {now} - {aging} * interval '1 second' END)"
    )
}

/// The instant of a claim that runs without waiting: its statement's.
const STATEMENT_NOW: &str = "statement_timestamp()";

/// The instant of a claim under a queue's lock: when the claiming statement started,
/// after the wait for the lock. `statement_timestamp()` there is the calling statement's,
/// from before the wait, and `now()` the transaction's: leases would come out short by the
/// wait, and starts would leave the rate window early.
const LOCKED_NOW: &str = "(SELECT at FROM claim_clock)";

/// The common table that fixes [`LOCKED_NOW`] once for the whole statement.
const CLAIM_CLOCK: &str = "claim_clock AS MATERIALIZED (SELECT clock_timestamp() AS at)";

/// What of a claim's scope its statement reads: as parameters (`$5` names, `$8`
/// versions, `$7` aging), or written into its text.
struct Scope {
    /// The names a claim may take.
    names: String,
    /// The application versions it may take (the worker's, then those it replays; any if
    /// none; a task of no version always).
    versions: String,
    /// How long a due task may wait before it goes ahead of priorities, in seconds (null:
    /// strict priorities).
    aging: String,
}

impl Scope {
    /// As parameters: for the statements run inside the claiming function, which plans
    /// them afresh each time anyway.
    fn parameters() -> Scope {
        Scope {
            names: "($5::text[] IS NULL OR task_name = ANY($5))".to_owned(),
            versions: "($8::text[] IS NULL OR t.app_version IS NULL OR t.app_version = ANY($8))"
                .to_owned(),
            aging: "$7::float8".to_owned(),
        }
    }

    /// Written into the text: for the unlocked claim, a prepared statement whose plan
    /// PostgreSQL keeps (planning it took a millisecond, eight times what running it takes
    /// on an idle queue). A kept plan must not hang on values it cannot see: with the names
    /// a parameter, the planner cannot tell a worker that runs everything due (the due-order
    /// index is right) from one that runs a sliver of it beside another queue's backlog (the
    /// name index is), and was seen to walk the due index past 200,000 tasks of other names;
    /// and a plan for unknown versions, aging or branch bounds is costed above the ones
    /// planned for known values, so PostgreSQL would go on planning every call. Each scope
    /// has a statement, and a plan, of its own; a worker has one scope per queue it serves.
    fn written(scope: &ClaimScope) -> Scope {
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|item| quote(item)).collect();
            format!("ARRAY[{}]::text[]", quoted.join(", "))
        };
        Scope {
            names: match &scope.names {
                None => "true".to_owned(),
                Some(names) => format!("task_name = ANY({})", list(names)),
            },
            versions: match &scope.app_versions {
                None => "true".to_owned(),
                Some(versions) => format!(
                    "(t.app_version IS NULL OR t.app_version = ANY({}))",
                    list(&versions.all())
                ),
            },
            aging: match scope.priority_aging {
                None => "NULL::float8".to_owned(),
                Some(aging) => format!("{}::float8", aging.as_secs_f64()),
            },
        }
    }
}

/// `text` as a string constant, whatever `standard_conforming_strings` is.
fn quote(text: &str) -> String {
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// A queue has controls: a pause or a limit.
const CONTROLLED: &str = "(paused_at IS NOT NULL OR concurrency_limit IS NOT NULL
                          OR key_limit IS NOT NULL OR rate_limit IS NOT NULL)";

/// The due tasks a claim takes, best first, as the branches of a `UNION ALL`, each read in
/// due order from an index: those waiting since before [`AGED`]; then each priority above
/// 0, highest first; then priority 0 (nearly every task: the pending index of due order);
/// then each priority below 0. Every branch but the first reads only tasks due since
/// [`AGED`], so no task is taken twice. Levels are found by skipping through the priority
/// index, one probe each, so a million tasks of one priority cost what one does.
///
/// `now` is the claim's instant, `scope` the names, versions and aging it honours,
/// `columns` are selected from each branch (`t` is the task),
/// `filter` narrows them, `limit` bounds each branch and `lock` follows each (`FOR UPDATE
/// SKIP LOCKED`, or nothing). Each branch also yields `branch` and `level`, which order them.
fn branches(
    now: &str,
    tasks: &str,
    scope: &Scope,
    columns: &str,
    filter: &str,
    limit: &str,
    lock: &str,
) -> String {
    let (names, versions) = (&scope.names, &scope.versions);
    let read = |level: &str, since: &str, branch: u8, level_value: &str| {
        format!(
            "SELECT {columns}, {branch} AS branch, {level_value} AS level, t.run_at
             FROM {tasks} t
             WHERE t.status = 'pending' AND {level} {since} AND t.run_at <= {now}
                 AND {names} AND {versions} AND {filter}
             ORDER BY t.run_at LIMIT {limit} {lock}"
        )
    };
    let aged = aged(now, &scope.aging);
    let fresh = format!("AND t.run_at > {aged}");
    let overdue = read("true", &format!("AND t.run_at <= {aged}"), 0, "0::smallint");
    let above = read(
        "t.priority > 0 AND t.priority = above.p",
        &fresh,
        1,
        "t.priority",
    );
    let zero = read("t.priority = 0", &fresh, 2, "0::smallint");
    let below = read(
        "t.priority < 0 AND t.priority = below.p",
        &fresh,
        3,
        "t.priority",
    );
    format!(
        "SELECT * FROM ({overdue}) overdue
         UNION ALL SELECT c.* FROM above, LATERAL ({above}) c
         UNION ALL SELECT * FROM ({zero}) zero
         UNION ALL SELECT c.* FROM below, LATERAL ({below}) c"
    )
}

/// The priority levels above and below 0 that pending tasks have, highest first, one index
/// probe per level.
fn levels(tasks: &str) -> String {
    let skip = |name: &str, sign: &str| {
        format!(
            "{name}(p) AS (
                (SELECT priority FROM {tasks} WHERE status = 'pending' AND priority {sign} 0
                 ORDER BY priority DESC LIMIT 1)
                UNION ALL
                SELECT (SELECT priority FROM {tasks}
                        WHERE status = 'pending' AND priority {sign} 0 AND priority < {name}.p
                        ORDER BY priority DESC LIMIT 1)
                FROM {name} WHERE {name}.p IS NOT NULL
             )"
        )
    };
    format!("{}, {}", skip("above", ">"), skip("below", "<"))
}

/// What a claim at instant `now` sets on the tasks it takes (`t` is the task). A durable
/// execution never claimed before is recorded with the worker's version (`$8[1]`, null if
/// it has none).
fn claimed(now: &str) -> String {
    format!(
        "status = 'running', worker_id = $2, last_worker_id = $2,
         lease_token = t.lease_token + 1,
         lease_expires_at = {now} + $3::float8 * interval '1 second',
         attempts = t.attempts + 1, started_at = {now}, queue = $6,
         app_version = CASE WHEN t.started_at IS NULL AND t.task_name = ANY($4) THEN $8[1]
                            ELSE t.app_version END"
    )
}

/// What a claim returns of each task (`t` is the task): see `queue::claimed_task`.
fn returned(steps: &str) -> String {
    format!(
        "t.task_id, t.lease_token, t.task_name, t.data, t.metadata, t.run_at, t.attempts,
         t.created_at, t.priority,
         CASE WHEN t.task_name = ANY($4) THEN (
             SELECT coalesce(jsonb_agg(jsonb_build_array(s.seq, s.name, s.occurrence, s.status,
                            s.output, s.error, s.attempts, s.started_at, s.finished_at,
                            s.failed_attempts) ORDER BY s.seq), '[]')
             FROM {steps} s WHERE s.task_id = t.task_id
         ) END,
         t.trace_parent, t.trace_state, t.app_version"
    )
}

/// The unlocked claim of `scope` (written into it: see [`Scope::written`]) for up to
/// `bound` tasks (`$1` may ask fewer): claims with no queue controls, in one statement;
/// claims nothing from a queue that has controls, and then returns one row of nulls
/// instead, to say so. Parameters: see [`bind`].
fn unlocked(names: &TableNames, scope: &ClaimScope, bound: i64) -> String {
    let tasks = names.tasks();
    let queues = names.queues();
    let levels = levels(&tasks);
    let returned = returned(&names.steps());
    let unlocked_due = branches(
        STATEMENT_NOW,
        &tasks,
        &Scope::written(scope),
        "t.task_id",
        "true",
        &bound.to_string(),
        "FOR UPDATE SKIP LOCKED",
    );
    let claimed = claimed(STATEMENT_NOW);
    format!(
        "WITH RECURSIVE {levels},
         controlled AS (SELECT 1 FROM {queues} WHERE queue = $6 AND {CONTROLLED}),
         due AS (
            {unlocked_due}
            LIMIT CASE WHEN EXISTS (SELECT 1 FROM controlled) THEN 0 ELSE $1 END
         ),
         claimed AS (
            UPDATE {tasks} t SET {claimed}
            FROM due WHERE t.task_id = due.task_id
            RETURNING {returned}
         )
         SELECT * FROM claimed
         UNION ALL
         SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
         WHERE EXISTS (SELECT 1 FROM controlled)"
    )
}

impl ClaimQueries {
    pub(crate) fn new(names: &TableNames) -> Self {
        let under_lock = format!(
            "SELECT * FROM {}($9, $10, $1, $2, $3, $4, $5, $6, $7, $8)",
            names.qualified("claim_locked")
        );
        ClaimQueries {
            names: names.clone(),
            unlocked: Mutex::new(HashMap::new()),
            locked: sql(locked(names, false)),
            locked_keyed: sql(locked(names, true)),
            under_lock: sql(under_lock),
            controlled_queues: Mutex::new(HashMap::new()),
        }
    }

    /// The unlocked claim of `scope` for `limit` tasks, written the first time it is
    /// claimed with. Its branches' bound is `limit` rounded up to a power of two: a number
    /// the kept plan knows, from a handful of statements per scope.
    fn unlocked(&self, scope: &ClaimScope, limit: usize) -> SqlStr {
        let bound = i64::try_from(limit.max(1).next_power_of_two()).unwrap_or(i64::MAX);
        let mut written = self.unlocked.lock().unwrap_or_else(PoisonError::into_inner);
        // What the text is written from: the queue and the durable names are parameters.
        let key = (
            ClaimScope {
                queue: None,
                durable: Vec::new(),
                ..scope.clone()
            },
            bound,
        );
        if let Some(statement) = written.get(&key) {
            return statement.clone();
        }
        let statement = sql(unlocked(&self.names, scope, bound));
        written.insert(key, statement.clone());
        statement
    }

    /// Whether `queue` was lately found with controls, and whether they had a key limit.
    fn lately_controlled(&self, queue: &str) -> Option<bool> {
        let mut known = self
            .controlled_queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match known.get(queue) {
            Some((since, keyed)) if since.elapsed() < CONTROLLED_FOR => Some(*keyed),
            Some(_) => {
                known.remove(queue);
                None
            }
            None => None,
        }
    }

    fn mark_controlled(&self, queue: &str, keyed: bool) {
        self.controlled_queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(queue.to_owned(), (Instant::now(), keyed));
    }
}

/// The claim under a queue's lock, honouring its controls; `keyed` for a queue with a key
/// limit. Under the lock no other claim of the queue runs, so candidates are read without
/// row locks; the update still skips a task some claim outside the queue took meanwhile
/// (it re-checks the row it waited for).
///
/// Without a key limit the room (the least of what is asked, the global limit's free
/// slots and the rate's free starts) bounds what the branches yield. With one, the branches
/// read more than the room, the keys already at their limit left out, and each key's tasks
/// are taken up to its free slots. Each branch's own bound is a number the planner knows
/// (from what is asked): a bound it cannot know until run time (the room) would have it
/// plan for every pending task, a sort of them all instead of a walk of the due index.
///
/// The statement without keys claims nothing from a queue that has a key limit, and then
/// returns one row of nulls instead, to say so.
fn locked(names: &TableNames, keyed: bool) -> String {
    let tasks = names.tasks();
    let queues = names.queues();
    let starts = names.queue_starts();
    let levels = levels(&tasks);
    let returned = returned(&names.steps());
    let key = "(t.data #>> (SELECT key_path FROM control))";
    let (running_column, scan) = match keyed {
        true => (
            format!("{key} AS key"),
            "CASE WHEN n = 0 THEN 0 ELSE n * 4 + 16 END",
        ),
        false => (
            "NULL::text AS key".to_owned(),
            "CASE WHEN (SELECT key_limit FROM control) IS NULL THEN n ELSE 0 END",
        ),
    };
    let pick = match keyed {
        true => {
            let candidates = branches(
                LOCKED_NOW,
                &tasks,
                &Scope::parameters(),
                &format!("t.task_id, {key} AS key"),
                &format!(
                    "({key} IS NULL OR NOT ({key} = ANY (ARRAY(SELECT key FROM busy_keys
                         WHERE n >= (SELECT key_limit FROM control)))))"
                ),
                "($1::bigint * 4 + 16)",
                "",
            );
            format!(
                "busy_keys AS (
                    SELECT key, count(*) AS n FROM running WHERE key IS NOT NULL GROUP BY key
                 ),
                 candidates AS ({candidates} LIMIT (SELECT scan FROM room)),
                 ranked AS (
                    SELECT task_id, key, branch, level, run_at,
                           row_number() OVER (PARTITION BY key ORDER BY branch, level DESC, run_at) AS nth
                    FROM candidates
                 ),
                 picked AS (
                    SELECT r.task_id FROM ranked r LEFT JOIN busy_keys b ON b.key = r.key
                    WHERE r.key IS NULL OR (SELECT key_limit FROM control) IS NULL
                       OR r.nth + coalesce(b.n, 0) <= (SELECT key_limit FROM control)
                    ORDER BY r.branch, r.level DESC, r.run_at
                    LIMIT (SELECT n FROM room)
                 )"
            )
        }
        false => {
            let candidates = branches(
                LOCKED_NOW,
                &tasks,
                &Scope::parameters(),
                "t.task_id",
                "true",
                "$1",
                "",
            );
            format!("picked AS ({candidates} LIMIT (SELECT scan FROM room))")
        }
    };
    let wrong_shape = match keyed {
        true => String::new(),
        false => "UNION ALL
             SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
             WHERE EXISTS (SELECT 1 FROM control WHERE key_limit IS NOT NULL)"
            .to_owned(),
    };
    let claimed = claimed(LOCKED_NOW);
    format!(
        "WITH RECURSIVE {levels}, {CLAIM_CLOCK},
         control AS (
            SELECT concurrency_limit, key_limit, string_to_array(key_field, '.') AS key_path,
                   rate_limit, rate_period_ms * interval '1 millisecond' AS rate_period,
                   paused_at
            FROM {queues} WHERE queue = $6
         ),
         running AS (
            SELECT {running_column}
            FROM {tasks} t
            WHERE t.worker_id IS NOT NULL AND t.status = 'running' AND t.queue = $6
         ),
         room AS (
            SELECT n, {scan} AS scan
            FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM control WHERE paused_at IS NOT NULL)
                              THEN 0
                              ELSE greatest(0, least(
                                  $1::bigint,
                                  coalesce((SELECT concurrency_limit FROM control)
                                           - (SELECT count(*) FROM running), $1::bigint),
                                  coalesce((SELECT rate_limit FROM control)
                                           - (SELECT count(*) FROM {starts} s
                                              WHERE s.queue = $6 AND s.started_at >
                                                  {LOCKED_NOW}
                                                  - (SELECT rate_period FROM control)),
                                           $1::bigint)))
                         END AS n) free
         ),
         {pick},
         claimed AS (
            UPDATE {tasks} t SET {claimed}
            FROM picked WHERE t.task_id = picked.task_id AND t.status = 'pending'
            RETURNING {returned}
         ),
         started AS (
            INSERT INTO {starts} (queue, started_at)
            SELECT $6, {LOCKED_NOW} FROM claimed
            WHERE EXISTS (SELECT 1 FROM control WHERE rate_limit IS NOT NULL)
         ),
         forgotten AS (
            DELETE FROM {starts} s
            WHERE s.queue = $6 AND s.started_at
                <= {LOCKED_NOW} - coalesce((SELECT rate_period FROM control), interval '0')
         )
         SELECT * FROM claimed
         {wrong_shape}"
    )
}

/// The arguments of every claiming statement.
fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    worker_id: &'q str,
    limit: usize,
    lease: Duration,
    scope: &'q ClaimScope,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(worker_id)
        .bind(lease.as_secs_f64())
        .bind(&scope.durable)
        .bind(&scope.names)
        .bind(&scope.queue)
        .bind(scope.priority_aging.map(|aging| aging.as_secs_f64()))
        .bind(scope.app_versions.as_ref().map(AppVersions::all))
}

/// Claims up to `limit` due tasks in `scope` (see `QueueStore::claim`).
pub(crate) async fn claim(
    shared: &Shared,
    connection: &mut sqlx::PgConnection,
    worker_id: &str,
    limit: usize,
    lease: Duration,
    scope: &ClaimScope,
) -> StoreResult<Vec<ClaimedTask>> {
    let queries = &shared.claims;
    if let Some(queue) = &scope.queue {
        if let Some(keyed) = queries.lately_controlled(queue) {
            return claim_locked(
                shared, connection, worker_id, limit, lease, scope, queue, keyed,
            )
            .await;
        }
    }
    // Prepared, and its plan kept: its scope is written into it.
    let rows = bind(
        sqlx::query(queries.unlocked(scope, limit)),
        worker_id,
        limit,
        lease,
        scope,
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(shared.db("claiming tasks"))?;
    match (&scope.queue, says_other_shape(&rows)) {
        (Some(queue), true) => {
            claim_locked(
                shared, connection, worker_id, limit, lease, scope, queue, false,
            )
            .await
        }
        _ => decode(shared, &rows),
    }
}

/// A row of nulls: the statement claimed nothing, as the queue needs another statement.
fn says_other_shape(rows: &[sqlx::postgres::PgRow]) -> bool {
    rows.first()
        .is_some_and(|row| matches!(row.try_get::<Option<String>, _>(0), Ok(None)))
}

fn decode(shared: &Shared, rows: &[sqlx::postgres::PgRow]) -> StoreResult<Vec<ClaimedTask>> {
    rows.iter()
        .map(crate::queue::claimed_task)
        .collect::<Result<Vec<_>, _>>()
        .map_err(shared.db("decoding claimed tasks"))
}

/// Claims in `queue` under its lock, with the statement for a queue with a key limit if
/// `keyed` (or the other one, if the first finds the queue is the other kind).
#[allow(clippy::too_many_arguments)]
async fn claim_locked(
    shared: &Shared,
    connection: &mut sqlx::PgConnection,
    worker_id: &str,
    limit: usize,
    lease: Duration,
    scope: &ClaimScope,
    queue: &str,
    keyed: bool,
) -> StoreResult<Vec<ClaimedTask>> {
    let queries = &shared.claims;
    let key = queue_lock(&shared.names, queue);
    let mut run = async |keyed: bool| {
        let statement = match keyed {
            true => &queries.locked_keyed,
            false => &queries.locked,
        };
        bind(
            sqlx::query(queries.under_lock.clone()),
            worker_id,
            limit,
            lease,
            scope,
        )
        .bind(key)
        .bind(statement.as_str())
        .fetch_all(&mut *connection)
        .await
        .map_err(shared.db("claiming tasks in a controlled queue"))
    };
    let mut rows = run(keyed).await?;
    // The queue gained a key limit since it was last claimed: claim again, with the
    // statement that honours it (under the lock anew; the first claim took nothing).
    let keyed = match says_other_shape(&rows) {
        true => {
            rows = run(true).await?;
            true
        }
        false => keyed,
    };
    queries.mark_controlled(queue, keyed);
    decode(shared, &rows)
}

/// The advisory-lock key of `queue` under `names`: claims of one queue of one set of tables
/// wait for each other, and nothing else does.
fn queue_lock(names: &TableNames, queue: &str) -> i64 {
    i64::from_ne_bytes(names.fingerprint(&format!("queue\0{queue}")).to_ne_bytes())
}
