//! Tool sessions (schema 10): long-lived containers that run commands again and again
//! (`berth session`). The session and each of its steps are recorded here; berth-run starts,
//! runs and stops them.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, sql};
use crate::time;

/// The error of a step that had not ended when its session did (its `berth session exec`
/// process was killed, or the service stopped, before the command returned).
pub const INTERRUPTED: &str = "the session ended before this step finished (the process running it had gone)";

/// The most bytes of a step's stdout or stderr kept in the store.
pub const STEP_OUTPUT_CAP: usize = 1 << 20;

/// Where a session is in its life.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Being created.
    Starting,
    /// Its container is up and takes commands.
    Running,
    /// Stopped by a user, or by its idle timeout.
    Stopped,
    /// It could not start, or its container ended on its own.
    Failed,
}

impl SessionStatus {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Starting => "starting",
            SessionStatus::Running => "running",
            SessionStatus::Stopped => "stopped",
            SessionStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> SessionStatus {
        match s {
            "starting" => SessionStatus::Starting,
            "running" => SessionStatus::Running,
            "stopped" => SessionStatus::Stopped,
            _ => SessionStatus::Failed,
        }
    }

    /// Whether the session has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, SessionStatus::Stopped | SessionStatus::Failed)
    }
}

/// A session to record.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToolSession {
    /// The tool's name and version.
    pub tool_name: String,
    /// Its version.
    pub tool_version: String,
    /// The descriptor (or Command) text and its SHA-256.
    pub descriptor_json: String,
    /// Its SHA-256.
    pub descriptor_sha256: String,
    /// The invocation the session was started with.
    pub invocation_json: String,
    /// The prepared job (mounts, limits, user) as JSON.
    pub plan_json: String,
    /// The image as named.
    pub image_ref: String,
    /// The output directory.
    pub output_dir: String,
    /// Extra read-only mounts (host paths).
    pub mounts_json: String,
    /// Seconds without a command after which it ends.
    pub idle_timeout_secs: u64,
    /// Who started it (`cli:<login>`, or a user of the service).
    pub created_by: String,
    /// The host.
    pub owner_host: String,
    /// The project, for a session started through the service.
    #[serde(default)]
    pub project_id: Option<String>,
}

/// A session as recorded.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSessionRecord {
    /// Its id.
    pub id: String,
    /// What it was started with.
    #[serde(flatten)]
    pub new: NewToolSession,
    /// The image ID used.
    pub image_id: Option<String>,
    /// The image's repo digest.
    pub image_digest: Option<String>,
    /// The engine.
    pub engine_kind: Option<String>,
    /// The container.
    pub container_id: Option<String>,
    /// Its inputs, hashed at start (berth's file records, JSON).
    pub inputs_json: String,
    /// The scan policy's decision, when the site has a policy.
    pub scan_policy_json: Option<String>,
    /// Where it is.
    pub status: SessionStatus,
    /// Why it ended, when it did.
    pub status_message: Option<String>,
    /// When it was started.
    pub created_at: String,
    /// When it last ran a command (or started).
    pub last_used_at: String,
    /// When it ended.
    pub ended_at: Option<String>,
    /// How many steps it ran.
    pub steps: u32,
}

/// What a step changed in the output directory.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputChange {
    /// The path, relative to the output directory.
    pub path: String,
    /// `added`, `changed` or `removed`.
    pub change: String,
    /// The file's SHA-256 after the step (none when removed).
    pub sha256: Option<String>,
}

/// One command a session ran.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStep {
    /// Its place (1, 2, …).
    pub seq: u32,
    /// The command run.
    pub argv: Vec<String>,
    /// The invocation it was rendered from, when it was one.
    pub invocation_json: Option<String>,
    /// Its exit code.
    pub exit_code: Option<i64>,
    /// When it started.
    pub started_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// How long it took.
    pub duration_ms: Option<u64>,
    /// What it added, changed or removed in the output directory.
    pub changes: Vec<OutputChange>,
    /// Its stdout (at most [`STEP_OUTPUT_CAP`] bytes).
    pub stdout: String,
    /// Its stderr (at most [`STEP_OUTPUT_CAP`] bytes).
    pub stderr: String,
    /// Why it could not run, when it could not.
    pub error: Option<String>,
}

/// What a step did, to record when it ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepEnd<'a> {
    /// The exit code.
    pub exit_code: Option<i64>,
    /// The changes in the output directory.
    pub changes: &'a [OutputChange],
    /// Stdout.
    pub stdout: &'a str,
    /// Stderr.
    pub stderr: &'a str,
    /// Why it could not run.
    pub error: Option<&'a str>,
    /// How long it took.
    pub duration_ms: u64,
}

fn clip(s: &str) -> &str {
    if s.len() <= STEP_OUTPUT_CAP {
        return s;
    }
    let mut end = STEP_OUTPUT_CAP;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

const COLUMNS: &str = "s.id, s.tool_name, s.tool_version, s.descriptor_json, s.descriptor_sha256, s.invocation_json, \
     s.plan_json, s.image_ref, s.output_dir, s.mounts_json, s.idle_timeout_secs, s.created_by, s.owner_host, \
     s.image_id, s.image_digest, s.engine_kind, s.container_id, s.inputs_json, s.scan_policy_json, s.status, \
     s.status_message, s.created_at, s.last_used_at, s.ended_at, \
     (SELECT COUNT(*) FROM session_steps t WHERE t.session_id = s.id), s.project_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ToolSessionRecord> {
    Ok(ToolSessionRecord {
        id: r.get(0)?,
        new: NewToolSession {
            tool_name: r.get(1)?,
            tool_version: r.get(2)?,
            descriptor_json: r.get(3)?,
            descriptor_sha256: r.get(4)?,
            invocation_json: r.get(5)?,
            plan_json: r.get(6)?,
            image_ref: r.get(7)?,
            output_dir: r.get(8)?,
            mounts_json: r.get(9)?,
            idle_timeout_secs: u64::try_from(r.get::<_, i64>(10)?).unwrap_or(0),
            created_by: r.get(11)?,
            owner_host: r.get(12)?,
            project_id: r.get(25)?,
        },
        image_id: r.get(13)?,
        image_digest: r.get(14)?,
        engine_kind: r.get(15)?,
        container_id: r.get(16)?,
        inputs_json: r.get(17)?,
        scan_policy_json: r.get(18)?,
        status: SessionStatus::parse(&r.get::<_, String>(19)?),
        status_message: r.get(20)?,
        created_at: r.get(21)?,
        last_used_at: r.get(22)?,
        ended_at: r.get(23)?,
        steps: u32::try_from(r.get::<_, i64>(24)?).unwrap_or(0),
    })
}

/// What is learned about a session as it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStarted {
    /// The image ID.
    pub image_id: Option<String>,
    /// Its repo digest.
    pub image_digest: Option<String>,
    /// The engine's kind.
    pub engine_kind: Option<String>,
    /// The container.
    pub container_id: Option<String>,
    /// The inputs' records (JSON).
    pub inputs_json: Option<String>,
    /// The scan policy's decision (JSON).
    pub scan_policy_json: Option<String>,
}

impl Store {
    /// Records a new session as `starting`; returns its id.
    pub fn create_tool_session(&self, s: &NewToolSession) -> Result<String, StoreError> {
        const OP: &str = "recording a session";
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO tool_sessions (id, tool_name, tool_version, descriptor_json, descriptor_sha256, invocation_json,
                 plan_json, image_ref, output_dir, mounts_json, idle_timeout_secs, status, created_by, owner_host,
                 created_at, last_used_at, project_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'starting', ?12, ?13, ?14, ?14, ?15)",
                params![
                    id,
                    s.tool_name,
                    s.tool_version,
                    s.descriptor_json,
                    s.descriptor_sha256,
                    s.invocation_json,
                    s.plan_json,
                    s.image_ref,
                    s.output_dir,
                    s.mounts_json,
                    i64::try_from(s.idle_timeout_secs).unwrap_or(i64::MAX),
                    s.created_by,
                    s.owner_host,
                    now,
                    s.project_id
                ],
            )
            .map_err(sql(OP))?;
            Ok(())
        })?;
        Ok(id)
    }

    /// Records what a session's start learned (fields left `None` keep their value).
    pub fn update_tool_session(&self, id: &str, u: &SessionStarted) -> Result<(), StoreError> {
        const OP: &str = "updating a session";
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE tool_sessions SET image_id = COALESCE(?2, image_id), image_digest = COALESCE(?3, image_digest),
                 engine_kind = COALESCE(?4, engine_kind), container_id = COALESCE(?5, container_id),
                 inputs_json = COALESCE(?6, inputs_json), scan_policy_json = COALESCE(?7, scan_policy_json)
                 WHERE id = ?1",
                params![
                    id,
                    u.image_id,
                    u.image_digest,
                    u.engine_kind,
                    u.container_id,
                    u.inputs_json,
                    u.scan_policy_json
                ],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Moves a session to `status` (an ended session stays ended; the first message stays).
    pub fn set_tool_session_status(
        &self,
        id: &str,
        status: SessionStatus,
        message: Option<&str>,
    ) -> Result<bool, StoreError> {
        const OP: &str = "setting a session's status";
        let now = time::now();
        self.write(OP, |tx| {
            let n = tx
                .execute(
                    "UPDATE tool_sessions SET status = ?2, status_message = COALESCE(?3, status_message),
                     ended_at = CASE WHEN ?2 IN ('stopped', 'failed') THEN ?4 ELSE ended_at END
                     WHERE id = ?1 AND status NOT IN ('stopped', 'failed')",
                    params![id, status.as_str(), message, now],
                )
                .map_err(sql(OP))?;
            if n > 0 && status.is_terminal() {
                // A step whose `berth session exec` process died never recorded its end; the
                // container that ran it is gone now, so it has ended, without an exit code.
                tx.execute(
                    "UPDATE session_steps SET finished_at = ?2, error = ?3
                     WHERE session_id = ?1 AND finished_at IS NULL",
                    params![id, now, INTERRUPTED],
                )
                .map_err(sql(OP))?;
            }
            Ok(n > 0)
        })
    }

    /// A session by id or unique prefix.
    pub fn get_tool_session(&self, id: &str) -> Result<ToolSessionRecord, StoreError> {
        const OP: &str = "reading a session";
        let found: Vec<ToolSessionRecord> = self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM tool_sessions s WHERE s.id = ?1 OR (length(?1) >= 4 AND substr(s.id, 1, length(?1)) = ?1) LIMIT 2"
                ))
                .map_err(sql(OP))?;
            let rows = stmt.query_map([id], row).map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })?;
        match found.len() {
            1 => Ok(found.into_iter().next().unwrap_or_else(|| unreachable!())),
            0 => Err(StoreError::NotFound { kind: "session", name: id.to_owned() }),
            _ => Err(StoreError::NotFound { kind: "session (the prefix is ambiguous)", name: id.to_owned() }),
        }
    }

    /// Sessions, newest first (`live_only`: those not ended).
    pub fn list_tool_sessions(&self, live_only: bool, limit: u32) -> Result<Vec<ToolSessionRecord>, StoreError> {
        const OP: &str = "listing sessions";
        self.read(OP, |tx| {
            let filter = if live_only { "WHERE s.status IN ('starting', 'running')" } else { "" };
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM tool_sessions s {filter} ORDER BY s.created_at DESC, s.id DESC LIMIT ?1"
                ))
                .map_err(sql(OP))?;
            let rows = stmt.query_map([i64::from(limit)], row).map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// Starts step `argv` of a running session: numbers it and marks the session used.
    pub fn begin_session_step(
        &self,
        id: &str,
        argv: &[String],
        invocation_json: Option<&str>,
    ) -> Result<u32, StoreError> {
        const OP: &str = "recording a session step";
        let now = time::now();
        let argv_json = serde_json::to_string(argv).map_err(|source| StoreError::Json { what: "a command", source })?;
        self.write(OP, |tx| {
            let seq: i64 = tx
                .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM session_steps WHERE session_id = ?1", [id], |r| r.get(0))
                .map_err(sql(OP))?;
            tx.execute(
                "INSERT INTO session_steps (session_id, seq, argv_json, invocation_json, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, seq, argv_json, invocation_json, now],
            )
            .map_err(sql(OP))?;
            tx.execute("UPDATE tool_sessions SET last_used_at = ?2 WHERE id = ?1", params![id, now]).map_err(sql(OP))?;
            Ok(u32::try_from(seq).unwrap_or(u32::MAX))
        })
    }

    /// Records how step `seq` ended, and marks the session used.
    pub fn end_session_step(&self, id: &str, seq: u32, end: &StepEnd<'_>) -> Result<(), StoreError> {
        const OP: &str = "recording a session step";
        let now = time::now();
        let changes =
            serde_json::to_string(end.changes).map_err(|source| StoreError::Json { what: "output changes", source })?;
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE session_steps SET exit_code = ?3, finished_at = ?4, duration_ms = ?5, changes_json = ?6,
                 stdout = ?7, stderr = ?8, error = ?9 WHERE session_id = ?1 AND seq = ?2",
                params![
                    id,
                    i64::from(seq),
                    end.exit_code,
                    now,
                    i64::try_from(end.duration_ms).unwrap_or(i64::MAX),
                    changes,
                    clip(end.stdout),
                    clip(end.stderr),
                    end.error
                ],
            )
            .map_err(sql(OP))?;
            tx.execute("UPDATE tool_sessions SET last_used_at = ?2 WHERE id = ?1", params![id, now])
                .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// A session's steps, in order.
    pub fn session_steps(&self, id: &str) -> Result<Vec<SessionStep>, StoreError> {
        const OP: &str = "reading a session's steps";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT seq, argv_json, invocation_json, exit_code, started_at, finished_at, duration_ms, changes_json,
                     stdout, stderr, error FROM session_steps WHERE session_id = ?1 ORDER BY seq",
                )
                .map_err(sql(OP))?;
            let rows = stmt
                .query_map([id], |r| {
                    Ok(SessionStep {
                        seq: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                        argv: serde_json::from_str(&r.get::<_, String>(1)?).unwrap_or_default(),
                        invocation_json: r.get(2)?,
                        exit_code: r.get(3)?,
                        started_at: r.get(4)?,
                        finished_at: r.get(5)?,
                        duration_ms: r.get::<_, Option<i64>>(6)?.and_then(|d| u64::try_from(d).ok()),
                        changes: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
                        stdout: r.get(8)?,
                        stderr: r.get(9)?,
                        error: r.get(10)?,
                    })
                })
                .map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// Whether a session with this id exists (for callers that only check).
    pub fn tool_session_exists(&self, id: &str) -> Result<bool, StoreError> {
        const OP: &str = "reading a session";
        self.read(OP, |tx| {
            tx.query_row("SELECT 1 FROM tool_sessions WHERE id = ?1", [id], |_| Ok(()))
                .optional()
                .map(|o| o.is_some())
                .map_err(sql(OP))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_and_its_steps_are_recorded() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("store");
        let id = store
            .create_tool_session(&NewToolSession {
                tool_name: "t".into(),
                tool_version: "1".into(),
                image_ref: "busybox".into(),
                idle_timeout_secs: 60,
                created_by: "cli:me".into(),
                ..Default::default()
            })
            .expect("create");
        store
            .update_tool_session(&id, &SessionStarted { container_id: Some("c1".into()), ..Default::default() })
            .expect("update");
        assert!(store.set_tool_session_status(&id, SessionStatus::Running, None).expect("status"));
        let argv = vec!["echo".to_owned(), "hi".to_owned()];
        let seq = store.begin_session_step(&id, &argv, None).expect("begin");
        assert_eq!(seq, 1);
        let changes = [OutputChange { path: "a.txt".into(), change: "added".into(), sha256: Some("ab".into()) }];
        store
            .end_session_step(
                &id,
                seq,
                &StepEnd {
                    exit_code: Some(0),
                    changes: &changes,
                    stdout: "hi\n",
                    duration_ms: 5,
                    ..Default::default()
                },
            )
            .expect("end");
        assert_eq!(store.begin_session_step(&id, &argv, None).expect("begin"), 2);
        let got = store.get_tool_session(&id[..8]).expect("by prefix");
        assert_eq!((got.status, got.steps, got.container_id.as_deref()), (SessionStatus::Running, 2, Some("c1")));
        let steps = store.session_steps(&id).expect("steps");
        assert_eq!(steps[0].argv, argv);
        assert_eq!(steps[0].changes, changes);
        assert_eq!(steps[0].stdout, "hi\n");
        assert_eq!(steps[1].finished_at, None, "step 2 was begun and never ended");
        assert!(store.set_tool_session_status(&id, SessionStatus::Stopped, Some("stopped by cli:me")).expect("stop"));
        assert!(!store.set_tool_session_status(&id, SessionStatus::Running, None).expect("no way back"));
        // The step whose process never came back is closed with the session, without an exit code.
        let steps = store.session_steps(&id).expect("steps");
        assert!(steps[1].finished_at.is_some());
        assert_eq!((steps[1].exit_code, steps[1].error.as_deref()), (None, Some(INTERRUPTED)));
        assert_eq!(steps[0].error, None, "an ended step is left as it was");
        assert_eq!(store.list_tool_sessions(true, 10).expect("live").len(), 0);
        assert_eq!(store.list_tool_sessions(false, 10).expect("all").len(), 1);
        assert!(store.get_tool_session("zzzz").is_err());
    }
}
