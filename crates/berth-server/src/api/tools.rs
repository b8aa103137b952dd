//! `/api/v1/tools`: the tool registry (admins change it; users see the tools enabled in their projects).

// utoipa's `path` macro expands `params(SomeQuery)` into fully qualified paths.
#![allow(unused_qualifications)]

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use berth_store::Store;

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody, Problem};
use crate::launch::problems_of;
use crate::state::AppState;

use super::*;
use crate::access::*;

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
