-- berth store, schema 12: what the DICOM node (`berth dicom listen`, crate berth-dicom)
-- received. Self-contained: it only adds tables. One row per association (accepted or
-- rejected), per study, per series and per instance, all per project. An instance row is
-- written in one transaction with its series and study counters, after its file is durable
-- and before the sender is told Success, so every row names a whole file.
CREATE TABLE dicom_associations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    TEXT NOT NULL,
    calling_ae    TEXT NOT NULL,
    called_ae     TEXT NOT NULL,
    peer          TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    ended_at      TEXT,
    -- accepted | rejected
    outcome       TEXT NOT NULL,
    -- why a rejected one was rejected, or how an accepted one ended (released, aborted, ...)
    detail        TEXT,
    instances     INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX dicom_associations_project ON dicom_associations (project_id, started_at);

CREATE TABLE dicom_studies (
    project_id    TEXT NOT NULL,
    study_uid     TEXT NOT NULL,
    patient_id    TEXT,
    study_date    TEXT,
    first_at      TEXT NOT NULL,
    last_at       TEXT NOT NULL,
    instances     INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, study_uid)
);

CREATE TABLE dicom_series (
    project_id    TEXT NOT NULL,
    series_uid    TEXT NOT NULL,
    study_uid     TEXT NOT NULL,
    modality      TEXT,
    description   TEXT,
    series_number INTEGER,
    calling_ae    TEXT NOT NULL,
    first_at      TEXT NOT NULL,
    last_at       TEXT NOT NULL,
    instances     INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, series_uid)
);
CREATE INDEX dicom_series_study ON dicom_series (project_id, study_uid);

CREATE TABLE dicom_instances (
    project_id      TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    sop_class_uid   TEXT NOT NULL,
    study_uid       TEXT NOT NULL,
    series_uid      TEXT NOT NULL,
    transfer_syntax TEXT NOT NULL,
    -- relative to the data root
    path            TEXT NOT NULL,
    data_root       TEXT NOT NULL,
    size            INTEGER NOT NULL,
    calling_ae      TEXT NOT NULL,
    peer            TEXT NOT NULL,
    association_id  INTEGER,
    received_at     TEXT NOT NULL,
    PRIMARY KEY (project_id, sop_instance_uid)
);
CREATE INDEX dicom_instances_series ON dicom_instances (project_id, series_uid);

-- Instances sent to another node (C-STORE SCU: `berth dicom send`, results going back): one
-- row per file and destination, with the last status it answered and the attempts made.
CREATE TABLE dicom_sends (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    destination      TEXT NOT NULL,
    calling_ae       TEXT NOT NULL,
    path             TEXT NOT NULL,
    sop_instance_uid TEXT,
    -- the DIMSE status answered (NULL: no answer)
    status           INTEGER,
    ok               INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    error            TEXT,
    -- the run whose output it was, when a run's results are sent back
    run_id           TEXT,
    sent_at          TEXT NOT NULL
);
CREATE INDEX dicom_sends_run ON dicom_sends (run_id);
