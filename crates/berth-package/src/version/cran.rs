//! R package versions, as R's `package_version` orders them (and OSV's CRAN ecosystem): at
//! least two non-negative integers separated by `.` or `-` (`1.0-12`, `0.4.10`), compared
//! number by number; a version that is a prefix of another is the lower (`1.0` < `1.0-1`).

use std::cmp::Ordering;

use super::{Scheme, VersionError};

/// The numbers of `v`.
pub fn parse(v: &str) -> Result<Vec<u64>, VersionError> {
    let err = |problem: &str| VersionError { scheme: Scheme::Cran, version: v.to_owned(), problem: problem.to_owned() };
    let parts: Vec<u64> = v
        .trim()
        .split(['.', '-'])
        .map(|p| if p.bytes().all(|b| b.is_ascii_digit()) { p.parse::<u64>().ok() } else { None })
        .collect::<Option<_>>()
        .ok_or_else(|| err("R versions are numbers separated by `.` or `-`"))?;
    if parts.len() < 2 {
        return Err(err("R versions have at least two numbers"));
    }
    Ok(parts)
}

/// Compare two R package versions.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(parse(a)?.cmp(&parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_one_by_one_and_a_prefix_is_lower() {
        assert_eq!(compare("1.0-12", "1.0-9"), Ok(Ordering::Greater));
        assert_eq!(compare("1.0", "1.0-1"), Ok(Ordering::Less));
        assert_eq!(compare("1.0-1", "1.0.1"), Ok(Ordering::Equal));
        assert_eq!(compare("0.4.10", "0.4.9"), Ok(Ordering::Greater));
        assert_eq!(compare("3.4.0", "3.10.0"), Ok(Ordering::Less));
        assert!(compare("1", "1.0").is_err());
        assert!(compare("1.0a", "1.0").is_err());
        assert!(compare("1..0", "1.0").is_err());
    }
}
