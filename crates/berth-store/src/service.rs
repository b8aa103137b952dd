//! The service's records (`berth serve`): users and their API tokens, projects, which tools
//! are enabled where, the durable launch queue, and image scans.
//!
//! Tokens are random 256-bit secrets shown once; only their SHA-256 is stored, so a copy of
//! the database gives no one a working token. The launch queue lives in the same database as
//! the runs: a launch is `queued` until a worker claims it (recording its process, so that a
//! restarted server can tell a dead claim from a live one), then `done` once its run is over.
//! Every transition is one transaction.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};
use serde::{Deserialize, Serialize};

use crate::model::{RunId, RunStatus};
use crate::store::{Store, StoreError, sql};
use crate::time;

/// A user's role: admins manage users, projects, engines and images; users launch tools in
/// their projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Launches and reads in the projects they belong to.
    User,
}

impl Role {
    /// `admin` or `user`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            other => Err(format!("`{other}` is not a role (use `admin` or `user`)")),
        }
    }
}

/// A user of the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The login name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// When they were added.
    pub created_at: String,
}

impl User {
    /// Whether the user is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A token as listed (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    /// What the user called it.
    pub label: String,
    /// When it was made.
    pub created_at: String,
    /// When it was last used (updated at most once a minute).
    pub last_used_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// A project: a group of users and the directories they may launch tools on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Its id (letters, digits, `-`, `_`).
    pub id: String,
    /// A title for people.
    pub title: String,
    /// Host directories launch inputs must lie in.
    pub data_roots: Vec<String>,
    /// Its members.
    pub members: Vec<String>,
    /// When it was made.
    pub created_at: String,
}

/// Whether a tool is enabled in a scope (the site, or a project) and its default inputs there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSetting {
    /// `None` for the site, else the project.
    pub project: Option<String>,
    /// The tool's name.
    pub tool_name: String,
    /// Whether launches may use it.
    pub enabled: bool,
    /// Input values used when a launch leaves them out (projects only).
    pub defaults: serde_json::Map<String, serde_json::Value>,
}

/// Where a launch is in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LaunchState {
    /// Waiting for a worker.
    Queued,
    /// A worker took it; its run is being prepared or is running.
    Claimed,
    /// Its run is over (the run's status says how it ended).
    Done,
    /// It could not be run (no run record, or the run could not start); `error` says why.
    Failed,
    /// Cancelled before a worker took it.
    Cancelled,
}

impl LaunchState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchState::Queued => "queued",
            LaunchState::Claimed => "claimed",
            LaunchState::Done => "done",
            LaunchState::Failed => "failed",
            LaunchState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> LaunchState {
        match s {
            "queued" => LaunchState::Queued,
            "claimed" => LaunchState::Claimed,
            "done" => LaunchState::Done,
            "cancelled" => LaunchState::Cancelled,
            _ => LaunchState::Failed,
        }
    }
}

/// A launch to put in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLaunch {
    /// Its id ([`new_launch_id`]): chosen before queueing, since the output directory is
    /// named after it.
    pub id: String,
    /// The project it runs in.
    pub project_id: String,
    /// Who asked.
    pub user_name: String,
    /// The registered tool.
    pub tool_name: String,
    /// Its version.
    pub tool_version: String,
    /// The inputs, with project defaults applied, as JSON.
    pub invocation_json: String,
    /// The bulk launch it belongs to.
    pub bulk_id: Option<String>,
}

/// A launch with its run's state, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// The launch id (a UUID v7: sorts by time).
    pub id: String,
    /// The project.
    pub project_id: String,
    /// Who launched it.
    pub user_name: String,
    /// The tool.
    pub tool_name: String,
    /// Its version.
    pub tool_version: String,
    /// The inputs as JSON.
    pub invocation_json: String,
    /// The bulk launch it is part of.
    pub bulk_id: Option<String>,
    /// Where it is in the queue.
    pub state: LaunchState,
    /// Its run, once a worker created it.
    pub run_id: Option<String>,
    /// Why it failed without a run (or before its run started).
    pub error: Option<String>,
    /// How many times a worker claimed it (more than one after a server restart).
    pub attempts: i64,
    /// Whether a kill was asked for.
    pub cancel_requested: bool,
    /// When it was queued.
    pub created_at: String,
    /// When a worker last claimed it.
    pub claimed_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// The run's status, when there is a run.
    pub run_status: Option<RunStatus>,
    /// The tool's exit code.
    pub exit_code: Option<i64>,
    /// The run's container, once created.
    pub container_id: Option<String>,
    /// The displayed status ([`Launch::status`]).
    pub display_status: String,
    /// The claiming process (for telling live claims from dead ones).
    #[serde(skip)]
    pub claimed_by: Option<(String, u32, Option<String>)>,
}

impl Launch {
    /// One status for people: the run's when there is one, else the queue's (`queued`,
    /// `starting`, `running`, `succeeded`, `failed`, `cancelled`), as the store computes it
    /// for filtering too.
    pub fn status(&self) -> &str {
        &self.display_status
    }

    /// Whether nothing more will happen to it.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status(), "succeeded" | "failed" | "cancelled")
    }
}

/// Which launches [`Store::list_launches`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchFilter {
    /// Only these projects (`None`: all).
    pub projects: Option<Vec<String>>,
    /// Only this displayed status (`queued`, `starting`, `running`, `succeeded`, ...).
    pub status: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this bulk launch.
    pub bulk_id: Option<String>,
    /// At most this many (newest first).
    pub limit: u32,
    /// Skip this many first.
    pub offset: u32,
}

/// A stored scan of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRecord {
    /// The image as named.
    pub image_ref: String,
    /// Its image id when scanned.
    pub image_id: Option<String>,
    /// The report (berth-scan JSON).
    pub report_json: String,
    /// When it was scanned.
    pub created_at: String,
}

/// The label a server puts on the runs it makes, with the launch id.
pub const LAUNCH_LABEL: &str = "berth.launch";
/// The label with the launch's project.
pub const PROJECT_LABEL: &str = "berth.project";

const LAUNCH_COLUMNS: &str = "l.id, l.project_id, l.user_name, l.tool_name, l.tool_version, l.invocation_json,
     l.bulk_id, l.state, l.run_id, l.error, l.attempts, l.cancel_requested, l.created_at, l.claimed_at,
     l.finished_at, l.claimed_by_host, l.claimed_by_pid, l.claimed_by_start, r.id AS linked_run, r.status AS run_status,
     r.exit_code, r.container_id";
/// A launch's run: the one recorded, else the newest run labelled with the launch (a worker
/// labels the run when it creates it, before the launch records it; run ids sort by time).
const LAUNCH_FROM: &str = "launches l LEFT JOIN runs r ON r.id = COALESCE(l.run_id,
     (SELECT lb.run_id FROM run_labels lb WHERE lb.key = 'berth.launch' AND lb.value = l.id ORDER BY lb.run_id DESC LIMIT 1))";

/// The SQL for a launch's displayed status ([`Launch::status`]): the one definition, used for
/// reading, filtering and counting.
const STATUS_SQL: &str = "CASE WHEN l.state = 'queued' THEN 'queued' ELSE COALESCE(r.status, CASE l.state
     WHEN 'claimed' THEN 'starting' WHEN 'done' THEN 'succeeded' ELSE l.state END) END";

fn launch_from_row(r: &Row<'_>) -> rusqlite::Result<Launch> {
    let state: String = r.get("state")?;
    let status: Option<String> = r.get("run_status")?;
    let host: Option<String> = r.get("claimed_by_host")?;
    let pid: Option<i64> = r.get("claimed_by_pid")?;
    Ok(Launch {
        id: r.get("id")?,
        project_id: r.get("project_id")?,
        user_name: r.get("user_name")?,
        tool_name: r.get("tool_name")?,
        tool_version: r.get("tool_version")?,
        invocation_json: r.get("invocation_json")?,
        bulk_id: r.get("bulk_id")?,
        state: LaunchState::parse(&state),
        run_id: r.get("linked_run")?,
        error: r.get("error")?,
        attempts: r.get("attempts")?,
        cancel_requested: r.get::<_, i64>("cancel_requested")? != 0,
        created_at: r.get("created_at")?,
        claimed_at: r.get("claimed_at")?,
        finished_at: r.get("finished_at")?,
        run_status: status.and_then(|s| s.parse().ok()),
        exit_code: r.get("exit_code")?,
        container_id: r.get("container_id")?,
        display_status: r.get("display_status")?,
        claimed_by: host
            .zip(pid)
            .map(|(h, p)| (h, u32::try_from(p).unwrap_or(0), r.get("claimed_by_start").ok().flatten())),
    })
}

/// A new launch id: a UUID v7, like run ids (sorts by time).
pub fn new_launch_id() -> String {
    RunId::generate().as_str().to_owned()
}

/// SHA-256 (hex) of a token, as stored.
pub fn token_digest(token: &str) -> String {
    crate::hash::sha256_hex(token.as_bytes())
}

/// A new random token: `berth_` and 64 hex digits (256 bits from the OS).
fn new_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::NoRandomness { what: "token", reason: e.to_string() })?;
    Ok(format!("berth_{}", hex::encode(bytes)))
}

fn valid_name(kind: &'static str, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['-', '.']);
    if ok { Ok(()) } else { Err(StoreError::InvalidName { kind, name: name.to_owned() }) }
}

fn scope_of(project: Option<&str>) -> &str {
    project.unwrap_or("")
}

impl Store {
    // --- users and tokens -------------------------------------------------------------------

    /// Adds a user.
    pub fn add_user(&self, name: &str, role: Role) -> Result<User, StoreError> {
        const OP: &str = "adding a user";
        valid_name("user", name)?;
        let now = time::now();
        self.write(OP, |tx| {
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO users (name, role, created_at) VALUES (?1, ?2, ?3)",
                    params![name, role.as_str(), now],
                )
                .map_err(sql(OP))?;
            if n == 0 {
                return Err(StoreError::AlreadyExists { kind: "user", name: name.to_owned() });
            }
            Ok(User { name: name.to_owned(), role, created_at: now.clone() })
        })
    }

    /// Every user, by name.
    pub fn list_users(&self) -> Result<Vec<User>, StoreError> {
        const OP: &str = "listing users";
        self.read(OP, |tx| {
            let mut stmt = tx.prepare("SELECT name, role, created_at FROM users ORDER BY name").map_err(sql(OP))?;
            let rows = stmt.query_map([], user_from_row).map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// One user.
    pub fn get_user(&self, name: &str) -> Result<User, StoreError> {
        const OP: &str = "reading a user";
        self.read(OP, |tx| get_user(tx, name, OP))
    }

    /// Makes a token for `user` and returns it: the only time the secret is seen.
    pub fn create_token(&self, user: &str, label: &str) -> Result<String, StoreError> {
        const OP: &str = "creating a token";
        let token = new_token()?;
        let digest = token_digest(&token);
        let prefix: String = token.chars().take(14).collect();
        let now = time::now();
        self.write(OP, |tx| {
            get_user(tx, user, OP)?;
            tx.execute(
                "INSERT INTO tokens (sha256, user_name, label, prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![digest, user, label, prefix, now],
            )
            .map_err(sql(OP))?;
            Ok(())
        })?;
        Ok(token)
    }

    /// A user's tokens (without secrets).
    pub fn list_tokens(&self, user: &str) -> Result<Vec<TokenInfo>, StoreError> {
        const OP: &str = "listing tokens";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT prefix, label, created_at, last_used_at, revoked_at FROM tokens
                     WHERE user_name = ?1 ORDER BY created_at",
                )
                .map_err(sql(OP))?;
            let rows = stmt
                .query_map([user], |r| {
                    Ok(TokenInfo {
                        prefix: r.get(0)?,
                        label: r.get(1)?,
                        created_at: r.get(2)?,
                        last_used_at: r.get(3)?,
                        revoked_at: r.get(4)?,
                    })
                })
                .map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// Revokes the user's tokens whose prefix starts with `prefix`; returns how many.
    pub fn revoke_tokens(&self, user: &str, prefix: &str) -> Result<usize, StoreError> {
        const OP: &str = "revoking tokens";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE tokens SET revoked_at = ?3 WHERE user_name = ?1 AND revoked_at IS NULL
                 AND substr(prefix, 1, length(?2)) = ?2",
                params![user, prefix, now],
            )
            .map_err(sql(OP))
        })
    }

    /// The user a token belongs to, if it is valid (not revoked). Records its use at most once
    /// a minute, so polling clients do not write on every request.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>, StoreError> {
        const OP: &str = "checking a token";
        let digest = token_digest(token);
        let found = self.read(OP, |tx| {
            tx.query_row(
                "SELECT u.name, u.role, u.created_at, t.last_used_at FROM tokens t JOIN users u ON u.name = t.user_name
                 WHERE t.sha256 = ?1 AND t.revoked_at IS NULL",
                [&digest],
                |r| Ok((user_from_row(r)?, r.get::<_, Option<String>>(3)?)),
            )
            .optional()
            .map_err(sql(OP))
        })?;
        let Some((user, last)) = found else { return Ok(None) };
        let now = time::now();
        let stale = last.as_deref().is_none_or(|l| minutes_apart(l, &now));
        if stale {
            let _ = self.write("recording a token's use", |tx| {
                tx.execute("UPDATE tokens SET last_used_at = ?2 WHERE sha256 = ?1", params![digest, now])
                    .map_err(sql("recording a token's use"))
            });
        }
        Ok(Some(user))
    }

    // --- projects ---------------------------------------------------------------------------

    /// Adds a project.
    pub fn add_project(&self, id: &str, title: &str, data_roots: &[String]) -> Result<Project, StoreError> {
        const OP: &str = "adding a project";
        valid_name("project", id)?;
        let now = time::now();
        let roots =
            serde_json::to_string(data_roots).map_err(|source| StoreError::Json { what: "data roots", source })?;
        self.write(OP, |tx| {
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO projects (id, title, data_roots_json, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![id, title, roots, now],
                )
                .map_err(sql(OP))?;
            if n == 0 {
                return Err(StoreError::AlreadyExists { kind: "project", name: id.to_owned() });
            }
            get_project(tx, id, OP)
        })
    }

    /// Replaces a project's data roots.
    pub fn set_data_roots(&self, id: &str, data_roots: &[String]) -> Result<Project, StoreError> {
        const OP: &str = "setting a project's data roots";
        let roots =
            serde_json::to_string(data_roots).map_err(|source| StoreError::Json { what: "data roots", source })?;
        self.write(OP, |tx| {
            get_project(tx, id, OP)?;
            tx.execute("UPDATE projects SET data_roots_json = ?2 WHERE id = ?1", params![id, roots])
                .map_err(sql(OP))?;
            get_project(tx, id, OP)
        })
    }

    /// Adds `user` to `project` (nothing happens if they are a member already).
    pub fn add_member(&self, project: &str, user: &str) -> Result<(), StoreError> {
        const OP: &str = "adding a project member";
        self.write(OP, |tx| {
            get_project(tx, project, OP)?;
            get_user(tx, user, OP)?;
            tx.execute(
                "INSERT OR IGNORE INTO project_members (project_id, user_name) VALUES (?1, ?2)",
                params![project, user],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Removes `user` from `project`.
    pub fn remove_member(&self, project: &str, user: &str) -> Result<bool, StoreError> {
        const OP: &str = "removing a project member";
        self.write(OP, |tx| {
            tx.execute("DELETE FROM project_members WHERE project_id = ?1 AND user_name = ?2", params![project, user])
                .map(|n| n > 0)
                .map_err(sql(OP))
        })
    }

    /// One project.
    pub fn get_project(&self, id: &str) -> Result<Project, StoreError> {
        const OP: &str = "reading a project";
        self.read(OP, |tx| get_project(tx, id, OP))
    }

    /// The projects `user` belongs to (every project for `None`), by id.
    pub fn list_projects(&self, user: Option<&str>) -> Result<Vec<Project>, StoreError> {
        const OP: &str = "listing projects";
        self.read(OP, |tx| {
            let ids: Vec<String> = match user {
                None => {
                    let mut stmt = tx.prepare("SELECT id FROM projects ORDER BY id").map_err(sql(OP))?;
                    let rows = stmt.query_map([], |r| r.get(0)).map_err(sql(OP))?;
                    rows.collect::<Result<_, _>>().map_err(sql(OP))?
                }
                Some(u) => {
                    let mut stmt = tx
                        .prepare("SELECT project_id FROM project_members WHERE user_name = ?1 ORDER BY project_id")
                        .map_err(sql(OP))?;
                    let rows = stmt.query_map([u], |r| r.get(0)).map_err(sql(OP))?;
                    rows.collect::<Result<_, _>>().map_err(sql(OP))?
                }
            };
            ids.iter().map(|id| get_project(tx, id, OP)).collect()
        })
    }

    // --- tool settings ----------------------------------------------------------------------

    /// Enables or disables a tool on the site (`project: None`) or in a project; `defaults`
    /// (projects only) replaces the project's default inputs when given.
    pub fn set_tool_setting(
        &self,
        project: Option<&str>,
        tool: &str,
        enabled: bool,
        defaults: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<ToolSetting, StoreError> {
        const OP: &str = "setting a tool's availability";
        let defaults_json = defaults
            .map(serde_json::to_string)
            .transpose()
            .map_err(|source| StoreError::Json { what: "default inputs", source })?;
        self.write(OP, |tx| {
            if let Some(p) = project {
                get_project(tx, p, OP)?;
            }
            let exists: bool = tx
                .query_row("SELECT EXISTS (SELECT 1 FROM tools WHERE name = ?1)", [tool], |r| r.get(0))
                .map_err(sql(OP))?;
            if !exists {
                return Err(StoreError::NoSuchTool { name: tool.to_owned(), version: None, versions: Vec::new() });
            }
            tx.execute(
                "INSERT INTO tool_settings (scope, tool_name, enabled, defaults_json) VALUES (?1, ?2, ?3, COALESCE(?4, '{}'))
                 ON CONFLICT (scope, tool_name) DO UPDATE SET enabled = excluded.enabled,
                     defaults_json = COALESCE(?4, tool_settings.defaults_json)",
                params![scope_of(project), tool, enabled, defaults_json],
            )
            .map_err(sql(OP))?;
            tool_setting(tx, project, tool, OP)
        })
    }

    /// The setting of `tool` on the site (`None`) or in a project: the stored one, or the
    /// default (enabled on the site, disabled in a project, no defaults).
    pub fn tool_setting(&self, project: Option<&str>, tool: &str) -> Result<ToolSetting, StoreError> {
        const OP: &str = "reading a tool's availability";
        self.read(OP, |tx| tool_setting(tx, project, tool, OP))
    }

    // --- the launch queue -------------------------------------------------------------------

    /// Queues launches, all or none; returns their ids in order.
    pub fn enqueue_launches(&self, launches: &[NewLaunch]) -> Result<Vec<String>, StoreError> {
        const OP: &str = "queueing launches";
        let now = time::now();
        self.write(OP, |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO launches (id, project_id, user_name, tool_name, tool_version, invocation_json,
                         bulk_id, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8)",
                )
                .map_err(sql(OP))?;
            let mut ids = Vec::with_capacity(launches.len());
            for l in launches {
                let id = l.id.clone();
                stmt.execute(params![
                    id,
                    l.project_id,
                    l.user_name,
                    l.tool_name,
                    l.tool_version,
                    l.invocation_json,
                    l.bulk_id,
                    now
                ])
                .map_err(sql(OP))?;
                ids.push(id);
            }
            Ok(ids)
        })
    }

    /// Takes the oldest queued launch for the process `owner` (host, pid, start time).
    pub fn claim_launch(&self, owner: (&str, u32, Option<&str>)) -> Result<Option<Launch>, StoreError> {
        const OP: &str = "claiming a launch";
        let now = time::now();
        self.write(OP, |tx| {
            let id: Option<String> = tx
                .query_row("SELECT id FROM launches WHERE state = 'queued' ORDER BY created_at, id LIMIT 1", [], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(sql(OP))?;
            let Some(id) = id else { return Ok(None) };
            tx.execute(
                "UPDATE launches SET state = 'claimed', attempts = attempts + 1, claimed_at = ?2,
                     claimed_by_host = ?3, claimed_by_pid = ?4, claimed_by_start = ?5
                 WHERE id = ?1",
                params![id, now, owner.0, owner.1, owner.2],
            )
            .map_err(sql(OP))?;
            get_launch(tx, &id, OP).map(Some)
        })
    }

    /// Records the run a worker created for a launch.
    pub fn set_launch_run(&self, id: &str, run_id: &RunId) -> Result<(), StoreError> {
        const OP: &str = "linking a launch to its run";
        self.write(OP, |tx| {
            tx.execute("UPDATE launches SET run_id = ?2 WHERE id = ?1", params![id, run_id.as_str()])
                .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Ends a launch: `done` (its run is over), `failed` (with why) or `cancelled`.
    pub fn finish_launch(&self, id: &str, state: LaunchState, error: Option<&str>) -> Result<(), StoreError> {
        const OP: &str = "finishing a launch";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE launches SET state = ?2, error = COALESCE(?3, error), finished_at = COALESCE(finished_at, ?4)
                 WHERE id = ?1 AND state IN ('queued', 'claimed')",
                params![id, state.as_str(), error, now],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Asks for a launch to be stopped: a queued one is cancelled at once (returns `true`); a
    /// claimed one is flagged for its worker (returns `false`).
    pub fn request_cancel(&self, id: &str) -> Result<bool, StoreError> {
        const OP: &str = "cancelling a launch";
        let now = time::now();
        self.write(OP, |tx| {
            let n = tx
                .execute(
                    "UPDATE launches SET state = 'cancelled', cancel_requested = 1, finished_at = ?2,
                         error = 'cancelled before it started'
                     WHERE id = ?1 AND state = 'queued'",
                    params![id, now],
                )
                .map_err(sql(OP))?;
            if n > 0 {
                return Ok(true);
            }
            tx.execute("UPDATE launches SET cancel_requested = 1 WHERE id = ?1", [id]).map_err(sql(OP))?;
            Ok(false)
        })
    }

    /// One launch by id, or by the id of its run.
    pub fn get_launch(&self, id: &str) -> Result<Launch, StoreError> {
        const OP: &str = "reading a launch";
        self.read(OP, |tx| get_launch(tx, id, OP))
    }

    /// Launches matching `filter`, newest first, and how many match in all.
    pub fn list_launches(&self, filter: &LaunchFilter) -> Result<(Vec<Launch>, u64), StoreError> {
        const OP: &str = "listing launches";
        let mut conditions = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        if let Some(projects) = &filter.projects {
            if projects.is_empty() {
                return Ok((Vec::new(), 0));
            }
            let mut marks = Vec::new();
            for p in projects {
                values.push(Value::Text(p.clone()));
                marks.push(format!("?{}", values.len()));
            }
            conditions.push(format!("l.project_id IN ({})", marks.join(", ")));
        }
        if let Some(status) = &filter.status {
            values.push(Value::Text(status.clone()));
            conditions.push(format!("{STATUS_SQL} = ?{}", values.len()));
        }
        if let Some(tool) = &filter.tool {
            values.push(Value::Text(tool.clone()));
            conditions.push(format!("l.tool_name = ?{}", values.len()));
        }
        if let Some(bulk) = &filter.bulk_id {
            values.push(Value::Text(bulk.clone()));
            conditions.push(format!("l.bulk_id = ?{}", values.len()));
        }
        let filter_sql =
            if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
        self.read(OP, |tx| {
            let total: i64 = tx
                .query_row(&format!("SELECT count(*) FROM {LAUNCH_FROM}{filter_sql}"), params_from_iter(values.iter()), |r| {
                    r.get(0)
                })
                .map_err(sql(OP))?;
            let mut page = values.clone();
            page.push(Value::Integer(i64::from(filter.limit)));
            page.push(Value::Integer(i64::from(filter.offset)));
            let query = format!(
                "SELECT {LAUNCH_COLUMNS}, {STATUS_SQL} AS display_status FROM {LAUNCH_FROM}{filter_sql} ORDER BY l.created_at DESC, l.id DESC LIMIT ?{} OFFSET ?{}",
                page.len() - 1,
                page.len()
            );
            let mut stmt = tx.prepare(&query).map_err(sql(OP))?;
            let rows = stmt.query_map(params_from_iter(page), launch_from_row).map_err(sql(OP))?;
            let list = rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))?;
            Ok((list, u64::try_from(total).unwrap_or(0)))
        })
    }

    /// Launches that are claimed: a restarted server checks each one's owner.
    pub fn claimed_launches(&self) -> Result<Vec<Launch>, StoreError> {
        const OP: &str = "listing claimed launches";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {LAUNCH_COLUMNS}, {STATUS_SQL} AS display_status FROM {LAUNCH_FROM} WHERE l.state = 'claimed' ORDER BY l.created_at"
                ))
                .map_err(sql(OP))?;
            let rows = stmt.query_map([], launch_from_row).map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// Puts a claimed launch whose worker died back in the queue. A run it had made (that
    /// never started a container) keeps its record but is no longer linked to the launch.
    pub fn requeue_launch(&self, id: &str) -> Result<(), StoreError> {
        const OP: &str = "requeueing a launch";
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE run_labels SET key = 'berth.launch-previous' WHERE key = ?1 AND value = ?2",
                params![LAUNCH_LABEL, id],
            )
            .map_err(sql(OP))?;
            tx.execute(
                "UPDATE launches SET state = 'queued', run_id = NULL, claimed_by_host = NULL, claimed_by_pid = NULL,
                     claimed_by_start = NULL WHERE id = ?1 AND state = 'claimed'",
                [id],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// The run labelled `key=value`, newest first (a launch's run by [`LAUNCH_LABEL`]).
    pub fn run_by_label(&self, key: &str, value: &str) -> Result<Option<RunId>, StoreError> {
        const OP: &str = "finding a run by label";
        self.read(OP, |tx| {
            tx.query_row(
                "SELECT r.id FROM run_labels l JOIN runs r ON r.id = l.run_id WHERE l.key = ?1 AND l.value = ?2
                 ORDER BY r.created_at DESC LIMIT 1",
                params![key, value],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(sql(OP))
            .map(|id| id.map(RunId::from_stored))
        })
    }

    /// Marks claimed launches whose run is over as `done`; returns how many.
    pub fn settle_launches(&self) -> Result<usize, StoreError> {
        const OP: &str = "settling launches";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE launches SET state = 'done', finished_at = COALESCE(finished_at, ?1)
                 WHERE state = 'claimed' AND id IN
                     (SELECT lb.value FROM run_labels lb JOIN runs r ON r.id = lb.run_id
                      WHERE lb.key = 'berth.launch' AND r.status IN ('succeeded', 'failed', 'cancelled'))",
                [now],
            )
            .map_err(sql(OP))
        })
    }

    /// How many launches are in each displayed status.
    pub fn launch_counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        const OP: &str = "counting launches";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(&format!("SELECT {STATUS_SQL} AS s, count(*) FROM {LAUNCH_FROM} GROUP BY s"))
                .map_err(sql(OP))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0))))
                .map_err(sql(OP))?;
            rows.collect::<Result<BTreeMap<_, _>, _>>().map_err(sql(OP))
        })
    }

    // --- scans --------------------------------------------------------------------------------

    /// Stores a scan report of an image.
    pub fn add_scan(&self, image_ref: &str, image_id: Option<&str>, report_json: &str) -> Result<(), StoreError> {
        const OP: &str = "storing a scan";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO scans (image_ref, image_id, report_json, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![image_ref, image_id, report_json, now],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// The latest scan of an image, if any.
    pub fn latest_scan(&self, image_ref: &str) -> Result<Option<ScanRecord>, StoreError> {
        const OP: &str = "reading a scan";
        self.read(OP, |tx| {
            tx.query_row(
                "SELECT image_ref, image_id, report_json, created_at FROM scans WHERE image_ref = ?1
                 ORDER BY created_at DESC, id DESC LIMIT 1",
                [image_ref],
                |r| {
                    Ok(ScanRecord {
                        image_ref: r.get(0)?,
                        image_id: r.get(1)?,
                        report_json: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(sql(OP))
        })
    }
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(1)?;
    Ok(User { name: r.get(0)?, role: role.parse().unwrap_or(Role::User), created_at: r.get(2)? })
}

fn get_user(tx: &Transaction<'_>, name: &str, op: &'static str) -> Result<User, StoreError> {
    tx.query_row("SELECT name, role, created_at FROM users WHERE name = ?1", [name], user_from_row)
        .optional()
        .map_err(sql(op))?
        .ok_or_else(|| StoreError::NotFound { kind: "user", name: name.to_owned() })
}

fn get_project(tx: &Transaction<'_>, id: &str, op: &'static str) -> Result<Project, StoreError> {
    let row = tx
        .query_row("SELECT id, title, data_roots_json, created_at FROM projects WHERE id = ?1", [id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })
        .optional()
        .map_err(sql(op))?
        .ok_or_else(|| StoreError::NotFound { kind: "project", name: id.to_owned() })?;
    let mut stmt = tx
        .prepare("SELECT user_name FROM project_members WHERE project_id = ?1 ORDER BY user_name")
        .map_err(sql(op))?;
    let members =
        stmt.query_map([id], |r| r.get(0)).map_err(sql(op))?.collect::<Result<Vec<String>, _>>().map_err(sql(op))?;
    Ok(Project {
        id: row.0,
        title: row.1,
        data_roots: serde_json::from_str(&row.2).map_err(|source| StoreError::Json { what: "data roots", source })?,
        members,
        created_at: row.3,
    })
}

fn tool_setting(
    tx: &Transaction<'_>,
    project: Option<&str>,
    tool: &str,
    op: &'static str,
) -> Result<ToolSetting, StoreError> {
    let row = tx
        .query_row(
            "SELECT enabled, defaults_json FROM tool_settings WHERE scope = ?1 AND tool_name = ?2",
            params![scope_of(project), tool],
            |r| Ok((r.get::<_, bool>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()
        .map_err(sql(op))?;
    let (enabled, defaults) = match row {
        Some((e, d)) => {
            (e, serde_json::from_str(&d).map_err(|source| StoreError::Json { what: "default inputs", source })?)
        }
        None => (project.is_none(), serde_json::Map::new()),
    };
    Ok(ToolSetting { project: project.map(str::to_owned), tool_name: tool.to_owned(), enabled, defaults })
}

fn get_launch(tx: &Transaction<'_>, id: &str, op: &'static str) -> Result<Launch, StoreError> {
    tx.query_row(
        &format!("SELECT {LAUNCH_COLUMNS}, {STATUS_SQL} AS display_status FROM {LAUNCH_FROM} WHERE l.id = ?1 OR l.run_id = ?1 LIMIT 1"),
        [id],
        launch_from_row,
    )
    .optional()
    .map_err(sql(op))?
    .ok_or_else(|| StoreError::NotFound { kind: "run", name: id.to_owned() })
}

/// Whether two RFC 3339 times (as [`time::now`] writes them) are a minute or more apart.
fn minutes_apart(earlier: &str, later: &str) -> bool {
    // Same format and zone: comparing the text up to the minute is enough.
    earlier.get(..16) != later.get(..16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        (dir, store)
    }

    #[test]
    fn tokens_authenticate_until_revoked_and_are_stored_hashed() {
        let (dir, store) = store();
        store.add_user("ada", Role::Admin).expect("user");
        let token = store.create_token("ada", "laptop").expect("token");
        assert!(token.starts_with("berth_") && token.len() == 70, "{token}");
        assert_eq!(store.authenticate(&token).expect("auth").map(|u| u.name), Some("ada".into()));
        assert_eq!(store.authenticate("berth_nope").expect("auth"), None);
        let db = std::fs::read(dir.path().join("berth.db")).expect("db");
        let wal = std::fs::read(dir.path().join("berth.db-wal")).unwrap_or_default();
        let secret = token.as_bytes();
        assert!(!db.windows(secret.len()).any(|w| w == secret) && !wal.windows(secret.len()).any(|w| w == secret));
        assert_eq!(store.revoke_tokens("ada", &token[..10]).expect("revoke"), 1);
        assert_eq!(store.authenticate(&token).expect("auth"), None);
    }

    #[test]
    fn bad_names_and_duplicates_are_refused() {
        let (_dir, store) = store();
        assert!(matches!(store.add_user("a b", Role::User), Err(StoreError::InvalidName { kind: "user", .. })));
        store.add_user("bob", Role::User).expect("user");
        assert!(matches!(store.add_user("bob", Role::User), Err(StoreError::AlreadyExists { kind: "user", .. })));
        store.add_project("p1", "P", &["/data".into()]).expect("project");
        assert!(matches!(store.add_member("p1", "nobody"), Err(StoreError::NotFound { kind: "user", .. })));
        store.add_member("p1", "bob").expect("member");
        assert_eq!(store.list_projects(Some("bob")).expect("list")[0].members, vec!["bob".to_string()]);
        assert!(store.list_projects(Some("carol")).expect("list").is_empty());
    }

    #[test]
    fn the_queue_claims_in_order_cancels_and_requeues() {
        let (_dir, store) = store();
        store.add_user("bob", Role::User).expect("user");
        store.add_project("p1", "P", &[]).expect("project");
        let new = |n: u32| NewLaunch {
            id: new_launch_id(),
            project_id: "p1".into(),
            user_name: "bob".into(),
            tool_name: "t".into(),
            tool_version: "1".into(),
            invocation_json: format!("{{\"n\": {n}}}"),
            bulk_id: None,
        };
        let ids = store.enqueue_launches(&[new(1), new(2), new(3)]).expect("enqueue");
        assert!(store.request_cancel(&ids[1]).expect("cancel"));
        let first = store.claim_launch(("h", 1, None)).expect("claim").expect("one");
        assert_eq!(first.id, ids[0]);
        assert_eq!(first.status(), "starting");
        let third = store.claim_launch(("h", 1, None)).expect("claim").expect("one");
        assert_eq!(third.id, ids[2]);
        assert!(store.claim_launch(("h", 1, None)).expect("claim").is_none());
        store.requeue_launch(&ids[0]).expect("requeue");
        let again = store.claim_launch(("h", 2, None)).expect("claim").expect("one");
        assert_eq!((again.id.as_str(), again.attempts), (ids[0].as_str(), 2));
        let (all, total) = store.list_launches(&LaunchFilter { limit: 10, ..Default::default() }).expect("list");
        assert_eq!((all.len(), total), (3, 3));
        let (cancelled, _) = store
            .list_launches(&LaunchFilter { status: Some("cancelled".into()), limit: 10, ..Default::default() })
            .expect("list");
        assert_eq!(cancelled.len(), 1);
        let counts = store.launch_counts().expect("counts");
        assert_eq!(counts.get("starting"), Some(&2));
    }
}
