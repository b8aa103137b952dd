//! berth's advisory database: one SQLite file, written whole by [`crate::update`] and read by
//! the scanner.
//!
//! Tables: `meta` (schema version, build time, snapshot id), `sources` (where each input came
//! from, its digest and record count), `advisories` (id, aliases, summary, severities) and
//! `affected` (ecosystem, package, and either OSV ranges or a tracker status), indexed by
//! (ecosystem, package). Ecosystems and names are stored normalized ([`ecosystem_key`],
//! [`package_key`]) so lookups are exact.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::osv;
use crate::severity::{CvssScore, Severity};

/// The schema version; a database of another version must be rebuilt (`berth db update`).
/// 2: Ubuntu Pro and Red Hat ecosystems keyed by their release ([`ecosystem_key`]).
pub const SCHEMA_VERSION: u32 = 2;

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    id INTEGER PRIMARY KEY, location TEXT NOT NULL, kind TEXT NOT NULL, sha256 TEXT NOT NULL,
    records INTEGER NOT NULL, fetched_at TEXT NOT NULL);
CREATE TABLE advisories (
    id TEXT PRIMARY KEY, source_id INTEGER NOT NULL, summary TEXT, aliases TEXT NOT NULL,
    cvss TEXT NOT NULL, rating TEXT, rating_source TEXT, modified TEXT, published TEXT);
CREATE TABLE affected (
    advisory_id TEXT NOT NULL, ecosystem TEXT NOT NULL, package TEXT NOT NULL, kind TEXT NOT NULL,
    ranges TEXT, versions TEXT, status TEXT, fixed TEXT, rating TEXT);
CREATE INDEX affected_package ON affected (ecosystem, package);
";

/// A database that cannot be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite failed.
    #[error("advisory database `{}`: {operation} failed", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        operation: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// No database at the path.
    #[error("there is no advisory database at `{}`", path.display())]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A database of another schema version.
    #[error("the advisory database `{}` has schema {found}, this berth reads {SCHEMA_VERSION}", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: String,
    },
}

impl DbError {
    /// What the user can do.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Missing { .. } | Self::Schema { .. } => Some(
                "build it with `berth db update` (offline: `berth db update --source PATH` with OSV files or a Debian tracker export)"
                    .to_owned(),
            ),
            Self::Sqlite { .. } => None,
        }
    }
}

/// `Ubuntu:22.04:LTS` → `ubuntu:22.04`; `Alpine:v3.19` → `alpine:3.19`; `PyPI` → `pypi`;
/// `Rocky Linux:9` → `rocky:9`: the lowercase family and release, without support-level tags.
pub fn ecosystem_key(ecosystem: &str) -> String {
    let lower = ecosystem.to_ascii_lowercase();
    let mut parts: Vec<&str> = lower.split(':').map(str::trim).collect();
    let mut family = match parts.first().copied().unwrap_or_default() {
        "rocky linux" => "rocky".to_owned(),
        "red hat" => "redhat".to_owned(),
        f => f.to_owned(),
    };
    let rest = parts.split_off(1.min(parts.len()));
    let numeric = || rest.iter().copied().find(|p| p.trim_start_matches('v').starts_with(|c: char| c.is_ascii_digit()));
    let release = match family.as_str() {
        // `Ubuntu:22.04:LTS`, `Ubuntu:Pro:18.04:LTS`, `Ubuntu:Pro:FIPS-updates:18.04:LTS`: the
        // release is the numeric part; Ubuntu Pro (ESM) records are their own family, matched
        // only on images that have Pro updates installed.
        "ubuntu" => {
            if rest.first() == Some(&"pro") {
                family = "ubuntu-pro".to_owned();
            }
            numeric().map(str::to_owned)
        }
        // `Red Hat:enterprise_linux:9::appstream`, `Red Hat:rhel_eus:8.6::baseos`: keyed by the
        // major release, as images say it (`VERSION_ID="9.3"`).
        "redhat" => numeric().map(|r| r.split('.').next().unwrap_or(r).to_owned()),
        _ => rest.first().map(|r| r.trim_start_matches('v').to_owned()),
    };
    match release {
        Some(r) => format!("{family}:{r}"),
        None => family,
    }
}

/// Package names as matched: PEP 503 for PyPI, lowercase for npm, verbatim otherwise.
pub fn package_key(ecosystem_key: &str, name: &str) -> String {
    if ecosystem_key == "pypi" {
        berth_package::name::pep503(name)
    } else if ecosystem_key == "npm" {
        name.to_ascii_lowercase()
    } else {
        name.to_owned()
    }
}

/// An advisory as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    /// Its id.
    pub id: String,
    /// Other ids.
    pub aliases: Vec<String>,
    /// One line.
    pub summary: Option<String>,
    /// CVSS vectors with their scores.
    pub cvss: Vec<CvssScore>,
    /// The database's own rating (GitHub's severity), if any.
    pub rating: Option<Severity>,
    /// Who gave `rating`.
    pub rating_source: Option<String>,
}

/// How an affected entry says which versions are affected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Affection {
    /// OSV ranges and exact versions.
    Osv {
        /// The ranges.
        ranges: Vec<osv::Range>,
        /// Exact versions.
        versions: Vec<String>,
    },
    /// A tracker status (Debian).
    Tracker {
        /// See [`crate::tracker`].
        status: String,
        /// The fixed version, when fixed.
        fixed: Option<String>,
    },
}

/// One affected (package, advisory) row, with its advisory.
#[derive(Debug, Clone, PartialEq)]
pub struct AffectedRow {
    /// The advisory.
    pub advisory: Advisory,
    /// The ecosystem as stored (normalized).
    pub ecosystem: String,
    /// Which versions.
    pub affection: Affection,
    /// The distribution's rating of this package's exposure (Debian urgency, Ubuntu priority).
    pub rating: Option<String>,
}

/// A source recorded in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// URL or path.
    pub location: String,
    /// `osv-zip`, `osv-dir`, `osv-json`, `osv-yaml`, `debian-tracker`.
    pub kind: String,
    /// Digest of what was read.
    pub sha256: String,
    /// Records taken from it.
    pub records: u64,
    /// When it was read (RFC 3339).
    pub fetched_at: String,
}

/// Record counts of a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Advisories.
    pub advisories: u64,
    /// Affected-package rows.
    pub affected: u64,
    /// Affected rows per (normalized) ecosystem.
    pub per_ecosystem: Vec<(String, u64)>,
}

/// An open database, read-only.
#[derive(Debug)]
pub struct Database {
    conn: Connection,
    path: PathBuf,
}

impl Database {
    /// Open the database at `path` for reading.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        if !path.is_file() {
            return Err(DbError::Missing { path: path.to_owned() });
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|source| DbError::Sqlite { path: path.to_owned(), operation: "opening", source })?;
        let db = Self { conn, path: path.to_owned() };
        let found = db.meta("schema_version")?.unwrap_or_default();
        if found != SCHEMA_VERSION.to_string() {
            return Err(DbError::Schema { path: path.to_owned(), found });
        }
        Ok(db)
    }

    fn err(&self, operation: &'static str) -> impl Fn(rusqlite::Error) -> DbError + '_ {
        move |source| DbError::Sqlite { path: self.path.clone(), operation, source }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A `meta` value.
    pub fn meta(&self, key: &str) -> Result<Option<String>, DbError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err("reading meta"))
    }

    /// The sources it was built from.
    pub fn sources(&self) -> Result<Vec<SourceInfo>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT location, kind, sha256, records, fetched_at FROM sources ORDER BY id")
            .map_err(self.err("reading sources"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SourceInfo {
                    location: r.get(0)?,
                    kind: r.get(1)?,
                    sha256: r.get(2)?,
                    records: r.get::<_, i64>(3)? as u64,
                    fetched_at: r.get(4)?,
                })
            })
            .map_err(self.err("reading sources"))?;
        rows.collect::<Result<_, _>>().map_err(self.err("reading sources"))
    }

    /// How many advisories and affected rows it holds, in all and per ecosystem.
    pub fn counts(&self) -> Result<Counts, DbError> {
        let count = |sql: &str| self.conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64);
        let advisories = count("SELECT COUNT(*) FROM advisories").map_err(self.err("counting"))?;
        let affected = count("SELECT COUNT(*) FROM affected").map_err(self.err("counting"))?;
        let mut stmt = self
            .conn
            .prepare("SELECT ecosystem, COUNT(*) FROM affected GROUP BY ecosystem ORDER BY ecosystem")
            .map_err(self.err("counting"))?;
        let per = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(self.err("counting"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("counting"))?;
        Ok(Counts { advisories, affected, per_ecosystem: per })
    }

    /// Every affected row for `package` in `ecosystem` (both normalized by this function).
    pub fn affected(&self, ecosystem: &str, package: &str) -> Result<Vec<AffectedRow>, DbError> {
        let eco = ecosystem_key(ecosystem);
        let pkg = package_key(&eco, package);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.aliases, a.summary, a.cvss, a.rating, a.rating_source,
                        f.ecosystem, f.kind, f.ranges, f.versions, f.status, f.fixed, f.rating
                 FROM affected f JOIN advisories a ON a.id = f.advisory_id
                 WHERE f.ecosystem = ?1 AND f.package = ?2 ORDER BY a.id",
            )
            .map_err(self.err("querying"))?;
        let rows = stmt
            .query_map(params![eco, pkg], |r| {
                let json = |i: usize| -> rusqlite::Result<String> {
                    r.get::<_, Option<String>>(i).map(Option::unwrap_or_default)
                };
                let aliases: Vec<String> = serde_json::from_str(&json(1)?).unwrap_or_default();
                let cvss: Vec<CvssScore> = serde_json::from_str(&json(3)?).unwrap_or_default();
                let rating: Option<String> = r.get(4)?;
                let kind: String = r.get(7)?;
                let affection = if kind == "tracker" {
                    Affection::Tracker {
                        status: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
                        fixed: r.get(11)?,
                    }
                } else {
                    Affection::Osv {
                        ranges: serde_json::from_str(&json(8)?).unwrap_or_default(),
                        versions: serde_json::from_str(&json(9)?).unwrap_or_default(),
                    }
                };
                Ok(AffectedRow {
                    advisory: Advisory {
                        id: r.get(0)?,
                        aliases,
                        summary: r.get(2)?,
                        cvss,
                        rating: rating.and_then(|s| s.parse().ok()),
                        rating_source: r.get(5)?,
                    },
                    ecosystem: r.get(6)?,
                    affection,
                    rating: r.get(12)?,
                })
            })
            .map_err(self.err("querying"))?;
        rows.collect::<Result<_, _>>().map_err(self.err("querying"))
    }
}

/// Writes a new database file (used by [`crate::update`]).
pub(crate) struct Writer {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl Writer {
    pub(crate) fn create(path: &Path) -> Result<Self, DbError> {
        let err = |operation| move |source| DbError::Sqlite { path: path.to_owned(), operation, source };
        let _ = std::fs::remove_file(path);
        let conn = Connection::open(path).map_err(err("creating"))?;
        conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;").map_err(err("configuring"))?;
        conn.execute_batch(SCHEMA).map_err(err("creating the schema"))?;
        conn.execute_batch("BEGIN").map_err(err("starting a transaction"))?;
        Ok(Self { conn, path: path.to_owned() })
    }

    pub(crate) fn err(&self, operation: &'static str) -> impl Fn(rusqlite::Error) -> DbError + '_ {
        move |source| DbError::Sqlite { path: self.path.clone(), operation, source }
    }

    pub(crate) fn source(&self, s: &SourceInfo) -> Result<i64, DbError> {
        self.conn
            .execute(
                "INSERT INTO sources (location, kind, sha256, records, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.location, s.kind, s.sha256, s.records as i64, s.fetched_at],
            )
            .map_err(self.err("recording a source"))?;
        Ok(self.conn.last_insert_rowid())
    }

    pub(crate) fn set_records(&self, source_id: i64, records: u64) -> Result<(), DbError> {
        self.conn
            .execute("UPDATE sources SET records = ?1 WHERE id = ?2", params![records as i64, source_id])
            .map_err(self.err("recording a source"))?;
        Ok(())
    }

    /// Insert an OSV record; returns whether it was new (ids already present are kept first-wins).
    pub(crate) fn osv(&self, source_id: i64, record: &osv::Record) -> Result<bool, DbError> {
        if record.withdrawn.is_some() {
            return Ok(false);
        }
        let cvss: Vec<CvssScore> = record
            .severity
            .iter()
            .filter(|s| s.kind.starts_with("CVSS"))
            .map(|s| CvssScore::new(&s.kind, &s.score))
            .collect();
        let github = record
            .database_specific
            .as_ref()
            .and_then(|d| d.get("severity"))
            .and_then(|s| s.as_str())
            .and_then(Severity::from_rating);
        let ubuntu = record.severity.iter().find(|s| s.kind == "Ubuntu").and_then(|s| Severity::from_rating(&s.score));
        let (rating, rating_source) = match (ubuntu, github) {
            (Some(r), _) => (Some(r), Some("ubuntu")),
            (None, Some(r)) => (Some(r), Some("github")),
            _ => (None, None),
        };
        let inserted = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO advisories (id, source_id, summary, aliases, cvss, rating, rating_source, modified, published)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    record.id,
                    source_id,
                    record.summary.clone().or_else(|| record.details.as_ref().map(|d| first_line(d))),
                    serde_json::to_string(&aliases(record)).unwrap_or_default(),
                    serde_json::to_string(&cvss).unwrap_or_default(),
                    rating.map(|r| r.as_str()),
                    rating_source,
                    record.modified,
                    record.published,
                ],
            )
            .map_err(self.err("inserting an advisory"))?;
        if inserted == 0 {
            return Ok(false);
        }
        for a in &record.affected {
            let Some(p) = &a.package else { continue };
            let eco = ecosystem_key(&p.ecosystem);
            let urgency = a
                .ecosystem_specific
                .as_ref()
                .and_then(|e| e.get("urgency").or_else(|| e.get("severity")))
                .and_then(|u| u.as_str())
                .map(str::to_owned)
                .or_else(|| a.severity.iter().find(|s| s.kind == "Ubuntu").map(|s| s.score.clone()));
            let ranges: Vec<&osv::Range> = a.ranges.iter().filter(|r| r.kind != "GIT").collect();
            self.conn
                .execute(
                    "INSERT INTO affected (advisory_id, ecosystem, package, kind, ranges, versions, rating)
                     VALUES (?1, ?2, ?3, 'osv', ?4, ?5, ?6)",
                    params![
                        record.id,
                        eco,
                        package_key(&eco, &p.name),
                        serde_json::to_string(&ranges).unwrap_or_default(),
                        serde_json::to_string(&a.versions).unwrap_or_default(),
                        urgency,
                    ],
                )
                .map_err(self.err("inserting an affected package"))?;
        }
        Ok(true)
    }

    pub(crate) fn tracker(&self, source_id: i64, e: &crate::tracker::Entry) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO advisories (id, source_id, summary, aliases, cvss) VALUES (?1, ?2, ?3, '[]', '[]')",
                params![e.id, source_id, e.description.as_ref().map(|d| first_line(d))],
            )
            .map_err(self.err("inserting an advisory"))?;
        let eco = ecosystem_key(&e.ecosystem);
        self.conn
            .execute(
                "INSERT INTO affected (advisory_id, ecosystem, package, kind, status, fixed, rating)
                 VALUES (?1, ?2, ?3, 'tracker', ?4, ?5, ?6)",
                params![e.id, eco, e.package, e.status, e.fixed, e.urgency],
            )
            .map_err(self.err("inserting a tracker entry"))?;
        Ok(())
    }

    pub(crate) fn finish(self, meta: &[(&str, String)]) -> Result<(), DbError> {
        for (k, v) in meta {
            self.conn
                .execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![k, v])
                .map_err(self.err("writing meta"))?;
        }
        self.conn.execute_batch("COMMIT").map_err(self.err("committing"))?;
        Ok(())
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().chars().take(200).collect()
}

/// A record's aliases, plus its `upstream` ids (a Debian DSA's CVEs).
fn aliases(record: &osv::Record) -> Vec<String> {
    let mut all = record.aliases.clone();
    for u in &record.upstream {
        if !all.contains(u) {
            all.push(u.clone());
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems_and_names_normalize_for_exact_lookups() {
        assert_eq!(ecosystem_key("Ubuntu:22.04:LTS"), "ubuntu:22.04");
        assert_eq!(ecosystem_key("Alpine:v3.19"), "alpine:3.19");
        assert_eq!(ecosystem_key("Debian:12"), "debian:12");
        assert_eq!(ecosystem_key("PyPI"), "pypi");
        assert_eq!(ecosystem_key("Rocky Linux:9"), "rocky:9");
        assert_eq!(ecosystem_key("Ubuntu:20.04"), "ubuntu:20.04");
        assert_eq!(ecosystem_key("Ubuntu:Pro:18.04:LTS"), "ubuntu-pro:18.04");
        assert_eq!(ecosystem_key("Ubuntu:Pro:FIPS-updates:18.04:LTS"), "ubuntu-pro:18.04");
        assert_eq!(ecosystem_key("Red Hat:enterprise_linux:9::appstream"), "redhat:9");
        assert_eq!(ecosystem_key("Red Hat:rhel_eus:8.6::baseos"), "redhat:8");
        assert_eq!(ecosystem_key("Red Hat:9"), "redhat:9");
        assert_eq!(ecosystem_key("AlmaLinux:8"), "almalinux:8");
        assert_eq!(ecosystem_key("crates.io"), "crates.io");
        assert_eq!(ecosystem_key("Go"), "go");
        assert_eq!(package_key("pypi", "PyYAML"), "pyyaml");
        assert_eq!(package_key("pypi", "zope.interface"), "zope-interface");
        assert_eq!(package_key("debian:12", "Foo"), "Foo");
    }
}
