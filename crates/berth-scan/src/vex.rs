//! VEX in: triage statements that annotate or suppress findings.
//!
//! A VEX (Vulnerability Exploitability eXchange) document says, per vulnerability and product,
//! whether the product is affected. berth reads the two formats in use:
//!
//! - **OpenVEX** (`@context` `https://openvex.dev/ns/…`): `statements[]` with
//!   `vulnerability.name` (and `aliases`), `products[]` (`@id`, a purl; its `subcomponents`),
//!   `status` (`not_affected`, `affected`, `fixed`, `under_investigation`), `justification`,
//!   `impact_statement`, `action_statement`, `timestamp`;
//! - **CycloneDX VEX** (`bomFormat: CycloneDX` with `vulnerabilities[]`): `id`, `references[].id`
//!   as aliases, `affects[].ref` (a purl or a bom-ref of a component with a purl),
//!   `analysis.state` (`not_affected`, `false_positive`, `resolved`, `resolved_with_pedigree`,
//!   `exploitable`, `in_triage`), `analysis.justification`, `analysis.detail`.
//!
//! A statement applies to a finding when its vulnerability is the finding's id or one of its
//! aliases (or the statement's aliases name the finding) and, when it names products, one of
//! them is the finding's package: the same purl type, namespace and name, and the same version
//! when the product's purl has one (qualifiers and subpaths are not compared). The last
//! applicable statement wins (by timestamp when both have one, else by order of reading).
//! `not_affected` and `fixed` (CycloneDX: `not_affected`, `false_positive`, `resolved`,
//! `resolved_with_pedigree`) suppress the finding, which the report keeps in `suppressed` with
//! its statement; the others annotate it.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::finding::Finding;

/// What a statement says of the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VexStatus {
    /// Not affected (CycloneDX also: `false_positive`).
    NotAffected,
    /// Fixed (CycloneDX: `resolved`, `resolved_with_pedigree`).
    Fixed,
    /// Affected (CycloneDX: `exploitable`).
    Affected,
    /// Under investigation (CycloneDX: `in_triage`).
    UnderInvestigation,
}

impl VexStatus {
    /// The OpenVEX name (`not_affected`, `fixed`, `affected`, `under_investigation`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAffected => "not_affected",
            Self::Fixed => "fixed",
            Self::Affected => "affected",
            Self::UnderInvestigation => "under_investigation",
        }
    }

    /// Whether the statement takes the finding out of the counts.
    pub fn suppresses(self) -> bool {
        matches!(self, Self::NotAffected | Self::Fixed)
    }
}

/// One statement, whatever the format it came in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VexStatement {
    /// The document (its path) and, when it has one, its `@id` or serial number.
    pub document: String,
    /// The vulnerability.
    pub vulnerability: String,
    /// Its other ids, as the statement gives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The products (purls); empty means every product.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<String>,
    /// What it says.
    pub status: VexStatus,
    /// Why not affected (`vulnerable_code_not_in_execute_path`, `code_not_reachable`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// Its words: OpenVEX `impact_statement` or `action_statement`, CycloneDX `detail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// When (RFC 3339), when the document says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// A finding a statement took out, with the statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppressed {
    /// The finding.
    pub finding: Finding,
    /// Why.
    pub vex: VexStatement,
}

/// Why a VEX document could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VexError {
    /// The file could not be read.
    #[error("cannot read the VEX document {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It is not JSON, or not a VEX document berth knows.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong, naming the field.
        message: String,
    },
}

impl VexError {
    /// What the user can do.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Read { .. } => None,
            Self::Format { .. } => Some(
                "give an OpenVEX document (`@context` https://openvex.dev/ns/…) or a CycloneDX document with \
                 `vulnerabilities`"
                    .into(),
            ),
        }
    }
}

/// Reads the statements of one VEX document.
pub fn load(path: &Path) -> Result<Vec<VexStatement>, VexError> {
    let name = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| VexError::Read { path: name.clone(), source })?;
    let doc: Value = serde_json::from_slice(&text)
        .map_err(|e| VexError::Format { path: name.clone(), message: format!("not JSON: {e}") })?;
    parse(&doc, &name)
}

/// The statements of a parsed VEX document; `name` names it in statements and errors.
pub fn parse(doc: &Value, name: &str) -> Result<Vec<VexStatement>, VexError> {
    let err = |message: String| VexError::Format { path: name.to_owned(), message };
    let context = doc.get("@context").and_then(Value::as_str).unwrap_or_default();
    if context.contains("openvex") {
        openvex(doc, name).map_err(err)
    } else if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        cyclonedx(doc, name).map_err(err)
    } else {
        Err(err("neither an OpenVEX document (`@context`) nor a CycloneDX one (`bomFormat`)".into()))
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned).filter(|s| !s.trim().is_empty())
}

fn openvex(doc: &Value, name: &str) -> Result<Vec<VexStatement>, String> {
    let document = match text(doc, "@id") {
        Some(id) => format!("{name} ({id})"),
        None => name.to_owned(),
    };
    let doc_time = text(doc, "timestamp");
    let statements = doc.get("statements").and_then(Value::as_array).ok_or("`statements` is missing or not a list")?;
    let mut out = Vec::new();
    for (i, s) in statements.iter().enumerate() {
        let at = |field: &str| format!("/statements/{i}/{field}");
        let vuln = s.get("vulnerability").ok_or_else(|| format!("{} is missing", at("vulnerability")))?;
        // OpenVEX 0.2: an object with `name` (and `@id`, `aliases`); 0.0.x: a string.
        let (vulnerability, aliases) = match vuln {
            Value::String(v) => (v.clone(), Vec::new()),
            Value::Object(_) => (
                text(vuln, "name").ok_or_else(|| format!("{} is missing", at("vulnerability/name")))?,
                vuln.get("aliases")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default(),
            ),
            _ => return Err(format!("{} is neither a name nor an object", at("vulnerability"))),
        };
        let mut products = Vec::new();
        for p in s.get("products").and_then(Value::as_array).into_iter().flatten() {
            match p {
                Value::String(id) => products.push(id.clone()),
                Value::Object(_) => {
                    // A product with subcomponents is about those (the packages inside an image).
                    let subs: Vec<String> = p
                        .get("subcomponents")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|c| text(c, "@id"))
                        .collect();
                    if subs.is_empty() {
                        products.extend(text(p, "@id"));
                    } else {
                        products.extend(subs);
                    }
                }
                _ => {}
            }
        }
        let status = match s.get("status").and_then(Value::as_str) {
            Some("not_affected") => VexStatus::NotAffected,
            Some("fixed") => VexStatus::Fixed,
            Some("affected") => VexStatus::Affected,
            Some("under_investigation") => VexStatus::UnderInvestigation,
            Some(other) => {
                return Err(format!(
                    "{}: `{other}` is not an OpenVEX status (not_affected, affected, fixed, under_investigation)",
                    at("status")
                ));
            }
            None => return Err(format!("{} is missing", at("status"))),
        };
        out.push(VexStatement {
            document: document.clone(),
            vulnerability,
            aliases,
            products,
            status,
            justification: text(s, "justification"),
            statement: text(s, "impact_statement").or_else(|| text(s, "action_statement")),
            timestamp: text(s, "timestamp").or_else(|| doc_time.clone()),
        });
    }
    Ok(out)
}

fn cyclonedx(doc: &Value, name: &str) -> Result<Vec<VexStatement>, String> {
    let document = match text(doc, "serialNumber") {
        Some(id) => format!("{name} ({id})"),
        None => name.to_owned(),
    };
    // bom-refs of the document's components resolve to their purls.
    let mut refs = std::collections::HashMap::new();
    let mut stack: Vec<&Value> = doc.get("components").and_then(Value::as_array).into_iter().flatten().collect();
    while let Some(c) = stack.pop() {
        if let (Some(r), Some(p)) = (text(c, "bom-ref"), text(c, "purl")) {
            refs.insert(r, p);
        }
        stack.extend(c.get("components").and_then(Value::as_array).into_iter().flatten());
    }
    let doc_time = doc.get("metadata").and_then(|m| text(m, "timestamp"));
    let vulns =
        doc.get("vulnerabilities").and_then(Value::as_array).ok_or("`vulnerabilities` is missing or not a list")?;
    let mut out = Vec::new();
    for (i, v) in vulns.iter().enumerate() {
        let at = |field: &str| format!("/vulnerabilities/{i}/{field}");
        let Some(analysis) = v.get("analysis") else {
            continue; // a vulnerability without analysis says nothing about exploitability
        };
        let vulnerability = text(v, "id").ok_or_else(|| format!("{} is missing", at("id")))?;
        let aliases =
            v.get("references").and_then(Value::as_array).into_iter().flatten().filter_map(|r| text(r, "id")).collect();
        let products = v
            .get("affects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| text(a, "ref"))
            .map(|r| refs.get(&r).cloned().unwrap_or(r))
            .collect();
        let status = match analysis.get("state").and_then(Value::as_str) {
            Some("not_affected" | "false_positive") => VexStatus::NotAffected,
            Some("resolved" | "resolved_with_pedigree") => VexStatus::Fixed,
            Some("exploitable") => VexStatus::Affected,
            Some("in_triage") => VexStatus::UnderInvestigation,
            Some(other) => {
                return Err(format!(
                    "{}: `{other}` is not a CycloneDX analysis state (resolved, resolved_with_pedigree, exploitable, \
                     in_triage, false_positive, not_affected)",
                    at("analysis/state")
                ));
            }
            None => return Err(format!("{} is missing", at("analysis/state"))),
        };
        out.push(VexStatement {
            document: document.clone(),
            vulnerability,
            aliases,
            products,
            status,
            justification: text(analysis, "justification"),
            statement: text(analysis, "detail")
                .or_else(|| text(analysis, "response").map(|r| format!("response: {r}"))),
            timestamp: text(analysis, "lastUpdated").or_else(|| doc_time.clone()),
        });
    }
    Ok(out)
}

/// A purl without qualifiers and subpath, and its version: (`pkg:type/ns/name`, version).
fn purl_key(purl: &str) -> (String, Option<String>) {
    let base = purl.split(['?', '#']).next().unwrap_or(purl);
    // The version follows the last `@` after the last `/` (namespaces may hold `@`-free `%40`).
    let slash = base.rfind('/').unwrap_or(0);
    match base[slash..].rfind('@') {
        Some(i) => {
            let at = slash + i;
            (base[..at].to_ascii_lowercase(), Some(base[at + 1..].to_owned()))
        }
        None => (base.to_ascii_lowercase(), None),
    }
}

fn product_matches(product: &str, finding: &Finding) -> bool {
    let (want, version) = purl_key(product);
    let (have, installed) = purl_key(&finding.purl);
    want == have && version.is_none_or(|v| Some(v) == installed)
}

fn applies(s: &VexStatement, f: &Finding) -> bool {
    let ids = |id: &str| f.id == id || f.aliases.iter().any(|a| a == id);
    let named = ids(&s.vulnerability) || s.aliases.iter().any(|a| ids(a));
    named && (s.products.is_empty() || s.products.iter().any(|p| product_matches(p, f)))
}

/// Splits `findings` by `statements`: the findings kept (each with the statement that
/// annotates it, if any) and those a statement suppresses.
pub fn apply(
    findings: Vec<Finding>,
    statements: &[VexStatement],
) -> (Vec<(Finding, Option<VexStatement>)>, Vec<Suppressed>) {
    let mut kept = Vec::new();
    let mut suppressed = Vec::new();
    for f in findings {
        // The last statement that applies: by timestamp when both have one, else the later read.
        let mut last: Option<&VexStatement> = None;
        for s in statements.iter().filter(|s| applies(s, &f)) {
            last = match last {
                Some(l) if matches!((&l.timestamp, &s.timestamp), (Some(a), Some(b)) if a > b) => Some(l),
                _ => Some(s),
            };
        }
        match last {
            Some(s) if s.status.suppresses() => suppressed.push(Suppressed { finding: f, vex: s.clone() }),
            other => kept.push((f, other.cloned())),
        }
    }
    (kept, suppressed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_serialized_names() {
        for s in [VexStatus::NotAffected, VexStatus::Fixed, VexStatus::Affected, VexStatus::UnderInvestigation] {
            assert_eq!(serde_json::to_value(s).expect("json"), Value::from(s.as_str()));
        }
    }

    #[test]
    fn purls_compare_without_qualifiers_and_with_a_version_only_when_given() {
        assert_eq!(
            purl_key("pkg:deb/debian/libc6@2.36-9?arch=amd64"),
            ("pkg:deb/debian/libc6".into(), Some("2.36-9".into()))
        );
        assert_eq!(purl_key("pkg:pypi/numpy"), ("pkg:pypi/numpy".into(), None));
        assert_eq!(purl_key("pkg:npm/%40scope/pkg@1.0.0#sub"), ("pkg:npm/%40scope/pkg".into(), Some("1.0.0".into())));
    }

    #[test]
    fn both_formats_give_the_same_statement() {
        let open: Value = serde_json::json!({
            "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://lab/vex-1", "timestamp": "2026-01-01T00:00:00Z",
            "statements": [{
                "vulnerability": {"name": "CVE-2024-1", "aliases": ["GHSA-x"]},
                "products": [{"@id": "pkg:oci/tool", "subcomponents": [{"@id": "pkg:pypi/numpy@1.24.2"}]}],
                "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path",
                "impact_statement": "the analysis never loads f2py"
            }]
        });
        let cdx: Value = serde_json::json!({
            "bomFormat": "CycloneDX", "specVersion": "1.5",
            "components": [{"bom-ref": "numpy-ref", "name": "numpy", "purl": "pkg:pypi/numpy@1.24.2"}],
            "vulnerabilities": [{
                "id": "CVE-2024-1", "references": [{"id": "GHSA-x"}], "affects": [{"ref": "numpy-ref"}],
                "analysis": {"state": "not_affected", "justification": "code_not_reachable", "detail": "never loaded"}
            }, {"id": "CVE-2024-2"}]
        });
        let a = parse(&open, "a.json").unwrap();
        let b = parse(&cdx, "b.json").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(b.len(), 1, "a vulnerability without analysis says nothing");
        for s in [&a[0], &b[0]] {
            assert_eq!((s.vulnerability.as_str(), s.status), ("CVE-2024-1", VexStatus::NotAffected));
            assert_eq!(s.aliases, ["GHSA-x"]);
            assert_eq!(s.products, ["pkg:pypi/numpy@1.24.2"]);
        }
        assert_eq!(a[0].document, "a.json (https://lab/vex-1)");
        let bad = serde_json::json!({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"vulnerability": "CVE-1", "status": "maybe"}]});
        let e = parse(&bad, "c.json").unwrap_err().to_string();
        assert!(e.contains("/statements/0/status") && e.contains("maybe"), "{e}");
        assert!(parse(&serde_json::json!({"a": 1}), "d.json").is_err());
    }
}
