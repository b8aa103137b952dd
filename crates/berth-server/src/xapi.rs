//! The XNAT Container Service subset, so that scripts written for XNAT keep working:
//!
//! | XNAT                                                             | berth                          |
//! |------------------------------------------------------------------|--------------------------------|
//! | `GET /xapi/commands`                                             | registered XNAT Commands       |
//! | `POST /xapi/commands` (body: a Command)                          | registers it; answers its id   |
//! | `GET /xapi/containers`                                           | launches, in XNAT's shape      |
//! | `GET /xapi/containers/{id}/logs/{stdout,stderr}`                 | the run's log                  |
//! | `POST /xapi/containers/{id}/kill`                                | stops it                       |
//! | `POST /xapi/projects/{p}/commands/{c}/wrappers/{w}/launch`       | queues a launch                |
//!
//! Differences (docs/service.md lists them for users): command ids are berth's registry row
//! ids; wrappers are not resolved against XNAT archive objects (berth has no archive), so the
//! launch body holds the Command's input values directly (JSON, or form fields), plus
//! `mounts` for read-only mounts; statuses are XNAT's words for berth's (`Created`, `Running`,
//! `Complete`, `Failed`, `Killed`); the same tokens as the rest of the API authenticate.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_store::{Launch, LaunchFilter, ToolKind};

use crate::access::visible_projects;
use crate::api::blocking;
use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ApiResult};
use crate::launch::LaunchRequest;
use crate::launch::{accept_launch, kill_launch};
use crate::state::{AppState, Metrics};

/// XNAT's status words.
fn xnat_status(l: &Launch) -> &'static str {
    match l.status() {
        "queued" | "starting" => "Created",
        "running" => "Running",
        "succeeded" => "Complete",
        "cancelled" => "Killed",
        _ => "Failed",
    }
}

/// The registered XNAT Commands with their ids.
fn commands(state: &AppState) -> ApiResult<Vec<(i64, berth_store::ToolRecord)>> {
    let tools = state.store.list_tools()?;
    Ok(tools.into_iter().filter(|t| t.tool.kind == ToolKind::Xnat).map(|t| (command_id(&t), t)).collect())
}

/// A stable id for a Command: from its name and version (XNAT's are database row ids; any
/// stable positive number does for scripts that read them back from `GET /xapi/commands`).
fn command_id(t: &berth_store::ToolRecord) -> i64 {
    let h = berth_store::hash::sha256_hex(format!("{}@{}", t.tool.name, t.tool.version).as_bytes());
    i64::from_str_radix(&h[..12], 16).unwrap_or(0)
}

/// `GET /xapi/commands`.
pub async fn list_commands(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let st = state.clone();
    blocking(move || {
        // Users see the Commands they can launch in one of their projects; admins all.
        let launchable: Vec<(String, String)> =
            crate::access::visible_tools(&st.store, &caller.0)?.into_iter().map(|v| (v.name, v.version)).collect();
        let visible: Vec<_> = commands(&st)?
            .into_iter()
            .filter(|(_, t)| launchable.iter().any(|(n, v)| n == &t.tool.name && v == &t.tool.version))
            .collect();
        let list = visible
            .into_iter()
            .map(|(id, t)| {
                let mut v: serde_json::Value = serde_json::from_str(&t.tool.descriptor_json).unwrap_or_default();
                if let serde_json::Value::Object(m) = &mut v {
                    m.insert("id".into(), id.into());
                }
                v
            })
            .collect();
        Ok(Json(list))
    })
    .await
}

/// `POST /xapi/commands`: registers a Command; answers its id as text, like XNAT.
pub async fn add_command(State(state): State<Arc<AppState>>, _caller: Admin, body: Bytes) -> ApiResult<Response> {
    let text = String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad_request("the Command is not UTF-8 text"))?;
    let st = state.clone();
    blocking(move || {
        let tool = berth_run::tool::load_text(text, "the request body").map_err(|e| {
            ApiError::bad_request(e.to_string())
                .problems(e.problems().map(crate::launch::problems_of).unwrap_or_default())
        })?;
        if tool.kind() != ToolKind::Xnat {
            return Err(ApiError::bad_request("the body is not an XNAT Command")
                .hint("register Boutiques descriptors with POST /api/v1/tools"));
        }
        st.store.add_tool(&tool.to_new_tool("xapi"), true)?;
        let id = commands(&st)?
            .into_iter()
            .find(|(_, t)| t.tool.name == tool.name() && t.tool.version == tool.version())
            .map(|(id, _)| id)
            .unwrap_or(0);
        Ok((StatusCode::CREATED, id.to_string()).into_response())
    })
    .await
}

/// `GET /xapi/containers`.
pub async fn list_containers(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let st = state.clone();
    blocking(move || {
        let projects = visible_projects(&st.store, &caller.0)?;
        let (items, _) = st.store.list_launches(&LaunchFilter { projects, limit: 10_000, ..Default::default() })?;
        Ok(Json(
            items
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "id": l.id,
                        "status": xnat_status(l),
                        "project": l.project_id,
                        "user-id": l.user_name,
                        "command-name": l.tool_name,
                        "command-version": l.tool_version,
                        "container-id": l.container_id,
                        "exit-code": l.exit_code.map(|c| c.to_string()),
                        "status-time": l.finished_at.clone().unwrap_or_else(|| l.created_at.clone()),
                        "created": l.created_at,
                        "run-id": l.run_id,
                    })
                })
                .collect(),
        ))
    })
    .await
}

/// `GET /xapi/containers/{id}/logs/{stdout|stderr}`.
pub async fn container_logs(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, stream)): Path<(String, String)>,
) -> ApiResult<Response> {
    crate::api::logs(State(state), caller, Path((id, stream))).await
}

/// `POST /xapi/containers/{id}/kill`: answers the id, like XNAT.
pub async fn kill_container(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let launch = kill_launch(&state, &caller.0, &id).await?;
    Ok((StatusCode::OK, launch.id).into_response())
}

/// `POST /xapi/projects/{project}/commands/{command}/wrappers/{wrapper}/launch`: the body is
/// the Command's input values (JSON object, or form fields), optionally with `mounts`.
pub async fn launch(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((project, command, _wrapper)): Path<(String, i64, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let mut inputs: serde_json::Map<String, serde_json::Value> = if is_form {
        url_form(&body)
    } else if body.is_empty() {
        serde_json::Map::new()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("malformed JSON: {e}"))
                .hint("send the Command's input values as one JSON object")
        })?
    };
    let mounts: BTreeMap<String, String> = match inputs.remove("mounts") {
        Some(v) => serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("mounts: {e}")))?,
        None => BTreeMap::new(),
    };
    let st = state.clone();
    blocking(move || {
        let Some((_, tool)) = commands(&st)?.into_iter().find(|(id, _)| *id == command) else {
            return Err(ApiError::not_found(format!("no command {command}")).hint("GET /xapi/commands lists them"));
        };
        let req = LaunchRequest { tool: tool.tool.name.clone(), version: Some(tool.tool.version.clone()), inputs, mounts, dry_run: false };
        let (new, _) = accept_launch(&st, &caller.0, &project, req, None)?;
        st.store.enqueue_launches(std::slice::from_ref(&new))?;
        Metrics::inc(&st.metrics.launches);
        st.wake.notify_one();
        let body = serde_json::json!({"status": "success", "type": "container", "container-id": new.id, "workflow-id": new.id});
        Ok((StatusCode::OK, Json(body)).into_response())
    })
    .await
}

fn url_form(body: &[u8]) -> serde_json::Map<String, serde_json::Value> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    pairs.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect()
}
