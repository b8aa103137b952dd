//! Files: a project's data roots (browse) and a run's outputs (list, download, archive). The
//! rules (confinement, links, content types) are in [`crate::files`]; here, who may see what.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use berth_hostpath::Root;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::access::{visible_launch, visible_project};
use crate::api::blocking;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::files::{self, Listing};
use crate::state::AppState;

/// `?root=&path=` of a data-root listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BrowseQuery {
    /// Which of the project's data roots (0 = the first).
    pub root: Option<usize>,
    /// A directory relative to that root (default: the root).
    pub path: Option<String>,
}

/// A directory in a project's data root.
#[derive(Debug, Serialize)]
pub struct Browse {
    /// The project.
    pub project: String,
    /// The project's data roots.
    pub roots: Vec<String>,
    /// The root listed (its index).
    pub root: usize,
    /// The root's path on the server (a picked file's path is this joined with its `path`).
    pub root_path: String,
    /// The listing.
    #[serde(flatten)]
    pub listing: Listing,
}

/// Data root `index` (default 0) of a project the caller may see, opened: the project, the
/// index, the root's path and the root.
fn data_root(
    state: &AppState,
    caller: &berth_store::User,
    project: &str,
    index: Option<usize>,
) -> ApiResult<(berth_store::Project, usize, String, Root)> {
    let project = visible_project(&state.store, caller, project)?;
    let index = index.unwrap_or(0);
    let Some(root_path) = project.data_roots.get(index).cloned() else {
        return Err(ApiError::not_found(format!("project `{}` has no data root {index}", project.id))
            .hint(format!("it has {} data root(s), numbered from 0", project.data_roots.len())));
    };
    let root = Root::open(std::path::Path::new(&root_path))
        .map_err(|e| ApiError::unavailable(format!("the data root `{root_path}` cannot be opened: {e}")))?;
    Ok((project, index, root_path, root))
}

/// Lists a directory of a project's data root.
pub fn browse_project(
    state: &AppState,
    caller: &berth_store::User,
    project: &str,
    q: &BrowseQuery,
) -> ApiResult<Browse> {
    let (project, index, root_path, root) = data_root(state, caller, project, q.root)?;
    let listing = files::list(&root, &files::request_path(q.path.as_deref())?)?;
    Ok(Browse { project: project.id, roots: project.data_roots, root: index, root_path, listing })
}

/// A directory of a project's data roots (members; admins: any project). Links are listed, not
/// followed; DICOM and NIfTI files carry a header summary.
#[utoipa::path(get, path = "/api/v1/projects/{project}/files", tag = "projects", security(("token" = [])), params(("project" = String, Path), BrowseQuery), responses((status = 200, body = crate::files::Listing), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn browse(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(project): Path<String>,
    Query(q): Query<BrowseQuery>,
) -> ApiResult<Json<Browse>> {
    blocking(move || Ok(Json(browse_project(&state, &caller.0, &project, &q)?))).await
}

/// `?path=&inline=` of an output.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutputQuery {
    /// A path relative to the run's output directory.
    pub path: Option<String>,
    /// Show it in the page when it is text, PNG or JPEG (default: download).
    pub inline: Option<bool>,
}

/// The output directory of a launch the caller may see, opened as a root.
fn visible_outputs(state: &AppState, caller: &berth_store::User, id: &str) -> ApiResult<(berth_store::Launch, Root)> {
    let launch = visible_launch(&state.store, caller, id)?;
    let root = output_root(state, &launch)?;
    Ok((launch, root))
}

/// The output directory of a launch, opened as a root (404 while it has none).
pub fn output_root(state: &AppState, launch: &berth_store::Launch) -> ApiResult<Root> {
    let dir = berth_hostpath::join_component(&state.opts.output_root, &launch.project_id)
        .and_then(|d| berth_hostpath::join_component(&d, &launch.id))
        .map_err(|e| ApiError::internal(format!("the output directory of {}: {e}", launch.id)))?;
    Root::open(&dir).map_err(|_| ApiError::not_found(format!("run {} has no outputs (yet)", launch.id)))
}

/// A directory of a run's outputs.
#[utoipa::path(get, path = "/api/v1/runs/{id}/outputs", tag = "runs", security(("token" = [])), params(("id" = String, Path), OutputQuery), responses((status = 200, body = crate::files::Listing), (status = 404, body = ErrorBody)))]
pub async fn outputs(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<OutputQuery>,
) -> ApiResult<Json<Listing>> {
    blocking(move || {
        let (_, root) = visible_outputs(&state, &caller.0, &id)?;
        Ok(Json(files::list(&root, &files::request_path(q.path.as_deref())?)?))
    })
    .await
}

/// One output file, streamed (`inline=true`: shown in the page when it is text, PNG or JPEG).
#[utoipa::path(get, path = "/api/v1/runs/{id}/outputs/file", tag = "runs", security(("token" = [])), params(("id" = String, Path), OutputQuery), responses((status = 200, description = "the file", content_type = "application/octet-stream"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn output_file(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<OutputQuery>,
) -> ApiResult<Response> {
    blocking(move || {
        let (_, root) = visible_outputs(&state, &caller.0, &id)?;
        files::download(&root, &files::request_path(q.path.as_deref())?, q.inline.unwrap_or(false))
    })
    .await
}

/// Every output of a run as one tar archive, streamed while it is built.
#[utoipa::path(get, path = "/api/v1/runs/{id}/outputs/archive", tag = "runs", security(("token" = [])), params(("id" = String, Path)), responses((status = 200, description = "a tar archive", content_type = "application/x-tar"), (status = 404, body = ErrorBody)))]
pub async fn output_archive(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (root, name) = blocking(move || {
        let (launch, root) = visible_outputs(&state, &caller.0, &id)?;
        Ok((root, format!("{}-outputs", launch.id)))
    })
    .await?;
    Ok(files::archive(root, &name))
}

/// A grey PNG of the middle slice of a DICOM or NIfTI output (422 for other files).
#[utoipa::path(get, path = "/api/v1/runs/{id}/outputs/preview", tag = "runs", security(("token" = [])), params(("id" = String, Path), OutputQuery), responses((status = 200, description = "a PNG", content_type = "image/png"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn output_preview(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<OutputQuery>,
) -> ApiResult<Response> {
    blocking(move || {
        let (_, root) = visible_outputs(&state, &caller.0, &id)?;
        files::preview(&root, &files::request_path(q.path.as_deref())?)
    })
    .await
}

/// A grey PNG of the middle slice of a DICOM or NIfTI file in a project's data root.
#[utoipa::path(get, path = "/api/v1/projects/{project}/files/preview", tag = "projects", security(("token" = [])), params(("project" = String, Path), BrowseQuery), responses((status = 200, description = "a PNG", content_type = "image/png"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn file_preview(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(project): Path<String>,
    Query(q): Query<BrowseQuery>,
) -> ApiResult<Response> {
    blocking(move || {
        let (_, _, _, root) = data_root(&state, &caller.0, &project, q.root)?;
        files::preview(&root, &files::request_path(q.path.as_deref())?)
    })
    .await
}
