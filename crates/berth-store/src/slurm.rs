//! Runs executed as Slurm jobs (schema 6): the job a run was submitted as, and what the
//! scheduler reported about it. Each change is one write transaction.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::model::RunId;
use crate::store::{Store, StoreError, sql};
use crate::time;

/// A run's Slurm job, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlurmJobRecord {
    /// The run.
    pub run_id: String,
    /// The job id (`123`, or `123_4` for task 4 of array job 123).
    pub job_id: String,
    /// The array's job id, when the run is an array task.
    pub array_job_id: Option<String>,
    /// The generated job script.
    pub script_path: String,
    /// The job's directory on the shared file system (script, logs, exit code).
    pub work_dir: String,
    /// The `sbatch` options it was submitted with (JSON).
    pub submit_json: String,
    /// When it was submitted.
    pub submitted_at: String,
    /// The last state Slurm reported (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, ...).
    pub state: Option<String>,
    /// The node it ran on.
    pub node: Option<String>,
    /// Slurm's exit code (`EXIT:SIGNAL`).
    pub slurm_exit_code: Option<String>,
    /// Elapsed wall time in seconds, from the scheduler.
    pub elapsed_seconds: Option<i64>,
    /// Peak resident memory in bytes (`sacct` MaxRSS), when accounting storage has it.
    pub max_rss_bytes: Option<i64>,
    /// The scheduler's accounting fields as it gave them (JSON), when it had any.
    pub accounting_json: Option<String>,
    /// When the row last changed.
    pub updated_at: String,
}

/// What was learned about a job since; `None` fields keep their values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlurmJobUpdate {
    /// The state.
    pub state: Option<String>,
    /// The node.
    pub node: Option<String>,
    /// Slurm's exit code.
    pub slurm_exit_code: Option<String>,
    /// Elapsed seconds.
    pub elapsed_seconds: Option<i64>,
    /// MaxRSS bytes.
    pub max_rss_bytes: Option<i64>,
    /// The raw accounting fields (JSON).
    pub accounting_json: Option<String>,
}

const COLUMNS: &str = "run_id, job_id, array_job_id, script_path, work_dir, submit_json, submitted_at, state, node, \
     slurm_exit_code, elapsed_seconds, max_rss_bytes, accounting_json, updated_at";

impl Store {
    /// Records that `run` was submitted as `job_id` (inserting or replacing its row).
    pub fn record_slurm_job(
        &self,
        run: &RunId,
        job_id: &str,
        array_job_id: Option<&str>,
        script_path: &str,
        work_dir: &str,
        submit_json: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "recording a Slurm job";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO slurm_jobs (run_id, job_id, array_job_id, script_path, work_dir, submit_json,
                     submitted_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![run.as_str(), job_id, array_job_id, script_path, work_dir, submit_json, now],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Writes the `Some` fields of `update` to the run's job.
    pub fn update_slurm_job(&self, run: &RunId, update: &SlurmJobUpdate) -> Result<(), StoreError> {
        const OP: &str = "updating a Slurm job";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE slurm_jobs SET state = COALESCE(?2, state), node = COALESCE(?3, node),
                     slurm_exit_code = COALESCE(?4, slurm_exit_code), elapsed_seconds = COALESCE(?5, elapsed_seconds),
                     max_rss_bytes = COALESCE(?6, max_rss_bytes), accounting_json = COALESCE(?7, accounting_json),
                     updated_at = ?8
                 WHERE run_id = ?1",
                params![
                    run.as_str(),
                    update.state,
                    update.node,
                    update.slurm_exit_code,
                    update.elapsed_seconds,
                    update.max_rss_bytes,
                    update.accounting_json,
                    now
                ],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// The run's Slurm job, if it was submitted as one.
    pub fn slurm_job(&self, run: &RunId) -> Result<Option<SlurmJobRecord>, StoreError> {
        const OP: &str = "reading a Slurm job";
        self.read(OP, |tx| {
            tx.query_row(&format!("SELECT {COLUMNS} FROM slurm_jobs WHERE run_id = ?1"), [run.as_str()], |r| {
                Ok(SlurmJobRecord {
                    run_id: r.get(0)?,
                    job_id: r.get(1)?,
                    array_job_id: r.get(2)?,
                    script_path: r.get(3)?,
                    work_dir: r.get(4)?,
                    submit_json: r.get(5)?,
                    submitted_at: r.get(6)?,
                    state: r.get(7)?,
                    node: r.get(8)?,
                    slurm_exit_code: r.get(9)?,
                    elapsed_seconds: r.get(10)?,
                    max_rss_bytes: r.get(11)?,
                    accounting_json: r.get(12)?,
                    updated_at: r.get(13)?,
                })
            })
            .optional()
            .map_err(sql(OP))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::model::NewRun;
    use crate::{SlurmJobUpdate, Store};

    #[test]
    fn a_runs_job_is_recorded_and_updates_keep_what_they_do_not_name() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let run = store
            .create_run(&NewRun {
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
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.slurm_job(&run).ok().flatten(), None);
        store.record_slurm_job(&run, "12_3", Some("12"), "/w/job.sh", "/w", "{}").unwrap_or_else(|e| panic!("{e}"));
        let update = |u: SlurmJobUpdate| store.update_slurm_job(&run, &u).unwrap_or_else(|e| panic!("{e}"));
        update(SlurmJobUpdate { state: Some("RUNNING".into()), node: Some("n1".into()), ..Default::default() });
        update(SlurmJobUpdate { state: Some("COMPLETED".into()), elapsed_seconds: Some(4), ..Default::default() });
        let job = store.slurm_job(&run).ok().flatten().unwrap_or_else(|| panic!("no job recorded"));
        assert_eq!(job.job_id, "12_3");
        assert_eq!(job.array_job_id.as_deref(), Some("12"));
        assert_eq!(job.state.as_deref(), Some("COMPLETED"));
        assert_eq!(job.node.as_deref(), Some("n1"));
        assert_eq!(job.elapsed_seconds, Some(4));
        assert_eq!(job.max_rss_bytes, None);
    }
}
