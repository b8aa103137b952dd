//! Pipeline runs: a pipeline file expanded into tasks, each task's attempts (ordinary runs),
//! and the step cache's lookup of an earlier succeeded run by its cache key.
//!
//! Every change is one write transaction, like the runs'.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::model::{RunId, RunStatus};
use crate::store::{Store, StoreError, sql};
use crate::time;

/// The label that holds a run's step-cache key (see `berth-pipeline`).
pub const CACHE_KEY_LABEL: &str = "berth.cache-key";
/// The label that links a run to its pipeline run.
pub const PIPELINE_RUN_LABEL: &str = "berth.pipeline-run";
/// The label that names the pipeline task a run is an attempt of.
pub const PIPELINE_TASK_LABEL: &str = "berth.pipeline-task";

/// A task's state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Waiting for its inputs or for capacity.
    Queued,
    /// An attempt is running.
    Running,
    /// The last attempt succeeded.
    Succeeded,
    /// Every attempt failed.
    Failed,
    /// An earlier succeeded run with the same cache key was reused.
    Cached,
    /// Not run because a task it depends on failed or was skipped.
    Skipped,
    /// Stopped by the user (or never started before the pipeline was stopped).
    Cancelled,
}

impl TaskStatus {
    /// The lowercase name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Cached => "cached",
            TaskStatus::Skipped => "skipped",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the task will not change any more.
    pub fn is_terminal(self) -> bool {
        !matches!(self, TaskStatus::Queued | TaskStatus::Running)
    }

    /// Whether its outputs are available to the tasks that depend on it.
    pub fn is_done(self) -> bool {
        matches!(self, TaskStatus::Succeeded | TaskStatus::Cached)
    }

    fn parse(s: &str) -> Option<TaskStatus> {
        Some(match s {
            "queued" => TaskStatus::Queued,
            "running" => TaskStatus::Running,
            "succeeded" => TaskStatus::Succeeded,
            "failed" => TaskStatus::Failed,
            "cached" => TaskStatus::Cached,
            "skipped" => TaskStatus::Skipped,
            "cancelled" => TaskStatus::Cancelled,
            _ => return None,
        })
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pipeline run as it is created.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPipelineRun {
    /// The pipeline's `name`.
    pub name: String,
    /// The pipeline file (absolute).
    pub file_path: String,
    /// SHA-256 of its bytes.
    pub file_sha256: String,
    /// Its text.
    pub file_text: String,
    /// Parameters after overrides, as a JSON object.
    pub params_json: String,
    /// The dataset root, when the pipeline has one.
    pub dataset: Option<String>,
    /// The options it ran with (jobs, budget, keep-going, ...), as JSON.
    pub options_json: String,
    /// Where final outputs are published.
    pub output_dir: String,
    /// Where the tasks' runs write.
    pub work_dir: String,
    /// The berth process that runs it.
    pub owner_pid: u32,
    /// That process's host.
    pub owner_host: String,
    /// That process's start time (see [`crate::NewRun::owner_started_at`]).
    pub owner_started_at: Option<String>,
}

/// A task as it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTask {
    /// `STEP` or `STEP/sub-01[/ses-A]` or `STEP/<index>`.
    pub key: String,
    /// The step's name.
    pub step: String,
    /// The participant label (without `sub-`).
    pub participant: Option<String>,
    /// The session label (without `ses-`).
    pub session: Option<String>,
    /// The `foreach` list item, as JSON.
    pub item_json: Option<String>,
}

/// What changed about a task; only the `Some` fields are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskUpdate {
    /// The new status.
    pub status: Option<TaskStatus>,
    /// Attempts made so far.
    pub attempts: Option<u32>,
    /// The run of the last attempt (or the reused run).
    pub run_id: Option<String>,
    /// The earlier run a cached task reused.
    pub cached_from: Option<String>,
    /// When it started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Why it failed or was skipped.
    pub message: Option<String>,
}

/// One task, read back.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Its position in the expansion (steps in file order, then participants).
    pub seq: u32,
    /// See [`NewTask::key`].
    pub key: String,
    /// The step's name.
    pub step: String,
    /// The participant label.
    pub participant: Option<String>,
    /// The session label.
    pub session: Option<String>,
    /// The `foreach` item, as JSON.
    pub item_json: Option<String>,
    /// Its status.
    pub status: TaskStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The run of the last attempt, or the reused run.
    pub run_id: Option<String>,
    /// The earlier run a cached task reused.
    pub cached_from: Option<String>,
    /// When it started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Why it failed or was skipped.
    pub message: Option<String>,
    /// Every attempt's run, in order: (attempt number, run id).
    pub runs: Vec<(u32, String)>,
}

/// A pipeline run, read back.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineRunRecord {
    /// Its id (a UUID v7, like run ids).
    pub id: String,
    /// What it was created with.
    pub new: NewPipelineRun,
    /// Its status.
    pub status: RunStatus,
    /// Why it ended as it did.
    pub status_message: Option<String>,
    /// When it was recorded.
    pub created_at: String,
    /// When its first task started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Its tasks, in expansion order.
    pub tasks: Vec<TaskRecord>,
}

/// A pipeline run that is not finished, and the berth process that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineOwner {
    /// The pipeline run.
    pub id: String,
    /// The owner's process id.
    pub pid: u32,
    /// The owner's host.
    pub host: String,
    /// The owner's start time (see [`crate::NewRun::owner_started_at`]).
    pub started_at: Option<String>,
}

/// One line of `berth pipeline ls`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRunSummary {
    /// Its id.
    pub id: String,
    /// The pipeline's name.
    pub name: String,
    /// Its status.
    pub status: RunStatus,
    /// When it was recorded.
    pub created_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// How many tasks it has.
    pub tasks: u32,
    /// How many are done (succeeded or cached).
    pub done: u32,
    /// How many failed.
    pub failed: u32,
}

fn task_status(r: &Row<'_>, idx: usize) -> rusqlite::Result<TaskStatus> {
    let s: String = r.get(idx)?;
    TaskStatus::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, format!("task status `{s}`").into())
    })
}

impl Store {
    /// Records a pipeline run (status `running`) and all of its tasks (status `queued`) in one
    /// transaction; returns its id.
    pub fn create_pipeline_run(&self, run: &NewPipelineRun, tasks: &[NewTask]) -> Result<String, StoreError> {
        const OP: &str = "creating a pipeline run";
        let id = RunId::generate().as_str().to_owned();
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO pipeline_runs (id, name, file_path, file_sha256, file_text, params_json, dataset,
                     options_json, output_dir, work_dir, status, owner_pid, owner_host, owner_started_at,
                     created_at, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
                params![
                    id,
                    run.name,
                    run.file_path,
                    run.file_sha256,
                    run.file_text,
                    run.params_json,
                    run.dataset,
                    run.options_json,
                    run.output_dir,
                    run.work_dir,
                    RunStatus::Running,
                    run.owner_pid,
                    run.owner_host,
                    run.owner_started_at,
                    now,
                ],
            )
            .map_err(sql(OP))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO pipeline_tasks (pipeline_run_id, seq, key, step, participant, session, item_json,
                         status)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued')",
                )
                .map_err(sql(OP))?;
            for (seq, t) in tasks.iter().enumerate() {
                insert
                    .execute(params![id, seq as i64, t.key, t.step, t.participant, t.session, t.item_json])
                    .map_err(sql(OP))?;
            }
            Ok(())
        })?;
        Ok(id)
    }

    /// Sets a pipeline run's status; a terminal status also sets `finished_at`.
    pub fn set_pipeline_status(&self, id: &str, status: RunStatus, message: Option<&str>) -> Result<(), StoreError> {
        const OP: &str = "setting a pipeline run's status";
        let finished = status.is_terminal().then(time::now);
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE pipeline_runs SET status = ?2, status_message = ?3,
                     finished_at = COALESCE(?4, finished_at) WHERE id = ?1",
                params![id, status, message, finished],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Applies `updates` to tasks of one pipeline run, all in one transaction.
    pub fn update_tasks(&self, pipeline_run_id: &str, updates: &[(String, TaskUpdate)]) -> Result<(), StoreError> {
        const OP: &str = "updating pipeline tasks";
        if updates.is_empty() {
            return Ok(());
        }
        self.write(OP, |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE pipeline_tasks SET
                         status = COALESCE(?3, status), attempts = COALESCE(?4, attempts),
                         run_id = COALESCE(?5, run_id), cached_from = COALESCE(?6, cached_from),
                         started_at = COALESCE(?7, started_at), finished_at = COALESCE(?8, finished_at),
                         message = COALESCE(?9, message)
                     WHERE pipeline_run_id = ?1 AND key = ?2",
                )
                .map_err(sql(OP))?;
            for (key, u) in updates {
                stmt.execute(params![
                    pipeline_run_id,
                    key,
                    u.status.map(TaskStatus::as_str),
                    u.attempts,
                    u.run_id,
                    u.cached_from,
                    u.started_at,
                    u.finished_at,
                    u.message,
                ])
                .map_err(sql(OP))?;
            }
            Ok(())
        })
    }

    /// Links a run to a task as its `attempt`-th attempt (and as the task's current run).
    pub fn add_task_run(
        &self,
        pipeline_run_id: &str,
        key: &str,
        attempt: u32,
        run_id: &RunId,
    ) -> Result<(), StoreError> {
        const OP: &str = "linking a run to its pipeline task";
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO pipeline_task_runs (pipeline_run_id, key, attempt, run_id) VALUES (?1, ?2, ?3, ?4)",
                params![pipeline_run_id, key, attempt, run_id.as_str()],
            )
            .map_err(sql(OP))?;
            tx.execute(
                "UPDATE pipeline_tasks SET run_id = ?3, attempts = ?4 WHERE pipeline_run_id = ?1 AND key = ?2",
                params![pipeline_run_id, key, run_id.as_str(), attempt],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// The full id of the pipeline run whose id is `id_or_prefix` or starts with it.
    pub fn resolve_pipeline_run_id(&self, id_or_prefix: &str) -> Result<String, StoreError> {
        self.read("looking up a pipeline run", |tx| {
            crate::prefix::resolve(tx, crate::prefix::Table::PipelineRuns, id_or_prefix, "looking up a pipeline run")
        })
    }

    /// A pipeline run with all of its tasks and their attempts.
    pub fn get_pipeline_run(&self, id_or_prefix: &str) -> Result<PipelineRunRecord, StoreError> {
        const OP: &str = "reading a pipeline run";
        let id = self.resolve_pipeline_run_id(id_or_prefix)?;
        self.read(OP, |tx| {
            let mut record = tx
                .query_row(
                    "SELECT name, file_path, file_sha256, file_text, params_json, dataset, options_json, output_dir,
                         work_dir, owner_pid, owner_host, owner_started_at, status, status_message, created_at,
                         started_at, finished_at
                     FROM pipeline_runs WHERE id = ?1",
                    [&id],
                    |r| {
                        Ok(PipelineRunRecord {
                            id: id.clone(),
                            new: NewPipelineRun {
                                name: r.get(0)?,
                                file_path: r.get(1)?,
                                file_sha256: r.get(2)?,
                                file_text: r.get(3)?,
                                params_json: r.get(4)?,
                                dataset: r.get(5)?,
                                options_json: r.get(6)?,
                                output_dir: r.get(7)?,
                                work_dir: r.get(8)?,
                                owner_pid: r.get(9)?,
                                owner_host: r.get(10)?,
                                owner_started_at: r.get(11)?,
                            },
                            status: r.get(12)?,
                            status_message: r.get(13)?,
                            created_at: r.get(14)?,
                            started_at: r.get(15)?,
                            finished_at: r.get(16)?,
                            tasks: Vec::new(),
                        })
                    },
                )
                .optional()
                .map_err(sql(OP))?
                .ok_or_else(|| StoreError::RunNotFound { id: id.clone() })?;
            let mut stmt = tx
                .prepare_cached(
                    "SELECT seq, key, step, participant, session, item_json, status, attempts, run_id, cached_from,
                         started_at, finished_at, message
                     FROM pipeline_tasks WHERE pipeline_run_id = ?1 ORDER BY seq",
                )
                .map_err(sql(OP))?;
            record.tasks = stmt
                .query_map([&id], |r| {
                    Ok(TaskRecord {
                        seq: r.get(0)?,
                        key: r.get(1)?,
                        step: r.get(2)?,
                        participant: r.get(3)?,
                        session: r.get(4)?,
                        item_json: r.get(5)?,
                        status: task_status(r, 6)?,
                        attempts: r.get(7)?,
                        run_id: r.get(8)?,
                        cached_from: r.get(9)?,
                        started_at: r.get(10)?,
                        finished_at: r.get(11)?,
                        message: r.get(12)?,
                        runs: Vec::new(),
                    })
                })
                .map_err(sql(OP))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql(OP))?;
            let mut stmt = tx
                .prepare_cached(
                    "SELECT key, attempt, run_id FROM pipeline_task_runs WHERE pipeline_run_id = ?1
                     ORDER BY key, attempt",
                )
                .map_err(sql(OP))?;
            let attempts = stmt
                .query_map([&id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get::<_, String>(2)?)))
                .map_err(sql(OP))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql(OP))?;
            let index: std::collections::HashMap<String, usize> =
                record.tasks.iter().enumerate().map(|(i, t)| (t.key.clone(), i)).collect();
            for (key, attempt, run) in attempts {
                if let Some(&i) = index.get(&key) {
                    record.tasks[i].runs.push((attempt, run));
                }
            }
            Ok(record)
        })
    }

    /// The most recent pipeline runs, newest first.
    pub fn list_pipeline_runs(&self, limit: usize) -> Result<Vec<PipelineRunSummary>, StoreError> {
        const OP: &str = "listing pipeline runs";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT p.id, p.name, p.status, p.created_at, p.finished_at,
                         (SELECT COUNT(*) FROM pipeline_tasks t WHERE t.pipeline_run_id = p.id),
                         (SELECT COUNT(*) FROM pipeline_tasks t WHERE t.pipeline_run_id = p.id
                              AND t.status IN ('succeeded', 'cached')),
                         (SELECT COUNT(*) FROM pipeline_tasks t WHERE t.pipeline_run_id = p.id
                              AND t.status = 'failed')
                     FROM pipeline_runs p ORDER BY p.created_at DESC, p.id DESC LIMIT ?1",
                )
                .map_err(sql(OP))?;
            stmt.query_map([limit as i64], |r| {
                Ok(PipelineRunSummary {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    status: r.get(2)?,
                    created_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    tasks: r.get(5)?,
                    done: r.get(6)?,
                    failed: r.get(7)?,
                })
            })
            .map_err(sql(OP))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql(OP))
        })
    }

    /// Pipeline runs still marked queued or running, with their owner process. The caller
    /// decides which owners are gone.
    pub fn unfinished_pipeline_runs(&self) -> Result<Vec<PipelineOwner>, StoreError> {
        const OP: &str = "listing running pipeline runs";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id, owner_pid, owner_host, owner_started_at FROM pipeline_runs
                     WHERE status IN ('queued', 'running')",
                )
                .map_err(sql(OP))?;
            stmt.query_map([], |r| {
                Ok(PipelineOwner { id: r.get(0)?, pid: r.get(1)?, host: r.get(2)?, started_at: r.get(3)? })
            })
            .map_err(sql(OP))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql(OP))
        })
    }

    /// Ends a pipeline run whose berth process died: status `failed`, unfinished tasks
    /// `cancelled`, in one transaction.
    pub fn abandon_pipeline_run(&self, id: &str, message: &str) -> Result<(), StoreError> {
        const OP: &str = "ending an abandoned pipeline run";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE pipeline_tasks SET status = 'cancelled', message = ?2, finished_at = COALESCE(finished_at, ?3)
                 WHERE pipeline_run_id = ?1 AND status IN ('queued', 'running')",
                params![id, message, now],
            )
            .map_err(sql(OP))?;
            tx.execute(
                "UPDATE pipeline_runs SET status = 'failed', status_message = ?2, finished_at = ?3
                 WHERE id = ?1 AND status IN ('queued', 'running')",
                params![id, message, now],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// The most recent succeeded run labelled with `cache_key` ([`CACHE_KEY_LABEL`]), if any.
    pub fn find_cached_run(&self, cache_key: &str) -> Result<Option<RunId>, StoreError> {
        const OP: &str = "looking up the step cache";
        self.read(OP, |tx| {
            tx.query_row(
                "SELECT r.id FROM run_labels l JOIN runs r ON r.id = l.run_id
                 WHERE l.key = ?1 AND l.value = ?2 AND r.status = 'succeeded'
                 ORDER BY r.finished_at DESC LIMIT 1",
                params![CACHE_KEY_LABEL, cache_key],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(sql(OP))
            .map(|id| id.map(RunId::from_stored))
        })
    }
}
