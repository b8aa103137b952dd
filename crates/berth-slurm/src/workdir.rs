//! The Slurm work directory: where job scripts, array task lists and the tools' logs live on the
//! shared file system, and who may change them.
//!
//! What is in there runs as the submitter on the compute nodes (a job array task runs the script
//! named on its line of `arrays/…/tasks`), so whoever can write there can run code as the
//! submitter. berth therefore refuses a work directory that anyone else could change: it must be
//! owned by the submitter and not writable by group or others, and every directory above it must
//! be owned by the submitter or root and, when writable by others, sticky (`/tmp`-like: others
//! cannot rename what is ours). The directories berth makes there are `0700`, its files are
//! written to a fresh temporary name (`O_EXCL | O_NOFOLLOW`) and renamed into place (`0600`,
//! scripts `0700`). An existing `arrays/` or job directory is accepted only when it is a real
//! directory owned by the submitter; berth then makes it private.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why the work directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WorkDirError {
    /// The directory (or one above it) belongs to someone else.
    #[error("the Slurm work directory {} is not safe: {} is owned by uid {owner}, not by you (uid {me})", work_dir.display(), path.display())]
    Owner {
        /// The configured work directory.
        work_dir: PathBuf,
        /// The directory found wanting.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The submitter.
        me: u32,
    },
    /// The directory (or one above it) may be changed by group or others.
    #[error("the Slurm work directory {} is not safe: {} is writable by {who} (mode {mode:04o})", work_dir.display(), path.display())]
    Writable {
        /// The configured work directory.
        work_dir: PathBuf,
        /// The directory found wanting.
        path: PathBuf,
        /// `group` or `others`.
        who: &'static str,
        /// Its permission bits.
        mode: u32,
    },
    /// Something berth expects to be a directory is a link or a file.
    #[error("the Slurm work directory {} is not safe: {} is not a directory (a link or a file)", work_dir.display(), path.display())]
    NotADirectory {
        /// The configured work directory.
        work_dir: PathBuf,
        /// The path.
        path: PathBuf,
    },
    /// A path has a character the job scripts cannot carry (a newline splits an array's task list).
    #[error("the Slurm work directory {} holds a control character", work_dir.display())]
    BadName {
        /// The configured work directory.
        work_dir: PathBuf,
    },
    /// The file system failed.
    #[error("cannot prepare {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl WorkDirError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            WorkDirError::Owner { .. } | WorkDirError::Writable { .. } | WorkDirError::NotADirectory { .. } => Some(
                "set `[slurm] work_dir` to a directory you own that only you can write (`chmod 700`), below \
                 directories owned by you or root; in a shared, world-writable directory use a sticky one (`chmod \
                 +t`, as /tmp) and a subdirectory of your own in it"
                    .into(),
            ),
            WorkDirError::BadName { .. } => Some("use a work directory path without control characters".into()),
            WorkDirError::Io { .. } => None,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WorkDirError + '_ {
    move |source| WorkDirError::Io { path: path.to_path_buf(), source }
}

fn euid() -> u32 {
    berth_run::host::process_ids().0
}

/// Checks `work_dir` (creating it `0700` when missing) and every directory above it. Returns
/// the work directory as the kernel resolves it (configuration may name it through a link).
pub fn check(work_dir: &Path) -> Result<PathBuf, WorkDirError> {
    if work_dir.to_string_lossy().chars().any(|c| c.is_control()) {
        return Err(WorkDirError::BadName { work_dir: work_dir.to_path_buf() });
    }
    if !work_dir.exists() {
        if let Some(parent) = work_dir.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(work_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(work_dir)(e)),
        }
    }
    let real = std::fs::canonicalize(work_dir).map_err(io(work_dir))?;
    let me = euid();
    let mut ancestors: Vec<&Path> = real.ancestors().collect();
    ancestors.reverse();
    for dir in ancestors {
        let m = std::fs::symlink_metadata(dir).map_err(io(dir))?;
        let is_work_dir = dir == real;
        let owner_ok = m.uid() == me || (!is_work_dir && m.uid() == 0);
        if !owner_ok {
            return Err(WorkDirError::Owner {
                work_dir: work_dir.to_path_buf(),
                path: dir.to_path_buf(),
                owner: m.uid(),
                me,
            });
        }
        let mode = m.mode() & 0o7777;
        let sticky = mode & 0o1000 != 0;
        if mode & 0o022 != 0 && (is_work_dir || !sticky) {
            return Err(WorkDirError::Writable {
                work_dir: work_dir.to_path_buf(),
                path: dir.to_path_buf(),
                who: if mode & 0o002 != 0 { "others" } else { "group" },
                mode,
            });
        }
    }
    Ok(real)
}

/// The directory `name` (one plain name) in `parent` (a checked work directory or one made
/// here): created `0700`, or when it exists, accepted only as a real directory owned by the
/// submitter, and made `0700`.
pub fn private_dir(work_dir: &Path, parent: &Path, name: &str) -> Result<PathBuf, WorkDirError> {
    let dir = berth_hostpath::join_component(parent, name)
        .map_err(|e| WorkDirError::Io { path: parent.join(name), source: std::io::Error::other(e.to_string()) })?;
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(&dir)(e)),
    }
    let m = std::fs::symlink_metadata(&dir).map_err(io(&dir))?;
    if !m.file_type().is_dir() {
        return Err(WorkDirError::NotADirectory { work_dir: work_dir.to_path_buf(), path: dir });
    }
    let me = euid();
    if m.uid() != me {
        return Err(WorkDirError::Owner { work_dir: work_dir.to_path_buf(), path: dir, owner: m.uid(), me });
    }
    if m.mode() & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
    }
    Ok(dir)
}

/// Writes `content` to `path` (in a private directory) under a fresh temporary name created
/// with `O_EXCL | O_NOFOLLOW` and mode `mode`, then renames it into place.
pub fn write_private(path: &Path, content: &[u8], mode: u32) -> Result<(), WorkDirError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::now_v7().simple()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let written = f.write_all(content).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn finding_11_berth_makes_its_work_dir_private_and_writes_files_atomically() {
        let t = tempfile::tempdir().unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let w = t.path().join("slurm");
        check(&w).unwrap();
        assert_eq!(mode(&w), 0o700);
        let arrays = private_dir(&w, &w, "arrays").unwrap();
        assert_eq!(mode(&arrays), 0o700);
        let f = arrays.join("tasks");
        write_private(&f, b"/j/1/job.sh\n", 0o600).unwrap();
        assert_eq!(mode(&f), 0o600);
        write_private(&f, b"/j/2/job.sh\n", 0o600).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"/j/2/job.sh\n");
        assert_eq!(std::fs::read_dir(&arrays).unwrap().count(), 1, "no temporary file left");
        // A directory berth made before with the umask's mode is made private.
        std::fs::set_permissions(&arrays, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&w, &w, "arrays").unwrap();
        assert_eq!(mode(&arrays), 0o700);
        assert!(private_dir(&w, &w, "../x").is_err());
    }

    #[test]
    fn finding_11_a_work_dir_others_can_change_is_refused() {
        let t = tempfile::tempdir().unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // Writable by others, even when ours.
        let w = t.path().join("open");
        std::fs::create_dir(&w).unwrap();
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check(&w).unwrap_err();
        assert!(matches!(e, WorkDirError::Writable { who: "others", .. }), "{e:?}");
        assert!(e.hint().unwrap().contains("work_dir"));
        // Below a directory others can write without the sticky bit: they could swap ours.
        let shared = t.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let mine = shared.join("me");
        let e = check(&mine).unwrap_err();
        assert!(matches!(&e, WorkDirError::Writable { path, .. } if *path == shared), "{e:?}");
        // The sticky-bit pattern (as /tmp) with a subdirectory of our own is fine.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        check(&mine).unwrap();
        // A link planted where berth's arrays directory goes is refused, not followed.
        std::os::unix::fs::symlink(t.path(), mine.join("arrays")).unwrap();
        assert!(matches!(private_dir(&mine, &mine, "arrays"), Err(WorkDirError::NotADirectory { .. })));
    }

    #[test]
    fn finding_11_a_work_dir_owned_by_another_user_is_refused() {
        if euid() != 0 {
            panic!("this test needs root (to give a directory to another user); run it as root");
        }
        let t = tempfile::tempdir().unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let w = t.path().join("theirs");
        std::fs::create_dir(&w).unwrap();
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&w, Some(65534), Some(65534)).unwrap();
        let e = check(&w).unwrap_err();
        assert!(matches!(e, WorkDirError::Owner { owner: 65534, .. }), "{e:?}");
        // Their arrays/ directory inside a work dir of ours.
        let ours = t.path().join("ours");
        check(&ours).unwrap();
        std::fs::create_dir(ours.join("arrays")).unwrap();
        std::os::unix::fs::chown(ours.join("arrays"), Some(65534), Some(65534)).unwrap();
        assert!(matches!(private_dir(&ours, &ours, "arrays"), Err(WorkDirError::Owner { .. })));
    }
}
