//! `berth serve`: the service. One process serves the REST API (`/api/v1`, described by
//! `/api/v1/openapi.json`), the XNAT-compatible subset (`/xapi`), the web UI (`/ui`), and
//! executes launches from the durable queue in the store with a pool of workers.
//!
//! Data flow: a request is checked for its origin and CSRF token and authenticated ([`auth`],
//! failures limited by [`limit`]), checked and prepared exactly as a worker
//! will prepare it ([`launch`]), and queued in the store; a worker ([`queue`]) claims it and
//! runs it with `berth_run::Runner` — the same code as `berth run` — so its provenance record
//! is an ordinary run labelled with the launch. The janitor finishes what a previous server
//! left behind. Pages ([`ui`]) and the API ([`api`]) read the same store.

pub mod access;
pub mod api;
pub mod audit;
pub mod auth;
pub mod dicom;
pub mod error;
pub mod files;
pub mod launch;
pub mod limit;
pub mod live;
pub mod openapi;
pub mod pipelines;
pub mod queue;
pub mod state;
pub mod ui;
pub mod xapi;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

pub use state::{AppState, SecurityOptions, ServeOptions};

async fn count_and_harden(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    state::Metrics::inc(&state.metrics.requests);
    let status = resp.status();
    if status.is_client_error() {
        state::Metrics::inc(&state.metrics.client_errors);
    } else if status.is_server_error() {
        state::Metrics::inc(&state.metrics.server_errors);
    }
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A handler may have set a stricter policy (file downloads are sandboxed).
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    ));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    resp
}

async fn openapi_json() -> Response {
    axum::Json(openapi::document()).into_response()
}

async fn not_found() -> error::ApiError {
    error::ApiError::not_found("no such endpoint").hint("see /api/v1/openapi.json")
}

/// Every route of the service.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/health", get(api::health))
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(openapi_json))
        .route("/me", get(api::me))
        .route("/tools", get(api::list_tools).post(api::add_tool))
        .route("/tools/validate", post(api::validate_tool))
        .route("/tools/import", post(api::import_tools))
        .route("/tools/{name}", get(api::get_tool).delete(api::remove_tool))
        .route("/tools/{name}/settings", put(api::site_setting))
        .route("/projects", get(api::list_projects).post(api::add_project))
        .route("/projects/{project}", get(api::get_project))
        .route("/projects/{project}/members/{user}", put(api::add_member).delete(api::remove_member))
        .route("/users", get(api::list_users).post(api::add_user))
        .route("/users/{name}/tokens", post(api::make_token))
        .route("/users/{name}/tokens/{prefix}", axum::routing::delete(api::revoke_token))
        .route("/projects/{project}/tools/{name}", put(api::project_setting))
        .route("/projects/{project}/sessions", post(api::start_session))
        .route("/sessions", get(api::list_sessions))
        .route("/sessions/{id}", get(api::get_session).delete(api::stop_session))
        .route("/sessions/{id}/exec", post(api::exec_session))
        .route("/projects/{project}/files", get(api::browse))
        .route("/projects/{project}/dicom", get(api::project_dicom))
        .route("/projects/{project}/files/preview", get(api::file_preview))
        .route("/projects/{project}/launch", post(api::launch))
        .route("/projects/{project}/bulk-launch", post(api::bulk_launch))
        .route("/runs", get(api::list_runs))
        .route("/runs/{id}", get(api::get_run))
        .route("/runs/{id}/logs/{stream}", get(api::logs))
        .route("/runs/{id}/logs/{stream}/live", get(api::live_logs))
        .route("/runs/{id}/kill", post(api::kill))
        .route("/runs/{id}/outputs", get(api::outputs))
        .route("/runs/{id}/outputs/file", get(api::output_file))
        .route("/runs/{id}/outputs/archive", get(api::output_archive))
        .route("/runs/{id}/outputs/preview", get(api::output_preview))
        .route("/images", get(api::list_images).delete(api::remove_image))
        .route("/images/sbom", get(api::sbom))
        .route("/images/tag", post(api::tag_image))
        .route("/images/import", post(api::import_image))
        .route("/records", get(api::list_records))
        .route("/records/{id}", get(api::get_record))
        .route("/records/{id}/logs/{stream}", get(api::record_logs))
        .route("/images/pull", post(api::pull_image))
        .route("/images/check", get(api::check_image))
        .route("/images/scan", get(api::latest_scan).post(api::scan_image))
        .route("/engines", get(api::engines))
        .route("/pipelines", get(api::list_pipelines).post(api::start_pipeline))
        .route("/pipelines/{id}", get(api::get_pipeline))
        .route("/audit", get(api::list_audit))
        .route("/audit/verify", get(api::verify_audit))
        .fallback(not_found);
    let xapi = Router::new()
        .route("/commands", get(xapi::list_commands).post(xapi::add_command))
        .route("/containers", get(xapi::list_containers))
        .route("/containers/{id}/logs/{stream}", get(xapi::container_logs))
        .route("/containers/{id}/kill", post(xapi::kill_container))
        .route("/projects/{project}/commands/{command}/wrappers/{wrapper}/launch", post(xapi::launch))
        .fallback(not_found);
    Router::new()
        .nest("/api/v1", api)
        .nest("/xapi", xapi)
        .route("/metrics", get(api::metrics))
        .route("/", get(ui::home))
        .route("/login", get(ui::login_page).post(ui::login))
        .route("/logout", post(ui::logout))
        .route("/ui", get(ui::home))
        .route("/ui/tools", get(ui::tools))
        .route("/ui/tools/{name}/launch", get(ui::launch_form))
        .route("/ui/runs", get(ui::runs))
        .route("/ui/runs/{id}", get(ui::run))
        .route("/ui/images", get(ui::images))
        .route("/ui/images/view", get(ui::image))
        .route("/ui/pipelines", get(ui::pipelines))
        .route("/ui/pipelines/start", get(ui::pipeline_start))
        .route("/ui/pipelines/{id}", get(ui::pipeline))
        .route("/ui/pipelines/{id}/report", get(ui::pipeline_report))
        .route("/ui/records", get(ui::records))
        .route("/ui/admin", get(ui::admin))
        .route("/ui/records/{id}", get(ui::record))
        .route("/ui/audit", get(ui::audit))
        .route("/ui/data", get(ui::data))
        .route("/ui/sessions", get(ui::sessions))
        .route("/ui/projects/{project}/files", get(ui::files))
        .route("/ui/projects/{project}/dicom", get(ui::dicom))
        .route("/assets/{name}", get(ui::asset))
        .fallback(ui::not_found_page)
        .layer(DefaultBodyLimit::max(state.opts.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        // Outside the guard, so that what it refuses is audited too.
        .layer(middleware::from_fn_with_state(state.clone(), audit::record))
        .layer(middleware::from_fn_with_state(state.clone(), count_and_harden))
        .with_state(state)
}

impl ServeError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ServeError::Bind { .. } => Some("is another server on that port? choose another with `--bind`".to_owned()),
            ServeError::Dicom(e) => e.hint(),
            ServeError::Serve(_) => None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the server failed")]
    Serve(#[source] std::io::Error),
    /// The DICOM node (`[dicom]`) could not start.
    #[error("the DICOM node could not start")]
    Dicom(#[source] berth_dicom::DicomError),
}

/// Serves until `state.shutdown` fires (the binary fires it on Ctrl+C or SIGTERM). Workers run
/// on their own thread; runs in progress keep their containers and are collected by the next
/// server.
pub async fn serve(state: Arc<AppState>) -> Result<(), ServeError> {
    let addr = state.opts.bind;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    // Checked before the server says it serves: a bad `[dicom]` stops it at once.
    let node = dicom::start(&state).map_err(ServeError::Dicom)?;
    tracing::info!(%local, "listening");
    eprintln!(
        "berth: serving on http://{local} ({} workers, engine {})",
        state.opts.workers,
        state.engine_info.kind.as_str()
    );
    let workers = queue::spawn(state.clone()).map_err(ServeError::Serve)?;
    let shutdown = state.shutdown.clone();
    let app = router(state.clone());
    // The peer address reaches handlers (the failed-sign-in limiter counts per address).
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    state.shutdown.cancel();
    node.stop().await;
    let _ = tokio::task::spawn_blocking(move || workers.join()).await;
    // A pipeline run's thread may be between staging a task's inputs and starting its
    // container: the process ends before it drops the stage, which would leave the binds.
    berth_run::inputs::release_own_stages(&state.store.home().join("stage"));
    served.map_err(ServeError::Serve)
}
