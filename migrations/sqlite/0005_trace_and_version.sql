-- What a task carries from the code that scheduled it (as on PostgreSQL, migration 10): the
-- W3C trace context of the span that scheduled it, and the application version.
-- Placeholders: {{prefix}}.
ALTER TABLE "{{prefix}}tasks" ADD COLUMN trace_parent TEXT;
ALTER TABLE "{{prefix}}tasks" ADD COLUMN trace_state TEXT;
ALTER TABLE "{{prefix}}tasks" ADD COLUMN app_version TEXT;
