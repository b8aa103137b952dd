//! Reachability from traced runs, and VEX out.
//!
//! [`annotate`] marks every finding `reached`, `not-reached` or `unknown` by the traced runs
//! of the scanned image ([`berth_inventory::reach`]: a package none of whose known files was
//! opened, executed or loaded is not reached). [`openvex`] and [`cyclonedx_vex`] state the
//! not-reached findings as `not_affected` with the justification
//! `vulnerable_code_not_in_execute_path`, the traced runs named as the evidence: a statement
//! about what those runs did, which `berth scan --vex` reads back.

use berth_inventory::reach::{Accessed, Reach, reach};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::finding::{Finding, ScanReport};
use crate::report::DocumentMeta;

/// How many of a package's accessed files a finding names as evidence.
pub const MAX_EVIDENCE: usize = 3;

/// One traced run used as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracedRun {
    /// The run.
    pub run_id: String,
    /// How many paths its trace holds.
    pub accesses: usize,
    /// SHA-256 of its trace as recorded.
    pub sha256: String,
    /// When the trace was recorded.
    pub recorded_at: String,
}

/// What the traced runs said about the scanned image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reachability {
    /// The image ID the runs used (the scanned one).
    pub image_id: String,
    /// The complete traces used.
    pub runs: Vec<TracedRun>,
    /// Traced runs of the image whose trace was incomplete (the tracer was killed, the trace
    /// cut or edited): not used, since they cannot show what was not reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incomplete_runs: Vec<String>,
    /// Distinct paths of the image the runs used, links followed included.
    pub paths: usize,
    /// Findings in reached packages.
    pub reached: usize,
    /// Findings in packages no traced run reached.
    pub not_reached: usize,
    /// Findings in packages whose files are unknown.
    pub unknown: usize,
}

/// Reachability of one finding's package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingReach {
    /// Reached, not reached or unknown.
    pub state: Reach,
    /// Up to [`MAX_EVIDENCE`] of the package's files the runs used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// Marks every finding of `report` by what the traced `runs` of its image used (`paths`:
/// the paths they opened, executed or loaded, as named). With no complete run nothing is
/// marked and the report says so.
pub fn annotate<'a>(
    report: &mut ScanReport,
    image_id: &str,
    runs: Vec<TracedRun>,
    incomplete_runs: Vec<String>,
    paths: impl IntoIterator<Item = &'a str>,
) {
    let accessed =
        if runs.is_empty() { Accessed::default() } else { Accessed::resolve(&report.inventory.links, paths) };
    let mut summary = Reachability {
        image_id: image_id.to_owned(),
        paths: accessed.len(),
        runs,
        incomplete_runs,
        reached: 0,
        not_reached: 0,
        unknown: 0,
    };
    if !summary.runs.is_empty() {
        let inventory = &report.inventory;
        for f in &mut report.findings {
            let package = inventory.packages.iter().find(|p| p.purl == f.purl && p.location == f.location);
            let (state, evidence) = match package {
                Some(p) => reach(p, &inventory.links, &accessed, MAX_EVIDENCE),
                None => (Reach::Unknown, Vec::new()),
            };
            match state {
                Reach::Reached => summary.reached += 1,
                Reach::NotReached => summary.not_reached += 1,
                Reach::Unknown => summary.unknown += 1,
            }
            f.reach = Some(FindingReach { state, evidence });
        }
    }
    report.reachability = Some(summary);
}

/// Whether a finding counts for `--fail-on` when only reached findings count: reached or
/// unknown (a finding is let off only on evidence).
pub fn counts_when_reached_only(f: &Finding) -> bool {
    f.reach.as_ref().is_none_or(|r| r.state != Reach::NotReached)
}

/// The impact statement of a not-reached finding: what was traced, and what that shows.
fn impact(report: &ScanReport, f: &Finding) -> String {
    let runs = report.reachability.as_ref().map(|r| r.runs.as_slice()).unwrap_or_default();
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    format!(
        "berth traced {} run(s) of image {} ({}); none opened, executed or loaded a file of {} {}. \
         The statement holds for those runs: another use of the image may reach it.",
        runs.len(),
        report.reachability.as_ref().map_or("", |r| r.image_id.as_str()),
        ids.join(", "),
        f.package,
        f.installed_version
    )
}

fn not_reached(report: &ScanReport) -> impl Iterator<Item = &Finding> {
    report.findings.iter().filter(|f| f.reach.as_ref().is_some_and(|r| r.state == Reach::NotReached))
}

/// The image as a product: its purl when it has an ID (`pkg:oci/NAME@sha256:…`).
fn image_product(report: &ScanReport) -> String {
    let target = &report.inventory.target;
    let name = target
        .repo_tags
        .first()
        .map(|t| t.rsplit('/').next().unwrap_or(t).split(':').next().unwrap_or(t).to_owned())
        .unwrap_or_else(|| "image".to_owned());
    match &target.image_id {
        Some(id) => format!("pkg:oci/{name}@{}", id.replace(':', "%3A")),
        None => target.name.clone(),
    }
}

/// The formats of VEX out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VexFormat {
    /// OpenVEX 0.2.0.
    OpenVex,
    /// CycloneDX 1.5 VEX.
    CycloneDx,
}

impl std::str::FromStr for VexFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "openvex" => Ok(Self::OpenVex),
            "cyclonedx" | "cdx" => Ok(Self::CycloneDx),
            other => Err(format!("unknown VEX format `{other}`: expected `openvex` or `cyclonedx`")),
        }
    }
}

/// The VEX document of `report`'s not-reached findings in `format`, as text.
pub fn vex_document(report: &ScanReport, format: VexFormat, meta: &DocumentMeta) -> String {
    let doc = match format {
        VexFormat::OpenVex => openvex(report, meta),
        VexFormat::CycloneDx => cyclonedx_vex(report, meta),
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// An OpenVEX 0.2.0 document with one `not_affected` statement per not-reached finding.
pub fn openvex(report: &ScanReport, meta: &DocumentMeta) -> Value {
    let product = image_product(report);
    let statements: Vec<Value> = not_reached(report)
        .map(|f| {
            json!({
                "vulnerability": { "name": f.id, "aliases": f.aliases },
                "products": [{ "@id": product, "subcomponents": [{ "@id": f.purl }] }],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
                "impact_statement": impact(report, f),
                "timestamp": meta.timestamp,
            })
        })
        .collect();
    let runs: Vec<&str> = report.reachability.iter().flat_map(|r| r.runs.iter().map(|r| r.run_id.as_str())).collect();
    json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": format!("urn:berth:vex:{}:{}", report.reachability.as_ref().map_or("", |r| r.image_id.as_str()), runs.join(",")),
        "author": format!("berth {}", meta.tool_version),
        "role": "reachability from traced runs",
        "timestamp": meta.timestamp,
        "version": 1,
        "tooling": format!("berth {} (berth run --trace, berth scan --reachability)", meta.tool_version),
        "statements": statements,
    })
}

/// A CycloneDX 1.5 VEX document: the image's affected components (by purl) and one
/// `not_affected` analysis per not-reached finding.
pub fn cyclonedx_vex(report: &ScanReport, meta: &DocumentMeta) -> Value {
    let mut components: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for f in not_reached(report) {
        if seen.insert(f.purl.clone()) {
            components.push(json!({
                "type": "library", "bom-ref": f.purl, "name": f.package, "version": f.installed_version, "purl": f.purl,
            }));
        }
    }
    let vulnerabilities: Vec<Value> = not_reached(report)
        .map(|f| {
            json!({
                "id": f.id,
                "references": f.aliases.iter().map(|a| json!({ "id": a, "source": { "name": "alias" } })).collect::<Vec<_>>(),
                "analysis": {
                    "state": "not_affected",
                    "justification": "code_not_reachable",
                    "detail": impact(report, f),
                    "lastUpdated": meta.timestamp,
                },
                "affects": [{ "ref": f.purl }],
            })
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": meta.timestamp,
            "tools": [{ "vendor": "berth", "name": "berth", "version": meta.tool_version }],
            "component": { "type": "container", "name": report.inventory.target.name, "purl": image_product(report) },
        },
        "components": components,
        "vulnerabilities": vulnerabilities,
    })
}
