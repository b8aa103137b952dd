//! SARIF 2.1.0 (<https://docs.oasis-open.org/sarif/sarif/v2.1.0/>): one rule per
//! vulnerability, one result per finding, located at the package database that lists the
//! package; `security-severity` carries the CVSS score for dashboards that sort by it.

use std::collections::BTreeMap;

use berth_advisory::Severity;
use serde_json::{Value, json};

use super::DocumentMeta;
use crate::ScanReport;

/// The rule of the unowned-binary finding class.
const UNOWNED_RULE: &str = "berth/unowned-binary";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        _ => "note",
    }
}

/// A representative score per severity, for findings without a CVSS score.
fn nominal_score(s: Severity) -> f64 {
    match s {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Negligible | Severity::Unknown => 0.0,
    }
}

/// The SARIF log of a report.
pub fn document(report: &ScanReport, meta: &DocumentMeta) -> Value {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    let mut results = Vec::new();
    for f in &report.findings {
        let score = f.cvss.iter().filter_map(|c| c.score).fold(None::<f64>, |m, s| Some(m.map_or(s, |m| m.max(s))));
        rules.entry(f.id.as_str()).or_insert_with(|| {
            json!({
                "id": f.id,
                "shortDescription": { "text": f.summary.clone().unwrap_or_else(|| f.id.clone()) },
                "helpUri": format!("https://osv.dev/vulnerability/{}", f.id),
                "properties": {
                    "security-severity": format!("{:.1}", score.unwrap_or_else(|| nominal_score(f.severity))),
                    "tags": ["vulnerability", "security"],
                },
            })
        });
        results.push(json!({
            "ruleId": f.id,
            "level": level(f.severity),
            "message": { "text": format!(
                "{} {} ({}) is affected by {}: {}; status {}, fixed in {}; severity {} ({})",
                f.package, f.installed_version, f.kind, f.id, f.explanation, f.status.as_str(),
                f.fixed_version.as_deref().unwrap_or("no release yet"), f.severity, f.severity_source) },
            "locations": [ {
                "physicalLocation": { "artifactLocation": { "uri": f.location } },
                "logicalLocations": [ { "name": f.purl, "kind": "package" } ],
            } ],
            "properties": {
                "package": f.package,
                "installedVersion": f.installed_version,
                "fixedVersion": f.fixed_version,
                "status": f.status.as_str(),
                "severity": f.severity.as_str(),
                "severitySource": f.severity_source,
                "layer": f.layer,
                "aliases": f.aliases,
                "snapshot": f.snapshot,
            },
        }));
    }
    if !report.unowned.is_empty() {
        rules.insert(
            UNOWNED_RULE,
            json!({
                "id": UNOWNED_RULE,
                "shortDescription": { "text": "An executable or shared library that no package owns" },
                "properties": { "tags": ["security", "supply-chain"] },
            }),
        );
    }
    for u in &report.unowned {
        results.push(json!({
            "ruleId": UNOWNED_RULE,
            // Opaque binaries are a warning; those whose modules were matched only a note.
            "level": if u.accounted == 0 { "warning" } else { "note" },
            "message": { "text": format!("/{} ({}): {}", u.path, u.kind, u.note) },
            "locations": [ { "physicalLocation": { "artifactLocation": { "uri": format!("/{}", u.path) } } } ],
            "properties": { "sha256": u.sha256, "layer": u.layer, "accounted": u.accounted },
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [ {
            "tool": { "driver": {
                "name": "berth",
                "version": meta.tool_version,
                "informationUri": "https://example.invalid/berth",
                "rules": rules.into_values().collect::<Vec<_>>(),
            } },
            "results": results,
            "properties": {
                "target": report.inventory.target.name,
                "advisoryDatabase": report.database.snapshot,
                "timestamp": meta.timestamp,
            },
        } ],
    })
}
