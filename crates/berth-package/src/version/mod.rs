//! Version ordering as each package ecosystem defines it.
//!
//! Advisories say "fixed in X" in the version language of the package's ecosystem, so every
//! comparison goes through the [`Scheme`] of that ecosystem: dpkg for Debian and Ubuntu,
//! apk for Alpine, rpm for the Red Hat family, PEP 440 for PyPI, SemVer for npm, Go and
//! crates.io, R's `package_version` for CRAN.

pub mod apk;
pub mod cran;
pub mod dpkg;
pub mod pep440;
pub mod rpm;

use std::cmp::Ordering;
use std::fmt;

/// A version-ordering scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Debian's `dpkg --compare-versions` (Debian, Ubuntu).
    Dpkg,
    /// Alpine's `apk version -t`.
    Apk,
    /// `rpmvercmp` on epoch, version and release (CentOS, RHEL, Rocky, Alma, Fedora).
    Rpm,
    /// PEP 440 (PyPI, conda's Python packages).
    Pep440,
    /// Semantic Versioning 2.0 (npm, Go modules, crates.io).
    Semver,
    /// R's `package_version` (CRAN).
    Cran,
}

impl Scheme {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dpkg => "dpkg",
            Self::Apk => "apk",
            Self::Rpm => "rpm",
            Self::Pep440 => "pep440",
            Self::Semver => "semver",
            Self::Cran => "cran",
        }
    }

    /// Compare `a` with `b` under this scheme.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        match self {
            Self::Dpkg => dpkg::compare(a, b),
            Self::Apk => apk::compare(a, b),
            Self::Rpm => Ok(rpm::compare_evr(a, b)),
            Self::Pep440 => pep440::compare(a, b),
            Self::Cran => cran::compare(a, b),
            Self::Semver => {
                let parse = |v: &str| {
                    semver::Version::parse(v.trim_start_matches('v')).map_err(|e| VersionError {
                        scheme: self,
                        version: v.to_owned(),
                        problem: e.to_string(),
                    })
                };
                Ok(parse(a)?.cmp_precedence(&parse(b)?))
            }
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version string that its scheme cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{version}` is not a valid {scheme} version: {problem}")]
pub struct VersionError {
    /// The scheme it was read with.
    pub scheme: Scheme,
    /// The version string.
    pub version: String,
    /// What is wrong with it.
    pub problem: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_ignores_build_metadata_and_a_leading_v() {
        assert_eq!(Scheme::Semver.compare("v1.2.3+build", "1.2.3"), Ok(Ordering::Equal));
        assert_eq!(Scheme::Semver.compare("1.2.3-rc.1", "1.2.3"), Ok(Ordering::Less));
        assert!(Scheme::Semver.compare("one", "1.0.0").is_err());
    }
}
