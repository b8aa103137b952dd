-- berth store, schema 6: runs executed as Slurm jobs (`--backend slurm`, see docs/slurm.md).
-- One row per run that was submitted: the job id (`123`, or `123_4` for a task of array 123),
-- the generated job script, and what the scheduler reported last (state, node, Slurm's exit
-- code) and its accounting when `sacct` has it (elapsed seconds, MaxRSS bytes, the raw fields).
-- A run with a row here is finished from Slurm (`berth status`), never by engine reconciliation.

CREATE TABLE slurm_jobs (
    run_id           TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    job_id           TEXT NOT NULL,
    array_job_id     TEXT,
    script_path      TEXT NOT NULL,
    work_dir         TEXT NOT NULL,
    submit_json      TEXT NOT NULL,
    submitted_at     TEXT NOT NULL,
    state            TEXT,
    node             TEXT,
    slurm_exit_code  TEXT,
    elapsed_seconds  INTEGER,
    max_rss_bytes    INTEGER,
    accounting_json  TEXT,
    updated_at       TEXT NOT NULL
) STRICT;
CREATE INDEX slurm_jobs_by_job ON slurm_jobs (job_id);
