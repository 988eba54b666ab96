-- Limits set from outside (the admin, the CLI) over the ones workers' code declares.
-- Placeholders: {{queues}}.
--
-- The columns of migration 7 stay what claims read: the limits in force. The declared ones
-- are kept beside them, so that removing an override puts them back at once, without
-- waiting for a worker to start and declare again.
ALTER TABLE {{queues}}
    ADD COLUMN IF NOT EXISTS declared_concurrency_limit integer,
    ADD COLUMN IF NOT EXISTS declared_key_field         text,
    ADD COLUMN IF NOT EXISTS declared_key_limit         integer,
    ADD COLUMN IF NOT EXISTS declared_rate_limit        integer,
    ADD COLUMN IF NOT EXISTS declared_rate_period_ms    bigint,
    -- Since when the limits in force are an override, if they are.
    ADD COLUMN IF NOT EXISTS overridden_at              timestamptz;
UPDATE {{queues}} SET
    declared_concurrency_limit = concurrency_limit, declared_key_field = key_field,
    declared_key_limit = key_limit, declared_rate_limit = rate_limit,
    declared_rate_period_ms = rate_period_ms
WHERE overridden_at IS NULL;
