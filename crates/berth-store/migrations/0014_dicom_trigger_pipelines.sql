-- berth store, schema 14: a DICOM rule may start a pipeline instead of queueing a tool's
-- launch. A pipeline run is recorded by the executor once it starts, so its trigger is
-- written first (the claim, which keeps a series from being started twice) and the pipeline
-- run's id, or why it was refused, is set on it afterwards.
ALTER TABLE dicom_triggers ADD COLUMN pipeline_run_id TEXT;
CREATE INDEX dicom_triggers_pipeline ON dicom_triggers (pipeline_run_id);
