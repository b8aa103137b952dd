//! Findings and the scan report: every finding says what matched, why, and from which data.

use berth_advisory::Severity;
use berth_advisory::severity::CvssScore;
use berth_inventory::{Inventory, PackageKind};
use serde::{Deserialize, Serialize};

/// The report format version.
pub const FORMAT_VERSION: u32 = 1;

/// Where a vulnerability stands for the installed package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A fixed version exists and the installed one is older.
    Fixed,
    /// Affected, and no fix is known (OSV ranges without an end).
    Affected,
    /// The distribution has not fixed it yet (tracker `open`).
    Unfixed,
    /// Debian decided not to issue an advisory (minor issue); may be fixed in a point release.
    NoDsa,
    /// Debian decided not to fix it.
    Ignored,
    /// Debian postponed the fix.
    Postponed,
    /// The release has no security support for this package any more.
    EndOfLife,
    /// Not yet triaged.
    Undetermined,
}

impl Status {
    /// Whether a fixed version exists.
    pub fn has_fix(self) -> bool {
        self == Self::Fixed
    }

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::Affected => "affected",
            Self::Unfixed => "unfixed",
            Self::NoDsa => "no-dsa",
            Self::Ignored => "ignored",
            Self::Postponed => "postponed",
            Self::EndOfLife => "end-of-life",
            Self::Undetermined => "undetermined",
        }
    }

    /// From a tracker status word.
    pub fn from_tracker(s: &str) -> Option<Self> {
        Some(match s {
            "unfixed" => Self::Unfixed,
            "no-dsa" => Self::NoDsa,
            "ignored" => Self::Ignored,
            "postponed" => Self::Postponed,
            "end-of-life" => Self::EndOfLife,
            "undetermined" => Self::Undetermined,
            "fixed" => Self::Fixed,
            _ => return None,
        })
    }
}

/// One vulnerability in one installed package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The vulnerability id (`CVE-2024-1234`, `PYSEC-2021-76`, `DSA-5532-1`).
    pub id: String,
    /// Other ids of the same vulnerability.
    pub aliases: Vec<String>,
    /// One line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The installed (binary) package.
    pub package: String,
    /// Its format.
    pub kind: PackageKind,
    /// The source package the advisory names, for distributions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_package: Option<String>,
    /// The installed version (of the binary package).
    pub installed_version: String,
    /// The version compared with the advisory (the source version for Debian and Ubuntu).
    pub compared_version: String,
    /// The version that fixes it, if one exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// Where the vulnerability stands.
    pub status: Status,
    /// The severity used (distribution rating first, CVSS as fallback).
    pub severity: Severity,
    /// Where `severity` came from: `debian`, `ubuntu`, `github`, `cvss-v3`, ... or `none`.
    pub severity_source: String,
    /// The merged record whose evidence `severity` is, when it is not `id`'s own (records that
    /// name the same vulnerability are one finding; the best evidence among them counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_record: Option<String>,
    /// The distribution's (or database's) own rating, verbatim, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distribution_rating: Option<String>,
    /// CVSS vectors and scores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cvss: Vec<CvssScore>,
    /// The layer that added the package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// The package's purl.
    pub purl: String,
    /// Where the package was found.
    pub location: String,
    /// The ecosystem matched in (`debian:12`, `pypi`).
    pub ecosystem: String,
    /// Whether the package comes from outside the distribution (its advisories may not apply).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub third_party: bool,
    /// Why it matched, in words (`source version 2.36-9 < fixed 2.36-9+deb12u4 (dpkg)`).
    pub explanation: String,
    /// The advisory database snapshot the match came from.
    pub snapshot: String,
    /// The VEX statement about it that did not suppress it (`affected`, `under_investigation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vex: Option<crate::vex::VexStatement>,
    /// Whether traced runs of the image reached its package (`--reachability`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<crate::reach::FindingReach>,
}

/// Which database a report was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInfo {
    /// Its file.
    pub path: String,
    /// Its snapshot id.
    pub snapshot: String,
    /// When it was built.
    pub built_at: String,
    /// Whether it was older than allowed.
    pub stale: bool,
}

/// Counts per severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Critical.
    pub critical: usize,
    /// High.
    pub high: usize,
    /// Medium.
    pub medium: usize,
    /// Low.
    pub low: usize,
    /// Negligible.
    pub negligible: usize,
    /// Unknown.
    pub unknown: usize,
}

impl Counts {
    /// Count `findings`.
    pub fn of(findings: &[Finding]) -> Self {
        let mut c = Self::default();
        for f in findings {
            *match f.severity {
                Severity::Critical => &mut c.critical,
                Severity::High => &mut c.high,
                Severity::Medium => &mut c.medium,
                Severity::Low => &mut c.low,
                Severity::Negligible => &mut c.negligible,
                Severity::Unknown => &mut c.unknown,
            } += 1;
        }
        c
    }
}

/// Everything `berth scan` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The inventory scanned (target, OS, layers, packages).
    pub inventory: Inventory,
    /// The database used.
    pub database: DbInfo,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Findings per severity.
    pub counts: Counts,
    /// Packages that could not be matched, and why (no advisory source for the OS, versions
    /// that do not parse, ...).
    pub warnings: Vec<String>,
    /// Findings a VEX statement (`not_affected`, `fixed`) took out, each with its statement.
    /// They are in neither `findings` nor `counts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<crate::vex::Suppressed>,
    /// Executables and shared libraries no package owns: their own finding class, since no
    /// package database vouches for them. Those whose build metadata names Go modules or Rust
    /// crates have those matched like packages (`accounted`); the others are opaque.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unowned: Vec<UnownedBinary>,
    /// What traced runs of the image reached (`--reachability`), when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachability: Option<crate::reach::Reachability>,
}

/// A binary no package owns, as a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnownedBinary {
    /// Where it is, relative to the image root.
    pub path: String,
    /// `executable`, `shared-library` or `other`.
    pub kind: String,
    /// Its SHA-256, when it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The layer that wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// How many Go modules or Rust crates its build metadata names (matched as packages).
    pub accounted: usize,
    /// What the user should know.
    pub note: String,
}

impl UnownedBinary {
    /// The finding for an unowned file of an inventory.
    pub fn of(f: &berth_inventory::binary::UnownedFile) -> Self {
        let note = match (&f.toolchain, f.attributed) {
            (Some(t), n) if n > 0 => {
                format!("built with {t}; its {n} modules or crates are matched against advisories")
            }
            _ => "no package owns it and it names no dependencies: its vulnerabilities cannot be known; install it from a package".to_owned(),
        };
        Self {
            path: f.path.clone(),
            kind: f.kind.as_str().to_owned(),
            sha256: f.sha256.clone(),
            layer: f.layer,
            accounted: f.attributed,
            note,
        }
    }
}
