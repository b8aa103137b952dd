//! Read one layer tarball (plain, gzip or zstd) into [`LayerFiles`]: whiteouts recorded, links
//! kept, the contents of required files read, everything else skipped. Every byte read is
//! counted against the scan's [`Meter`], and what is kept against `max_held_bytes`
//! (see [`crate::budget`]).

use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;
use std::sync::Arc;

use crate::budget::{ENTRY_COST, META_WINDOW, Meter, Metered, SkipReason, Skipped, Tripped};
use crate::error::SourceError;
use crate::fs::{Entry, LayerFiles, clean};

/// Where a layer is read from and what it may use.
pub struct LayerRead<'a> {
    /// The archive (or layout), to name it in errors.
    pub archive: &'a Path,
    /// Which layer, in errors.
    pub what: &'a str,
    /// The scan's budget.
    pub meter: &'a Arc<Meter>,
    /// Bytes already held by the layers read before (names and contents).
    pub held: u64,
}

impl LayerRead<'_> {
    /// The error for a failed read: a limit, if the meter tripped, else a broken tar stream.
    pub fn fail(&self, source: std::io::Error) -> SourceError {
        let (path, what) = (self.archive.to_owned(), self.what.to_owned());
        match self.meter.tripped() {
            Some(Tripped::Read) => SourceError::ReadLimit { path, what, limit: self.meter.limits.max_read_bytes },
            Some(Tripped::Metadata) => SourceError::HeaderTooLarge { path, what, limit: META_WINDOW },
            None => SourceError::Tar { path, what, source },
        }
    }
}

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

/// Read a layer from `reader`.
pub fn read_layer(
    reader: Box<dyn ReadSeek>,
    required: &dyn Fn(&str) -> bool,
    ctx: &LayerRead<'_>,
) -> Result<LayerFiles, SourceError> {
    let tar_err = |source| ctx.fail(source);
    let meter = ctx.meter.clone();
    let mut buffered = BufReader::with_capacity(1 << 16, reader);
    match sniff(&mut buffered).map_err(tar_err)? {
        Compression::None => {
            // Seeking needs the raw reader; the sniff only filled the buffer.
            let offset = buffered.stream_position().map_err(tar_err)?;
            let mut raw = buffered.into_inner();
            raw.seek(std::io::SeekFrom::Start(offset)).map_err(tar_err)?;
            let mut archive_reader = tar::Archive::new(Metered::new(raw, meter));
            let entries = archive_reader.entries_with_seek().map_err(tar_err)?;
            collect(entries, required, ctx, true)
        }
        Compression::Gzip => {
            let decoder = flate2::bufread::MultiGzDecoder::new(buffered);
            let mut archive_reader = tar::Archive::new(Metered::new(decoder, meter));
            let entries = archive_reader.entries().map_err(tar_err)?;
            collect(entries, required, ctx, false)
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(buffered).map_err(tar_err)?;
            let mut archive_reader = tar::Archive::new(Metered::new(decoder, meter));
            let entries = archive_reader.entries().map_err(tar_err)?;
            collect(entries, required, ctx, false)
        }
    }
}

/// Walk the entries. `seekable`: the tar reader seeks past unread data itself; otherwise each
/// entry's unread data is drained here, so that while the reader looks for the next entry it
/// reads only headers, which the meter's window bounds.
fn collect<R: Read>(
    mut entries: tar::Entries<'_, R>,
    required: &dyn Fn(&str) -> bool,
    ctx: &LayerRead<'_>,
    seekable: bool,
) -> Result<LayerFiles, SourceError> {
    let escape = |source| SourceError::Escape { path: ctx.archive.to_owned(), source };
    let limits = ctx.meter.limits;
    let mut held = ctx.held;
    let mut files = LayerFiles::default();
    loop {
        ctx.meter.window(META_WINDOW);
        let next = entries.next();
        ctx.meter.window(u64::MAX);
        let Some(entry) = next else { break };
        let mut entry = entry.map_err(|e| ctx.fail(e))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let link = entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned());
        // Every name kept costs memory, whatever the entry is.
        held = held.saturating_add(raw.len() as u64 + link.as_ref().map_or(0, |l| l.len() as u64) + ENTRY_COST);
        if held > limits.max_held_bytes {
            return Err(SourceError::HeldLimit {
                path: ctx.archive.to_owned(),
                what: ctx.what.to_owned(),
                limit: limits.max_held_bytes,
            });
        }
        let kept = match clean(&raw).map_err(escape)? {
            path if path.is_empty() => None,
            path => files.classify(&path),
        };
        if let Some(path) = kept {
            let found = entry_of(&mut entry, path.clone(), link, required, limits, &mut held, &mut files.skipped, ctx)?;
            files.entries.insert(path, found);
        }
        if !seekable {
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| ctx.fail(e))?;
        }
    }
    Ok(files)
}

/// What to keep of one entry at `path`.
#[allow(clippy::too_many_arguments)]
fn entry_of<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    path: String,
    link: Option<String>,
    required: &dyn Fn(&str) -> bool,
    limits: crate::budget::Limits,
    held: &mut u64,
    skipped: &mut Vec<Skipped>,
    ctx: &LayerRead<'_>,
) -> Result<Entry, SourceError> {
    let escape = |source| SourceError::Escape { path: ctx.archive.to_owned(), source };
    let kind = entry.header().entry_type();
    Ok(if kind.is_file() {
        let size = entry.size();
        let mode_says = entry.header().mode().is_ok_and(|m| m & 0o111 != 0) || crate::binary::is_library_name(&path);
        let skip = |reason| Skipped { path: path.clone(), size, reason };
        let content: Option<Arc<[u8]>> = if !required(&path) {
            None
        } else if size > limits.max_file_bytes {
            skipped.push(skip(SkipReason::FileLimit));
            None
        } else if held.saturating_add(size) > limits.max_held_bytes {
            skipped.push(skip(SkipReason::HeldLimit));
            None
        } else {
            *held += size;
            let mut content = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut content).map_err(|e| ctx.fail(e))?;
            Some(Arc::from(content))
        };
        // A possible binary: its first bytes pass by anyway; only ELF files stay candidates,
        // so that a script or a cache file never makes the pass read the layer again.
        let binary = mode_says
            && match &content {
                Some(c) => crate::binary::is_elf(c),
                None => {
                    let mut head = [0u8; 4];
                    let mut filled = 0;
                    while filled < head.len() {
                        match entry.read(&mut head[filled..]).map_err(|e| ctx.fail(e))? {
                            0 => break,
                            n => filled += n,
                        }
                    }
                    crate::binary::is_elf(&head[..filled])
                }
            };
        Entry::File { content, binary }
    } else if kind.is_symlink() {
        Entry::Symlink(link.unwrap_or_default())
    } else if kind.is_hard_link() {
        Entry::Hardlink(clean(&link.unwrap_or_default()).map_err(escape)?)
    } else if kind.is_dir() {
        Entry::Dir
    } else {
        // Devices and FIFOs still shadow what the layers below had at that path.
        Entry::File { content: None, binary: false }
    })
}
