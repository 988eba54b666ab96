-- A step's failed attempts (as on PostgreSQL, migration 11): a JSON array on the step's
-- row, written with the step's record; NULL for a step that never failed.
-- Placeholders: {{prefix}}.
ALTER TABLE "{{prefix}}steps" ADD COLUMN failed_attempts TEXT;
