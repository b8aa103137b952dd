-- berth store, schema 1: runs with their labels, status history and files; the hash cache.
-- Tables are STRICT so that a value of the wrong type is an error, not a silent conversion.
-- Timestamps are RFC 3339 UTC text with milliseconds (fixed width: text order is time order).

CREATE TABLE runs (
    id                   TEXT PRIMARY KEY NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    status               TEXT NOT NULL
                         CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    status_message       TEXT,

    tool_name            TEXT NOT NULL,
    tool_version         TEXT NOT NULL,
    descriptor_json      TEXT NOT NULL,
    descriptor_sha256    TEXT NOT NULL,
    invocation_json      TEXT NOT NULL,
    command_line         TEXT NOT NULL,
    plan_json            TEXT NOT NULL,
    image_ref            TEXT,
    output_dir           TEXT NOT NULL,
    owner_pid            INTEGER NOT NULL,
    owner_host           TEXT NOT NULL,
    owner_started_at     TEXT,

    image_id             TEXT,
    image_digest         TEXT,
    engine_kind          TEXT,
    engine_version       TEXT,
    engine_api_version   TEXT,
    host_json            TEXT,
    container_id         TEXT,
    container_json       TEXT,
    exit_code            INTEGER,
    oom_killed           INTEGER CHECK (oom_killed IN (0, 1)),
    error                TEXT,
    started_at           TEXT,
    finished_at          TEXT,
    relaxations_json     TEXT,

    stdout_cap           INTEGER,
    stdout_bytes_written INTEGER,
    stdout_bytes_seen    INTEGER,
    stdout_truncated     INTEGER CHECK (stdout_truncated IN (0, 1)),
    stderr_cap           INTEGER,
    stderr_bytes_written INTEGER,
    stderr_bytes_seen    INTEGER,
    stderr_truncated     INTEGER CHECK (stderr_truncated IN (0, 1))
) STRICT;

CREATE INDEX runs_by_created ON runs (created_at, id);
CREATE INDEX runs_by_status ON runs (status);
CREATE INDEX runs_by_tool ON runs (tool_name, created_at);

CREATE TABLE run_labels (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE run_events (
    run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    at      TEXT NOT NULL,
    status  TEXT NOT NULL
            CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    message TEXT,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE run_files (
    run_id         TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('input', 'output', 'config')),
    key            TEXT NOT NULL,
    path           TEXT NOT NULL,
    container_path TEXT,
    kind           TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'missing')),
    size           INTEGER,
    sha256         TEXT,
    -- A directory's entries, as a JSON array of berth_store::ManifestEntry.
    manifest_json  TEXT,
    PRIMARY KEY (run_id, seq)
) STRICT;

-- One entry per inode: a changed file replaces its entry instead of adding one. An entry is
-- used only when size, mtime and ctime all still match. dev and ino are u64 stored as their
-- two's-complement i64.
CREATE TABLE hash_cache (
    dev       INTEGER NOT NULL,
    ino       INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    ctime_ns  INTEGER NOT NULL,
    sha256    TEXT NOT NULL,
    hashed_at TEXT NOT NULL,
    PRIMARY KEY (dev, ino)
) STRICT, WITHOUT ROWID;
