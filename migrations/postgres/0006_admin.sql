-- What the admin reads. Placeholders: {{tasks}}, {{workers}}, {{declared_tasks}}, {{prefix}}.
--
-- Listings show one status at a time, newest first, a page at a time: this index answers
-- each page by a short range read, however large the table.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_listing_idx"
    ON {{tasks}} (status, created_at, task_id);

-- Throughput over the last hour reads only the tasks that ended within it.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_finished_idx"
    ON {{tasks}} (finished_at) WHERE finished_at IS NOT NULL;

-- An execution's children.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_parent_idx"
    ON {{tasks}} (parent_id) WHERE parent_id IS NOT NULL;

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
