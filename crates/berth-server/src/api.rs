//! The REST API, `/api/v1/...`. Every handler calls the same library functions as the CLI.
//!
//! Access rules: every endpoint but health, metrics and the OpenAPI document needs a token
//! ([`Caller`]); admin endpoints take [`Admin`], which refuses users before the body is read.
//! Users see and control only the launches of projects they belong to; anything else answers
//! 404, as if it did not exist. Only admins manage tools, projects, engines and images.

// utoipa's `path` macro expands `params(SomeQuery)` into fully qualified paths.
#![allow(unused_qualifications)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use berth_store::{Launch, LaunchFilter, NewLaunch, Project, RunStatus, Store, User, new_launch_id};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody, Problem};
use crate::launch::{LaunchRequest, enabled_defaults, prepare_launch, problems_of, resolve_tool};
use crate::state::{AppState, Metrics};

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
    #[schema(value_type = Object)]
    pub user: User,
    /// Their projects.
    #[schema(value_type = Vec<Object>)]
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

// --- helpers -------------------------------------------------------------------------------

/// The projects a caller may see (`None`: all, for admins).
pub fn visible_projects(store: &Store, caller: &User) -> ApiResult<Option<Vec<String>>> {
    if caller.is_admin() {
        return Ok(None);
    }
    Ok(Some(store.list_projects(Some(&caller.name))?.into_iter().map(|p| p.id).collect()))
}

/// A project the caller belongs to (admins: any), else 404.
pub fn visible_project(store: &Store, caller: &User, id: &str) -> ApiResult<Project> {
    let project = store.get_project(id).map_err(|_| ApiError::not_found(format!("no project \"{id}\"")))?;
    if caller.is_admin() || project.members.iter().any(|m| m == &caller.name) {
        Ok(project)
    } else {
        Err(ApiError::not_found(format!("no project \"{id}\"")))
    }
}

/// A launch (by launch or run id) the caller may see, else 404.
pub fn visible_launch(store: &Store, caller: &User, id: &str) -> ApiResult<Launch> {
    let missing = || ApiError::not_found(format!("no run \"{id}\"")).hint("list runs with `GET /api/v1/runs`");
    let launch = store.get_launch(id).map_err(|_| missing())?;
    if caller.is_admin() || store.list_projects(Some(&caller.name))?.iter().any(|p| p.id == launch.project_id) {
        Ok(launch)
    } else {
        Err(missing())
    }
}

/// A registered tool as the API shows it, with where the caller may launch it.
pub fn tool_view(store: &Store, rec: &berth_store::ToolRecord, projects: &[Project]) -> ApiResult<ToolView> {
    let site = store.tool_setting(None, &rec.tool.name)?;
    let mut enabled_in = Vec::new();
    for p in projects {
        if store.tool_setting(Some(&p.id), &rec.tool.name)?.enabled {
            enabled_in.push(p.id.clone());
        }
    }
    Ok(ToolView {
        name: rec.tool.name.clone(),
        version: rec.tool.version.clone(),
        kind: rec.tool.kind.as_str().to_owned(),
        image: rec.tool.image.clone(),
        descriptor_sha256: rec.tool.descriptor_sha256.clone(),
        source: rec.tool.source.clone(),
        added_at: rec.added_at.clone(),
        site_enabled: site.enabled,
        enabled_in,
    })
}

/// The tools the caller may see: those they can launch somewhere (enabled on the site and in
/// one of their projects); admins see all.
pub fn visible_tools(store: &Store, caller: &User) -> ApiResult<Vec<ToolView>> {
    let projects = caller_projects(store, caller)?;
    let mut out = Vec::new();
    for t in &store.list_tools()? {
        let v = tool_view(store, t, &projects)?;
        if caller.is_admin() || v.launchable() {
            out.push(v);
        }
    }
    Ok(out)
}

/// The projects the caller sees: theirs, or all for admins.
pub fn caller_projects(store: &Store, caller: &User) -> ApiResult<Vec<Project>> {
    Ok(store.list_projects(if caller.is_admin() { None } else { Some(&caller.name) })?)
}

// --- handlers ------------------------------------------------------------------------------

/// Whether the service and its engine are up, and the queue's counts.
#[utoipa::path(get, path = "/api/v1/health", tag = "service", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<Arc<AppState>>) -> ApiResult<Json<Health>> {
    let reachable = state.engine_reachable().await;
    let store = state.store.clone();
    let launches = blocking(move || Ok(store.launch_counts()?)).await?;
    Ok(Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        engine: state.engine_info.kind.as_str().to_owned(),
        engine_version: state.engine_info.server_version.clone(),
        engine_reachable: reachable,
        workers: state.opts.workers,
        launches,
    }))
}

/// Counters and queue gauges in the Prometheus text format.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "service", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> ApiResult<Response> {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let store = state.store.clone();
    let counts = blocking(move || Ok(store.launch_counts()?)).await?;
    let m = &state.metrics;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    };
    counter("berth_http_requests_total", "HTTP requests answered.", m.requests.load(Relaxed));
    counter(
        "berth_http_client_errors_total",
        "HTTP requests answered with a 4xx status.",
        m.client_errors.load(Relaxed),
    );
    counter(
        "berth_http_server_errors_total",
        "HTTP requests answered with a 5xx status.",
        m.server_errors.load(Relaxed),
    );
    counter("berth_launches_queued_total", "Launches queued since the server started.", m.launches.load(Relaxed));
    counter(
        "berth_runs_finished_total",
        "Runs the workers finished since the server started.",
        m.runs_finished.load(Relaxed),
    );
    counter("berth_launches_failed_total", "Launches that could not be run.", m.launches_failed.load(Relaxed));
    counter(
        "berth_launches_requeued_total",
        "Launches queued again after a restart.",
        m.launches_requeued.load(Relaxed),
    );
    counter("berth_runs_reconciled_total", "Runs finished by reconciliation.", m.runs_reconciled.load(Relaxed));
    let _ = writeln!(out, "# HELP berth_launches Launches in the store by status.\n# TYPE berth_launches gauge");
    for status in ["queued", "starting", "running", "succeeded", "failed", "cancelled"] {
        let _ = writeln!(out, "berth_launches{{status=\"{status}\"}} {}", counts.get(status).copied().unwrap_or(0));
    }
    let _ = writeln!(
        out,
        "# HELP berth_workers Runs that may execute at once.\n# TYPE berth_workers gauge\nberth_workers {}",
        state.opts.workers
    );
    let running = state.cancels.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
    let _ = writeln!(
        out,
        "# HELP berth_runs_active Runs this server is executing.\n# TYPE berth_runs_active gauge\nberth_runs_active {running}"
    );
    let _ = writeln!(
        out,
        "# HELP berth_live_streams Live-log streams open.\n# TYPE berth_live_streams gauge\nberth_live_streams {}",
        state.live.open_streams()
    );
    let _ = writeln!(
        out,
        "# HELP berth_live_runs Runs with a live-log poller.\n# TYPE berth_live_runs gauge\nberth_live_runs {}",
        state.live.watched_runs()
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response())
}

/// The caller and their projects.
#[utoipa::path(get, path = "/api/v1/me", tag = "users", security(("token" = [])), responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Json<Me>> {
    let store = state.store.clone();
    blocking(move || {
        let projects = caller_projects(&store, &caller.0)?;
        Ok(Json(Me { user: caller.0, projects }))
    })
    .await
}

/// Registered tools.
#[utoipa::path(get, path = "/api/v1/tools", tag = "tools", security(("token" = [])), responses((status = 200, body = Vec<ToolView>)))]
pub async fn list_tools(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Json<Vec<ToolView>>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(visible_tools(&store, &caller.0)?))).await
}

/// One tool with its descriptor (the newest version unless `?version=`).
#[utoipa::path(get, path = "/api/v1/tools/{name}", tag = "tools", security(("token" = [])), params(("name" = String, Path), VersionQuery), responses((status = 200, body = ToolDetail), (status = 404, body = ErrorBody)))]
pub async fn get_tool(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<Json<ToolDetail>> {
    let store = state.store.clone();
    blocking(move || {
        let rec = newest_tool(&store, &name, q.version.as_deref())?;
        let projects = caller_projects(&store, &caller.0)?;
        let view = tool_view(&store, &rec, &projects)?;
        if !caller.0.is_admin() && !view.launchable() {
            return Err(ApiError::not_found(format!("no tool `{name}`")));
        }
        let descriptor = serde_json::from_str(&rec.tool.descriptor_json).unwrap_or(serde_json::Value::Null);
        Ok(Json(ToolDetail { tool: view, descriptor }))
    })
    .await
}

/// The named version, or the newest registered one.
pub fn newest_tool(store: &Store, name: &str, version: Option<&str>) -> ApiResult<berth_store::ToolRecord> {
    if let Some(v) = version {
        return Ok(store.get_tool(name, Some(v))?);
    }
    store
        .list_tools()?
        .into_iter()
        .filter(|t| t.tool.name == name)
        .max_by(|a, b| a.added_at.cmp(&b.added_at))
        .ok_or_else(|| ApiError::not_found(format!("no tool `{name}` is registered")))
}

/// Registers a descriptor (Boutiques or XNAT Command) sent as the body.
#[utoipa::path(post, path = "/api/v1/tools", tag = "tools", security(("token" = [])), params(VersionQuery), request_body(content = Object, description = "A Boutiques descriptor or an XNAT Command"), responses((status = 201, body = ToolView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_tool(
    State(state): State<Arc<AppState>>,
    caller: Admin,
    Query(q): Query<VersionQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ToolView>)> {
    let text =
        String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad_request("the descriptor is not UTF-8 text"))?;
    let store = state.store.clone();
    blocking(move || {
        let tool = load_text_api(text)?;
        store.add_tool(&tool.to_new_tool("api"), q.replace.unwrap_or(false))?;
        let rec = store.get_tool(tool.name(), Some(tool.version()))?;
        Ok((StatusCode::CREATED, Json(tool_view(&store, &rec, &caller_projects(&store, &caller.0)?)?)))
    })
    .await
}

fn load_text_api(text: String) -> ApiResult<berth_run::LoadedTool> {
    berth_run::tool::load_text(text, "the request body").map_err(|e| {
        let problems = e.problems().map(problems_of).unwrap_or_default();
        let err = ApiError::bad_request(e.to_string()).problems(problems);
        err.maybe_hint(e.hint())
    })
}

/// Validates a descriptor without registering it.
#[utoipa::path(post, path = "/api/v1/tools/validate", tag = "tools", security(("token" = [])), request_body(content = Object), responses((status = 200, body = Validation), (status = 400, body = ErrorBody)))]
pub async fn validate_tool(_caller: Caller, body: Bytes) -> ApiResult<Json<Validation>> {
    let text =
        String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad_request("the descriptor is not UTF-8 text"))?;
    let value =
        berth_descriptor::Value::parse(&text).map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let v = berth_run::tool::validate_value(&value);
    let kind = match &v.tool {
        Some(berth_run::ToolSpec::Boutiques(_)) => "boutiques",
        Some(berth_run::ToolSpec::Xnat(_)) => "xnat",
        None => "unknown",
    };
    Ok(Json(Validation {
        valid: v.tool.is_some() && !v.problems.has_errors(false),
        kind: kind.to_owned(),
        problems: v
            .problems
            .iter()
            .map(|p| Problem { at: p.pointer.clone(), message: p.message.clone(), hint: p.hint.clone() })
            .collect(),
    }))
}

/// Removes a tool (all versions unless `?version=`).
#[utoipa::path(delete, path = "/api/v1/tools/{name}", tag = "tools", security(("token" = [])), params(("name" = String, Path), VersionQuery), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_tool(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<StatusCode> {
    let store = state.store.clone();
    blocking(move || {
        let n = store.remove_tool(&name, q.version.as_deref(), q.version.is_none())?;
        if n == 0 {
            Err(ApiError::not_found(format!("no tool `{name}` is registered")))
        } else {
            Ok(StatusCode::NO_CONTENT)
        }
    })
    .await
}

/// Registers the tools an image's labels describe (`org.nrg.commands`, berth's Boutiques label).
#[utoipa::path(post, path = "/api/v1/tools/import", tag = "tools", security(("token" = [])), request_body = ImageRequest, responses((status = 201, body = Vec<ToolView>), (status = 400, body = ErrorBody)))]
pub async fn import_tools(
    State(state): State<Arc<AppState>>,
    caller: Admin,
    ApiJson(req): ApiJson<ImageRequest>,
) -> ApiResult<(StatusCode, Json<Vec<ToolView>>)> {
    let image = state
        .engine
        .inspect_image(&req.reference)
        .await
        .map_err(|e| ApiError::engine(format_args!("inspecting `{}`", req.reference), &e))?
        .ok_or_else(|| {
            ApiError::not_found(format!("no image `{}` on the engine", req.reference)).hint("pull it first")
        })?;
    let tools = berth_run::tool::tools_from_labels(&req.reference, &image.labels)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if tools.is_empty() {
        return Err(ApiError::bad_request(format!("image `{}` carries no tool descriptor label", req.reference)));
    }
    let store = state.store.clone();
    blocking(move || {
        let projects = caller_projects(&store, &caller.0)?;
        let mut views = Vec::new();
        for t in &tools {
            store.add_tool(&t.to_new_tool(&format!("image {}", req.reference)), true)?;
            views.push(tool_view(&store, &store.get_tool(t.name(), Some(t.version()))?, &projects)?);
        }
        Ok((StatusCode::CREATED, Json(views)))
    })
    .await
}

/// Enables or disables a tool on the whole site.
#[utoipa::path(put, path = "/api/v1/tools/{name}/settings", tag = "tools", security(("token" = [])), params(("name" = String, Path)), request_body = SettingRequest, responses((status = 200, body = Object)))]
pub async fn site_setting(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<SettingRequest>,
) -> ApiResult<Json<berth_store::ToolSetting>> {
    if req.defaults.is_some() {
        return Err(ApiError::bad_request("defaults: default inputs are set per project")
            .hint("use PUT /api/v1/projects/{project}/tools/{name}"));
    }
    let store = state.store.clone();
    blocking(move || Ok(Json(store.set_tool_setting(None, &name, req.enabled, None)?))).await
}

/// The caller's projects.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", security(("token" = [])), responses((status = 200, body = Vec<Object>)))]
pub async fn list_projects(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Json<Vec<Project>>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(caller_projects(&store, &caller.0)?))).await
}

/// Creates a project.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", security(("token" = [])), request_body = ProjectRequest, responses((status = 201, body = Object), (status = 409, body = ErrorBody)))]
pub async fn add_project(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    ApiJson(req): ApiJson<ProjectRequest>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    for r in &req.data_roots {
        if !std::path::Path::new(r).is_absolute() {
            return Err(ApiError::bad_request(format!("data_roots: `{r}` is not an absolute path")));
        }
    }
    let store = state.store.clone();
    blocking(move || {
        let p = store.add_project(&req.id, req.title.as_deref().unwrap_or(&req.id), &req.data_roots)?;
        Ok((StatusCode::CREATED, Json(p)))
    })
    .await
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{project}", tag = "projects", security(("token" = [])), params(("project" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_project(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<Project>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(visible_project(&store, &caller.0, &project)?))).await
}

/// Adds a user to a project.
#[utoipa::path(put, path = "/api/v1/projects/{project}/members/{user}", tag = "projects", security(("token" = [])), params(("project" = String, Path), ("user" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn add_member(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Path((project, user)): Path<(String, String)>,
) -> ApiResult<Json<Project>> {
    let store = state.store.clone();
    blocking(move || {
        store.add_member(&project, &user)?;
        Ok(Json(store.get_project(&project)?))
    })
    .await
}

/// Enables or disables a tool in a project, with default inputs.
#[utoipa::path(put, path = "/api/v1/projects/{project}/tools/{name}", tag = "projects", security(("token" = [])), params(("project" = String, Path), ("name" = String, Path)), request_body = SettingRequest, responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn project_setting(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Path((project, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<SettingRequest>,
) -> ApiResult<Json<berth_store::ToolSetting>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(store.set_tool_setting(Some(&project), &name, req.enabled, req.defaults.as_ref())?))).await
}

/// Checks a launch request and queues it (or, with `dry_run`, shows the command it would run).
pub fn accept_launch(
    state: &AppState,
    caller: &User,
    project: &str,
    req: LaunchRequest,
    bulk: Option<&str>,
) -> ApiResult<(NewLaunch, Option<DryRun>)> {
    let store = &state.store;
    let project = visible_project(store, caller, project)?;
    let tool = resolve_tool(store, &req.tool, req.version.as_deref())?;
    let defaults = enabled_defaults(store, &project, tool.name())?;
    let id = new_launch_id();
    let output_dir = if req.dry_run {
        state.opts.output_root.join(".dry-run").join(&id)
    } else {
        state.opts.output_root.join(&project.id).join(&id)
    };
    let job = prepare_launch(state, &project, &tool, &req, &defaults, output_dir.clone());
    if req.dry_run {
        let _ = std::fs::remove_dir_all(&output_dir);
    }
    let job = job?;
    let dry = req.dry_run.then(|| DryRun {
        command_line: job.command_line.clone(),
        image: job.image.clone(),
        mounts: job
            .mounts
            .iter()
            .map(|m| serde_json::json!({"host": m.host, "container": m.container, "read_only": m.read_only}))
            .collect(),
    });
    let mut stored = req;
    stored.version = Some(tool.version().to_owned());
    // Defaults are applied now: the launch records what it will run with.
    for (k, v) in defaults {
        stored.inputs.entry(k).or_insert(v);
    }
    let new = NewLaunch {
        id,
        project_id: project.id.clone(),
        user_name: caller.name.clone(),
        tool_name: tool.name().to_owned(),
        tool_version: tool.version().to_owned(),
        invocation_json: serde_json::to_string(&stored).unwrap_or_default(),
        bulk_id: bulk.map(str::to_owned),
    };
    Ok((new, dry))
}

/// Launches a tool in a project.
#[utoipa::path(post, path = "/api/v1/projects/{project}/launch", tag = "runs", security(("token" = [])), params(("project" = String, Path)), request_body = LaunchRequest, responses((status = 202, body = Accepted), (status = 200, body = DryRun, description = "dry run"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn launch(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(project): Path<String>,
    ApiJson(req): ApiJson<LaunchRequest>,
) -> ApiResult<Response> {
    let st = state.clone();
    blocking(move || {
        let (new, dry) = accept_launch(&st, &caller.0, &project, req, None)?;
        if let Some(dry) = dry {
            return Ok(Json(dry).into_response());
        }
        st.store.enqueue_launches(std::slice::from_ref(&new))?;
        Metrics::inc(&st.metrics.launches);
        st.wake.notify_one();
        let url = format!("/api/v1/runs/{}", new.id);
        let mut resp =
            (StatusCode::ACCEPTED, Json(Accepted { id: new.id, status: "queued", url: url.clone() })).into_response();
        if let Ok(v) = HeaderValue::from_str(&url) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Ok(resp)
    })
    .await
}

/// Launches one tool over many inputs: all are checked, then all are queued (or none).
#[utoipa::path(post, path = "/api/v1/projects/{project}/bulk-launch", tag = "runs", security(("token" = [])), params(("project" = String, Path)), request_body = BulkRequest, responses((status = 202, body = BulkAccepted), (status = 400, body = ErrorBody)))]
pub async fn bulk_launch(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(project): Path<String>,
    ApiJson(req): ApiJson<BulkRequest>,
) -> ApiResult<(StatusCode, Json<BulkAccepted>)> {
    if req.items.is_empty() {
        return Err(ApiError::bad_request("items: give at least one set of inputs"));
    }
    if req.items.len() > state.opts.max_bulk {
        return Err(ApiError::bad_request(format!(
            "items: {} launches asked, at most {} per request",
            req.items.len(),
            state.opts.max_bulk
        )));
    }
    let st = state.clone();
    blocking(move || {
        let bulk_id = new_launch_id();
        let mut news = Vec::with_capacity(req.items.len());
        for (i, item) in req.items.into_iter().enumerate() {
            let mut inputs = req.inputs.clone();
            inputs.extend(item);
            let one = LaunchRequest {
                tool: req.tool.clone(),
                version: req.version.clone(),
                inputs,
                mounts: BTreeMap::new(),
                dry_run: false,
            };
            let (new, _) = accept_launch(&st, &caller.0, &project, one, Some(&bulk_id)).map_err(|mut e| {
                e.body.error = format!("items[{i}]: {}", e.body.error);
                e
            })?;
            news.push(new);
        }
        let ids = st.store.enqueue_launches(&news)?;
        for _ in &ids {
            Metrics::inc(&st.metrics.launches);
        }
        st.wake.notify_waiters();
        Ok((StatusCode::ACCEPTED, Json(BulkAccepted { bulk_id, ids })))
    })
    .await
}

/// Runs (launches) the caller can see, newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", security(("token" = [])), params(RunQuery), responses((status = 200, body = RunPage)))]
pub async fn list_runs(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<RunQuery>,
) -> ApiResult<Json<RunPage>> {
    let store = state.store.clone();
    blocking(move || {
        let mut projects = visible_projects(&store, &caller.0)?;
        if let Some(p) = &q.project {
            projects = match projects {
                Some(list) if !list.contains(p) => Some(Vec::new()),
                _ => Some(vec![p.clone()]),
            };
        }
        if let Some(s) = &q.status
            && !["queued", "starting", "running", "succeeded", "failed", "cancelled"].contains(&s.as_str())
        {
            return Err(ApiError::bad_request(format!("status: `{s}` is not a status"))
                .hint("use queued, starting, running, succeeded, failed or cancelled"));
        }
        let limit = q.limit.unwrap_or(50).clamp(1, 500);
        let offset = q.offset.unwrap_or(0);
        let filter = LaunchFilter { projects, status: q.status, tool: q.tool, bulk_id: q.bulk, limit, offset };
        let (items, total) = store.list_launches(&filter)?;
        Ok(Json(RunPage { items: items.iter().map(RunView::from).collect(), total, limit, offset }))
    })
    .await
}

/// One run with its provenance record.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", security(("token" = [])), params(("id" = String, Path, description = "launch id or run id")), responses((status = 200, body = RunDetail), (status = 404, body = ErrorBody)))]
pub async fn get_run(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RunDetail>> {
    let store = state.store.clone();
    blocking(move || {
        let launch = visible_launch(&store, &caller.0, &id)?;
        Ok(Json(run_detail(&store, &launch)?))
    })
    .await
}

/// A launch with its provenance record.
pub fn run_detail(store: &Store, launch: &Launch) -> ApiResult<RunDetail> {
    let provenance = match &launch.run_id {
        Some(run) => Some(provenance(&store.get_run(run)?)),
        None => None,
    };
    Ok(RunDetail {
        run: RunView::from(launch),
        request: serde_json::from_str(&launch.invocation_json).unwrap_or_default(),
        provenance,
    })
}

/// A run's Boutiques execution record with berth's whole record under `record`.
pub fn provenance(rec: &berth_store::RunRecord) -> serde_json::Value {
    let mut v = rec.to_execution_record();
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("record".into(), serde_json::to_value(rec).unwrap_or_default());
    }
    v
}

/// `stdout` or `stderr`.
fn stream_name(s: &str) -> ApiResult<&'static str> {
    match s {
        "stdout" => Ok("stdout"),
        "stderr" => Ok("stderr"),
        other => Err(ApiError::not_found(format!("no log `{other}`")).hint("logs are `stdout` and `stderr`")),
    }
}

fn log_path(store: &Store, launch: &Launch, stream: &str) -> Option<std::path::PathBuf> {
    let run = store.resolve_run_id(launch.run_id.as_deref()?).ok()?;
    let (out, err) = store.log_paths(&run);
    Some(if stream == "stdout" { out } else { err })
}

/// A run's log as a download.
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs/{stream}", tag = "runs", security(("token" = [])), params(("id" = String, Path), ("stream" = String, Path, description = "stdout or stderr")), responses((status = 200, description = "the log", content_type = "text/plain"), (status = 404, body = ErrorBody)))]
pub async fn logs(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, stream)): Path<(String, String)>,
) -> ApiResult<Response> {
    let stream = stream_name(&stream)?;
    let store = state.store.clone();
    let (launch, path) = blocking(move || {
        let launch = visible_launch(&store, &caller.0, &id)?;
        let path = log_path(&store, &launch, stream);
        Ok((launch, path))
    })
    .await?;
    let bytes = match path {
        Some(p) => tokio::fs::read(&p).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let disposition = format!("inline; filename=\"{}-{stream}.log\"", launch.id);
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response())
}

/// A run's log as it grows (server-sent events): `chunk` events carry JSON strings of text,
/// `status` events the run's status, and an `end` event closes the stream when the run is over.
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs/{stream}/live", tag = "runs", security(("token" = [])), params(("id" = String, Path), ("stream" = String, Path)), responses((status = 200, description = "text/event-stream", content_type = "text/event-stream"), (status = 404, body = ErrorBody)))]
pub async fn live_logs(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, stream)): Path<(String, String)>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let stream = stream_name(&stream)?;
    let store = state.store.clone();
    let user = caller.0.name.clone();
    let launch = blocking({
        let id = id.clone();
        move || visible_launch(&store, &caller.0, &id)
    })
    .await?;
    let sec = &state.opts.security;
    let permit = state.live.acquire(&user, sec.max_live_streams, sec.max_live_streams_per_user)?;
    let updates = crate::live::subscribe(&state, &launch.id).await;
    struct Follow {
        state: Arc<AppState>,
        updates: tokio::sync::watch::Receiver<crate::live::Snapshot>,
        offset: u64,
        last_status: String,
        done: bool,
        _permit: crate::live::StreamPermit,
    }
    let follow = Follow { state, updates, offset: 0, last_status: String::new(), done: false, _permit: permit };
    let s = futures_util::stream::unfold(follow, move |mut f| async move {
        if f.done {
            return None;
        }
        loop {
            let snap = f.updates.borrow_and_update().clone();
            if snap.gone && snap.status.is_empty() {
                f.done = true;
                return Some((Ok(Event::default().event("end").data("gone")), f));
            }
            let log = if stream == "stdout" { &snap.stdout } else { &snap.stderr };
            // Read only when the file grew (or, once the run is over, until it is drained).
            if let Some((path, len)) = log
                && (*len > f.offset || snap.terminal)
            {
                let (path, offset) = (path.clone(), f.offset);
                let read = tokio::task::spawn_blocking(move || read_log_chunk(&path, offset)).await.ok().flatten();
                if let Some((text, consumed)) = read {
                    f.offset += consumed;
                    let data = serde_json::to_string(&text).unwrap_or_default();
                    return Some((Ok(Event::default().event("chunk").data(data)), f));
                }
            }
            if !snap.status.is_empty() && snap.status != f.last_status {
                f.last_status = snap.status.clone();
                return Some((Ok(Event::default().event("status").data(snap.status)), f));
            }
            if snap.terminal {
                f.done = true;
                return Some((Ok(Event::default().event("end").data(snap.status)), f));
            }
            tokio::select! {
                changed = f.updates.changed() => {
                    if changed.is_err() && !f.updates.borrow().terminal {
                        // The poller stopped without an end (shutdown).
                        return None;
                    }
                }
                _ = f.state.shutdown.cancelled() => return None,
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::default()))
}

/// Up to 256 KiB of a log from `offset`, as text, and how many bytes that was. A UTF-8
/// sequence cut by the end of what was written so far waits for the next read.
fn read_log_chunk(path: &std::path::Path, offset: u64) -> Option<(String, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = Vec::with_capacity(64 * 1024);
    f.take(256 * 1024).read_to_end(&mut buf).ok()?;
    let end = match std::str::from_utf8(&buf) {
        Ok(_) => buf.len(),
        // Incomplete at the end: keep it for later (unless nothing else is there).
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => e.valid_up_to(),
        Err(_) => buf.len(),
    };
    if end == 0 {
        return None;
    }
    Some((String::from_utf8_lossy(&buf[..end]).into_owned(), end as u64))
}

/// Stops a run: a queued one is cancelled at once; a running one's container is stopped.
#[utoipa::path(post, path = "/api/v1/runs/{id}/kill", tag = "runs", security(("token" = [])), params(("id" = String, Path)), responses((status = 202, body = RunView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn kill(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let launch = kill_launch(&state, &caller.0, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(RunView::from(&launch))))
}

/// The kill logic shared with the XNAT endpoint.
pub async fn kill_launch(state: &Arc<AppState>, caller: &User, id: &str) -> ApiResult<Launch> {
    let store = state.store.clone();
    let (caller2, id2) = (caller.clone(), id.to_owned());
    let launch = blocking(move || visible_launch(&store, &caller2, &id2)).await?;
    if launch.is_terminal() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("run \"{id}\" is already {}", launch.status())));
    }
    let store = state.store.clone();
    let lid = launch.id.clone();
    blocking(move || Ok(store.request_cancel(&lid)?)).await?;
    if let Some(token) = state.cancel_token(&launch.id) {
        token.cancel();
    } else if let (Some(run), Some(RunStatus::Running)) = (&launch.run_id, launch.run_status) {
        // Its server is gone: stop the container; the janitor records the end.
        crate::queue::stop_run_container(state, run).await;
    }
    let store = state.store.clone();
    let lid = launch.id.clone();
    blocking(move || Ok(store.get_launch(&lid)?)).await
}

/// Local images (admins).
#[utoipa::path(get, path = "/api/v1/images", tag = "images", security(("token" = [])), responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody)))]
pub async fn list_images(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
) -> ApiResult<Json<Vec<berth_registry::ImageRow>>> {
    let labels = [berth_run::tool::BOUTIQUES_LABEL, "org.nrg.commands"];
    let rows = berth_registry::images::list(&*state.engine, &labels)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(rows))
}

/// Pulls an image (admins).
#[utoipa::path(post, path = "/api/v1/images/pull", tag = "images", security(("token" = [])), request_body = ImageRequest, responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn pull_image(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    ApiJson(req): ApiJson<ImageRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let creds = state.credentials();
    let outcome = berth_registry::images::pull(&*state.engine, &creds, &req.reference, &berth_engine::pull::NoProgress)
        .await
        .map_err(|e| ApiError::registry(format_args!("pulling `{}`", req.reference), &e))?;
    Ok(Json(serde_json::to_value(&outcome).unwrap_or_default()))
}

/// Asks the registry whether the local image is current (admins).
#[utoipa::path(get, path = "/api/v1/images/check", tag = "images", security(("token" = [])), params(ReferenceQuery), responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub async fn check_image(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Query(q): Query<ReferenceQuery>,
) -> ApiResult<Json<berth_registry::CheckReport>> {
    let client = state.registry_client().map_err(|e| ApiError::internal(e.to_string()))?;
    let creds = state.credentials();
    let report = berth_registry::images::check(&*state.engine, &client, &creds, &q.reference)
        .await
        .map_err(|e| ApiError::registry(format_args!("checking `{}`", q.reference), &e))?;
    Ok(Json(report))
}

/// Scans an image with the server's advisory database and keeps the report (admins).
#[utoipa::path(post, path = "/api/v1/images/scan", tag = "images", security(("token" = [])), request_body = ImageRequest, responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub async fn scan_image(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    ApiJson(req): ApiJson<ImageRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let Some(db) = state.opts.advisory_db.clone() else {
        return Err(ApiError::bad_request("the server has no advisory database")
            .hint("build one with `berth db update`, then restart `berth serve`"));
    };
    let target = berth_inventory::Target::Image(req.reference.clone());
    let sbom = berth_inventory::SbomOptions { engine: Some(state.engine.clone()), temp_dir: None };
    let limits = &state.opts.inventory_limits;
    let report = berth_scan::scan_with_limits(
        &target,
        &db,
        &sbom,
        limits,
        &berth_scan::ScanOptions { ignore_unfixed: false, max_db_age: state.opts.site.max_db_age() },
    )
    .await
    .map_err(|e| match &e {
        berth_scan::ScanError::Source(s) => ApiError::source(format_args!("scanning `{}`", req.reference), s),
        berth_scan::ScanError::Db(_) => {
            ApiError::internal(format!("scanning `{}`: {e}", req.reference)).maybe_hint(e.hint())
        }
    })?;
    let json = serde_json::to_string(&report).map_err(|e| ApiError::internal(e.to_string()))?;
    let image_id = state.engine.inspect_image(&req.reference).await.ok().flatten().map(|i| i.id);
    let store = state.store.clone();
    let reference = req.reference.clone();
    let stored = json.clone();
    blocking(move || Ok(store.add_scan(&reference, image_id.as_deref(), &stored)?)).await?;
    Ok(Json(
        serde_json::json!({"reference": req.reference, "counts": report.counts, "findings": report.findings.len()}),
    ))
}

/// The latest stored scan of an image (admins, like every image endpoint: a report lists the
/// image's packages and weaknesses).
#[utoipa::path(get, path = "/api/v1/images/scan", tag = "images", security(("token" = [])), params(ReferenceQuery), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn latest_scan(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Query(q): Query<ReferenceQuery>,
) -> ApiResult<Response> {
    let store = state.store.clone();
    let rec = blocking(move || Ok(store.latest_scan(&q.reference)?)).await?.ok_or_else(|| {
        ApiError::not_found("no scan of this image").hint("an admin scans it with POST /api/v1/images/scan")
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], rec.report_json).into_response())
}

/// The engines berth can reach (admins).
#[utoipa::path(get, path = "/api/v1/engines", tag = "service", security(("token" = [])), responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn engines(State(state): State<Arc<AppState>>, _caller: Admin) -> ApiResult<Json<serde_json::Value>> {
    let report = berth_engine::report::report(Some(state.engine_info.kind), None).await;
    Ok(Json(serde_json::to_value(&report).unwrap_or_default()))
}

/// Pipeline runs (admins; pipelines are run with `berth pipeline run`).
#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines", security(("token" = [])), responses((status = 200, body = Vec<Object>)))]
pub async fn list_pipelines(State(state): State<Arc<AppState>>, _caller: Admin) -> ApiResult<Json<serde_json::Value>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(serde_json::to_value(store.list_pipeline_runs(200)?).unwrap_or_default()))).await
}

/// One pipeline run with its tasks.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}", tag = "pipelines", security(("token" = [])), params(("id" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_pipeline(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(serde_json::to_value(store.get_pipeline_run(&id)?).unwrap_or_default()))).await
}

/// `?reference=&format=` for an SBOM.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SbomQuery {
    /// The image.
    pub reference: String,
    /// `json` (berth's), `cyclonedx`, `spdx` or `table`; default `cyclonedx`.
    pub format: Option<String>,
}

/// The package inventory of an image (admins): CycloneDX 1.5, SPDX 2.3, berth JSON or a table.
#[utoipa::path(get, path = "/api/v1/images/sbom", tag = "images", security(("token" = [])), params(SbomQuery), responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub async fn sbom(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Query(q): Query<SbomQuery>,
) -> ApiResult<Response> {
    let name = q.format.as_deref().unwrap_or("cyclonedx");
    let format: berth_inventory::report::Format = name.parse().map_err(|e: String| {
        ApiError::bad_request(format!("format: {e}")).hint("use json, cyclonedx, spdx or table")
    })?;
    let target = berth_inventory::Target::Image(q.reference.clone());
    let options = berth_inventory::SbomOptions { engine: Some(state.engine.clone()), temp_dir: None };
    let inventory = berth_inventory::sbom_with_limits(&target, &options, &state.opts.inventory_limits)
        .await
        .map_err(|e| ApiError::source(format_args!("reading `{}`", q.reference), &e))?;
    let text = berth_inventory::report::render(&inventory, format, &berth_inventory::report::DocumentMeta::now());
    let kind = if name == "table" { "text/plain; charset=utf-8" } else { "application/json" };
    Ok(([(header::CONTENT_TYPE, kind)], text).into_response())
}

/// A new name for an image.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    /// The image.
    pub source: String,
    /// The new `name:tag`.
    pub target: String,
}

/// Tags an image (admins).
#[utoipa::path(post, path = "/api/v1/images/tag", tag = "images", security(("token" = [])), request_body = TagRequest, responses((status = 204), (status = 400, body = ErrorBody)))]
pub async fn tag_image(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    ApiJson(req): ApiJson<TagRequest>,
) -> ApiResult<StatusCode> {
    berth_registry::Reference::parse(&req.target)
        .map_err(|e| ApiError::bad_request(format!("target: {e}")).hint("e.g. `lab/tool:1.2`"))?;
    state
        .engine
        .tag_image(&req.source, &req.target)
        .await
        .map_err(|e| ApiError::engine(format_args!("tagging `{}`", req.source), &e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?reference=&force=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// The image.
    pub reference: String,
    /// Remove it even if containers use it.
    pub force: Option<bool>,
}

/// Removes an image (admins).
#[utoipa::path(delete, path = "/api/v1/images", tag = "images", security(("token" = [])), params(RemoveQuery), responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub async fn remove_image(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<Json<berth_engine::RemovedImage>> {
    let removed = state
        .engine
        .remove_image(&q.reference, q.force.unwrap_or(false))
        .await
        .map_err(|e| ApiError::engine(format_args!("removing `{}`", q.reference), &e))?;
    Ok(Json(removed))
}

/// An archive to load.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// A docker-archive or OCI-archive: a path on the server, or an http(s) URL.
    pub source: String,
    /// Its expected SHA-256.
    #[serde(default)]
    pub sha256: Option<String>,
    /// A `name:tag` for the loaded image.
    #[serde(default)]
    pub tag: Option<String>,
}

/// Loads an image archive (admins): a path on the server or a URL (resumable, digest-checked).
#[utoipa::path(post, path = "/api/v1/images/import", tag = "images", security(("token" = [])), request_body = ImportRequest, responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub async fn import_image(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    ApiJson(req): ApiJson<ImportRequest>,
) -> ApiResult<Json<berth_registry::ImportOutcome>> {
    let source = berth_registry::ImportSource::parse(&req.source, req.sha256.as_deref())
        .map_err(|e| ApiError::bad_request(format!("sha256: {e}")))?;
    let client = state.registry_client().map_err(|e| ApiError::internal(e.to_string()))?;
    let downloads = state.store.home().join("downloads");
    let outcome = berth_registry::images::import(
        &*state.engine,
        &client,
        &downloads,
        &source,
        req.tag.as_deref(),
        &berth_registry::NoDownloadProgress,
    )
    .await
    .map_err(|e| ApiError::registry(format_args!("importing `{}`", req.source), &e))?;
    Ok(Json(outcome))
}

/// Filters for every run record (`GET /api/v1/records`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<u32>,
    /// Offset.
    pub offset: Option<u32>,
}

/// Every run record in the store, including runs made with the CLI and pipeline steps (admins).
#[utoipa::path(get, path = "/api/v1/records", tag = "runs", security(("token" = [])), params(RecordQuery), responses((status = 200, body = Vec<Object>), (status = 400, body = ErrorBody)))]
pub async fn list_records(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Query(q): Query<RecordQuery>,
) -> ApiResult<Json<Vec<berth_store::RunSummary>>> {
    let status = q
        .status
        .as_deref()
        .map(|s| s.parse::<RunStatus>().map_err(|e| ApiError::bad_request(format!("status: {e}"))))
        .transpose()?;
    let store = state.store.clone();
    blocking(move || {
        let filter = berth_store::RunFilter {
            status,
            tool: q.tool,
            limit: Some(q.limit.unwrap_or(50).clamp(1, 500)),
            offset: q.offset.unwrap_or(0),
            since: None,
        };
        Ok(Json(store.list_runs(&filter)?))
    })
    .await
}

/// One run record with its Boutiques execution record (admins; any run, by id or prefix).
#[utoipa::path(get, path = "/api/v1/records/{id}", tag = "runs", security(("token" = [])), params(("id" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_record(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(provenance(&store.get_run(&id)?)))).await
}

/// Starts a pipeline run from a pipeline file on the server (admins).
#[utoipa::path(post, path = "/api/v1/pipelines", tag = "pipelines", security(("token" = [])), request_body = crate::pipelines::PipelineRequest, responses((status = 202, body = crate::pipelines::PipelineStarted), (status = 400, body = ErrorBody)))]
pub async fn start_pipeline(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    ApiJson(req): ApiJson<crate::pipelines::PipelineRequest>,
) -> ApiResult<(StatusCode, Json<crate::pipelines::PipelineStarted>)> {
    let st = state.clone();
    blocking(move || Ok((StatusCode::ACCEPTED, Json(crate::pipelines::start(&st, req)?)))).await
}

#[cfg(test)]
mod tests {
    use super::read_log_chunk;

    #[test]
    fn log_chunks_follow_the_file_and_never_split_a_character() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("stdout");
        assert!(read_log_chunk(&p, 0).is_none(), "no file yet");
        std::fs::write(&p, b"caf\xc3").expect("write");
        assert_eq!(read_log_chunk(&p, 0), Some(("caf".to_owned(), 3)));
        std::fs::write(&p, "café\n".as_bytes()).expect("write");
        assert_eq!(read_log_chunk(&p, 3), Some(("é\n".to_owned(), 3)));
        assert!(read_log_chunk(&p, 6).is_none(), "nothing new");
        std::fs::write(&p, vec![b'x'; 300 * 1024]).expect("write");
        assert_eq!(read_log_chunk(&p, 0).map(|(_, n)| n), Some(256 * 1024));
    }
}
