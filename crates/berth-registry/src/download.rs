//! Downloading an image archive over HTTP(S): resumable, verified, never half-written.
//!
//! Bytes go to `DEST.partial`; a later attempt asks for the rest with `Range: bytes=N-` and
//! appends when the server answers `206` (a `200` means it ignored the range: start over).
//! When the digest is given the whole file is hashed before `DEST.partial` is renamed to
//! `DEST`; a wrong digest removes the partial file, so the next attempt starts clean.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, RANGE};
use sha2::Digest as _;
use tokio::io::AsyncWriteExt as _;

use crate::error::RegistryError;

/// Receives download progress. Implemented by the binary (a progress bar); tests record it.
pub trait DownloadReporter: Send + Sync {
    /// The transfer starts at byte `offset` (non-zero when resuming) of `total` bytes (when known).
    fn started(&self, url: &str, offset: u64, total: Option<u64>);
    /// `done` bytes of the file are on disk.
    fn progress(&self, done: u64);
    /// The file is complete.
    fn finished(&self) {}
}

/// A reporter that ignores progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDownloadProgress;

impl DownloadReporter for NoDownloadProgress {
    fn started(&self, _url: &str, _offset: u64, _total: Option<u64>) {}
    fn progress(&self, _done: u64) {}
}

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Downloaded {
    /// Where the file is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Its sha256 (hex).
    pub sha256: String,
    /// Bytes that were already there from an earlier, interrupted attempt.
    pub resumed_from: u64,
}

/// The partial file beside `dest`.
pub fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".partial");
    dest.with_file_name(name)
}

/// The sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, RegistryError> {
    let io = |source| RegistryError::Io { action: "read", path: path.to_owned(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Download `url` to `dest` (see the module documentation), checking `expected_sha256` (hex)
/// when given.
pub async fn download(
    http: &reqwest::Client,
    url: &str,
    dest: &Path,
    expected_sha256: Option<&str>,
    reporter: &dyn DownloadReporter,
) -> Result<Downloaded, RegistryError> {
    let partial = partial_path(dest);
    let fail = |message: String, source: Option<reqwest::Error>| RegistryError::Download {
        url: url.to_owned(),
        message,
        source: source.map(|e| Box::new(e) as _),
    };
    let io = |action, path: &Path| {
        let path = path.to_owned();
        move |source| RegistryError::Io { action, path, source }
    };
    if let Some(dir) = dest.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io("create", dir))?;
    }
    let have = tokio::fs::metadata(&partial).await.map(|m| m.len()).unwrap_or(0);
    let mut request = http.get(url);
    if have > 0 {
        request = request.header(RANGE, format!("bytes={have}-"));
    }
    let mut response = request.send().await.map_err(|e| {
        let reason = crate::client::transport_reason(&e);
        fail(reason, Some(e))
    })?;
    let status = response.status();
    let (mut file, offset) = if status == StatusCode::PARTIAL_CONTENT && have > 0 {
        // Check the server resumed where we asked, not elsewhere.
        let start = response
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse::<u64>().ok());
        if start != Some(have) {
            return Err(fail(format!("the server resumed at {start:?}, not at byte {have}"), None));
        }
        let f = tokio::fs::OpenOptions::new().append(true).open(&partial).await.map_err(io("open", &partial))?;
        (f, have)
    } else if status == StatusCode::RANGE_NOT_SATISFIABLE && have > 0 {
        // Everything was there already.
        let f = tokio::fs::OpenOptions::new().append(true).open(&partial).await.map_err(io("open", &partial))?;
        response = http.head(url).send().await.map_err(|e| fail(crate::client::transport_reason(&e), Some(e)))?;
        (f, have)
    } else if status.is_success() {
        let f = tokio::fs::File::create(&partial).await.map_err(io("create", &partial))?;
        (f, 0)
    } else {
        return Err(fail(format!("HTTP {}", status.as_u16()), None));
    };
    let total = if status == StatusCode::RANGE_NOT_SATISFIABLE {
        Some(have)
    } else {
        response.content_length().map(|l| l + offset)
    };
    reporter.started(url, offset, total);
    let mut done = offset;
    if status != StatusCode::RANGE_NOT_SATISFIABLE {
        while let Some(chunk) =
            response.chunk().await.map_err(|e| fail(crate::client::transport_reason(&e), Some(e)))?
        {
            file.write_all(&chunk).await.map_err(io("write", &partial))?;
            done += chunk.len() as u64;
            reporter.progress(done);
        }
    }
    file.flush().await.map_err(io("write", &partial))?;
    file.sync_all().await.map_err(io("write", &partial))?;
    drop(file);
    if let Some(t) = total
        && done < t
    {
        return Err(fail(format!("the connection ended after {done} of {t} bytes"), None));
    }
    let partial_for_hash = partial.clone();
    let sha256 = tokio::task::spawn_blocking(move || sha256_file(&partial_for_hash))
        .await
        .map_err(|e| fail(format!("hashing failed: {e}"), None))??;
    if let Some(expected) = expected_sha256
        && !expected.eq_ignore_ascii_case(&sha256)
    {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(RegistryError::DigestMismatch {
            url: url.to_owned(),
            expected: expected.to_ascii_lowercase(),
            actual: sha256,
        });
    }
    tokio::fs::rename(&partial, dest).await.map_err(io("rename", &partial))?;
    reporter.finished();
    Ok(Downloaded { path: dest.to_owned(), bytes: done, sha256, resumed_from: offset })
}
