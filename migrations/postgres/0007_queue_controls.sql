-- Queue controls: priorities, limits across workers, pause. Placeholders: {{tasks}},
-- {{queues}}, {{queue_starts}}, {{prefix}}.
--
-- Higher priority is claimed first. Nearly every task keeps the default 0, so the index
-- that finds the others holds only them: tasks of priority 0 cost it nothing, and they
-- are still found in due order through the pending index of migration 1.
ALTER TABLE {{tasks}} ADD COLUMN IF NOT EXISTS priority smallint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_priority_idx"
    ON {{tasks}} (priority, run_at) WHERE status = 'pending' AND priority <> 0;
-- The queue a task was last claimed in: a queue's limits count the tasks running in it,
-- whichever worker (of whichever version) claimed them.
ALTER TABLE {{tasks}} ADD COLUMN IF NOT EXISTS queue text;

-- A queue's controls, shared by every worker: limits as the workers' code declares them,
-- and a pause set from outside (the admin, the CLI). A queue with no row has none.
CREATE TABLE IF NOT EXISTS {{queues}} (
    queue             text        PRIMARY KEY,
    -- Most of its tasks running at once, across all workers.
    concurrency_limit integer,
    -- Most tasks of one key running at once; the key is the input's value at key_field
    -- (a dotted path into the task's input).
    key_field         text,
    key_limit         integer,
    -- Most tasks started in any rate_period_ms.
    rate_limit        integer,
    rate_period_ms    bigint,
    paused_at         timestamptz,
    declared_at       timestamptz NOT NULL DEFAULT now()
);

-- When each task of a rate-limited queue started, for as long as the queue's period:
-- the exact count of starts in any window, whatever became of the tasks since.
CREATE TABLE IF NOT EXISTS {{queue_starts}} (
    queue      text        NOT NULL,
    started_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{prefix}}queue_starts_idx" ON {{queue_starts}} (queue, started_at);
