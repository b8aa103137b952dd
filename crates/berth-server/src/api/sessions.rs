//! Tool sessions through the service: started in a project with the launch rules (the tool
//! enabled there, File inputs inside its data roots, the site's gate), used by the project's
//! members, recorded step by step as on the command line (berth-run's `session`). What a user
//! may run in one is the site's rule (`[serve] session_commands`): the tool's own command for an
//! invocation, or any command.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::{LogChunk, LogStreamKind};
use berth_run::session::{self, ExecRequest, SessionError, StartOptions};
use berth_store::{SessionStep, ToolSessionRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{visible_project, visible_session, visible_sessions};
use crate::api::ApiJson;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::launch::{LaunchRequest, enabled_defaults, prepare_launch, resolve_tool};
use crate::state::AppState;

/// A session to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// The tool.
    pub tool: String,
    /// Its version (default: the newest registered).
    #[serde(default)]
    pub version: Option<String>,
    /// The invocation whose File inputs the session mounts (inside the project's data roots).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// Seconds without a command after which it ends (default 1800).
    #[serde(default)]
    pub idle_timeout_secs: Option<u64>,
}

/// A command for a session: the tool's own for `inputs`, or `command` (when the site allows).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecBody {
    /// The invocation to run the tool's own command for.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: Option<serde_json::Map<String, serde_json::Value>>,
    /// A command and its arguments.
    #[serde(default)]
    pub command: Option<Vec<String>>,
}

/// A session with its steps.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDetail {
    /// The session.
    pub session: ToolSessionRecord,
    /// Its steps.
    pub steps: Vec<SessionStep>,
}

fn session_error(e: SessionError) -> ApiError {
    let hint = e.hint();
    match e {
        SessionError::Run(berth_run::RunError::Engine(en)) | SessionError::Engine(en) => {
            ApiError::engine("the session's container", &en)
        }
        SessionError::Run(berth_run::RunError::Store(s)) => ApiError::from(s),
        SessionError::Run(r @ (berth_run::RunError::Input(_) | berth_run::RunError::Gate(_))) => {
            let hint = r.hint();
            ApiError::new(StatusCode::FORBIDDEN, r.to_string()).maybe_hint(hint)
        }
        SessionError::Run(r) => {
            let hint = r.hint();
            ApiError::unavailable(r.to_string()).maybe_hint(hint)
        }
        SessionError::Store(s) => ApiError::from(s),
        SessionError::NotRunning { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()).maybe_hint(hint),
        SessionError::Invalid { .. } => ApiError::bad_request(e.to_string()).maybe_hint(hint),
    }
}

fn launch_request(
    tool: &str,
    version: Option<String>,
    inputs: serde_json::Map<String, serde_json::Value>,
) -> LaunchRequest {
    LaunchRequest { tool: tool.to_owned(), version, inputs, mounts: Default::default(), dry_run: false }
}

/// Starts a session of a tool in a project (members).
#[utoipa::path(post, path = "/api/v1/projects/{project}/sessions", tag = "sessions", security(("token" = [])), params(("project" = String, Path)), request_body = SessionRequest, responses((status = 201, body = ToolSessionRecord), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn start_session(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(project): Path<String>,
    ApiJson(req): ApiJson<SessionRequest>,
) -> ApiResult<(StatusCode, Json<ToolSessionRecord>)> {
    let st = state.clone();
    let user = caller.0.clone();
    let job = crate::api::blocking(move || {
        let project = visible_project(&st.store, &user, &project)?;
        let tool = resolve_tool(&st.store, &req.tool, req.version.as_deref())?;
        let defaults = enabled_defaults(&st.store, &project, tool.name())?;
        let dir_name = format!("session-{}", uuid_like());
        let output_dir = berth_hostpath::join_component(&st.opts.output_root, &project.id)
            .and_then(|d| berth_hostpath::join_component(&d, &dir_name))
            .map_err(|e| ApiError::internal(format!("the session's output directory: {e}")))?;
        std::fs::create_dir_all(&output_dir)
            .map_err(|e| ApiError::internal(format!("creating {}: {e}", output_dir.display())))?;
        let job = prepare_launch(
            &st,
            &project,
            &tool,
            &launch_request(&req.tool, req.version.clone(), req.inputs),
            &defaults,
            output_dir,
        )?;
        Ok((job, project.id, req.idle_timeout_secs))
    })
    .await?;
    let (job, project, idle) = job;
    let opts = StartOptions {
        idle_timeout: std::time::Duration::from_secs(idle.unwrap_or(1800)),
        mounts: Vec::new(),
        created_by: caller.0.name.clone(),
        project: Some(project),
    };
    let s = session::start(&state.runner(Default::default()), &job, &opts).await.map_err(session_error)?;
    Ok((StatusCode::CREATED, Json(s)))
}

fn uuid_like() -> String {
    berth_store::RunId::generate().as_str().to_owned()
}

/// Sessions the caller may use (their projects'; admins: all), newest first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", security(("token" = [])), responses((status = 200, body = Vec<ToolSessionRecord>)))]
pub async fn list_sessions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<ToolSessionRecord>>> {
    crate::api::blocking(move || Ok(Json(visible_sessions(&state.store, &caller.0)?))).await
}

/// A session and its steps.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", security(("token" = [])), params(("id" = String, Path)), responses((status = 200, body = SessionDetail), (status = 404, body = ErrorBody)))]
pub async fn get_session(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionDetail>> {
    crate::api::blocking(move || {
        let session = visible_session(&state.store, &caller.0, &id)?;
        let steps = state.store.session_steps(&session.id)?;
        Ok(Json(SessionDetail { session, steps }))
    })
    .await
}

/// Runs a command in a session and waits for it: the tool's own for `inputs`, or `command`
/// when the site allows any (`[serve] session_commands`). The step (exit code, output, changes);
/// with `Accept: application/x-ndjson`, the output as it comes, one [`ExecEvent`] per line, the
/// step last.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/exec", tag = "sessions", security(("token" = [])), params(("id" = String, Path)), request_body = ExecBody, responses((status = 200, content((SessionStep = "application/json"), (ExecEvent = "application/x-ndjson"))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn exec_session(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ExecBody>,
) -> ApiResult<Response> {
    let st = state.clone();
    let user = caller.0.clone();
    let (s, req) = crate::api::blocking(move || {
        let s = visible_session(&st.store, &user, &id)?;
        let req = match (body.inputs, body.command) {
            (Some(inputs), None) => {
                let project = match &s.new.project_id {
                    Some(p) => st.store.get_project(p)?,
                    None => return Err(ApiError::bad_request("this session was started on the command line; use `berth session exec`")),
                };
                let tool = resolve_tool(&st.store, &s.new.tool_name, Some(&s.new.tool_version))?;
                let defaults = enabled_defaults(&st.store, &project, tool.name())?;
                let job = prepare_launch(
                    &st,
                    &project,
                    &tool,
                    &launch_request(&s.new.tool_name, Some(s.new.tool_version.clone()), inputs.clone()),
                    &defaults,
                    std::path::PathBuf::from(&s.new.output_dir),
                )?;
                let argv = session::tool_command(&s, &job).map_err(session_error)?;
                ExecRequest { argv, invocation_json: Some(serde_json::Value::Object(inputs).to_string()) }
            }
            (None, Some(command)) => {
                let any = st.opts.site.config().serve.session_any_command(&s.new.tool_name).map_err(|e| ApiError::internal(e.to_string()))?;
                if !any {
                    return Err(ApiError::forbidden(format!(
                        "this site runs only the tool's own command in sessions of `{}`",
                        s.new.tool_name
                    ))
                    .hint("send `inputs` for the tool's command; an admin allows any command with `[serve] session_commands` or `session_command_tools`"));
                }
                ExecRequest { argv: command, invocation_json: None }
            }
            _ => return Err(ApiError::bad_request("give either `inputs` (the tool's own command) or `command`")),
        };
        Ok((s, req))
    })
    .await?;
    if wants_ndjson(&headers) {
        return Ok(stream_exec(state, s, req));
    }
    let step = session::exec(&*state.engine, &state.store, &s, &req, &mut |_| {}).await.map_err(session_error)?;
    Ok(Json(step).into_response())
}

/// One line of a streamed exec (`Accept: application/x-ndjson`): output as it comes (`stream`
/// and `data`), then the recorded step, or the error that ended it.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ExecEvent {
    /// `stdout` or `stderr`, for output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<&'static str>,
    /// The output (UTF-8; invalid bytes replaced, a character split across chunks kept whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The step as recorded, last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<SessionStep>,
    /// Why it could not run, last (in place of `step`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// With `error`: the HTTP status it would have had, had it come before the stream began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-ndjson")))
}

/// Text of a stream's chunks: complete UTF-8 characters now, an incomplete one kept for the
/// next chunk (a chunk boundary may fall inside a character).
#[derive(Default)]
struct Utf8Carry(Vec<u8>);

impl Utf8Carry {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.0.extend_from_slice(bytes);
        let keep = match std::str::from_utf8(&self.0) {
            Ok(_) => 0,
            // An incomplete sequence at the very end: keep it (at most 3 bytes).
            Err(e) if e.error_len().is_none() => self.0.len() - e.valid_up_to(),
            Err(_) => 0,
        };
        let tail = self.0.split_off(self.0.len() - keep);
        let text = String::from_utf8_lossy(&self.0).into_owned();
        self.0 = tail;
        text
    }

    fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.0).into_owned();
        self.0.clear();
        text
    }
}

fn ndjson_line(event: &ExecEvent) -> bytes::Bytes {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    line.into()
}

/// Runs the step in a task of its own (a client that goes away does not cut it short: it is
/// recorded all the same) and streams its output as lines of JSON.
fn stream_exec(state: Arc<AppState>, s: ToolSessionRecord, req: ExecRequest) -> Response {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<bytes::Bytes>();
    tokio::spawn(async move {
        let (mut out, mut err) = (Utf8Carry::default(), Utf8Carry::default());
        let sender = tx.clone();
        let mut emit = |chunk: &LogChunk| {
            let (name, carry) =
                if chunk.stream == LogStreamKind::Stderr { ("stderr", &mut err) } else { ("stdout", &mut out) };
            let data = carry.push(&chunk.bytes);
            if !data.is_empty() {
                let _ =
                    sender.send(ndjson_line(&ExecEvent { stream: Some(name), data: Some(data), ..Default::default() }));
            }
        };
        let result = session::exec(&*state.engine, &state.store, &s, &req, &mut emit).await;
        for (name, carry) in [("stdout", &mut out), ("stderr", &mut err)] {
            let data = carry.finish();
            if !data.is_empty() {
                let _ = tx.send(ndjson_line(&ExecEvent { stream: Some(name), data: Some(data), ..Default::default() }));
            }
        }
        let last = match result {
            Ok(step) => ExecEvent { step: Some(step), ..Default::default() },
            Err(e) => {
                let e = session_error(e);
                ExecEvent { error: Some(e.body), status: Some(e.status.as_u16()), ..Default::default() }
            }
        };
        let _ = tx.send(ndjson_line(&last));
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, std::convert::Infallible>(line), rx))
    });
    ([(header::CONTENT_TYPE, "application/x-ndjson"), (header::CACHE_CONTROL, "no-store")], Body::from_stream(stream))
        .into_response()
}

/// Stops a session and removes its container.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions", security(("token" = [])), params(("id" = String, Path)), responses((status = 200, body = ToolSessionRecord), (status = 404, body = ErrorBody)))]
pub async fn stop_session(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ToolSessionRecord>> {
    let st = state.clone();
    let user = caller.0.clone();
    let s = crate::api::blocking(move || visible_session(&st.store, &user, &id)).await?;
    if !s.status.is_terminal() {
        session::stop(&*state.engine, &state.store, &s, &caller.0.name).await.map_err(session_error)?;
    }
    Ok(Json(state.store.get_tool_session(&s.id)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_chunks_is_sent_whole() {
        let mut c = Utf8Carry::default();
        let text = "é€😀";
        let bytes = text.as_bytes();
        let mut out = String::new();
        for b in bytes {
            out.push_str(&c.push(std::slice::from_ref(b)));
        }
        out.push_str(&c.finish());
        assert_eq!(out, text);
        // Invalid bytes are replaced, not held back.
        assert_eq!(c.push(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn ndjson_is_asked_for_by_accept() {
        let mut h = HeaderMap::new();
        assert!(!wants_ndjson(&h));
        h.insert(header::ACCEPT, "application/json, application/x-ndjson;q=0.9".parse().expect("header"));
        assert!(wants_ndjson(&h));
    }
}
