//! Version comparison, dpkg's algorithm (`[epoch:]upstream[-revision]`, `~` sorting before
//! everything). apk and rpm versions compare close enough under it for dependency checks; a
//! wrong answer there only makes minify keep more (see [`crate::closure`]).

use std::cmp::Ordering;

use super::Relation;

/// Whether `version` satisfies `relation target`.
pub fn satisfies(version: &str, relation: Relation, target: &str) -> bool {
    let ord = compare(version, target);
    match relation {
        Relation::Less => ord == Ordering::Less,
        Relation::LessEqual => ord != Ordering::Greater,
        Relation::Equal => ord == Ordering::Equal,
        Relation::GreaterEqual => ord != Ordering::Less,
        Relation::Greater => ord == Ordering::Greater,
    }
}

/// Compare two versions as dpkg does.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb).then_with(|| compare_part(ua, ub)).then_with(|| compare_part(ra, rb))
}

/// `(epoch, upstream, revision)`.
fn split(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

/// dpkg's `verrevcmp`: alternate non-digit runs (compared by `order`) and digit runs
/// (compared numerically).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        loop {
            let ca = a.first().copied().filter(|c| !c.is_ascii_digit());
            let cb = b.first().copied().filter(|c| !c.is_ascii_digit());
            if ca.is_none() && cb.is_none() {
                break;
            }
            let (oa, ob) = (order(ca), order(cb));
            if oa != ob {
                return oa.cmp(&ob);
            }
            if ca.is_some() {
                a = &a[1..];
            }
            if cb.is_some() {
                b = &b[1..];
            }
        }
        let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
        let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let na = trim_zeros(&a[..da]);
        let nb = trim_zeros(&b[..db]);
        let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[da..];
        b = &b[db..];
    }
    Ordering::Equal
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let start = d.iter().position(|c| *c != b'0').unwrap_or(d.len());
    &d[start..]
}

/// dpkg's character order: `~` first, then the end of the string, then letters, then the rest.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_ordering() {
        assert_eq!(compare("1.0", "1.0"), Ordering::Equal);
        assert_eq!(compare("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("1:0.1", "2.0"), Ordering::Greater);
        assert_eq!(compare("2.36-9+deb12u4", "2.36-9"), Ordering::Greater);
        assert_eq!(compare("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare("1.0a", "1.0+"), Ordering::Less);
        assert_eq!(compare("01", "1"), Ordering::Equal);
        assert!(satisfies("2.36-9+deb12u4", Relation::GreaterEqual, "2.36"));
        assert!(!satisfies("2.36", Relation::Greater, "2.36"));
        assert!(satisfies("1.36.1-r15", Relation::GreaterEqual, "1.36.1-r2"));
    }
}
