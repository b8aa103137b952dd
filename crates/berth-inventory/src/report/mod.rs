//! Inventory writers, one per format: a table for people, berth's JSON, CycloneDX 1.5 and
//! SPDX 2.3 (both JSON).

pub mod cyclonedx;
pub mod spdx;
pub mod table;

use std::fmt;
use std::str::FromStr;

use crate::model::Inventory;

/// The formats `berth sbom` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns, for a terminal.
    Table,
    /// berth's inventory JSON.
    Json,
    /// CycloneDX 1.5 JSON.
    CycloneDx,
    /// SPDX 2.3 JSON.
    Spdx,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "table" => Self::Table,
            "json" => Self::Json,
            "cyclonedx" | "cyclonedx-json" | "cdx" => Self::CycloneDx,
            "spdx" | "spdx-json" => Self::Spdx,
            other => return Err(format!("unknown format `{other}`: expected `table`, `json`, `cyclonedx` or `spdx`")),
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Table => "table",
            Self::Json => "json",
            Self::CycloneDx => "cyclonedx",
            Self::Spdx => "spdx",
        })
    }
}

/// Details that make a document unique to one run, fixed by tests for golden files.
#[derive(Debug, Clone)]
pub struct DocumentMeta {
    /// When the document was made (RFC 3339).
    pub timestamp: String,
    /// The tool's version.
    pub tool_version: String,
}

impl DocumentMeta {
    /// Now, and this crate's version.
    pub fn now() -> Self {
        Self {
            timestamp: jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .unwrap_or_else(|_| jiff::Timestamp::now())
                .to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// Render `inventory` in `format`.
pub fn render(inventory: &Inventory, format: Format, meta: &DocumentMeta) -> String {
    match format {
        Format::Table => table::render(inventory),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(inventory).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::CycloneDx => {
            let mut s = serde_json::to_string_pretty(&cyclonedx::document(inventory, meta)).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Spdx => {
            let mut s = serde_json::to_string_pretty(&spdx::document(inventory, meta)).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}
