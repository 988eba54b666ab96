-- Durable executions. An execution is a task (its id, input, status, attempts, result and
-- error live in the task table); this table is its checkpoint log: one row per step
-- call, in call order (a step waiting out a long retry backoff is `retrying`, with its
-- attempts so far and the time of the next one in `output`). Placeholders: {{tasks}}, {{steps}}, {{prefix}}.
CREATE TABLE IF NOT EXISTS {{steps}} (
    task_id     text        NOT NULL,
    -- The call's position in the execution (0-based): a replay must ask for the same
    -- steps in the same order.
    seq         integer     NOT NULL,
    -- The step's key: its name and how many calls of that name came before it.
    name        text        NOT NULL,
    occurrence  integer     NOT NULL,
    status      text        NOT NULL,
    output      jsonb,
    error       text,
    attempts    integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, seq),
    CONSTRAINT steps_status_check CHECK (status IN ('completed', 'failed', 'retrying'))
);

-- Events sent to executions. They stay until the execution is deleted, so an event sent
-- before the execution waits for it is not lost: the n-th wait for a name takes the n-th
-- event of that name.
CREATE TABLE IF NOT EXISTS {{events}} (
    id         bigserial   PRIMARY KEY,
    task_id    text        NOT NULL,
    name       text        NOT NULL,
    payload    jsonb       NOT NULL DEFAULT 'null',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS "{{prefix}}events_task_idx" ON {{events}} (task_id, name, id);

-- A cancel asked for while the task runs: durable executions stop at their next step
-- boundary, and whatever the attempt's outcome, the task ends cancelled.
ALTER TABLE {{tasks}} ADD COLUMN IF NOT EXISTS cancel_requested boolean NOT NULL DEFAULT false;

-- Child executions: a task started by a durable execution carries `parent_id`. When it
-- ends, however it ends, its parent gets the event `child:<id>` with the outcome and, if
-- it is suspended waiting, is made due at once.
ALTER TABLE {{tasks}} ADD COLUMN IF NOT EXISTS parent_id text;

CREATE OR REPLACE FUNCTION {{child_finished}}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {{events}} (task_id, name, payload)
    VALUES (NEW.parent_id, 'child:' || NEW.task_id,
            jsonb_build_object('status', NEW.status, 'result', NEW.result, 'error', NEW.error));
    UPDATE {{tasks}} SET run_at = now()
    WHERE task_id = NEW.parent_id AND status = 'pending' AND run_at > now();
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS "{{prefix}}child_finished" ON {{tasks}};
CREATE TRIGGER "{{prefix}}child_finished"
    AFTER UPDATE OF status ON {{tasks}}
    FOR EACH ROW
    WHEN (NEW.parent_id IS NOT NULL
          AND OLD.status IN ('pending', 'waiting', 'running')
          AND NEW.status IN ('completed', 'failed', 'dead', 'cancelled'))
    EXECUTE FUNCTION {{child_finished}}();
