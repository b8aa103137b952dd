//! The store itself: opening `$BERTH_HOME/berth.db`, its schema migrations, and the
//! connection that every operation goes through.
//!
//! Several processes use one store at once (each CLI invocation, later a server), so the
//! database runs in WAL mode (readers never wait for the writer), waits up to
//! [`BUSY_TIMEOUT`] for a lock instead of failing, and takes the write lock at the *start* of
//! every write transaction (`BEGIN IMMEDIATE`): a transaction that began as a reader and later
//! writes cannot wait for the lock — SQLite answers `SQLITE_BUSY` at once, whatever the busy
//! timeout, when another process committed in between.
//!
//! Within a process, one connection behind a mutex serves all threads: the store's
//! transactions are short, and one connection keeps the locking story simple.

use std::fs::{DirBuilder, File};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, TransactionBehavior, params};

use crate::hash::{BoxError, CacheKey, HashCache, HashError, Hasher, PathHash};
use crate::log::LogWriter;
use crate::model::{FileKind, FileRole, RunId, RunStatus};
use crate::paths::{self, NoHomeError};
use crate::time;

/// The database file's name inside the store's directory.
pub const DB_FILE: &str = "berth.db";
/// The directory, inside the store's directory, that holds one directory of logs per run.
pub const LOGS_DIR: &str = "logs";
/// How long an operation waits for another process's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The schema, one script per version: applying `MIGRATIONS[n]` takes a database from
/// `user_version` n to n + 1. Scripts are only ever appended, never edited.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_runs_and_hash_cache.sql"),
    include_str!("../migrations/0002_tools.sql"),
    include_str!("../migrations/0003_scan_policy.sql"),
    include_str!("../migrations/0004_pipelines.sql"),
    include_str!("../migrations/0005_service.sql"),
    include_str!("../migrations/0006_slurm_jobs.sql"),
    include_str!("../migrations/0007_sessions.sql"),
    include_str!("../migrations/0008_run_traces.sql"),
    include_str!("../migrations/0009_audit_log.sql"),
    include_str!("../migrations/0010_tool_sessions.sql"),
    include_str!("../migrations/0011_session_projects.sql"),
    include_str!("../migrations/0012_dicom.sql"),
    include_str!("../migrations/0013_dicom_triggers.sql"),
    include_str!("../migrations/0014_dicom_trigger_pipelines.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Everything that can go wrong using the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No variable said where the store is.
    #[error(transparent)]
    NoHome(#[from] NoHomeError),

    /// A directory of the store could not be created.
    #[error("cannot create the directory `{}`", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },

    /// The database could not be opened or configured.
    #[error("cannot open the store's database `{}`", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// The database cannot use write-ahead logging (for example on a network file system).
    #[error("the store's database `{}` cannot use write-ahead logging (journal mode stays `{mode}`)", path.display())]
    NoWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },

    /// The database was written by a newer berth.
    #[error(
        "the store's database `{}` has schema version {found}, newer than {supported}, the newest this berth knows",
        path.display()
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The database's `user_version`.
        found: u32,
        /// [`SCHEMA_VERSION`].
        supported: u32,
    },

    /// A schema migration failed (and was rolled back).
    #[error("migrating the store's database `{}` to schema version {to} failed", path.display())]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The version being migrated to.
        to: u32,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// The audit trail's head file could not be written.
    #[error("cannot write the audit trail's head file `{}`", path.display())]
    AuditHead {
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },

    /// A query failed.
    #[error("{operation} failed in the store")]
    Sql {
        /// What was being done (`creating a run`, `setting a run's status`).
        operation: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// A value could not be converted to or from JSON for storage.
    #[error("cannot store or read back {what} as JSON")]
    Json {
        /// What was being converted.
        what: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },

    /// No run has this id (or an id starting with this prefix).
    #[error("no run \"{id}\" in the store")]
    RunNotFound {
        /// The id or prefix asked for.
        id: String,
    },

    /// No registered tool has this name (and version).
    #[error("no tool `{name}{}` is registered", version.as_deref().map(|v| format!("@{v}")).unwrap_or_default())]
    NoSuchTool {
        /// The name asked for.
        name: String,
        /// The version asked for, if any.
        version: Option<String>,
        /// The versions of that name that are registered.
        versions: Vec<String>,
    },

    /// A tool with this name and version is registered with a different descriptor.
    #[error("tool `{name}@{version}` is already registered with a different descriptor (sha256 {existing})")]
    ToolConflict {
        /// The name.
        name: String,
        /// The version.
        version: String,
        /// The SHA-256 of the registered descriptor.
        existing: String,
    },

    /// A name without a version matches several registered versions where one is needed.
    #[error("tool `{name}` has several versions registered: {}", versions.join(", "))]
    AmbiguousTool {
        /// The name.
        name: String,
        /// Its versions.
        versions: Vec<String>,
    },

    /// Several runs have ids starting with this prefix.
    #[error("{total} runs have ids starting with \"{prefix}\": {}", candidates.join(", "))]
    AmbiguousRunId {
        /// The prefix asked for.
        prefix: String,
        /// The first few matching ids, in order.
        candidates: Vec<String>,
        /// How many ids match.
        total: usize,
    },

    /// The prefix is too short to look a run up by.
    #[error("the run id prefix \"{prefix}\" is too short: give at least {minimum} characters")]
    RunIdTooShort {
        /// The prefix asked for.
        prefix: String,
        /// [`RunId::MIN_PREFIX`].
        minimum: usize,
    },

    /// The text cannot be (the start of) a run id.
    #[error("\"{id}\" is not a run id: run ids are hexadecimal digits and hyphens")]
    InvalidRunId {
        /// The text given.
        id: String,
    },

    /// The run is over; its status can no longer change.
    #[error("run \"{id}\" is already {current}; it cannot become {requested}")]
    TerminalStatus {
        /// The run.
        id: RunId,
        /// Its terminal status.
        current: RunStatus,
        /// The status asked for.
        requested: RunStatus,
    },

    /// A log file or directory could not be created.
    #[error("cannot create the log file `{}`", path.display())]
    Logs {
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },

    /// Hashing a file for the store failed.
    #[error(transparent)]
    Hash(#[from] HashError),

    /// A service object (user, project, launch, token) does not exist.
    #[error("no {kind} \"{name}\"")]
    NotFound {
        /// `user`, `project`, `launch`, ...
        kind: &'static str,
        /// The name or id asked for.
        name: String,
    },

    /// A name (of a user, a project) that berth does not accept: the caller's mistake.
    #[error(
        "`{name}` is not a valid {kind} name: use 1 to 64 letters, digits, `-`, `_` or `.`, not starting with `-` or `.`"
    )]
    InvalidName {
        /// What was named (`user`, `project`).
        kind: &'static str,
        /// The name given.
        name: String,
    },
    /// A user or project of that name exists already.
    #[error("{kind} `{name}` already exists")]
    AlreadyExists {
        /// What (`user`, `project`).
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The operating system gave no randomness for a secret (a token, a session).
    #[error("no randomness for a {what}: {reason}")]
    NoRandomness {
        /// What needed it.
        what: &'static str,
        /// What the system said.
        reason: String,
    },
}

impl StoreError {
    /// What the user can do about this error, if there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::NoHome(e) => Some(e.hint()),
            StoreError::NoWal { .. } => {
                Some("keep the store on a local file system: set `BERTH_HOME` to a local directory".to_owned())
            }
            StoreError::SchemaTooNew { .. } => {
                Some("upgrade berth, or point `BERTH_HOME` at another directory to keep a separate store".to_owned())
            }
            StoreError::Sql { source, .. } if is_busy(source) => Some(format!(
                "another berth process held the store for more than {} s; try again",
                BUSY_TIMEOUT.as_secs()
            )),
            StoreError::AmbiguousRunId { .. } => Some("give more characters of the run id".to_owned()),
            StoreError::NoSuchTool { versions, name, .. } if !versions.is_empty() => {
                Some(format!("registered versions: {} (use `{name}@VERSION`)", versions.join(", ")))
            }
            StoreError::NoSuchTool { .. } => Some(
                "register it with `berth tool add FILE` or `berth tool import IMAGE`; `berth tool ls` lists tools"
                    .to_owned(),
            ),
            StoreError::ToolConflict { .. } => Some(
                "give the new descriptor another `tool-version`, or replace the old one with `--replace`".to_owned(),
            ),
            StoreError::AmbiguousTool { name, .. } => {
                Some(format!("name the version (`{name}@VERSION`), or use `--all`"))
            }
            StoreError::RunNotFound { .. } => Some("list runs with `berth runs`".to_owned()),
            StoreError::NotFound { kind: "user", .. } => Some("add it with `berth user add NAME`".to_owned()),
            StoreError::NotFound { kind: "project", .. } => {
                Some("add it with `berth project add ID --data-root DIR`".to_owned())
            }
            StoreError::Hash(e) => e.hint(),
            StoreError::AlreadyExists { kind: "user", .. } => {
                Some("`berth user ls` lists users; `berth user token NAME` makes a token for one".to_owned())
            }
            StoreError::AlreadyExists { kind: "project", .. } => {
                Some("`berth project ls` lists projects; choose another id".to_owned())
            }
            _ => None,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// Wraps a SQLite error with what was being done.
pub(crate) fn sql(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sql { operation, source }
}

/// The provenance store: a directory with the database and the run logs.
///
/// `Store` is `Send + Sync`; share one per process (in an `Arc`) rather than opening several.
#[derive(Debug)]
pub struct Store {
    home: PathBuf,
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens the store in `home`, creating the directory (mode 0700), the database and the
    /// logs directory when missing, and migrating the schema to [`SCHEMA_VERSION`].
    pub fn open(home: &Path) -> Result<Store, StoreError> {
        create_private_dir(home)?;
        create_private_dir(&home.join(LOGS_DIR))?;
        let path = home.join(DB_FILE);
        let conn = open_configured(&path)?;
        Ok(Store { home: home.to_owned(), conn: Mutex::new(conn) })
    }

    /// Opens the store where the environment says ([`paths::default_home_from_env`]):
    /// `$BERTH_HOME`, else `$XDG_DATA_HOME/berth`, else `~/.local/share/berth`.
    pub fn open_default() -> Result<Store, StoreError> {
        Store::open(&paths::default_home_from_env()?)
    }

    /// The store's directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.home.join(DB_FILE)
    }

    /// Where a run's stdout and stderr logs are: `<home>/logs/<run-id>/stdout` and `stderr`.
    pub fn log_paths(&self, id: &RunId) -> (PathBuf, PathBuf) {
        let dir = self.home.join(LOGS_DIR).join(id.as_str());
        (dir.join("stdout"), dir.join("stderr"))
    }

    /// Creates the run's log directory and files (emptying files left from before) and
    /// returns writers for stdout and stderr, each keeping at most `cap` bytes
    /// ([`DEFAULT_LOG_CAP`](crate::DEFAULT_LOG_CAP) is the default).
    pub fn open_logs(&self, id: &RunId, cap: u64) -> Result<(LogWriter<File>, LogWriter<File>), StoreError> {
        let (out, err) = self.log_paths(id);
        if let Some(dir) = out.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| StoreError::Logs { path: dir.to_owned(), source })?;
        }
        let open = |path: &Path| {
            LogWriter::create(path, cap).map_err(|source| StoreError::Logs { path: path.to_owned(), source })
        };
        Ok((open(&out)?, open(&err)?))
    }

    /// Hashes a file or directory, remembering digests in this store's hash cache.
    pub fn hash_path(&self, path: &Path) -> Result<PathHash, StoreError> {
        Ok(Hasher::new(self).hash_path(path)?)
    }

    /// Forgets cached digests not refreshed since `before` (RFC 3339, as [`time::format`]
    /// writes it); returns how many were removed.
    pub fn prune_hash_cache(&self, before: &str) -> Result<usize, StoreError> {
        self.write("pruning the hash cache", |tx| {
            tx.execute("DELETE FROM hash_cache WHERE hashed_at < ?1", [before]).map_err(sql("pruning the hash cache"))
        })
    }

    /// The connection, for one operation. A panic while it was held cannot leave a
    /// transaction open (the transaction's drop rolls it back), so a poisoned lock is usable.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`) and commits it if `f` succeeds.
    pub(crate) fn write<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql(operation))?;
        let out = f(&tx)?;
        tx.commit().map_err(sql(operation))?;
        Ok(out)
    }

    /// Runs `f` in a read transaction, so that its queries see one state of the database.
    pub(crate) fn read<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(sql(operation))?;
        f(&tx)
    }
}

impl HashCache for Store {
    fn lookup(&self, key: &CacheKey) -> Result<Option<String>, BoxError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT sha256 FROM hash_cache
             WHERE dev = ?1 AND ino = ?2 AND size = ?3 AND mtime_ns = ?4 AND ctime_ns = ?5",
        )?;
        let digest = stmt
            .query_row(params![as_i64(key.dev), as_i64(key.ino), as_i64(key.size), key.mtime_ns, key.ctime_ns], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(digest)
    }

    fn insert(&self, entries: &[(CacheKey, String)]) -> Result<(), BoxError> {
        let now = time::now();
        self.write("recording file hashes", |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO hash_cache (dev, ino, size, mtime_ns, ctime_ns, sha256, hashed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(sql("recording file hashes"))?;
            for (k, digest) in entries {
                stmt.execute(params![
                    as_i64(k.dev),
                    as_i64(k.ino),
                    as_i64(k.size),
                    k.mtime_ns,
                    k.ctime_ns,
                    digest,
                    now
                ])
                .map_err(sql("recording file hashes"))?;
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// A u64 as SQLite's i64, keeping all 64 bits (two's complement): device and inode numbers
/// only need to compare equal, and sizes never reach 2^63.
fn as_i64(v: u64) -> i64 {
    i64::from_ne_bytes(v.to_ne_bytes())
}

fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    // The mode applies only to directories created here; an existing directory the user chose
    // keeps its permissions.
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| StoreError::CreateDir { path: path.to_owned(), source })
}

/// Opens, configures and migrates the database, retrying while another process holds it.
///
/// The busy timeout covers ordinary statements, but SQLite answers `SQLITE_BUSY` at once, without
/// calling the busy handler, where waiting could deadlock: switching a brand-new database to WAL
/// while another connection is doing the same, or opening the WAL index while another process
/// recovers it. Two processes that start on a missing store at once hit exactly that, so the whole
/// sequence is retried (with a fresh connection) until [`BUSY_TIMEOUT`] has passed.
fn open_configured(path: &Path) -> Result<Connection, StoreError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(5);
    loop {
        let attempt = Connection::open(path)
            .map_err(|source| StoreError::Open { path: path.to_owned(), source })
            .and_then(|mut conn| {
                configure(&conn, path)?;
                migrate(&mut conn, path)?;
                Ok(conn)
            });
        match attempt {
            Err(StoreError::Open { source, .. }) if is_busy(&source) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open { path: path.to_owned(), source };
    // First, so that the statements below wait for other processes too.
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal { path: path.to_owned(), mode });
    }
    // In WAL mode NORMAL loses no integrity on power loss, only the last commits.
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(open_err)?;
    Ok(())
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open { path: path.to_owned(), source };
    let too_new = |found| StoreError::SchemaTooNew { path: path.to_owned(), found, supported: SCHEMA_VERSION };
    // The common case, an up-to-date database, needs no write lock.
    let version = user_version(conn).map_err(open_err)?;
    if version > SCHEMA_VERSION {
        return Err(too_new(version));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    loop {
        // Read the version again under the write lock: another process may have migrated.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(open_err)?;
        let version = user_version(&tx).map_err(open_err)?;
        if version > SCHEMA_VERSION {
            return Err(too_new(version));
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        let to = version + 1;
        let migrate_err = |source| StoreError::Migrate { path: path.to_owned(), to, source };
        tx.execute_batch(MIGRATIONS[version as usize]).map_err(migrate_err)?;
        // user_version lives in the database header, so setting it is part of the transaction.
        tx.pragma_update(None, "user_version", to).map_err(migrate_err)?;
        tx.commit().map_err(migrate_err)?;
    }
}

/// Stores enums as their lowercase names, which the schema's CHECK constraints list.
macro_rules! sql_text_enum {
    ($ty:ty, [$($variant:ident),+]) => {
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                [$(<$ty>::$variant),+]
                    .into_iter()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| FromSqlError::Other(format!("unknown {} `{text}`", stringify!($ty)).into()))
            }
        }
    };
}

sql_text_enum!(RunStatus, [Queued, Running, Succeeded, Failed, Cancelled]);
sql_text_enum!(FileRole, [Input, Output, Config]);
sql_text_enum!(FileKind, [File, Dir, Missing]);
