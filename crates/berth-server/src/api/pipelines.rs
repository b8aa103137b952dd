//! `/api/v1/pipelines`: pipeline runs started and followed through the server (admins).

// utoipa's `path` macro expands `params(SomeQuery)` into fully qualified paths.
#![allow(unused_qualifications)]

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::auth::Admin;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

use super::*;

/// Pipeline runs (admins; pipelines are run with `berth pipeline run`).
#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines", security(("token" = [])), responses((status = 200, body = Vec<berth_store::PipelineRunSummary>)))]
pub async fn list_pipelines(State(state): State<Arc<AppState>>, _caller: Admin) -> ApiResult<Json<serde_json::Value>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(serde_json::to_value(store.list_pipeline_runs(200)?).unwrap_or_default()))).await
}

/// One pipeline run with its tasks.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}", tag = "pipelines", security(("token" = [])), params(("id" = String, Path)), responses((status = 200, body = berth_store::PipelineRunRecord), (status = 404, body = ErrorBody)))]
pub async fn get_pipeline(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(serde_json::to_value(store.get_pipeline_run(&id)?).unwrap_or_default()))).await
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
