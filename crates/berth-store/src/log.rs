//! Capped log files: a tool's stdout and stderr are kept up to a size, then cut with a marker.
//!
//! A tool that prints without end must not fill the disk under `$BERTH_HOME`, so each stream
//! keeps its first [`DEFAULT_LOG_CAP`] bytes (configurable). The cut is visible in the log
//! itself (a reader of the file alone should not mistake it for the whole output) and in the
//! [`LogSummary`] recorded with the run.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use crate::model::LogSummary;

/// The default cap per stream: 64 MiB.
pub const DEFAULT_LOG_CAP: u64 = 64 << 20;

/// The marker written once, after the first `cap` bytes, when a stream goes past its cap.
pub fn truncation_marker(cap: u64) -> String {
    format!("\n[berth: output truncated after {cap} bytes; the rest was discarded]\n")
}

/// A [`Write`] that passes the first `cap` bytes to `inner`, then writes the
/// [`truncation_marker`] once and discards the rest, counting everything it was given.
///
/// Writes past the cap succeed (the bytes are consumed, not kept), so a caller copying a
/// stream with `write_all` or `io::copy` carries on to the end of the stream.
#[derive(Debug)]
pub struct LogWriter<W: Write> {
    inner: W,
    cap: u64,
    written: u64,
    seen: u64,
    truncated: bool,
}

impl LogWriter<File> {
    /// Creates (or empties) the file at `path` and writes to it, keeping at most `cap` bytes.
    pub fn create(path: &Path, cap: u64) -> io::Result<LogWriter<File>> {
        Ok(LogWriter::new(File::create(path)?, cap))
    }
}

impl<W: Write> LogWriter<W> {
    /// Writes to `inner`, keeping at most `cap` bytes of the stream.
    pub fn new(inner: W, cap: u64) -> LogWriter<W> {
        LogWriter { inner, cap, written: 0, seen: 0, truncated: false }
    }

    /// The bytes passed to the inner writer (the marker not counted).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// The bytes given to this writer, kept or not.
    pub fn bytes_seen(&self) -> u64 {
        self.seen
    }

    /// Whether bytes were discarded.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// What happened so far, as recorded with the run.
    pub fn summary(&self) -> LogSummary {
        LogSummary { cap: self.cap, bytes_written: self.written, bytes_seen: self.seen, truncated: self.truncated }
    }

    /// Flushes and returns the summary and the inner writer.
    pub fn finish(mut self) -> io::Result<(LogSummary, W)> {
        self.inner.flush()?;
        Ok((self.summary(), self.inner))
    }
}

impl<W: Write> Write for LogWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.cap.saturating_sub(self.written);
        let keep = usize::try_from(room).map_or(buf.len(), |room| room.min(buf.len()));
        if keep > 0 {
            self.inner.write_all(&buf[..keep])?;
            self.written += keep as u64;
        }
        if keep < buf.len() && !self.truncated {
            self.inner.write_all(truncation_marker(self.cap).as_bytes())?;
            self.truncated = true;
        }
        self.seen += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn under_the_cap_everything_is_kept_and_nothing_marked() {
        let mut w = LogWriter::new(Vec::new(), 10);
        w.write_all(b"0123456789").unwrap();
        let (summary, out) = w.finish().unwrap();
        assert_eq!(out, b"0123456789");
        assert_eq!(summary, LogSummary { cap: 10, bytes_written: 10, bytes_seen: 10, truncated: false });
    }

    #[test]
    fn past_the_cap_the_marker_is_written_once_and_the_rest_counted() {
        let mut w = LogWriter::new(Vec::new(), 10);
        w.write_all(b"01234").unwrap();
        w.write_all(b"56789abc").unwrap();
        w.write_all(b"more and more").unwrap();
        let (summary, out) = w.finish().unwrap();
        let expected = format!("0123456789{}", truncation_marker(10));
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert_eq!(
            expected, "0123456789\n[berth: output truncated after 10 bytes; the rest was discarded]\n",
            "the marker text is part of the log format"
        );
        assert_eq!(summary, LogSummary { cap: 10, bytes_written: 10, bytes_seen: 26, truncated: true });
    }

    #[test]
    fn io_copy_of_a_long_stream_runs_to_the_end() {
        let mut w = LogWriter::new(Vec::new(), 1000);
        let n = io::copy(&mut io::repeat(b'x').take(1 << 20), &mut w).unwrap();
        assert_eq!(n, 1 << 20);
        assert_eq!(w.bytes_seen(), 1 << 20);
        assert_eq!(w.bytes_written(), 1000);
        assert!(w.truncated());
    }

    #[test]
    fn a_zero_cap_keeps_only_the_marker() {
        let mut w = LogWriter::new(Vec::new(), 0);
        w.write_all(b"x").unwrap();
        let (_, out) = w.finish().unwrap();
        assert_eq!(out, truncation_marker(0).into_bytes());
    }
}
