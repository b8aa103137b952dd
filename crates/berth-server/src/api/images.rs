//! `/api/v1/images`: the engine's images (admins): list, pull, check against the registry, scan, SBOM, tag, remove, import.

// utoipa's `path` macro expands `params(SomeQuery)` into fully qualified paths.
#![allow(unused_qualifications)]

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

use super::*;

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
    let limits = state.opts.site.inventory_limits();
    let report = berth_scan::scan_with_limits(
        &target,
        &db,
        &sbom,
        limits,
        &berth_scan::ScanOptions { max_db_age: state.opts.site.max_db_age(), ..Default::default() },
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
    let inventory = berth_inventory::sbom_with_limits(&target, &options, state.opts.site.inventory_limits())
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
