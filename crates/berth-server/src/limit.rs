//! Failed sign-ins and token checks, limited per client address and per user name: defence
//! in depth (tokens and session ids are 256-bit secrets looked up by hash, so guessing is
//! hopeless anyway), and a brake on clients that hammer the server with bad credentials.
//!
//! Each key has a bucket of [`BURST`] failures that refills one every [`REFILL`]; an empty
//! bucket answers 429 with `Retry-After` until it refills. Only failures fill the table, so a
//! server without failures takes no lock at all on the request path (an atomic count says the
//! table is empty), and with failures the lock is one of [`SHARDS`] shards, not a global one.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Failures a key may have in a row before it is refused.
pub const BURST: f64 = 10.0;
/// One more failure is allowed after this long.
pub const REFILL: Duration = Duration::from_secs(6);
/// Independent locks the table is split into.
pub const SHARDS: usize = 16;
/// Entries a shard keeps before it drops the ones that have refilled.
const SWEEP_AT: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Failures still allowed (fractional while refilling).
    left: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(self, now: Instant) -> Bucket {
        let gained = now.duration_since(self.at).as_secs_f64() / REFILL.as_secs_f64();
        Bucket { left: (self.left + gained).min(BURST), at: now }
    }
}

/// The failure limiter (see the module documentation).
#[derive(Debug)]
pub struct FailureLimiter {
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
    entries: AtomicUsize,
}

impl Default for FailureLimiter {
    fn default() -> Self {
        FailureLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            entries: AtomicUsize::new(0),
        }
    }
}

impl FailureLimiter {
    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Bucket>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// `Err(retry after)` when `key` has no failure left.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.entries.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let map = self.shard(key).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(key) {
            Some(b) => wait_for(b.refilled(Instant::now())),
            None => Ok(()),
        }
    }

    /// Records a failure of `key`; `Err(retry after)` when that was its last one.
    pub fn fail(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.shard(key).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= SWEEP_AT {
            let before = map.len();
            map.retain(|_, b| b.refilled(now).left < BURST);
            self.entries.fetch_sub(before - map.len(), Ordering::Relaxed);
        }
        let bucket = match map.get(key) {
            Some(b) => b.refilled(now),
            None => {
                self.entries.fetch_add(1, Ordering::Relaxed);
                Bucket { left: BURST, at: now }
            }
        };
        let after = Bucket { left: (bucket.left - 1.0).max(0.0), at: now };
        map.insert(key.to_owned(), after);
        wait_for(after)
    }
}

fn wait_for(b: Bucket) -> Result<(), Duration> {
    if b.left >= 1.0 { Ok(()) } else { Err(REFILL.mul_f64(1.0 - b.left).max(Duration::from_secs(1))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_its_burst_and_others_are_not() {
        let l = FailureLimiter::default();
        assert!(l.check("addr 1").is_ok());
        for i in 0..(BURST as usize - 1) {
            assert!(l.fail("addr 1").is_ok(), "failure {i}");
        }
        let wait = l.fail("addr 1").expect_err("the last failure");
        assert!(wait >= Duration::from_secs(1) && wait <= REFILL, "{wait:?}");
        assert!(l.check("addr 1").is_err());
        assert!(l.check("addr 2").is_ok());
        assert!(l.check("user alice").is_ok());
    }
}
