//! Recording runs: creating them, moving them through their statuses, adding what was learned
//! (engine, container, exit code, files, logs), and reading them back.
//!
//! Every change is one write transaction, so a reader (another process listing runs) never
//! sees a status without its history entry, or half of a run's files.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};

use crate::model::{
    FileRecord, LogSummary, NewRun, RunEvent, RunFilter, RunId, RunRecord, RunStatus, RunSummary, RunUpdate,
};
use crate::store::{Store, StoreError, sql};
use crate::time;

/// The columns a [`RunSummary`] is read from (see [`summary_from_row`]).
const SUMMARY_COLUMNS: &str = "id, status, status_message, tool_name, tool_version, created_at, started_at, \
     finished_at, exit_code, image_ref, container_id, owner_pid, owner_host, owner_started_at";

impl Store {
    /// Records a new run with status `queued` (and that first history entry); returns its id.
    pub fn create_run(&self, run: &NewRun) -> Result<RunId, StoreError> {
        const OP: &str = "creating a run";
        let id = RunId::generate();
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO runs (id, created_at, updated_at, status, tool_name, tool_version, descriptor_json,
                     descriptor_sha256, invocation_json, command_line, plan_json, image_ref, output_dir,
                     owner_pid, owner_host, owner_started_at)
                 VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    id.as_str(),
                    now,
                    RunStatus::Queued,
                    run.tool_name,
                    run.tool_version,
                    run.descriptor_json,
                    run.descriptor_sha256,
                    run.invocation_json,
                    run.command_line,
                    run.plan_json,
                    run.image_ref,
                    run.output_dir,
                    run.owner_pid,
                    run.owner_host,
                    run.owner_started_at,
                ],
            )
            .map_err(sql(OP))?;
            let mut label = tx
                .prepare_cached("INSERT INTO run_labels (run_id, key, value) VALUES (?1, ?2, ?3)")
                .map_err(sql(OP))?;
            for (k, v) in &run.labels {
                label.execute(params![id.as_str(), k, v]).map_err(sql(OP))?;
            }
            tx.execute(
                "INSERT INTO run_events (run_id, seq, at, status, message) VALUES (?1, 1, ?2, ?3, NULL)",
                params![id.as_str(), now, RunStatus::Queued],
            )
            .map_err(sql(OP))?;
            Ok(())
        })?;
        Ok(id)
    }

    /// Sets the run's status and appends it to the history, in one transaction. `running`
    /// also sets `started_at`, and a terminal status `finished_at`, unless already set.
    ///
    /// Refuses ([`StoreError::TerminalStatus`]) to change a run that is already succeeded,
    /// failed or cancelled: a cancelled run can never be marked running again, whichever
    /// process tries.
    pub fn set_status(&self, id: &RunId, status: RunStatus, message: Option<&str>) -> Result<(), StoreError> {
        const OP: &str = "setting a run's status";
        self.write(OP, |tx| {
            let current: RunStatus = tx
                .query_row("SELECT status FROM runs WHERE id = ?1", [id.as_str()], |r| r.get(0))
                .optional()
                .map_err(sql(OP))?
                .ok_or_else(|| StoreError::RunNotFound { id: id.to_string() })?;
            if current.is_terminal() {
                return Err(StoreError::TerminalStatus { id: id.clone(), current, requested: status });
            }
            let now = time::now();
            tx.execute(
                "INSERT INTO run_events (run_id, seq, at, status, message)
                 SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4 FROM run_events WHERE run_id = ?1",
                params![id.as_str(), now, status, message],
            )
            .map_err(sql(OP))?;
            tx.execute(
                "UPDATE runs SET status = ?2, status_message = ?3, updated_at = ?4,
                     started_at = CASE WHEN ?5 THEN COALESCE(started_at, ?4) ELSE started_at END,
                     finished_at = CASE WHEN ?6 THEN COALESCE(finished_at, ?4) ELSE finished_at END
                 WHERE id = ?1",
                params![id.as_str(), status, message, now, status == RunStatus::Running, status.is_terminal()],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Writes the `Some` fields of `update` to the run; the others keep their values.
    pub fn update_run(&self, id: &RunId, update: &RunUpdate) -> Result<(), StoreError> {
        const OP: &str = "updating a run";
        let RunUpdate {
            image_id,
            image_digest,
            engine_kind,
            engine_version,
            engine_api_version,
            host_json,
            container_id,
            container_json,
            exit_code,
            oom_killed,
            error,
            started_at,
            finished_at,
            relaxations_json,
            scan_policy_json,
        } = update;
        let text = |column: &'static str, v: &Option<String>| v.clone().map(|v| (column, Value::Text(v)));
        let fields: Vec<(&'static str, Value)> = [
            text("image_id", image_id),
            text("image_digest", image_digest),
            text("engine_kind", engine_kind),
            text("engine_version", engine_version),
            text("engine_api_version", engine_api_version),
            text("host_json", host_json),
            text("container_id", container_id),
            text("container_json", container_json),
            exit_code.map(|v| ("exit_code", Value::Integer(v))),
            oom_killed.map(|v| ("oom_killed", Value::Integer(i64::from(v)))),
            text("error", error),
            text("started_at", started_at),
            text("finished_at", finished_at),
            text("relaxations_json", relaxations_json),
            text("scan_policy_json", scan_policy_json),
        ]
        .into_iter()
        .flatten()
        .collect();
        // Column names are the literals above, never caller input.
        let mut set = String::from("updated_at = ?2");
        for (i, (column, _)) in fields.iter().enumerate() {
            set.push_str(&format!(", {column} = ?{}", i + 3));
        }
        let mut values = vec![Value::Text(id.to_string()), Value::Text(time::now())];
        values.extend(fields.into_iter().map(|(_, v)| v));
        self.write(OP, |tx| {
            let n = tx
                .execute(&format!("UPDATE runs SET {set} WHERE id = ?1"), params_from_iter(values))
                .map_err(sql(OP))?;
            if n == 0 {
                return Err(StoreError::RunNotFound { id: id.to_string() });
            }
            Ok(())
        })
    }

    /// Adds files to the run, after those already recorded.
    pub fn add_files(&self, id: &RunId, files: &[FileRecord]) -> Result<(), StoreError> {
        const OP: &str = "recording a run's files";
        let manifests = files
            .iter()
            .map(|f| f.manifest.as_ref().map(serde_json::to_string).transpose())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| StoreError::Json { what: "a directory manifest", source })?;
        self.write(OP, |tx| {
            ensure_run(tx, id, OP)?;
            let first: u32 = tx
                .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM run_files WHERE run_id = ?1", [id.as_str()], |r| {
                    r.get(0)
                })
                .map_err(sql(OP))?;
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO run_files (run_id, seq, role, key, path, container_path, kind, size, sha256,
                         manifest_json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(sql(OP))?;
            for ((seq, f), manifest) in (first..).zip(files).zip(&manifests) {
                stmt.execute(params![
                    id.as_str(),
                    seq,
                    f.role,
                    f.key,
                    f.path,
                    f.container_path,
                    f.kind,
                    f.size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                    f.sha256,
                    manifest,
                ])
                .map_err(sql(OP))?;
            }
            Ok(())
        })
    }

    /// Records what the log writers did with stdout and stderr.
    pub fn record_logs(&self, id: &RunId, stdout: LogSummary, stderr: LogSummary) -> Result<(), StoreError> {
        const OP: &str = "recording a run's logs";
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.write(OP, |tx| {
            let changed = tx
                .execute(
                    "UPDATE runs SET updated_at = ?2,
                         stdout_cap = ?3, stdout_bytes_written = ?4, stdout_bytes_seen = ?5, stdout_truncated = ?6,
                         stderr_cap = ?7, stderr_bytes_written = ?8, stderr_bytes_seen = ?9, stderr_truncated = ?10
                     WHERE id = ?1",
                    params![
                        id.as_str(),
                        time::now(),
                        n(stdout.cap),
                        n(stdout.bytes_written),
                        n(stdout.bytes_seen),
                        stdout.truncated,
                        n(stderr.cap),
                        n(stderr.bytes_written),
                        n(stderr.bytes_seen),
                        stderr.truncated,
                    ],
                )
                .map_err(sql(OP))?;
            if changed == 0 {
                return Err(StoreError::RunNotFound { id: id.to_string() });
            }
            Ok(())
        })
    }

    /// The full id of the run whose id is `id_or_prefix` or starts with it (at least
    /// [`RunId::MIN_PREFIX`] characters; case does not matter).
    pub fn resolve_run_id(&self, id_or_prefix: &str) -> Result<RunId, StoreError> {
        self.read("looking up a run", |tx| {
            crate::prefix::resolve(tx, crate::prefix::Table::Runs, id_or_prefix, "looking up a run")
                .map(RunId::from_stored)
        })
    }

    /// A run's recorded files (inputs, outputs, config files), without the rest of the record.
    pub fn run_files(&self, id: &RunId) -> Result<Vec<FileRecord>, StoreError> {
        self.read("reading a run's files", |tx| files(tx, id))
    }

    /// Everything about one run: every column, the status history and the files.
    pub fn get_run(&self, id_or_prefix: &str) -> Result<RunRecord, StoreError> {
        const OP: &str = "reading a run";
        let id = self.resolve_run_id(id_or_prefix)?;
        let (stdout_path, stderr_path) = self.log_paths(&id);
        self.read(OP, |tx| {
            let mut record = tx
                .query_row("SELECT * FROM runs WHERE id = ?1", [id.as_str()], |r| {
                    record_from_row(r, stdout_path.clone(), stderr_path.clone())
                })
                .optional()
                .map_err(sql(OP))?
                .ok_or_else(|| StoreError::RunNotFound { id: id.to_string() })?;
            record.new.labels = labels(tx, &id)?;
            record.events = events(tx, &id)?;
            record.files = files(tx, &id)?;
            Ok(record)
        })
    }

    /// Runs matching `filter`, newest first.
    pub fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        const OP: &str = "listing runs";
        let mut conditions = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        if let Some(status) = filter.status {
            values.push(Value::Text(status.as_str().to_owned()));
            conditions.push(format!("status = ?{}", values.len()));
        }
        if let Some(tool) = &filter.tool {
            values.push(Value::Text(tool.clone()));
            conditions.push(format!("tool_name = ?{}", values.len()));
        }
        if let Some(since) = filter.since {
            values.push(Value::Text(time::format(since)));
            conditions.push(format!("created_at >= ?{}", values.len()));
        }
        let mut query = format!("SELECT {SUMMARY_COLUMNS} FROM runs");
        if !conditions.is_empty() {
            query.push_str(" WHERE ");
            query.push_str(&conditions.join(" AND "));
        }
        // LIMIT -1 is SQLite's "no limit".
        values.push(Value::Integer(filter.limit.map_or(-1, i64::from)));
        values.push(Value::Integer(i64::from(filter.offset)));
        query.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT ?{} OFFSET ?{}",
            values.len() - 1,
            values.len()
        ));
        self.read(OP, |tx| summaries(tx, &query, values, OP))
    }

    /// Every run whose status is one of `statuses`, newest first: for finding runs left
    /// `queued` or `running` by a berth process that died.
    pub fn runs_with_status(&self, statuses: &[RunStatus]) -> Result<Vec<RunSummary>, StoreError> {
        const OP: &str = "listing runs by status";
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        let marks = (1..=statuses.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let query =
            format!("SELECT {SUMMARY_COLUMNS} FROM runs WHERE status IN ({marks}) ORDER BY created_at DESC, id DESC");
        let values = statuses.iter().map(|s| Value::Text(s.as_str().to_owned())).collect();
        self.read(OP, |tx| summaries(tx, &query, values, OP))
    }
}

fn ensure_run(tx: &Transaction<'_>, id: &RunId, op: &'static str) -> Result<(), StoreError> {
    let found =
        tx.query_row("SELECT 1 FROM runs WHERE id = ?1", [id.as_str()], |_| Ok(())).optional().map_err(sql(op))?;
    found.ok_or_else(|| StoreError::RunNotFound { id: id.to_string() })
}

fn summaries(
    tx: &Transaction<'_>,
    query: &str,
    values: Vec<Value>,
    op: &'static str,
) -> Result<Vec<RunSummary>, StoreError> {
    let mut stmt = tx.prepare(query).map_err(sql(op))?;
    let rows = stmt.query_map(params_from_iter(values), summary_from_row).map_err(sql(op))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql(op))
}

fn summary_from_row(r: &Row<'_>) -> rusqlite::Result<RunSummary> {
    Ok(RunSummary {
        id: RunId::from_stored(r.get("id")?),
        status: r.get("status")?,
        status_message: r.get("status_message")?,
        tool_name: r.get("tool_name")?,
        tool_version: r.get("tool_version")?,
        created_at: r.get("created_at")?,
        started_at: r.get("started_at")?,
        finished_at: r.get("finished_at")?,
        exit_code: r.get("exit_code")?,
        image_ref: r.get("image_ref")?,
        container_id: r.get("container_id")?,
        owner_pid: r.get("owner_pid")?,
        owner_host: r.get("owner_host")?,
        owner_started_at: r.get("owner_started_at")?,
    })
}

fn record_from_row(
    r: &Row<'_>,
    stdout_path: std::path::PathBuf,
    stderr_path: std::path::PathBuf,
) -> rusqlite::Result<RunRecord> {
    let log = |stream: &str| -> rusqlite::Result<Option<LogSummary>> {
        let cap: Option<i64> = r.get(format!("{stream}_cap").as_str())?;
        let Some(cap) = cap else { return Ok(None) };
        let n = |v: i64| u64::try_from(v).unwrap_or_default();
        Ok(Some(LogSummary {
            cap: n(cap),
            bytes_written: n(r.get(format!("{stream}_bytes_written").as_str())?),
            bytes_seen: n(r.get(format!("{stream}_bytes_seen").as_str())?),
            truncated: r.get(format!("{stream}_truncated").as_str())?,
        }))
    };
    Ok(RunRecord {
        id: RunId::from_stored(r.get("id")?),
        status: r.get("status")?,
        status_message: r.get("status_message")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        new: NewRun {
            tool_name: r.get("tool_name")?,
            tool_version: r.get("tool_version")?,
            descriptor_json: r.get("descriptor_json")?,
            descriptor_sha256: r.get("descriptor_sha256")?,
            invocation_json: r.get("invocation_json")?,
            command_line: r.get("command_line")?,
            plan_json: r.get("plan_json")?,
            image_ref: r.get("image_ref")?,
            output_dir: r.get("output_dir")?,
            owner_pid: r.get("owner_pid")?,
            owner_host: r.get("owner_host")?,
            owner_started_at: r.get("owner_started_at")?,
            labels: BTreeMap::new(),
        },
        update: RunUpdate {
            image_id: r.get("image_id")?,
            image_digest: r.get("image_digest")?,
            engine_kind: r.get("engine_kind")?,
            engine_version: r.get("engine_version")?,
            engine_api_version: r.get("engine_api_version")?,
            host_json: r.get("host_json")?,
            container_id: r.get("container_id")?,
            container_json: r.get("container_json")?,
            exit_code: r.get("exit_code")?,
            oom_killed: r.get("oom_killed")?,
            error: r.get("error")?,
            started_at: r.get("started_at")?,
            finished_at: r.get("finished_at")?,
            relaxations_json: r.get("relaxations_json")?,
            scan_policy_json: r.get("scan_policy_json")?,
        },
        events: Vec::new(),
        files: Vec::new(),
        stdout: log("stdout")?,
        stderr: log("stderr")?,
        stdout_path,
        stderr_path,
    })
}

fn labels(tx: &Transaction<'_>, id: &RunId) -> Result<BTreeMap<String, String>, StoreError> {
    const OP: &str = "reading a run's labels";
    let mut stmt = tx.prepare_cached("SELECT key, value FROM run_labels WHERE run_id = ?1").map_err(sql(OP))?;
    let rows = stmt.query_map([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?))).map_err(sql(OP))?;
    rows.collect::<Result<_, _>>().map_err(sql(OP))
}

fn events(tx: &Transaction<'_>, id: &RunId) -> Result<Vec<RunEvent>, StoreError> {
    const OP: &str = "reading a run's status history";
    let mut stmt = tx
        .prepare_cached("SELECT seq, at, status, message FROM run_events WHERE run_id = ?1 ORDER BY seq")
        .map_err(sql(OP))?;
    let rows = stmt
        .query_map([id.as_str()], |r| {
            Ok(RunEvent { seq: r.get(0)?, at: r.get(1)?, status: r.get(2)?, message: r.get(3)? })
        })
        .map_err(sql(OP))?;
    rows.collect::<Result<_, _>>().map_err(sql(OP))
}

fn files(tx: &Transaction<'_>, id: &RunId) -> Result<Vec<FileRecord>, StoreError> {
    const OP: &str = "reading a run's files";
    let mut stmt = tx
        .prepare_cached(
            "SELECT role, key, path, container_path, kind, size, sha256, manifest_json
             FROM run_files WHERE run_id = ?1 ORDER BY seq",
        )
        .map_err(sql(OP))?;
    let rows = stmt
        .query_map([id.as_str()], |r| {
            let size: Option<i64> = r.get(5)?;
            let record = FileRecord {
                role: r.get(0)?,
                key: r.get(1)?,
                path: r.get(2)?,
                container_path: r.get(3)?,
                kind: r.get(4)?,
                size: size.map(|s| u64::try_from(s).unwrap_or_default()),
                sha256: r.get(6)?,
                manifest: None,
            };
            Ok((record, r.get::<_, Option<String>>(7)?))
        })
        .map_err(sql(OP))?;
    let mut out = Vec::new();
    for row in rows {
        let (mut record, manifest) = row.map_err(sql(OP))?;
        record.manifest = manifest
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|source| StoreError::Json { what: "a directory manifest", source })?;
        out.push(record);
    }
    Ok(out)
}
