//! SHA-256 of files and directories, with a cache keyed by inode metadata.
//!
//! A file hashes to the SHA-256 of its bytes, the same digest `sha256sum` prints. A directory
//! hashes to a manifest — every entry below it, sorted by relative path, files with size and
//! SHA-256, symbolic links with their target (never followed), subdirectories by name — plus
//! the SHA-256 of the manifest's canonical text ([`manifest_text`]). FIFOs, sockets and device
//! files are refused: reading them could block forever or never end.
//!
//! The cache ([`HashCache`], implemented by [`Store`](crate::Store) over its `hash_cache`
//! table) maps a file's device, inode, size, mtime and ctime to its digest. Writing to a file
//! changes its mtime and ctime, and the kernel sets ctime itself (no `touch` can set it back), so
//! an entry whose five values still match describes the same bytes. One hole remains:
//! timestamps come from a coarse clock (a timer tick; up to 2 s on some file systems), so a
//! file written again within the same tick as the hash keeps all five values. As git does for
//! its index ("racy git"), a digest is therefore only cached when the file's mtime and ctime
//! are older than [`Hasher::racy_window`] (2 s by default) at the time reading began.
//!
//! The digest is `sha2`'s: measured on this project's 2-core machine with SHA-NI, `sha2` 0.11
//! and `ring` 0.17 both hash about 1.7 GB/s in memory, so the pure-Rust crate (no C or
//! assembly to build; the SHA-NI code is selected at run time) wins.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{EntryKind, FileKind, FileRecord, FileRole, ManifestEntry};

/// A boxed error from a cache implementation, kept as the `source` of [`HashError::Cache`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The first line of a manifest's canonical text; bumped if the format ever changes.
pub const MANIFEST_HEADER: &str = "berth-manifest-v1";

/// The default read size: large reads keep the per-call overhead negligible next to the hash.
pub const DEFAULT_BUFFER_SIZE: usize = 1 << 20;

/// The default [`Hasher::racy_window`].
pub const DEFAULT_RACY_WINDOW: Duration = Duration::from_secs(2);

/// What identifies one state of one file: when all five match, the bytes are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CacheKey {
    /// The device the file is on (`st_dev`).
    pub dev: u64,
    /// The inode number (`st_ino`).
    pub ino: u64,
    /// The size in bytes.
    pub size: u64,
    /// The last modification time, in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// The last status change time, in nanoseconds since the epoch.
    pub ctime_ns: i64,
}

impl CacheKey {
    /// The key of the file `m` describes.
    pub fn from_metadata(m: &Metadata) -> CacheKey {
        let ns = |secs: i64, nanos: i64| secs.saturating_mul(1_000_000_000).saturating_add(nanos);
        CacheKey {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        }
    }

    /// The later of mtime and ctime, as a time.
    fn last_change(&self) -> Option<SystemTime> {
        let ns = self.mtime_ns.max(self.ctime_ns);
        u64::try_from(ns).ok().map(|ns| UNIX_EPOCH + Duration::from_nanos(ns))
    }
}

/// Where digests of unchanged files are remembered. Shared by the threads of one hash.
pub trait HashCache: Sync {
    /// The digest (lowercase hex) recorded for exactly this key, if any.
    fn lookup(&self, key: &CacheKey) -> Result<Option<String>, BoxError>;
    /// Records digests, replacing what was recorded for the same device and inode.
    fn insert(&self, entries: &[(CacheKey, String)]) -> Result<(), BoxError>;
}

/// No cache: every file is read every time.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCache;

impl HashCache for NoCache {
    fn lookup(&self, _key: &CacheKey) -> Result<Option<String>, BoxError> {
        Ok(None)
    }

    fn insert(&self, _entries: &[(CacheKey, String)]) -> Result<(), BoxError> {
        Ok(())
    }
}

/// A cache in memory, for one process (the store's cache persists across processes).
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<(u64, u64), (CacheKey, String)>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> MemoryCache {
        MemoryCache::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, u64), (CacheKey, String)>> {
        // A panic elsewhere cannot leave a map entry half-written, so the data stays usable.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl HashCache for MemoryCache {
    fn lookup(&self, key: &CacheKey) -> Result<Option<String>, BoxError> {
        Ok(self.entries().get(&(key.dev, key.ino)).filter(|(k, _)| k == key).map(|(_, d)| d.clone()))
    }

    fn insert(&self, entries: &[(CacheKey, String)]) -> Result<(), BoxError> {
        let mut map = self.entries();
        for (key, digest) in entries {
            map.insert((key.dev, key.ino), (*key, digest.clone()));
        }
        Ok(())
    }
}

/// A kind of file berth refuses to hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpecialKind {
    /// A named pipe.
    Fifo,
    /// A unix socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Something else that is neither file, directory nor link.
    Other,
}

impl std::fmt::Display for SpecialKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SpecialKind::Fifo => "a named pipe (FIFO)",
            SpecialKind::Socket => "a socket",
            SpecialKind::CharDevice => "a character device",
            SpecialKind::BlockDevice => "a block device",
            SpecialKind::Other => "neither a file, a directory nor a symbolic link",
        })
    }
}

impl SpecialKind {
    fn of(ft: std::fs::FileType) -> SpecialKind {
        if ft.is_fifo() {
            SpecialKind::Fifo
        } else if ft.is_socket() {
            SpecialKind::Socket
        } else if ft.is_char_device() {
            SpecialKind::CharDevice
        } else if ft.is_block_device() {
            SpecialKind::BlockDevice
        } else {
            SpecialKind::Other
        }
    }
}

/// Everything that can go wrong hashing a path.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Nothing exists at the path.
    #[error("`{}` does not exist", path.display())]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },

    /// A file system call failed.
    #[error("{operation} `{}` failed", path.display())]
    Io {
        /// What was being done: `reading the metadata of`, `opening`, `reading`, `listing`,
        /// `reading the link`.
        operation: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },

    /// The path is a FIFO, a socket or a device.
    #[error("`{}` is {kind}; berth hashes only files, directories and symbolic links", path.display())]
    SpecialFile {
        /// The offending path.
        path: PathBuf,
        /// What it is.
        kind: SpecialKind,
    },

    /// A name below a directory (or a link's target) is not UTF-8, so it cannot be recorded
    /// in the manifest's text form.
    #[error("`{}` is not valid UTF-8; berth records only UTF-8 names in directory manifests", path.display())]
    NonUtf8Name {
        /// The offending path.
        path: PathBuf,
    },

    /// The file changed (or was replaced) while it was being hashed, so the digest describes
    /// no single state of it.
    #[error("`{}` changed while it was being hashed", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },

    /// The cache failed.
    #[error("the hash cache failed")]
    Cache {
        /// The cache's error.
        #[source]
        source: BoxError,
    },
}

impl HashError {
    /// What the user can do about this error, if there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            HashError::SpecialFile { .. } => {
                Some("give a regular file or a directory; copy the data out of a pipe or device first".to_owned())
            }
            HashError::NonUtf8Name { .. } => Some("rename the file to a UTF-8 name".to_owned()),
            HashError::Changed { .. } => Some(
                "make sure nothing writes to the file while berth records it (is a tool still running?)".to_owned(),
            ),
            HashError::NotFound { .. } | HashError::Io { .. } | HashError::Cache { .. } => None,
        }
    }

    fn io(operation: &'static str, path: &Path, source: io::Error) -> HashError {
        if source.kind() == io::ErrorKind::NotFound {
            HashError::NotFound { path: path.to_owned() }
        } else {
            HashError::Io { operation, path: path.to_owned(), source }
        }
    }
}

/// Whether a hashed path was a file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathKind {
    /// A regular file (reached through any symbolic links in the path given).
    File,
    /// A directory.
    Dir,
}

/// How much work a hash took: tests and benchmarks read it to see the cache at work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashStats {
    /// Regular files hashed (read or found in the cache).
    pub files: u64,
    /// Files whose digest came from the cache.
    pub cache_hits: u64,
    /// Bytes read from files.
    pub bytes_read: u64,
}

/// The hash of a file or a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathHash {
    /// File or directory.
    pub kind: PathKind,
    /// A file's size, or the total size of a directory's files.
    pub size: u64,
    /// SHA-256 (lowercase hex) of a file, or of a directory's [`manifest_text`].
    pub sha256: String,
    /// A directory's entries, sorted by path.
    pub manifest: Option<Vec<ManifestEntry>>,
    /// How much work it took.
    pub stats: HashStats,
}

/// The canonical text of a manifest, whose SHA-256 is the directory's digest.
///
/// The first line is [`MANIFEST_HEADER`]; then one line per entry, in the order given (the
/// hasher sorts by path, comparing bytes): `file <size> <sha256> <path>`, `dir <path>` or
/// `symlink <path> <target>`, fields separated by one space, each line ending in `\n`. Paths and
/// targets are JSON strings (as `serde_json` writes them), so spaces, newlines and quotes in
/// names cannot make two manifests read alike.
pub fn manifest_text(entries: &[ManifestEntry]) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let mut text = String::with_capacity(32 + entries.len() * 100);
    text.push_str(MANIFEST_HEADER);
    text.push('\n');
    for e in entries {
        let line = match e.kind {
            EntryKind::File => {
                format!("file {} {} {}\n", e.size, e.sha256.as_deref().unwrap_or_default(), quote(&e.path))
            }
            EntryKind::Dir => format!("dir {}\n", quote(&e.path)),
            EntryKind::Symlink => {
                format!("symlink {} {}\n", quote(&e.path), quote(e.target.as_deref().unwrap_or_default()))
            }
        };
        text.push_str(&line);
    }
    text
}

/// The SHA-256 (lowercase hex) of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hashes `path` with default settings, remembering digests in `cache`.
pub fn hash_path(cache: &dyn HashCache, path: &Path) -> Result<PathHash, HashError> {
    Hasher::new(cache).hash_path(path)
}

/// Hashes files and directories; see the [module documentation](self).
#[derive(Clone, Copy)]
pub struct Hasher<'c> {
    cache: &'c dyn HashCache,
    racy_window: Duration,
    threads: usize,
    buffer_size: usize,
}

impl std::fmt::Debug for Hasher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("racy_window", &self.racy_window)
            .field("threads", &self.threads)
            .field("buffer_size", &self.buffer_size)
            .finish_non_exhaustive()
    }
}

/// The result of hashing one regular file.
struct FileDigest {
    sha256: String,
    size: u64,
    bytes_read: u64,
    hit: bool,
    /// What to add to the cache: a digest read from a file old enough to trust its timestamps.
    to_cache: Option<(CacheKey, String)>,
}

/// A file found while walking a directory, waiting to be hashed.
struct PendingFile {
    entry: usize,
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl<'c> Hasher<'c> {
    /// A hasher using `cache`, with the default racy window and buffer size, hashing the
    /// files of a directory on as many threads as there are cores, at most 4.
    pub fn new(cache: &'c dyn HashCache) -> Hasher<'c> {
        // Hashing is CPU-bound (about 650 MB/s per core here, with SHA-NI) while reading from
        // the page cache runs near 5 GB/s, so a second core hashes a second file nearly for
        // free. `bench/hash_vs_sha256sum.py` measures it; on the shared 2-core machine, with
        // other jobs keeping the load average at 5-6, the median speed-up of 2 threads over 1
        // was 1.01-1.02 and single samples reached 1.6 (1.36 s -> 0.85 s for 512 MiB): never
        // slower, sometimes much faster. The cap keeps a many-core server from issuing
        // dozens of parallel reads to one disk.
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(4);
        Hasher { cache, racy_window: DEFAULT_RACY_WINDOW, threads, buffer_size: DEFAULT_BUFFER_SIZE }
    }

    /// Caches a digest only when the file's mtime and ctime are at least `window` older than
    /// the moment reading began (see the [module documentation](self)). `Duration::ZERO`
    /// caches everything, trusting that nothing rewrites a file within one clock tick.
    pub fn racy_window(mut self, window: Duration) -> Hasher<'c> {
        self.racy_window = window;
        self
    }

    /// Hashes up to `threads` files of a directory at once (at least 1).
    pub fn threads(mut self, threads: usize) -> Hasher<'c> {
        self.threads = threads.max(1);
        self
    }

    /// Reads files `size` bytes at a time (at least 4 KiB).
    pub fn buffer_size(mut self, size: usize) -> Hasher<'c> {
        self.buffer_size = size.max(4096);
        self
    }

    /// Hashes a file or a directory. Symbolic links in `path` itself are followed; those
    /// inside a directory are recorded, not followed.
    pub fn hash_path(&self, path: &Path) -> Result<PathHash, HashError> {
        let meta = std::fs::metadata(path).map_err(|e| HashError::io("reading the metadata of", path, e))?;
        if meta.is_file() {
            let mut buf = vec![0; self.buffer_size];
            let d = self.hash_file(path, true, None, &mut buf)?;
            if let Some(entry) = &d.to_cache {
                self.cache.insert(std::slice::from_ref(entry)).map_err(|source| HashError::Cache { source })?;
            }
            let stats = HashStats { files: 1, cache_hits: u64::from(d.hit), bytes_read: d.bytes_read };
            Ok(PathHash { kind: PathKind::File, size: d.size, sha256: d.sha256, manifest: None, stats })
        } else if meta.is_dir() {
            self.hash_dir(path)
        } else {
            Err(HashError::SpecialFile { path: path.to_owned(), kind: SpecialKind::of(meta.file_type()) })
        }
    }

    fn hash_dir(&self, root: &Path) -> Result<PathHash, HashError> {
        // Inside a directory, a path that vanishes was there a moment ago (it was listed): the
        // directory changed under the hash, which is not the same as a missing output.
        let vanished = |e: HashError| match e {
            HashError::NotFound { path } => HashError::Changed { path },
            e => e,
        };
        let mut entries = Vec::new();
        let mut pending = Vec::new();
        walk(root, "", &mut entries, &mut pending).map_err(vanished)?;
        // Sort entries, then point the pending files at their new positions.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&a, &b| entries[a].path.cmp(&entries[b].path));
        let mut new_index = vec![0; entries.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        let mut sorted: Vec<Option<ManifestEntry>> = entries.into_iter().map(Some).collect();
        let mut entries: Vec<ManifestEntry> = order.iter().filter_map(|&old| sorted[old].take()).collect();
        for p in &mut pending {
            p.entry = new_index[p.entry];
        }
        pending.sort_by_key(|p| p.entry);

        let digests = self.hash_files(&pending).map_err(vanished)?;
        let mut stats = HashStats::default();
        let mut to_cache = Vec::new();
        let mut total = 0u64;
        for (p, d) in pending.iter().zip(digests) {
            let e = &mut entries[p.entry];
            e.size = d.size;
            e.sha256 = Some(d.sha256);
            total = total.saturating_add(d.size);
            stats.files += 1;
            stats.cache_hits += u64::from(d.hit);
            stats.bytes_read += d.bytes_read;
            to_cache.extend(d.to_cache);
        }
        if !to_cache.is_empty() {
            self.cache.insert(&to_cache).map_err(|source| HashError::Cache { source })?;
        }
        let sha256 = sha256_hex(manifest_text(&entries).as_bytes());
        Ok(PathHash { kind: PathKind::Dir, size: total, sha256, manifest: Some(entries), stats })
    }

    /// Hashes `files` on up to `self.threads` threads; the results are in the same order.
    fn hash_files(&self, files: &[PendingFile]) -> Result<Vec<FileDigest>, HashError> {
        let workers = self.threads.min(files.len());
        if workers <= 1 {
            let mut buf = vec![0; self.buffer_size];
            return files.iter().map(|f| self.hash_file(&f.path, false, Some((f.dev, f.ino)), &mut buf)).collect();
        }
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let mut results: Vec<Option<Result<FileDigest, HashError>>> = Vec::new();
        results.resize_with(files.len(), || None);
        let done = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut buf = vec![0; self.buffer_size];
                        let mut out = Vec::new();
                        while !failed.load(Ordering::Relaxed) {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(f) = files.get(i) else { break };
                            let r = self.hash_file(&f.path, false, Some((f.dev, f.ino)), &mut buf);
                            if r.is_err() {
                                failed.store(true, Ordering::Relaxed);
                            }
                            out.push((i, r));
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
        });
        for worker in done {
            // A panic in a worker is a bug in this module; let it surface as one.
            let out = worker.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (i, r) in out {
                results[i] = Some(r);
            }
        }
        // Report the first failure in path order, so that the error does not depend on timing.
        // Workers take indices in increasing order and finish every index they take, so every
        // file before the first failure has a result; `collect` stops at that failure.
        results.into_iter().map(|r| r.expect("every file before the first failure was hashed")).collect()
    }

    /// Hashes one regular file. `follow`: whether a symbolic link at `path` is followed (only
    /// for the path the caller gave). `expect`: the device and inode seen while walking, to
    /// notice a file replaced between the walk and the read.
    fn hash_file(
        &self,
        path: &Path,
        follow: bool,
        expect: Option<(u64, u64)>,
        buf: &mut [u8],
    ) -> Result<FileDigest, HashError> {
        let mut flags = libc::O_NONBLOCK; // never block opening a FIFO that replaced the file
        if !follow {
            flags |= libc::O_NOFOLLOW;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(path)
            .map_err(|e| HashError::io("opening", path, e))?;
        let before = file.metadata().map_err(|e| HashError::io("reading the metadata of", path, e))?;
        if !before.is_file() {
            if before.is_dir() || expect.is_some() {
                return Err(HashError::Changed { path: path.to_owned() });
            }
            return Err(HashError::SpecialFile { path: path.to_owned(), kind: SpecialKind::of(before.file_type()) });
        }
        let key = CacheKey::from_metadata(&before);
        if expect.is_some_and(|(dev, ino)| (dev, ino) != (key.dev, key.ino)) {
            return Err(HashError::Changed { path: path.to_owned() });
        }
        if let Some(sha256) = self.cache.lookup(&key).map_err(|source| HashError::Cache { source })? {
            return Ok(FileDigest { sha256, size: key.size, bytes_read: 0, hit: true, to_cache: None });
        }
        let started = SystemTime::now();
        let mut hasher = Sha256::new();
        let mut read = 0u64;
        loop {
            let n = match file.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(HashError::io("reading", path, e)),
            };
            hasher.update(&buf[..n]);
            read += n as u64;
        }
        let after = file.metadata().map_err(|e| HashError::io("reading the metadata of", path, e))?;
        if CacheKey::from_metadata(&after) != key || read != key.size {
            return Err(HashError::Changed { path: path.to_owned() });
        }
        let sha256 = hex::encode(hasher.finalize());
        let settled = key.last_change().and_then(|t| started.duration_since(t).ok()).is_some_and(|age| {
            // `duration_since` fails for a change in the future (clock skew): not settled.
            age >= self.racy_window
        });
        let to_cache = settled.then(|| (key, sha256.clone()));
        Ok(FileDigest { sha256, size: key.size, bytes_read: read, hit: false, to_cache })
    }
}

/// Lists everything below `dir` into `entries` (unsorted), and the regular files into `pending`.
fn walk(
    dir: &Path,
    prefix: &str,
    entries: &mut Vec<ManifestEntry>,
    pending: &mut Vec<PendingFile>,
) -> Result<(), HashError> {
    let listing = std::fs::read_dir(dir).map_err(|e| HashError::io("listing", dir, e))?;
    for item in listing {
        let item = item.map_err(|e| HashError::io("listing", dir, e))?;
        let path = item.path();
        let name = item.file_name();
        let name = name.to_str().ok_or_else(|| HashError::NonUtf8Name { path: path.clone() })?;
        let rel = if prefix.is_empty() { name.to_owned() } else { format!("{prefix}/{name}") };
        // lstat, not stat: links are recorded, never followed.
        let meta = std::fs::symlink_metadata(&path).map_err(|e| HashError::io("reading the metadata of", &path, e))?;
        let ft = meta.file_type();
        if ft.is_file() {
            pending.push(PendingFile { entry: entries.len(), path, dev: meta.dev(), ino: meta.ino() });
            entries.push(ManifestEntry {
                path: rel,
                kind: EntryKind::File,
                size: meta.size(),
                sha256: None,
                target: None,
            });
        } else if ft.is_dir() {
            entries.push(ManifestEntry {
                path: rel.clone(),
                kind: EntryKind::Dir,
                size: 0,
                sha256: None,
                target: None,
            });
            walk(&path, &rel, entries, pending)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| HashError::io("reading the link", &path, e))?;
            let target =
                target.into_os_string().into_string().map_err(|_| HashError::NonUtf8Name { path: path.clone() })?;
            entries.push(ManifestEntry {
                path: rel,
                kind: EntryKind::Symlink,
                size: target.len() as u64,
                sha256: None,
                target: Some(target),
            });
        } else {
            return Err(HashError::SpecialFile { path, kind: SpecialKind::of(ft) });
        }
    }
    Ok(())
}

impl FileRecord {
    /// The record of a hashed file or directory.
    pub fn from_hash(
        role: FileRole,
        key: impl Into<String>,
        path: impl Into<String>,
        container_path: Option<String>,
        hash: PathHash,
    ) -> FileRecord {
        FileRecord {
            role,
            key: key.into(),
            path: path.into(),
            container_path,
            kind: match hash.kind {
                PathKind::File => FileKind::File,
                PathKind::Dir => FileKind::Dir,
            },
            size: Some(hash.size),
            sha256: Some(hash.sha256),
            manifest: hash.manifest,
        }
    }

    /// The record of a path where nothing was found.
    pub fn missing(
        role: FileRole,
        key: impl Into<String>,
        path: impl Into<String>,
        container_path: Option<String>,
    ) -> FileRecord {
        FileRecord {
            role,
            key: key.into(),
            path: path.into(),
            container_path,
            kind: FileKind::Missing,
            size: None,
            sha256: None,
            manifest: None,
        }
    }

    /// Hashes `path` with `hasher` and records it; a path where nothing exists is recorded
    /// as [`FileKind::Missing`], every other failure is returned.
    pub fn hashed(
        hasher: &Hasher<'_>,
        role: FileRole,
        key: impl Into<String>,
        path: &Path,
        container_path: Option<String>,
    ) -> Result<FileRecord, HashError> {
        let text = path.to_string_lossy().into_owned();
        match hasher.hash_path(path) {
            Ok(hash) => Ok(FileRecord::from_hash(role, key, text, container_path, hash)),
            Err(HashError::NotFound { .. }) => Ok(FileRecord::missing(role, key, text, container_path)),
            Err(e) => Err(e),
        }
    }
}
