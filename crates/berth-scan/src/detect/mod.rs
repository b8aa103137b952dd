//! Detectors: which advisories apply to which installed packages, one detector per
//! distribution (Debian, Ubuntu, Alpine, the Red Hat family) and per language ecosystem
//! (PyPI, npm), all on the same matching core:
//!
//! - [`osv_affected`]: OSV ranges (`introduced`, `fixed`, `last_affected`, `limit`) and exact
//!   versions, compared in the ecosystem's own version order;
//! - tracker statuses (Debian): `fixed` compares with the fixed version, open statuses are
//!   findings without a fix, `not-affected` never matches.
//!
//! Debian and Ubuntu advisories name *source* packages, so binary packages are matched by their
//! source name and source version (binNMU `+bN` suffixes stripped, binary-only epochs ignored by
//! using the source's own version).

pub mod debian;
pub mod ecosystem;

use std::cmp::Ordering;

use berth_advisory::db::Affection;
use berth_advisory::osv::Range;
use berth_advisory::severity::CvssScore;
use berth_advisory::version::Scheme;
use berth_advisory::{AffectedRow, Severity};

use crate::finding::{Finding, Status};

/// The verdict of OSV ranges on one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not affected.
    Clear,
    /// Affected; the fix of the range that matched, if it has one; and how.
    Affected {
        /// The fixing version.
        fixed: Option<String>,
        /// In words.
        why: String,
    },
}

/// Evaluate OSV `ranges` and `versions` for `version` under `scheme`.
pub fn osv_affected(
    scheme: Scheme,
    version: &str,
    ranges: &[Range],
    versions: &[String],
) -> Result<Verdict, berth_advisory::version::VersionError> {
    let cmp = |a: &str, b: &str| scheme.compare(a, b);
    // Ranges first: they carry the fixed version. The `versions` list (which osv.dev fills from
    // the ranges) only decides when no range does.
    if let verdict @ Verdict::Affected { .. } = ranges_affected(scheme, version, ranges)? {
        return Ok(verdict);
    }
    for v in versions {
        if v == version || cmp(version, v)? == Ordering::Equal {
            return Ok(Verdict::Affected { fixed: None, why: format!("version {version} is listed as affected") });
        }
    }
    Ok(Verdict::Clear)
}

fn ranges_affected(
    scheme: Scheme,
    version: &str,
    ranges: &[Range],
) -> Result<Verdict, berth_advisory::version::VersionError> {
    let cmp = |a: &str, b: &str| scheme.compare(a, b);
    for range in ranges {
        if range.kind != "ECOSYSTEM" && range.kind != "SEMVER" {
            continue;
        }
        // Walk the events in order: each `introduced` opens an interval, the next `fixed`,
        // `last_affected` or `limit` closes it.
        let mut start: Option<&str> = None;
        let check = |start: &str, end: Option<(&str, &str)>| -> Result<Option<Verdict>, _> {
            let after_start = start == "0" || cmp(version, start)? != Ordering::Less;
            if !after_start {
                return Ok(None);
            }
            Ok(match end {
                None => {
                    Some(Verdict::Affected { fixed: None, why: format!("{version} ≥ {start}, no fix ({scheme})") })
                }
                Some(("fixed", f)) if cmp(version, f)? == Ordering::Less => Some(Verdict::Affected {
                    fixed: Some(f.to_owned()),
                    why: format!("{version} < fixed {f} ({scheme})"),
                }),
                Some(("last_affected", l)) if cmp(version, l)? != Ordering::Greater => {
                    Some(Verdict::Affected { fixed: None, why: format!("{version} ≤ last affected {l} ({scheme})") })
                }
                Some(("limit", l)) if cmp(version, l)? == Ordering::Less => {
                    Some(Verdict::Affected { fixed: None, why: format!("{version} < limit {l} ({scheme})") })
                }
                _ => None,
            })
        };
        for e in &range.events {
            if let Some(i) = &e.introduced {
                if let Some(s) = start.take()
                    && let Some(v) = check(s, None)?
                {
                    // Two introduced in a row: the first stays open.
                    return Ok(v);
                }
                start = Some(i);
            } else if let Some((kind, at)) = e
                .fixed
                .as_deref()
                .map(|f| ("fixed", f))
                .or_else(|| e.last_affected.as_deref().map(|l| ("last_affected", l)))
                .or_else(|| e.limit.as_deref().map(|l| ("limit", l)))
                && let Some(s) = start.take()
                && let Some(v) = check(s, Some((kind, at)))?
            {
                return Ok(v);
            }
        }
        if let Some(s) = start
            && let Some(v) = check(s, None)?
        {
            return Ok(v);
        }
    }
    Ok(Verdict::Clear)
}

/// The severity of a finding: the distribution's rating (this package's row first, then the
/// advisory's), else the highest CVSS score, else unknown. Returns (severity, source, rating).
pub fn severity_of(row: &AffectedRow, distribution: &str) -> (Severity, String, Option<String>) {
    if let Some(r) = row.rating.as_deref()
        && let Some(s) = Severity::from_rating(r)
    {
        return (s, distribution.to_owned(), Some(r.to_owned()));
    }
    if let (Some(s), Some(src)) = (row.advisory.rating, row.advisory.rating_source.as_deref()) {
        return (s, src.to_owned(), Some(s.as_str().to_owned()));
    }
    let best = row
        .advisory
        .cvss
        .iter()
        .filter(|c| c.score.is_some())
        .max_by(|a, b| a.score.partial_cmp(&b.score).unwrap_or(Ordering::Equal));
    match best {
        Some(c) => (c.severity().unwrap_or(Severity::Unknown), cvss_source(c), row.rating.clone()),
        None => (Severity::Unknown, "none".to_owned(), row.rating.clone()),
    }
}

fn cvss_source(c: &CvssScore) -> String {
    if c.vector.starts_with("CVSS:4") {
        "cvss-v4".to_owned()
    } else if c.vector.starts_with("CVSS:3") {
        "cvss-v3".to_owned()
    } else {
        "cvss-v2".to_owned()
    }
}

/// What the matching core needs to know about one installed package.
pub struct Candidate<'a> {
    /// The package.
    pub package: &'a berth_inventory::Package,
    /// The name advisories use (source package for distributions).
    pub advisory_name: String,
    /// The version compared (source version for Debian/Ubuntu).
    pub compared_version: String,
}

/// Match one candidate against its rows; `distribution` names the rating's source.
pub fn match_rows(
    candidate: &Candidate<'_>,
    rows: &[AffectedRow],
    scheme: Scheme,
    distribution: &str,
    snapshot: &str,
    warnings: &mut Vec<String>,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for row in rows {
        let (status, fixed, why) = match &row.affection {
            Affection::Tracker { status, fixed } => match status.as_str() {
                "not-affected" => continue,
                "fixed" => match fixed {
                    Some(f) => match scheme.compare(&candidate.compared_version, f) {
                        Ok(Ordering::Less) => (
                            Status::Fixed,
                            Some(f.clone()),
                            format!(
                                "{} {} < fixed {f} ({scheme})",
                                source_word(distribution),
                                candidate.compared_version
                            ),
                        ),
                        Ok(_) => continue,
                        Err(e) => {
                            warnings.push(format!("{}: {e}", row.advisory.id));
                            continue;
                        }
                    },
                    None => continue,
                },
                other => match Status::from_tracker(other) {
                    Some(s) => {
                        (s, None, format!("the tracker marks {} `{other}` in this release", candidate.advisory_name))
                    }
                    None => continue,
                },
            },
            Affection::Osv { ranges, versions } => {
                match osv_affected(scheme, &candidate.compared_version, ranges, versions) {
                    Ok(Verdict::Clear) => continue,
                    Ok(Verdict::Affected { fixed, why }) => {
                        (if fixed.is_some() { Status::Fixed } else { Status::Affected }, fixed, why)
                    }
                    Err(e) => {
                        warnings.push(format!(
                            "{} on {} {}: {e}",
                            row.advisory.id, candidate.package.name, candidate.compared_version
                        ));
                        continue;
                    }
                }
            }
        };
        let (severity, severity_source, rating) = severity_of(row, distribution);
        let p = candidate.package;
        let finding = Finding {
            id: row.advisory.id.clone(),
            aliases: row.advisory.aliases.clone(),
            summary: row.advisory.summary.clone(),
            package: p.name.clone(),
            kind: p.kind,
            source_package: p.kind.is_os().then(|| candidate.advisory_name.clone()),
            installed_version: p.version.clone(),
            compared_version: candidate.compared_version.clone(),
            fixed_version: fixed,
            status,
            severity,
            severity_source,
            distribution_rating: rating,
            cvss: row.advisory.cvss.clone(),
            layer: p.layer,
            purl: p.purl.clone(),
            location: p.location.clone(),
            ecosystem: row.ecosystem.clone(),
            third_party: p.origin.is_third_party(),
            explanation: why,
            snapshot: snapshot.to_owned(),
        };
        // One finding per vulnerability: a distribution advisory (DSA, USN) that names a CVE
        // already found is folded into that finding as an alias.
        if let Some(existing) = out
            .iter_mut()
            .find(|f| f.id == finding.id || f.aliases.contains(&finding.id) || finding.aliases.contains(&f.id))
        {
            if existing.id != finding.id && !existing.aliases.contains(&finding.id) {
                existing.aliases.push(finding.id.clone());
            }
            if existing.fixed_version.is_none() {
                existing.fixed_version = finding.fixed_version.clone();
            }
            if existing.cvss.is_empty() {
                existing.cvss = finding.cvss.clone();
            }
            continue;
        }
        out.push(finding);
    }
    out
}

fn source_word(distribution: &str) -> &'static str {
    match distribution {
        "debian" | "ubuntu" => "source version",
        _ => "version",
    }
}

#[cfg(test)]
mod tests {
    use berth_advisory::osv::Event;

    use super::*;

    fn range(events: &[(&str, &str)]) -> Vec<Range> {
        vec![Range {
            kind: "ECOSYSTEM".into(),
            events: events
                .iter()
                .map(|(k, v)| {
                    let v = Some((*v).to_owned());
                    match *k {
                        "introduced" => Event { introduced: v, ..Event::default() },
                        "fixed" => Event { fixed: v, ..Event::default() },
                        "last_affected" => Event { last_affected: v, ..Event::default() },
                        _ => Event { limit: v, ..Event::default() },
                    }
                })
                .collect(),
        }]
    }

    fn affected(scheme: Scheme, v: &str, events: &[(&str, &str)]) -> Verdict {
        osv_affected(scheme, v, &range(events), &[]).expect("comparable")
    }

    #[test]
    fn osv_ranges_open_and_close_in_order() {
        let r = [("introduced", "0"), ("fixed", "3.7.4")];
        assert!(
            matches!(affected(Scheme::Pep440, "3.7.3", &r), Verdict::Affected { fixed: Some(f), .. } if f == "3.7.4")
        );
        assert_eq!(affected(Scheme::Pep440, "3.7.4", &r), Verdict::Clear);
        assert!(matches!(affected(Scheme::Pep440, "3.8.0rc1", &r), Verdict::Clear));
        let two = [("introduced", "1.0"), ("fixed", "1.2"), ("introduced", "2.0"), ("fixed", "2.1")];
        assert!(matches!(affected(Scheme::Pep440, "2.0.5", &two), Verdict::Affected { .. }));
        assert_eq!(affected(Scheme::Pep440, "1.5", &two), Verdict::Clear);
        assert_eq!(affected(Scheme::Pep440, "0.9", &two), Verdict::Clear);
        let last = [("introduced", "0"), ("last_affected", "2.0")];
        assert!(matches!(affected(Scheme::Pep440, "2.0", &last), Verdict::Affected { fixed: None, .. }));
        assert_eq!(affected(Scheme::Pep440, "2.0.1", &last), Verdict::Clear);
        let open = [("introduced", "1.0")];
        assert!(matches!(affected(Scheme::Pep440, "9.9", &open), Verdict::Affected { fixed: None, .. }));
    }

    #[test]
    fn ranges_use_the_ecosystem_order() {
        // dpkg: ~ sorts before the release; a backport below the fix is affected.
        let r = [("introduced", "0"), ("fixed", "3.0.11-1~deb12u2")];
        assert!(matches!(affected(Scheme::Dpkg, "3.0.11-1~deb12u1", &r), Verdict::Affected { .. }));
        assert_eq!(affected(Scheme::Dpkg, "3.0.11-1", &r), Verdict::Clear);
        // apk: -r revisions.
        let a = [("introduced", "0"), ("fixed", "3.1.4-r6")];
        assert!(matches!(affected(Scheme::Apk, "3.1.4-r5", &a), Verdict::Affected { .. }));
        assert_eq!(affected(Scheme::Apk, "3.1.4-r10", &a), Verdict::Clear);
        // Exact versions.
        let v = osv_affected(Scheme::Pep440, "1.0", &[], &["1.0.0".to_owned()]).expect("ok");
        assert!(matches!(v, Verdict::Affected { .. }));
        // A version both listed and in a range: the range gives the fix (PYSEC records list
        // every affected release as well).
        let listed = osv_affected(
            Scheme::Pep440,
            "1.26.4",
            &range(&[("introduced", "0"), ("fixed", "1.26.5")]),
            &["1.26.4".to_owned()],
        );
        assert!(matches!(listed, Ok(Verdict::Affected { fixed: Some(f), .. }) if f == "1.26.5"));
    }
}
