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
///
/// Only an installed `version` the scheme cannot read is an error. A record entry it cannot
/// read is not: a `versions` entry or an `introduced` event is skipped (real PyPA records carry
/// a few non-PEP 440 entries, and the rest of the record still holds), and a `fixed`,
/// `last_affected` or `limit` event that cannot be read leaves the version affected with the fix
/// unknown. Each such entry is described in `notes`.
pub fn osv_affected(
    scheme: Scheme,
    version: &str,
    ranges: &[Range],
    versions: &[String],
    notes: &mut Vec<String>,
) -> Result<Verdict, berth_advisory::version::VersionError> {
    scheme.compare(version, version)?;
    // Ranges first: they carry the fixed version. The `versions` list (which osv.dev fills from
    // the ranges) only decides when no range does.
    if let verdict @ Verdict::Affected { .. } = ranges_affected(scheme, version, ranges, notes) {
        return Ok(verdict);
    }
    for v in versions {
        match scheme.compare(version, v) {
            Ok(Ordering::Equal) => {
                return Ok(Verdict::Affected { fixed: None, why: format!("version {version} is listed as affected") });
            }
            Ok(_) => {}
            Err(_) => {
                notes.push(format!("listed version `{v}` is not a valid {scheme} version; that entry is skipped"))
            }
        }
    }
    Ok(Verdict::Clear)
}

/// `ranges_affected` for a `version` the scheme has read.
fn ranges_affected(scheme: Scheme, version: &str, ranges: &[Range], notes: &mut Vec<String>) -> Verdict {
    for range in ranges {
        if range.kind != "ECOSYSTEM" && range.kind != "SEMVER" {
            continue;
        }
        // Walk the events in order: each `introduced` opens an interval, the next `fixed`,
        // `last_affected` or `limit` closes it.
        let mut start: Option<&str> = None;
        let mut check = |start: &str, end: Option<(&str, &str)>| -> Option<Verdict> {
            let after_start = start == "0"
                || match scheme.compare(version, start) {
                    Ok(o) => o != Ordering::Less,
                    Err(_) => {
                        notes.push(format!(
                            "introduced `{start}` is not a valid {scheme} version; that range is skipped"
                        ));
                        return None;
                    }
                };
            if !after_start {
                return None;
            }
            let Some((kind, at)) = end else {
                return Some(Verdict::Affected {
                    fixed: None, why: format!("{version} ≥ {start}, no fix ({scheme})")
                });
            };
            let Ok(order) = scheme.compare(version, at) else {
                let why = format!(
                    "{version} ≥ {start}; the range ends at {kind} `{at}`, which is not a valid {scheme} version, so \
                     the fix is unknown"
                );
                notes.push(format!("{kind} `{at}` is not a valid {scheme} version; the fix is shown as unknown"));
                return Some(Verdict::Affected { fixed: None, why });
            };
            match (kind, order) {
                ("fixed", Ordering::Less) => Some(Verdict::Affected {
                    fixed: Some(at.to_owned()),
                    why: format!("{version} < fixed {at} ({scheme})"),
                }),
                ("last_affected", Ordering::Less | Ordering::Equal) => {
                    Some(Verdict::Affected { fixed: None, why: format!("{version} ≤ last affected {at} ({scheme})") })
                }
                ("limit", Ordering::Less) => {
                    Some(Verdict::Affected { fixed: None, why: format!("{version} < limit {at} ({scheme})") })
                }
                _ => None,
            }
        };
        for e in &range.events {
            if let Some(i) = &e.introduced {
                if let Some(s) = start.take()
                    && let Some(v) = check(s, None)
                {
                    // Two introduced in a row: the first stays open.
                    return v;
                }
                start = Some(i);
            } else if let Some((kind, at)) = e
                .fixed
                .as_deref()
                .map(|f| ("fixed", f))
                .or_else(|| e.last_affected.as_deref().map(|l| ("last_affected", l)))
                .or_else(|| e.limit.as_deref().map(|l| ("limit", l)))
                && let Some(s) = start.take()
                && let Some(v) = check(s, Some((kind, at)))
            {
                return v;
            }
        }
        if let Some(s) = start
            && let Some(v) = check(s, None)
        {
            return v;
        }
    }
    Verdict::Clear
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
    let mut found: Vec<(Finding, usize)> = Vec::new();
    for (index, row) in rows.iter().enumerate() {
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
                let mut notes = Vec::new();
                let verdict = osv_affected(scheme, &candidate.compared_version, ranges, versions, &mut notes);
                for n in notes {
                    warnings.push(format!(
                        "{} on {} {}: {n}",
                        row.advisory.id, candidate.package.name, candidate.compared_version
                    ));
                }
                match verdict {
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
            severity_record: None,
            distribution_rating: rating,
            cvss: row.advisory.cvss.clone(),
            layer: p.layer,
            purl: p.purl.clone(),
            location: p.location.clone(),
            ecosystem: row.ecosystem.clone(),
            third_party: p.origin.is_third_party(),
            explanation: why,
            snapshot: snapshot.to_owned(),
            vex: None,
            reach: None,
        };
        found.push((finding, index));
    }
    merge(found, rows, scheme, &candidate.compared_version)
}

/// One finding per vulnerability. Records that share an id or an alias name the same
/// vulnerability, and so do records linked through others (OSV aliases are symmetric and
/// transitive: a PYSEC and a GHSA record that both list one CVE but not each other are one
/// finding). The links are taken over every record of the package, also those that do not
/// affect the installed version: they still say which versions of it are affected. The first
/// record found leads; the group's finding then carries every id, every CVSS vector, the best
/// severity evidence among the records that matched (and which record it came from), and a fixed
/// version that lies outside every affected range of every record of the vulnerability.
fn merge(found: Vec<(Finding, usize)>, rows: &[AffectedRow], scheme: Scheme, version: &str) -> Vec<Finding> {
    let mut parent: Vec<usize> = (0..rows.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let a = &row.advisory;
        for id in std::iter::once(a.id.as_str()).chain(a.aliases.iter().map(String::as_str)) {
            match owner.get(id) {
                Some(&j) => {
                    let (x, y) = (root(&mut parent, i), root(&mut parent, j));
                    parent[x.max(y)] = x.min(y);
                }
                None => {
                    owner.insert(id, i);
                }
            }
        }
    }
    // The findings of each component, in the order found.
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
    let mut order: Vec<usize> = Vec::new();
    for (k, (_, row)) in found.iter().enumerate() {
        let r = root(&mut parent, *row);
        if !groups.contains_key(&r) {
            order.push(r);
        }
        groups.entry(r).or_default().push(k);
    }
    let mut out = Vec::with_capacity(groups.len());
    for r in order {
        let members = &groups[&r];
        let mut lead = found[members[0]].0.clone();
        let component: Vec<usize> = (0..rows.len()).filter(|&i| root(&mut parent, i) == r).collect();
        // Every id of the vulnerability, also those of records that did not match.
        for &i in &component {
            let a = &rows[i].advisory;
            for id in std::iter::once(&a.id).chain(&a.aliases) {
                if *id != lead.id && !lead.aliases.contains(id) {
                    lead.aliases.push(id.clone());
                }
            }
        }
        for &m in &members[1..] {
            let f = &found[m].0;
            if lead.summary.is_none() {
                lead.summary = f.summary.clone();
            }
            for c in &f.cvss {
                if !lead.cvss.iter().any(|l| l.vector == c.vector) {
                    lead.cvss.push(c.clone());
                }
            }
        }
        // Severity: a rating (the distribution's, then the database's) is better evidence than
        // a CVSS score, which is better than none; among equals the highest counts.
        let evidence = |f: &Finding| {
            let class = match f.severity_source.as_str() {
                "none" => 0,
                s if s.starts_with("cvss") => 1,
                _ => 2,
            };
            (class, f.severity)
        };
        if let Some(&best) = members.iter().max_by_key(|&&m| (evidence(&found[m].0), std::cmp::Reverse(m)))
            && evidence(&found[best].0) > evidence(&lead)
        {
            let b = &found[best].0;
            lead.severity = b.severity;
            lead.severity_source = b.severity_source.clone();
            lead.distribution_rating = b.distribution_rating.clone();
            lead.severity_record = (b.id != lead.id).then(|| b.id.clone());
        }
        let group_rows: Vec<&AffectedRow> = component.iter().map(|&i| &rows[i]).collect();
        advise_fix(&mut lead, &group_rows, members.iter().map(|&m| &found[m].0), scheme, version);
        out.push(lead);
    }
    out
}

/// Sets `lead`'s fixed version to the lowest version above `version` that any of the group's
/// records names as a fix and that none of them holds affected; none when there is no such
/// version (a fix that is itself inside another affected range is no fix).
fn advise_fix<'a>(
    lead: &mut Finding,
    rows: &[&AffectedRow],
    findings: impl Iterator<Item = &'a Finding>,
    scheme: Scheme,
    version: &str,
) {
    let mut candidates: Vec<String> = findings.filter_map(|f| f.fixed_version.clone()).collect();
    for row in rows {
        match &row.affection {
            Affection::Osv { ranges, .. } => {
                candidates.extend(ranges.iter().flat_map(|r| r.events.iter().filter_map(|e| e.fixed.clone())));
            }
            Affection::Tracker { fixed: Some(f), status } if status == "fixed" => candidates.push(f.clone()),
            Affection::Tracker { .. } => {}
        }
    }
    candidates.retain(|c| matches!(scheme.compare(c, version), Ok(Ordering::Greater)));
    candidates.sort_by(|a, b| scheme.compare(a, b).unwrap_or(Ordering::Equal));
    candidates.dedup_by(|a, b| scheme.compare(a, b).is_ok_and(|o| o == Ordering::Equal));
    if candidates.is_empty() {
        return;
    }
    // Which record still holds a candidate affected.
    let holder = |c: &str| -> Option<String> {
        rows.iter().find_map(|row| {
            let affected = match &row.affection {
                Affection::Osv { ranges, versions } => {
                    matches!(osv_affected(scheme, c, ranges, versions, &mut Vec::new()), Ok(Verdict::Affected { .. }))
                }
                Affection::Tracker { status, fixed: Some(f) } if status == "fixed" => {
                    matches!(scheme.compare(c, f), Ok(Ordering::Less))
                }
                Affection::Tracker { .. } => false,
            };
            affected.then(|| row.advisory.id.clone())
        })
    };
    let advised = candidates.iter().find(|c| holder(c).is_none()).cloned();
    if advised == lead.fixed_version {
        return;
    }
    match (&lead.fixed_version, &advised) {
        (Some(named), Some(a)) => {
            let by = holder(named).unwrap_or_default();
            lead.explanation.push_str(&format!(
                "; {named} is itself affected ({by}): the first version outside every affected range is {a}"
            ));
        }
        (Some(named), None) => {
            let by = holder(named).unwrap_or_default();
            lead.explanation.push_str(&format!(
                "; {named} is itself affected ({by}) and no named fix lies outside every affected range"
            ));
        }
        (None, Some(a)) => {
            lead.explanation.push_str(&format!("; fixed in {a}, named by a record of the same vulnerability"));
        }
        (None, None) => {}
    }
    if lead.status == Status::Fixed && advised.is_none() {
        lead.status = Status::Affected;
    } else if lead.status == Status::Affected && advised.is_some() {
        lead.status = Status::Fixed;
    }
    lead.fixed_version = advised;
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
    use berth_advisory::severity::CvssScore;

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
        osv_affected(scheme, v, &range(events), &[], &mut Vec::new()).expect("comparable")
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

    fn package(name: &str, version: &str) -> berth_inventory::Package {
        berth_inventory::Package {
            kind: berth_inventory::PackageKind::Python,
            name: name.into(),
            version: version.into(),
            source_name: None,
            source_version: None,
            arch: None,
            licenses: vec![],
            purl: format!("pkg:pypi/{name}@{version}"),
            layer: None,
            location: "/usr/lib/python3/dist-packages".into(),
            origin: berth_inventory::Origin::Distribution,
            files: Vec::new(),
        }
    }

    fn record(id: &str, aliases: &[&str], cvss: Option<&str>, ranges: Vec<Range>, versions: &[&str]) -> AffectedRow {
        AffectedRow {
            advisory: berth_advisory::db::Advisory {
                id: id.into(),
                aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
                summary: None,
                cvss: cvss.map(|v| CvssScore::new("CVSS_V3", v)).into_iter().collect(),
                rating: None,
                rating_source: None,
            },
            ecosystem: "pypi".into(),
            affection: Affection::Osv { ranges, versions: versions.iter().map(|v| (*v).to_owned()).collect() },
            rating: None,
        }
    }

    fn scan(version: &str, rows: &[AffectedRow]) -> (Vec<Finding>, Vec<String>) {
        let p = package("demo", version);
        let c = Candidate { package: &p, advisory_name: "demo".into(), compared_version: version.into() };
        let mut warnings = Vec::new();
        let found = match_rows(&c, rows, Scheme::Pep440, "pypi", "test", &mut warnings);
        (found, warnings)
    }

    const CRITICAL: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";

    #[test]
    fn records_linked_only_through_shared_aliases_are_one_finding_with_the_best_severity() {
        // PYSEC and GHSA both list the CVE, neither lists the other; only the GHSA has CVSS.
        let fix = range(&[("introduced", "0"), ("fixed", "2.0")]);
        let rows = [
            record("PYSEC-2024-1", &["CVE-2024-1"], None, fix.clone(), &[]),
            record("GHSA-aaaa-bbbb-cccc", &["CVE-2024-1"], Some(CRITICAL), fix.clone(), &[]),
            record("CVE-2024-1", &[], None, fix, &[]),
            record("PYSEC-2024-9", &["CVE-2024-9"], None, range(&[("introduced", "0"), ("fixed", "1.5")]), &[]),
        ];
        let (found, _) = scan("1.0", &rows);
        assert_eq!(found.len(), 2, "{found:#?}");
        let f = &found[0];
        assert_eq!(f.id, "PYSEC-2024-1");
        assert_eq!(f.aliases, ["CVE-2024-1", "GHSA-aaaa-bbbb-cccc"]);
        assert_eq!((f.severity, f.severity_source.as_str()), (Severity::Critical, "cvss-v3"));
        assert_eq!(f.severity_record.as_deref(), Some("GHSA-aaaa-bbbb-cccc"));
        assert_eq!(f.cvss.len(), 1);
        // order does not matter: the GHSA first links the others the same way
        let mut reversed = rows.to_vec();
        reversed.reverse();
        let (found, _) = scan("1.0", &reversed);
        assert_eq!(found.len(), 2, "{found:#?}");
    }

    #[test]
    fn one_unreadable_versions_entry_skips_the_entry_not_the_record() {
        let rows = [record("PYSEC-2021-5", &[], None, vec![], &["1.0", "1.1.0-beta-final!!", "1.2"])];
        let (found, warnings) = scan("1.2", &rows);
        assert_eq!(found.len(), 1, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("1.1.0-beta-final!!") && w.contains("skipped")), "{warnings:?}");
        assert!(scan("1.3", &rows).0.is_empty());
    }

    #[test]
    fn an_unreadable_fixed_version_keeps_the_finding_with_the_fix_unknown() {
        let rows = [record("PYSEC-2022-7", &[], None, range(&[("introduced", "1.0"), ("fixed", "2.0-final!!")]), &[])];
        let (found, warnings) = scan("1.5", &rows);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].fixed_version.as_deref(), found[0].status), (None, Status::Affected));
        assert!(found[0].explanation.contains("not a valid"), "{}", found[0].explanation);
        assert!(warnings.iter().any(|w| w.contains("2.0-final!!")), "{warnings:?}");
        assert!(scan("0.9", &rows).0.is_empty(), "below introduced stays clear");
    }

    #[test]
    fn the_advised_fix_lies_outside_every_affected_range() {
        // [0, 3.2.0) and [3.2.0, 3.2.2): 3.2.0 is no fix.
        let rows = [record(
            "GHSA-fix-fix-fix",
            &[],
            None,
            range(&[("introduced", "0"), ("fixed", "3.2.0"), ("introduced", "3.2.0"), ("fixed", "3.2.2")]),
            &[],
        )];
        let (found, _) = scan("3.1", &rows);
        assert_eq!(found[0].fixed_version.as_deref(), Some("3.2.2"), "{}", found[0].explanation);
        assert!(found[0].explanation.contains("3.2.0 is itself affected"), "{}", found[0].explanation);
        // across merged records: the other record holds 2.0 affected up to 2.1
        let rows = [
            record("PYSEC-1", &["CVE-1"], None, range(&[("introduced", "0"), ("fixed", "2.0")]), &[]),
            record("GHSA-2", &["CVE-1"], None, range(&[("introduced", "0"), ("fixed", "2.1")]), &[]),
        ];
        let (found, _) = scan("1.0", &rows);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].fixed_version.as_deref(), Some("2.1"));
        // no named fix outside every range: none is advised, and the finding says so
        let rows = [
            record("PYSEC-3", &["CVE-3"], None, range(&[("introduced", "0"), ("fixed", "2.0")]), &[]),
            record("GHSA-4", &["CVE-3"], None, range(&[("introduced", "0")]), &[]),
        ];
        let (found, _) = scan("1.0", &rows);
        assert_eq!((found[0].fixed_version.as_deref(), found[0].status), (None, Status::Affected));
        assert!(found[0].explanation.contains("no named fix"), "{}", found[0].explanation);
    }

    const POOL: [&str; 8] = ["0.5", "1.0", "1.1", "1.2", "2.0", "2.1", "3.0", "3.1"];

    fn ids_of(f: &Finding) -> std::collections::BTreeSet<String> {
        std::iter::once(f.id.clone()).chain(f.aliases.iter().cloned()).collect()
    }

    proptest::proptest! {
        /// Findings are the connected components of the alias graph, whatever the order of the
        /// records: every record in exactly one finding, records sharing an id together.
        #[test]
        fn findings_are_the_components_of_the_alias_graph(
            links in proptest::collection::vec(proptest::collection::vec(0usize..6, 0..3), 1..12),
            seed in 0u64..1000,
        ) {
            let fix = range(&[("introduced", "0"), ("fixed", "9.0")]);
            let rows: Vec<AffectedRow> = links
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let aliases: Vec<String> = l.iter().map(|a| format!("CVE-{a}")).collect();
                    let aliases: Vec<&str> = aliases.iter().map(String::as_str).collect();
                    record(&format!("REC-{i}"), &aliases, None, fix.clone(), &[])
                })
                .collect();
            let sets = |rows: &[AffectedRow]| {
                let mut s: Vec<_> = scan("1.0", rows).0.iter().map(ids_of).collect();
                s.sort();
                s
            };
            let found = sets(&rows);
            for (i, r) in rows.iter().enumerate() {
                let holding: Vec<_> = found.iter().filter(|s| s.contains(&format!("REC-{i}"))).collect();
                proptest::prop_assert_eq!(holding.len(), 1);
                for a in &r.advisory.aliases {
                    proptest::prop_assert!(holding[0].contains(a));
                }
            }
            // no two findings share an id
            for (a, b) in found.iter().enumerate().flat_map(|(i, a)| found[i + 1..].iter().map(move |b| (a, b))) {
                proptest::prop_assert!(a.is_disjoint(b));
            }
            // the order of the records does not matter
            let mut shuffled = rows.clone();
            let n = shuffled.len();
            for k in 0..n {
                shuffled.swap(k, (seed as usize * 7 + k * 3) % n);
            }
            proptest::prop_assert_eq!(sets(&shuffled), found);
        }

        /// The advised fix is above the installed version, outside every record's affected
        /// ranges, and the lowest named fix that is.
        #[test]
        fn the_advised_fix_is_the_lowest_named_version_outside_every_range(
            installed in 0usize..8,
            intervals in proptest::collection::vec((0usize..8, 0usize..8, 0usize..3), 1..4),
        ) {
            let version = POOL[installed];
            let rows: Vec<AffectedRow> = intervals
                .iter()
                .enumerate()
                .map(|(i, &(a, b, kind))| {
                    let (lo, hi) = (a.min(b), a.max(b).max(a.min(b) + 1).min(7));
                    let end = match kind {
                        0 | 1 => ("fixed", POOL[hi]),
                        _ => ("last_affected", POOL[hi]),
                    };
                    let start = if kind == 1 { "0" } else { POOL[lo] };
                    record(&format!("REC-{i}"), &["CVE-1"], None, range(&[("introduced", start), end]), &[])
                })
                .collect();
            let (found, _) = scan(version, &rows);
            proptest::prop_assume!(!found.is_empty());
            proptest::prop_assert_eq!(found.len(), 1);
            let clear = |v: &str| rows.iter().all(|r| match &r.affection {
                Affection::Osv { ranges, versions } => {
                    osv_affected(Scheme::Pep440, v, ranges, versions, &mut Vec::new()) == Ok(Verdict::Clear)
                }
                Affection::Tracker { .. } => true,
            });
            let named: Vec<&str> = intervals
                .iter()
                .filter(|i| i.2 < 2)
                .map(|&(a, b, _)| POOL[a.max(b).max(a.min(b) + 1).min(7)])
                .filter(|f| Scheme::Pep440.compare(f, version) == Ok(Ordering::Greater))
                .collect();
            let lowest = POOL.iter().copied().find(|p| named.contains(p) && clear(p));
            proptest::prop_assert_eq!(found[0].fixed_version.as_deref(), lowest);
        }
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
        let v = osv_affected(Scheme::Pep440, "1.0", &[], &["1.0.0".to_owned()], &mut Vec::new()).expect("ok");
        assert!(matches!(v, Verdict::Affected { .. }));
        // A version both listed and in a range: the range gives the fix (PYSEC records list
        // every affected release as well).
        let listed = osv_affected(
            Scheme::Pep440,
            "1.26.4",
            &range(&[("introduced", "0"), ("fixed", "1.26.5")]),
            &["1.26.4".to_owned()],
            &mut Vec::new(),
        );
        assert!(matches!(listed, Ok(Verdict::Affected { fixed: Some(f), .. }) if f == "1.26.5"));
    }
}
