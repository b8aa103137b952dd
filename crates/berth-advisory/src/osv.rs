//! OSV records (<https://ossf.github.io/osv-schema/>), read from JSON or YAML (the PyPA
//! advisory database writes the same structure as YAML).

use serde::{Deserialize, Serialize};

/// One OSV record, the parts berth uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `PYSEC-2021-76`, `DSA-5532-1`, `CVE-2024-1234`, `GHSA-...`.
    pub id: String,
    /// Other ids of the same vulnerability.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Related but not identical vulnerabilities (OSV `upstream` of distribution records).
    #[serde(default)]
    pub upstream: Vec<String>,
    /// One line.
    #[serde(default)]
    pub summary: Option<String>,
    /// Longer text.
    #[serde(default)]
    pub details: Option<String>,
    /// Last modification (RFC 3339).
    #[serde(default)]
    pub modified: Option<String>,
    /// Publication (RFC 3339).
    #[serde(default)]
    pub published: Option<String>,
    /// Withdrawn records are ignored.
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// CVSS vectors (`type`: `CVSS_V2`, `CVSS_V3`, `CVSS_V4`; `Ubuntu` for Ubuntu's priority).
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    /// What is affected.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// Database-specific data (GitHub's `severity`).
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// One `severity` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityEntry {
    /// The scale.
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector or rating.
    pub score: String,
}

/// One affected package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The package.
    pub package: Option<AffectedPackage>,
    /// Version ranges.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Exact affected versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Per-package severity of some ecosystems.
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    /// Ecosystem-specific data (Debian's `urgency`).
    #[serde(default)]
    pub ecosystem_specific: Option<serde_json::Value>,
    /// Database-specific data.
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// The package of an `affected` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedPackage {
    /// `PyPI`, `Debian:12`, `Ubuntu:22.04:LTS`, `Alpine:v3.19`, `npm`.
    pub ecosystem: String,
    /// The package name in that ecosystem (the source package for distributions).
    pub name: String,
    /// Its purl.
    #[serde(default)]
    pub purl: Option<String>,
}

/// A range of affected versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// `ECOSYSTEM`, `SEMVER` or `GIT` (ignored: commits, not versions).
    #[serde(rename = "type")]
    pub kind: String,
    /// Events in order.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One range event; exactly one field is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Event {
    /// Affected from this version (`0`: from the beginning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    /// Fixed in this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// The last affected version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    /// Not affected from this version on (a limit of the range, not a fix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// Read one record, or a list of records, from JSON.
pub fn from_json(bytes: &[u8]) -> Result<Vec<Record>, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_slice(bytes)?;
    if value.is_array() { serde_json::from_value(value) } else { Ok(vec![serde_json::from_value(value)?]) }
}

/// Read one record from YAML.
pub fn from_yaml(bytes: &[u8]) -> Result<Record, yaml_serde::Error> {
    yaml_serde::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_give_the_same_record() {
        let yaml = b"id: PYSEC-0\naffected:\n- package:\n    name: x\n    ecosystem: PyPI\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"0\"\n    - fixed: 1.0.1\naliases:\n- CVE-0\n";
        let json = br#"{"id":"PYSEC-0","aliases":["CVE-0"],"affected":[{"package":{"name":"x","ecosystem":"PyPI"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0.1"}]}]}]}"#;
        assert_eq!(from_yaml(yaml).expect("yaml"), from_json(json).expect("json").remove(0));
    }
}
