-- Zart's tables on SQLite: the same records as on PostgreSQL (migrations/postgres), in
-- SQLite's types. Instants are INTEGER milliseconds since the epoch (SQLite has no
-- timestamp type, and integers compare and index cheaply); JSON is TEXT. Placeholders:
-- {{prefix}} (the table prefix), {{now}} (the current instant in milliseconds).

-- The task queue. A task is `pending` (due at run_at), `waiting` (parked until something
-- wakes it; never claimed), `running` (leased), or ended.
CREATE TABLE IF NOT EXISTS "{{prefix}}tasks" (
    -- The row's key: every index entry points at it, so an integer (8 bytes, compared
    -- at once) keeps the indexes a task enters and leaves small; a claim takes rows by
    -- it. Not seen outside the driver. The task's own id is unique beside it.
    id               INTEGER PRIMARY KEY,
    task_id          TEXT    NOT NULL UNIQUE,
    task_name        TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending' CHECK (
        status IN ('pending', 'waiting', 'running', 'completed', 'failed', 'dead', 'cancelled')
    ),
    run_at           INTEGER NOT NULL DEFAULT ({{now}}),
    data             TEXT    NOT NULL DEFAULT 'null',
    metadata         TEXT    NOT NULL DEFAULT 'null',
    attempts         INTEGER NOT NULL DEFAULT 0,
    rescues          INTEGER NOT NULL DEFAULT 0,
    worker_id        TEXT,
    last_worker_id   TEXT,
    lease_token      INTEGER NOT NULL DEFAULT 0,
    lease_expires_at INTEGER,
    result           TEXT,
    error            TEXT,
    created_at       INTEGER NOT NULL DEFAULT ({{now}}),
    started_at       INTEGER,
    finished_at      INTEGER,
    -- A cancel asked for while the task runs: it ends cancelled whatever its outcome. 1: a
    -- stop request (the task still runs); 2: ended at once while it ran (a run its schedule
    -- replaced), so the worker's later outcome ends nothing.
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    -- Set on the occurrences of a recurring schedule.
    schedule_id      TEXT,
    -- Set on children of a durable execution.
    parent_id        TEXT
);

-- Claims scan due pending tasks in run_at order; a worker that claims only some names
-- finds its own directly (other names' backlog does not slow it).
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_pending_idx"
    ON "{{prefix}}tasks" (run_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_pending_name_idx"
    ON "{{prefix}}tasks" (task_name, run_at) WHERE status = 'pending';
-- Heartbeats (by worker) and rescues read only held tasks. Without the lease's expiry in
-- it: a heartbeat then moves no index entry of the tasks it extends.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_held_idx"
    ON "{{prefix}}tasks" (worker_id) WHERE worker_id IS NOT NULL;
-- Overlap checks look up a schedule's unfinished occurrences.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_schedule_idx"
    ON "{{prefix}}tasks" (schedule_id) WHERE schedule_id IS NOT NULL;
-- Listings, newest first.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_created_idx"
    ON "{{prefix}}tasks" (created_at DESC, task_id);

-- Recurring schedules; each active one has a tick task, due at its next slot.
CREATE TABLE IF NOT EXISTS "{{prefix}}schedules" (
    schedule_id       TEXT    PRIMARY KEY NOT NULL,
    task_name         TEXT    NOT NULL,
    schedule          TEXT    NOT NULL,
    data              TEXT    NOT NULL DEFAULT 'null',
    id_template       TEXT    NOT NULL,
    missed            TEXT    NOT NULL,
    overlap           TEXT    NOT NULL,
    time_window       TEXT,
    max_runs          INTEGER,
    grace_ms          INTEGER NOT NULL,
    state             TEXT    NOT NULL DEFAULT 'active' CHECK (
        state IN ('active', 'paused', 'stopped', 'finished')
    ),
    -- Runs started so far; never decreases.
    occurrence        INTEGER NOT NULL DEFAULT 0,
    next_slot         INTEGER,
    buffered_slot     INTEGER,
    trigger_requested INTEGER NOT NULL DEFAULT 0,
    last_finished_at  INTEGER,
    created_at        INTEGER NOT NULL DEFAULT ({{now}}),
    updated_at        INTEGER NOT NULL DEFAULT ({{now}})
) WITHOUT ROWID;

-- What each slot became, kept bounded per schedule by the code that appends to it.
CREATE TABLE IF NOT EXISTS "{{prefix}}schedule_runs" (
    id          INTEGER PRIMARY KEY,
    schedule_id TEXT    NOT NULL,
    slot        INTEGER NOT NULL,
    decision    TEXT    NOT NULL,
    reason      TEXT,
    occurrence  INTEGER,
    task_id     TEXT,
    catch_up    INTEGER NOT NULL DEFAULT 0,
    recorded_at INTEGER NOT NULL DEFAULT ({{now}})
);
CREATE INDEX IF NOT EXISTS "{{prefix}}schedule_runs_schedule_idx"
    ON "{{prefix}}schedule_runs" (schedule_id, id);

-- Durable executions' checkpoint logs: one row per step call, in call order.
CREATE TABLE IF NOT EXISTS "{{prefix}}steps" (
    task_id     TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    occurrence  INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('completed', 'failed', 'retrying')),
    output      TEXT,
    error       TEXT,
    attempts    INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL DEFAULT ({{now}}),
    PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;

-- Events sent to executions, kept so that the n-th wait for a name takes the n-th event.
CREATE TABLE IF NOT EXISTS "{{prefix}}events" (
    id         INTEGER PRIMARY KEY,
    task_id    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    payload    TEXT    NOT NULL DEFAULT 'null',
    created_at INTEGER NOT NULL DEFAULT ({{now}})
);
CREATE INDEX IF NOT EXISTS "{{prefix}}events_task_idx" ON "{{prefix}}events" (task_id, name, id);

-- The end effects of the store contract (an ended occurrence wakes its schedule's tick, an
-- ended child notifies its parent) are not triggers here: a row trigger costs every update
-- of a task's status (every claim and every outcome) about a third of the driver's
-- throughput, while few tasks have a schedule or a parent. The driver's statements that
-- end tasks return what the effects need and apply them in the same transaction
-- (zart-sqlite's end_effects.rs).
