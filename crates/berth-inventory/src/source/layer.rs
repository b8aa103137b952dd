//! Read one layer tarball (plain, gzip or zstd) into [`LayerFiles`]: whiteouts recorded, links
//! kept, the contents of required files read, everything else skipped.

use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;
use std::sync::Arc;

use crate::error::SourceError;
use crate::fs::{Entry, LayerFiles, clean};

/// The largest single file berth reads into memory (a dpkg status of a very large image is
/// a few MiB; an rpmdb.sqlite under 100 MiB).
pub const MAX_FILE: u64 = 512 << 20;

/// How a blob is compressed, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

/// Sniff the compression of a buffered stream without consuming it.
pub fn sniff(reader: &mut impl BufRead) -> std::io::Result<Compression> {
    let head = reader.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    })
}

/// A reader that can also seek, so that skipped entries of an uncompressed layer are seeked
/// over instead of read.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// Read a layer from `reader`. `archive` and `what` only name it in errors.
pub fn read_layer(
    reader: Box<dyn ReadSeek>,
    required: &dyn Fn(&str) -> bool,
    archive: &Path,
    what: &str,
) -> Result<LayerFiles, SourceError> {
    let tar_err = |source| SourceError::Tar { path: archive.to_owned(), what: what.to_owned(), source };
    let mut buffered = BufReader::with_capacity(1 << 16, reader);
    match sniff(&mut buffered).map_err(tar_err)? {
        Compression::None => {
            // Seeking needs the raw reader; the sniff only filled the buffer.
            let offset = buffered.stream_position().map_err(tar_err)?;
            let mut raw = buffered.into_inner();
            raw.seek(std::io::SeekFrom::Start(offset)).map_err(tar_err)?;
            let mut archive_reader = tar::Archive::new(raw);
            let entries = archive_reader.entries_with_seek().map_err(tar_err)?;
            collect(entries, required, archive, what)
        }
        Compression::Gzip => {
            let mut archive_reader = tar::Archive::new(flate2::bufread::MultiGzDecoder::new(buffered));
            let entries = archive_reader.entries().map_err(tar_err)?;
            collect(entries, required, archive, what)
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(buffered).map_err(tar_err)?;
            let mut archive_reader = tar::Archive::new(decoder);
            let entries = archive_reader.entries().map_err(tar_err)?;
            collect(entries, required, archive, what)
        }
    }
}

fn collect<R: Read>(
    entries: tar::Entries<'_, R>,
    required: &dyn Fn(&str) -> bool,
    archive: &Path,
    what: &str,
) -> Result<LayerFiles, SourceError> {
    let tar_err = |source| SourceError::Tar { path: archive.to_owned(), what: what.to_owned(), source };
    let escape = |source| SourceError::Escape { path: archive.to_owned(), source };
    let mut files = LayerFiles::default();
    for entry in entries {
        let mut entry = entry.map_err(tar_err)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = clean(&raw).map_err(escape)?;
        if path.is_empty() {
            continue;
        }
        let Some(path) = files.classify(&path) else {
            continue;
        };
        let kind = entry.header().entry_type();
        let found = if kind.is_file() {
            if required(&path) {
                let size = entry.size();
                if size > MAX_FILE {
                    return Err(SourceError::TooLarge { entry: path, size, limit: MAX_FILE });
                }
                let mut content = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut content).map_err(tar_err)?;
                Entry::File { content: Some(Arc::from(content)) }
            } else {
                Entry::File { content: None }
            }
        } else if kind.is_symlink() {
            let target = entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            Entry::Symlink(target)
        } else if kind.is_hard_link() {
            let target = entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            Entry::Hardlink(clean(&target).map_err(escape)?)
        } else if kind.is_dir() {
            Entry::Dir
        } else {
            // Devices and FIFOs still shadow what the layers below had at that path.
            Entry::File { content: None }
        };
        files.entries.insert(path, found);
    }
    Ok(files)
}
