//! The records the store keeps: runs, their status history, their files and log summaries.
//!
//! These are plain data (serde both ways); reading and writing them is [`Store`](crate::Store)'s
//! job, and turning a run into a Boutiques execution record is [`record`](crate::record)'s.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// A run's id: a UUID v7 in its hyphenated lowercase text form.
///
/// UUID v7 starts with a millisecond timestamp, so ids sort by creation time both as text and
/// in the database index; the rest is random, so ids made by concurrent processes do not clash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// The length of a full id (`8-4-4-4-12` hex digits and hyphens).
    pub const LEN: usize = 36;
    /// The shortest prefix accepted by lookups.
    pub const MIN_PREFIX: usize = 4;

    /// A new id, later than every id this process made before.
    pub fn generate() -> RunId {
        RunId(uuid::Uuid::now_v7().hyphenated().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps text already known to be a full run id (read back from the store).
    pub(crate) fn from_stored(id: String) -> RunId {
        RunId(id)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RunId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Where a run is in its life. `Succeeded`, `Failed` and `Cancelled` are terminal: the store
/// refuses any transition out of them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Recorded, not started yet.
    Queued,
    /// The container has been started (or is being prepared).
    Running,
    /// The tool exited 0 and its required outputs exist.
    Succeeded,
    /// The tool, the engine or berth failed.
    Failed,
    /// The user (or berth, on shutdown) stopped the run.
    Cancelled,
}

impl RunStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [RunStatus; 5] =
        [RunStatus::Queued, RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed, RunStatus::Cancelled];

    /// Whether the run is over: no further status change is allowed.
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled)
    }

    /// The lowercase name, as serialized and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of the five statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a run status (expected one of `queued`, `running`, `succeeded`, `failed`, `cancelled`)")]
pub struct ParseStatusError {
    /// The text given.
    pub text: String,
}

impl FromStr for RunStatus {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| ParseStatusError { text: s.to_owned() })
    }
}

/// What the runner knows when it records a run, before anything has been started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRun {
    /// The descriptor's `name`.
    pub tool_name: String,
    /// The descriptor's `tool-version`.
    pub tool_version: String,
    /// The descriptor exactly as loaded.
    pub descriptor_json: String,
    /// SHA-256 (hex) of the descriptor file's bytes.
    pub descriptor_sha256: String,
    /// The invocation, with defaults applied.
    pub invocation_json: String,
    /// The rendered command line.
    pub command_line: String,
    /// The run plan (`berth_descriptor::Plan`) as JSON.
    pub plan_json: String,
    /// The container image as the descriptor names it, if any.
    pub image_ref: Option<String>,
    /// The host directory the outputs are written to.
    pub output_dir: String,
    /// The process id of the berth process that owns the run.
    pub owner_pid: u32,
    /// The host name of that process's machine.
    pub owner_host: String,
    /// That process's start time (for example from `/proc/<pid>/stat`), to tell a live berth
    /// process from a later one that was given the same PID.
    pub owner_started_at: Option<String>,
    /// Free-form labels (`key=value`), given by the user.
    pub labels: BTreeMap<String, String>,
}

/// Facts learned while a run goes on; only the `Some` fields are written by
/// [`Store::update_run`](crate::Store::update_run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunUpdate {
    /// The image's id on the engine (`sha256:...`).
    pub image_id: Option<String>,
    /// The image's repository digest (`name@sha256:...`).
    pub image_digest: Option<String>,
    /// `docker`, `podman`, ...
    pub engine_kind: Option<String>,
    /// The engine's version.
    pub engine_version: Option<String>,
    /// The API version spoken with the engine.
    pub engine_api_version: Option<String>,
    /// Facts about the host (OS, kernel, CPUs, memory) as JSON.
    pub host_json: Option<String>,
    /// The container's id.
    pub container_id: Option<String>,
    /// The settings the engine applied to the container (from inspecting it), as JSON.
    pub container_json: Option<String>,
    /// The tool's exit code.
    pub exit_code: Option<i64>,
    /// Whether the kernel killed the container for lack of memory.
    pub oom_killed: Option<bool>,
    /// What went wrong, for a failed run, in one message.
    pub error: Option<String>,
    /// When the container started (RFC 3339). [`Store::set_status`](crate::Store::set_status)
    /// fills it in on `running` when it is still empty.
    pub started_at: Option<String>,
    /// When the run ended (RFC 3339). Filled in on a terminal status when still empty.
    pub finished_at: Option<String>,
    /// The safety relaxations the user asked for (network, writable root, ...), as JSON.
    pub relaxations_json: Option<String>,
    /// The scan policy's decision about the image (`[scan] run_policy`), as JSON.
    pub scan_policy_json: Option<String>,
}

/// One entry of a run's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEvent {
    /// 1 for the first event (`queued`), counting up.
    pub seq: u32,
    /// When the status was set (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// The status set.
    pub status: RunStatus,
    /// Why, when the caller said.
    pub message: Option<String>,
}

/// Which side of the tool a file is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileRole {
    /// An input the tool reads.
    Input,
    /// An output the tool writes.
    Output,
    /// A configuration file berth wrote for the tool from the descriptor's template.
    Config,
}

impl FileRole {
    /// The lowercase name, as serialized and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            FileRole::Input => "input",
            FileRole::Output => "output",
            FileRole::Config => "config",
        }
    }
}

/// What was found at a file's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file (symbolic links given as inputs are followed).
    File,
    /// A directory, recorded with a manifest.
    Dir,
    /// Nothing: an expected output that was not produced.
    Missing,
}

impl FileKind {
    /// The lowercase name, as serialized and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Dir => "dir",
            FileKind::Missing => "missing",
        }
    }
}

/// What an entry of a directory manifest is. Symbolic links are recorded, never followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file: size and SHA-256.
    File,
    /// A subdirectory (listed so that an empty one is part of the manifest).
    Dir,
    /// A symbolic link: its target, as written in the link.
    Symlink,
}

impl EntryKind {
    /// The lowercase name, as serialized and used in the manifest's canonical text.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
        }
    }
}

/// One entry of a directory manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The path relative to the directory, components joined with `/`.
    pub path: String,
    /// File, subdirectory or symbolic link.
    pub kind: EntryKind,
    /// The file's size in bytes; the length of a link's target; 0 for a subdirectory.
    pub size: u64,
    /// SHA-256 (hex) of a file's contents; `None` for the other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A symbolic link's target; `None` for the other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// One file (or directory) a run read or wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Input, output or configuration file.
    pub role: FileRole,
    /// The descriptor's id of the input or output (`input-file`, `outfile`).
    pub key: String,
    /// The path on the host.
    pub path: String,
    /// The path inside the container, when mounted.
    pub container_path: Option<String>,
    /// What was found at `path`.
    pub kind: FileKind,
    /// A file's size, or the total size of a directory's files.
    pub size: Option<u64>,
    /// SHA-256 (hex) of a file, or of a directory's manifest
    /// (see [`hash::manifest_text`](crate::hash::manifest_text)).
    pub sha256: Option<String>,
    /// A directory's entries.
    pub manifest: Option<Vec<ManifestEntry>>,
}

/// What a [`LogWriter`](crate::LogWriter) did with one output stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSummary {
    /// The most bytes of the stream kept.
    pub cap: u64,
    /// The bytes of the stream written to the log (at most `cap`; the truncation marker is not
    /// counted).
    pub bytes_written: u64,
    /// The bytes the stream produced, kept or not.
    pub bytes_seen: u64,
    /// Whether bytes were discarded (`bytes_seen > cap`).
    pub truncated: bool,
}

/// Everything the store knows about one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// The current status.
    pub status: RunStatus,
    /// The message given with the current status.
    pub status_message: Option<String>,
    /// When the run was recorded.
    pub created_at: String,
    /// When the run's record last changed.
    pub updated_at: String,
    /// What the runner knew at the start.
    #[serde(flatten)]
    pub new: NewRun,
    /// What was learned since (every field as stored; `None` where nothing was recorded).
    #[serde(flatten)]
    pub update: RunUpdate,
    /// The status history, oldest first.
    pub events: Vec<RunEvent>,
    /// The files recorded, in the order they were added.
    pub files: Vec<FileRecord>,
    /// What happened to stdout, once recorded.
    pub stdout: Option<LogSummary>,
    /// What happened to stderr, once recorded.
    pub stderr: Option<LogSummary>,
    /// Where the stdout log is (it may not exist if the run never started).
    pub stdout_path: PathBuf,
    /// Where the stderr log is.
    pub stderr_path: PathBuf,
}

/// One line of a run listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's id.
    pub id: RunId,
    /// The current status.
    pub status: RunStatus,
    /// The message given with the current status.
    pub status_message: Option<String>,
    /// The descriptor's `name`.
    pub tool_name: String,
    /// The descriptor's `tool-version`.
    pub tool_version: String,
    /// When the run was recorded.
    pub created_at: String,
    /// When the container started.
    pub started_at: Option<String>,
    /// When the run ended.
    pub finished_at: Option<String>,
    /// The tool's exit code.
    pub exit_code: Option<i64>,
    /// The container image as the descriptor names it.
    pub image_ref: Option<String>,
    /// The container's id, once created (for crash reconciliation).
    pub container_id: Option<String>,
    /// The owning berth process (for crash reconciliation).
    pub owner_pid: u32,
    /// The owning process's host.
    pub owner_host: String,
    /// The owning process's start time.
    pub owner_started_at: Option<String>,
}

/// Which runs [`Store::list_runs`](crate::Store::list_runs) returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Only runs of the tool with this name.
    pub tool: Option<String>,
    /// At most this many runs (all when `None`).
    pub limit: Option<u32>,
    /// Skip this many runs first (newest first).
    pub offset: u32,
    /// Only runs recorded at or after this time.
    pub since: Option<SystemTime>,
}
