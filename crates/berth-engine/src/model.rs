//! What engines report back: engine info, images, container state, logs, listings.
//!
//! These are berth's own types, kept apart from the wire types of any engine API so that the
//! runner, the fake engine and provenance records do not depend on bollard's models.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::str::FromStr;

use bytes::Bytes;
use futures_util::Stream;

use crate::error::EngineError;

/// The kinds of container engine berth knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Docker Engine (`dockerd`).
    Docker,
    /// Podman, through its Docker-compatible API service.
    Podman,
    /// Apptainer, or its predecessor Singularity (a command, not a daemon).
    Apptainer,
}

impl EngineKind {
    /// The lowercase name used on the command line and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
            Self::Apptainer => "apptainer",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an engine kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown engine `{given}`: expected `docker`, `podman` or `apptainer`")]
pub struct UnknownEngineKind {
    /// What was given.
    pub given: String,
}

impl FromStr for EngineKind {
    type Err = UnknownEngineKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "docker" => Ok(Self::Docker),
            "podman" => Ok(Self::Podman),
            // Singularity is Apptainer's former name and still installed under it.
            "apptainer" | "singularity" => Ok(Self::Apptainer),
            _ => Err(UnknownEngineKind { given: s.to_owned() }),
        }
    }
}

/// What a Docker-compatible engine says about itself (`GET /version` and `GET /info`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineInfo {
    /// Docker or Podman (from the version payload's components).
    pub kind: EngineKind,
    /// Where it was reached.
    pub endpoint: String,
    /// The engine's own version (`20.10.24+dfsg1`, `4.3.1`).
    pub server_version: String,
    /// The API version berth and the engine agreed on.
    pub api_version: String,
    /// The newest API version the engine offers.
    pub server_api_version: String,
    /// The oldest API version the engine accepts.
    pub min_api_version: Option<String>,
    /// The engine host's OS (`linux`).
    pub os: String,
    /// The engine host's architecture (`amd64`, `arm64`).
    pub arch: String,
    /// The engine host's kernel.
    pub kernel_version: Option<String>,
    /// The engine host's distribution (`Debian GNU/Linux 12 (bookworm)`).
    pub operating_system: Option<String>,
    /// Whether the engine runs without root (`name=rootless` among its security options).
    pub rootless: bool,
    /// `cgroupfs`, `systemd` or `none`.
    pub cgroup_driver: Option<String>,
    /// `1` or `2`.
    pub cgroup_version: Option<String>,
    /// The OCI runtime containers get unless told otherwise (`runc`, `crun`).
    pub default_runtime: Option<String>,
    /// Every OCI runtime the engine offers, sorted (`nvidia` among them means GPU support).
    pub runtimes: Vec<String>,
    /// The default logging driver (`json-file`, `journald`, ...). Logs can only be read back
    /// from drivers that keep them; with `none`, [`Engine::container_logs`](crate::Engine)
    /// fails.
    pub logging_driver: Option<String>,
    /// The engine's security options verbatim (`name=seccomp,profile=default`, ...).
    pub security_options: Vec<String>,
    /// Warnings the engine gives about its own set-up (missing cgroup controllers, ...).
    pub warnings: Vec<String>,
}

/// What an engine knows about a local image (`GET /images/{name}/json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageInfo {
    /// The image ID (`sha256:...`, the digest of its config).
    pub id: String,
    /// Tags pointing at it (`debian:12`).
    pub repo_tags: Vec<String>,
    /// Registry digests it was pulled by (`debian@sha256:...`); empty for local builds/imports.
    pub repo_digests: Vec<String>,
    /// Image labels.
    pub labels: BTreeMap<String, String>,
    /// The default entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// The default command.
    pub cmd: Option<Vec<String>>,
    /// The default user (empty means root).
    pub user: Option<String>,
    /// The default working directory.
    pub working_dir: Option<String>,
    /// The default environment, `KEY=VALUE`, in image order.
    pub env: Vec<String>,
    /// When the image was created (RFC 3339, as the engine gives it).
    pub created: Option<String>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// `linux`.
    pub os: Option<String>,
    /// `amd64`, `arm64`.
    pub architecture: Option<String>,
    /// `v8` for `arm64/v8`.
    pub variant: Option<String>,
}

/// One local image in a listing (`GET /images/json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageSummary {
    /// The image ID (`sha256:...`).
    pub id: String,
    /// Tags pointing at it (`debian:12`); empty for an untagged image.
    pub repo_tags: Vec<String>,
    /// Registry digests it is known by (`debian@sha256:...`); empty for local builds/imports.
    pub repo_digests: Vec<String>,
    /// Creation time, seconds since the epoch.
    pub created: Option<i64>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// Image labels.
    pub labels: BTreeMap<String, String>,
}

/// How an image runs: what [`Engine::commit_container`](crate::Engine::commit_container) writes
/// into the new image's configuration, in place of the container's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageConfig {
    /// The entrypoint; `None` or empty means none.
    pub entrypoint: Option<Vec<String>>,
    /// The default command; `None` or empty means none.
    pub cmd: Option<Vec<String>>,
    /// The environment, `KEY=VALUE`, in order.
    pub env: Vec<String>,
    /// The default user (empty means root).
    pub user: Option<String>,
    /// The default working directory.
    pub working_dir: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl ImageConfig {
    /// The configuration `image` runs with.
    pub fn of(image: &ImageInfo) -> Self {
        Self {
            entrypoint: image.entrypoint.clone().filter(|e| !e.is_empty()),
            cmd: image.cmd.clone().filter(|c| !c.is_empty()),
            env: image.env.clone(),
            user: image.user.clone().filter(|u| !u.is_empty()),
            working_dir: image.working_dir.clone().filter(|w| !w.is_empty()),
            labels: image.labels.clone(),
        }
    }
}

/// What removing an image did (`DELETE /images/{name}`), in the engine's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemovedImage {
    /// References untagged.
    pub untagged: Vec<String>,
    /// Image and layer IDs deleted.
    pub deleted: Vec<String>,
}

/// The life-cycle state of a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Being restarted by a restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Has exited.
    Exited,
    /// Defunct (partially removed).
    Dead,
    /// A status this crate does not know, verbatim.
    Other(String),
}

impl ContainerStatus {
    /// Parse the engine's status word.
    pub fn from_engine(s: &str) -> Self {
        match s {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Other(s) => s,
        })
    }
}

/// A container's state (`State` in `GET /containers/{id}/json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerState {
    /// The life-cycle state.
    pub status: ContainerStatus,
    /// The exit code, once it has exited.
    pub exit_code: Option<i64>,
    /// Whether the kernel's OOM killer ended it.
    pub oom_killed: bool,
    /// The engine's error, if starting it failed.
    pub error: Option<String>,
    /// When it started (RFC 3339; none if never started).
    pub started_at: Option<String>,
    /// When it finished (RFC 3339; none if still running or never started).
    pub finished_at: Option<String>,
}

/// A mount as the engine actually set it up (`Mounts` in container inspect).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountInfo {
    /// `bind`, `volume`, `tmpfs`, ...
    pub kind: String,
    /// The host path (bind) or volume's path.
    pub source: Option<String>,
    /// The path inside the container.
    pub target: String,
    /// Whether it is mounted read-only.
    pub read_only: bool,
}

/// A device request as applied (`HostConfig.DeviceRequests`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceRequestInfo {
    /// The device driver (empty means the engine's default, e.g. nvidia).
    pub driver: Option<String>,
    /// How many devices (-1 means all).
    pub count: Option<i64>,
    /// Specific device IDs or UUIDs.
    pub device_ids: Vec<String>,
    /// Capability sets, any of which a device must have all of (`[["gpu"]]`).
    pub capabilities: Vec<Vec<String>>,
}

/// The settings the engine actually applied to a container, read back from inspect.
///
/// This is what provenance should record, rather than what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppliedConfig {
    /// The image reference the container was created from.
    pub image: Option<String>,
    /// `uid:gid` or a name; empty means the image's default.
    pub user: Option<String>,
    /// Environment, `KEY=VALUE`, as applied (the image's merged with the spec's).
    pub env: Vec<String>,
    /// Entrypoint as applied.
    pub entrypoint: Option<Vec<String>>,
    /// Command as applied.
    pub cmd: Option<Vec<String>>,
    /// Working directory as applied.
    pub working_dir: Option<String>,
    /// Memory limit in bytes (0 or none: unlimited).
    pub memory_bytes: Option<i64>,
    /// CPU limit in billionths of a CPU (0 or none: unlimited).
    pub nano_cpus: Option<i64>,
    /// Process limit (0, -1 or none: unlimited).
    pub pids_limit: Option<i64>,
    /// Capabilities dropped.
    pub cap_drop: Vec<String>,
    /// Capabilities added.
    pub cap_add: Vec<String>,
    /// Security options (`no-new-privileges`, ...).
    pub security_opt: Vec<String>,
    /// `none`, `default`, `bridge`, ...
    pub network_mode: Option<String>,
    /// Whether the container is privileged.
    pub privileged: bool,
    /// Whether the root filesystem is read-only.
    pub readonly_rootfs: bool,
    /// Whether an init process (docker-init) runs as PID 1.
    pub init: Option<bool>,
    /// Whether the engine removes the container when it exits.
    pub auto_remove: bool,
    /// tmpfs mounts: target → options.
    pub tmpfs: BTreeMap<String, String>,
    /// Mounts as set up.
    pub mounts: Vec<MountInfo>,
    /// Paths the engine made read-only inside the container (`/proc/bus`, ...).
    pub readonly_paths: Vec<String>,
    /// Paths the engine masked inside the container (`/proc/kcore`, ...).
    pub masked_paths: Vec<String>,
    /// GPU and other device requests.
    pub device_requests: Vec<DeviceRequestInfo>,
    /// The OCI runtime used.
    pub runtime: Option<String>,
}

/// Everything container inspect says that berth uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerInfo {
    /// The full container ID.
    pub id: String,
    /// The container name, without the leading `/`.
    pub name: Option<String>,
    /// The ID of the image it runs (`sha256:...`).
    pub image_id: Option<String>,
    /// When it was created (RFC 3339).
    pub created: Option<String>,
    /// Its state.
    pub state: ContainerState,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The settings the engine applied.
    pub applied: AppliedConfig,
}

/// One container in a listing (`GET /containers/json?all=true`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerSummary {
    /// The full container ID.
    pub id: String,
    /// Its names, without the leading `/`.
    pub names: Vec<String>,
    /// The image as given at creation.
    pub image: Option<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The life-cycle state.
    pub status: ContainerStatus,
    /// The engine's human status (`Exited (3) 2 seconds ago`).
    pub status_text: Option<String>,
    /// Creation time, seconds since the epoch.
    pub created: Option<i64>,
}

/// Select containers by label: `key` present, or `key=value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LabelFilter {
    /// The label key.
    pub key: String,
    /// The value it must have; none means any value.
    pub value: Option<String>,
}

impl LabelFilter {
    /// Containers that have label `key`, whatever its value.
    pub fn has(key: impl Into<String>) -> Self {
        Self { key: key.into(), value: None }
    }

    /// Containers whose label `key` is `value`.
    pub fn equals(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self { key: key.into(), value: Some(value.into()) }
    }

    /// Whether `labels` satisfy this filter.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match (&self.value, labels.get(&self.key)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(want), Some(have)) => want == have,
        }
    }

    /// The form the Docker API's `label` filter takes (`key` or `key=value`).
    pub fn to_filter_string(&self) -> String {
        match &self.value {
            Some(v) => format!("{}={v}", self.key),
            None => self.key.clone(),
        }
    }
}

/// A container just created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreatedContainer {
    /// The full container ID.
    pub id: String,
    /// What the engine warned about, verbatim. Docker warns here when it had to drop a
    /// setting the kernel does not support (a memory limit without the memory cgroup, say):
    /// check [`ContainerInfo::applied`] for what was really applied.
    pub warnings: Vec<String>,
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WaitOutcome {
    /// The exit code of its main process (128 + signal number if killed by a signal).
    pub exit_code: i64,
    /// Whether the kernel's OOM killer ended it (then the exit code is usually 137).
    pub oom_killed: bool,
}

/// Which output stream a log chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStreamKind {
    /// The container's standard output.
    Stdout,
    /// The container's standard error.
    Stderr,
}

/// A piece of a container's output, as the engine framed it.
///
/// Chunks are not lines: a line may be split across chunks and a chunk may hold several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// Where it was written.
    pub stream: LogStreamKind,
    /// The bytes, verbatim.
    pub bytes: Bytes,
}

impl LogChunk {
    /// A chunk of standard output.
    pub fn stdout(bytes: impl Into<Bytes>) -> Self {
        Self { stream: LogStreamKind::Stdout, bytes: bytes.into() }
    }

    /// A chunk of standard error.
    pub fn stderr(bytes: impl Into<Bytes>) -> Self {
        Self { stream: LogStreamKind::Stderr, bytes: bytes.into() }
    }
}

/// A container's output, chunk by chunk; ends when the container's output ends.
pub type LogStream = Pin<Box<dyn Stream<Item = Result<LogChunk, EngineError>> + Send>>;

/// An image export (a `docker save` tarball), chunk by chunk.
pub type ExportStream = Pin<Box<dyn Stream<Item = Result<Bytes, EngineError>> + Send>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_kinds_parse_case_insensitively_and_singularity_is_apptainer() {
        assert_eq!("Docker".parse::<EngineKind>(), Ok(EngineKind::Docker));
        assert_eq!("podman".parse::<EngineKind>(), Ok(EngineKind::Podman));
        assert_eq!("singularity".parse::<EngineKind>(), Ok(EngineKind::Apptainer));
        let err = "lxc".parse::<EngineKind>().expect_err("unknown");
        assert_eq!(err.to_string(), "unknown engine `lxc`: expected `docker`, `podman` or `apptainer`");
    }

    #[test]
    fn label_filters_match_key_or_key_value() {
        let labels = BTreeMap::from([("berth.run-id".to_owned(), "r1".to_owned())]);
        assert!(LabelFilter::has("berth.run-id").matches(&labels));
        assert!(LabelFilter::equals("berth.run-id", "r1").matches(&labels));
        assert!(!LabelFilter::equals("berth.run-id", "r2").matches(&labels));
        assert!(!LabelFilter::has("other").matches(&labels));
        assert_eq!(LabelFilter::equals("berth.run-id", "r1").to_filter_string(), "berth.run-id=r1");
    }
}
