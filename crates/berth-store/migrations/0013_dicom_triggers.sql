-- berth store, schema 13: what the DICOM automation rules (berth-dicom `rules`, run by
-- `berth serve`) decided. Self-contained: it only adds a table. One row per rule and series
-- (or study) that completed and passed the rule's filters, written in the same transaction as
-- the launch it queued: a restart never launches it again, and a launch is never queued
-- without its row.
CREATE TABLE dicom_triggers (
    project_id   TEXT NOT NULL,
    -- the rule's name ([[dicom.rules]] name, default TOOL@ON)
    rule         TEXT NOT NULL,
    -- series | study
    scope        TEXT NOT NULL,
    -- the Series (or Study) Instance UID
    uid          TEXT NOT NULL,
    study_uid    TEXT NOT NULL,
    -- the directory bound to the rule's input
    directory    TEXT NOT NULL,
    -- instances it had when it completed
    instances    INTEGER NOT NULL,
    triggered_at TEXT NOT NULL,
    as_user      TEXT NOT NULL,
    -- the launch queued (NULL when the launch was refused: see error)
    launch_id    TEXT,
    error        TEXT,
    -- results sent back (a rule's send_to), once the run ended: what happened, and when
    results      TEXT,
    results_at   TEXT,
    PRIMARY KEY (project_id, rule, scope, uid)
);
CREATE INDEX dicom_triggers_launch ON dicom_triggers (launch_id);
