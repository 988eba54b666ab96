-- Workers claim only the task names they run (their handlers, in the queues they serve).
-- When due tasks of other names pile up (another queue's backlog, or tasks only newer
-- code knows during a rolling deploy), the run_at index alone would make every claim walk
-- past all of them; this one finds a worker's own tasks directly. The planner picks it
-- only when the names claimed are a small part of what is due. Placeholders: {{tasks}},
-- {{prefix}}.
CREATE INDEX IF NOT EXISTS "{{prefix}}tasks_pending_name_idx"
    ON {{tasks}} (task_name, run_at) WHERE status = 'pending';
