-- What a task carries from the code that scheduled it: the W3C trace context of the span
-- that scheduled it (its attempts are traced as that span's child and links), and the
-- version of the application (a worker told its versions claims only tasks of those and of
-- none). Placeholders: {{tasks}}, {{claim_locked}}.
ALTER TABLE {{tasks}}
    ADD COLUMN trace_parent text,
    ADD COLUMN trace_state text,
    ADD COLUMN app_version text;

-- The locked claim (migration 9) returns the new columns and takes the claimable versions
-- as its claiming statement's eighth parameter. A function's result type cannot change in
-- place, so it is created anew.
DROP FUNCTION {{claim_locked}}(bigint, text, bigint, text, float8, text[], text[], text, float8);
CREATE FUNCTION {{claim_locked}}(
    lock_key bigint, claim text,
    n bigint, worker text, lease float8, durable text[], names text[], queue text, aging float8,
    versions text[]
) RETURNS TABLE (
    task_id text, lease_token bigint, task_name text, data jsonb, metadata jsonb,
    run_at timestamptz, attempts integer, created_at timestamptz, priority smallint,
    steps jsonb, trace_parent text, trace_state text, app_version text
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY EXECUTE claim USING n, worker, lease, durable, names, queue, aging, versions;
END
$$;
