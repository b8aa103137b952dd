//! Publishing a task's outputs into the pipeline's output directory without following anything
//! the tool left there.
//!
//! A tool can create any file or link in its output directory, and its outputs are read back on
//! the host with berth's privileges. So the tree is walked with `openat(O_NOFOLLOW)` from
//! descriptors, never by path: a regular file is hard-linked (or copied when a link is not
//! possible), a directory is recreated and walked, a symbolic link is published *as a link*
//! (its target text copied verbatim with `symlinkat`, never resolved: `out/x -> /etc` stays a
//! dangling-or-not link in the published tree and nothing of `/etc` is read), and anything
//! else (device, FIFO, socket) is refused with its name. A link met on the way *to* an output
//! (an output path that passes through a linked directory) is refused with its name.
//!
//! Everything goes into a private `.berth-publish-*` directory that is renamed into place at
//! the end, and removed on any failure: a failed publish leaves nothing behind.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use berth_hostpath::{HostPathError, Root};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// How deep a published tree may be; deeper is refused (a hostile tool could otherwise nest
/// directories until berth's stack runs out).
pub const MAX_DEPTH: usize = 256;

/// Why outputs could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// An output path, or where it goes, is not a plain path beneath its directory.
    #[error("cannot publish {}", path.display())]
    Path {
        /// The output or destination.
        path: PathBuf,
        /// Why.
        #[source]
        source: HostPathError,
    },
    /// An output is not inside the task's output directory.
    #[error("the output {} is not inside the task's output directory {}", path.display(), base.display())]
    Outside {
        /// The output.
        path: PathBuf,
        /// The task's output directory.
        base: PathBuf,
    },
    /// The tool left something that is neither a file, a directory nor a link.
    #[error("the output {} is a {kind}, which berth does not publish", path.display())]
    Special {
        /// Where it is in the task's output directory.
        path: PathBuf,
        /// `device`, `FIFO`, `socket`.
        kind: &'static str,
    },
    /// The tree is deeper than [`MAX_DEPTH`].
    #[error("the output {} is nested more than {MAX_DEPTH} directories deep", path.display())]
    TooDeep {
        /// The directory where the limit was reached.
        path: PathBuf,
    },
    /// Reading the outputs or writing the published copy failed.
    #[error("cannot publish {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl PublishError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            PublishError::Path { source, .. } => source.hint(),
            PublishError::Special { .. } => Some(
                "have the tool write regular files, directories or links; remove the others before it exits".into(),
            ),
            PublishError::TooDeep { .. } => Some("have the tool write a flatter output tree".into()),
            PublishError::Outside { .. } => {
                Some("outputs are published from the task's directory only; fix the descriptor's path templates".into())
            }
            PublishError::Io { .. } => None,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(rustix::io::Errno) -> PublishError + '_ {
    move |e| PublishError::Io { path: path.to_path_buf(), source: e.into() }
}

fn path_err(path: &Path) -> impl FnOnce(HostPathError) -> PublishError + '_ {
    move |source| PublishError::Path { path: path.to_path_buf(), source }
}

/// Publishes `outputs` (paths inside `base`) to `output_dir/final_rel` (a relative path of
/// plain names), replacing what was there in one rename. Returns the published paths.
pub fn publish(
    output_dir: &Path,
    final_rel: &Path,
    base: &Path,
    outputs: &[PathBuf],
) -> Result<Vec<PathBuf>, PublishError> {
    let final_rel = berth_hostpath::relative(&final_rel.to_string_lossy()).map_err(path_err(final_rel))?;
    let root = Root::open(output_dir).map_err(path_err(output_dir))?;
    let root_fd = root.open_beneath(Path::new("")).map_err(path_err(output_dir))?.fd;
    let (parent_rel, final_name) = match (final_rel.parent(), final_rel.file_name()) {
        (Some(p), Some(n)) => (p.to_path_buf(), n.to_os_string()),
        _ => (PathBuf::new(), final_rel.clone().into_os_string()),
    };
    let parent_fd = if parent_rel.as_os_str().is_empty() {
        rustix::io::fcntl_dupfd_cloexec(&root_fd, 0).map_err(io_err(output_dir))?
    } else {
        root.create_dir_all(&parent_rel, 0o755).map_err(path_err(&output_dir.join(&parent_rel)))?.fd
    };
    let tmp_name = format!(".berth-publish-{}", uuid::Uuid::now_v7().simple());
    let tmp_path = output_dir.join(&tmp_name);
    rustix::fs::mkdirat(&root_fd, tmp_name.as_str(), Mode::from_raw_mode(0o755)).map_err(io_err(&tmp_path))?;
    let guard = RemoveOnDrop(Some(tmp_path.clone()));

    let src = Root::open(base).map_err(path_err(base))?;
    let tmp = Root::open(&tmp_path).map_err(path_err(&tmp_path))?;
    let final_dir = output_dir.join(&final_rel);
    let mut published = Vec::new();
    for p in outputs {
        let rel = berth_hostpath::strip_root(base, p)
            .ok()
            .filter(|r| !r.as_os_str().is_empty())
            .ok_or_else(|| PublishError::Outside { path: p.clone(), base: base.to_path_buf() })?;
        let (Some(name), dir) = (rel.file_name(), rel.parent().unwrap_or(Path::new(""))) else {
            return Err(PublishError::Outside { path: p.clone(), base: base.to_path_buf() });
        };
        // No link on the way to the output: `out/linked-dir/file` is refused, not followed.
        let from = src.open_beneath(dir).map_err(path_err(p))?;
        if !from.is_dir {
            return Err(PublishError::Path {
                path: p.clone(),
                source: HostPathError::WrongKind { path: from.path, expected: "directory" },
            });
        }
        let to = tmp.create_dir_all(dir, 0o755).map_err(path_err(&tmp_path.join(dir)))?;
        copy_entry(&from.fd, name, &to.fd, p, 0)?;
        published.push(final_dir.join(&rel));
    }

    // Swap the new tree in; an old one (a directory berth published before) is moved aside
    // first and removed after.
    match rustix::fs::statat(&parent_fd, final_name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => {
            if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                return Err(PublishError::Path {
                    path: final_dir.clone(),
                    source: HostPathError::WrongKind { path: final_dir, expected: "directory" },
                });
            }
            let old = format!(".berth-old-{}", uuid::Uuid::now_v7().simple());
            rustix::fs::renameat(&parent_fd, final_name.as_os_str(), &root_fd, old.as_str())
                .map_err(io_err(&final_dir))?;
            rustix::fs::renameat(&root_fd, tmp_name.as_str(), &parent_fd, final_name.as_os_str())
                .map_err(io_err(&final_dir))?;
            let _ = std::fs::remove_dir_all(output_dir.join(old));
        }
        Err(rustix::io::Errno::NOENT) => {
            rustix::fs::renameat(&root_fd, tmp_name.as_str(), &parent_fd, final_name.as_os_str())
                .map_err(io_err(&final_dir))?;
        }
        Err(e) => return Err(io_err(&final_dir)(e)),
    }
    guard.disarm();
    Ok(published)
}

/// Removes the half-made directory unless disarmed (`remove_dir_all` does not follow links).
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Publishes the entry `name` of `src_dir` as `name` in `dst_dir`; `shown` is its host path,
/// for messages.
fn copy_entry(
    src_dir: &OwnedFd,
    name: &OsStr,
    dst_dir: &OwnedFd,
    shown: &Path,
    depth: usize,
) -> Result<(), PublishError> {
    let st = rustix::fs::statat(src_dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(io_err(shown))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Symlink => {
            // Published as a link: its text, verbatim, never resolved on the host.
            let target = rustix::fs::readlinkat(src_dir, name, Vec::new()).map_err(io_err(shown))?;
            let target = OsString::from_vec(target.into_bytes());
            match rustix::fs::symlinkat(target.as_os_str(), dst_dir, name) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
                Err(e) => Err(io_err(shown)(e)),
            }
        }
        FileType::RegularFile => {
            // A set-user-ID or set-group-ID file is copied without those bits, never shared.
            if st.st_mode & 0o6000 != 0 {
                return copy_file(src_dir, name, dst_dir, shown, st.st_mode);
            }
            // Without AT_SYMLINK_FOLLOW, linkat links the entry itself (were it swapped for a
            // link meanwhile, the link, not its target).
            match rustix::fs::linkat(src_dir, name, dst_dir, name, AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
                Err(_) => copy_file(src_dir, name, dst_dir, shown, st.st_mode),
            }
        }
        FileType::Directory => {
            if depth >= MAX_DEPTH {
                return Err(PublishError::TooDeep { path: shown.to_path_buf() });
            }
            match rustix::fs::mkdirat(dst_dir, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(io_err(shown)(e)),
            }
            let dir_flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let src =
                rustix::fs::openat(src_dir, name, OFlags::RDONLY | dir_flags, Mode::empty()).map_err(io_err(shown))?;
            let dst =
                rustix::fs::openat(dst_dir, name, OFlags::PATH | dir_flags, Mode::empty()).map_err(io_err(shown))?;
            let reader = rustix::fs::Dir::read_from(&src).map_err(io_err(shown))?;
            for entry in reader {
                let entry = entry.map_err(io_err(shown))?;
                let child = OsStr::from_bytes(entry.file_name().to_bytes());
                if child == "." || child == ".." {
                    continue;
                }
                copy_entry(&src, child, &dst, &shown.join(child), depth + 1)?;
            }
            Ok(())
        }
        FileType::CharacterDevice | FileType::BlockDevice => {
            Err(PublishError::Special { path: shown.to_path_buf(), kind: "device" })
        }
        FileType::Fifo => Err(PublishError::Special { path: shown.to_path_buf(), kind: "FIFO" }),
        FileType::Socket => Err(PublishError::Special { path: shown.to_path_buf(), kind: "socket" }),
        FileType::Unknown => Err(PublishError::Special { path: shown.to_path_buf(), kind: "file of unknown type" }),
    }
}

/// Copies the regular file `name` (when it cannot be hard-linked: another file system, or a
/// file the kernel will not link for us), opened without following links.
fn copy_file(src_dir: &OwnedFd, name: &OsStr, dst_dir: &OwnedFd, shown: &Path, mode: u32) -> Result<(), PublishError> {
    let from = rustix::fs::openat(
        src_dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err(shown))?;
    let st = rustix::fs::fstat(&from).map_err(io_err(shown))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(PublishError::Special { path: shown.to_path_buf(), kind: "file that changed type" });
    }
    let to = rustix::fs::openat(
        dst_dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode & 0o755),
    )
    .map_err(io_err(shown))?;
    let mut from = std::fs::File::from(from);
    let mut to = std::fs::File::from(to);
    io::copy(&mut from, &mut to).map_err(|source| PublishError::Io { path: shown.to_path_buf(), source })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::symlink;

    /// A task directory `work/t` with the outputs a hostile tool might leave, a victim
    /// directory outside it, and an output directory `out`.
    fn world() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("work/t");
        let out = t.path().join("out");
        let victim = t.path().join("victim");
        std::fs::create_dir_all(base.join("res/sub")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::write(victim.join("secret"), b"other project").unwrap();
        std::fs::write(base.join("res/sub/a.txt"), b"a").unwrap();
        (t, base, out, victim)
    }

    fn leftovers(out: &Path) -> Vec<String> {
        std::fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".berth-"))
            .collect()
    }

    #[test]
    fn finding_03_links_a_tool_left_are_published_as_links_never_followed() {
        let (_t, base, out, victim) = world();
        // A link to a directory inside an output directory, a link as an output itself, and a
        // relative link climbing out.
        symlink(&victim, base.join("res/other-project")).unwrap();
        symlink(victim.join("secret"), base.join("direct")).unwrap();
        symlink("../../../victim/secret", base.join("res/sub/up")).unwrap();
        let outputs = vec![base.join("res"), base.join("direct")];
        let published = publish(&out, Path::new("step/sub-01"), &base, &outputs).unwrap();
        let dest = out.join("step/sub-01");
        assert_eq!(published, vec![dest.join("res"), dest.join("direct")]);
        assert_eq!(std::fs::read(dest.join("res/sub/a.txt")).unwrap(), b"a");
        for (link, target) in [
            ("res/other-project", victim.as_os_str().to_owned()),
            ("direct", victim.join("secret").into_os_string()),
            ("res/sub/up", "../../../victim/secret".into()),
        ] {
            let m = std::fs::symlink_metadata(dest.join(link)).unwrap();
            assert!(m.file_type().is_symlink(), "{link} was not published as a link");
            assert_eq!(std::fs::read_link(dest.join(link)).unwrap().into_os_string(), target);
        }
        // Nothing of the victim's tree was linked or copied: its file has one link.
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(victim.join("secret")).unwrap().nlink(), 1);
        assert!(leftovers(&out).is_empty());
    }

    #[test]
    fn finding_03_an_output_reached_through_a_link_is_refused_and_nothing_is_left() {
        let (_t, base, out, victim) = world();
        symlink(&victim, base.join("linked")).unwrap();
        let outputs = vec![base.join("res"), base.join("linked/secret")];
        let e = publish(&out, Path::new("step"), &base, &outputs).unwrap_err();
        assert!(matches!(&e, PublishError::Path { source: HostPathError::Link { .. }, .. }), "{e:?}");
        assert!(e.to_string().contains("linked/secret"), "{e}");
        assert!(!out.join("step").exists());
        assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
        assert_eq!(
            std::fs::metadata(victim.join("secret")).map(|m| std::os::unix::fs::MetadataExt::nlink(&m)).unwrap(),
            1
        );
    }

    #[test]
    fn finding_03_special_files_and_outside_outputs_are_refused_by_name() {
        let (_t, base, out, _victim) = world();
        let fifo = base.join("res/pipe");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        let e = publish(&out, Path::new("step"), &base, &[base.join("res")]).unwrap_err();
        assert!(matches!(&e, PublishError::Special { kind: "FIFO", .. }), "{e:?}");
        assert!(e.to_string().contains("res/pipe"), "{e}");
        assert!(leftovers(&out).is_empty());
        let e = publish(&out, Path::new("step"), &base, &[base.join("../t/res")]).unwrap_err();
        assert!(matches!(e, PublishError::Outside { .. }), "{e:?}");
        let e = publish(&out, Path::new("../escape"), &base, &[base.join("res/sub")]).unwrap_err();
        assert!(matches!(e, PublishError::Path { .. }), "{e:?}");
    }

    #[test]
    fn republishing_replaces_the_old_tree_and_a_linked_step_dir_is_refused() {
        let (t, base, out, victim) = world();
        publish(&out, Path::new("step/sub-01"), &base, &[base.join("res")]).unwrap();
        std::fs::write(base.join("res/sub/b.txt"), b"b").unwrap();
        publish(&out, Path::new("step/sub-01"), &base, &[base.join("res")]).unwrap();
        assert!(out.join("step/sub-01/res/sub/b.txt").is_file());
        assert!(leftovers(&out).is_empty());
        // A step directory that became a link is not followed.
        std::fs::remove_dir_all(out.join("step")).unwrap();
        symlink(&victim, out.join("step")).unwrap();
        assert!(publish(&out, Path::new("step/sub-01"), &base, &[base.join("res")]).is_err());
        assert!(!victim.join("sub-01").exists());
        assert!(leftovers(&out).is_empty());
        drop(t);
    }
}
