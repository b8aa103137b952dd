//! Files over HTTP: a project's data roots (browse, pick into a launch) and a run's outputs
//! (list, download one, download all as a streamed tar archive).
//!
//! Everything below a data root or an output directory is untrusted (a project member's files,
//! a tool's output): paths from requests go through berth-hostpath's [`relative`] check, and
//! every directory and file is opened beneath its root with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` — a link is listed as a link and never followed, so a tool that leaves
//! `out/passwd -> /etc/passwd` cannot make the server read it. Downloads are streamed from the
//! opened descriptor (no path is opened twice), with a content type from a fixed list (text as
//! plain text, PNG, JPEG; anything else as an attachment) and a sandboxing
//! `Content-Security-Policy`.

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use berth_data::Format;
use berth_hostpath::{DirEntry, Root};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};

/// At most this many entries per listing (the rest are counted, not listed).
pub const MAX_ENTRIES: usize = 5000;
/// At most this many files per listing get a header summary (each one is opened and read).
pub const MAX_DESCRIBED: usize = 300;

/// One entry of a listing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FileEntry {
    /// Its name.
    pub name: String,
    /// Its path relative to the root (`/`-separated).
    pub path: String,
    /// `dir`, `file`, `link` (never followed) or `other`.
    pub kind: &'static str,
    /// Size in bytes (files).
    pub size: u64,
    /// Modification time (RFC 3339, UTC).
    pub modified: String,
    /// What the file is (`dicom`, `nifti`, `text`, `png`, `jpeg`, `other`), for files.
    pub format: Option<&'static str>,
    /// What its header says (DICOM: modality, series, size; NIfTI: type, dimensions).
    pub summary: Option<String>,
    /// Whether a page may show it (text, PNG, JPEG).
    pub inline: bool,
}

/// A directory's listing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Listing {
    /// The directory, relative to the root (empty for the root).
    pub path: String,
    /// Its parent, when it is not the root.
    pub parent: Option<String>,
    /// The entries, directories first, then by name.
    pub entries: Vec<FileEntry>,
    /// Entries not listed (past [`MAX_ENTRIES`], or names that are not UTF-8).
    pub omitted: usize,
}

/// The relative path a request names: empty for the root, else a checked relative path.
pub fn request_path(path: Option<&str>) -> ApiResult<PathBuf> {
    let p = path.unwrap_or("").trim_matches('/');
    if p.is_empty() {
        return Ok(PathBuf::new());
    }
    berth_hostpath::relative(p)
        .map_err(|e| ApiError::bad_request(format!("path: {e}")).hint("give a path relative to the root, without `..`"))
}

fn time_of(secs: i64) -> String {
    let t = if secs >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.unsigned_abs())
    } else {
        std::time::UNIX_EPOCH
    };
    berth_store::time::format(t)
}

/// The kind of an entry as the API names it.
fn kind_name(e: &DirEntry) -> &'static str {
    use berth_hostpath::FileType;
    match e.kind {
        FileType::Directory => "dir",
        FileType::RegularFile => "file",
        FileType::Symlink => "link",
        _ => "other",
    }
}

fn entry(root: &Root, dir: &Path, e: &DirEntry, describe: bool) -> Option<FileEntry> {
    let name = e.name.to_str()?.to_owned();
    let rel = dir.join(&name);
    let kind = kind_name(e);
    let (format, summary) = if kind == "file" {
        match root.open_file(&rel) {
            Ok(mut f) => {
                let s = berth_data::recognise(&name, &mut f, describe);
                (Some(s.format), s.summary)
            }
            Err(_) => (None, Some("cannot be opened".into())),
        }
    } else {
        (None, None)
    };
    Some(FileEntry {
        path: rel.to_string_lossy().into_owned(),
        name,
        kind,
        size: if kind == "file" { e.size } else { 0 },
        modified: time_of(e.modified),
        format: format.map(Format::as_str),
        summary,
        inline: format.and_then(Format::inline_content_type).is_some(),
    })
}

/// Lists directory `rel` beneath `root`.
pub fn list(root: &Root, rel: &Path) -> ApiResult<Listing> {
    let raw = root.list_dir(rel).map_err(|e| not_there(rel, &e))?;
    let mut entries = Vec::new();
    let mut omitted = 0;
    let mut described = 0;
    for e in &raw {
        if entries.len() >= MAX_ENTRIES {
            omitted += 1;
            continue;
        }
        let describe = described < MAX_DESCRIBED;
        match entry(root, rel, e, describe) {
            Some(fe) => {
                if fe.kind == "file" {
                    described += 1;
                }
                entries.push(fe);
            }
            None => omitted += 1,
        }
    }
    entries.sort_by(|a, b| (a.kind != "dir").cmp(&(b.kind != "dir")).then_with(|| a.name.cmp(&b.name)));
    let path = rel.to_string_lossy().into_owned();
    let parent = (!path.is_empty()).then(|| rel.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default());
    Ok(Listing { path, parent, entries, omitted })
}

/// Every file beneath `root` (depth first, links and special files left out), at most `max`.
pub fn walk(root: &Root, max: usize) -> ApiResult<(Vec<FileEntry>, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let Ok(raw) = root.list_dir(&dir) else { continue };
        for e in raw.iter().rev() {
            let Some(name) = e.name.to_str() else { continue };
            match kind_name(e) {
                "dir" if dir.components().count() < 64 => stack.push(dir.join(name)),
                "file" => {
                    if out.len() >= max {
                        return Ok((out, true));
                    }
                    if let Some(fe) = entry(root, &dir, e, out.len() < MAX_DESCRIBED) {
                        out.push(fe);
                    }
                }
                _ => {}
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((out, false))
}

fn not_there(rel: &Path, e: &berth_hostpath::HostPathError) -> ApiError {
    match e {
        berth_hostpath::HostPathError::Link { .. } => {
            ApiError::not_found(format!("`{}` is a link; links are not followed", rel.display()))
        }
        _ => ApiError::not_found(format!("no directory `{}`", rel.display())),
    }
}

/// A `Content-Disposition` that names the file safely (ASCII fallback and RFC 5987 UTF-8).
fn disposition(kind: &str, name: &str) -> String {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' && c != ';' { c } else { '_' }).collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The response headers every file download carries: nothing in it runs, even if a browser is
/// told to show it.
fn sandboxed(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'; img-src 'self'"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    resp
}

/// Streams file `rel` beneath `root`: shown in the page (`inline`) when its format allows it,
/// else as an attachment.
pub fn download(root: &Root, rel: &Path, inline: bool) -> ApiResult<Response> {
    if rel.as_os_str().is_empty() {
        return Err(ApiError::bad_request("path: name a file").hint("list the directory to find one"));
    }
    let mut file = root.open_file(rel).map_err(|e| match e {
        berth_hostpath::HostPathError::Link { .. } => {
            ApiError::not_found(format!("`{}` is a link; links are not followed", rel.display()))
        }
        berth_hostpath::HostPathError::WrongKind { .. } => {
            ApiError::bad_request(format!("`{}` is not a regular file", rel.display()))
        }
        _ => ApiError::not_found(format!("no file `{}`", rel.display())),
    })?;
    let name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let format = berth_data::recognise(&name, &mut file, false).format;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))
        .map_err(|e| ApiError::internal(format!("reading `{}`: {e}", rel.display())))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let shown = if inline { format.inline_content_type() } else { None };
    let (ctype, disp) = match shown {
        Some(t) => (t, disposition("inline", &name)),
        None => ("application/octet-stream", disposition("attachment", &name)),
    };
    let stream = tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), CHUNK);
    let resp = (
        [
            (header::CONTENT_TYPE, ctype.to_owned()),
            (header::CONTENT_DISPOSITION, disp),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    Ok(sandboxed(resp))
}

/// A grey PNG of the middle slice of the DICOM or NIfTI file `rel` beneath `root` (berth-data).
pub fn preview(root: &Root, rel: &Path) -> ApiResult<Response> {
    let mut file = root.open_file(rel).map_err(|e| match e {
        berth_hostpath::HostPathError::Link { .. } => {
            ApiError::not_found(format!("`{}` is a link; links are not followed", rel.display()))
        }
        _ => ApiError::not_found(format!("no file `{}`", rel.display())),
    })?;
    let name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let png = berth_data::middle_slice_png(&name, &mut file).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            format!("`{}` cannot be previewed: {e}", rel.display()),
        )
    })?;
    let resp = ([(header::CONTENT_TYPE, "image/png")], png).into_response();
    Ok(sandboxed(resp))
}

/// A `Write` that sends what is written as chunks over a channel, for a blocking producer
/// feeding a streamed body. A closed receiver (the client went away) fails the write, which
/// stops the producer.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// Streams every file beneath `root` as an uncompressed tar archive named `name`.tar (files
/// and directories; links and special files are left out, never followed). Built while it is
/// sent, never whole in memory.
pub fn archive(root: Root, name: &str) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let err_tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let mut builder = tar::Builder::new(ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) });
        let result = append_tree(&root, &mut builder).and_then(|()| builder.into_inner()).and_then(|mut w| w.flush());
        if let Err(e) = result
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            tracing::warn!(error = %e, root = %root.path().display(), "the output archive stopped");
            // The body ends with an error, so the client sees a broken download, not a short tar.
            let _ = err_tx.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let resp = (
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (header::CONTENT_DISPOSITION, disposition("attachment", &format!("{name}.tar"))),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    sandboxed(resp)
}

fn append_tree<W: Write>(root: &Root, builder: &mut tar::Builder<W>) -> std::io::Result<()> {
    let mut stack = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let raw = root.list_dir(&dir).map_err(std::io::Error::other)?;
        for e in &raw {
            let Some(name) = e.name.to_str() else { continue };
            let rel = dir.join(name);
            let mut header = tar::Header::new_gnu();
            header.set_mtime(u64::try_from(e.modified).unwrap_or(0));
            match kind_name(e) {
                "dir" if dir.components().count() < 64 => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(0o755);
                    header.set_size(0);
                    builder.append_data(&mut header, &rel, std::io::empty())?;
                    stack.push(rel);
                }
                "file" => {
                    // Opened beneath the root without following links; its size as opened.
                    let Ok(file) = root.open_file(&rel) else { continue };
                    let len = file.metadata()?.len();
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(0o644);
                    header.set_size(len);
                    builder.append_data(&mut header, &rel, std::io::Read::take(file, len))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_never_break_out_of_the_header() {
        let d = disposition("attachment", "a\"; x=\"y\r\nz é.txt");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(d.starts_with("attachment; filename=\"a__ x=_y__z __.txt\"") || d.contains("filename=\"a_"), "{d}");
        assert!(d.contains("filename*=UTF-8''a%22%3B%20x%3D%22y%0D%0Az%20%C3%A9.txt"), "{d}");
    }

    #[test]
    fn request_paths_stay_beneath_the_root() {
        assert_eq!(request_path(None).expect("root"), PathBuf::new());
        assert_eq!(request_path(Some("/")).expect("root"), PathBuf::new());
        assert_eq!(request_path(Some("a/b/")).expect("rel"), PathBuf::from("a/b"));
        for bad in ["../x", "a/../../b", "a/\0"] {
            assert!(request_path(Some(bad)).is_err(), "{bad}");
        }
    }
}
