//! The REST API, `/api/v1/...`. Every handler calls the same library functions as the CLI.
//!
//! Access rules: every endpoint but health, metrics and the OpenAPI document needs a token
//! ([`Caller`]); admin endpoints take [`Admin`], which refuses users before the body is read.
//! Users see and control only the launches of projects they belong to; anything else answers
//! 404, as if it did not exist. Only admins manage tools, projects, engines and images.

// utoipa's `path` macro expands `params(SomeQuery)` into fully qualified paths.
#![allow(unused_qualifications)]

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use berth_store::{Launch, Project, User};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, Problem};

/// JSON bodies with errors that name the problem: malformed JSON and wrong types are 400 with
/// serde's message (line, column, field); a body over the limit is 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// The API error for a rejected JSON body.
pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(status, "the request body is too large")
            .hint("send at most the server's `--max-body` bytes");
    }
    let (message, hint) = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ("the request body must be JSON".to_owned(), "send `Content-Type: application/json`")
        }
        JsonRejection::JsonSyntaxError(_) => {
            (format!("malformed JSON: {}", rejection.body_text()), "fix the JSON syntax at the position given")
        }
        _ => (
            format!("the JSON body does not fit: {}", rejection.body_text()),
            "see /api/v1/openapi.json for the expected fields",
        ),
    };
    ApiError::new(StatusCode::BAD_REQUEST, message).hint(hint)
}

fn blocking_err(e: tokio::task::JoinError) -> ApiError {
    ApiError::internal(format!("a background task failed: {e}"))
}

/// Runs store work off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(blocking_err)?
}

// --- views ---------------------------------------------------------------------------------

/// The service's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// berth's version.
    pub version: &'static str,
    /// The engine runs go to.
    pub engine: String,
    /// Its version.
    pub engine_version: String,
    /// Whether the engine answered (checked at most every 2 s).
    pub engine_reachable: bool,
    /// How many runs may execute at once.
    pub workers: usize,
    /// Launches by status.
    pub launches: BTreeMap<String, u64>,
}

/// A launch and its run, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// The launch id (a run can also be named by its run id).
    pub id: String,
    /// `queued`, `starting`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// Whether it is over.
    pub terminal: bool,
    /// The project.
    pub project: String,
    /// Who launched it.
    pub user: String,
    /// The tool.
    pub tool: String,
    /// Its version.
    pub tool_version: String,
    /// The run's id, once it exists.
    pub run_id: Option<String>,
    /// The tool's exit code.
    pub exit_code: Option<i64>,
    /// Why it failed before running (or the queue's note).
    pub error: Option<String>,
    /// The bulk launch it belongs to.
    pub bulk_id: Option<String>,
    /// How many times a worker took it.
    pub attempts: i64,
    /// When it was queued.
    pub created_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
}

impl From<&Launch> for RunView {
    fn from(l: &Launch) -> RunView {
        RunView {
            id: l.id.clone(),
            status: l.status().to_owned(),
            terminal: l.is_terminal(),
            project: l.project_id.clone(),
            user: l.user_name.clone(),
            tool: l.tool_name.clone(),
            tool_version: l.tool_version.clone(),
            run_id: l.run_id.clone(),
            exit_code: l.exit_code,
            error: l.error.clone(),
            bulk_id: l.bulk_id.clone(),
            attempts: l.attempts,
            created_at: l.created_at.clone(),
            finished_at: l.finished_at.clone(),
        }
    }
}

/// A page of runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    /// The runs, newest first.
    pub items: Vec<RunView>,
    /// How many match in all.
    pub total: u64,
    /// The page size.
    pub limit: u32,
    /// The offset.
    pub offset: u32,
}

/// A run with its provenance record.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDetail {
    /// The launch.
    #[serde(flatten)]
    pub run: RunView,
    /// The launch request (inputs, mounts).
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    /// The provenance record (image digest, descriptor, command, inputs and outputs by hash,
    /// engine, host, status history), once the run exists.
    #[schema(value_type = Object)]
    pub provenance: Option<serde_json::Value>,
}

/// A launch that was accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The launch id.
    pub id: String,
    /// `queued`.
    pub status: &'static str,
    /// Where to follow it.
    pub url: String,
}

/// What a dry run would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRun {
    /// The command line, with container paths.
    pub command_line: String,
    /// The image.
    pub image: String,
    /// The bind mounts: host path → container path, read-only or not.
    #[schema(value_type = Vec<Object>)]
    pub mounts: Vec<serde_json::Value>,
}

/// A bulk launch that was accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkAccepted {
    /// The bulk id (`GET /api/v1/runs?bulk=ID` lists its runs).
    pub bulk_id: String,
    /// The launch ids, in the order of `items`.
    pub ids: Vec<String>,
}

/// One launch of a tool over many inputs: `inputs` are common, each item adds or overrides.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// The tool.
    pub tool: String,
    /// Its version.
    #[serde(default)]
    pub version: Option<String>,
    /// Inputs every launch gets.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// One object of inputs per launch.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// A registered tool.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolView {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `boutiques` or `xnat`.
    pub kind: String,
    /// The image it runs in.
    pub image: Option<String>,
    /// SHA-256 of its descriptor.
    pub descriptor_sha256: String,
    /// Where it came from.
    pub source: String,
    /// When it was registered.
    pub added_at: String,
    /// Whether it is enabled on the site.
    pub site_enabled: bool,
    /// The caller's projects it is enabled in.
    pub enabled_in: Vec<String>,
    /// What the tool does (the descriptor's or Command's `description`, at most 300 characters).
    pub description: Option<String>,
}

impl ToolView {
    /// Whether the caller can launch it somewhere: enabled on the site and in a project of theirs.
    pub fn launchable(&self) -> bool {
        self.site_enabled && !self.enabled_in.is_empty()
    }
}

/// A tool with its descriptor.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolDetail {
    /// The tool.
    #[serde(flatten)]
    pub tool: ToolView,
    /// The descriptor.
    #[schema(value_type = Object)]
    pub descriptor: serde_json::Value,
}

/// The result of validating a descriptor.
#[derive(Debug, Serialize, ToSchema)]
pub struct Validation {
    /// Whether it can be registered.
    pub valid: bool,
    /// `boutiques`, `xnat` or `unknown`.
    pub kind: String,
    /// Every problem (warnings too).
    pub problems: Vec<Problem>,
}

/// A tool's availability.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingRequest {
    /// Whether launches may use it.
    pub enabled: bool,
    /// Default inputs (projects only).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub defaults: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A new project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectRequest {
    /// Its id.
    pub id: String,
    /// A title.
    #[serde(default)]
    pub title: Option<String>,
    /// Directories launch inputs must lie in.
    pub data_roots: Vec<String>,
}

/// An image reference in a body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageRequest {
    /// `name:tag` or `name@sha256:...`.
    pub reference: String,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The user.
    pub user: User,
    /// Their projects.
    pub projects: Vec<Project>,
}

/// Filters and paging for `GET /api/v1/runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only this project.
    pub project: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this bulk launch.
    pub bulk: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<u32>,
    /// Offset.
    pub offset: Option<u32>,
}

/// `?version=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// The tool version.
    pub version: Option<String>,
    /// Replace a registered tool with the same name and version.
    pub replace: Option<bool>,
}

/// `?reference=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReferenceQuery {
    /// The image.
    pub reference: String,
}

mod audit;
mod dicom;
mod files;
mod images;
mod pipelines;
mod projects;
mod runs;
mod service;
mod sessions;
mod tools;
mod users;

pub use audit::*;
pub use dicom::*;
pub use files::*;
pub use images::*;
pub use pipelines::*;
pub use projects::*;
pub use runs::*;
pub use service::*;
pub use sessions::*;
pub use tools::*;
pub use users::*;
