-- Limits set from outside (the admin, the CLI) over the ones workers' code declares (as
-- on PostgreSQL, migration 0008). Placeholders: {{prefix}}.
--
-- The columns of migration 3 stay what claims read: the limits in force. The declared ones
-- are kept beside them, so that removing an override puts them back at once.
ALTER TABLE "{{prefix}}queues" ADD COLUMN declared_concurrency_limit INTEGER;
ALTER TABLE "{{prefix}}queues" ADD COLUMN declared_key_field TEXT;
ALTER TABLE "{{prefix}}queues" ADD COLUMN declared_key_limit INTEGER;
ALTER TABLE "{{prefix}}queues" ADD COLUMN declared_rate_limit INTEGER;
ALTER TABLE "{{prefix}}queues" ADD COLUMN declared_rate_period_ms INTEGER;
-- Since when the limits in force are an override, if they are.
ALTER TABLE "{{prefix}}queues" ADD COLUMN overridden_at INTEGER;
UPDATE "{{prefix}}queues" SET
    declared_concurrency_limit = concurrency_limit, declared_key_field = key_field,
    declared_key_limit = key_limit, declared_rate_limit = rate_limit,
    declared_rate_period_ms = rate_period_ms;
