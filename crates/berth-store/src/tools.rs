//! The tool registry: descriptors registered under their name and version.
//!
//! A registered tool keeps the descriptor's exact text and its SHA-256, so `berth run
//! NAME@VERSION` runs, and records, exactly what was registered. Registering the same text again
//! changes nothing; a different text under the same name and version is refused unless the
//! caller replaces it.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, sql};
use crate::time;

/// The descriptor format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolKind {
    /// A Boutiques descriptor.
    Boutiques,
    /// An XNAT Container Service Command.
    Xnat,
}

impl ToolKind {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolKind::Boutiques => "boutiques",
            ToolKind::Xnat => "xnat",
        }
    }

    fn parse(s: &str) -> ToolKind {
        if s == "xnat" { ToolKind::Xnat } else { ToolKind::Boutiques }
    }
}

/// A tool to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTool {
    /// Its name (the descriptor's `name`).
    pub name: String,
    /// Its version (Boutiques `tool-version`, XNAT `version`).
    pub version: String,
    /// The descriptor format.
    pub kind: ToolKind,
    /// The descriptor's exact text.
    pub descriptor_json: String,
    /// Its SHA-256.
    pub descriptor_sha256: String,
    /// The container image the descriptor names.
    pub image: Option<String>,
    /// Where it came from: a file path, or `image REF, label KEY`.
    pub source: String,
}

/// A registered tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolRecord {
    /// What was registered.
    #[serde(flatten)]
    pub tool: NewTool,
    /// When.
    pub added_at: String,
}

/// What [`Store::add_tool`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolAdded {
    /// Newly registered.
    Added,
    /// The same descriptor was registered already.
    Unchanged,
    /// A different descriptor under the same name and version was replaced.
    Replaced,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<ToolRecord> {
    Ok(ToolRecord {
        tool: NewTool {
            name: r.get(0)?,
            version: r.get(1)?,
            kind: ToolKind::parse(&r.get::<_, String>(2)?),
            descriptor_json: r.get(3)?,
            descriptor_sha256: r.get(4)?,
            image: r.get(5)?,
            source: r.get(6)?,
        },
        added_at: r.get(7)?,
    })
}

const COLUMNS: &str = "name, version, kind, descriptor_json, descriptor_sha256, image, source, added_at";

impl Store {
    /// Registers a tool. The same text again is `Unchanged`; another text under the same
    /// name and version is refused unless `replace`.
    pub fn add_tool(&self, tool: &NewTool, replace: bool) -> Result<ToolAdded, StoreError> {
        self.write("registering a tool", |tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT descriptor_sha256 FROM tools WHERE name = ?1 AND version = ?2",
                    params![tool.name, tool.version],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql("registering a tool"))?;
            let outcome = match existing {
                Some(sha) if sha == tool.descriptor_sha256 => return Ok(ToolAdded::Unchanged),
                Some(sha) if !replace => {
                    return Err(StoreError::ToolConflict {
                        name: tool.name.clone(),
                        version: tool.version.clone(),
                        existing: sha,
                    });
                }
                Some(_) => ToolAdded::Replaced,
                None => ToolAdded::Added,
            };
            tx.execute(
                "INSERT OR REPLACE INTO tools (name, version, kind, descriptor_json, descriptor_sha256, image, source, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    tool.name,
                    tool.version,
                    tool.kind.as_str(),
                    tool.descriptor_json,
                    tool.descriptor_sha256,
                    tool.image,
                    tool.source,
                    time::now()
                ],
            )
            .map_err(sql("registering a tool"))?;
            Ok(outcome)
        })
    }

    /// Every registered tool, by name, newest version first.
    pub fn list_tools(&self) -> Result<Vec<ToolRecord>, StoreError> {
        self.read("listing tools", |tx| {
            let mut stmt = tx
                .prepare(&format!("SELECT {COLUMNS} FROM tools ORDER BY name, added_at DESC"))
                .map_err(sql("listing tools"))?;
            let rows = stmt.query_map([], from_row).map_err(sql("listing tools"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql("listing tools"))
        })
    }

    fn versions_of(&self, name: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.list_tools()?.into_iter().filter(|t| t.tool.name == name).map(|t| t.tool.version).collect())
    }

    /// The tool `name` at `version`, or, without a version, the one registered last.
    pub fn get_tool(&self, name: &str, version: Option<&str>) -> Result<ToolRecord, StoreError> {
        let found = self.read("reading a tool", |tx| {
            let q = match version {
                Some(_) => format!("SELECT {COLUMNS} FROM tools WHERE name = ?1 AND version = ?2"),
                None => {
                    format!("SELECT {COLUMNS} FROM tools WHERE name = ?1 AND ?2 IS NULL ORDER BY added_at DESC LIMIT 1")
                }
            };
            tx.query_row(&q, params![name, version], from_row).optional().map_err(sql("reading a tool"))
        })?;
        found.ok_or_else(|| StoreError::NoSuchTool {
            name: name.to_string(),
            version: version.map(str::to_string),
            versions: self.versions_of(name).unwrap_or_default(),
        })
    }

    /// Removes `name@version`, or every version of `name` when `version` is `None` and `all`
    /// is set. Returns how many were removed.
    pub fn remove_tool(&self, name: &str, version: Option<&str>, all: bool) -> Result<usize, StoreError> {
        let versions = self.versions_of(name)?;
        match version {
            Some(v) if !versions.iter().any(|x| x == v) => {
                return Err(StoreError::NoSuchTool { name: name.into(), version: Some(v.into()), versions });
            }
            None if versions.is_empty() => {
                return Err(StoreError::NoSuchTool { name: name.into(), version: None, versions });
            }
            None if versions.len() > 1 && !all => {
                return Err(StoreError::AmbiguousTool { name: name.into(), versions });
            }
            _ => {}
        }
        self.write("removing a tool", |tx| {
            let n = match version {
                Some(v) => tx.execute("DELETE FROM tools WHERE name = ?1 AND version = ?2", params![name, v]),
                None => tx.execute("DELETE FROM tools WHERE name = ?1", params![name]),
            };
            n.map_err(sql("removing a tool"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(version: &str, text: &str) -> NewTool {
        NewTool {
            name: "bet".into(),
            version: version.into(),
            kind: ToolKind::Boutiques,
            descriptor_json: text.into(),
            descriptor_sha256: crate::hash::sha256_hex(text.as_bytes()),
            image: Some("fsl/bet:6".into()),
            source: "bet.json".into(),
        }
    }

    #[test]
    fn tools_are_added_idempotently_and_conflicts_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.add_tool(&tool("1", "{a}"), false).unwrap(), ToolAdded::Added);
        assert_eq!(store.add_tool(&tool("1", "{a}"), false).unwrap(), ToolAdded::Unchanged);
        assert!(matches!(store.add_tool(&tool("1", "{b}"), false), Err(StoreError::ToolConflict { .. })));
        assert_eq!(store.add_tool(&tool("1", "{b}"), true).unwrap(), ToolAdded::Replaced);
        assert_eq!(store.get_tool("bet", Some("1")).unwrap().tool.descriptor_json, "{b}");
    }

    #[test]
    fn the_latest_version_is_the_default_and_removal_needs_a_version_when_ambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.add_tool(&tool("1", "{a}"), false).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        store.add_tool(&tool("2", "{c}"), false).unwrap();
        assert_eq!(store.get_tool("bet", None).unwrap().tool.version, "2");
        match store.get_tool("bet", Some("3")) {
            Err(StoreError::NoSuchTool { versions, .. }) => assert_eq!(versions.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(matches!(store.remove_tool("bet", None, false), Err(StoreError::AmbiguousTool { .. })));
        assert_eq!(store.remove_tool("bet", Some("1"), false).unwrap(), 1);
        assert_eq!(store.remove_tool("bet", None, false).unwrap(), 1);
        assert!(store.list_tools().unwrap().is_empty());
        assert!(matches!(store.get_tool("bet", None), Err(StoreError::NoSuchTool { .. })));
    }
}
