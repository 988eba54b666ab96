-- What the admin reads. Placeholders: {{prefix}}, {{now}}.
--
-- Listings page newest first, then by id descending: one direction for both columns, so
-- that the index is read in order (the index it replaces mixed directions, which made
-- SQLite sort).
DROP INDEX IF EXISTS "{{prefix}}tasks_created_idx";
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_created_idx"
    ON "{{prefix}}tasks" (created_at, task_id);
-- A listing of one status (the admin shows one at a time) reads a short range of this one.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_listing_idx"
    ON "{{prefix}}tasks" (status, created_at, task_id);
-- Throughput over the last hour reads only the tasks that ended within it.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_finished_idx"
    ON "{{prefix}}tasks" (finished_at) WHERE finished_at IS NOT NULL;
-- An execution's children.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_parent_idx"
    ON "{{prefix}}tasks" (parent_id) WHERE parent_id IS NOT NULL;

-- Worker processes record themselves while alive: a worker that stops deletes its row, one
-- that dies stops refreshing `heartbeat_at` and is forgotten by maintenance. `queues` and
-- `tasks` are JSON arrays.
CREATE TABLE IF NOT EXISTS "{{prefix}}workers" (
    worker_id    TEXT    PRIMARY KEY NOT NULL,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT    NOT NULL,
    tasks        TEXT    NOT NULL,
    concurrency  INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL DEFAULT ({{now}})
);

-- The queue and kind of each task name, as its workers last declared them. Queues are the
-- workers' grouping of task names, not a column of the task table: this is how the admin
-- counts a queue's tasks, also while none of its workers runs.
CREATE TABLE IF NOT EXISTS "{{prefix}}declared_tasks" (
    task_name   TEXT    PRIMARY KEY NOT NULL,
    queue       TEXT    NOT NULL,
    durable     INTEGER NOT NULL,
    declared_at INTEGER NOT NULL DEFAULT ({{now}})
);
