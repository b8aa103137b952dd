-- berth store, schema 8: file-access traces of runs (`berth run --trace`, see
-- docs/security-scanning.md, "Reachability"). One row per traced run: the accesses berth-trace
-- sent (JSON lines, sorted), their count and SHA-256, and whether the stream was complete (its
-- end line came and its count matched; a tracer killed by the traced program sends none).
-- Reachability uses complete traces of runs of the same image ID only.

CREATE TABLE run_traces (
    run_id       TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    complete     INTEGER NOT NULL,
    accesses     INTEGER NOT NULL,
    exit_status  INTEGER,
    sha256       TEXT NOT NULL,
    body         TEXT NOT NULL,
    tracer       TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
) STRICT;
