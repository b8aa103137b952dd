//! The Debian Security Tracker's JSON export (`https://security-tracker.debian.org/tracker/data/json`):
//! source package → CVE → release → status, fixed version, urgency, and no-DSA notes.
//!
//! Statuses, per release, as the tracker means them:
//! - `resolved` with a fixed version: fixed there; with fixed version `0`: never affected;
//! - `open`: not fixed yet — or fixed nowhere because the team decided so: `nodsa` with
//!   `nodsa_reason` `ignored` or `postponed`, or no security support (`end-of-life` urgency);
//! - `undetermined`: not yet triaged.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The release codenames the tracker uses, and the OSV-style ecosystem each maps to.
pub const RELEASES: [(&str, &str); 8] = [
    ("jessie", "Debian:8"),
    ("stretch", "Debian:9"),
    ("buster", "Debian:10"),
    ("bullseye", "Debian:11"),
    ("bookworm", "Debian:12"),
    ("trixie", "Debian:13"),
    ("forky", "Debian:14"),
    ("sid", "Debian:sid"),
];

/// What the tracker says about one source package in one release for one CVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `CVE-2024-1234` (or a `TEMP-` id).
    pub id: String,
    /// The source package.
    pub package: String,
    /// `Debian:12`.
    pub ecosystem: String,
    /// `fixed`, `not-affected`, `unfixed`, `no-dsa`, `ignored`, `postponed`, `end-of-life`,
    /// `undetermined`.
    pub status: &'static str,
    /// The version that fixes it, for `fixed`.
    pub fixed: Option<String>,
    /// The tracker's urgency (`unimportant`, `low`, `medium`, `high`, `not yet assigned`).
    pub urgency: Option<String>,
    /// The description.
    pub description: Option<String>,
}

#[derive(Deserialize)]
struct Cve {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    releases: BTreeMap<String, Release>,
}

#[derive(Deserialize)]
struct Release {
    status: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    nodsa: Option<String>,
    #[serde(default)]
    nodsa_reason: Option<String>,
}

/// Whether a JSON document has the tracker's shape (package → CVE → `releases`).
pub fn looks_like_tracker(value: &serde_json::Value) -> bool {
    value.as_object().is_some_and(|o| {
        o.values()
            .take(3)
            .all(|cves| cves.as_object().is_some_and(|c| c.values().take(3).all(|cve| cve.get("releases").is_some())))
            && !o.contains_key("id")
    })
}

/// Read the export.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, serde_json::Error> {
    let doc: BTreeMap<String, BTreeMap<String, Cve>> = serde_json::from_slice(bytes)?;
    let mut out = Vec::new();
    for (package, cves) in doc {
        for (id, cve) in cves {
            for (codename, r) in cve.releases {
                let Some(ecosystem) = RELEASES.iter().find(|(c, _)| *c == codename).map(|(_, e)| *e) else {
                    continue;
                };
                let urgency = r.urgency.clone();
                let (status, fixed) = match r.status.as_str() {
                    "resolved" => match r.fixed_version.as_deref() {
                        Some("0") => ("not-affected", None),
                        Some(v) => ("fixed", Some(v.to_owned())),
                        None => ("fixed", None),
                    },
                    "open" => {
                        let status = match (r.nodsa.is_some(), r.nodsa_reason.as_deref()) {
                            (_, Some("ignored")) => "ignored",
                            (_, Some("postponed")) => "postponed",
                            (true, _) => "no-dsa",
                            _ if urgency.as_deref() == Some("end-of-life") => "end-of-life",
                            _ => "unfixed",
                        };
                        (status, None)
                    }
                    _ => ("undetermined", None),
                };
                out.push(Entry {
                    id: id.clone(),
                    package: package.clone(),
                    ecosystem: ecosystem.to_owned(),
                    status,
                    fixed,
                    urgency,
                    description: cve.description.clone(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_tracker_meanings() {
        let json = br#"{"p": {
            "CVE-1": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"}}},
            "CVE-2": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "1.2-3", "urgency": "medium"}}},
            "CVE-3": {"releases": {"bookworm": {"status": "open", "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": "postponed"}}},
            "CVE-4": {"releases": {"bookworm": {"status": "open", "urgency": "low", "nodsa": "Minor issue"}}},
            "CVE-5": {"releases": {"bookworm": {"status": "open", "urgency": "end-of-life"}, "buster": {"status": "open", "urgency": "high"}}},
            "CVE-6": {"releases": {"bookworm": {"status": "undetermined"}, "hamm": {"status": "open"}}}
        }}"#;
        let entries = parse(json).expect("parse");
        let got: Vec<(&str, &str, &str)> =
            entries.iter().map(|e| (e.id.as_str(), e.ecosystem.as_str(), e.status)).collect();
        assert_eq!(
            got,
            vec![
                ("CVE-1", "Debian:12", "not-affected"),
                ("CVE-2", "Debian:12", "fixed"),
                ("CVE-3", "Debian:12", "postponed"),
                ("CVE-4", "Debian:12", "no-dsa"),
                ("CVE-5", "Debian:12", "end-of-life"),
                ("CVE-5", "Debian:10", "unfixed"),
                ("CVE-6", "Debian:12", "undetermined"),
            ]
        );
        assert_eq!(entries[1].fixed.as_deref(), Some("1.2-3"));
        assert!(looks_like_tracker(&serde_json::from_slice(json).expect("json")));
    }
}
