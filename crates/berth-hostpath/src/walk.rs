//! Walking a tree beneath a [`Root`] one directory at a time, each opened from its parent's
//! descriptor: a subdirectory is opened by name with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`, so a directory swapped for a link is refused, and a
//! mount point (a `proc` mounted in a chroot) is reported as another file system instead of
//! entered; entries come from `getdents64` with their types (no `stat` per entry). How
//! berth-inventory reads a root filesystem of tens of thousands of files.

use std::ffi::{OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, ResolveFlags};

use crate::Root;

/// One directory opened for a walk (see [`Root::walk_dir`]).
#[derive(Debug)]
pub struct WalkDir {
    fd: OwnedFd,
    /// The root's device, checked by hand where the kernel has no `openat2`.
    device: u64,
}

/// What opening a subdirectory found.
#[derive(Debug)]
pub enum Subdir {
    /// It is open.
    Opened(WalkDir),
    /// It is a mount point of another file system (or a bind mount): not entered.
    OtherFileSystem,
    /// It is no longer a directory here (removed, or swapped for a link or a file).
    Gone,
}

impl Root {
    /// The root directory itself, opened to walk beneath it.
    pub fn walk_dir(&self) -> io::Result<WalkDir> {
        let fd =
            rustix::fs::openat(&self.fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let device = rustix::fs::fstat(&fd)?.st_dev;
        Ok(WalkDir { fd, device })
    }

    /// The directory `rel` beneath the root (`""` is the root), opened to walk or to look at
    /// its entries by name: every component opened as [`WalkDir::subdir`] opens one — never
    /// through a link, never onto another file system.
    pub fn walk_dir_at(&self, rel: &std::path::Path) -> io::Result<Subdir> {
        let mut dir = self.walk_dir()?;
        let mut names = Vec::new();
        for part in rel.components() {
            match part {
                std::path::Component::Normal(name) => names.push(name),
                std::path::Component::CurDir => {}
                _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a relative path beneath the root")),
            }
        }
        if names.is_empty() {
            return Ok(Subdir::Opened(dir));
        }
        // One `openat2` for the whole path where the kernel has it; else one component at a time.
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
        let joined: std::path::PathBuf = names.iter().collect();
        match rustix::fs::openat2(&dir.fd, &joined, flags, Mode::empty(), resolve) {
            Ok(fd) => return Ok(Subdir::Opened(WalkDir { fd, device: dir.device })),
            Err(rustix::io::Errno::XDEV) => return Ok(Subdir::OtherFileSystem),
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR | rustix::io::Errno::NOENT) => {
                return Ok(Subdir::Gone);
            }
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM | rustix::io::Errno::AGAIN) => {}
            Err(e) => return Err(e.into()),
        }
        for name in names {
            match dir.subdir(name)? {
                Subdir::Opened(next) => dir = next,
                other => return Ok(other),
            }
        }
        Ok(Subdir::Opened(dir))
    }
}

impl WalkDir {
    /// The entries (names and types, `.` and `..` left out), in the order the file system
    /// gives them. A type the file system does not report is asked with `fstatat`, without
    /// following a link.
    ///
    /// Reads the directory through this descriptor once (its position is not rewound: what
    /// the walk does with it afterwards, `openat` and friends, does not use the position).
    pub fn entries(&self) -> io::Result<Vec<(OsString, FileType)>> {
        thread_local! {
            // glibc's `readdir` buffer size: one `getdents64` for most directories; one buffer
            // per thread, not one allocation per directory.
            static BUF: std::cell::RefCell<Vec<MaybeUninit<u8>>> =
                std::cell::RefCell::new(vec![MaybeUninit::uninit(); 32 * 1024]);
        }
        BUF.with_borrow_mut(|buf| self.read_entries(buf))
    }

    fn read_entries(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<Vec<(OsString, FileType)>> {
        let mut dir = RawDir::new(&self.fd, buf);
        let mut out = Vec::new();
        while let Some(entry) = dir.next() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = OsStr::from_bytes(name).to_owned();
            let kind = match entry.file_type() {
                FileType::Unknown => rustix::fs::statat(&self.fd, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_or(FileType::Unknown, |st| FileType::from_raw_mode(st.st_mode)),
                k => k,
            };
            out.push((name, kind));
        }
        Ok(out)
    }

    /// Opens the subdirectory `name` (one component), never through a link, never onto another
    /// file system.
    pub fn subdir(&self, name: &OsStr) -> io::Result<Subdir> {
        if !is_component(name) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a single path component"));
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
        let opened = match rustix::fs::openat2(&self.fd, name, flags, Mode::empty(), resolve) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::XDEV) => return Ok(Subdir::OtherFileSystem),
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR | rustix::io::Errno::NOENT) => {
                return Ok(Subdir::Gone);
            }
            // No openat2 (an old kernel, or a seccomp profile): O_NOFOLLOW and the device by hand.
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM | rustix::io::Errno::AGAIN) => {
                match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
                    Ok(fd) => {
                        if rustix::fs::fstat(&fd)?.st_dev != self.device {
                            return Ok(Subdir::OtherFileSystem);
                        }
                        fd
                    }
                    Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR | rustix::io::Errno::NOENT) => {
                        return Ok(Subdir::Gone);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Subdir::Opened(WalkDir { fd: opened, device: self.device }))
    }

    /// The target of the link `name`.
    pub fn read_link(&self, name: &OsStr) -> io::Result<OsString> {
        let target = rustix::fs::readlinkat(&self.fd, name, Vec::new())?;
        Ok(OsStr::from_bytes(target.as_bytes()).to_owned())
    }

    /// `fstatat` of `name`, a link not followed.
    pub fn stat(&self, name: &OsStr) -> io::Result<rustix::fs::Stat> {
        Ok(rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)?)
    }

    /// Opens the regular file `name` for reading: never through a link, non-blocking (a file
    /// swapped for a FIFO does not hang the walk), and refused unless it is a regular file.
    pub fn open_file(&self, name: &OsStr) -> io::Result<std::fs::File> {
        if !is_component(name) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a single path component"));
        }
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        Ok(std::fs::File::from(fd))
    }
}

impl AsFd for WalkDir {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn is_component(name: &OsStr) -> bool {
    let b = name.as_bytes();
    !b.is_empty() && b != b"." && b != b".." && !b.contains(&b'/') && !b.contains(&0)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn a_walk_lists_types_opens_subdirectories_and_refuses_links() {
        let tmp = tempfile::tempdir().expect("tmp");
        let d = tmp.path();
        std::fs::create_dir_all(d.join("a/b")).expect("dirs");
        std::fs::write(d.join("a/f.txt"), "x").expect("file");
        std::os::unix::fs::symlink("/etc", d.join("a/up")).expect("link");
        std::os::unix::fs::symlink("b", d.join("a/down")).expect("link");
        let root = Root::open(d).expect("root");
        let top = root.walk_dir().expect("walk");
        let Subdir::Opened(a) = top.subdir(OsStr::new("a")).expect("a") else { panic!("a not opened") };
        let mut entries = a.entries().expect("entries");
        entries.sort_by(|x, y| x.0.cmp(&y.0));
        let names: Vec<_> = entries.iter().map(|(n, k)| (n.to_str().expect("utf-8"), *k)).collect();
        assert_eq!(
            names,
            [
                ("b", FileType::Directory),
                ("down", FileType::Symlink),
                ("f.txt", FileType::RegularFile),
                ("up", FileType::Symlink)
            ]
        );
        // A link to a directory, inside or outside, is never entered.
        assert!(matches!(a.subdir(OsStr::new("up")).expect("up"), Subdir::Gone));
        assert!(matches!(a.subdir(OsStr::new("down")).expect("down"), Subdir::Gone));
        assert!(matches!(a.subdir(OsStr::new("missing")).expect("missing"), Subdir::Gone));
        assert!(a.subdir(OsStr::new("..")).is_err());
        assert!(a.subdir(OsStr::new("b/..")).is_err());
        assert_eq!(a.read_link(OsStr::new("up")).expect("readlink"), OsString::from("/etc"));
        assert!(a.open_file(OsStr::new("up")).is_err(), "a link is not opened");
        assert!(a.open_file(OsStr::new("b")).is_err(), "a directory is not a file");
        assert_eq!(io::read_to_string(a.open_file(OsStr::new("f.txt")).expect("open")).expect("read"), "x");
    }

    #[test]
    fn a_directory_beneath_the_root_is_opened_through_no_link() {
        let tmp = tempfile::tempdir().expect("tmp");
        let d = tmp.path();
        std::fs::create_dir_all(d.join("usr/lib/x")).expect("dirs");
        std::fs::write(d.join("usr/lib/x/f"), "x").expect("file");
        std::os::unix::fs::symlink("usr/lib", d.join("lib")).expect("link");
        std::os::unix::fs::symlink("/usr", d.join("usr/up")).expect("link");
        let root = Root::open(d).expect("root");
        let Subdir::Opened(x) = root.walk_dir_at(Path::new("usr/lib/x")).expect("x") else { panic!("x not opened") };
        assert_eq!(x.stat(OsStr::new("f")).expect("stat").st_size, 1);
        assert!(matches!(root.walk_dir_at(Path::new("")).expect("root"), Subdir::Opened(_)));
        // A link on the way, relative or absolute, is not followed; neither is `..`.
        assert!(matches!(root.walk_dir_at(Path::new("lib/x")).expect("lib/x"), Subdir::Gone));
        assert!(matches!(root.walk_dir_at(Path::new("usr/up/lib")).expect("usr/up"), Subdir::Gone));
        assert!(matches!(root.walk_dir_at(Path::new("usr/none")).expect("none"), Subdir::Gone));
        assert!(root.walk_dir_at(Path::new("usr/../..")).is_err());
        assert!(root.walk_dir_at(Path::new("/usr")).is_err());
    }

    #[test]
    fn a_mount_point_is_another_file_system() {
        // /proc is its own file system under / on every Linux this runs on.
        let root = Root::open(Path::new("/")).expect("root");
        let top = root.walk_dir().expect("walk");
        assert!(matches!(top.subdir(OsStr::new("proc")).expect("proc"), Subdir::OtherFileSystem));
    }
}
