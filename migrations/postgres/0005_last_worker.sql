-- Who ran a task last: `worker_id` holds the lease only while the task runs, so this keeps
-- the claiming worker's id after the lease ends (inspection, the admin). Placeholders:
-- {{tasks}}.
ALTER TABLE {{tasks}} ADD COLUMN IF NOT EXISTS last_worker_id text;
