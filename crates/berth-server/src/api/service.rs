//! The service itself: health, metrics, the caller, the engines.

// utoipa's `path` macro expands `params(SomeQuery)` into fully qualified paths.
#![allow(unused_qualifications)]

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::auth::{Admin, Caller};
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

use super::*;
use crate::access::*;

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
    let (counts, dicom) = blocking(move || Ok((store.launch_counts()?, store.dicom_totals()?))).await?;
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
    // What every DICOM node of this store received (`berth dicom listen`, docs/dicom.md),
    // from the store, so the figures hold across restarts and for nodes run apart.
    let _ = writeln!(
        out,
        "# HELP berth_dicom_instances DICOM instances received and stored.\n# TYPE berth_dicom_instances gauge\nberth_dicom_instances {}",
        dicom.instances
    );
    let _ = writeln!(
        out,
        "# HELP berth_dicom_bytes Bytes of the DICOM instances stored.\n# TYPE berth_dicom_bytes gauge\nberth_dicom_bytes {}",
        dicom.bytes
    );
    let _ = writeln!(
        out,
        "# HELP berth_dicom_associations DICOM associations by outcome.\n# TYPE berth_dicom_associations gauge\nberth_dicom_associations{{outcome=\"accepted\"}} {}\nberth_dicom_associations{{outcome=\"rejected\"}} {}",
        dicom.associations_accepted, dicom.associations_rejected
    );
    let _ = writeln!(
        out,
        "# HELP berth_dicom_sends Files sent to other DICOM nodes by outcome.\n# TYPE berth_dicom_sends gauge\nberth_dicom_sends{{outcome=\"stored\"}} {}\nberth_dicom_sends{{outcome=\"failed\"}} {}",
        dicom.sends_ok, dicom.sends_failed
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

/// The engines berth can reach (admins).
#[utoipa::path(get, path = "/api/v1/engines", tag = "service", security(("token" = [])), responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn engines(State(state): State<Arc<AppState>>, _caller: Admin) -> ApiResult<Json<serde_json::Value>> {
    let report = berth_engine::report::report(Some(state.engine_info.kind), None).await;
    Ok(Json(serde_json::to_value(&report).unwrap_or_default()))
}
