//! Scan report writers, one per format: a table grouped by severity, berth's JSON, SARIF 2.1.0
//! (for code-scanning dashboards) and CycloneDX 1.5 with vulnerabilities.

pub mod cyclonedx;
pub mod sarif;
pub mod table;

use std::str::FromStr;

pub use berth_inventory::report::DocumentMeta;

use crate::ScanReport;

/// The formats `berth scan` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Findings grouped by severity.
    Table,
    /// berth's report JSON.
    Json,
    /// SARIF 2.1.0.
    Sarif,
    /// CycloneDX 1.5 with a `vulnerabilities` section.
    CycloneDx,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "table" => Self::Table,
            "json" => Self::Json,
            "sarif" => Self::Sarif,
            "cyclonedx" | "cdx" | "cyclonedx-json" => Self::CycloneDx,
            other => return Err(format!("unknown format `{other}`: expected `table`, `json`, `sarif` or `cyclonedx`")),
        })
    }
}

/// Render `report` in `format`.
pub fn render(report: &ScanReport, format: Format, meta: &DocumentMeta) -> String {
    let json = |v: &serde_json::Value| {
        let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
        s.push('\n');
        s
    };
    match format {
        Format::Table => table::render(report),
        Format::Json => json(&serde_json::to_value(report).unwrap_or_default()),
        Format::Sarif => json(&sarif::document(report, meta)),
        Format::CycloneDx => json(&cyclonedx::document(report, meta)),
    }
}
