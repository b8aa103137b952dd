//! Inputs handed to engines: the one place where an input's host path is checked, and where what
//! a container receives is tied to what was checked (issue 14, finding 2).
//!
//! - [`DataRoots`] is the service's rule: an input (or an XNAT mount) is a path inside one of
//!   the project's data roots, opened beneath that root without following any link
//!   (`berth_hostpath::Root::open_beneath`). A link below a root is refused with a message that
//!   names the path the user gave, never the link's target, and reads the same whether the
//!   target exists or not.
//! - [`pin`] opens every input of a prepared job the same way (beneath its data root, or beneath
//!   `/` along the canonical path `prepare` resolved when the job has none) and keeps the
//!   descriptors: [`Pinned::hash`] hashes from them (through `/proc/self/fd`), never from the
//!   path again.
//! - [`Pinned::stage`] hands the engine those very inodes: each descriptor is bind-mounted,
//!   read-only and private, onto a mount point in `$BERTH_HOME/stage/<pid>-<n>/` (mode 0700),
//!   and the container spec names that mount point (`berth_hostpath::StagedBind`). Docker and
//!   Podman refuse `/proc/<pid>/fd/<n>` itself as a bind source (runc mounts in the container's
//!   new mount namespace and the kernel refuses a mount of another namespace: `EINVAL`,
//!   measured with Docker 20.10 and Podman 4.3 with runc). The staging mounts are removed once
//!   the container has started: it holds its own copy.
//!
//! Staging needs `CAP_SYS_ADMIN` in the engine's mount namespace (berth as root, the engine on
//! the same host, no path map). Without it berth re-opens every input just before creating the
//! container and refuses to go on if any is no longer the inode it hashed; the engine then
//! resolves the checked path itself, so a swap between that check and the engine's mount is
//! still possible (`docs/configuration.md`). The Slurm backend cannot pin at all (the job runs
//! later on another node): it gets the same check and hash on the submit host.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_engine::ContainerSpec;
use berth_hostpath::{HostPathError, Opened, Root, StagedBind};
use berth_store::{FileRecord, FileRole, Store, StoreError};

use crate::prepare::PreparedJob;

/// Test-only: when set to the path of a FIFO, a run waits after its inputs were checked, opened
/// and hashed and before its container is created, until the FIFO is opened for writing and
/// closed again (end-to-end tests swap an input for a link there). Documented as test-only in
/// `docs/configuration.md`; it only ever delays a run.
pub const TEST_PAUSE_BEFORE_CREATE: &str = "BERTH_TEST_PAUSE_BEFORE_CREATE";

/// Why an input cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The path is not inside any data root.
    #[error("{what}: `{given}` is outside the data roots ({roots})")]
    Outside {
        /// `input "ID"` or `mount "NAME"`.
        what: String,
        /// The path as the user gave it.
        given: String,
        /// The data roots, as configured.
        roots: String,
    },
    /// The path is, or passes through, a symbolic link below a data root.
    #[error("{what}: `{given}` is or passes through a symbolic link below the data root, which berth does not follow")]
    Link {
        /// `input "ID"` or `mount "NAME"`.
        what: String,
        /// The path as the user gave it.
        given: String,
    },
    /// The path does not exist.
    #[error("{what}: `{given}` does not exist")]
    Missing {
        /// `input "ID"` or `mount "NAME"`.
        what: String,
        /// The path as the user gave it.
        given: String,
    },
    /// The path names another file than the one checked and hashed.
    #[error("{what}: `{given}` changed after it was checked (it was replaced, or now is or passes through a link)")]
    Changed {
        /// `input "ID"` or `mount "NAME"`.
        what: String,
        /// The path as the user gave it.
        given: String,
    },
    /// The path could not be opened.
    #[error("{what}: cannot open `{given}`")]
    Open {
        /// `input "ID"` or `mount "NAME"`.
        what: String,
        /// The path as the user gave it.
        given: String,
        /// Why.
        #[source]
        source: HostPathError,
    },
    /// The opened input could not be bound for the engine.
    #[error("{what}: cannot stage it for the engine at {}", path.display())]
    Stage {
        /// `input "ID"`.
        what: String,
        /// The staging path.
        path: PathBuf,
        /// Why.
        #[source]
        source: HostPathError,
    },
    /// Hashing the opened input failed.
    #[error("{what}: cannot hash it")]
    Hash {
        /// `input "ID"`.
        what: String,
        /// Why.
        #[source]
        source: StoreError,
    },
}

impl InputError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Outside { .. } => Some("give a path inside one of the project's data roots, without `..`".into()),
            Self::Link { .. } => Some("give the real path: berth does not follow links below a data root".into()),
            Self::Missing { .. } => Some("check the path; relative paths are relative to the first data root".into()),
            Self::Changed { .. } => Some("leave inputs alone while a run starts, and launch it again".into()),
            Self::Stage { .. } => Some("check that berth's home is on a local file system berth may mount on".into()),
            Self::Open { .. } | Self::Hash { .. } => None,
        }
    }
}

/// The data roots of a service project: the only places its inputs may come from.
#[derive(Debug, Clone)]
pub struct DataRoots {
    /// (as configured, lexically normalized; as resolved) for each root that exists.
    roots: Vec<(PathBuf, PathBuf)>,
    configured: String,
}

impl DataRoots {
    /// The roots of `configured` that exist (a root itself is configuration: links in it are
    /// followed once, here).
    pub fn new(configured: &[String]) -> DataRoots {
        let roots = configured
            .iter()
            .filter_map(|r| {
                let p = normalize(Path::new(r));
                std::fs::canonicalize(&p).ok().map(|c| (p, c))
            })
            .collect();
        DataRoots { roots, configured: configured.join(", ") }
    }

    /// Whether no configured root exists.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The directory relative paths are relative to: the first root, resolved.
    pub fn cwd(&self) -> Option<&Path> {
        self.roots.first().map(|(_, c)| c.as_path())
    }

    /// The roots as resolved: what [`PreparedJob::input_roots`] holds.
    pub fn resolved(&self) -> Vec<PathBuf> {
        self.roots.iter().map(|(_, c)| c.clone()).collect()
    }

    /// Checks that `value` (absolute, or relative to [`DataRoots::cwd`]) lies inside a root and
    /// opens it there without following links. Returns its host path (the resolved root joined
    /// with the part below it). `what` names it in errors (`input "ID"`, `mount "NAME"`).
    pub fn check(&self, what: &str, value: &str) -> Result<PathBuf, InputError> {
        let p = Path::new(value);
        let abs = match (p.is_absolute(), self.cwd()) {
            (true, _) => p.to_path_buf(),
            (false, Some(cwd)) => cwd.join(p),
            (false, None) => return Err(self.outside(what, value)),
        };
        for (configured, resolved) in &self.roots {
            let rel =
                berth_hostpath::strip_root(resolved, &abs).or_else(|_| berth_hostpath::strip_root(configured, &abs));
            if let Ok(rel) = rel {
                open_beneath(what, value, resolved, &rel)?;
                return Ok(resolved.join(rel));
            }
        }
        Err(self.outside(what, value))
    }

    fn outside(&self, what: &str, value: &str) -> InputError {
        InputError::Outside { what: what.into(), given: value.into(), roots: self.configured.clone() }
    }
}

/// Lexically normalized absolute path (no file-system access): `..` cannot climb above `/`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(s) => out.push(s),
            _ => {}
        }
    }
    out
}

/// Opens `rel` beneath `root` without following links; errors name `given` only.
fn open_beneath(what: &str, given: &str, root: &Path, rel: &Path) -> Result<Opened, InputError> {
    let open_err = |source| InputError::Open { what: what.into(), given: given.into(), source };
    let root = Root::open(root).map_err(open_err)?;
    root.open_beneath(rel).map_err(|e| match e {
        HostPathError::Link { .. } => InputError::Link { what: what.into(), given: given.into() },
        HostPathError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            InputError::Missing { what: what.into(), given: given.into() }
        }
        HostPathError::Outside { .. } | HostPathError::NotRelative { .. } | HostPathError::NotAComponent { .. } => {
            InputError::Outside { what: what.into(), given: given.into(), roots: root.path().display().to_string() }
        }
        source => open_err(source),
    })
}

/// One input, opened.
#[derive(Debug)]
pub struct PinnedInput {
    /// The input id (or XNAT mount name).
    pub key: String,
    /// The path as the user gave it.
    pub given: String,
    /// The checked host path (what the record holds).
    pub host: PathBuf,
    /// The path inside the container.
    pub container: String,
    /// The open file or directory.
    pub opened: Opened,
    root: PathBuf,
    identity: (u64, u64),
}

impl PinnedInput {
    fn what(&self) -> String {
        format!("input \"{}\"", self.key)
    }
}

/// Every input of a job, opened beneath its root; keep it until the container has started.
#[derive(Debug, Default)]
pub struct Pinned {
    inputs: Vec<PinnedInput>,
}

/// Opens every input of `job` beneath its data root ([`PreparedJob::input_roots`]; `/` when it
/// has none) without following any link.
pub fn pin(job: &PreparedJob) -> Result<Pinned, InputError> {
    let mut inputs = Vec::new();
    for m in job.inputs() {
        let what = format!("input \"{}\"", m.key);
        let outside = || InputError::Outside {
            what: what.clone(),
            given: m.given.clone(),
            roots: job.input_roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", "),
        };
        let root = if job.input_roots.is_empty() {
            PathBuf::from("/")
        } else {
            job.input_roots.iter().find(|r| m.host.starts_with(r)).cloned().ok_or_else(outside)?
        };
        let rel = berth_hostpath::strip_root(&root, &m.host).map_err(|_| outside())?;
        let opened = open_beneath(&what, &m.given, &root, &rel).map_err(|e| match e {
            // `prepare` resolved the path without links: one now means it was swapped.
            InputError::Link { .. } if job.input_roots.is_empty() => {
                InputError::Changed { what: what.clone(), given: m.given.clone() }
            }
            e => e,
        })?;
        let identity = berth_hostpath::identity(&opened.fd).map_err(|source| InputError::Open {
            what: what.clone(),
            given: m.given.clone(),
            source: HostPathError::Io { path: m.host.clone(), source },
        })?;
        inputs.push(PinnedInput {
            key: m.key.clone(),
            given: m.given.clone(),
            host: m.host.clone(),
            container: m.container.clone(),
            opened,
            root,
            identity,
        });
    }
    Ok(Pinned { inputs })
}

/// Staging directories made by this process (several runs at once in `berth serve`).
static STAGE_SEQ: AtomicU64 = AtomicU64::new(0);

impl Pinned {
    /// The opened inputs.
    pub fn inputs(&self) -> &[PinnedInput] {
        &self.inputs
    }

    /// Hashes every input from its open descriptor (through the store's hash cache) into the
    /// records of the run: the host path recorded is the checked one.
    pub fn hash(&self, store: &Store) -> Result<Vec<FileRecord>, InputError> {
        self.inputs
            .iter()
            .map(|p| {
                let hash = store
                    .hash_path(&berth_hostpath::fd_path(&p.opened.fd))
                    .map_err(|source| InputError::Hash { what: p.what(), source })?;
                Ok(FileRecord::from_hash(
                    FileRole::Input,
                    &p.key,
                    p.host.to_string_lossy(),
                    Some(p.container.clone()),
                    hash,
                ))
            })
            .collect()
    }

    /// Opens every input by its path again and checks that it is still the inode that was
    /// pinned (the fallback when staging is not possible).
    pub fn verify_unchanged(&self) -> Result<(), InputError> {
        for p in &self.inputs {
            let changed = || InputError::Changed { what: p.what(), given: p.given.clone() };
            let rel = berth_hostpath::strip_root(&p.root, &p.host).map_err(|_| changed())?;
            let again = open_beneath(&p.what(), &p.given, &p.root, &rel).map_err(|_| changed())?;
            if berth_hostpath::identity(&again.fd).ok() != Some(p.identity) {
                return Err(changed());
            }
        }
        Ok(())
    }

    /// Binds every opened input onto a mount point below `stage_root` (created mode 0700).
    /// `Ok(None)` when this process may not mount (not root): the caller falls back.
    pub fn stage(&self, stage_root: &Path) -> Result<Option<Staged>, InputError> {
        if self.inputs.is_empty() {
            return Ok(Some(Staged { dir: None, binds: Vec::new() }));
        }
        let stage_err = |what: String, path: &Path, source: std::io::Error| InputError::Stage {
            what,
            path: path.to_path_buf(),
            source: HostPathError::Io { path: path.to_path_buf(), source },
        };
        let first = self.inputs[0].what();
        make_private_dir(stage_root).map_err(|e| stage_err(first.clone(), stage_root, e))?;
        sweep_stale(stage_root);
        let dir = stage_root.join(format!("{}-{}", std::process::id(), STAGE_SEQ.fetch_add(1, Ordering::Relaxed)));
        make_private_dir(&dir).map_err(|e| stage_err(first.clone(), &dir, e))?;
        let mut staged = Staged { dir: Some(dir.clone()), binds: Vec::new() };
        for (n, p) in self.inputs.iter().enumerate() {
            let at = dir.join(n.to_string());
            match StagedBind::new(&p.opened, &at) {
                Ok(bind) => staged.binds.push((p.container.clone(), bind)),
                Err(e) if StagedBind::is_not_permitted(&e) => return Ok(None),
                Err(source) => return Err(InputError::Stage { what: p.what(), path: at, source }),
            }
        }
        Ok(Some(staged))
    }
}

/// Creates `dir` (mode 0700) if missing and makes sure that only its owner may change it.
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let md = std::fs::symlink_metadata(dir)?;
    if !md.is_dir() {
        return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "not a directory"));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Removes the staging directories of berth processes that are gone (a `kill -9` mid-start).
fn sweep_stale(stage_root: &Path) {
    let Ok(entries) = std::fs::read_dir(stage_root) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.split('-').next()).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Ok(children) = std::fs::read_dir(e.path()) {
            for c in children.flatten() {
                StagedBind::remove_stale(&c.path());
            }
        }
        let _ = std::fs::remove_dir(e.path());
    }
}

/// Unmounts and removes what this process still has staged below `stage_root`: for a process
/// that ends while a run of one of its threads is between staging its inputs and starting its
/// container (`berth serve` stopping during a pipeline run), whose `Staged` is never dropped.
/// Runs whose containers started have released their stage already.
pub fn release_own_stages(stage_root: &Path) {
    let Ok(entries) = std::fs::read_dir(stage_root) else { return };
    let own = format!("{}-", std::process::id());
    for e in entries.flatten() {
        if !e.file_name().to_str().is_some_and(|n| n.starts_with(&own)) {
            continue;
        }
        if let Ok(children) = std::fs::read_dir(e.path()) {
            for c in children.flatten() {
                StagedBind::remove_stale(&c.path());
            }
        }
        let _ = std::fs::remove_dir(e.path());
    }
}

/// The staging mounts of one run; dropping it unmounts them.
#[derive(Debug)]
pub struct Staged {
    dir: Option<PathBuf>,
    /// (container path, the bind).
    binds: Vec<(String, StagedBind)>,
}

impl Staged {
    /// Points the container spec's input mounts at the staged binds.
    pub fn apply(&self, spec: &mut ContainerSpec) {
        for m in &mut spec.mounts {
            if let Some((_, bind)) = self.binds.iter().find(|(target, _)| *target == m.target) {
                m.source = bind.path().to_path_buf();
            }
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        self.binds.clear();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The test-only pause of [`TEST_PAUSE_BEFORE_CREATE`].
pub async fn test_pause() {
    if let Some(path) = std::env::var_os(TEST_PAUSE_BEFORE_CREATE).filter(|p| !p.is_empty()) {
        tracing::debug!(path = ?path, "test pause before creating the container");
        let _ = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn stages_a_process_never_dropped_are_released_at_its_end() {
        let t = tempfile::tempdir().expect("tmp");
        std::fs::write(t.path().join("input.txt"), "x").expect("input");
        let data = Root::open(t.path()).expect("root");
        let opened = data.open_beneath(Path::new("input.txt")).expect("open");
        let stage_root = t.path().join("stage");
        make_private_dir(&stage_root).expect("stage root");
        let own = stage_root.join(format!("{}-7", std::process::id()));
        let other = stage_root.join("1-0");
        make_private_dir(&own).expect("own");
        make_private_dir(&other).expect("other");
        let at = own.join("0");
        let mounted = match StagedBind::new(&opened, &at) {
            // As a run that never got to drop its stage.
            Ok(bind) => {
                std::mem::forget(bind);
                true
            }
            Err(e) if StagedBind::is_not_permitted(&e) => false,
            Err(e) => panic!("staging: {e}"),
        };
        let in_mountinfo = || {
            std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo").contains(at.to_str().expect("utf-8"))
        };
        assert_eq!(in_mountinfo(), mounted);
        release_own_stages(&stage_root);
        assert!(!in_mountinfo(), "the bind is gone");
        assert!(!own.exists(), "this process's stage is removed");
        assert!(other.exists(), "another process's stage is left to its owner (or to sweep_stale)");
    }

    fn roots(dir: &Path) -> DataRoots {
        DataRoots::new(&[dir.display().to_string()])
    }

    #[test]
    fn finding_02_a_link_below_a_data_root_is_refused_without_its_target() {
        let t = tempfile::tempdir().expect("tmp");
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("real")).expect("mk");
        std::fs::create_dir_all(t.path().join("secret-existing")).expect("mk");
        symlink(t.path().join("secret-existing"), root.join("to-existing")).expect("ln");
        symlink(t.path().join("secret-missing"), root.join("to-missing")).expect("ln");
        let r = roots(&root);
        let canonical = std::fs::canonicalize(&root).expect("canon");
        assert_eq!(r.check("input \"x\"", "real").expect("real"), canonical.join("real"));
        let msgs: Vec<String> = ["to-existing", "to-missing", "to-existing/a"]
            .iter()
            .map(|v| {
                let e = r.check("input \"x\"", v).expect_err(v);
                assert!(matches!(e, InputError::Link { .. }), "{v}: {e:?}");
                e.to_string().replace(v, "V")
            })
            .collect();
        assert!(msgs.iter().all(|m| m == &msgs[0]), "{msgs:?}");
        assert!(!msgs[0].contains("secret"), "{}", msgs[0]);
        assert!(matches!(r.check("input \"x\"", "nothing-here"), Err(InputError::Missing { .. })));
        for out in ["../x", "/etc/passwd", "real/../../x"] {
            assert!(matches!(r.check("input \"x\"", out), Err(InputError::Outside { .. })), "{out}");
        }
    }
}
