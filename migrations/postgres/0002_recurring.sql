-- Recurring schedules. Each active schedule has one tick task in the task table,
-- `__zart_recurring__:<schedule_id>` (task name `__zart_tick`), due at the schedule's next
-- slot; whichever worker claims it decides, in one transaction, what the slot does.
-- Placeholders: {{tasks}}, {{schedules}}, {{schedule_runs}} (qualified table names),
-- {{occurrence_finished}} (qualified function name), {{prefix}}, {{tick_id_prefix}} (what a tick's
-- id starts with; the schedule id follows), {{wake_on_finish}} (the tick's metadata key that asks
-- for the wake).
CREATE TABLE IF NOT EXISTS {{schedules}} (
    schedule_id       text        PRIMARY KEY,
    task_name         text        NOT NULL,
    schedule          jsonb       NOT NULL,
    data              jsonb       NOT NULL DEFAULT 'null',
    id_template       text        NOT NULL,
    missed            text        NOT NULL,
    overlap           text        NOT NULL,
    time_window       jsonb,
    max_runs          bigint,
    grace_ms          bigint      NOT NULL,
    state             text        NOT NULL DEFAULT 'active',
    -- Runs started so far; the next run is occurrence number `occurrence` (0-based).
    -- Never decreases: not on stop, resume or re-registration.
    occurrence        bigint      NOT NULL DEFAULT 0,
    next_slot         timestamptz,
    buffered_slot     timestamptz,
    trigger_requested boolean     NOT NULL DEFAULT false,
    last_finished_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schedules_state_check CHECK (state IN ('active', 'paused', 'stopped', 'finished'))
);

-- What each slot became: started (with the occurrence task), buffered or skipped (with
-- the reason). Kept bounded per schedule by the code that appends to it.
CREATE TABLE IF NOT EXISTS {{schedule_runs}} (
    id          bigserial   PRIMARY KEY,
    schedule_id text        NOT NULL,
    slot        timestamptz NOT NULL,
    decision    text        NOT NULL,
    reason      text,
    occurrence  bigint,
    task_id     text,
    catch_up    boolean     NOT NULL DEFAULT false,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS "{{prefix}}schedule_runs_schedule_idx"
    ON {{schedule_runs}} (schedule_id, id);

-- Overlap checks look up a schedule's unfinished occurrences.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_schedule_idx"
    ON {{tasks}} (schedule_id) WHERE schedule_id IS NOT NULL;

-- When an occurrence ends, however it ends (a worker's completion, a rescue marking it
-- dead, a cancel), note the time on its schedule (fixed delays count from it) and wake the
-- schedule's tick if it asked to be woken (a fixed delay waiting for its run, a buffered
-- run waiting for its turn). Updating the schedule row first serialises this with a tick
-- that is deciding about the same schedule: the wake then sees the tick's decision.
CREATE OR REPLACE FUNCTION {{occurrence_finished}}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {{schedules}} SET last_finished_at = now(), updated_at = now()
    WHERE schedule_id = NEW.schedule_id;
    UPDATE {{tasks}}
    SET status = 'pending', run_at = now(), lease_token = lease_token + 1
    WHERE task_id = '{{tick_id_prefix}}' || NEW.schedule_id
      AND status IN ('pending', 'waiting')
      AND (metadata ->> '{{wake_on_finish}}')::boolean IS TRUE;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS "{{prefix}}occurrence_finished" ON {{tasks}};
CREATE TRIGGER "{{prefix}}occurrence_finished"
    AFTER UPDATE OF status ON {{tasks}}
    FOR EACH ROW
    WHEN (NEW.schedule_id IS NOT NULL
          AND OLD.status IN ('pending', 'waiting', 'running')
          AND NEW.status IN ('completed', 'failed', 'dead', 'cancelled'))
    EXECUTE FUNCTION {{occurrence_finished}}();
