//! The service's records (`berth serve`): users and their API tokens, projects, which tools
//! are enabled where, the durable launch queue, and image scans.
//!
//! Tokens are random 256-bit secrets shown once; only their SHA-256 is stored, so a copy of
//! the database gives no one a working token. The launch queue lives in the same database as
//! the runs: a launch is `queued` until a worker claims it (recording its process, so that a
//! restarted server can tell a dead claim from a live one), then `done` once its run is over.
//! Every transition is one transaction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::{RunId, RunStatus};

/// A user's role: admins manage users, projects, engines and images; users launch tools in
/// their projects.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A new launch id: a UUID v7, like run ids (sorts by time).
pub fn new_launch_id() -> String {
    RunId::generate().as_str().to_owned()
}

/// SHA-256 (hex) of a token, as stored.
pub fn token_digest(token: &str) -> String {
    crate::hash::sha256_hex(token.as_bytes())
}

mod launches;
pub(crate) use launches::insert_launches;
mod projects;
mod scans;
mod users;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreError};

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
