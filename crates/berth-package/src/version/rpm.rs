//! RPM version ordering: `rpmvercmp` with `~` (pre-release) and `^` (post-release snapshot),
//! and epoch:version-release comparison.
//!
//! Written by hand: it is rpm's `rpmio/rpmvercmp.c` (rpm 4.15 and newer) segment by segment,
//! about fifty lines, and the crates that offer it pull a whole rpm package reader with them.
//! `tests/version_oracles.rs` checks it against Debian's `rpm` (`rpm.vercmp` in rpm's Lua).

use std::cmp::Ordering;

/// `rpmvercmp(a, b)` on a bare version or release string.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut one, mut two) = (a.as_bytes(), b.as_bytes());
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while !one.is_empty() || !two.is_empty() {
        while let Some((&c, rest)) = one.split_first()
            && separator(c)
        {
            one = rest;
        }
        while let Some((&c, rest)) = two.split_first()
            && separator(c)
        {
            two = rest;
        }
        // `~` sorts before everything, even the end of the string.
        if one.first() == Some(&b'~') || two.first() == Some(&b'~') {
            if one.first() != Some(&b'~') {
                return Ordering::Greater;
            }
            if two.first() != Some(&b'~') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        // `^` sorts after the end of the string but before anything else.
        if one.first() == Some(&b'^') || two.first() == Some(&b'^') {
            if one.is_empty() {
                return Ordering::Less;
            }
            if two.is_empty() {
                return Ordering::Greater;
            }
            if one.first() != Some(&b'^') {
                return Ordering::Greater;
            }
            if two.first() != Some(&b'^') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        if one.is_empty() || two.is_empty() {
            break;
        }
        let numeric = one[0].is_ascii_digit();
        let take = |s: &[u8]| {
            s.iter().take_while(|c| if numeric { c.is_ascii_digit() } else { c.is_ascii_alphabetic() }).count()
        };
        let (n1, n2) = (take(one), take(two));
        let (mut seg1, mut seg2) = (&one[..n1], &two[..n2]);
        // Segments of different types: numeric is newer than alphabetic.
        if seg2.is_empty() {
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        if numeric {
            while seg1.first() == Some(&b'0') {
                seg1 = &seg1[1..];
            }
            while seg2.first() == Some(&b'0') {
                seg2 = &seg2[1..];
            }
            match seg1.len().cmp(&seg2.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match seg1.cmp(seg2) {
            Ordering::Equal => {}
            other => return other,
        }
        one = &one[n1..];
        two = &two[n2..];
    }
    match (one.is_empty(), two.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// An `[epoch:]version[-release]` triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evr<'a> {
    /// The epoch; absent means 0.
    pub epoch: Option<u64>,
    /// The version.
    pub version: &'a str,
    /// The release, if given.
    pub release: Option<&'a str>,
}

impl<'a> Evr<'a> {
    /// Split `[epoch:]version[-release]` (the release follows the last `-`).
    pub fn parse(s: &'a str) -> Self {
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) if e.bytes().all(|b| b.is_ascii_digit()) && !e.is_empty() => (e.parse().ok(), rest),
            _ => (None, s),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r)),
            None => (rest, None),
        };
        Self { epoch, version, release }
    }
}

/// Compare `[epoch:]version[-release]` strings as `rpm` compares package EVRs: epochs (absent
/// is 0), then versions, then releases when both have one.
pub fn compare_evr(a: &str, b: &str) -> Ordering {
    let (a, b) = (Evr::parse(a), Evr::parse(b));
    a.epoch.unwrap_or(0).cmp(&b.epoch.unwrap_or(0)).then_with(|| vercmp(a.version, b.version)).then_with(|| {
        match (a.release, b.release) {
            (Some(x), Some(y)) => vercmp(x, y),
            _ => Ordering::Equal,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from rpm's own test suite (`tests/rpmvercmp.at`).
    #[test]
    fn rpm_test_suite_cases() {
        use Ordering::*;
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0.1a", Less),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("8", "xyz.4", Greater),
            ("5.5p1", "5.5.p1", Equal),
            ("10.0001", "10.1", Equal),
            ("10.0001", "10.0039", Less),
            ("4.999.9", "5.0", Less),
            ("20101121", "20101122", Less),
            ("2_0", "2_0", Equal),
            ("2.0", "2_0", Equal),
            ("a", "a", Equal),
            ("a+", "a_", Equal),
            ("+", "_", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(vercmp(a, b), want, "rpmvercmp({a}, {b})");
            assert_eq!(vercmp(b, a), want.reverse(), "rpmvercmp({b}, {a})");
        }
    }

    #[test]
    fn evr_compares_epoch_then_version_then_release() {
        assert_eq!(compare_evr("1:1.0-1", "2.0-1"), Ordering::Greater);
        assert_eq!(compare_evr("1.0-2.el7", "1.0-10.el7"), Ordering::Less);
        assert_eq!(compare_evr("1.0", "1.0-5"), Ordering::Equal);
        assert_eq!(Evr::parse("2:1.2-3.el7_9"), Evr { epoch: Some(2), version: "1.2", release: Some("3.el7_9") });
    }
}
