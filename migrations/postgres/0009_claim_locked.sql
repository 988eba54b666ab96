-- Claims in a queue with controls take turns on the queue's advisory lock, and the
-- claiming statement must start after the lock is held, so that its snapshot counts what
-- the previous holder claimed. Placeholders: {{claim_locked}}.
--
-- This function does both in one round trip, where BEGIN, the lock, the claim and COMMIT
-- took three: each statement of a volatile PL/pgSQL function takes a snapshot of its own
-- (in READ COMMITTED), so the claim runs with one taken after the lock was granted, and the
-- lock is held until the calling statement's transaction ends. The claiming statement is
-- the driver's (it is planned afresh for each call either way); it runs with the caller's
-- rights, like any statement the caller could send.
CREATE OR REPLACE FUNCTION {{claim_locked}}(
    lock_key bigint, claim text,
    n bigint, worker text, lease float8, durable text[], names text[], queue text, aging float8
) RETURNS TABLE (
    task_id text, lease_token bigint, task_name text, data jsonb, metadata jsonb,
    run_at timestamptz, attempts integer, created_at timestamptz, priority smallint,
    steps jsonb
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY EXECUTE claim USING n, worker, lease, durable, names, queue, aging;
END
$$;
