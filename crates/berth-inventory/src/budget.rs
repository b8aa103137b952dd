//! What one inventory may read and hold, whatever the image holds (finding 6 of issue 14: a
//! 4 MiB archive of gzip-compressed zeros once took `berth sbom` to 1.3 GiB).
//!
//! The limits are [`berth_config::InventoryLimits`] (`[inventory]` in the configuration file,
//! documented in `docs/configuration.md`). One [`Meter`] is shared by every read of a scan:
//! - every byte decompressed or read (layers, the archive's index, a root filesystem's files)
//!   counts against `max_read_bytes`; past it the scan stops with an error;
//! - while the tar reader looks for the next entry (headers, GNU long names, PAX records, which
//!   the `tar` crate reads whole into memory) it may read at most [`META_WINDOW`] bytes;
//! - what stays in memory (entry names and kept file contents) is counted against
//!   `max_held_bytes` by the layer reader, and a file over `max_file_bytes` is skipped: both are
//!   reported as [`Skipped`] and become warnings naming the file, never a silent gap.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

pub use berth_config::InventoryLimits as Limits;

/// The most bytes the tar reader may read between two entries: a header, a GNU long name or
/// link name, a PAX record and their padding. Linux paths are at most 4096 bytes.
pub const META_WINDOW: u64 = 1 << 20;

/// What each entry name kept in memory costs besides its bytes (map node, `String`, `Entry`).
pub const ENTRY_COST: u64 = 96;

/// The most members indexed in an image archive (`docker save` writes a few per layer).
pub const MAX_MEMBERS: usize = 100_000;

const NONE: u8 = 0;
const READ: u8 = 1;
const META: u8 = 2;

/// The budget of one scan, shared by the readers that draw on it.
#[derive(Debug)]
pub struct Meter {
    /// The limits in force.
    pub limits: Limits,
    read: AtomicU64,
    window: AtomicU64,
    tripped: AtomicU8,
}

/// Which limit stopped a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tripped {
    /// `max_read_bytes`.
    Read,
    /// [`META_WINDOW`].
    Metadata,
}

impl Meter {
    /// A fresh budget.
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            read: AtomicU64::new(0),
            window: AtomicU64::new(u64::MAX),
            tripped: AtomicU8::new(NONE),
        })
    }

    /// Allow at most `bytes` more to be read until the next call (`u64::MAX`: no window).
    pub fn window(&self, bytes: u64) {
        self.window.store(bytes, Ordering::Relaxed);
    }

    /// Bytes read so far.
    pub fn read_so_far(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Which limit a failed read hit, if any.
    pub fn tripped(&self) -> Option<Tripped> {
        match self.tripped.load(Ordering::Relaxed) {
            READ => Some(Tripped::Read),
            META => Some(Tripped::Metadata),
            _ => None,
        }
    }

    /// How many bytes a read may ask for now (one more than allowed, so that going over is seen).
    fn allowance(&self) -> u64 {
        let left = self.limits.max_read_bytes.saturating_sub(self.read.load(Ordering::Relaxed));
        left.min(self.window.load(Ordering::Relaxed)).saturating_add(1)
    }

    /// Count `n` bytes just read; fails when a limit is passed.
    pub fn consume(&self, n: u64) -> io::Result<()> {
        let total = self.read.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        if total > self.limits.max_read_bytes {
            self.tripped.store(READ, Ordering::Relaxed);
            return Err(io::Error::other("the scan's read budget is spent"));
        }
        let window = self.window.load(Ordering::Relaxed);
        if window != u64::MAX {
            if n > window {
                self.tripped.store(META, Ordering::Relaxed);
                return Err(io::Error::other("a tar header record is larger than berth reads"));
            }
            self.window.store(window - n, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// A reader whose every byte is counted against a [`Meter`].
pub struct Metered<R> {
    inner: R,
    meter: Arc<Meter>,
}

impl<R> Metered<R> {
    /// Wrap `inner`.
    pub fn new(inner: R, meter: Arc<Meter>) -> Self {
        Self { inner, meter }
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let allowed = usize::try_from(self.meter.allowance()).unwrap_or(usize::MAX);
        let len = buf.len().min(allowed);
        let n = self.inner.read(&mut buf[..len])?;
        self.meter.consume(n as u64)?;
        Ok(n)
    }
}

impl<R: Seek> Seek for Metered<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        // Seeking past data costs no decompression and keeps nothing.
        self.inner.seek(to)
    }
}

/// Why a file an analyzer wanted was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// It is larger than `max_file_bytes`.
    FileLimit,
    /// Keeping it would pass `max_held_bytes`.
    HeldLimit,
}

/// A file an analyzer wanted and berth did not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The path in the image.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Why.
    pub reason: SkipReason,
}

/// A size for people: `256 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{v:.1} {}", UNITS[unit]).replace(".0 ", " ") }
}

impl Skipped {
    /// The warning that says what is missing from the inventory, and why.
    pub fn warning(&self, layer: Option<usize>, limits: &Limits) -> String {
        let place = layer.map_or_else(String::new, |l| format!(" (layer {l})"));
        let why = match self.reason {
            SkipReason::FileLimit => format!(
                "it is {}, more than `[inventory] max_file_bytes` ({})",
                human(self.size),
                human(limits.max_file_bytes)
            ),
            SkipReason::HeldLimit => format!(
                "keeping its {} would pass `[inventory] max_held_bytes` ({}) for this scan",
                human(self.size),
                human(limits.max_held_bytes)
            ),
        };
        format!(
            "skipped `{}`{place}: {why}; the packages it lists are missing from this inventory (raise the limit in the configuration file to read it)",
            self.path
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(read: u64) -> Limits {
        Limits { max_read_bytes: read, ..Limits::DEFAULT }
    }

    #[test]
    fn the_read_budget_stops_a_stream_of_zeros() {
        let meter = Meter::new(limits(10_000));
        let mut r = Metered::new(io::repeat(0), meter.clone());
        let e = io::copy(&mut r, &mut io::sink()).expect_err("stopped");
        assert_eq!(meter.tripped(), Some(Tripped::Read), "{e}");
        assert!(meter.read_so_far() <= 10_001);
    }

    #[test]
    fn the_window_bounds_reads_between_entries() {
        let meter = Meter::new(Limits::DEFAULT);
        meter.window(1000);
        let mut r = Metered::new(io::repeat(0), meter.clone());
        let mut buf = Vec::new();
        assert!(r.by_ref().take(1000).read_to_end(&mut buf).is_ok());
        assert!(r.read(&mut [0u8; 64]).is_err());
        assert_eq!(meter.tripped(), Some(Tripped::Metadata));
        assert_eq!(human(256 << 20), "256 MiB");
        assert_eq!(human(100), "100 bytes");
    }
}
