//! The one way from untrusted text to a host path.
//!
//! Names that come from descriptors, XNAT Commands, image labels, requests, pipeline files or a
//! tool's output are hostile until checked: `..`, an absolute name or a link planted by a project
//! member must never lead a host path outside the directory it was meant for. Every place in
//! berth that builds a host path from such text goes through this crate (see `docs/security.md`):
//!
//! - [`component`] accepts exactly one normal path component (XNAT's rule for mount names).
//! - [`relative`] accepts a relative path of normal components (no `..`, not absolute).
//! - [`Root`] opens a trusted directory once and then opens, stats and creates *beneath* it with
//!   `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` (a walk with `O_NOFOLLOW` where the kernel
//!   has no `openat2`), so a link anywhere below the root is refused, not followed, and a name
//!   swapped for a link after a check cannot redirect what was opened.
//! - [`Root::write_durable`] writes a file that is never seen half-written and survives a crash
//!   once the call returns (temporary file, `fsync`, rename, `fsync` of the directory).
//! - [`fd_path`] names an opened file by its `/proc` link, which resolves to that very inode
//!   whatever happens to the path afterwards (how inputs are handed to engines, finding 2).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

mod durable;
mod walk;
pub use durable::{DurableFile, Existing, Staging, SyncMode, TEMP_PREFIX, Written, is_durable_temp};
pub use walk::{Subdir, WalkDir};

/// A file's type, as [`Root::list_dir`] reports it.
pub use rustix::fs::FileType;

/// The longest single component most Linux file systems accept (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// What was wrong with a name or a path built from one.
#[derive(Debug, thiserror::Error)]
pub enum HostPathError {
    /// The text is not a single normal path component.
    #[error("\"{name}\" is not a single file name: {reason}")]
    NotAComponent {
        /// The offending text, as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The text is not a relative path of normal components.
    #[error("\"{path}\" is not a relative path inside its directory: {reason}")]
    NotRelative {
        /// The offending text, as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A path lies outside the root it must stay in.
    #[error("{} is not inside {}", path.display(), root.display())]
    Outside {
        /// The path that was checked.
        path: PathBuf,
        /// The root it had to be beneath.
        root: PathBuf,
    },
    /// A symbolic link was met where none may be followed.
    #[error("{} is or passes through a symbolic link, which berth does not follow here", path.display())]
    Link {
        /// The path (root joined with the relative part) that holds a link.
        path: PathBuf,
    },
    /// The path exists but is of the wrong kind.
    #[error("{} is not a {expected}", path.display())]
    WrongKind {
        /// The path.
        path: PathBuf,
        /// `directory` or `regular file`.
        expected: &'static str,
    },
    /// Any other failure of the file system.
    #[error("cannot open {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
}

impl HostPathError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NotAComponent { .. } => {
                Some("use a plain name: no `/`, no `..`, not empty, at most 255 bytes, no control characters".into())
            }
            Self::NotRelative { .. } => Some("use a relative path without `..`, such as `sub/dir/file.nii.gz`".into()),
            Self::Outside { root, .. } => Some(format!("give a path inside {}", root.display())),
            Self::Link { .. } => {
                Some("give the real path (berth does not follow links below a data root or in a tool's output)".into())
            }
            Self::WrongKind { .. } | Self::Io { .. } => None,
        }
    }

    fn io(path: PathBuf, source: io::Error) -> Self {
        // ELOOP from O_NOFOLLOW / RESOLVE_NO_SYMLINKS, EXDEV from RESOLVE_BENEATH.
        match source.raw_os_error() {
            Some(code)
                if code == rustix::io::Errno::LOOP.raw_os_error() || code == rustix::io::Errno::XDEV.raw_os_error() =>
            {
                Self::Link { path }
            }
            _ => Self::Io { path, source },
        }
    }
}

/// Checks that `name` is exactly one normal path component and returns it.
///
/// Refused: empty, `.`, `..`, anything with `/` or NUL, ASCII control characters (a newline in a
/// file name breaks every log and listing that shows it), and more than [`NAME_MAX`] bytes.
pub fn component(name: &str) -> Result<&str, HostPathError> {
    let bad = |reason| Err(HostPathError::NotAComponent { name: name.to_string(), reason });
    if name.is_empty() {
        return bad("it is empty");
    }
    if name == "." || name == ".." {
        return bad("`.` and `..` name other directories");
    }
    if name.contains('/') {
        return bad("it contains `/`");
    }
    if name.chars().any(|c| c.is_ascii_control()) {
        return bad("it contains a control character");
    }
    if name.len() > NAME_MAX {
        return bad("it is longer than 255 bytes");
    }
    Ok(name)
}

/// `root/name` for a single checked component; touches nothing on disk.
pub fn join_component(root: &Path, name: &str) -> Result<PathBuf, HostPathError> {
    Ok(root.join(component(name)?))
}

/// Checks that `path` is relative and made of normal components only, and returns it as a path.
///
/// `a/./b` and `a//b` are accepted as `a/b`; `..`, an absolute path, an empty path and any
/// component [`component`] refuses are not.
pub fn relative(path: &str) -> Result<PathBuf, HostPathError> {
    let bad = |reason| Err(HostPathError::NotRelative { path: path.to_string(), reason });
    if path.is_empty() {
        return bad("it is empty");
    }
    if path.starts_with('/') {
        return bad("it is absolute");
    }
    let mut out = PathBuf::new();
    for part in path.split('/') {
        match part {
            "" | "." => continue,
            ".." => return bad("it contains `..`"),
            p => {
                if component(p).is_err() {
                    return bad("a component is empty, too long or holds a control character");
                }
                out.push(p);
            }
        }
    }
    if out.as_os_str().is_empty() {
        return bad("it names the directory itself");
    }
    Ok(out)
}

/// The part of `path` below `root`, compared lexically (no file system access): both must be
/// absolute and `path` must not contain `..` or `.` components.
pub fn strip_root(root: &Path, path: &Path) -> Result<PathBuf, HostPathError> {
    let outside = || HostPathError::Outside { path: path.to_path_buf(), root: root.to_path_buf() };
    if !path.is_absolute() || !root.is_absolute() {
        return Err(outside());
    }
    if path.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir)) {
        return Err(outside());
    }
    let rest = path.strip_prefix(root).map_err(|_| outside())?;
    Ok(rest.to_path_buf())
}

/// The `/proc` name of an open file descriptor of this process. Opening or mounting that name
/// reaches the very file that was opened, whatever has since happened to its path; it stays
/// valid only while `fd` is open.
pub fn fd_path(fd: &impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), fd.as_fd().as_raw_fd()))
}

/// A trusted directory, opened once; everything below it is reached without following links.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// One entry of [`Root::list_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Its name in the directory.
    pub name: std::ffi::OsString,
    /// Its type, the entry itself (a link is `Symlink`).
    pub kind: FileType,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time (seconds since 1970).
    pub modified: i64,
}

/// What [`Root::open_beneath`] found.
#[derive(Debug)]
pub struct Opened {
    /// The open file (`O_PATH` for directories, read-only for files).
    pub fd: OwnedFd,
    /// The host path it was opened as (root joined with the relative part).
    pub path: PathBuf,
    /// Whether it is a directory.
    pub is_dir: bool,
}

impl Root {
    /// Opens `path` as a root. The root itself is configuration (a data root, an output
    /// directory the user chose), so links in it are followed; nothing below it is.
    pub fn open(path: &Path) -> Result<Self, HostPathError> {
        let fd = rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| HostPathError::Io { path: path.to_path_buf(), source: e.into() })?;
        Ok(Self { fd, path: path.to_path_buf() })
    }

    /// The root's path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `rel` beneath the root without following any link on the way, as an `O_PATH`
    /// descriptor (no read access is needed to pin a file or directory). An empty `rel` opens
    /// the root itself.
    pub fn open_beneath(&self, rel: &Path) -> Result<Opened, HostPathError> {
        let full = self.path.join(rel);
        let rel = checked_relative(rel, &full)?;
        let fd = open_nofollow(&self.fd, &rel, OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW)
            .map_err(|e| HostPathError::io(full.clone(), e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| HostPathError::io(full.clone(), e.into()))?;
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind == FileType::Symlink {
            return Err(HostPathError::Link { path: full });
        }
        Ok(Opened { fd, path: full, is_dir: kind == FileType::Directory })
    }

    /// Opens the regular file `rel` beneath the root for reading, without following links.
    pub fn open_file(&self, rel: &Path) -> Result<std::fs::File, HostPathError> {
        let full = self.path.join(rel);
        let rel = checked_relative(rel, &full)?;
        let fd = open_nofollow(&self.fd, &rel, OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK)
            .map_err(|e| HostPathError::io(full.clone(), e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| HostPathError::io(full.clone(), e.into()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(HostPathError::WrongKind { path: full, expected: "regular file" });
        }
        Ok(std::fs::File::from(fd))
    }

    /// Creates the directory `rel` (and its missing parents) beneath the root without following
    /// links, with `mode` for the ones it creates. An existing directory is fine; an existing
    /// link or file is an error. Returns the directory opened (`O_PATH`) and its host path.
    pub fn create_dir_all(&self, rel: &Path, mode: u32) -> Result<Opened, HostPathError> {
        let full = self.path.join(rel);
        let rel = checked_relative(rel, &full)?;
        let mut dir =
            rustix::io::fcntl_dupfd_cloexec(&self.fd, 0).map_err(|e| HostPathError::io(self.path.clone(), e.into()))?;
        let mut so_far = self.path.clone();
        for part in rel.components() {
            let Component::Normal(name) = part else { continue };
            so_far.push(name);
            match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(mode)) {
                Ok(()) => {}
                Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(HostPathError::io(so_far, e.into())),
            }
            let next = rustix::fs::openat(
                &dir,
                name,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| match e {
                rustix::io::Errno::NOTDIR => {
                    if is_link_at(&dir, name) {
                        HostPathError::Link { path: so_far.clone() }
                    } else {
                        HostPathError::WrongKind { path: so_far.clone(), expected: "directory" }
                    }
                }
                e => HostPathError::io(so_far.clone(), e.into()),
            })?;
            // O_PATH | O_NOFOLLOW on a link opens the link itself.
            let st = rustix::fs::fstat(&next).map_err(|e| HostPathError::io(so_far.clone(), e.into()))?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {}
                FileType::Symlink => return Err(HostPathError::Link { path: so_far }),
                _ => return Err(HostPathError::WrongKind { path: so_far, expected: "directory" }),
            }
            dir = next;
        }
        Ok(Opened { fd: dir, path: full, is_dir: true })
    }

    /// Creates the single directory `name` (one checked component) directly below the root, as
    /// [`Root::create_dir_all`] does.
    pub fn create_child_dir(&self, name: &str, mode: u32) -> Result<Opened, HostPathError> {
        self.create_dir_all(Path::new(component(name)?), mode)
    }

    /// The entries of directory `rel` beneath the root, sorted by name: each one's type as it
    /// is (a link is reported as a link, never followed), size and modification time, read
    /// with `fstatat(AT_SYMLINK_NOFOLLOW)` relative to the opened directory. `.` and `..` are
    /// left out; so is nothing else.
    pub fn list_dir(&self, rel: &Path) -> Result<Vec<DirEntry>, HostPathError> {
        let full = self.path.join(rel);
        let rel_checked = checked_relative(rel, &full)?;
        let dir = open_nofollow(
            &self.fd,
            &rel_checked,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        )
        .map_err(|e| HostPathError::io(full.clone(), e))?;
        let mut out = Vec::new();
        let entries = rustix::fs::Dir::read_from(&dir).map_err(|e| HostPathError::io(full.clone(), e.into()))?;
        for entry in entries {
            let entry = entry.map_err(|e| HostPathError::io(full.clone(), e.into()))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = OsStr::from_bytes(name).to_owned();
            let Ok(st) = rustix::fs::statat(&dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) else { continue };
            out.push(DirEntry {
                kind: FileType::from_raw_mode(st.st_mode),
                size: u64::try_from(st.st_size).unwrap_or(0),
                modified: st.st_mtime,
                name,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The file type of `rel` beneath the root, without following links (`None` when absent).
    pub fn kind_beneath(&self, rel: &Path) -> Result<Option<FileType>, HostPathError> {
        match self.open_beneath(rel) {
            Ok(o) => Ok(Some(if o.is_dir { FileType::Directory } else { kind_of(&o.fd) })),
            Err(HostPathError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn kind_of(fd: &OwnedFd) -> FileType {
    rustix::fs::fstat(fd).map(|st| FileType::from_raw_mode(st.st_mode)).unwrap_or(FileType::Unknown)
}

fn is_link_at(dir: &OwnedFd, name: &OsStr) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
        .unwrap_or(false)
}

/// `rel` as a relative path of normal components (an empty path means the root itself).
fn checked_relative(rel: &Path, full: &Path) -> Result<PathBuf, HostPathError> {
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => {
                if n.as_bytes().contains(&0) {
                    return Err(HostPathError::NotRelative {
                        path: rel.display().to_string(),
                        reason: "it contains NUL",
                    });
                }
                out.push(n)
            }
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(HostPathError::Outside { path: full.to_path_buf(), root: full.to_path_buf() });
            }
        }
    }
    Ok(out)
}

/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`, or where the kernel
/// (or a seccomp profile) has no `openat2`, a walk with `O_NOFOLLOW` on every component: with
/// `..` refused beforehand the two are equivalent.
fn open_nofollow(root: &OwnedFd, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let target: &Path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(root, target, flags, Mode::empty(), resolve) {
        Ok(fd) => return Ok(fd),
        Err(rustix::io::Errno::NOSYS) | Err(rustix::io::Errno::PERM) => {}
        Err(rustix::io::Errno::AGAIN) => {
            // RESOLVE_BENEATH may ask to retry when a rename raced the walk; the walk below is
            // exact without it.
        }
        Err(e) => return Err(e.into()),
    }
    let parts: Vec<&OsStr> =
        rel.components().filter_map(|c| if let Component::Normal(n) = c { Some(n) } else { None }).collect();
    let Some((last, dirs)) = parts.split_last() else {
        return Ok(rustix::fs::openat(root, ".", flags, Mode::empty())?);
    };
    let mut dir = rustix::io::fcntl_dupfd_cloexec(root, 0)?;
    for d in dirs {
        dir = rustix::fs::openat(
            &dir,
            *d,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| if e == rustix::io::Errno::NOTDIR && is_link_at(&dir, d) { rustix::io::Errno::LOOP } else { e })?;
    }
    let fd = rustix::fs::openat(&dir, *last, flags, Mode::empty())?;
    if flags.contains(OFlags::PATH) && kind_of(&fd) == FileType::Symlink {
        return Err(rustix::io::Errno::LOOP.into());
    }
    Ok(fd)
}

/// A private, read-only bind mount of an opened file or directory at a path berth owns: how an
/// input is handed to an engine so that what the container gets is exactly what was opened.
///
/// Docker and Podman refuse a `/proc/<pid>/fd/<n>` bind source (runc mounts in the container's
/// new mount namespace, and the kernel refuses to bind a mount of another namespace: `EINVAL`),
/// so berth binds the opened descriptor itself, in its own namespace, onto a mount point in a
/// directory only it can change, and gives the engine that path. The mount is made private (no
/// propagation) and read-only; it is unmounted (lazily) and its mount point removed on drop,
/// after the container has its own copy. Needs `CAP_SYS_ADMIN` (berth running as root):
/// without it [`StagedBind::new`] fails with `EPERM` and the caller decides what to do.
#[derive(Debug)]
pub struct StagedBind {
    path: PathBuf,
    is_dir: bool,
}

impl StagedBind {
    /// Binds `opened` at `at`, which must not exist yet and must lie in a directory that only
    /// berth can write (its mount point is created here: a directory or an empty file).
    pub fn new(opened: &Opened, at: &Path) -> Result<Self, HostPathError> {
        let io = |e: rustix::io::Errno| HostPathError::Io { path: at.to_path_buf(), source: e.into() };
        if opened.is_dir {
            rustix::fs::mkdir(at, Mode::from_raw_mode(0o700)).map_err(io)?;
        } else {
            let fd = rustix::fs::open(
                at,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::from_raw_mode(0o600),
            )
            .map_err(io)?;
            drop(fd);
        }
        let staged = Self { path: at.to_path_buf(), is_dir: opened.is_dir };
        // The source is the descriptor's magic link, resolved by the kernel to the very inode
        // that was opened, whatever its path names now.
        // (On any failure from here on, dropping `staged` unmounts and removes the mount point.)
        rustix::mount::mount_bind(fd_path(&opened.fd), at).map_err(io)?;
        rustix::mount::mount_change(at, rustix::mount::MountPropagationFlags::PRIVATE).map_err(io)?;
        rustix::mount::mount_remount(at, rustix::mount::MountFlags::BIND | rustix::mount::MountFlags::RDONLY, "")
            .map_err(io)?;
        Ok(staged)
    }

    /// The mount point to give the engine.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `e` says the process may not mount (not root): the caller's cue to fall back.
    pub fn is_not_permitted(e: &HostPathError) -> bool {
        matches!(e, HostPathError::Io { source, .. } if source.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()))
    }

    /// Unmounts (lazily) whatever is mounted at `path` and removes the mount point: cleans up
    /// after a berth process that died while its inputs were staged.
    pub fn remove_stale(path: &Path) {
        let _ = rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH);
        let _ = std::fs::remove_dir(path).or_else(|_| std::fs::remove_file(path));
    }

    fn remove_mount_point(&self) {
        let _ = if self.is_dir { std::fs::remove_dir(&self.path) } else { std::fs::remove_file(&self.path) };
    }
}

impl Drop for StagedBind {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.path, rustix::mount::UnmountFlags::DETACH);
        self.remove_mount_point();
    }
}

/// The device and inode of an open file: what identifies it whatever its path.
pub fn identity(fd: &impl AsFd) -> io::Result<(u64, u64)> {
    let st = rustix::fs::fstat(fd)?;
    // `st_dev` is a `c_ulong` on some targets.
    #[allow(clippy::unnecessary_cast)]
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// Writing and changing ownership beneath a [`Root`] (issue 14: a reused output directory may
/// hold links left by an earlier run's tool, and berth, often root, must not write or chown
/// through them).
impl Root {
    /// Writes `content` to the regular file `rel` beneath the root: missing parent directories
    /// are made as [`Root::create_dir_all`] makes them (`dir_mode`), the bytes go to a new
    /// temporary file created beside it (`O_EXCL | O_NOFOLLOW`), which is then renamed over
    /// `rel` within the same opened directory. A link on the way or at `rel` itself is an error
    /// naming it; nothing is written through one. Returns the file's host path.
    pub fn write_file(&self, rel: &Path, content: &[u8], dir_mode: u32) -> Result<PathBuf, HostPathError> {
        use std::io::Write as _;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let full = self.path.join(rel);
        let rel = checked_relative(rel, &full)?;
        let Some(name) = rel.file_name() else {
            return Err(HostPathError::NotRelative {
                path: rel.display().to_string(),
                reason: "it names the directory itself",
            });
        };
        let parent = self.create_dir_all(rel.parent().unwrap_or(Path::new("")), dir_mode)?;
        match rustix::fs::statat(&parent.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => {}
                FileType::Symlink => return Err(HostPathError::Link { path: full }),
                _ => return Err(HostPathError::WrongKind { path: full, expected: "regular file" }),
            },
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(HostPathError::io(full, e.into())),
        }
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".berth-{}-{n}.tmp", std::process::id()));
        let tmp_full = full.with_file_name(&tmp_name);
        // A stale temporary (or a link planted under its name) is removed, never followed.
        match rustix::fs::unlinkat(&parent.fd, &tmp_name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(HostPathError::io(tmp_full, e.into())),
        }
        let fd = rustix::fs::openat(
            &parent.fd,
            &tmp_name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )
        .map_err(|e| HostPathError::io(tmp_full.clone(), e.into()))?;
        let cleanup = |e: io::Error, path: PathBuf| {
            let _ = rustix::fs::unlinkat(&parent.fd, &tmp_name, AtFlags::empty());
            HostPathError::io(path, e)
        };
        let mut file = std::fs::File::from(fd);
        if let Err(e) = file.write_all(content).and_then(|()| file.flush()) {
            return Err(cleanup(e, tmp_full));
        }
        drop(file);
        // rename(2) replaces a link swapped in after the check above; it never writes through it.
        if let Err(e) = rustix::fs::renameat(&parent.fd, &tmp_name, &parent.fd, name) {
            return Err(cleanup(e.into(), full));
        }
        Ok(full)
    }

    /// Gives `rel` beneath the root (the root itself when `rel` is empty) to `uid:gid`, without
    /// following any link: the ownership of what was opened changes, never that of a link's
    /// target.
    pub fn chown_beneath(&self, rel: &Path, uid: u32, gid: u32) -> Result<(), HostPathError> {
        let opened = self.open_beneath(rel)?;
        rustix::fs::chownat(
            &opened.fd,
            "",
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
            AtFlags::EMPTY_PATH,
        )
        .map_err(|e| HostPathError::io(opened.path, e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn components_are_single_normal_names() {
        for ok in ["a", "input-data", ".hidden", "a b", "é", "x..y", "..."] {
            assert_eq!(component(ok).expect(ok), ok);
        }
        for bad in ["", ".", "..", "/", "/etc", "a/b", "../x", "a\nb", "a\0b", "\t"] {
            assert!(component(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(component(&"x".repeat(256)).is_err());
        assert!(component(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn relatives_refuse_parent_and_absolute() {
        assert_eq!(relative("a/./b//c").expect("ok"), PathBuf::from("a/b/c"));
        for bad in ["", ".", "/a", "a/../b", "..", "a/\n"] {
            assert!(relative(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn strip_root_is_lexical_and_strict() {
        let root = Path::new("/data/p");
        assert_eq!(strip_root(root, Path::new("/data/p/s/x")).expect("in"), PathBuf::from("s/x"));
        assert!(strip_root(root, Path::new("/data/p/../q")).is_err());
        assert!(strip_root(root, Path::new("/data/pq/x")).is_err());
        assert!(strip_root(root, Path::new("data/p/x")).is_err());
    }

    #[test]
    fn listings_report_links_as_links_and_refuse_to_enter_them() {
        let t = tempfile::tempdir().expect("tmp");
        let root_dir = t.path().join("root");
        std::fs::create_dir_all(root_dir.join("sub")).expect("mk");
        std::fs::write(root_dir.join("b.txt"), b"hello").expect("w");
        let other = t.path().join("other");
        std::fs::create_dir(&other).expect("mk");
        std::fs::write(other.join("secret"), b"s").expect("w");
        symlink(&other, root_dir.join("a-link")).expect("ln");
        let root = Root::open(&root_dir).expect("root");
        let list = root.list_dir(Path::new("")).expect("list");
        let names: Vec<_> = list.iter().map(|e| (e.name.to_string_lossy().into_owned(), e.kind)).collect();
        assert_eq!(
            names,
            [
                ("a-link".to_owned(), FileType::Symlink),
                ("b.txt".to_owned(), FileType::RegularFile),
                ("sub".to_owned(), FileType::Directory)
            ]
        );
        assert_eq!(list[1].size, 5);
        assert!(root.list_dir(Path::new("a-link")).is_err(), "a link to a directory is not entered");
        assert!(root.list_dir(Path::new("../other")).is_err());
        assert!(root.list_dir(Path::new("b.txt")).is_err());
        assert!(root.list_dir(Path::new("sub")).expect("sub").is_empty());
    }

    #[test]
    fn links_below_the_root_are_refused_not_followed() {
        let t = tempfile::tempdir().expect("tmp");
        let root_dir = t.path().join("root");
        std::fs::create_dir_all(root_dir.join("sub")).expect("mk");
        std::fs::write(root_dir.join("sub/f"), b"x").expect("w");
        let other = t.path().join("other");
        std::fs::create_dir(&other).expect("mk");
        std::fs::write(other.join("secret"), b"s").expect("w");
        symlink(&other, root_dir.join("link")).expect("ln");
        symlink(root_dir.join("sub/f"), root_dir.join("filelink")).expect("ln");
        let root = Root::open(&root_dir).expect("root");

        assert!(root.open_beneath(Path::new("sub")).expect("dir").is_dir);
        assert!(!root.open_beneath(Path::new("sub/f")).expect("file").is_dir);
        assert!(matches!(root.open_beneath(Path::new("link")), Err(HostPathError::Link { .. })));
        assert!(matches!(root.open_beneath(Path::new("link/secret")), Err(HostPathError::Link { .. })));
        assert!(matches!(root.open_beneath(Path::new("filelink")), Err(HostPathError::Link { .. })));
        assert!(matches!(root.open_file(Path::new("filelink")), Err(HostPathError::Link { .. })));
        assert!(root.open_beneath(Path::new("../other")).is_err());
        assert_eq!(
            std::fs::read(root.open_file(Path::new("sub/f")).map(|_| root_dir.join("sub/f")).expect("f")).expect("r"),
            b"x"
        );
        assert!(matches!(root.create_dir_all(Path::new("link/new"), 0o755), Err(HostPathError::Link { .. })));
        assert!(!other.join("new").exists());
        assert!(matches!(root.create_child_dir("../escape", 0o755), Err(HostPathError::NotAComponent { .. })));
        let made = root.create_dir_all(Path::new("a/b/c"), 0o700).expect("mkdir");
        assert_eq!(made.path, root_dir.join("a/b/c"));
        assert!(root_dir.join("a/b/c").is_dir());
        assert_eq!(root.kind_beneath(Path::new("nope")).expect("kind"), None);
    }

    #[test]
    fn fd_paths_keep_pointing_at_what_was_opened() {
        let t = tempfile::tempdir().expect("tmp");
        let root_dir = t.path().join("root");
        std::fs::create_dir_all(root_dir.join("in")).expect("mk");
        std::fs::write(root_dir.join("in/data"), b"mine").expect("w");
        std::fs::create_dir(t.path().join("victim")).expect("mk");
        std::fs::write(t.path().join("victim/data"), b"theirs").expect("w");
        let root = Root::open(&root_dir).expect("root");
        let pinned = root.open_beneath(Path::new("in")).expect("open");
        // The member swaps the checked directory for a link after the check.
        std::fs::rename(root_dir.join("in"), root_dir.join("moved")).expect("mv");
        symlink(t.path().join("victim"), root_dir.join("in")).expect("ln");
        let via_fd = fd_path(&pinned.fd).join("data");
        assert_eq!(std::fs::read(via_fd).expect("read"), b"mine");
    }

    /// Needs root (`CAP_SYS_ADMIN`), as the engine tests do: it fails, never skips, without it.
    #[test]
    fn finding_02_a_staged_bind_is_the_opened_file_not_the_path() {
        let t = tempfile::tempdir().expect("tmp");
        let root_dir = t.path().join("root");
        std::fs::create_dir_all(root_dir.join("in")).expect("mk");
        std::fs::write(root_dir.join("in/data"), b"mine").expect("w");
        std::fs::write(root_dir.join("file"), b"mine too").expect("w");
        std::fs::create_dir(t.path().join("victim")).expect("mk");
        std::fs::write(t.path().join("victim/data"), b"theirs").expect("w");
        std::fs::write(t.path().join("victim-file"), b"theirs too").expect("w");
        let stage = t.path().join("stage");
        std::fs::create_dir(&stage).expect("mk");
        let root = Root::open(&root_dir).expect("root");
        let dir = root.open_beneath(Path::new("in")).expect("open");
        let file = root.open_beneath(Path::new("file")).expect("open");
        std::fs::rename(root_dir.join("in"), root_dir.join("moved")).expect("mv");
        symlink(t.path().join("victim"), root_dir.join("in")).expect("ln");
        std::fs::rename(root_dir.join("file"), root_dir.join("moved-file")).expect("mv");
        symlink(t.path().join("victim-file"), root_dir.join("file")).expect("ln");
        let staged_dir = match StagedBind::new(&dir, &stage.join("0")) {
            Err(e) if StagedBind::is_not_permitted(&e) => panic!("this test needs root (CAP_SYS_ADMIN) to mount: {e}"),
            r => r.expect("stage the directory"),
        };
        let staged_file = StagedBind::new(&file, &stage.join("1")).expect("stage the file");
        assert_eq!(std::fs::read(staged_dir.path().join("data")).expect("read"), b"mine");
        assert_eq!(std::fs::read(staged_file.path()).expect("read"), b"mine too");
        assert!(std::fs::write(staged_dir.path().join("new"), b"x").is_err(), "the staged bind is read-only");
        let at = staged_dir.path().to_path_buf();
        drop(staged_dir);
        drop(staged_file);
        assert!(!at.exists() && !stage.join("1").exists(), "mount points removed on drop");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(!mounts.contains(&stage.display().to_string()), "unmounted on drop");
    }

    #[test]
    fn files_are_written_beneath_without_following_links() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().expect("tmp");
        let root_dir = t.path().join("out");
        std::fs::create_dir(&root_dir).expect("mk");
        let victim = t.path().join("victim");
        std::fs::create_dir(&victim).expect("mk");
        std::fs::write(victim.join("passwd"), b"root:x:0:0").expect("w");
        let root = Root::open(&root_dir).expect("root");
        // Parents are made, the file is written, and rewriting replaces it.
        let p = root.write_file(Path::new("a/b/c.json"), b"one", 0o755).expect("write");
        assert_eq!(p, root_dir.join("a/b/c.json"));
        root.write_file(Path::new("a/b/c.json"), b"two", 0o755).expect("rewrite");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert_eq!(std::fs::metadata(root_dir.join("a")).expect("md").permissions().mode() & 0o7000, 0);
        // A link on the way, a link at the name, or a directory at the name is refused, named.
        symlink(&victim, root_dir.join("sub")).expect("ln");
        symlink(victim.join("passwd"), root_dir.join("config.json")).expect("ln");
        std::fs::create_dir(root_dir.join("d")).expect("mk");
        for (rel, named) in [("sub/x.json", "sub"), ("config.json", "config.json")] {
            match root.write_file(Path::new(rel), b"pwned", 0o755) {
                Err(HostPathError::Link { path }) => assert_eq!(path, root_dir.join(named)),
                other => panic!("{rel}: {other:?}"),
            }
        }
        assert!(matches!(root.write_file(Path::new("d"), b"x", 0o755), Err(HostPathError::WrongKind { .. })));
        assert!(root.write_file(Path::new("../x"), b"x", 0o755).is_err());
        assert_eq!(std::fs::read(victim.join("passwd")).expect("read"), b"root:x:0:0");
        assert!(!victim.join("x.json").exists());
        // No temporary file is left behind.
        let left: Vec<_> =
            std::fs::read_dir(root_dir.join("a/b")).expect("ls").flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("c.json")]);
    }

    #[test]
    fn ownership_changes_beneath_never_reach_a_link_target() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().expect("tmp");
        let root_dir = t.path().join("out");
        std::fs::create_dir_all(root_dir.join("res")).expect("mk");
        let victim = t.path().join("victim");
        std::fs::create_dir(&victim).expect("mk");
        symlink(&victim, root_dir.join("sub")).expect("ln");
        let root = Root::open(&root_dir).expect("root");
        let me = std::fs::metadata(&root_dir).expect("md");
        // Giving a directory to its own owner works whoever runs the test.
        root.chown_beneath(Path::new("res"), me.uid(), me.gid()).expect("chown");
        root.chown_beneath(Path::new(""), me.uid(), me.gid()).expect("chown root");
        for rel in ["sub", "sub/x"] {
            assert!(
                matches!(root.chown_beneath(Path::new(rel), me.uid(), me.gid()), Err(HostPathError::Link { .. })),
                "{rel}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn accepted_components_never_leave_their_root(name in "\\PC{0,40}") {
            if let Ok(n) = component(&name) {
                let joined = Path::new("/root").join(n);
                proptest::prop_assert_eq!(joined.parent(), Some(Path::new("/root")));
            }
        }

        #[test]
        fn accepted_relatives_stay_beneath(path in "[a-z./]{0,24}") {
            if let Ok(p) = relative(&path) {
                proptest::prop_assert!(p.is_relative());
                proptest::prop_assert!(p.components().all(|c| matches!(c, Component::Normal(_))));
            }
        }
    }
}
