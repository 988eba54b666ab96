-- Queue controls: priorities, limits across workers, pause (as on PostgreSQL, migration
-- 0007). Placeholders: {{prefix}}, {{now}}.
--
-- Higher priority is claimed first. Claims read each name's pending tasks by priority,
-- then due instant, from the name index, widened for it here instead of a new index
-- beside it: SQLite maintains every index that names `status` on each of the queue's
-- updates, so an index more would slow every task down.
ALTER TABLE "{{prefix}}tasks" ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS "{{prefix}}tasks_pending_name_idx";
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_pending_name_idx"
    ON "{{prefix}}tasks" (task_name, priority, run_at) WHERE status = 'pending';
-- The queue a task was last claimed in: a queue's limits count the tasks running in it,
-- whichever worker (of whichever version) claimed them.
ALTER TABLE "{{prefix}}tasks" ADD COLUMN queue TEXT;

-- A queue's controls, shared by every worker: limits as the workers' code declares them,
-- and a pause set from outside (the admin, the CLI). A queue with no row has none.
CREATE TABLE IF NOT EXISTS "{{prefix}}queues" (
    queue             TEXT    PRIMARY KEY,
    concurrency_limit INTEGER,
    key_field         TEXT,
    key_limit         INTEGER,
    rate_limit        INTEGER,
    rate_period_ms    INTEGER,
    paused_at         INTEGER,
    declared_at       INTEGER NOT NULL DEFAULT ({{now}})
);

-- When each task of a rate-limited queue started, for as long as the queue's period.
CREATE TABLE IF NOT EXISTS "{{prefix}}queue_starts" (
    queue      TEXT    NOT NULL,
    started_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{prefix}}queue_starts_idx"
    ON "{{prefix}}queue_starts" (queue, started_at);
