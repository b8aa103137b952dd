-- berth store, schema 5: the service (`berth serve`). Users authenticate with API tokens
-- (only their SHA-256 is stored); projects group users and the data they may launch on;
-- tools are enabled per site and per project (with per-project default inputs); launches are
-- the durable queue the server's workers take runs from; scans keep each image's latest
-- vulnerability report for the web UI.

CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE tokens (
    sha256       TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;
CREATE INDEX tokens_by_user ON tokens (user_name);

CREATE TABLE projects (
    id               TEXT PRIMARY KEY,
    title            TEXT NOT NULL,
    data_roots_json  TEXT NOT NULL,
    created_at       TEXT NOT NULL
) STRICT;

CREATE TABLE project_members (
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_name   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    PRIMARY KEY (project_id, user_name)
) STRICT, WITHOUT ROWID;

-- scope: '' for the site, else a project id. A tool without a site row is enabled on the
-- site; a tool without a project row is disabled in that project (an admin enables it).
CREATE TABLE tool_settings (
    scope          TEXT NOT NULL,
    tool_name      TEXT NOT NULL,
    enabled        INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    defaults_json  TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (scope, tool_name)
) STRICT, WITHOUT ROWID;

CREATE TABLE launches (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects (id),
    user_name        TEXT NOT NULL,
    tool_name        TEXT NOT NULL,
    tool_version     TEXT NOT NULL,
    invocation_json  TEXT NOT NULL,
    bulk_id          TEXT,
    state            TEXT NOT NULL CHECK (state IN ('queued', 'claimed', 'done', 'failed', 'cancelled')),
    run_id           TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    claimed_by_pid   INTEGER,
    claimed_by_start TEXT,
    claimed_by_host  TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    claimed_at       TEXT,
    finished_at      TEXT
) STRICT;
CREATE INDEX launches_by_state ON launches (state, created_at);
CREATE INDEX launches_by_project ON launches (project_id, created_at);
CREATE INDEX launches_by_run ON launches (run_id);

CREATE TABLE scans (
    id           INTEGER PRIMARY KEY,
    image_ref    TEXT NOT NULL,
    image_id     TEXT,
    report_json  TEXT NOT NULL,
    created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX scans_by_image ON scans (image_ref, created_at);
