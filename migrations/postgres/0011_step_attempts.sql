-- A step's failed attempts (number, start, end, error), as a JSON array on the step's row:
-- written with the step's record, in the same statement, so a step that never fails
-- costs nothing more than a NULL. Placeholders: {{steps}}.
ALTER TABLE {{steps}} ADD COLUMN IF NOT EXISTS failed_attempts jsonb;
