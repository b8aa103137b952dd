//! CycloneDX 1.5 with vulnerabilities: the inventory's document (components as `berth sbom`
//! writes them) plus one `vulnerabilities` entry per vulnerability, affecting the components of
//! every package it was found in.

use std::collections::BTreeMap;

use berth_inventory::report::cyclonedx as sbom;
use serde_json::{Value, json};

use super::DocumentMeta;
use crate::ScanReport;

/// The CycloneDX document of a report.
pub fn document(report: &ScanReport, meta: &DocumentMeta) -> Value {
    let mut doc = sbom::document(&report.inventory, meta);
    let refs = sbom::bom_refs(&report.inventory.packages);
    let ref_of = |purl: &str, location: &str| {
        report
            .inventory
            .packages
            .iter()
            .zip(&refs)
            .find(|(p, _)| p.purl == purl && p.location == location)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| purl.to_owned())
    };
    let mut by_id: BTreeMap<&str, Vec<&crate::Finding>> = BTreeMap::new();
    for f in &report.findings {
        by_id.entry(f.id.as_str()).or_default().push(f);
    }
    let vulnerabilities: Vec<Value> = by_id
        .into_iter()
        .map(|(id, findings)| {
            let f = findings[0];
            let mut ratings = vec![json!({ "severity": f.severity.as_str(), "method": "other", "source": { "name": f.severity_source } })];
            for c in &f.cvss {
                let method = if c.vector.starts_with("CVSS:4") {
                    "CVSSv4"
                } else if c.vector.starts_with("CVSS:3.1") {
                    "CVSSv31"
                } else if c.vector.starts_with("CVSS:3") {
                    "CVSSv3"
                } else {
                    "CVSSv2"
                };
                let mut r = json!({ "method": method, "vector": c.vector });
                if let Some(s) = c.score {
                    r["score"] = json!(s);
                }
                ratings.push(r);
            }
            let affects: Vec<Value> = findings
                .iter()
                .map(|f| {
                    json!({ "ref": ref_of(&f.purl, &f.location), "versions": [ { "version": f.installed_version, "status": "affected" } ] })
                })
                .collect();
            let mut v = json!({
                "bom-ref": format!("berth:vulnerability:{id}"),
                "id": id,
                "source": { "name": f.ecosystem },
                "ratings": ratings,
                "affects": affects,
                "properties": [
                    { "name": "berth:status", "value": f.status.as_str() },
                    { "name": "berth:snapshot", "value": f.snapshot },
                ],
            });
            if let Some(s) = &f.summary {
                v["description"] = json!(s);
            }
            if !f.aliases.is_empty() {
                v["references"] = Value::Array(f.aliases.iter().map(|a| json!({ "id": a, "source": { "name": "alias" } })).collect());
            }
            if let Some(fix) = &f.fixed_version {
                v["recommendation"] = json!(format!("upgrade {} to {fix} or later", f.source_package.as_deref().unwrap_or(&f.package)));
            }
            v
        })
        .collect();
    doc["vulnerabilities"] = Value::Array(vulnerabilities);
    doc
}
