-- berth store, schema 2: the tool registry. A tool is a descriptor (Boutiques or an XNAT
-- Command) registered under its name and version; the exact text and its SHA-256 are kept so
-- that a run of a registered tool records exactly what was registered.

CREATE TABLE tools (
    name                 TEXT NOT NULL,
    version              TEXT NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('boutiques', 'xnat')),
    descriptor_json      TEXT NOT NULL,
    descriptor_sha256    TEXT NOT NULL,
    image                TEXT,
    source               TEXT NOT NULL,
    added_at             TEXT NOT NULL,
    PRIMARY KEY (name, version)
) STRICT;

CREATE INDEX tools_by_added ON tools (added_at);
