//! PEP 440 ordering for PyPI versions, with the `pep440_rs` crate.

use std::cmp::Ordering;
use std::str::FromStr;

use super::{Scheme, VersionError};

/// Parse a PEP 440 version (normalizing `1.0RC1`, `v1.0`, `1.0.post1` spellings).
pub fn parse(v: &str) -> Result<pep440_rs::Version, VersionError> {
    pep440_rs::Version::from_str(v.trim()).map_err(|e| VersionError {
        scheme: Scheme::Pep440,
        version: v.to_owned(),
        problem: e.to_string(),
    })
}

/// Order two PEP 440 versions.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(parse(a)?.cmp(&parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_post_dev_and_local_versions_order_as_pep_440_says() {
        let ordered = ["1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0+local", "1.0.post1", "1.1"];
        for pair in ordered.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Ok(Ordering::Less), "{pair:?}");
        }
        assert_eq!(compare("1.0RC1", "1.0rc1"), Ok(Ordering::Equal));
        assert_eq!(compare("1.0", "1.0.0"), Ok(Ordering::Equal));
        assert!(compare("not a version", "1.0").is_err());
    }
}
