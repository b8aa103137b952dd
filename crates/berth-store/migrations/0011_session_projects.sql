-- berth store, schema 11: the project a session started through `berth serve` belongs to (its
-- members may use it; the command line's sessions have none).
ALTER TABLE tool_sessions ADD COLUMN project_id TEXT;
