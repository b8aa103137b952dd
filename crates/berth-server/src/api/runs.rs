//! `/api/v1/projects/{project}/launch` and `/api/v1/runs`: launches (one or bulk), their runs, logs (downloaded and live), kill; and the provenance records (admins).

// utoipa's `path` macro expands `params(SomeQuery)` into fully qualified paths.
#![allow(unused_qualifications)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use berth_store::{Launch, LaunchFilter, RunStatus, Store, new_launch_id};
use futures_util::Stream;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::launch::LaunchRequest;
use crate::state::{AppState, Metrics};

use super::*;
use crate::access::*;
use crate::launch::{accept_launch, kill_launch};

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

/// A stored run's log, whoever made the run (admins): command-line runs and pipeline tasks
/// included. Streamed.
#[utoipa::path(get, path = "/api/v1/records/{id}/logs/{stream}", tag = "runs", security(("token" = [])), params(("id" = String, Path), ("stream" = String, Path, description = "stdout or stderr")), responses((status = 200, description = "the log", content_type = "text/plain"), (status = 404, body = ErrorBody)))]
pub async fn record_logs(
    State(state): State<Arc<AppState>>,
    _caller: Admin,
    Path((id, stream)): Path<(String, String)>,
) -> ApiResult<Response> {
    let stream = stream_name(&stream)?;
    let store = state.store.clone();
    let (run, path) = blocking(move || {
        let run = store.resolve_run_id(&id)?;
        let (out, err) = store.log_paths(&run);
        Ok((run, if stream == "stdout" { out } else { err }))
    })
    .await?;
    let body = match tokio::fs::File::open(&path).await {
        Ok(f) => axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024)),
        Err(_) => axum::body::Body::empty(),
    };
    let disposition = format!("inline; filename=\"{}-{stream}.log\"", run.as_str());
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
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
