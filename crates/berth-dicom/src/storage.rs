//! Received instances on disk: the Part-10 file (128-byte preamble, `DICM`, a file meta group
//! berth writes, then the data set bytes exactly as received: never re-encoded), its place
//! `<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm` beneath the data root, the
//! duplicate rule, and the write: the data set is streamed to a temporary file in
//! [`INCOMING_DIR`] as it arrives (berth-hostpath's [`DurableFile`]), which is renamed into
//! place only whole — `fsync`ed first and its directory after with [`SyncMode::Always`] — so a
//! partial file is never visible under a `.dcm` name and an instance is never held whole in
//! memory.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use berth_hostpath::{
    DurableFile, Existing, FileType, HostPathError, Root, Staging, SyncMode, Written, is_durable_temp,
};
use dicom_object::FileMetaTableBuilder;

use crate::header::{self, Header, HeaderError};
use crate::settings::Duplicates;
use crate::uid::check_uid;

/// The implementation version name written in the file meta group (at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("BERTH_", env!("CARGO_PKG_VERSION"));

/// The directory beneath the data root where instances are written while they arrive (not a
/// UID, so never taken for a study).
pub const INCOMING_DIR: &str = ".berth-incoming";

/// Mode of the directories berth creates for studies and series.
const DIR_MODE: u32 = 0o755;

/// What a C-STORE command says the instance is, checked before anything is written.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    /// SOP Class UID.
    pub sop_class_uid: &'a str,
    /// SOP Instance UID.
    pub sop_instance_uid: &'a str,
    /// The negotiated transfer syntax.
    pub transfer_syntax: &'a str,
    /// The sender's AE title, kept as Source Application Entity Title.
    pub calling_ae: &'a str,
}

/// What [`Receiving::finish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Written (new, or replacing one by the rule `replace`); `size` is the file's.
    Written {
        /// Path relative to the data root.
        path: String,
        /// The file's size.
        size: u64,
        /// Whether it replaced a file.
        replaced: bool,
    },
    /// A duplicate answered with success and not written (`keep-first`, or the same bytes).
    Kept {
        /// Path relative to the data root.
        path: String,
        /// The stored file's size.
        size: u64,
    },
    /// A duplicate refused (`reject`, or other bytes under `reject-different`).
    Refused {
        /// Path relative to the data root.
        path: String,
    },
}

/// Why an instance could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A UID is not one (it would become a path component).
    #[error("{what} `{value}` is not a valid UID: {reason}")]
    Uid {
        /// Which UID.
        what: &'static str,
        /// The text received (at most 80 characters of it).
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// The file meta group could not be built.
    #[error("the file meta group cannot be built")]
    Meta {
        /// dicom-object's error.
        #[source]
        source: Box<dicom_object::meta::Error>,
    },
    /// Writing or reading beneath the data root failed.
    #[error(transparent)]
    HostPath(#[from] HostPathError),
}

impl StorageError {
    /// Whether the data root is out of space (or quota): the sender is told Out of Resources.
    pub fn is_no_space(&self) -> bool {
        match self {
            StorageError::HostPath(HostPathError::Io { source, .. }) => {
                // ENOSPC, EDQUOT.
                matches!(source.raw_os_error(), Some(28 | 122))
            }
            _ => false,
        }
    }
}

/// Checks `value` as a UID, for `what`.
pub fn uid<'a>(what: &'static str, value: &'a str) -> Result<&'a str, StorageError> {
    check_uid(value).map_err(|reason| StorageError::Uid { what, value: value.chars().take(80).collect(), reason })
}

/// The data root, opened once, the rule for duplicates and how durable a write is.
#[derive(Debug)]
pub struct InstanceStore {
    root: Root,
    staging: Staging,
    duplicates: Duplicates,
    sync: SyncMode,
}

impl InstanceStore {
    /// Opens `data_root` (a trusted directory: the project's configuration) and its
    /// [`INCOMING_DIR`] (created when missing).
    pub fn open(data_root: &Path, duplicates: Duplicates, sync: SyncMode) -> Result<Self, HostPathError> {
        let root = Root::open(data_root)?;
        let staging = root.staging(Path::new(INCOMING_DIR), DIR_MODE)?;
        Ok(Self { root, staging, duplicates, sync })
    }

    /// The data root's path.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Removes the temporary files a killed node left in [`INCOMING_DIR`] and in
    /// study/series directories (where earlier versions wrote them; only directories whose
    /// names are UIDs are entered, nothing else is touched). Returns how many were removed.
    pub fn sweep(&self) -> Result<usize, HostPathError> {
        let mut removed = 0;
        let uid_dirs = |rel: &Path| -> Result<Vec<PathBuf>, HostPathError> {
            Ok(self
                .root
                .list_dir(rel)?
                .into_iter()
                .filter(|e| e.kind == FileType::Directory)
                .filter_map(|e| e.name.to_str().filter(|n| check_uid(n).is_ok()).map(|n| rel.join(n)))
                .collect())
        };
        let mut dirs = Vec::new();
        if self.root.kind_beneath(Path::new(INCOMING_DIR))? == Some(FileType::Directory) {
            dirs.push(PathBuf::from(INCOMING_DIR));
        }
        for study in uid_dirs(Path::new(""))? {
            dirs.extend(uid_dirs(&study)?);
        }
        for dir in dirs {
            for e in self.root.list_dir(&dir)? {
                if e.kind == FileType::RegularFile && is_durable_temp(&e.name) {
                    self.root.remove_file(&dir.join(&e.name))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// The Part-10 bytes before the data set: preamble, `DICM`, the file meta group.
    pub fn file_meta(i: &Instance<'_>) -> Result<Vec<u8>, StorageError> {
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(i.sop_class_uid)
            .media_storage_sop_instance_uid(i.sop_instance_uid)
            .transfer_syntax(i.transfer_syntax)
            .implementation_version_name(IMPLEMENTATION_VERSION_NAME)
            .source_application_entity_title(i.calling_ae)
            .build()
            .map_err(|e| StorageError::Meta { source: Box::new(e) })?;
        let mut out = vec![0_u8; 128];
        out.extend_from_slice(b"DICM");
        meta.write(&mut out).map_err(|e| StorageError::Meta { source: Box::new(e) })?;
        Ok(out)
    }

    /// Starts receiving an instance: its UIDs are checked (nothing touches the disk
    /// otherwise), a temporary file is made in [`INCOMING_DIR`] and the file meta group
    /// written to it. The data set follows with [`Receiving::write`].
    pub fn begin(&self, i: &Instance<'_>) -> Result<Receiving<'_>, StorageError> {
        uid("SOP Class UID", i.sop_class_uid)?;
        uid("SOP Instance UID", i.sop_instance_uid)?;
        uid("Transfer Syntax UID", i.transfer_syntax)?;
        let meta = Self::file_meta(i)?;
        let mut file = self.root.create_durable(&self.staging)?;
        write_to(&mut file, &meta)?;
        Ok(Receiving {
            store: self,
            file,
            meta_len: meta.len() as u64,
            data_len: 0,
            name: format!("{}.dcm", i.sop_instance_uid),
            transfer_syntax: i.transfer_syntax.to_owned(),
        })
    }

    /// Stores a whole instance at once (what [`InstanceStore::begin`], [`Receiving::write`]
    /// and [`Receiving::finish`] do as it arrives).
    pub fn store(
        &self,
        i: &Instance<'_>,
        study: &str,
        series: &str,
        data_set: &[&[u8]],
    ) -> Result<Stored, StorageError> {
        let mut r = self.begin(i)?;
        for part in data_set {
            r.write(part)?;
        }
        r.finish(study, series)
    }

    /// Removes a file [`Receiving::finish`] wrote (when recording it failed, so that the
    /// sender, told of the failure, may send it again).
    pub fn remove(&self, rel: &str) -> Result<(), HostPathError> {
        self.root.remove_file(Path::new(rel))
    }
}

fn write_to(file: &mut DurableFile<'_>, bytes: &[u8]) -> Result<(), StorageError> {
    let path = file.temp_path();
    file.file().write_all(bytes).map_err(|e| StorageError::HostPath(HostPathError::Io { path, source: e }))
}

/// An instance being received: its temporary file, removed if this is dropped before
/// [`Receiving::finish`] (a sender gone mid-instance, an instance too large).
#[derive(Debug)]
pub struct Receiving<'s> {
    store: &'s InstanceStore,
    file: DurableFile<'s>,
    meta_len: u64,
    data_len: u64,
    name: String,
    transfer_syntax: String,
}

impl Receiving<'_> {
    /// Appends data set bytes as they arrived.
    pub fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        write_to(&mut self.file, data)?;
        self.data_len += data.len() as u64;
        Ok(())
    }

    /// The data set bytes written so far.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Reads the data set's [`Header`] back from the temporary file (from the page cache: it
    /// was just written).
    pub fn header(&mut self) -> Result<Header, HeaderError> {
        let (start, len) = (self.meta_len, self.data_len);
        header::read_from(Window { inner: self.file.file(), start, len, pos: 0 }, &self.transfer_syntax)
    }

    /// Puts the instance at `<study>/<series>/<SOP Instance UID>.dcm` by the duplicate rule;
    /// returns once the file (when written) is visible whole, and durable with
    /// [`SyncMode::Always`].
    pub fn finish(mut self, study: &str, series: &str) -> Result<Stored, StorageError> {
        let study = uid("Study Instance UID", study)?;
        let series = uid("Series Instance UID", series)?;
        let dir = Path::new(study).join(series);
        let rel = format!("{study}/{series}/{}", self.name);
        let size = self.meta_len + self.data_len;
        let store = self.store;
        let target = dir.join(&self.name);
        if store.duplicates == Duplicates::Reject && store.root.kind_beneath(&target)?.is_some() {
            return Ok(Stored::Refused { path: rel });
        }
        let existing = match store.duplicates {
            Duplicates::Replace => Existing::Replace,
            _ => Existing::Keep,
        };
        let (written, _) = self.file.finish(&dir, &self.name, DIR_MODE, existing, store.sync)?;
        Ok(match written {
            Written::Created => Stored::Written { path: rel, size, replaced: false },
            Written::Replaced => Stored::Written { path: rel, size, replaced: true },
            Written::Kept => match store.duplicates {
                Duplicates::KeepFirst => {
                    let size = store.root.open_file(&target)?.metadata().map(|m| m.len()).unwrap_or(0);
                    Stored::Kept { path: rel, size }
                }
                // Compared after writing: the new bytes are in the temporary file.
                Duplicates::RejectDifferent if self.same_bytes_as(&target)? => Stored::Kept { path: rel, size },
                _ => Stored::Refused { path: rel },
            },
        })
    }

    /// Whether the file `rel` beneath the data root holds exactly what was received.
    fn same_bytes_as(&mut self, rel: &Path) -> Result<bool, StorageError> {
        let store = self.store;
        let mut kept = store.root.open_file(rel)?;
        let full = store.root.path().join(rel);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |e| StorageError::HostPath(HostPathError::Io { path, source: e })
        };
        if kept.metadata().map_err(io(&full))?.len() != self.meta_len + self.data_len {
            return Ok(false);
        }
        let tmp = self.file.temp_path();
        let ours = self.file.file();
        ours.seek(SeekFrom::Start(0)).map_err(io(&tmp))?;
        let (mut a, mut b) = (vec![0_u8; 1 << 16], vec![0_u8; 1 << 16]);
        loop {
            let n = ours.read(&mut a).map_err(io(&tmp))?;
            if n == 0 {
                return Ok(true);
            }
            kept.read_exact(&mut b[..n]).map_err(io(&full))?;
            if a[..n] != b[..n] {
                return Ok(false);
            }
        }
    }
}

/// The data set inside the temporary file: `len` bytes from `start`, as a stream of its own.
struct Window<'f> {
    inner: &'f mut std::fs::File,
    start: u64,
    len: u64,
    pos: u64,
}

impl std::io::Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos =
            target.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> Instance<'static> {
        Instance {
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.4",
            sop_instance_uid: "1.2.3.4.5",
            transfer_syntax: "1.2.840.10008.1.2.1",
            calling_ae: "SCU",
        }
    }

    fn put(s: &InstanceStore, data_set: &[&[u8]]) -> Stored {
        s.store(&instance(), "1.2.3", "1.2.3.4", data_set).expect("store")
    }

    fn store(rule: Duplicates) -> (tempfile::TempDir, InstanceStore) {
        let t = tempfile::tempdir().expect("tmp");
        let s = InstanceStore::open(t.path(), rule, SyncMode::Always).expect("open");
        (t, s)
    }

    fn incoming_is_empty(t: &tempfile::TempDir) -> bool {
        std::fs::read_dir(t.path().join(INCOMING_DIR)).map_or(true, |d| d.count() == 0)
    }

    #[test]
    fn the_file_is_meta_then_the_data_set_as_received() {
        let (t, s) = store(Duplicates::RejectDifferent);
        let data = b"\x08\x00\x16\x00UI\x04\x001.2\x00";
        let got = put(&s, &[&data[..5], &data[5..]]);
        let Stored::Written { path, size, replaced: false } = got else { panic!("{got:?}") };
        assert_eq!(path, "1.2.3/1.2.3.4/1.2.3.4.5.dcm");
        let bytes = std::fs::read(t.path().join(&path)).expect("read");
        assert_eq!(bytes.len() as u64, size);
        assert_eq!(&bytes[128..132], b"DICM");
        assert!(bytes.ends_with(data));
        let meta = dicom_object::meta::FileMetaTable::from_reader(&bytes[128..]).expect("meta reads back");
        assert_eq!(meta.transfer_syntax(), "1.2.840.10008.1.2.1");
        assert_eq!(meta.media_storage_sop_instance_uid(), "1.2.3.4.5");
        assert!(incoming_is_empty(&t));
    }

    #[test]
    fn duplicates_follow_the_rule() {
        for sync in [SyncMode::Always, SyncMode::Never] {
            let t = tempfile::tempdir().expect("tmp");
            let s = InstanceStore::open(t.path(), Duplicates::RejectDifferent, sync).expect("open");
            put(&s, &[b"AA", b"AA"]);
            assert!(matches!(put(&s, &[b"AA", b"AA"]), Stored::Kept { .. }), "the same bytes, cut otherwise");
            assert!(matches!(put(&s, &[b"AAAA"]), Stored::Kept { .. }));
            assert!(matches!(put(&s, &[b"BBBB"]), Stored::Refused { .. }), "other bytes of the same length");
            assert!(matches!(put(&s, &[b"AAAAA"]), Stored::Refused { .. }), "a longer one");
            assert!(incoming_is_empty(&t), "a duplicate's temporary file is removed");
        }

        let (t, s) = store(Duplicates::KeepFirst);
        put(&s, &[b"AA", b"AA"]);
        assert!(matches!(put(&s, &[b"BBBB"]), Stored::Kept { .. }));
        assert!(std::fs::read(t.path().join("1.2.3/1.2.3.4/1.2.3.4.5.dcm")).expect("read").ends_with(b"AAAA"));

        let (_t, s) = store(Duplicates::Reject);
        put(&s, &[b"AA", b"AA"]);
        assert!(matches!(put(&s, &[b"AA", b"AA"]), Stored::Refused { .. }));

        let (t, s) = store(Duplicates::Replace);
        put(&s, &[b"AA", b"AA"]);
        assert!(matches!(put(&s, &[b"BBBB"]), Stored::Written { replaced: true, .. }));
        assert!(std::fs::read(t.path().join("1.2.3/1.2.3.4/1.2.3.4.5.dcm")).expect("read").ends_with(b"BBBB"));
        assert!(incoming_is_empty(&t));
    }

    #[test]
    fn an_instance_dropped_mid_way_leaves_nothing() {
        let (t, s) = store(Duplicates::RejectDifferent);
        let mut r = s.begin(&instance()).expect("begin");
        r.write(b"half of it").expect("write");
        assert_eq!(r.data_len(), 10);
        drop(r);
        assert!(incoming_is_empty(&t));
        assert_eq!(std::fs::read_dir(t.path()).expect("ls").count(), 1, "only the incoming directory");
    }

    #[test]
    fn hostile_uids_never_reach_the_file_system() {
        let (t, s) = store(Duplicates::RejectDifferent);
        for (study, series) in [("..", "1"), ("1", "../.."), ("1/2", "1"), ("1", "")] {
            assert!(
                matches!(s.store(&instance(), study, series, &[b"x"]), Err(StorageError::Uid { .. })),
                "{study} {series}"
            );
        }
        for sop in ["../../x", "", "1/2"] {
            let i = Instance { sop_instance_uid: sop, ..instance() };
            assert!(matches!(s.begin(&i), Err(StorageError::Uid { .. })), "{sop}");
        }
        let names: Vec<_> = std::fs::read_dir(t.path()).expect("ls").map(|e| e.expect("e").file_name()).collect();
        assert!(names.iter().all(|n| n == INCOMING_DIR), "{names:?}");
        assert!(incoming_is_empty(&t));
    }

    #[test]
    fn the_header_is_read_back_from_the_file() {
        let (_t, s) = store(Duplicates::RejectDifferent);
        let mut r = s.begin(&instance()).expect("begin");
        // (0008,0016) and (0008,0018), explicit VR little endian, in two writes.
        let class = b"\x08\x00\x16\x00UI\x1a\x001.2.840.10008.5.1.4.1.1.4\x00";
        let sop = b"\x08\x00\x18\x00UI\x0a\x001.2.3.4.5\x00";
        r.write(class).expect("write");
        r.write(sop).expect("write");
        let h = r.header().expect("header");
        assert_eq!(h.sop_class_uid.as_deref(), Some("1.2.840.10008.5.1.4.1.1.4"));
        assert_eq!(h.sop_instance_uid.as_deref(), Some("1.2.3.4.5"));
    }

    #[test]
    fn the_sweep_removes_only_temporary_files() {
        let (t, s) = store(Duplicates::RejectDifferent);
        put(&s, &[b"AA", b"AA"]);
        let series = t.path().join("1.2.3/1.2.3.4");
        std::fs::write(series.join(".berth-part-99-1"), b"half").expect("stale");
        std::fs::write(t.path().join(INCOMING_DIR).join(".berth-part-99-s2"), b"half").expect("stale");
        std::fs::write(t.path().join(".berth-part-1-1"), b"not in a series dir").expect("other");
        assert_eq!(s.sweep().expect("sweep"), 2);
        assert!(!series.join(".berth-part-99-1").exists());
        assert!(incoming_is_empty(&t));
        assert!(series.join("1.2.3.4.5.dcm").exists());
        assert!(t.path().join(".berth-part-1-1").exists());
    }
}
