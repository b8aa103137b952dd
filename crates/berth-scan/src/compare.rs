//! `berth scan compare A B`: read two scan results (berth, Trivy or Grype JSON), give the
//! Jaccard index of their (vulnerability, package) pairs, and explain each difference by its
//! likely cause — what the seed paper did by hand for Anchore, Clair and Vuls:
//!
//! - `id-aliasing`: the other side reports the same package under another id of the same
//!   vulnerability (a DSA/RHSA/GHSA against its CVE);
//! - `inventory`: the other side has a different version of the package, or does not list it;
//! - `status-filter`: the finding has no fix or is rated negligible, which scanners commonly
//!   leave out (Debian `no-dsa`, `unimportant`; Trivy's `will_not_fix`);
//! - `version-comparison`: this side says the installed version is below the fix, but the
//!   ecosystem's version order says it is not (or the reverse), as with Anchore's epoch bug;
//! - `advisory-data`: the rest: the two databases simply disagree.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use berth_advisory::version::Scheme;
use serde::Serialize;
use serde_json::Value;

/// One finding, as any of the three tools reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Vulnerability id.
    pub id: String,
    /// Other ids the tool gives.
    pub aliases: Vec<String>,
    /// Package name.
    pub package: String,
    /// Installed version.
    pub version: String,
    /// Fixed version, if any.
    pub fixed: Option<String>,
    /// The tool's status word (`fixed`, `affected`, `will_not_fix`, `no-dsa`, ...).
    pub status: String,
    /// The tool's severity word.
    pub severity: String,
    /// Package type (`deb`, `python`, ...).
    pub kind: String,
}

/// A scan result read from a file.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// `berth`, `trivy` or `grype`.
    pub tool: String,
    /// The file.
    pub path: String,
    /// Its findings.
    pub items: Vec<Item>,
    /// Every package (name → versions) the tool listed, when the result carries them.
    pub packages: Option<BTreeMap<String, BTreeSet<String>>>,
}

/// Why two results differ on one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The tools saw different packages or versions.
    Inventory,
    /// The tools ordered versions differently.
    VersionComparison,
    /// One tool filtered findings by status or severity.
    StatusFilter,
    /// The same vulnerability under another id.
    IdAliasing,
    /// The advisory databases disagree.
    AdvisoryData,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Self::Inventory => "inventory",
            Self::VersionComparison => "version-comparison",
            Self::StatusFilter => "status-filter",
            Self::IdAliasing => "id-aliasing",
            Self::AdvisoryData => "advisory-data",
        }
    }
}

/// One finding only one side has.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// `a` or `b`: who has it.
    pub only_in: String,
    /// The finding.
    pub item: Item,
    /// The likely cause.
    pub cause: Cause,
    /// Why that cause.
    pub reason: String,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// First result.
    pub a: String,
    /// Second result.
    pub b: String,
    /// (id, package) pairs in each and in both.
    pub count_a: usize,
    /// See `count_a`.
    pub count_b: usize,
    /// See `count_a`.
    pub common: usize,
    /// |A ∩ B| / |A ∪ B|.
    pub jaccard: f64,
    /// Differences, sorted by cause.
    pub differences: Vec<Difference>,
    /// Differences per cause.
    pub by_cause: BTreeMap<String, usize>,
}

/// A result that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Not readable.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Not a result berth knows.
    #[error("`{path}` is not a berth, Trivy or Grype JSON result: {problem}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Read a result file, recognizing the tool by its shape.
pub fn read(path: &Path) -> Result<Side, CompareError> {
    let p = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| CompareError::Read { path: p.clone(), source })?;
    let v: Value =
        serde_json::from_slice(&text).map_err(|e| CompareError::Format { path: p.clone(), problem: e.to_string() })?;
    parse(&v, &p)
}

/// Read a parsed result.
pub fn parse(v: &Value, path: &str) -> Result<Side, CompareError> {
    if v.get("findings").is_some() && v.get("inventory").is_some() {
        let report: crate::ScanReport = serde_json::from_value(v.clone())
            .map_err(|e| CompareError::Format { path: path.to_owned(), problem: e.to_string() })?;
        let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for p in &report.inventory.packages {
            packages.entry(p.name.clone()).or_default().insert(p.version.clone());
        }
        let items = report
            .findings
            .iter()
            .map(|f| Item {
                id: f.id.clone(),
                aliases: f.aliases.clone(),
                package: f.package.clone(),
                version: f.installed_version.clone(),
                fixed: f.fixed_version.clone(),
                status: f.status.as_str().to_owned(),
                severity: f.severity.as_str().to_owned(),
                kind: f.kind.as_str().to_owned(),
            })
            .collect();
        return Ok(Side { tool: "berth".into(), path: path.to_owned(), items, packages: Some(packages) });
    }
    if let Some(results) = v.get("Results").and_then(Value::as_array) {
        let mut items = Vec::new();
        let mut packages: Option<BTreeMap<String, BTreeSet<String>>> = None;
        for r in results {
            let kind = s(r, "Type");
            for vul in r.get("Vulnerabilities").and_then(Value::as_array).into_iter().flatten() {
                let fixed = s(vul, "FixedVersion");
                items.push(Item {
                    id: s(vul, "VulnerabilityID"),
                    aliases: vul
                        .get("VendorIDs")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect(),
                    package: s(vul, "PkgName"),
                    version: s(vul, "InstalledVersion"),
                    fixed: (!fixed.is_empty()).then_some(fixed),
                    status: s(vul, "Status"),
                    severity: s(vul, "Severity").to_ascii_lowercase(),
                    kind: kind.clone(),
                });
            }
            if let Some(pkgs) = r.get("Packages").and_then(Value::as_array) {
                let map = packages.get_or_insert_with(BTreeMap::new);
                for p in pkgs {
                    map.entry(s(p, "Name")).or_default().insert(s(p, "Version"));
                }
            }
        }
        return Ok(Side { tool: "trivy".into(), path: path.to_owned(), items, packages });
    }
    if let Some(matches) = v.get("matches").and_then(Value::as_array) {
        let items = matches
            .iter()
            .map(|m| {
                let vul = &m["vulnerability"];
                let art = &m["artifact"];
                let fixed = vul["fix"]["versions"]
                    .as_array()
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Item {
                    id: s(vul, "id"),
                    aliases: m
                        .get("relatedVulnerabilities")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|r| s(r, "id"))
                        .collect(),
                    package: s(art, "name"),
                    version: s(art, "version"),
                    fixed,
                    status: vul["fix"]["state"].as_str().unwrap_or_default().to_owned(),
                    severity: s(vul, "severity").to_ascii_lowercase(),
                    kind: s(art, "type"),
                }
            })
            .collect();
        return Ok(Side { tool: "grype".into(), path: path.to_owned(), items, packages: None });
    }
    Err(CompareError::Format { path: path.to_owned(), problem: "no `findings`, `Results` or `matches`".to_owned() })
}

fn scheme_for(kind: &str) -> Option<Scheme> {
    match kind {
        "deb" | "debian" | "ubuntu" => Some(Scheme::Dpkg),
        "apk" | "alpine" => Some(Scheme::Apk),
        "rpm" | "redhat" | "centos" | "rocky" | "alma" => Some(Scheme::Rpm),
        "python" | "python-pkg" | "pip" => Some(Scheme::Pep440),
        "npm" | "node-pkg" | "go" | "gobinary" | "go-module" | "rust" | "rust-crate" | "cargo" | "rustbinary" => {
            Some(Scheme::Semver)
        }
        "r" | "cran" | "r-package" => Some(Scheme::Cran),
        _ => None,
    }
}

fn filtered_status(item: &Item) -> bool {
    let st = item.status.to_ascii_lowercase();
    item.fixed.is_none()
        || matches!(
            st.as_str(),
            "no-dsa"
                | "ignored"
                | "postponed"
                | "end-of-life"
                | "end_of_life"
                | "will_not_fix"
                | "wont-fix"
                | "fix_deferred"
                | "undetermined"
                | "unfixed"
                | "affected"
                | "not-fixed"
        )
        || matches!(item.severity.as_str(), "negligible" | "unimportant")
}

fn explain(item: &Item, other: &Side) -> (Cause, String) {
    // Another id of the same vulnerability on the same package.
    if let Some(o) = other
        .items
        .iter()
        .find(|o| o.package == item.package && (item.aliases.contains(&o.id) || o.aliases.contains(&item.id)))
    {
        return (Cause::IdAliasing, format!("{} reports it as {}", other.tool, o.id));
    }
    // The other side saw another version of the package, or not the package.
    let other_versions: BTreeSet<String> = match &other.packages {
        Some(p) => p.get(&item.package).cloned().unwrap_or_default(),
        None => other.items.iter().filter(|o| o.package == item.package).map(|o| o.version.clone()).collect(),
    };
    if other.packages.is_some() && other_versions.is_empty() {
        return (Cause::Inventory, format!("{} does not list {}", other.tool, item.package));
    }
    if !other_versions.is_empty() && !other_versions.contains(&item.version) {
        return (
            Cause::Inventory,
            format!(
                "{} sees {} {}",
                other.tool,
                item.package,
                other_versions.into_iter().collect::<Vec<_>>().join(", ")
            ),
        );
    }
    // This side's own fixed version says the installed one is not vulnerable.
    if let (Some(fixed), Some(scheme)) = (&item.fixed, scheme_for(&item.kind))
        && let Ok(ord) = scheme.compare(&item.version, fixed)
        && ord != std::cmp::Ordering::Less
    {
        return (Cause::VersionComparison, format!("{} ≥ fixed {fixed} in {scheme} order, yet reported", item.version));
    }
    if filtered_status(item) {
        return (
            Cause::StatusFilter,
            format!(
                "status `{}`, severity `{}`, {}: commonly filtered",
                item.status,
                item.severity,
                if item.fixed.is_some() { "fixed" } else { "no fix" }
            ),
        );
    }
    (Cause::AdvisoryData, format!("{} has the package at {} but not this advisory", other.tool, item.version))
}

/// Compare two results.
pub fn compare(a: &Side, b: &Side) -> Comparison {
    let pairs = |s: &Side| s.items.iter().map(|i| (i.id.clone(), i.package.clone())).collect::<BTreeSet<_>>();
    let (pa, pb) = (pairs(a), pairs(b));
    let common = pa.intersection(&pb).count();
    let union = pa.union(&pb).count();
    let mut differences = Vec::new();
    for (side, other, name) in [(a, b, "a"), (b, a, "b")] {
        let other_pairs = pairs(other);
        let mut seen = BTreeSet::new();
        for item in &side.items {
            let key = (item.id.clone(), item.package.clone());
            if other_pairs.contains(&key) || !seen.insert(key) {
                continue;
            }
            let (cause, reason) = explain(item, other);
            differences.push(Difference { only_in: name.to_owned(), item: item.clone(), cause, reason });
        }
    }
    differences.sort_by(|x, y| {
        (x.cause, &x.only_in, &x.item.package, &x.item.id).cmp(&(y.cause, &y.only_in, &y.item.package, &y.item.id))
    });
    let mut by_cause = BTreeMap::new();
    for d in &differences {
        *by_cause.entry(d.cause.as_str().to_owned()).or_insert(0) += 1;
    }
    Comparison {
        a: format!("{} ({})", a.path, a.tool),
        b: format!("{} ({})", b.path, b.tool),
        count_a: pa.len(),
        count_b: pb.len(),
        common,
        jaccard: if union == 0 { 1.0 } else { common as f64 / union as f64 },
        differences,
        by_cause,
    }
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        let _ = writeln!(out, "a: {} — {} findings", self.a, self.count_a);
        let _ = writeln!(out, "b: {} — {} findings", self.b, self.count_b);
        let _ = writeln!(out, "common: {}   Jaccard: {:.3}", self.common, self.jaccard);
        let mut current = None;
        for d in &self.differences {
            if current != Some(d.cause) {
                current = Some(d.cause);
                let _ = writeln!(
                    out,
                    "\n{} ({})",
                    d.cause.as_str(),
                    self.by_cause.get(d.cause.as_str()).copied().unwrap_or(0)
                );
            }
            let _ = writeln!(
                out,
                "  only in {}: {} {} {} — {}",
                d.only_in, d.item.id, d.item.package, d.item.version, d.reason
            );
        }
        f.write_str(&out)
    }
}
