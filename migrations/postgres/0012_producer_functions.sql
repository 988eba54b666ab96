-- The producer contract: SQL functions through which code in any language (Python,
-- TypeScript, Go, psql, a trigger) schedules tasks, starts durable executions, sends
-- events, cancels and reads tasks, inside its own transaction. docs/other-languages.md
-- documents them; this is version 1 of the contract (see producer_api_version below).
--
-- Each body writes what a statement of the driver writes (zart-postgres/src/queries.rs:
-- `insert`, `send_event`, `cancel`, `get`) and checks what the engine checks before it
-- schedules (zart/src/enqueue.rs, `validate`), in the same words. The functions are
-- created once, when this migration runs: a change to those statements or rules needs a
-- migration that creates these functions anew, and the conformance tests
-- (tests/other_languages) fail until one does.
--
-- The functions run with the caller's rights (SECURITY INVOKER) and in the caller's
-- transaction: a rollback leaves nothing, and their notifications are sent on commit. They
-- name Zart's tables qualified by the configured schema, and run with a search path of
-- their own: `pg_catalog, pg_temp` when a schema is configured; without one, the path the
-- migration ran with, under which the tables were found.
--
-- Placeholders (each in double braces; named bare here, where some would expand over
-- several lines): tasks, events (qualified table names); fn_schedule, fn_start,
-- fn_send_event, fn_cancel, fn_get_task, fn_producer_api_version (qualified function
-- names); function_search_path (the SET clause above); notify_channel (the channel the
-- driver's workers listen on for new work); read_from and read_status (how the driver
-- reads a task and its status, suspended waits included); max_id_len, max_name_len,
-- reserved_prefix, reserved_prefix_quoted (as Rust's errors quote it), reserved_like (a
-- LIKE pattern for it).

CREATE OR REPLACE FUNCTION {{fn_producer_api_version}}() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE SECURITY INVOKER {{function_search_path}}
AS $$ SELECT 1 $$;
COMMENT ON FUNCTION {{fn_producer_api_version}}() IS
    'The version of Zart''s producer functions (docs/other-languages.md).';

-- A task to run: the row the driver's insert writes, and the notification it sends, so
-- that an idle worker wakes when the caller commits.
CREATE OR REPLACE FUNCTION {{fn_schedule}}(
    task_name   text,
    task_id     text,
    input       jsonb       DEFAULT 'null',
    run_at      timestamptz DEFAULT NULL,
    priority    integer     DEFAULT 0,
    if_absent   boolean     DEFAULT false,
    traceparent text        DEFAULT NULL,
    tracestate  text        DEFAULT NULL
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER {{function_search_path}} AS $$
-- Parameters share names with columns: the body reads them through the copies below.
#variable_conflict use_column
DECLARE
    _name      text        := task_name;
    _id        text        := task_id;
    _data      jsonb       := coalesce(input, 'null');
    _run_at    timestamptz := coalesce(run_at, now());
    _priority  integer     := coalesce(priority, 0);
    _if_absent boolean     := coalesce(if_absent, false);
    _parent    text        := traceparent;
    -- A context without a state has an empty one, as Rust's TraceContext; a state alone
    -- is no context.
    _state     text        := CASE WHEN traceparent IS NULL THEN NULL ELSE coalesce(tracestate, '') END;
    _reason    text;
    _shown     text;
    _c         text;
    _due       timestamptz;
BEGIN
    IF _id IS NULL OR _name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('invalid task %s: the task %s is NULL',
                             CASE WHEN _id IS NULL THEN 'NULL' ELSE '"' || _id || '"' END,
                             CASE WHEN _id IS NULL THEN 'id' ELSE 'name' END);
    END IF;
    -- Rust's checks, in Rust's order and words; then the one Rust's i16 needs no check for.
    _reason := CASE
        WHEN _id = '' THEN 'the task id is empty'
        WHEN _name = '' THEN 'the task name is empty'
        WHEN octet_length(_id) > {{max_id_len}} THEN format(
            'the task id is %s bytes long; at most {{max_id_len}} are allowed', octet_length(_id))
        WHEN octet_length(_name) > {{max_name_len}} THEN format(
            'the task name is %s bytes long; at most {{max_name_len}} are allowed', octet_length(_name))
        WHEN starts_with(_id, '{{reserved_prefix}}') OR starts_with(_name, '{{reserved_prefix}}') THEN
            'ids and names starting with {{reserved_prefix_quoted}} are reserved for Zart''s own tasks'
        WHEN _priority NOT BETWEEN -32768 AND 32767 THEN format(
            'the priority %s is out of range: it must be between -32768 and 32767', _priority)
    END;
    IF _reason IS NOT NULL THEN
        -- The id as Rust's error quotes it: its first 64 characters and its length if it
        -- is longer, in double quotes, with backslashes, quotes and control characters
        -- escaped.
        _shown := CASE WHEN char_length(_id) > 64
                       THEN left(_id, 64) || format('... (%s bytes)', octet_length(_id))
                       ELSE _id END;
        _shown := replace(replace(_shown, E'\\', E'\\\\'), '"', E'\\"');
        _shown := replace(replace(replace(_shown, E'\n', E'\\n'), E'\r', E'\\r'), E'\t', E'\\t');
        FOR _c IN SELECT DISTINCT m[1]
                  FROM regexp_matches(_shown, E'([\\x01-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f])', 'g') AS m
        LOOP
            _shown := replace(_shown, _c, format(E'\\u{%s}', to_hex(ascii(_c))));
        END LOOP;
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid task "%s": %s', _shown, _reason);
    END IF;

    INSERT INTO {{tasks}} AS t (task_id, task_name, run_at, data, metadata, schedule_id, priority,
                               trace_parent, trace_state)
    VALUES (_id, _name, _run_at, _data, 'null', NULL, _priority::smallint, _parent, _state)
    ON CONFLICT (task_id) DO NOTHING
    RETURNING t.run_at INTO _due;
    IF FOUND THEN
        PERFORM pg_notify('{{notify_channel}}', ceil(extract(epoch FROM _due) * 1000)::bigint::text);
        RETURN true;
    END IF;
    IF _if_absent THEN
        RETURN false;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'unique_violation',
        MESSAGE = format('task id(s) already exist: %s', _id);
END
$$;
COMMENT ON FUNCTION {{fn_schedule}}(text, text, jsonb, timestamptz, integer, boolean, text, text) IS
    'Schedules a Zart task in the caller''s transaction; true if inserted (docs/other-languages.md).';

-- A durable execution is a task whose name its workers registered as durable: the same
-- row. Which kind runs is the claiming worker's decision, by its registry, so nothing more
-- is checked here (nor by Rust's start).
CREATE OR REPLACE FUNCTION {{fn_start}}(
    task_name   text,
    task_id     text,
    input       jsonb       DEFAULT 'null',
    run_at      timestamptz DEFAULT NULL,
    priority    integer     DEFAULT 0,
    if_absent   boolean     DEFAULT false,
    traceparent text        DEFAULT NULL,
    tracestate  text        DEFAULT NULL
) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY INVOKER {{function_search_path}} AS $$
    SELECT {{fn_schedule}}($1, $2, $3, $4, $5, $6, $7, $8)
$$;
COMMENT ON FUNCTION {{fn_start}}(text, text, jsonb, timestamptz, integer, boolean, text, text) IS
    'Starts a Zart durable execution in the caller''s transaction; true if inserted (docs/other-languages.md).';

-- Stores the event and makes a suspended execution due at once, notifying the workers.
CREATE OR REPLACE FUNCTION {{fn_send_event}}(
    task_id    text,
    event_name text,
    payload    jsonb DEFAULT 'null'
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER {{function_search_path}} AS $$
#variable_conflict use_column
DECLARE
    _id      text  := task_id;
    _name    text  := event_name;
    _payload jsonb := coalesce(payload, 'null');
BEGIN
    IF _id IS NULL OR _name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = CASE WHEN _id IS NULL THEN 'the task id is NULL' ELSE 'the event name is NULL' END;
    END IF;
    -- Stamped with the time of the call, not of the caller's transaction's start (now()):
    -- a worker ending an attempt in a suspension looks for events sent since the attempt
    -- started, and a long transaction's start may be before that.
    INSERT INTO {{events}} (task_id, name, payload, created_at)
    VALUES (_id, _name, _payload, clock_timestamp());
    UPDATE {{tasks}} t SET run_at = now()
    WHERE t.task_id = _id AND t.status = 'pending' AND t.run_at > now();
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_notify('{{notify_channel}}', (extract(epoch FROM now()) * 1000)::bigint::text);
    RETURN true;
END
$$;
COMMENT ON FUNCTION {{fn_send_event}}(text, text, jsonb) IS
    'Sends an event to a Zart durable execution; true if it woke a suspended one (docs/other-languages.md).';

-- Ends a task that is not running; asks a running one to stop. Zart's own tasks are left
-- alone.
CREATE OR REPLACE FUNCTION {{fn_cancel}}(task_id text) RETURNS text
LANGUAGE sql VOLATILE STRICT SECURITY INVOKER {{function_search_path}} AS $$
    UPDATE {{tasks}} t
    SET status = CASE WHEN t.status = 'running' THEN t.status ELSE 'cancelled' END,
        finished_at = CASE WHEN t.status = 'running' THEN t.finished_at ELSE now() END,
        error = CASE WHEN t.status = 'running' THEN 'cancelled while running' ELSE t.error END,
        cancel_requested = (t.status = 'running')
    WHERE t.task_id = $1 AND t.status IN ('pending', 'waiting', 'running')
      AND t.task_name NOT LIKE '{{reserved_like}}' AND t.task_id NOT LIKE '{{reserved_like}}'
    RETURNING t.status
$$;
COMMENT ON FUNCTION {{fn_cancel}}(text) IS
    'Cancels a Zart task: ''cancelled'', ''running'' (asked to stop) or NULL (docs/other-languages.md).';

-- One task as the driver reads it: a suspended durable execution has the status of its
-- wait (sleeping, awaiting_event, awaiting_child).
CREATE OR REPLACE FUNCTION {{fn_get_task}}(task_id text)
RETURNS TABLE (
    task_name   text,
    status      text,
    data        jsonb,
    result      jsonb,
    error       text,
    attempts    integer,
    priority    smallint,
    run_at      timestamptz,
    created_at  timestamptz,
    started_at  timestamptz,
    finished_at timestamptz
)
LANGUAGE sql STABLE STRICT SECURITY INVOKER {{function_search_path}} AS $$
    SELECT t.task_name, {{read_status}}, t.data, t.result, t.error, t.attempts, t.priority,
           t.run_at, t.created_at, t.started_at, t.finished_at
    FROM {{read_from}}
    WHERE t.task_id = $1
$$;
COMMENT ON FUNCTION {{fn_get_task}}(text) IS
    'One Zart task''s status, input, result and times; no row for an unknown id (docs/other-languages.md).';
