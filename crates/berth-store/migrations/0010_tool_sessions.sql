-- berth store, schema 10: long-lived tool sessions (`berth session`, docs/sessions.md). A
-- session is a container started with the confinement of `berth run` that stays up, runs
-- commands again and again (`berth session exec`), and ends when stopped or idle. Each exec is
-- a step: its command, exit code, timing, output (capped), and what it added, changed or
-- removed in the session's output directory (by SHA-256).

CREATE TABLE tool_sessions (
    id                 TEXT PRIMARY KEY,
    tool_name          TEXT NOT NULL,
    tool_version       TEXT NOT NULL,
    descriptor_json    TEXT NOT NULL,
    descriptor_sha256  TEXT NOT NULL,
    invocation_json    TEXT NOT NULL,
    plan_json          TEXT NOT NULL,
    image_ref          TEXT NOT NULL,
    image_id           TEXT,
    image_digest       TEXT,
    engine_kind        TEXT,
    container_id       TEXT,
    output_dir         TEXT NOT NULL,
    mounts_json        TEXT NOT NULL DEFAULT '[]',
    inputs_json        TEXT NOT NULL DEFAULT '[]',
    scan_policy_json   TEXT,
    idle_timeout_secs  INTEGER NOT NULL,
    status             TEXT NOT NULL,
    status_message     TEXT,
    created_by         TEXT NOT NULL,
    owner_host         TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    last_used_at       TEXT NOT NULL,
    ended_at           TEXT
) STRICT;

CREATE INDEX tool_sessions_status ON tool_sessions (status, created_at);

CREATE TABLE session_steps (
    session_id       TEXT NOT NULL REFERENCES tool_sessions (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    argv_json        TEXT NOT NULL,
    invocation_json  TEXT,
    exit_code        INTEGER,
    started_at       TEXT NOT NULL,
    finished_at      TEXT,
    duration_ms      INTEGER,
    changes_json     TEXT NOT NULL DEFAULT '[]',
    stdout           TEXT NOT NULL DEFAULT '',
    stderr           TEXT NOT NULL DEFAULT '',
    error            TEXT,
    PRIMARY KEY (session_id, seq)
) STRICT;
