-- The task queue. A task is `pending` (due at run_at), `waiting` (parked until something
-- wakes it; never claimed), `running` (leased), or ended. Placeholders: {{tasks}} is the schema-qualified, quoted table name and
-- {{prefix}} the table prefix (for index names, which live in the table's schema).
CREATE TABLE IF NOT EXISTS {{tasks}} (
    task_id          text        PRIMARY KEY,
    task_name        text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending',
    run_at           timestamptz NOT NULL DEFAULT now(),
    data             jsonb       NOT NULL DEFAULT 'null',
    metadata         jsonb       NOT NULL DEFAULT 'null',
    recurrence       jsonb,
    attempts         integer     NOT NULL DEFAULT 0,
    rescues          integer     NOT NULL DEFAULT 0,
    worker_id        text,
    lease_token      bigint      NOT NULL DEFAULT 0,
    lease_expires_at timestamptz,
    result           jsonb,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    -- Set on the occurrences of a recurring schedule.
    schedule_id      text,
    CONSTRAINT tasks_status_check CHECK (
        status IN ('pending', 'waiting', 'running', 'completed', 'failed', 'dead', 'cancelled')
    )
);

-- Claims scan due pending tasks in run_at order.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_pending_idx"
    ON {{tasks}} (run_at) WHERE status = 'pending';

-- Heartbeats (by worker) and lease rescue (by expiry) read only held tasks. The predicate
-- is on worker_id, not status, on purpose: a status predicate would tempt the planner to
-- scan this index for the fenced batch updates (which name status = 'running'), whose
-- rows it then cannot estimate; those must join on the primary key.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_held_idx"
    ON {{tasks}} (worker_id, lease_expires_at) WHERE worker_id IS NOT NULL;
