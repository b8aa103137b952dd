//! Durable writes beneath a [`Root`]: a file that, once the call returns, survives the process
//! being killed and the machine losing power, and that is never visible half-written (issue 20:
//! a DICOM instance is acknowledged to its sender only after this returns).

use std::ffi::OsStr;
use std::io::{self, Write as _};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};

use crate::{HostPathError, Root, checked_relative, component, open_nofollow};

/// The prefix of the temporary files [`Root::write_durable`] creates; [`is_durable_temp`]
/// recognises them so that a start-up sweep can remove what a killed writer left.
pub const TEMP_PREFIX: &str = ".berth-part-";

/// Whether `name` is one of [`Root::write_durable`]'s temporary files.
pub fn is_durable_temp(name: &OsStr) -> bool {
    name.as_encoded_bytes().starts_with(TEMP_PREFIX.as_bytes())
}

/// What [`Root::write_durable`] does when the name already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Leave the existing file and report [`Written::Kept`] (`RENAME_NOREPLACE`, so two
    /// writers racing for one name cannot both win).
    Keep,
    /// Replace it atomically (`rename(2)` over it).
    Replace,
}

/// What [`Root::write_durable`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The name did not exist; it now holds the content.
    Created,
    /// The name existed and now holds the new content.
    Replaced,
    /// The name existed and was left as it was (the new content was discarded).
    Kept,
}

impl Root {
    /// Writes the concatenation of `parts` to `dir/name` beneath the root, durably:
    ///
    /// 1. `dir` is opened (or created with `dir_mode`, as [`Root::create_dir_all`] does: no link
    ///    followed);
    /// 2. the bytes go to a new temporary file `.berth-part-…` in that directory (`O_EXCL |
    ///    O_NOFOLLOW`), which is `fsync`ed;
    /// 3. it is renamed to `name` within the same opened directory (`RENAME_NOREPLACE` for
    ///    [`Existing::Keep`]);
    /// 4. the directory is `fsync`ed, and so is every directory above it up to the root when
    ///    `dir` had to be created, so that the new names themselves are on disk.
    ///
    /// A reader sees either no file or the whole file, never a part; when any step fails the
    /// temporary file is removed (a killed process leaves it, under a name
    /// [`is_durable_temp`] recognises). `name` must be one component ([`component`]).
    pub fn write_durable(
        &self,
        dir: &Path,
        name: &str,
        parts: &[&[u8]],
        dir_mode: u32,
        existing: Existing,
    ) -> Result<(Written, PathBuf), HostPathError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = component(name)?;
        let dir_full = self.path.join(dir);
        let dir_rel = checked_relative(dir, &dir_full)?;
        let full = dir_full.join(name);
        let created_dir = match self.open_beneath(&dir_rel) {
            Ok(o) if o.is_dir => false,
            Ok(_) => return Err(HostPathError::WrongKind { path: dir_full, expected: "directory" }),
            Err(HostPathError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(e),
        };
        let parent = self.create_dir_all(&dir_rel, dir_mode)?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp_name = format!("{TEMP_PREFIX}{}-{n}", std::process::id());
        let tmp_full = dir_full.join(&tmp_name);
        let fd = rustix::fs::openat(
            &parent.fd,
            &tmp_name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| HostPathError::io(tmp_full.clone(), e.into()))?;
        let remove_tmp = || {
            let _ = rustix::fs::unlinkat(&parent.fd, &tmp_name, AtFlags::empty());
        };
        let mut file = std::fs::File::from(fd);
        let wrote = parts.iter().try_for_each(|p| file.write_all(p)).and_then(|()| file.sync_all());
        drop(file);
        if let Err(e) = wrote {
            remove_tmp();
            return Err(HostPathError::io(tmp_full, e));
        }
        let written = match existing {
            Existing::Keep => {
                match rustix::fs::renameat_with(&parent.fd, &tmp_name, &parent.fd, name, RenameFlags::NOREPLACE) {
                    Ok(()) => Written::Created,
                    Err(rustix::io::Errno::EXIST) => {
                        remove_tmp();
                        return Ok((Written::Kept, full));
                    }
                    Err(e) => {
                        remove_tmp();
                        return Err(HostPathError::io(full, e.into()));
                    }
                }
            }
            Existing::Replace => {
                let before = match rustix::fs::statat(&parent.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                        remove_tmp();
                        return Err(HostPathError::WrongKind { path: full, expected: "regular file" });
                    }
                    Ok(_) => true,
                    Err(_) => false,
                };
                // rename(2) replaces a link planted under the name; it never writes through it.
                if let Err(e) = rustix::fs::renameat(&parent.fd, &tmp_name, &parent.fd, name) {
                    remove_tmp();
                    return Err(HostPathError::io(full, e.into()));
                }
                if before { Written::Replaced } else { Written::Created }
            }
        };
        sync_dir(&parent.fd, &dir_full)?;
        if created_dir {
            // Each directory made on the way is a new name in its parent.
            let mut up = dir_rel.as_path();
            while let Some(p) = up.parent() {
                let fd = open_nofollow(&self.fd, p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC)
                    .map_err(|e| HostPathError::io(self.path.join(p), e))?;
                sync_dir(&fd, &self.path.join(p))?;
                up = p;
            }
        }
        Ok((written, full))
    }

    /// Removes the regular file (or link) `rel` beneath the root, following no link; a missing
    /// file is not an error. Directories are refused.
    pub fn remove_file(&self, rel: &Path) -> Result<(), HostPathError> {
        let full = self.path.join(rel);
        let rel = checked_relative(rel, &full)?;
        let (Some(name), Some(dir)) = (rel.file_name(), rel.parent()) else {
            return Err(HostPathError::NotRelative {
                path: rel.display().to_string(),
                reason: "it names the directory itself",
            });
        };
        let parent = open_nofollow(&self.fd, dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC)
            .map_err(|e| HostPathError::io(full.clone(), e))?;
        match rustix::fs::unlinkat(&parent, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(HostPathError::io(full, e.into())),
        }
    }
}

/// Whether [`DurableFile::finish`] makes the file durable (`fsync`) or only visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// `fsync` the file before the rename and the directory after: once `finish` returns,
    /// the file survives power loss and an operating system crash.
    Always,
    /// Rename only: once `finish` returns, the whole file is visible under its name and
    /// survives the process being killed (the page cache is the kernel's), not power loss.
    Never,
}

/// A file being written beneath a [`Root`] that becomes visible only whole: it is a
/// temporary file `.berth-part-…` in a staging directory until [`DurableFile::finish`]
/// renames it into place; dropped unfinished, it is removed. It is opened read-write so that
/// what was written can be read back (to parse it, to compare it with another file).
#[derive(Debug)]
pub struct DurableFile<'r> {
    root: &'r Root,
    staging: &'r Staging,
    tmp_name: String,
    file: std::fs::File,
    done: bool,
}

/// The directory [`DurableFile`]s are written in before they are renamed into place, opened
/// once (a receiver writes many files through it).
#[derive(Debug)]
pub struct Staging {
    fd: OwnedFd,
    path: PathBuf,
}

impl Staging {
    /// Its host path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Root {
    /// Opens the staging directory `rel` beneath the root for [`Root::create_durable`]
    /// (created with `dir_mode` when missing, no link followed). It must be on the same file
    /// system as where the files will go (below the same root, with no mount between).
    pub fn staging(&self, rel: &Path, dir_mode: u32) -> Result<Staging, HostPathError> {
        let opened = self.create_dir_all(rel, dir_mode)?;
        Ok(Staging { fd: opened.fd, path: opened.path })
    }

    /// Starts a [`DurableFile`] in `staging`.
    pub fn create_durable<'r>(&'r self, staging: &'r Staging) -> Result<DurableFile<'r>, HostPathError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp_name = format!("{TEMP_PREFIX}{}-s{n}", std::process::id());
        let fd = rustix::fs::openat(
            &staging.fd,
            &tmp_name,
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| HostPathError::io(staging.path.join(&tmp_name), e.into()))?;
        Ok(DurableFile { root: self, staging, tmp_name, file: std::fs::File::from(fd), done: false })
    }
}

impl DurableFile<'_> {
    /// The temporary file, to write to and read back.
    pub fn file(&mut self) -> &mut std::fs::File {
        &mut self.file
    }

    /// The temporary file's host path (for messages).
    pub fn temp_path(&self) -> PathBuf {
        self.staging.path.join(&self.tmp_name)
    }

    /// Puts the file at `dir/name` beneath the root (`dir` created with `dir_mode` when
    /// missing, no link followed): with [`SyncMode::Always`] the file is `fsync`ed first, and
    /// after the rename its directory (and every directory created on the way) is. With
    /// [`Existing::Keep`] an existing name is left alone (`RENAME_NOREPLACE`) and
    /// [`Written::Kept`] returned; the temporary file then stays until this is dropped, so
    /// that it can still be compared with the file kept.
    pub fn finish(
        &mut self,
        dir: &Path,
        name: &str,
        dir_mode: u32,
        existing: Existing,
        sync: SyncMode,
    ) -> Result<(Written, PathBuf), HostPathError> {
        let name = component(name)?;
        let root = self.root;
        let dir_full = root.path.join(dir);
        let dir_rel = checked_relative(dir, &dir_full)?;
        let full = dir_full.join(name);
        if sync == SyncMode::Always {
            self.file.sync_all().map_err(|e| HostPathError::io(self.temp_path(), e))?;
        }
        // The directory usually exists (a series' second instance): opened, not created.
        let (parent, created_dir) = match root.open_beneath(&dir_rel) {
            Ok(o) if o.is_dir => (o, false),
            Ok(_) => return Err(HostPathError::WrongKind { path: dir_full, expected: "directory" }),
            Err(HostPathError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                (root.create_dir_all(&dir_rel, dir_mode)?, true)
            }
            Err(e) => return Err(e),
        };
        let written = match existing {
            Existing::Keep => {
                match rustix::fs::renameat_with(
                    &self.staging.fd,
                    &self.tmp_name,
                    &parent.fd,
                    name,
                    RenameFlags::NOREPLACE,
                ) {
                    Ok(()) => Written::Created,
                    Err(rustix::io::Errno::EXIST) => return Ok((Written::Kept, full)),
                    Err(e) => return Err(HostPathError::io(full, e.into())),
                }
            }
            Existing::Replace => {
                let before = match rustix::fs::statat(&parent.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                        return Err(HostPathError::WrongKind { path: full, expected: "regular file" });
                    }
                    Ok(_) => true,
                    Err(_) => false,
                };
                rustix::fs::renameat(&self.staging.fd, &self.tmp_name, &parent.fd, name)
                    .map_err(|e| HostPathError::io(full.clone(), e.into()))?;
                if before { Written::Replaced } else { Written::Created }
            }
        };
        self.done = true;
        if sync == SyncMode::Always {
            sync_dir(&parent.fd, &dir_full)?;
            if created_dir {
                let mut up = dir_rel.as_path();
                while let Some(p) = up.parent() {
                    let fd = open_nofollow(&root.fd, p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC)
                        .map_err(|e| HostPathError::io(root.path.join(p), e))?;
                    sync_dir(&fd, &root.path.join(p))?;
                    up = p;
                }
            }
        }
        Ok((written, full))
    }
}

impl Drop for DurableFile<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = rustix::fs::unlinkat(&self.staging.fd, &self.tmp_name, AtFlags::empty());
        }
    }
}

/// `fsync` of a directory: its entries (a rename, a new child) reach the disk. An `O_PATH`
/// descriptor cannot be synced, so the directory is opened again, read-only, through it.
fn sync_dir(dir: &OwnedFd, path: &Path) -> Result<(), HostPathError> {
    let fd = rustix::fs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| HostPathError::io(path.to_path_buf(), e.into()))?;
    rustix::fs::fsync(&fd).map_err(|e| HostPathError::io(path.to_path_buf(), e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_writes_create_keep_and_replace() {
        let t = tempfile::tempdir().expect("tmp");
        let root = Root::open(t.path()).expect("root");
        let dir = Path::new("1.2/3.4");
        let (w, path) = root.write_durable(dir, "5.6.dcm", &[b"ab", b"cd"], 0o755, Existing::Keep).expect("write");
        assert_eq!(w, Written::Created);
        assert_eq!(std::fs::read(&path).expect("read"), b"abcd");
        let (w, _) = root.write_durable(dir, "5.6.dcm", &[b"xx"], 0o755, Existing::Keep).expect("keep");
        assert_eq!(w, Written::Kept);
        assert_eq!(std::fs::read(&path).expect("read"), b"abcd");
        let (w, _) = root.write_durable(dir, "5.6.dcm", &[b"xy"], 0o755, Existing::Replace).expect("replace");
        assert_eq!(w, Written::Replaced);
        assert_eq!(std::fs::read(&path).expect("read"), b"xy");
        let names: Vec<_> =
            std::fs::read_dir(t.path().join(dir)).expect("ls").map(|e| e.expect("e").file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("5.6.dcm")], "no temporary file is left");
    }

    #[test]
    fn durable_writes_refuse_links_and_bad_names() {
        let t = tempfile::tempdir().expect("tmp");
        let outside = tempfile::tempdir().expect("tmp");
        std::os::unix::fs::symlink(outside.path(), t.path().join("study")).expect("link");
        let root = Root::open(t.path()).expect("root");
        assert!(root.write_durable(Path::new("study/series"), "x.dcm", &[b"a"], 0o755, Existing::Keep).is_err());
        assert!(root.write_durable(Path::new("s"), "../x", &[b"a"], 0o755, Existing::Keep).is_err());
        assert!(root.write_durable(Path::new("../s"), "x", &[b"a"], 0o755, Existing::Keep).is_err());
        assert_eq!(std::fs::read_dir(outside.path()).expect("ls").count(), 0);
    }

    #[test]
    fn a_durable_file_is_visible_only_whole_and_removed_when_dropped() {
        use std::io::{Read as _, Seek as _};
        let t = tempfile::tempdir().expect("tmp");
        let root = Root::open(t.path()).expect("root");
        let staging_rel = Path::new(".incoming");
        let staging = root.staging(staging_rel, 0o755).expect("staging");
        let dir = Path::new("1.2/3.4");
        for (sync, name) in [(SyncMode::Always, "5.6.dcm"), (SyncMode::Never, "5.7.dcm")] {
            let mut f = root.create_durable(&staging).expect("create");
            f.file().write_all(b"abcd").expect("write");
            assert!(!t.path().join(dir).join(name).exists());
            f.file().rewind().expect("rewind");
            let mut back = String::new();
            f.file().read_to_string(&mut back).expect("read back");
            assert_eq!(back, "abcd");
            let (w, path) = f.finish(dir, name, 0o755, Existing::Keep, sync).expect("finish");
            assert_eq!(w, Written::Created);
            drop(f);
            assert_eq!(std::fs::read(&path).expect("read"), b"abcd", "a finished file stays when dropped");
        }
        // Kept: the name is left alone, the temporary file stays readable until dropped.
        let mut f = root.create_durable(&staging).expect("create");
        f.file().write_all(b"other").expect("write");
        let (w, _) = f.finish(dir, "5.6.dcm", 0o755, Existing::Keep, SyncMode::Always).expect("keep");
        assert_eq!(w, Written::Kept);
        assert!(f.temp_path().exists());
        drop(f);
        // Dropped unfinished (a sender gone mid-instance): nothing is left.
        let mut f = root.create_durable(&staging).expect("create");
        f.file().write_all(b"half").expect("write");
        drop(f);
        assert_eq!(std::fs::read_dir(t.path().join(staging_rel)).expect("ls").count(), 0, "no temporary file is left");
        assert_eq!(std::fs::read(t.path().join(dir).join("5.6.dcm")).expect("read"), b"abcd");
    }

    #[test]
    fn a_durable_file_refuses_links() {
        let t = tempfile::tempdir().expect("tmp");
        let outside = tempfile::tempdir().expect("tmp");
        std::os::unix::fs::symlink(outside.path(), t.path().join("study")).expect("link");
        let root = Root::open(t.path()).expect("root");
        assert!(root.staging(Path::new("study"), 0o755).is_err());
        let staging = root.staging(Path::new(".incoming"), 0o755).expect("staging");
        let mut f = root.create_durable(&staging).expect("create");
        assert!(f.finish(Path::new("study/series"), "x.dcm", 0o755, Existing::Keep, SyncMode::Never).is_err());
        assert!(f.finish(Path::new("s"), "../x", 0o755, Existing::Keep, SyncMode::Never).is_err());
        drop(f);
        assert_eq!(std::fs::read_dir(outside.path()).expect("ls").count(), 0);
    }

    #[test]
    fn temporary_names_are_recognised() {
        assert!(is_durable_temp(OsStr::new(".berth-part-12-3")));
        assert!(!is_durable_temp(OsStr::new("1.2.3.dcm")));
    }
}
