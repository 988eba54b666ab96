-- What the admin reads. Placeholders: {{prefix}}, {{now}}.
--
-- Listings page newest first, then by id descending: one direction for both columns, so
-- that the index is read in order (the index it replaces mixed directions, which made
-- SQLite sort).
DROP INDEX IF EXISTS "{{prefix}}tasks_created_idx";
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_created_idx"
    ON "{{prefix}}tasks" (created_at, task_id);
-- A listing of one status (the admin shows one at a time) reads the creation index above,
-- the newest first, skipping the other statuses. An index per status would answer rare
-- statuses faster, but SQLite maintains every index that names `status` on each of the
-- queue's updates: a partial one that no task of the drain entered still cost about a
-- sixth of its throughput (BENCHMARKS.md, "The admin").
-- An execution's children.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_parent_idx"
    ON "{{prefix}}tasks" (parent_id) WHERE parent_id IS NOT NULL;

-- Failed attempts, one row each: the statement that stores a retry or a failure, and the
-- rescue of an expired lease, write it. Completions write none.
CREATE TABLE IF NOT EXISTS "{{prefix}}attempts" (
    id          INTEGER PRIMARY KEY,
    task_id     TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    worker_id   TEXT,
    started_at  INTEGER,
    finished_at INTEGER NOT NULL DEFAULT ({{now}}),
    error       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{prefix}}attempts_task_idx" ON "{{prefix}}attempts" (task_id, id);

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
