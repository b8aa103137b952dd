-- berth store, schema 4: pipeline runs. A pipeline run expands a pipeline file into tasks (one
-- per step, or per step and participant / session / list item); each attempt of a task is an
-- ordinary run (table `runs`) linked here and labelled `berth.pipeline-run` / `berth.pipeline-task`.
-- A task satisfied from the cache points at the earlier run whose outputs it reused.

CREATE TABLE pipeline_runs (
    id               TEXT PRIMARY KEY NOT NULL,
    name             TEXT NOT NULL,
    file_path        TEXT NOT NULL,
    file_sha256      TEXT NOT NULL,
    -- The pipeline file's text as it was when the run started.
    file_text        TEXT NOT NULL,
    -- Parameters after `--param` overrides, dataset root, and the options (jobs, budget, ...).
    params_json      TEXT NOT NULL,
    dataset          TEXT,
    options_json     TEXT NOT NULL,
    output_dir       TEXT NOT NULL,
    work_dir         TEXT NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    status_message   TEXT,
    owner_pid        INTEGER NOT NULL,
    owner_host       TEXT NOT NULL,
    owner_started_at TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT
) STRICT;

CREATE INDEX pipeline_runs_by_created ON pipeline_runs (created_at, id);

CREATE TABLE pipeline_tasks (
    pipeline_run_id TEXT NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    key             TEXT NOT NULL,
    step            TEXT NOT NULL,
    participant     TEXT,
    session         TEXT,
    item_json       TEXT,
    status          TEXT NOT NULL
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cached', 'skipped',
                                      'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- The run of the last attempt, or the earlier run a cached task reused.
    run_id          TEXT REFERENCES runs (id),
    cached_from     TEXT REFERENCES runs (id),
    started_at      TEXT,
    finished_at     TEXT,
    message         TEXT,
    PRIMARY KEY (pipeline_run_id, key)
) STRICT;

CREATE TABLE pipeline_task_runs (
    pipeline_run_id TEXT NOT NULL,
    key             TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    run_id          TEXT NOT NULL REFERENCES runs (id),
    PRIMARY KEY (pipeline_run_id, key, attempt),
    FOREIGN KEY (pipeline_run_id, key) REFERENCES pipeline_tasks (pipeline_run_id, key) ON DELETE CASCADE
) STRICT;

-- The step cache looks runs up by the `berth.cache-key` label.
CREATE INDEX run_labels_by_value ON run_labels (key, value);
