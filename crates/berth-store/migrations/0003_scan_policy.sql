-- berth store, schema 3: the scan policy's decision about a run's image (`[scan] run_policy`),
-- as JSON: verdict, reasons, the policy applied, the image and the advisory database snapshot.
ALTER TABLE runs ADD COLUMN scan_policy_json TEXT;
