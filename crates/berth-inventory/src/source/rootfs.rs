//! A root filesystem directory as one layer: walked without following links, so a link in it
//! never leads berth to read a file of the host.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use berth_hostpath::{FileType, Subdir, WalkDir};

use crate::budget::{ENTRY_COST, Meter, SkipReason, Skipped};
use crate::error::SourceError;
use crate::fs::{Entry, LayerFiles};

/// Walk `root` and return what analyzers need: the contents of required files, and every
/// symbolic link. Other file systems mounted inside it (a `proc` in a chroot) are not entered.
/// What is kept and read is bounded by `meter`'s limits, as for a layer.
///
/// Each directory is opened from its parent's descriptor by name, never through a link and
/// never onto another file system (berth-hostpath's [`WalkDir`]), and listed with the types the
/// file system gives: no path is resolved from the root again, and nothing is stat-ed but the
/// files analyzers read. Directories are read by as many threads as the machine has cores (at
/// most four), taking them from one shared queue: reading directories is most of the time a
/// root filesystem takes, and the kernel reads them in parallel. The result does not depend on
/// the order.
pub fn walk(root: &Path, required: &(dyn Fn(&str) -> bool + Sync), meter: &Meter) -> Result<LayerFiles, SourceError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SourceError::Io { path, source }
    };
    let beneath = berth_hostpath::Root::open(root).map_err(|e| SourceError::Layout {
        path: root.to_owned(),
        name: ".".to_owned(),
        source: e,
    })?;
    let top = beneath.walk_dir().map_err(io(root))?;
    let walk = Walk {
        root,
        required,
        meter,
        held: AtomicU64::new(0),
        queue: Mutex::new(Queue { dirs: vec![Pending::Open(top, String::new())], busy: 0, failed: None }),
        ready: Condvar::new(),
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
    let parts: Vec<LayerFiles> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers).map(|_| s.spawn(|| walk.work())).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let queue = walk.queue.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(e) = queue.failed {
        return Err(e);
    }
    let mut files = LayerFiles::default();
    for part in parts {
        files.entries.extend(part.entries);
        files.unchecked.extend(part.unchecked);
        files.skipped.extend(part.skipped);
    }
    files.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// A directory to read: the root (open), or a subdirectory to open from its parent. A parent
/// stays open while a subdirectory of it waits (a handful at a time: the queue is a stack).
enum Pending {
    Open(WalkDir, String),
    Child(Arc<WalkDir>, OsString, String),
}

/// Directories still to read, how many workers are reading one, and the first error.
struct Queue {
    dirs: Vec<Pending>,
    busy: usize,
    failed: Option<SourceError>,
}

struct Walk<'a> {
    root: &'a Path,
    required: &'a (dyn Fn(&str) -> bool + Sync),
    meter: &'a Meter,
    /// Bytes of paths, links and contents held so far, by all workers.
    held: AtomicU64,
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Walk<'_> {
    /// One worker: take a directory, read it, queue its subdirectories; until none is left and
    /// no worker is reading one, or one failed.
    fn work(&self) -> LayerFiles {
        let mut files = LayerFiles::default();
        let mut subdirs = Vec::new();
        loop {
            let next = {
                let mut q = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                loop {
                    if q.failed.is_some() {
                        return files;
                    }
                    if let Some(next) = q.dirs.pop() {
                        q.busy += 1;
                        break next;
                    }
                    if q.busy == 0 {
                        self.ready.notify_all();
                        return files;
                    }
                    q = self.ready.wait(q).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            let result = self.read_pending(next, &mut files, &mut subdirs);
            let mut q = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            q.busy -= 1;
            let queued = !subdirs.is_empty();
            match result {
                Ok(()) => q.dirs.append(&mut subdirs),
                Err(e) => {
                    q.failed.get_or_insert(e);
                }
            }
            // Others wait only for work, or for the end.
            if queued || q.busy == 0 || q.failed.is_some() {
                self.ready.notify_all();
            }
        }
    }

    fn read_pending(
        &self,
        next: Pending,
        files: &mut LayerFiles,
        subdirs: &mut Vec<Pending>,
    ) -> Result<(), SourceError> {
        let (dir, rel) = match next {
            Pending::Open(dir, rel) => (dir, rel),
            Pending::Child(parent, name, rel) => match parent.subdir(&name) {
                Ok(Subdir::Opened(dir)) => (dir, rel),
                // Another file system, or no longer a directory (a link now): not entered.
                Ok(Subdir::OtherFileSystem | Subdir::Gone) => return Ok(()),
                // An unreadable directory deep inside (permissions) is not fatal for the root.
                Err(_) => return Ok(()),
            },
        };
        self.read_dir(dir, &rel, files, subdirs)
    }

    /// Adds `bytes` to what is held; the error when that passes the limit.
    fn hold(&self, bytes: u64) -> Result<u64, SourceError> {
        let held = self.held.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
        if held > self.meter.limits.max_held_bytes {
            return Err(SourceError::HeldLimit {
                path: self.root.to_owned(),
                what: "the root filesystem".to_owned(),
                limit: self.meter.limits.max_held_bytes,
            });
        }
        Ok(held)
    }

    /// Reads one directory: links and required files into `files`, other files listed as
    /// unchecked, subdirectories into `subdirs` (opened when their turn comes).
    fn read_dir(
        &self,
        dir: WalkDir,
        rel: &str,
        files: &mut LayerFiles,
        subdirs: &mut Vec<Pending>,
    ) -> Result<(), SourceError> {
        let host = |name: &OsStr| self.root.join(rel).join(name);
        let limits = self.meter.limits;
        let entries = match dir.entries() {
            Ok(e) => e,
            // An unreadable directory deep inside (permissions) is not fatal for the root.
            Err(_) if !rel.is_empty() => return Ok(()),
            Err(e) => return Err(SourceError::Io { path: self.root.to_owned(), source: e }),
        };
        let dir = Arc::new(dir);
        for (name, kind) in entries {
            let text = name.to_string_lossy();
            let path = if rel.is_empty() {
                text.into_owned()
            } else {
                let mut p = String::with_capacity(rel.len() + 1 + text.len());
                p.push_str(rel);
                p.push('/');
                p.push_str(&text);
                p
            };
            match kind {
                FileType::Directory => subdirs.push(Pending::Child(dir.clone(), name, path)),
                FileType::Symlink => {
                    let target =
                        dir.read_link(&name).map_err(|source| SourceError::Io { path: host(&name), source })?;
                    let target = target.to_string_lossy().into_owned();
                    self.hold((path.len() + target.len()) as u64 + ENTRY_COST)?;
                    files.entries.insert(path, Entry::Symlink(target));
                }
                FileType::RegularFile if !(self.required)(&path) => {
                    // Not stated here: the unowned-binary pass looks at the few no package claims.
                    self.hold(path.len() as u64)?;
                    files.unchecked.push(path);
                }
                FileType::RegularFile => {
                    let metadata = dir.stat(&name).map_err(|e| SourceError::Io { path: host(&name), source: e })?;
                    let binary = metadata.st_mode & 0o111 != 0 || crate::binary::is_library_name(&path);
                    let size = u64::try_from(metadata.st_size).unwrap_or(0);
                    let held = self.hold(path.len() as u64 + ENTRY_COST)?;
                    let reason = if size > limits.max_file_bytes {
                        Some(SkipReason::FileLimit)
                    } else if held.saturating_add(size) > limits.max_held_bytes {
                        Some(SkipReason::HeldLimit)
                    } else {
                        None
                    };
                    if let Some(reason) = reason {
                        files.skipped.push(Skipped { path: path.clone(), size, reason });
                        files.entries.insert(path, Entry::File { content: None, binary });
                        continue;
                    }
                    // The file may grow after the stat: read no more than was allowed for.
                    let mut content = Vec::with_capacity(size as usize);
                    let file = dir.open_file(&name).map_err(|source| SourceError::Io { path: host(&name), source })?;
                    file.take(size)
                        .read_to_end(&mut content)
                        .map_err(|source| SourceError::Io { path: host(&name), source })?;
                    // Allowed for above (the size before reading).
                    self.held.fetch_add(content.len() as u64, Ordering::Relaxed);
                    self.meter.consume(content.len() as u64).map_err(|_| SourceError::ReadLimit {
                        path: self.root.to_owned(),
                        what: format!("`{path}`"),
                        limit: limits.max_read_bytes,
                    })?;
                    let binary = binary && crate::binary::is_elf(&content);
                    files.entries.insert(path, Entry::File { content: Some(Arc::from(content)), binary });
                }
                _ => {}
            }
        }
        Ok(())
    }
}
