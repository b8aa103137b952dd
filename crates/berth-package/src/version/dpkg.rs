//! Debian version ordering (epoch, upstream version, revision, `~`), and the parts of a
//! Debian version that matching by source package needs.
//!
//! Written by hand after dpkg's `lib/dpkg/version.c` (`parseversion`, `verrevcmp`,
//! `dpkg_version_compare`): the `debversion` crate orders an empty digit run before `0`
//! (`0a` < `0a0`) where dpkg reads both as zero and calls them equal, as the property test in
//! `tests/version_oracles.rs` (against `dpkg --compare-versions`) found. Parsing is lenient, like
//! dpkg's comparison itself: a version dpkg would warn about (no leading digit, underscores) is
//! still ordered, because installed databases contain such versions.

use std::cmp::Ordering;
use std::fmt;

use super::{Scheme, VersionError};

/// A parsed Debian version: `[epoch:]upstream[-revision]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    /// The epoch (0 when absent).
    pub epoch: u64,
    /// The upstream version.
    pub upstream: String,
    /// The Debian revision (empty when absent, which orders like `0`).
    pub revision: String,
}

impl Version {
    /// Parse as dpkg does: the epoch ends at the first `:`, the revision starts after the
    /// last `-`.
    pub fn parse(v: &str) -> Result<Self, VersionError> {
        let v = v.trim();
        let fail =
            |problem: &str| VersionError { scheme: Scheme::Dpkg, version: v.to_owned(), problem: problem.to_owned() };
        if v.is_empty() {
            return Err(fail("the version is empty"));
        }
        if v.contains(char::is_whitespace) {
            return Err(fail("a version has no spaces"));
        }
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) => {
                // strtol, as dpkg: `-0` is a valid (zero) epoch, `-1` is refused.
                let e = e.parse::<i64>().map_err(|_| fail("the epoch (before `:`) is not a number"))?;
                (u64::try_from(e).map_err(|_| fail("the epoch is negative"))?, rest)
            }
            None => (0, v),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(fail("the upstream version is empty"));
        }
        Ok(Self { epoch, upstream: upstream.to_owned(), revision: revision.to_owned() })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(&self.upstream, &other.upstream))
            .then_with(|| verrevcmp(&self.revision, &other.revision))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.upstream)?;
        if !self.revision.is_empty() {
            write!(f, "-{}", self.revision)?;
        }
        Ok(())
    }
}

/// dpkg's weight of a non-digit character: `~` before the end, the end before letters,
/// letters before everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// `verrevcmp`: alternate non-digit runs (by [`order`]) and digit runs (numerically).
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// Parse a Debian version leniently.
pub fn parse(v: &str) -> Result<Version, VersionError> {
    Version::parse(v)
}

/// Order two Debian versions as `dpkg --compare-versions` does.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(parse(a)?.cmp(&parse(b)?))
}

/// The source version a binary NMU was built from: `1.2-3+b1` → `1.2-3`.
///
/// A binNMU rebuilds a source package without changing its source; its binaries get a `+bN`
/// suffix on the revision (Debian Policy §5.6.12, Developer's Reference §5.10.2.1) and the
/// tracker knows only the source version.
pub fn strip_binnmu(version: &str) -> &str {
    match version.rfind("+b") {
        Some(i) if i + 2 < version.len() && version[i + 2..].bytes().all(|b| b.is_ascii_digit()) => &version[..i],
        _ => version,
    }
}

/// The epoch of `version` (0 when absent).
pub fn epoch(version: &str) -> u32 {
    match version.split_once(':') {
        Some((e, _)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => e.parse().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        compare(a, b).expect("valid versions")
    }

    #[test]
    fn tilde_sorts_before_everything_even_the_end() {
        assert_eq!(cmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0~~", "1.0~"), Ordering::Less);
        assert_eq!(cmp("1.0~rc1-1", "1.0-1"), Ordering::Less);
        assert_eq!(cmp("2.1.0-1~nd120+1", "2.1.0-1"), Ordering::Less);
    }

    #[test]
    fn epochs_win_over_everything_else() {
        assert_eq!(cmp("1:0.1", "9.9"), Ordering::Greater);
        assert_eq!(cmp("0:1.0", "1.0"), Ordering::Equal);
    }

    #[test]
    fn absent_revision_equals_revision_zero_and_letters_sort_before_other_symbols() {
        assert_eq!(cmp("1.0", "1.0-0"), Ordering::Equal);
        assert_eq!(cmp("1.0a", "1.0+"), Ordering::Less);
        assert_eq!(cmp("1.0.1", "1.0a"), Ordering::Greater);
        assert_eq!(cmp("1.001", "1.1"), Ordering::Equal);
    }

    #[test]
    fn binnmu_suffixes_are_stripped_only_when_numeric() {
        assert_eq!(strip_binnmu("2.36-9+deb12u4+b1"), "2.36-9+deb12u4");
        assert_eq!(strip_binnmu("1.0+b"), "1.0+b");
        assert_eq!(strip_binnmu("1.0+bzr12"), "1.0+bzr12");
        assert_eq!(strip_binnmu("1.0-1"), "1.0-1");
    }

    /// Found by the dpkg oracle: an absent digit run is zero (`debversion` 0.5 got this wrong).
    #[test]
    fn an_absent_digit_run_equals_zero() {
        assert_eq!(cmp("0a", "0a0"), Ordering::Equal);
        assert_eq!(cmp("1.0", "1.0.0"), Ordering::Less);
    }

    #[test]
    fn epochs_are_read_from_the_prefix() {
        assert_eq!(epoch("1:2.3-4"), 1);
        assert_eq!(epoch("2.3-4"), 0);
    }
}
