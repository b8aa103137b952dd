//! The audit trail (schema 9): an append-only, hash-chained log of who touched which data —
//! sign-ins, token use, launches, kills, log views, downloads, changes to tools, projects and
//! users, command-line runs — with when, from where, and the outcome.
//!
//! Every front end writes through [`Store::audit`]; nothing else writes the table, and the
//! database's triggers refuse to change or delete an entry (retention excepted, see
//! [`Store::prune_audit`]). Each entry's hash covers its fields and the previous entry's hash,
//! so [`Store::verify_audit`] finds an edited, inserted, reordered or deleted entry; the newest
//! `(seq, hash)` is also written to `audit-head.json` beside the database, so that removing the
//! newest entries is found too. A checkpoint kept elsewhere (an export, or a copy of the head
//! file) also catches a rewrite of the whole chain by someone who can write both.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::hash::sha256_hex;
use crate::store::{Store, StoreError, sql};
use crate::time;

/// The `prev_hash` of the first entry ever written.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The file beside the database that holds the newest entry's `(seq, hash)`.
pub const HEAD_FILE: &str = "audit-head.json";

/// What was done. The names are part of the log's format (`berth audit ls --action`).
pub mod action {
    /// A sign-in to the web UI (outcome `denied` for a wrong password).
    pub const SIGN_IN: &str = "sign-in";
    /// A sign-out.
    pub const SIGN_OUT: &str = "sign-out";
    /// A request authenticated with an API token (or refused for a bad one).
    pub const TOKEN_USE: &str = "token-use";
    /// A listing of runs, launches or records.
    pub const LIST: &str = "list";
    /// A run, launch or record read.
    pub const VIEW: &str = "view";
    /// A run's stdout or stderr read.
    pub const LOG_VIEW: &str = "log-view";
    /// A run's output downloaded.
    pub const DOWNLOAD: &str = "download";
    /// A project's data root browsed.
    pub const BROWSE: &str = "browse";
    /// A launch (one tool, or several) queued.
    pub const LAUNCH: &str = "launch";
    /// A run killed.
    pub const KILL: &str = "kill";
    /// A pipeline run started.
    pub const PIPELINE: &str = "pipeline";
    /// A tool added, removed, enabled or disabled.
    pub const TOOL_CHANGE: &str = "tool-change";
    /// A project created or its members, data roots or tools changed.
    pub const PROJECT_CHANGE: &str = "project-change";
    /// A user created, changed or removed, or a token made or revoked.
    pub const USER_CHANGE: &str = "user-change";
    /// An image pulled, imported, tagged, removed or scanned.
    pub const IMAGE_CHANGE: &str = "image-change";
    /// A command-line run of berth that reads or changes data (`berth run`, `berth pipeline
    /// run`, `berth verify`, …).
    pub const CLI: &str = "cli";
    /// Entries removed by retention (the chain's new start is in the detail).
    pub const PRUNE: &str = "audit-prune";
    /// A run's DICOM outputs sent to another node by a DICOM rule (`send_to`).
    pub const DICOM_SEND: &str = "dicom-send";

    /// Every action, in the order above.
    pub const ALL: &[&str] = &[
        SIGN_IN,
        SIGN_OUT,
        TOKEN_USE,
        LIST,
        VIEW,
        LOG_VIEW,
        DOWNLOAD,
        BROWSE,
        LAUNCH,
        KILL,
        PIPELINE,
        TOOL_CHANGE,
        PROJECT_CHANGE,
        USER_CHANGE,
        IMAGE_CHANGE,
        CLI,
        PRUNE,
        DICOM_SEND,
    ];
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused for lack of authentication or permission (401, 403, a wrong password).
    Denied,
    /// The object did not exist, or is not visible to the actor (404).
    NotFound,
    /// Refused as invalid (other 4xx).
    Refused,
    /// Failed on the server's or the tool's side (5xx, a non-zero exit).
    Failed,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 5] = [Outcome::Ok, Outcome::Denied, Outcome::NotFound, Outcome::Refused, Outcome::Failed];

    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::NotFound => "not-found",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome of an HTTP status.
    pub fn of_http_status(status: u16) -> Outcome {
        match status {
            200..=399 => Outcome::Ok,
            401 | 403 => Outcome::Denied,
            404 => Outcome::NotFound,
            400..=499 => Outcome::Refused,
            _ => Outcome::Failed,
        }
    }

    fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// Who: a user of the service, or `cli:<login name>` for the command line.
    pub actor: String,
    /// Through what: `session` (web UI), `token` (API token, with its short hash), `cli`,
    /// `server` (the server itself), `anonymous`.
    pub via: String,
    /// From where: the client's address, or the host for the command line.
    pub address: Option<String>,
    /// What ([`action`]).
    pub action: String,
    /// On what: `run:ID`, `project:ID`, `tool:NAME`, `user:NAME`, a request path.
    pub object: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// More, as JSON (the request's method and path and status, the command line).
    pub detail: Option<serde_json::Value>,
}

impl NewAuditEntry {
    /// An entry with no address, object or detail.
    pub fn new(actor: impl Into<String>, via: impl Into<String>, action: &str, outcome: Outcome) -> NewAuditEntry {
        NewAuditEntry {
            actor: actor.into(),
            via: via.into(),
            address: None,
            action: action.to_owned(),
            object: None,
            outcome,
            detail: None,
        }
    }

    /// With the object.
    pub fn object(mut self, object: impl Into<String>) -> NewAuditEntry {
        self.object = Some(object.into());
        self
    }

    /// With the client address.
    pub fn address(mut self, address: impl Into<String>) -> NewAuditEntry {
        self.address = Some(address.into());
        self
    }

    /// With a detail.
    pub fn detail(mut self, detail: serde_json::Value) -> NewAuditEntry {
        self.detail = Some(detail);
        self
    }
}

/// An entry as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its place in the chain, from 1, without gaps.
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who.
    pub actor: String,
    /// Through what.
    pub via: String,
    /// From where.
    pub address: Option<String>,
    /// What.
    pub action: String,
    /// On what.
    pub object: Option<String>,
    /// How it ended (as stored; see [`Outcome`]).
    pub outcome: String,
    /// More, as JSON text, exactly as hashed.
    pub detail: Option<String>,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// SHA-256 over this entry's fields and `prev_hash` ([`entry_hash`]).
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry's fields give ([`entry_hash`]).
    pub fn computed_hash(&self) -> String {
        entry_hash(
            self.seq,
            &self.at,
            &self.actor,
            &self.via,
            self.address.as_deref(),
            &self.action,
            self.object.as_deref(),
            &self.outcome,
            self.detail.as_deref(),
            &self.prev_hash,
        )
    }
}

/// The hash of an entry: SHA-256 (hex) of the JSON array
/// `[seq, at, actor, via, address, action, object, outcome, detail, prev_hash]` (absent fields
/// `null`), so that no two different entries hash the same input. Documented in docs/audit.md
/// so that an export can be checked without berth.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    seq: i64,
    at: &str,
    actor: &str,
    via: &str,
    address: Option<&str>,
    action: &str,
    object: Option<&str>,
    outcome: &str,
    detail: Option<&str>,
    prev_hash: &str,
) -> String {
    let fields = serde_json::json!([seq, at, actor, via, address, action, object, outcome, detail, prev_hash]);
    sha256_hex(fields.to_string().as_bytes())
}

/// Which entries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only objects starting with this (`run:`, `project:p1`).
    pub object_prefix: Option<String>,
    /// Only this outcome.
    pub outcome: Option<String>,
    /// Only entries at or after this time (RFC 3339 as the store writes it, or a prefix: a date).
    pub since: Option<String>,
    /// Only entries before this time.
    pub until: Option<String>,
    /// Only entries after this sequence number.
    pub after_seq: Option<i64>,
    /// At most this many (the newest, unless `oldest_first`).
    pub limit: Option<usize>,
    /// Oldest first (exports); the default is newest first.
    pub oldest_first: bool,
}

/// The newest entry's place, as kept outside the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Its sequence number.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// What is wrong with the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AuditProblem {
    /// The entry's fields do not give its recorded hash: it was edited.
    Altered {
        /// The entry.
        seq: i64,
    },
    /// The entry does not follow the one before it (its `prev_hash` is not that entry's hash):
    /// an entry before it was edited, removed or inserted.
    Broken {
        /// The entry.
        seq: i64,
    },
    /// Sequence numbers jump: entries were removed.
    Missing {
        /// The first missing number.
        from: i64,
        /// The last missing number.
        to: i64,
    },
    /// Entries before the first kept one are gone without a retention record.
    UnrecordedRemoval {
        /// The first kept entry.
        first_seq: i64,
    },
    /// The head file names an entry the chain does not hold: the newest entries were removed.
    HeadAhead {
        /// The head file's sequence number.
        head_seq: i64,
        /// The chain's newest.
        last_seq: i64,
    },
    /// The head file's hash is not the hash of that entry: the chain was rewritten.
    HeadMismatch {
        /// The entry.
        seq: i64,
    },
    /// There are entries but no head file (it was removed), or it cannot be read.
    HeadUnreadable {
        /// Why.
        reason: String,
    },
    /// A checkpoint given to the check does not match the chain.
    CheckpointMismatch {
        /// The checkpoint's entry.
        seq: i64,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditProblem::Altered { seq } => {
                write!(f, "entry {seq} was changed: its fields do not give its recorded hash")
            }
            AuditProblem::Broken { seq } => write!(
                f,
                "entry {seq} does not follow the entry before it: an earlier entry was changed, removed or inserted"
            ),
            AuditProblem::Missing { from, to } if from == to => write!(f, "entry {from} was removed"),
            AuditProblem::Missing { from, to } => write!(f, "entries {from} to {to} were removed"),
            AuditProblem::UnrecordedRemoval { first_seq } => write!(
                f,
                "the entries before {first_seq} were removed, and no retention run (`audit-prune` entry) says so"
            ),
            AuditProblem::HeadAhead { head_seq, last_seq } => write!(
                f,
                "the newest entries were removed: {HEAD_FILE} names entry {head_seq}, the log ends at {last_seq}"
            ),
            AuditProblem::HeadMismatch { seq } => {
                write!(f, "entry {seq} is not the one {HEAD_FILE} recorded: the chain was rewritten")
            }
            AuditProblem::HeadUnreadable { reason } => write!(f, "{HEAD_FILE}: {reason}"),
            AuditProblem::CheckpointMismatch { seq, reason } => write!(f, "checkpoint entry {seq}: {reason}"),
        }
    }
}

/// The result of [`Store::verify_audit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    /// How many entries were checked.
    pub entries: u64,
    /// The first kept entry (after retention), if any.
    pub first_seq: Option<i64>,
    /// The newest entry, if any.
    pub last: Option<AuditHead>,
    /// What the head file says.
    pub head: Option<AuditHead>,
    /// What is wrong; empty when the trail is intact.
    pub problems: Vec<AuditProblem>,
}

impl AuditVerification {
    /// Whether nothing is wrong.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What retention removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditPruned {
    /// How many entries were removed.
    pub removed: u64,
    /// The first entry kept.
    pub first_seq: Option<i64>,
}

const COLUMNS: &str = "seq, at, actor, via, address, action, object, outcome, detail, prev_hash, hash";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        via: r.get(3)?,
        address: r.get(4)?,
        action: r.get(5)?,
        object: r.get(6)?,
        outcome: r.get(7)?,
        detail: r.get(8)?,
        prev_hash: r.get(9)?,
        hash: r.get(10)?,
    })
}

/// Keeps strings a client controls (paths, user names) to `max` bytes in the log, on a
/// character boundary, marked with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Appends `entry` in the transaction `tx` (which holds the write lock, so the chain cannot
/// fork).
fn append(tx: &rusqlite::Transaction<'_>, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
    const OP: &str = "appending to the audit trail";
    let last: Option<(i64, String)> = tx
        .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(sql(OP))?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => tx
            .query_row("SELECT first_seq, prev_hash FROM audit_anchor WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(sql(OP))?
            .unwrap_or((1, GENESIS.to_owned())),
    };
    let mut e = AuditEntry {
        seq,
        at: time::now(),
        actor: clip(&entry.actor, 256),
        via: clip(&entry.via, 64),
        address: entry.address.as_deref().map(|a| clip(a, 256)),
        action: clip(&entry.action, 64),
        object: entry.object.as_deref().map(|o| clip(o, 1024)),
        outcome: entry.outcome.as_str().to_owned(),
        detail: entry.detail.as_ref().map(|d| d.to_string()),
        prev_hash,
        hash: String::new(),
    };
    e.hash = e.computed_hash();
    tx.execute(
        &format!("INSERT INTO audit_log ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
        params![e.seq, e.at, e.actor, e.via, e.address, e.action, e.object, e.outcome, e.detail, e.prev_hash, e.hash],
    )
    .map_err(sql(OP))?;
    Ok(e)
}

impl Store {
    /// The head file of this store.
    pub fn audit_head_path(&self) -> PathBuf {
        self.home().join(HEAD_FILE)
    }

    /// Appends an entry to the audit trail and returns it.
    pub fn audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let written = self.write("appending to the audit trail", |tx| append(tx, entry))?;
        self.advance_head(&AuditHead { seq: written.seq, hash: written.hash.clone() })?;
        Ok(written)
    }

    /// Writes the head file if `head` is newer than what it holds, under a lock, so that
    /// processes appending at once leave the newest.
    fn advance_head(&self, head: &AuditHead) -> Result<(), StoreError> {
        let path = self.audit_head_path();
        let io = |source| StoreError::AuditHead { path: path.clone(), source };
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.home().join(".audit-head.lock"))
            .map_err(io)?;
        lock.lock().map_err(io)?;
        if let Ok(Some(current)) = read_head(&path)
            && current.seq >= head.seq
        {
            return Ok(());
        }
        let tmp = path.with_extension("json.tmp");
        let mut f = File::create(&tmp).map_err(io)?;
        let body = serde_json::to_vec(head).unwrap_or_default();
        f.write_all(&body).and_then(|()| f.sync_all()).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }

    /// Entries, newest first unless the filter says otherwise.
    pub fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        const OP: &str = "reading the audit trail";
        let mut sql_text = format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut add = |clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql_text.push_str(&format!(" AND {clause} ?{}", args.len()));
        };
        if let Some(a) = &filter.actor {
            add("actor =", a.clone().into());
        }
        if let Some(a) = &filter.action {
            add("action =", a.clone().into());
        }
        if let Some(o) = &filter.outcome {
            add("outcome =", o.clone().into());
        }
        if let Some(p) = &filter.object_prefix {
            // A prefix match without LIKE's wildcards: `substr(object, 1, n) = prefix`.
            args.push(rusqlite::types::Value::Integer(i64::try_from(p.chars().count()).unwrap_or(i64::MAX)));
            let n = args.len();
            args.push(p.clone().into());
            sql_text.push_str(&format!(" AND substr(object, 1, ?{n}) = ?{}", n + 1));
        }
        let mut add = |clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql_text.push_str(&format!(" AND {clause} ?{}", args.len()));
        };
        if let Some(s) = &filter.since {
            add("at >=", s.clone().into());
        }
        if let Some(u) = &filter.until {
            add("at <", u.clone().into());
        }
        if let Some(a) = filter.after_seq {
            add("seq >", a.into());
        }
        sql_text.push_str(if filter.oldest_first { " ORDER BY seq ASC" } else { " ORDER BY seq DESC" });
        if let Some(l) = filter.limit {
            sql_text.push_str(&format!(" LIMIT {}", l.min(i64::MAX as usize)));
        }
        self.read(OP, |tx| {
            let mut stmt = tx.prepare(&sql_text).map_err(sql(OP))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), row).map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// Checks the whole trail: every entry's hash, the chain from the anchor (or the start),
    /// sequence numbers without gaps, the retention record, the head file, and `checkpoints`
    /// (entries from an export or a copied head file, which must be in the chain as they were).
    pub fn verify_audit(&self, checkpoints: &[AuditHead]) -> Result<AuditVerification, StoreError> {
        const OP: &str = "checking the audit trail";
        let mut problems = Vec::new();
        let (anchor, summary) = self.read(OP, |tx| {
            let anchor: Option<(i64, String)> = tx
                .query_row("SELECT first_seq, prev_hash FROM audit_anchor WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(sql(OP))?;
            let mut stmt = tx.prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq ASC")).map_err(sql(OP))?;
            let mut rows = stmt.query([]).map_err(sql(OP))?;
            let mut count = 0u64;
            let mut first = None;
            let mut prev: Option<AuditEntry> = None;
            // The newest retention record in the chain: (first_seq, prev_hash) it set.
            let mut last_prune: Option<(i64, String)> = None;
            let mut by_seq_of_checkpoint = Vec::new();
            while let Some(r) = rows.next().map_err(sql(OP))? {
                let e = row(r).map_err(sql(OP))?;
                count += 1;
                if e.computed_hash() != e.hash {
                    problems.push(AuditProblem::Altered { seq: e.seq });
                }
                match &prev {
                    None => {
                        first = Some(e.seq);
                        let (start, start_hash) = anchor.clone().unwrap_or((1, GENESIS.to_owned()));
                        if e.seq > start {
                            if anchor.is_some() {
                                problems.push(AuditProblem::Missing { from: start, to: e.seq - 1 });
                            } else {
                                problems.push(AuditProblem::UnrecordedRemoval { first_seq: e.seq });
                            }
                        } else if e.prev_hash != start_hash {
                            problems.push(AuditProblem::Broken { seq: e.seq });
                        }
                    }
                    Some(p) => {
                        if e.seq != p.seq + 1 {
                            problems.push(AuditProblem::Missing { from: p.seq + 1, to: e.seq - 1 });
                        }
                        if e.prev_hash != p.hash {
                            problems.push(AuditProblem::Broken { seq: e.seq });
                        }
                    }
                }
                if e.action == action::PRUNE
                    && let Some(d) = e.detail.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                    && let (Some(f), Some(h)) = (d["first_seq"].as_i64(), d["prev_hash"].as_str())
                {
                    last_prune = Some((f, h.to_owned()));
                }
                if checkpoints.iter().any(|c| c.seq == e.seq) {
                    by_seq_of_checkpoint.push((e.seq, e.hash.clone()));
                }
                prev = Some(e);
            }
            // An anchor moved without a retention record saying so hides a removal.
            if let Some((first_seq, hash)) = &anchor
                && *first_seq > 1
                && last_prune.as_ref() != Some(&(*first_seq, hash.clone()))
            {
                problems.push(AuditProblem::UnrecordedRemoval { first_seq: *first_seq });
            }
            let last = prev.map(|p| AuditHead { seq: p.seq, hash: p.hash });
            Ok((anchor, (count, first, last, by_seq_of_checkpoint)))
        })?;
        let (entries, first_seq, last, found) = summary;
        let head = match read_head(&self.audit_head_path()) {
            Ok(h) => h,
            Err(reason) => {
                problems.push(AuditProblem::HeadUnreadable { reason });
                None
            }
        };
        match (&head, &last) {
            (None, Some(_)) if !problems.iter().any(|p| matches!(p, AuditProblem::HeadUnreadable { .. })) => {
                problems.push(AuditProblem::HeadUnreadable {
                    reason: "missing, though the log has entries (it was removed)".to_owned(),
                });
            }
            (Some(h), Some(l)) if h.seq > l.seq => {
                problems.push(AuditProblem::HeadAhead { head_seq: h.seq, last_seq: l.seq })
            }
            (Some(h), None) if h.seq >= anchor.as_ref().map_or(1, |a| a.0) => {
                problems.push(AuditProblem::HeadAhead { head_seq: h.seq, last_seq: 0 })
            }
            (Some(h), Some(_)) => {
                if let Some((_, hash)) = self.audit_hash_at(h.seq)?
                    && hash != h.hash
                {
                    problems.push(AuditProblem::HeadMismatch { seq: h.seq });
                }
            }
            _ => {}
        }
        for c in checkpoints {
            match found.iter().find(|(s, _)| *s == c.seq) {
                Some((_, hash)) if *hash == c.hash => {}
                Some(_) => problems.push(AuditProblem::CheckpointMismatch {
                    seq: c.seq,
                    reason: "its hash differs: the entry or one before it was rewritten".to_owned(),
                }),
                None if first_seq.is_some_and(|f| c.seq < f) => {}
                None => problems.push(AuditProblem::CheckpointMismatch {
                    seq: c.seq,
                    reason: "the log does not hold it: it was removed".to_owned(),
                }),
            }
        }
        Ok(AuditVerification { entries, first_seq, last, head, problems })
    }

    fn audit_hash_at(&self, seq: i64) -> Result<Option<(i64, String)>, StoreError> {
        const OP: &str = "reading the audit trail";
        self.read(OP, |tx| {
            tx.query_row("SELECT seq, hash FROM audit_log WHERE seq = ?1", [seq], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(sql(OP))
        })
    }

    /// Removes entries recorded before `before` (retention), moves the anchor to the first
    /// kept entry and records the removal as an [`action::PRUNE`] entry by `actor`. Nothing is
    /// removed when nothing is older.
    pub fn prune_audit(&self, before: &str, actor: &str, via: &str) -> Result<AuditPruned, StoreError> {
        const OP: &str = "applying the audit trail's retention";
        let pruned = self.write(OP, |tx| {
            // Keep at least the newest entry, so the chain always has a link to the anchor.
            let cut: Option<(i64, String)> = tx
                .query_row(
                    "SELECT seq, hash FROM audit_log WHERE at < ?1 AND seq < (SELECT MAX(seq) FROM audit_log)
                     ORDER BY seq DESC LIMIT 1",
                    [before],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sql(OP))?;
            let Some((last_removed, hash)) = cut else { return Ok(None) };
            let first_seq = last_removed + 1;
            tx.execute(
                "INSERT INTO audit_anchor (id, first_seq, prev_hash, pruned_at) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET first_seq = excluded.first_seq, prev_hash = excluded.prev_hash,
                 pruned_at = excluded.pruned_at",
                params![first_seq, hash, time::now()],
            )
            .map_err(sql(OP))?;
            let removed = tx.execute("DELETE FROM audit_log WHERE seq < ?1", [first_seq]).map_err(sql(OP))? as u64;
            // The removal is recorded in the same transaction: an anchor never moves unrecorded.
            let record = append(
                tx,
                &NewAuditEntry::new(actor, via, action::PRUNE, Outcome::Ok).object("audit").detail(
                    serde_json::json!({"first_seq": first_seq, "prev_hash": hash, "removed": removed, "before": before}),
                ),
            )?;
            Ok(Some((AuditPruned { removed, first_seq: Some(first_seq) }, record)))
        })?;
        match pruned {
            Some((result, record)) => {
                self.advance_head(&AuditHead { seq: record.seq, hash: record.hash })?;
                Ok(result)
            }
            None => Ok(AuditPruned { removed: 0, first_seq: None }),
        }
    }
}

/// Reads a head file: `None` when it does not exist.
pub fn read_head(path: &Path) -> Result<Option<AuditHead>, String> {
    let mut text = String::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_string(&mut text).map_err(|e| format!("cannot be read: {e}"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot be read: {e}")),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| format!("is not a head record ({e})"))
}

/// The checkpoint an export or a head file gives: a head file's `(seq, hash)`, or every entry
/// of an export (JSON lines of [`AuditEntry`]), whose own chain is checked first.
pub fn read_checkpoint(path: &Path) -> Result<Vec<AuditHead>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
    if let Ok(head) = serde_json::from_str::<AuditHead>(text.trim()) {
        return Ok(vec![head]);
    }
    let mut out = Vec::new();
    let mut prev: Option<AuditEntry> = None;
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let e: AuditEntry = serde_json::from_str(line).map_err(|err| {
            format!("{}:{}: neither a head file nor an export of `berth audit export` ({err})", path.display(), i + 1)
        })?;
        if e.computed_hash() != e.hash {
            return Err(format!("{}:{}: entry {} does not match its own hash", path.display(), i + 1, e.seq));
        }
        if let Some(p) = &prev
            && p.seq + 1 == e.seq
            && e.prev_hash != p.hash
        {
            return Err(format!("{}:{}: entry {} does not follow entry {}", path.display(), i + 1, e.seq, p.seq));
        }
        out.push(AuditHead { seq: e.seq, hash: e.hash.clone() });
        prev = Some(e);
    }
    if out.is_empty() {
        return Err(format!("{}: holds no entry", path.display()));
    }
    Ok(out)
}

/// Who runs this process, as the trail names command-line users: `cli:<login name>` (the uid
/// when it has no name), and the login behind `sudo` when there is one.
pub fn cli_actor() -> (String, Option<String>) {
    let uid = nix::unistd::getuid();
    let name = nix::unistd::User::from_uid(uid).ok().flatten().map(|u| u.name).unwrap_or_else(|| uid.to_string());
    let sudo = std::env::var("SUDO_USER").ok().filter(|s| !s.is_empty() && *s != name);
    (format!("cli:{name}"), sudo)
}

/// This machine's name, as the trail's address of command-line entries.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The outcome recorded for a name (for filters given by users).
pub fn parse_outcome(s: &str) -> Option<Outcome> {
    Outcome::parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn add(store: &Store, n: usize) {
        for i in 0..n {
            store
                .audit(
                    &NewAuditEntry::new("alice", "session", action::VIEW, Outcome::Ok)
                        .object(format!("run:{i}"))
                        .address("127.0.0.1")
                        .detail(serde_json::json!({"i": i})),
                )
                .unwrap();
        }
    }

    fn raw(store: &Store, sql_text: &str) {
        let conn = rusqlite::Connection::open(store.db_path()).unwrap();
        conn.execute_batch(sql_text).unwrap();
    }

    #[test]
    fn entries_chain_and_verify() {
        let (_d, s) = store();
        add(&s, 5);
        let v = s.verify_audit(&[]).unwrap();
        assert!(v.intact(), "{:?}", v.problems);
        assert_eq!(v.entries, 5);
        assert_eq!(v.last.as_ref().unwrap().seq, 5);
        assert_eq!(v.head, v.last);
        let all = s.audit_entries(&AuditFilter { oldest_first: true, ..Default::default() }).unwrap();
        assert_eq!(all[0].prev_hash, GENESIS);
        assert!(all.windows(2).all(|w| w[1].prev_hash == w[0].hash));
        let newest = s.audit_entries(&AuditFilter { limit: Some(2), ..Default::default() }).unwrap();
        assert_eq!(newest.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 4]);
        let one = s.audit_entries(&AuditFilter { object_prefix: Some("run:3".into()), ..Default::default() }).unwrap();
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn the_database_refuses_changes_and_deletions() {
        let (_d, s) = store();
        add(&s, 2);
        let conn = rusqlite::Connection::open(s.db_path()).unwrap();
        let e = conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1", []).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
        let e = conn.execute("DELETE FROM audit_log WHERE seq = 2", []).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
    }

    #[test]
    fn an_edited_entry_is_found_even_when_the_triggers_are_dropped() {
        let (_d, s) = store();
        add(&s, 4);
        raw(&s, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE seq = 2;");
        let v = s.verify_audit(&[]).unwrap();
        assert_eq!(v.problems, [AuditProblem::Altered { seq: 2 }]);
    }

    #[test]
    fn an_edit_with_its_hash_recomputed_breaks_the_next_link() {
        let (_d, s) = store();
        add(&s, 4);
        let mut e = s.audit_entries(&AuditFilter { oldest_first: true, ..Default::default() }).unwrap()[1].clone();
        e.actor = "mallory".into();
        let h = e.computed_hash();
        raw(
            &s,
            &format!(
                "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory', hash = '{h}' WHERE seq = 2;"
            ),
        );
        let v = s.verify_audit(&[]).unwrap();
        assert_eq!(v.problems, [AuditProblem::Broken { seq: 3 }]);
    }

    #[test]
    fn removed_entries_are_found_in_the_middle_at_the_start_and_at_the_end() {
        let (_d, s) = store();
        add(&s, 6);
        raw(&s, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 3;");
        let v = s.verify_audit(&[]).unwrap();
        assert!(v.problems.contains(&AuditProblem::Missing { from: 3, to: 3 }), "{:?}", v.problems);
        assert!(v.problems.contains(&AuditProblem::Broken { seq: 4 }));

        let (_d, s) = store();
        add(&s, 6);
        raw(&s, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq <= 2;");
        let v = s.verify_audit(&[]).unwrap();
        assert_eq!(v.problems, [AuditProblem::UnrecordedRemoval { first_seq: 3 }]);

        let (_d, s) = store();
        add(&s, 6);
        raw(&s, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq >= 5;");
        let v = s.verify_audit(&[]).unwrap();
        assert_eq!(v.problems, [AuditProblem::HeadAhead { head_seq: 6, last_seq: 4 }]);
    }

    #[test]
    fn a_rewritten_chain_is_found_by_a_checkpoint() {
        let (_d, s) = store();
        add(&s, 3);
        let checkpoint = s.verify_audit(&[]).unwrap().last.unwrap();
        // Rewrite everything consistently, head file included.
        let mut entries = s.audit_entries(&AuditFilter { oldest_first: true, ..Default::default() }).unwrap();
        let mut prev = GENESIS.to_owned();
        let mut script = String::from("DROP TRIGGER audit_log_no_update;");
        for e in &mut entries {
            e.actor = "mallory".into();
            e.prev_hash = prev.clone();
            e.hash = e.computed_hash();
            prev = e.hash.clone();
            script.push_str(&format!(
                "UPDATE audit_log SET actor = 'mallory', prev_hash = '{}', hash = '{}' WHERE seq = {};",
                e.prev_hash, e.hash, e.seq
            ));
        }
        raw(&s, &script);
        std::fs::write(s.audit_head_path(), format!(r#"{{"seq":3,"hash":"{prev}"}}"#)).unwrap();
        assert!(s.verify_audit(&[]).unwrap().intact(), "undetectable without a checkpoint");
        let v = s.verify_audit(&[checkpoint]).unwrap();
        assert!(matches!(v.problems[..], [AuditProblem::CheckpointMismatch { seq: 3, .. }]), "{:?}", v.problems);
    }

    #[test]
    fn retention_removes_old_entries_and_records_it() {
        let (_d, s) = store();
        add(&s, 4);
        let r = s.prune_audit("9999-01-01", "cli:root", "cli").unwrap();
        // The newest entry is always kept.
        assert_eq!(r, AuditPruned { removed: 3, first_seq: Some(4) });
        let v = s.verify_audit(&[]).unwrap();
        assert!(v.intact(), "{:?}", v.problems);
        assert_eq!(v.first_seq, Some(4));
        assert_eq!(v.entries, 2);
        add(&s, 1);
        assert!(s.verify_audit(&[]).unwrap().intact());
        // The anchor moved by hand, without a record: found.
        raw(
            &s,
            "DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_anchor_forward; UPDATE audit_anchor SET first_seq = 5, prev_hash = (SELECT hash FROM audit_log WHERE seq = 4); DELETE FROM audit_log WHERE seq = 4;",
        );
        let v = s.verify_audit(&[]).unwrap();
        assert!(v.problems.iter().any(|p| matches!(p, AuditProblem::UnrecordedRemoval { .. })), "{:?}", v.problems);
        // Nothing older: nothing removed.
        let (_d, s) = store();
        add(&s, 2);
        assert_eq!(s.prune_audit("2000-01-01", "cli:root", "cli").unwrap().removed, 0);
    }

    #[test]
    fn a_removed_head_file_is_found() {
        let (_d, s) = store();
        add(&s, 2);
        std::fs::remove_file(s.audit_head_path()).unwrap();
        let v = s.verify_audit(&[]).unwrap();
        assert!(matches!(v.problems[..], [AuditProblem::HeadUnreadable { .. }]), "{:?}", v.problems);
    }

    #[test]
    fn exports_are_checkpoints() {
        let (d, s) = store();
        add(&s, 3);
        let lines: String = s
            .audit_entries(&AuditFilter { oldest_first: true, ..Default::default() })
            .unwrap()
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        let path = d.path().join("export.jsonl");
        std::fs::write(&path, &lines).unwrap();
        let cps = read_checkpoint(&path).unwrap();
        assert_eq!(cps.len(), 3);
        assert!(s.verify_audit(&cps).unwrap().intact());
        std::fs::write(&path, lines.replace("alice", "bob")).unwrap();
        assert!(read_checkpoint(&path).unwrap_err().contains("does not match its own hash"));
    }

    #[test]
    fn long_client_strings_are_clipped() {
        let (_d, s) = store();
        let e = s.audit(&NewAuditEntry::new("x".repeat(10_000), "token", action::SIGN_IN, Outcome::Denied)).unwrap();
        assert!(e.actor.len() < 300);
        assert!(s.verify_audit(&[]).unwrap().intact());
    }
}
