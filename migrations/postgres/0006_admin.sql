-- What the admin reads. Placeholders: {{tasks}}, {{attempts}}, {{workers}}, {{declared_tasks}},
-- {{prefix}}.
--
-- Listings show one status at a time, newest first, a page at a time, each page a short
-- range read of an index. The indexes are partial, so that the queue's hot path (insert,
-- claim, finish) writes one entry more per task, not three: a pending task has an entry in
-- the first (written as it is inserted), an ended one in the second (written as it ends),
-- and a running one is found by the held-lease index (few run at once). The driver's
-- listing statements name these predicates as written here.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_pending_listing_idx"
    ON {{tasks}} (created_at, task_id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_listing_idx"
    ON {{tasks}} (status, created_at, task_id)
    WHERE status IN ('waiting', 'completed', 'failed', 'dead', 'cancelled');

-- An execution's children.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_parent_idx"
    ON {{tasks}} (parent_id) WHERE parent_id IS NOT NULL;

-- Failed attempts, one row each: the statement that stores a retry or a failure, and the
-- rescue of an expired lease, write it. Completions write none, so the queue's hot path
-- does not pay for it.
CREATE TABLE IF NOT EXISTS {{attempts}} (
    id          bigserial   PRIMARY KEY,
    task_id     text        NOT NULL,
    attempt     integer     NOT NULL,
    worker_id   text,
    started_at  timestamptz,
    finished_at timestamptz NOT NULL DEFAULT now(),
    error       text        NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{prefix}}attempts_task_idx" ON {{attempts}} (task_id, id);

-- Worker processes record themselves while alive: a worker that stops deletes its row, one
-- that dies stops refreshing `heartbeat_at` and is forgotten by maintenance.
CREATE TABLE IF NOT EXISTS {{workers}} (
    worker_id    text        PRIMARY KEY,
    host         text        NOT NULL,
    pid          bigint      NOT NULL,
    queues       jsonb       NOT NULL,
    tasks        jsonb       NOT NULL,
    concurrency  integer     NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- The queue and kind of each task name, as its workers last declared them. Queues are
-- the workers' grouping of task names, not a column of the task table: this is how the
-- admin counts a queue's tasks, also while none of its workers runs.
CREATE TABLE IF NOT EXISTS {{declared_tasks}} (
    task_name   text        PRIMARY KEY,
    queue       text        NOT NULL,
    durable     boolean     NOT NULL,
    declared_at timestamptz NOT NULL DEFAULT now()
);
