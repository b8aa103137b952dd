//! Counters of a running node, shared by its associations and read by `berth serve`'s
//! metrics endpoint. Relaxed atomics: each is a monotonic count, read as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// The node's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    associations_accepted: AtomicU64,
    associations_rejected: AtomicU64,
    associations_active: AtomicU64,
    associations_aborted: AtomicU64,
    instances_received: AtomicU64,
    bytes_received: AtomicU64,
    instances_failed: AtomicU64,
    duplicates: AtomicU64,
    echoes: AtomicU64,
}

/// A copy of [`Metrics`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MetricsSnapshot {
    /// Associations accepted.
    pub associations_accepted: u64,
    /// Associations rejected (allow-list, called AE title, limit).
    pub associations_rejected: u64,
    /// Associations open now.
    pub associations_active: u64,
    /// Associations that ended other than by release (abort, timeout, malformed PDU, peer gone).
    pub associations_aborted: u64,
    /// Instances stored (new or replaced).
    pub instances_received: u64,
    /// Bytes of the instances stored (their files).
    pub bytes_received: u64,
    /// C-STORE requests answered with a failure status.
    pub instances_failed: u64,
    /// Duplicates (answered by the duplicate rule).
    pub duplicates: u64,
    /// C-ECHO requests answered.
    pub echoes: u64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// A snapshot.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            associations_accepted: get(&self.associations_accepted),
            associations_rejected: get(&self.associations_rejected),
            associations_active: get(&self.associations_active),
            associations_aborted: get(&self.associations_aborted),
            instances_received: get(&self.instances_received),
            bytes_received: get(&self.bytes_received),
            instances_failed: get(&self.instances_failed),
            duplicates: get(&self.duplicates),
            echoes: get(&self.echoes),
        }
    }

    pub(crate) fn accepted(&self) {
        add(&self.associations_accepted, 1);
    }
    pub(crate) fn rejected(&self) {
        add(&self.associations_rejected, 1);
    }
    pub(crate) fn aborted(&self) {
        add(&self.associations_aborted, 1);
    }
    pub(crate) fn stored(&self, bytes: u64) {
        add(&self.instances_received, 1);
        add(&self.bytes_received, bytes);
    }
    pub(crate) fn failed(&self) {
        add(&self.instances_failed, 1);
    }
    pub(crate) fn duplicate(&self) {
        add(&self.duplicates, 1);
    }
    pub(crate) fn echo(&self) {
        add(&self.echoes, 1);
    }
    /// Counts an association in until the guard drops; `None` when `limit` are already open.
    pub(crate) fn enter(&self, limit: usize) -> Option<ActiveGuard<'_>> {
        let before = self.associations_active.fetch_add(1, Ordering::AcqRel);
        if before >= limit as u64 {
            self.associations_active.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ActiveGuard(&self.associations_active))
    }
}

/// One open association, counted while it lives (also when its thread panics).
pub(crate) struct ActiveGuard<'a>(&'a AtomicU64);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
