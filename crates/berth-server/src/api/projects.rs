//! `/api/v1/projects`: projects, members and per-project tool settings.

// utoipa's `path` macro expands `params(SomeQuery)` into fully qualified paths.
#![allow(unused_qualifications)]

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use berth_store::Project;

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

use super::*;
use crate::access::*;

/// The caller's projects.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", security(("token" = [])), responses((status = 200, body = Vec<Project>)))]
pub async fn list_projects(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Json<Vec<Project>>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(caller_projects(&store, &caller.0)?))).await
}

/// Creates a project.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", security(("token" = [])), request_body = ProjectRequest, responses((status = 201, body = Project), (status = 409, body = ErrorBody)))]
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
#[utoipa::path(get, path = "/api/v1/projects/{project}", tag = "projects", security(("token" = [])), params(("project" = String, Path)), responses((status = 200, body = Project), (status = 404, body = ErrorBody)))]
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

/// Removes a user from a project (admins).
#[utoipa::path(delete, path = "/api/v1/projects/{project}/members/{user}", tag = "projects", security(("token" = [])), params(("project" = String, Path), ("user" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Path((project, user)): Path<(String, String)>,
) -> ApiResult<Json<Project>> {
    let store = state.store.clone();
    blocking(move || {
        if !store.remove_member(&project, &user)? {
            return Err(ApiError::not_found(format!("`{user}` is not a member of project `{project}`")));
        }
        Ok(Json(store.get_project(&project)?))
    })
    .await
}
