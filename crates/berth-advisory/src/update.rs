//! `berth db update` and `berth db status`: build the advisory database from sources, and
//! describe it.
//!
//! A source is a URL (`http://`, `https://`) or a local path: one OSV record (JSON or YAML), a
//! JSON list of them, a directory of them (searched recursively), an OSV `all.zip` dump (one
//! ecosystem per zip, as osv.dev publishes them), or the Debian Security Tracker's JSON export.
//! Sites without internet point berth at a mirror or at local copies. The database is built in
//! a new file beside the old one and renamed over it, so a scan never sees half a database.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::{Database, DbError, SourceInfo, Writer};
use crate::{osv, tracker};

/// The sources used when none are given: osv.dev's dumps of the ecosystems berth matches, and
/// the Debian Security Tracker.
pub const DEFAULT_SOURCES: [&str; 12] = [
    "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/Ubuntu/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/Alpine/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/Rocky%20Linux/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/AlmaLinux/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/Red%20Hat/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/npm/all.zip",
    // The modules and crates of binaries no package owns (berth-inventory's binary pass).
    "https://osv-vulnerabilities.storage.googleapis.com/Go/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/crates.io/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/CRAN/all.zip",
    "https://security-tracker.debian.org/tracker/data/json",
];

/// Where an update stands, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<'a> {
    /// Source `index` (from 1) of `total` is being read.
    Reading {
        /// Its position.
        index: usize,
        /// How many sources there are.
        total: usize,
        /// Its URL or path.
        location: &'a str,
    },
    /// That source is in the new database.
    Loaded {
        /// Its position.
        index: usize,
        /// How many sources there are.
        total: usize,
        /// What was recorded of it.
        info: &'a SourceInfo,
    },
}

/// How to update.
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    /// The database file to write.
    pub db_path: PathBuf,
    /// How long one download may take.
    pub timeout: Duration,
}

impl UpdateOptions {
    /// Updating the database at `db_path` (the site's: `berth_config::Config::advisory_db`),
    /// with a 10-minute timeout per source.
    pub fn new(db_path: PathBuf) -> Self {
        Self { db_path, timeout: Duration::from_secs(600) }
    }
}

/// The largest source read (a download, a local file, a tracker export): the biggest OSV
/// `all.zip` and the tracker's JSON are under 200 MiB.
pub const MAX_SOURCE_BYTES: u64 = 1 << 30;

/// The largest single OSV record read out of a zip or directory; real records are kilobytes.
/// A larger member is skipped and reported, the update goes on.
pub const MAX_RECORD_BYTES: u64 = 16 << 20;

/// The most bytes decompressed from one zip: past it the update stops with an error (a zip bomb).
pub const MAX_ZIP_BYTES: u64 = 8 << 30;

/// Why an update failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// A download failed before an answer.
    #[error("cannot download `{location}`")]
    Fetch {
        /// The URL.
        location: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("`{location}` answered HTTP {status}")]
    Http {
        /// The URL.
        location: String,
        /// The status code.
        status: u16,
    },
    /// A local source could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A source is not in a format berth reads.
    #[error("`{location}` is not OSV data or a Debian tracker export: {problem}")]
    Format {
        /// The source.
        location: String,
        /// What is wrong.
        problem: String,
    },
    /// A source, or a zip's contents, larger than berth reads.
    #[error("`{location}`: {what} is larger than the {limit} bytes berth reads")]
    TooLarge {
        /// The source.
        location: String,
        /// What was too large.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// Writing the database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl UpdateError {
    /// What the user can do.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Fetch { .. } | Self::Http { .. } => Some(
                "without internet, point berth at a mirror or a local copy: `berth db update --source URL|PATH` (OSV JSON/YAML files, directories, `all.zip` dumps, the Debian tracker's JSON)"
                    .to_owned(),
            ),
            Self::Format { .. } => Some("give OSV records (`.json`, `.yaml`, a directory of them, or `all.zip`) or the tracker's `data/json` export".to_owned()),
            Self::Db(e) => e.hint(),
            Self::TooLarge { .. } => Some(
                "the source is damaged or malicious (a zip bomb?); download the OSV dump again from a source you trust"
                    .to_owned(),
            ),
            Self::Read { .. } => None,
        }
    }
}

/// What an update did.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateSummary {
    /// The database written.
    pub path: PathBuf,
    /// The snapshot id findings will cite.
    pub snapshot: String,
    /// When it was built.
    pub built_at: String,
    /// The sources, with what each gave.
    pub sources: Vec<SourceInfo>,
    /// Records skipped because they could not be read, with the first reasons.
    pub skipped: u64,
    /// Up to ten reasons for skipped records.
    pub problems: Vec<String>,
}

fn now() -> String {
    // Truncated, not rounded: a build time rounded up lies up to half a second in the future,
    // and a database read back at once would look as if its clock were ahead.
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now).to_string()
}

/// Read a source's bytes (downloads into memory).
fn fetch(location: &str, timeout: Duration) -> Result<Vec<u8>, UpdateError> {
    // reqwest is built without a bundled crypto provider; ring is the one the workspace uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| UpdateError::Fetch { location: location.to_owned(), source })?;
    let response =
        client.get(location).send().map_err(|source| UpdateError::Fetch { location: location.to_owned(), source })?;
    let status = response.status();
    if !status.is_success() {
        return Err(UpdateError::Http { location: location.to_owned(), status: status.as_u16() });
    }
    let too_large = || UpdateError::TooLarge {
        location: location.to_owned(),
        what: "the download".to_owned(),
        limit: MAX_SOURCE_BYTES,
    };
    if response.content_length().is_some_and(|n| n > MAX_SOURCE_BYTES) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    response
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| UpdateError::Read { path: PathBuf::from(location), source })?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// A local file of at most `limit` bytes, read whole.
fn read_capped(path: &Path, location: &str, what: &str, limit: u64) -> Result<Vec<u8>, UpdateError> {
    let read_err = |source| UpdateError::Read { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > limit {
        return Err(UpdateError::TooLarge { location: location.to_owned(), what: what.to_owned(), limit });
    }
    Ok(bytes)
}

struct Loader<'a> {
    writer: &'a Writer,
    source_id: i64,
    records: u64,
    skipped: u64,
    problems: Vec<String>,
}

impl Loader<'_> {
    fn problem(&mut self, what: String) {
        self.skipped += 1;
        if self.problems.len() < 10 {
            self.problems.push(what);
        }
    }

    fn osv_records(&mut self, records: Vec<osv::Record>) -> Result<(), DbError> {
        for r in records {
            if self.writer.osv(self.source_id, &r)? {
                self.records += 1;
            }
        }
        Ok(())
    }

    /// One member: `name` decides JSON or YAML.
    fn member(&mut self, name: &str, bytes: &[u8]) -> Result<(), DbError> {
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            match osv::from_yaml(bytes) {
                Ok(r) => self.osv_records(vec![r])?,
                Err(e) => self.problem(format!("{name}: {e}")),
            }
        } else if name.ends_with(".json") {
            match osv::from_json(bytes) {
                Ok(r) => self.osv_records(r)?,
                Err(e) => self.problem(format!("{name}: {e}")),
            }
        }
        Ok(())
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), UpdateError> {
    let entries = std::fs::read_dir(dir).map_err(|source| UpdateError::Read { path: dir.to_owned(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| UpdateError::Read { path: dir.to_owned(), source })?;
        let kind = entry.file_type().map_err(|source| UpdateError::Read { path: entry.path(), source })?;
        if kind.is_dir() {
            walk(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Load one source into the writer; returns its recorded info.
fn load(
    writer: &Writer,
    location: &str,
    timeout: Duration,
    summary: &mut UpdateSummary,
) -> Result<SourceInfo, UpdateError> {
    let mut info = SourceInfo {
        location: location.to_owned(),
        kind: String::new(),
        sha256: String::new(),
        records: 0,
        fetched_at: now(),
    };
    let remote = location.starts_with("http://") || location.starts_with("https://");
    let path = Path::new(location);
    let mut hasher = Sha256::new();
    let source_id = writer.source(&info)?;
    let mut loader = Loader { writer, source_id, records: 0, skipped: 0, problems: Vec::new() };
    if !remote && path.is_dir() {
        info.kind = "osv-dir".to_owned();
        let mut files = Vec::new();
        walk(path, &mut files)?;
        files.sort();
        for f in files {
            let name = f.to_string_lossy().into_owned();
            if !(name.ends_with(".json") || name.ends_with(".yaml") || name.ends_with(".yml")) {
                continue;
            }
            let bytes = match read_capped(&f, location, "a record", MAX_RECORD_BYTES) {
                Ok(b) => b,
                Err(UpdateError::TooLarge { .. }) => {
                    loader.problem(format!("{name}: larger than {MAX_RECORD_BYTES} bytes, skipped"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            hasher.update(name.as_bytes());
            hasher.update(&bytes);
            loader.member(&name, &bytes)?;
        }
    } else {
        let bytes =
            if remote { fetch(location, timeout)? } else { read_capped(path, location, "the file", MAX_SOURCE_BYTES)? };
        hasher.update(&bytes);
        if bytes.starts_with(b"PK\x03\x04") {
            info.kind = "osv-zip".to_owned();
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes))
                .map_err(|e| UpdateError::Format { location: location.to_owned(), problem: e.to_string() })?;
            // Entry names only choose JSON or YAML: nothing is ever written under them. The
            // sizes a zip declares are not trusted: each member is read up to
            // MAX_RECORD_BYTES (a larger one is reported and skipped), all of them up to
            // MAX_ZIP_BYTES.
            let mut inflated = 0u64;
            for i in 0..zip.len() {
                let file = zip
                    .by_index(i)
                    .map_err(|e| UpdateError::Format { location: location.to_owned(), problem: e.to_string() })?;
                if !file.is_file() {
                    continue;
                }
                let name = file.name().map(|n| n.to_string()).unwrap_or_default();
                let mut content = Vec::new();
                let read = file.take(MAX_RECORD_BYTES + 1).read_to_end(&mut content);
                inflated += content.len() as u64;
                if inflated > MAX_ZIP_BYTES {
                    return Err(UpdateError::TooLarge {
                        location: location.to_owned(),
                        what: "the zip's contents".to_owned(),
                        limit: MAX_ZIP_BYTES,
                    });
                }
                if content.len() as u64 > MAX_RECORD_BYTES {
                    loader.problem(format!("{name}: larger than {MAX_RECORD_BYTES} bytes, skipped"));
                    continue;
                }
                if let Err(e) = read {
                    loader.problem(format!("{name}: {e}"));
                    continue;
                }
                loader.member(&name, &content)?;
            }
        } else if location.ends_with(".yaml") || location.ends_with(".yml") {
            info.kind = "osv-yaml".to_owned();
            loader.member(location, &bytes)?;
        } else {
            let value: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| UpdateError::Format { location: location.to_owned(), problem: e.to_string() })?;
            if tracker::looks_like_tracker(&value) {
                info.kind = "debian-tracker".to_owned();
                let entries = tracker::parse(&bytes)
                    .map_err(|e| UpdateError::Format { location: location.to_owned(), problem: e.to_string() })?;
                for e in &entries {
                    writer.tracker(source_id, e)?;
                }
                loader.records = entries.len() as u64;
            } else if value.get("id").is_some() || value.is_array() {
                info.kind = "osv-json".to_owned();
                loader.member("record.json", &bytes)?;
            } else {
                return Err(UpdateError::Format {
                    location: location.to_owned(),
                    problem: "a JSON object that is neither an OSV record nor the tracker's package map".to_owned(),
                });
            }
        }
    }
    info.sha256 = hex::encode(hasher.finalize());
    info.records = loader.records;
    writer.set_records(source_id, info.records)?;
    writer
        .conn
        .execute(
            "UPDATE sources SET kind = ?1, sha256 = ?2 WHERE id = ?3",
            rusqlite::params![info.kind, info.sha256, source_id],
        )
        .map_err(writer.err("recording a source"))?;
    summary.skipped += loader.skipped;
    for p in loader.problems {
        if summary.problems.len() < 10 {
            summary.problems.push(format!("{location}: {p}"));
        }
    }
    Ok(info)
}

/// Build the database at `options.db_path` from `sources` (all of [`DEFAULT_SOURCES`] if empty).
pub fn update(sources: &[String], options: &UpdateOptions) -> Result<UpdateSummary, UpdateError> {
    update_with_progress(sources, options, &mut |_| {})
}

/// [`update`], telling `progress` as each source is read and loaded. The old database stays
/// in place, untouched, until the new one is complete; a failed update leaves it as it was.
pub fn update_with_progress(
    sources: &[String],
    options: &UpdateOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<UpdateSummary, UpdateError> {
    let sources: Vec<String> =
        if sources.is_empty() { DEFAULT_SOURCES.iter().map(|s| (*s).to_owned()).collect() } else { sources.to_vec() };
    if let Some(dir) = options.db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| UpdateError::Read { path: dir.to_owned(), source })?;
    }
    let tmp = options.db_path.with_extension(format!("sqlite.tmp-{}", std::process::id()));
    let result = (|| {
        let writer = Writer::create(&tmp)?;
        let built_at = now();
        let mut summary = UpdateSummary {
            path: options.db_path.clone(),
            snapshot: String::new(),
            built_at: built_at.clone(),
            sources: Vec::new(),
            skipped: 0,
            problems: Vec::new(),
        };
        let total = sources.len();
        for (i, s) in sources.iter().enumerate() {
            progress(Progress::Reading { index: i + 1, total, location: s });
            let info = load(&writer, s, options.timeout, &mut summary)?;
            progress(Progress::Loaded { index: i + 1, total, info: &info });
            summary.sources.push(info);
        }
        let mut h = Sha256::new();
        for s in &summary.sources {
            h.update(s.sha256.as_bytes());
        }
        summary.snapshot = format!("{}@{}", &hex::encode(h.finalize())[..16], built_at);
        writer.finish(&[
            ("schema_version", crate::db::SCHEMA_VERSION.to_string()),
            ("built_at", built_at),
            ("snapshot", summary.snapshot.clone()),
        ])?;
        Ok::<_, UpdateError>(summary)
    })();
    match result {
        Ok(summary) => {
            std::fs::rename(&tmp, &options.db_path)
                .map_err(|source| UpdateError::Read { path: options.db_path.clone(), source })?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// What `berth db status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The database file.
    pub path: PathBuf,
    /// Its snapshot id.
    pub snapshot: String,
    /// When it was built.
    pub built_at: String,
    /// Its age in seconds, at the time of asking.
    pub age_seconds: i64,
    /// Whether it is older than the allowed age.
    pub stale: bool,
    /// The allowed age, in seconds.
    pub max_age_seconds: u64,
    /// Its sources.
    pub sources: Vec<SourceInfo>,
    /// Advisories stored.
    pub advisories: u64,
    /// Affected-package rows stored.
    pub affected: u64,
    /// Affected rows per ecosystem.
    pub ecosystems: Vec<(String, u64)>,
}

/// Describe the database at `path`; `stale` when older than `max_age`.
pub fn status(path: &Path, max_age: Duration) -> Result<Status, DbError> {
    let db = Database::open(path)?;
    let built_at = db.meta("built_at")?.unwrap_or_default();
    let age_seconds = built_at
        .parse::<jiff::Timestamp>()
        .map(|t| jiff::Timestamp::now().as_second() - t.as_second())
        .unwrap_or(i64::MAX);
    let counts = db.counts()?;
    Ok(Status {
        path: path.to_owned(),
        snapshot: db.meta("snapshot")?.unwrap_or_default(),
        // A build time more than a minute ahead of this clock is a clock problem: stale, so it is
        // looked at.
        stale: age_seconds < -60 || age_seconds.max(0) as u64 > max_age.as_secs(),
        built_at,
        age_seconds,
        max_age_seconds: max_age.as_secs(),
        sources: db.sources()?,
        advisories: counts.advisories,
        affected: counts.affected,
        ecosystems: counts.per_ecosystem,
    })
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "database:   {}", self.path.display())?;
        writeln!(f, "snapshot:   {}", self.snapshot)?;
        let hours = self.age_seconds / 3600;
        writeln!(
            f,
            "built:      {} ({} h ago{})",
            self.built_at,
            hours,
            if self.stale {
                format!(", older than the {} h allowed", self.max_age_seconds / 3600)
            } else {
                String::new()
            }
        )?;
        writeln!(f, "advisories: {}   affected packages: {}", self.advisories, self.affected)?;
        for (eco, n) in &self.ecosystems {
            writeln!(f, "  {eco:<16} {n}")?;
        }
        writeln!(f, "sources:")?;
        for s in &self.sources {
            writeln!(
                f,
                "  {} ({}, {} records, sha256 {}, read {})",
                s.location,
                s.kind,
                s.records,
                &s.sha256[..s.sha256.len().min(12)],
                s.fetched_at
            )?;
        }
        Ok(())
    }
}
