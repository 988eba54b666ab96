-- An event wakes its execution when the transaction that sent it commits. The statement
-- that sends an event wakes a suspended execution at once, but an event sent inside a
-- longer transaction (the application's, through `send_event_in` or `{{fn_send_event}}`)
-- is invisible until it commits: an execution that looked for it meanwhile, and
-- suspended, would sleep until its wait timed out. This trigger, deferred to the commit,
-- makes such an execution due then, and wakes listening workers.
-- Placeholders: {{tasks}}, {{events}}, {{event_sent}}, {{notify_channel}}, {{prefix}},
-- {{function_search_path}}.
CREATE OR REPLACE FUNCTION {{event_sent}}() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY INVOKER {{function_search_path}} AS $$
BEGIN
    UPDATE {{tasks}} SET run_at = clock_timestamp()
    WHERE task_id = NEW.task_id AND status = 'pending' AND run_at > clock_timestamp();
    IF FOUND THEN
        PERFORM pg_notify('{{notify_channel}}',
                          (extract(epoch FROM clock_timestamp()) * 1000)::bigint::text);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS "{{prefix}}event_sent" ON {{events}};
CREATE CONSTRAINT TRIGGER "{{prefix}}event_sent"
    AFTER INSERT ON {{events}}
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    EXECUTE FUNCTION {{event_sent}}();
