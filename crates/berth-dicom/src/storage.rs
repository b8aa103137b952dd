//! Received instances on disk: the Part-10 file (128-byte preamble, `DICM`, a file meta group
//! berth writes, then the data set bytes exactly as received: never re-encoded), its place
//! `<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm` beneath the data root, the
//! duplicate rule, and the durable write (berth-hostpath's [`Root::write_durable`]: temporary
//! file, `fsync`, rename, `fsync` of the directory) so that an acknowledged instance survives
//! `SIGKILL` and power loss and a partial file is never visible under a `.dcm` name.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use berth_hostpath::{Existing, FileType, HostPathError, Root, Written, is_durable_temp};
use dicom_object::FileMetaTableBuilder;

use crate::settings::Duplicates;
use crate::uid::check_uid;

/// The implementation version name written in the file meta group (at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("BERTH_", env!("CARGO_PKG_VERSION"));

/// Mode of the directories berth creates for studies and series.
const DIR_MODE: u32 = 0o755;

/// What a received instance is, as the SCP knows it when its last fragment arrived.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// SOP Class UID (checked).
    pub sop_class_uid: &'a str,
    /// SOP Instance UID (checked).
    pub sop_instance_uid: &'a str,
    /// Study Instance UID (checked).
    pub study_uid: &'a str,
    /// Series Instance UID (checked).
    pub series_uid: &'a str,
    /// The negotiated transfer syntax (checked).
    pub transfer_syntax: &'a str,
    /// The sender's AE title, kept as Source Application Entity Title.
    pub calling_ae: &'a str,
    /// The data set bytes as received, in the P-DATA values they came in.
    pub data_set: &'a [&'a [u8]],
}

/// What [`InstanceStore::store`] did.
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

/// The data root, opened once, and the rule for duplicates.
#[derive(Debug)]
pub struct InstanceStore {
    root: Root,
    duplicates: Duplicates,
}

impl InstanceStore {
    /// Opens `data_root` (a trusted directory: the project's configuration).
    pub fn open(data_root: &Path, duplicates: Duplicates) -> Result<Self, HostPathError> {
        Ok(Self { root: Root::open(data_root)?, duplicates })
    }

    /// The data root's path.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Removes the temporary files a killed node left in study/series directories (only
    /// directories whose names are UIDs are entered; nothing else is touched). Returns how
    /// many were removed.
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
        for study in uid_dirs(Path::new(""))? {
            for series in uid_dirs(&study)? {
                for e in self.root.list_dir(&series)? {
                    if e.kind == FileType::RegularFile && is_durable_temp(&e.name) {
                        self.root.remove_file(&series.join(&e.name))?;
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }

    /// The Part-10 bytes before the data set: preamble, `DICM`, the file meta group.
    pub fn file_meta(i: &Incoming<'_>) -> Result<Vec<u8>, StorageError> {
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

    /// Stores one instance by the duplicate rule. Returns once the file (when written) is
    /// durable.
    pub fn store(&self, i: &Incoming<'_>) -> Result<Stored, StorageError> {
        uid("SOP Class UID", i.sop_class_uid)?;
        uid("Transfer Syntax UID", i.transfer_syntax)?;
        let study = uid("Study Instance UID", i.study_uid)?;
        let series = uid("Series Instance UID", i.series_uid)?;
        let name = format!("{}.dcm", uid("SOP Instance UID", i.sop_instance_uid)?);
        let dir = Path::new(study).join(series);
        let rel = format!("{study}/{series}/{name}");
        let meta = Self::file_meta(i)?;
        let size = (meta.len() + i.data_set.iter().map(|p| p.len()).sum::<usize>()) as u64;
        let mut parts: Vec<&[u8]> = Vec::with_capacity(1 + i.data_set.len());
        parts.push(&meta);
        parts.extend_from_slice(i.data_set);
        let existing = match self.duplicates {
            Duplicates::Replace => Existing::Replace,
            _ => Existing::Keep,
        };
        if self.duplicates == Duplicates::Reject && self.root.kind_beneath(&dir.join(&name))?.is_some() {
            return Ok(Stored::Refused { path: rel });
        }
        let (written, _) = self.root.write_durable(&dir, &name, &parts, DIR_MODE, existing)?;
        Ok(match written {
            Written::Created => Stored::Written { path: rel, size, replaced: false },
            Written::Replaced => Stored::Written { path: rel, size, replaced: true },
            Written::Kept => match self.duplicates {
                Duplicates::KeepFirst => {
                    let size = self.root.open_file(&dir.join(&name))?.metadata().map(|m| m.len()).unwrap_or(0);
                    Stored::Kept { path: rel, size }
                }
                Duplicates::RejectDifferent if self.same_bytes(&dir.join(&name), &parts)? => {
                    Stored::Kept { path: rel, size }
                }
                _ => Stored::Refused { path: rel },
            },
        })
    }

    /// Removes a file [`InstanceStore::store`] wrote (when recording it failed, so that the
    /// sender, told of the failure, may send it again).
    pub fn remove(&self, rel: &str) -> Result<(), HostPathError> {
        self.root.remove_file(Path::new(rel))
    }

    /// Whether the file `rel` holds exactly `parts`.
    fn same_bytes(&self, rel: &Path, parts: &[&[u8]]) -> Result<bool, StorageError> {
        let mut f = self.root.open_file(rel)?;
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let io = |e| StorageError::HostPath(HostPathError::Io { path: self.root.path().join(rel), source: e });
        if f.metadata().map_err(io)?.len() != len as u64 {
            return Ok(false);
        }
        let mut buf = vec![0_u8; 1 << 16];
        for part in parts {
            let mut off = 0;
            while off < part.len() {
                let n = (part.len() - off).min(buf.len());
                f.read_exact(&mut buf[..n]).map_err(io)?;
                if buf[..n] != part[off..off + n] {
                    return Ok(false);
                }
                off += n;
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming<'a>(data_set: &'a [&'a [u8]]) -> Incoming<'a> {
        Incoming {
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.4",
            sop_instance_uid: "1.2.3.4.5",
            study_uid: "1.2.3",
            series_uid: "1.2.3.4",
            transfer_syntax: "1.2.840.10008.1.2.1",
            calling_ae: "SCU",
            data_set,
        }
    }

    fn store(rule: Duplicates) -> (tempfile::TempDir, InstanceStore) {
        let t = tempfile::tempdir().expect("tmp");
        let s = InstanceStore::open(t.path(), rule).expect("open");
        (t, s)
    }

    #[test]
    fn the_file_is_meta_then_the_data_set_as_received() {
        let (t, s) = store(Duplicates::RejectDifferent);
        let data = b"\x08\x00\x16\x00UI\x04\x001.2\x00";
        let got = s.store(&incoming(&[&data[..5], &data[5..]])).expect("store");
        let Stored::Written { path, size, replaced: false } = got else { panic!("{got:?}") };
        assert_eq!(path, "1.2.3/1.2.3.4/1.2.3.4.5.dcm");
        let bytes = std::fs::read(t.path().join(&path)).expect("read");
        assert_eq!(bytes.len() as u64, size);
        assert_eq!(&bytes[128..132], b"DICM");
        assert!(bytes.ends_with(data));
        let meta = dicom_object::meta::FileMetaTable::from_reader(&bytes[128..]).expect("meta reads back");
        assert_eq!(meta.transfer_syntax(), "1.2.840.10008.1.2.1");
        assert_eq!(meta.media_storage_sop_instance_uid(), "1.2.3.4.5");
    }

    #[test]
    fn duplicates_follow_the_rule() {
        let (_t, s) = store(Duplicates::RejectDifferent);
        s.store(&incoming(&[b"AA", b"AA"])).expect("first");
        assert!(matches!(s.store(&incoming(&[b"AA", b"AA"])).expect("same"), Stored::Kept { .. }));
        assert!(matches!(s.store(&incoming(&[b"BBBB"])).expect("other"), Stored::Refused { .. }));

        let (t, s) = store(Duplicates::KeepFirst);
        s.store(&incoming(&[b"AA", b"AA"])).expect("first");
        assert!(matches!(s.store(&incoming(&[b"BBBB"])).expect("other"), Stored::Kept { .. }));
        assert!(std::fs::read(t.path().join("1.2.3/1.2.3.4/1.2.3.4.5.dcm")).expect("read").ends_with(b"AAAA"));

        let (_t, s) = store(Duplicates::Reject);
        s.store(&incoming(&[b"AA", b"AA"])).expect("first");
        assert!(matches!(s.store(&incoming(&[b"AA", b"AA"])).expect("same"), Stored::Refused { .. }));

        let (t, s) = store(Duplicates::Replace);
        s.store(&incoming(&[b"AA", b"AA"])).expect("first");
        assert!(matches!(s.store(&incoming(&[b"BBBB"])).expect("other"), Stored::Written { replaced: true, .. }));
        assert!(std::fs::read(t.path().join("1.2.3/1.2.3.4/1.2.3.4.5.dcm")).expect("read").ends_with(b"BBBB"));
    }

    #[test]
    fn hostile_uids_never_reach_the_file_system() {
        let (t, s) = store(Duplicates::RejectDifferent);
        for (study, series, sop) in
            [("..", "1", "1"), ("1", "../..", "1"), ("1", "1", "../../x"), ("1/2", "1", "1"), ("1", "1", "")]
        {
            let i = Incoming { study_uid: study, series_uid: series, sop_instance_uid: sop, ..incoming(&[b"x"]) };
            assert!(matches!(s.store(&i), Err(StorageError::Uid { .. })), "{study} {series} {sop}");
        }
        assert_eq!(std::fs::read_dir(t.path()).expect("ls").count(), 0);
    }

    #[test]
    fn the_sweep_removes_only_temporary_files() {
        let (t, s) = store(Duplicates::RejectDifferent);
        s.store(&incoming(&[b"AA", b"AA"])).expect("store");
        let series = t.path().join("1.2.3/1.2.3.4");
        std::fs::write(series.join(".berth-part-99-1"), b"half").expect("stale");
        std::fs::write(t.path().join(".berth-part-1-1"), b"not in a series dir").expect("other");
        assert_eq!(s.sweep().expect("sweep"), 1);
        assert!(!series.join(".berth-part-99-1").exists());
        assert!(series.join("1.2.3.4.5.dcm").exists());
        assert!(t.path().join(".berth-part-1-1").exists());
    }
}
