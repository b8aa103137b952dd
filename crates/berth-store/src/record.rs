//! A run as a Boutiques execution record: the JSON `bosh exec launch` saves to its data
//! cache, plus a `berth` section with everything else the store knows.
//!
//! bosh's record (`LocalExecutor._saveDataCaptureToCache` in boutiques 0.5's `localExec.py`)
//! has four parts, kept here with bosh's keys:
//! - `summary`: `name`, `descriptor-doi`, `date-time`; berth adds `descriptor-sha256` (bosh
//!   saves an unpublished descriptor to its cache and names the file instead of a DOI);
//! - `public-invocation`: the invocation with each `File` input replaced by
//!   `{"file-name", "md5sum"}`; berth gives `sha256` instead of `md5sum` (the digest the store
//!   keeps for every file; an MD5 as well would cost a second full read of every input), and
//!   for a directory its manifest digest and a flat `files` list;
//! - `public-output`: `stdout`, `stderr`, `exit-code`, `error-message` (the descriptor's
//!   `error-codes` description for the exit code, or `""`), `shell-command`, `missing-files`
//!   (`{id: path}`), `output-files` (`{id: {"file-name", "sha256"}}`);
//! - `additional-information`: the user's extra provenance; berth puts the run's labels here.
//!
//! The `berth` section holds the rest: run id, status and its history, timestamps, image,
//! engine, host, container settings applied, relaxations, the scan policy's decision, owner, every file with its full
//! path and manifest, and the logs (path, size, truncation).

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::model::{EntryKind, FileKind, FileRecord, FileRole, LogSummary, RunRecord};

/// The version of the `berth` section's layout; bumped when a key changes meaning.
pub const RECORD_VERSION: u32 = 1;

/// What could be read of one log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogContent {
    /// The log's text (invalid UTF-8 replaced by U+FFFD).
    Text(String),
    /// There is no log file (the run never started its container).
    Absent,
    /// The log file could not be read.
    Unreadable {
        /// The system's error, as text.
        error: String,
    },
}

impl LogContent {
    /// Reads the log at `path`.
    pub fn read(path: &Path) -> LogContent {
        match std::fs::read(path) {
            Ok(bytes) => LogContent::Text(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LogContent::Absent,
            Err(e) => LogContent::Unreadable { error: e.to_string() },
        }
    }

    fn text(&self) -> Value {
        match self {
            LogContent::Text(t) => Value::from(t.as_str()),
            LogContent::Absent | LogContent::Unreadable { .. } => Value::Null,
        }
    }
}

impl RunRecord {
    /// The execution record, with stdout and stderr read from the run's log files (see the
    /// [module documentation](self) for its shape). A log that cannot be read is `null` in
    /// `public-output`, with the reason under `berth.logs`.
    pub fn to_execution_record(&self) -> Value {
        self.execution_record_with_logs(&LogContent::read(&self.stdout_path), &LogContent::read(&self.stderr_path))
    }

    /// The execution record, with the given log contents (no file system access).
    pub fn execution_record_with_logs(&self, stdout: &LogContent, stderr: &LogContent) -> Value {
        let descriptor: Value = serde_json::from_str(&self.new.descriptor_json).unwrap_or(Value::Null);
        let summary = json!({
            "name": self.new.tool_name,
            "descriptor-doi": descriptor.get("doi").cloned().unwrap_or(Value::Null),
            "descriptor-sha256": self.new.descriptor_sha256,
            "date-time": self.update.finished_at.as_deref().unwrap_or(&self.updated_at),
        });
        let public_output = json!({
            "stdout": stdout.text(),
            "stderr": stderr.text(),
            "exit-code": self.update.exit_code,
            "error-message": error_message(&descriptor, self.update.exit_code),
            "shell-command": self.new.command_line,
            "missing-files": self.missing_outputs(),
            "output-files": self.public_outputs(),
        });
        let labels: Map<String, Value> =
            self.new.labels.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
        json!({
            "summary": summary,
            "public-invocation": self.public_invocation(&descriptor),
            "public-output": public_output,
            "additional-information": labels,
            "berth": self.berth_section(stdout, stderr),
        })
    }

    /// The invocation with every `File` input replaced by its public description.
    fn public_invocation(&self, descriptor: &Value) -> Value {
        let mut invocation = json_or_text(&self.new.invocation_json);
        let file_inputs = descriptor
            .get("inputs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some("File"))
            .filter_map(|i| i.get("id").and_then(Value::as_str));
        let Some(values) = invocation.as_object_mut() else { return invocation };
        for id in file_inputs {
            let Some(value) = values.get_mut(id) else { continue };
            let mut records = self.files.iter().filter(|f| f.role == FileRole::Input && f.key == id);
            let mut public = |given: &Value| match records.next() {
                Some(record) => public_file(record),
                // The runner recorded no file for this value: keep its name, claim no digest.
                None => json!({ "file-name": given.as_str().map(file_name) }),
            };
            let replaced = match &*value {
                Value::Array(items) => Value::Array(items.iter().map(&mut public).collect()),
                Value::Null => Value::Null,
                single => public(single),
            };
            *value = replaced;
        }
        invocation
    }

    fn missing_outputs(&self) -> Value {
        let mut out = Map::new();
        for f in self.files.iter().filter(|f| f.role == FileRole::Output && f.kind == FileKind::Missing) {
            out.entry(f.key.clone()).or_insert_with(|| Value::from(f.path.as_str()));
        }
        Value::Object(out)
    }

    fn public_outputs(&self) -> Value {
        let mut out = Map::new();
        for f in self.files.iter().filter(|f| f.role == FileRole::Output && f.kind != FileKind::Missing) {
            // bosh keeps the first match of an output's path template; so does the record.
            out.entry(f.key.clone()).or_insert_with(|| public_file(f));
        }
        Value::Object(out)
    }

    fn berth_section(&self, stdout: &LogContent, stderr: &LogContent) -> Value {
        let u = &self.update;
        let n = &self.new;
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|e| json!({ "seq": e.seq, "at": e.at, "status": e.status, "message": e.message }))
            .collect();
        json!({
            "record-version": RECORD_VERSION,
            "run-id": self.id,
            "status": self.status,
            "status-message": self.status_message,
            "created-at": self.created_at,
            "started-at": u.started_at,
            "finished-at": u.finished_at,
            "updated-at": self.updated_at,
            "status-history": events,
            "tool": { "name": n.tool_name, "version": n.tool_version },
            "descriptor-sha256": n.descriptor_sha256,
            "invocation": json_or_text(&n.invocation_json),
            "command-line": n.command_line,
            "plan": json_or_text(&n.plan_json),
            "image": { "ref": n.image_ref, "id": u.image_id, "digest": u.image_digest },
            "engine": { "kind": u.engine_kind, "version": u.engine_version, "api-version": u.engine_api_version },
            "host": u.host_json.as_deref().map(json_or_text),
            "container": {
                "id": u.container_id,
                "settings": u.container_json.as_deref().map(json_or_text),
            },
            "exit-code": u.exit_code,
            "oom-killed": u.oom_killed,
            "error": u.error,
            "relaxations": u.relaxations_json.as_deref().map(json_or_text),
            "scan-policy": u.scan_policy_json.as_deref().map(json_or_text),
            "owner": { "pid": n.owner_pid, "host": n.owner_host, "started-at": n.owner_started_at },
            "output-dir": n.output_dir,
            "labels": n.labels,
            "files": self.files.iter().map(file_json).collect::<Vec<_>>(),
            "logs": {
                "stdout": log_section(&self.stdout_path, self.stdout.as_ref(), stdout),
                "stderr": log_section(&self.stderr_path, self.stderr.as_ref(), stderr),
            },
        })
    }
}

/// A file of the `berth` section. Written out key by key (not through `FileRecord`'s serde)
/// so that the record's format does not follow renames in the Rust types.
fn file_json(f: &FileRecord) -> Value {
    let manifest = f.manifest.as_ref().map(|entries| {
        entries
            .iter()
            .map(|e| {
                let mut entry = json!({ "path": e.path, "kind": e.kind.as_str(), "size": e.size });
                if let Some(obj) = entry.as_object_mut() {
                    if let Some(sha256) = &e.sha256 {
                        obj.insert("sha256".to_owned(), Value::from(sha256.as_str()));
                    }
                    if let Some(target) = &e.target {
                        obj.insert("target".to_owned(), Value::from(target.as_str()));
                    }
                }
                entry
            })
            .collect::<Vec<_>>()
    });
    json!({
        "role": f.role.as_str(),
        "key": f.key,
        "path": f.path,
        "container-path": f.container_path,
        "kind": f.kind.as_str(),
        "size": f.size,
        "sha256": f.sha256,
        "manifest": manifest,
    })
}

fn log_section(path: &Path, summary: Option<&LogSummary>, content: &LogContent) -> Value {
    let mut section = json!({
        "path": path.to_string_lossy(),
        "cap": summary.map(|s| s.cap),
        "bytes-written": summary.map(|s| s.bytes_written),
        "bytes-seen": summary.map(|s| s.bytes_seen),
        "truncated": summary.map(|s| s.truncated),
    });
    if let (LogContent::Unreadable { error }, Some(obj)) = (content, section.as_object_mut()) {
        obj.insert("read-error".to_owned(), Value::from(error.as_str()));
    }
    section
}

/// bosh's `error-message`: the description of the descriptor's `error-codes` entry for the
/// exit code, or `""`.
fn error_message(descriptor: &Value, exit_code: Option<i64>) -> Value {
    let description = exit_code.and_then(|code| {
        descriptor
            .get("error-codes")?
            .as_array()?
            .iter()
            .find(|e| e.get("code").and_then(Value::as_i64) == Some(code))?
            .get("description")
            .cloned()
    });
    description.unwrap_or_else(|| Value::from(""))
}

/// A file as bosh's `_buildPublicFile` describes it, with SHA-256 for MD5.
fn public_file(f: &FileRecord) -> Value {
    let name = file_name(&f.path);
    match f.kind {
        FileKind::Missing => json!({ "file-name": name, "not_found": true }),
        FileKind::File => json!({ "file-name": name, "sha256": f.sha256 }),
        FileKind::Dir => {
            let files: Vec<Value> = f
                .manifest
                .iter()
                .flatten()
                .filter_map(|e| match e.kind {
                    EntryKind::File => Some(json!({ "file-name": e.path, "sha256": e.sha256 })),
                    EntryKind::Symlink => Some(json!({ "file-name": e.path, "symlink-target": e.target })),
                    EntryKind::Dir => None,
                })
                .collect();
            json!({ "file-name": name, "sha256": f.sha256, "files": files })
        }
    }
}

/// The last component of a path, as bosh's `extractFileName` (`os.path.basename`) gives it.
fn file_name(path: &str) -> String {
    Path::new(path).file_name().map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// A stored JSON text as JSON, or as a string if it is not JSON (so nothing is lost).
fn json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::from(text))
}
