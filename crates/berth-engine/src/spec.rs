//! What to create: [`ContainerSpec`], with every security setting spelled out.
//!
//! This crate applies exactly what a spec says and adds no defaults of its own: the runner
//! decides them (drop all capabilities, `no-new-privileges`, no network, limits) and they are
//! visible in the spec it passes. [`ContainerSpec::new`] starts with everything off/unlimited.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::error::EngineError;

/// A container to create.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerSpec {
    /// A name for the container; none lets the engine pick one.
    pub name: Option<String>,
    /// The image reference (`debian:12`, `repo@sha256:...`, an image ID).
    pub image: String,
    /// Replaces the image's entrypoint when set (`Some(vec![])` clears it).
    pub entrypoint: Option<Vec<String>>,
    /// The command (arguments to the entrypoint); empty keeps the image's default.
    pub cmd: Vec<String>,
    /// Environment variables, in order; added to (and overriding) the image's.
    pub env: Vec<(String, String)>,
    /// The working directory; none keeps the image's.
    pub working_dir: Option<String>,
    /// The numeric user and group to run as; none keeps the image's user.
    pub user: Option<UserId>,
    /// Bind mounts from the engine's host.
    pub mounts: Vec<BindMount>,
    /// Network access.
    pub network: Network,
    /// Capabilities to drop (`ALL`, or names like `NET_RAW`).
    pub cap_drop: Vec<String>,
    /// Capabilities to add back after dropping.
    pub cap_add: Vec<String>,
    /// Security options (`no-new-privileges`, `seccomp=...`, `apparmor=...`).
    pub security_opt: Vec<String>,
    /// Maximum number of processes; none means unlimited.
    pub pids_limit: Option<i64>,
    /// Memory limit in bytes; none means unlimited.
    pub memory_bytes: Option<i64>,
    /// CPU limit in billionths of a CPU (1.5 CPUs = 1_500_000_000); none means unlimited.
    pub nano_cpus: Option<i64>,
    /// GPUs to give the container.
    pub gpus: Gpus,
    /// Labels (`berth.run-id`, ...), used to find the container again.
    pub labels: BTreeMap<String, String>,
    /// Mount the image's root filesystem read-only.
    pub read_only_rootfs: bool,
    /// tmpfs mounts (e.g. `/tmp` when the root filesystem is read-only).
    pub tmpfs: Vec<Tmpfs>,
    /// Run an init process (docker-init) as PID 1, which forwards signals and reaps zombies.
    /// Without it a tool running as PID 1 ignores `SIGTERM` unless it handles it itself.
    pub init: bool,
}

impl ContainerSpec {
    /// A spec for `image` running `cmd`, with nothing else set: no mounts, no limits, the
    /// engine's default network, no capabilities dropped, no security options, no init.
    pub fn new(image: impl Into<String>, cmd: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            name: None,
            image: image.into(),
            entrypoint: None,
            cmd: cmd.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            working_dir: None,
            user: None,
            mounts: Vec::new(),
            network: Network::EngineDefault,
            cap_drop: Vec::new(),
            cap_add: Vec::new(),
            security_opt: Vec::new(),
            pids_limit: None,
            memory_bytes: None,
            nano_cpus: None,
            gpus: Gpus::None,
            labels: BTreeMap::new(),
            read_only_rootfs: false,
            tmpfs: Vec::new(),
            init: false,
        }
    }

    /// Check what every engine would reject or misread, before asking one.
    pub fn validate(&self) -> Result<(), EngineError> {
        let invalid = |field: &'static str, problem: String| Err(EngineError::InvalidSpec { field, problem });
        if self.image.trim().is_empty() {
            return invalid("image", "is empty".into());
        }
        for (key, _) in &self.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return invalid("env", format!("has the name `{key}`, which is empty or holds `=` or NUL"));
            }
        }
        for mount in &self.mounts {
            if !mount.source.is_absolute() {
                return invalid(
                    "mounts",
                    format!("has the source `{}`, which is not an absolute path", mount.source.display()),
                );
            }
            if !mount.target.starts_with('/') {
                return invalid("mounts", format!("has the target `{}`, which is not an absolute path", mount.target));
            }
        }
        for tmpfs in &self.tmpfs {
            if !tmpfs.target.starts_with('/') {
                return invalid("tmpfs", format!("has the target `{}`, which is not an absolute path", tmpfs.target));
            }
        }
        for (field, value) in
            [("pids_limit", self.pids_limit), ("memory_bytes", self.memory_bytes), ("nano_cpus", self.nano_cpus)]
        {
            // Zero and negative values mean "unlimited" to Docker; a spec says that with `None`.
            if let Some(v) = value
                && v <= 0
            {
                return invalid(field, format!("is {v}; use none for unlimited, or a positive value"));
            }
        }
        match &self.gpus {
            Gpus::Count(0) => return invalid("gpus", "asks for 0 GPUs; use `Gpus::None`".into()),
            Gpus::DeviceIds(ids) if ids.is_empty() => {
                return invalid("gpus", "lists no device IDs; use `Gpus::None`".into());
            }
            _ => {}
        }
        Ok(())
    }
}

/// A command to run in a running container ([`Engine::exec`](crate::Engine::exec)).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecSpec {
    /// The command and its arguments (no shell is added).
    pub cmd: Vec<String>,
    /// Environment variables added to the container's.
    pub env: Vec<(String, String)>,
    /// The working directory (the container's when `None`).
    pub working_dir: Option<String>,
    /// Who runs it (the container's user when `None`).
    pub user: Option<UserId>,
}

/// A numeric `uid:gid` to run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct UserId {
    /// The user ID.
    pub uid: u32,
    /// The group ID.
    pub gid: u32,
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// A host path mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BindMount {
    /// The absolute path on the engine's host (it must exist).
    pub source: PathBuf,
    /// The absolute path inside the container.
    pub target: String,
    /// Mount it read-only.
    pub read_only: bool,
}

/// A tmpfs mount.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Tmpfs {
    /// The absolute path inside the container.
    pub target: String,
    /// Mount options as `mount -t tmpfs` takes them (`rw,noexec,nosuid,size=64m`); empty for
    /// the engine's defaults.
    pub options: String,
}

/// Network access for the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// No network at all: network mode `none` (loopback only).
    Disabled,
    /// The engine's default network (a bridge, for Docker).
    EngineDefault,
    /// The host's network namespace (`--network host`): what a package manager needs to reach
    /// a mirror when the engine runs without a bridge. Never used for tool runs.
    Host,
}

/// GPUs for the container, passed as a device request with capabilities `[["gpu"]]`
/// (what `docker run --gpus` does).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gpus {
    /// No GPU.
    None,
    /// Every GPU.
    All,
    /// This many GPUs.
    Count(u32),
    /// These GPUs, by index or UUID.
    DeviceIds(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec::new("busybox", ["true"])
    }

    #[test]
    fn a_new_spec_is_valid_and_sets_nothing() {
        let s = spec();
        s.validate().expect("valid");
        assert!(s.cap_drop.is_empty() && s.security_opt.is_empty());
        assert_eq!(s.network, Network::EngineDefault);
        assert_eq!(s.gpus, Gpus::None);
    }

    #[test]
    fn env_names_with_equals_are_rejected() {
        let mut s = spec();
        s.env.push(("A=B".into(), "c".into()));
        let err = s.validate().expect_err("invalid");
        assert!(matches!(err, EngineError::InvalidSpec { field: "env", .. }));
    }

    #[test]
    fn relative_mount_sources_are_rejected() {
        let mut s = spec();
        s.mounts.push(BindMount { source: "data".into(), target: "/data".into(), read_only: true });
        let err = s.validate().expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "invalid container spec: `mounts` has the source `data`, which is not an absolute path"
        );
    }

    #[test]
    fn zero_limits_are_rejected_because_docker_reads_them_as_unlimited() {
        let mut s = spec();
        s.memory_bytes = Some(0);
        assert!(matches!(s.validate(), Err(EngineError::InvalidSpec { field: "memory_bytes", .. })));
    }

    #[test]
    fn user_renders_as_uid_colon_gid() {
        assert_eq!(UserId { uid: 1000, gid: 100 }.to_string(), "1000:100");
    }
}
