//! File-access traces of runs (schema 8, `berth run --trace`): what berth-trace sent for a run,
//! kept with the run so that scans of the same image can tell reached packages from the others.
//! The body is opaque here (JSON lines, berth-minify's trace format); berth-run parses it.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::model::RunId;
use crate::store::{Store, StoreError, sql};
use crate::time;

/// A trace to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrace<'a> {
    /// Whether the stream ended with its end line and the count matched.
    pub complete: bool,
    /// How many access lines it holds.
    pub accesses: usize,
    /// The traced program's exit status, from the end line.
    pub exit_status: Option<u8>,
    /// The access lines.
    pub body: &'a str,
    /// The tracer that made it (its path and SHA-256).
    pub tracer: &'a str,
}

/// A run's trace, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceRecord {
    /// The run.
    pub run_id: String,
    /// The image ID the run used.
    pub image_id: Option<String>,
    /// Whether the stream was complete.
    pub complete: bool,
    /// How many accesses.
    pub accesses: usize,
    /// The traced program's exit status.
    pub exit_status: Option<u8>,
    /// SHA-256 of the body, as recorded (checked on every read).
    pub sha256: String,
    /// The access lines.
    #[serde(skip)]
    pub body: String,
    /// The tracer.
    pub tracer: String,
    /// When it was recorded.
    pub recorded_at: String,
}

/// The hex SHA-256 of a trace body.
fn digest(body: &str) -> String {
    crate::hash::sha256_hex(body.as_bytes())
}

const COLUMNS: &str =
    "t.run_id, r.image_id, t.complete, t.accesses, t.exit_status, t.sha256, t.body, t.tracer, t.recorded_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TraceRecord> {
    Ok(TraceRecord {
        run_id: r.get(0)?,
        image_id: r.get(1)?,
        complete: r.get::<_, i64>(2)? != 0,
        accesses: usize::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
        exit_status: r.get::<_, Option<i64>>(4)?.and_then(|s| u8::try_from(s).ok()),
        sha256: r.get(5)?,
        body: r.get(6)?,
        tracer: r.get(7)?,
        recorded_at: r.get(8)?,
    })
}

impl Store {
    /// Records the trace of `run` (replacing one recorded before).
    pub fn record_trace(&self, run: &RunId, trace: &NewTrace<'_>) -> Result<(), StoreError> {
        const OP: &str = "recording a run's trace";
        let now = time::now();
        let sha = digest(trace.body);
        let accesses = i64::try_from(trace.accesses).unwrap_or(i64::MAX);
        self.write(OP, |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO run_traces (run_id, complete, accesses, exit_status, sha256, body, tracer, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    run.as_str(),
                    i64::from(trace.complete),
                    accesses,
                    trace.exit_status.map(i64::from),
                    sha,
                    trace.body,
                    trace.tracer,
                    now
                ],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// The trace of `run`, if it was traced. A body whose SHA-256 no longer matches the one
    /// recorded with it is reported as not complete (it was edited in the database).
    pub fn trace(&self, run: &RunId) -> Result<Option<TraceRecord>, StoreError> {
        const OP: &str = "reading a run's trace";
        let found = self.read(OP, |tx| {
            tx.query_row(
                &format!("SELECT {COLUMNS} FROM run_traces t JOIN runs r ON r.id = t.run_id WHERE t.run_id = ?1"),
                [run.as_str()],
                row,
            )
            .optional()
            .map_err(sql(OP))
        })?;
        Ok(found.map(checked))
    }

    /// The traces of runs of image `image_id`, oldest run first.
    pub fn traces_of_image(&self, image_id: &str) -> Result<Vec<TraceRecord>, StoreError> {
        const OP: &str = "reading the traces of an image";
        let found = self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM run_traces t JOIN runs r ON r.id = t.run_id
                     WHERE r.image_id = ?1 ORDER BY r.created_at, r.id"
                ))
                .map_err(sql(OP))?;
            let rows = stmt.query_map([image_id], row).map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })?;
        Ok(found.into_iter().map(checked).collect())
    }
}

fn checked(mut t: TraceRecord) -> TraceRecord {
    if digest(&t.body) != t.sha256 {
        t.complete = false;
    }
    t
}

#[cfg(test)]
mod tests {
    use crate::model::{NewRun, RunUpdate};
    use crate::{NewTrace, Store};

    #[test]
    fn traces_are_kept_per_run_found_by_image_and_checked_against_their_digest() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let new_run = || NewRun {
            tool_name: "t".into(),
            tool_version: "1".into(),
            descriptor_json: "{}".into(),
            descriptor_sha256: String::new(),
            invocation_json: "{}".into(),
            command_line: "t".into(),
            plan_json: "{}".into(),
            image_ref: None,
            output_dir: "/w/out".into(),
            owner_pid: 1,
            owner_host: "h".into(),
            owner_started_at: None,
            labels: Default::default(),
        };
        let a = store.create_run(&new_run()).unwrap_or_else(|e| panic!("{e}"));
        let b = store.create_run(&new_run()).unwrap_or_else(|e| panic!("{e}"));
        for (run, image) in [(&a, "sha256:aa"), (&b, "sha256:bb")] {
            store
                .update_run(run, &RunUpdate { image_id: Some(image.into()), ..Default::default() })
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(store.trace(&a).ok().flatten(), None);
        let body = "{\"op\":\"open\",\"path\":\"/a\",\"ok\":true}\n";
        let trace = NewTrace { complete: true, accesses: 1, exit_status: Some(0), body, tracer: "/t" };
        store.record_trace(&a, &trace).unwrap_or_else(|e| panic!("{e}"));
        let got = store.traces_of_image("sha256:aa").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 1);
        assert!(got[0].complete);
        assert_eq!(got[0].body, body);
        assert!(store.traces_of_image("sha256:bb").unwrap_or_else(|e| panic!("{e}")).is_empty());
        // Edited behind berth's back: no longer complete.
        let conn = rusqlite::Connection::open(dir.path().join(crate::store::DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
        conn.execute("UPDATE run_traces SET body = '' WHERE run_id = ?1", [a.as_str()])
            .unwrap_or_else(|e| panic!("{e}"));
        let got = store.trace(&a).ok().flatten().unwrap_or_else(|| panic!("still recorded"));
        assert!(!got.complete);
    }
}
