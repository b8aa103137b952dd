//! The service's side of the audit trail: which requests are audited and as what, and the
//! middleware that appends one entry per audited request after it is answered — who (filled in
//! by whatever authenticated the request: [`Caller`](crate::auth::Caller), the UI's session
//! check, the sign-in form), from where, what, on which object, and the outcome from the
//! status. The trail itself (chain, checks, retention) is berth-store's
//! ([`berth_store::audit`]).
//!
//! Audited: sign-in and sign-out, every request that carries an API token (refused ones too),
//! and, whoever makes them, reads of a run, its record or its logs, launches, kills, pipeline
//! starts and reads, changes to tools, projects, users and images, and reads of the audit trail
//! itself. Lists of runs are not (the runs page refreshes its list every 2 s); what a list shows
//! is in the audited reads. When the entry cannot be written the client gets a 500 instead of
//! the answer: data is not handed out unaudited.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::{Extensions, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_store::audit::{NewAuditEntry, Outcome, action, clip};

use crate::error::ApiError;
use crate::state::AppState;

/// Who made a request, as found by what authenticated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// The user's name.
    pub actor: String,
    /// `session`, or `token:<first 12 hex digits of the token's SHA-256>`.
    pub via: String,
}

/// The request's slot for [`Who`], put in its extensions by [`record`].
#[derive(Debug, Clone, Default)]
pub struct AuditSlot(Arc<Mutex<Option<Who>>>);

/// Says who made the request (a no-op for requests [`record`] did not see).
pub fn identify(extensions: &Extensions, actor: &str, via: impl Into<String>) {
    if let Some(slot) = extensions.get::<AuditSlot>() {
        *slot.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Who { actor: actor.to_owned(), via: via.into() });
    }
}

/// How a token shows in the trail: enough of its hash to tell tokens apart, never the token.
pub fn token_via(sha256: &str) -> String {
    format!("token:{}", sha256.get(..12).unwrap_or(sha256))
}

/// What a request is, for the trail: its action and object, or `None` when it is not audited
/// (it still is when it carries a token).
pub fn classify(method: &Method, path: &str) -> Option<(&'static str, Option<String>)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let change = !get;
    let obj = |kind: &str, id: &str| Some(format!("{kind}:{id}"));
    Some(match segs.as_slice() {
        ["login"] if method == Method::POST => (action::SIGN_IN, None),
        ["logout"] if method == Method::POST => (action::SIGN_OUT, None),
        // The REST API.
        ["api", "v1", "runs", id] if get => (action::VIEW, obj("run", id)),
        ["api", "v1", "runs", id, "logs", ..] if get => (action::LOG_VIEW, obj("run", id)),
        ["api", "v1", "runs", id, "kill"] if change => (action::KILL, obj("run", id)),
        ["api", "v1", "runs", id, "outputs"] if get => (action::VIEW, obj("run", id)),
        ["api", "v1", "runs", id, "outputs", ..] if get => (action::DOWNLOAD, obj("run", id)),
        ["api", "v1", "projects", p, "files"] if get => (action::BROWSE, obj("project", p)),
        ["api", "v1", "projects", p, "dicom"] if get => (action::BROWSE, obj("project", p)),
        ["api", "v1", "projects", p, "files", ..] if get => (action::DOWNLOAD, obj("project", p)),
        ["api", "v1", "records", id] if get => (action::VIEW, obj("run", id)),
        ["api", "v1", "records", id, "logs", ..] if get => (action::LOG_VIEW, obj("run", id)),
        ["api", "v1", "projects", p, "launch" | "bulk-launch" | "sessions"] if change => {
            (action::LAUNCH, obj("project", p))
        }
        ["api", "v1", "sessions", id, "exec"] if change => (action::LAUNCH, obj("session", id)),
        ["api", "v1", "sessions", id] if method == Method::DELETE => (action::KILL, obj("session", id)),
        ["api", "v1", "sessions", id] if get => (action::VIEW, obj("session", id)),
        ["api", "v1", "projects"] if change => (action::PROJECT_CHANGE, None),
        ["api", "v1", "projects", p, ..] if change => (action::PROJECT_CHANGE, obj("project", p)),
        ["api", "v1", "tools", "validate"] => return None,
        ["api", "v1", "tools", ..] if change => {
            (action::TOOL_CHANGE, segs.get(3).and_then(|n| (*n != "import").then(|| format!("tool:{n}"))))
        }
        ["api", "v1", "images", "sbom" | "check"] if get => return None,
        ["api", "v1", "images", ..] if change => (action::IMAGE_CHANGE, None),
        ["api", "v1", "pipelines"] if change => (action::PIPELINE, None),
        ["api", "v1", "pipelines", id] if get => (action::VIEW, obj("pipeline", id)),
        ["api", "v1", "users", ..] if change => (action::USER_CHANGE, segs.get(3).map(|u| format!("user:{u}"))),
        ["api", "v1", "audit", ..] => (action::VIEW, Some("audit".to_owned())),
        // The XNAT-compatible endpoints.
        ["xapi", "projects", p, .., "launch"] if change => (action::LAUNCH, obj("project", p)),
        ["xapi", "containers", id, "logs", ..] if get => (action::LOG_VIEW, obj("run", id)),
        ["xapi", "containers", id, "kill"] if change => (action::KILL, obj("run", id)),
        ["xapi", "commands"] if change => (action::TOOL_CHANGE, None),
        // Pages.
        ["ui", "runs", id] if get => (action::VIEW, obj("run", id)),
        ["ui", "pipelines", "start"] => return None,
        ["ui", "pipelines", id, ..] if get => (action::VIEW, obj("pipeline", id)),
        ["ui", "records", id] if get => (action::VIEW, obj("run", id)),
        ["ui", "audit"] if get => (action::VIEW, Some("audit".to_owned())),
        ["ui", "projects", p, "files"] if get => (action::BROWSE, obj("project", p)),
        ["ui", "projects", p, "dicom"] if get => (action::BROWSE, obj("project", p)),
        _ => return None,
    })
}

/// The middleware: gives the request an [`AuditSlot`], answers it, and appends the entry.
pub async fn record(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(|q| clip(q, 2048));
    let with_token = req.headers().contains_key(axum::http::header::AUTHORIZATION);
    let classified = classify(&method, &path);
    if classified.is_none() && !with_token {
        return next.run(req).await;
    }
    let address = crate::auth::request_address(req.headers(), req.extensions(), &state.opts.security);
    let slot = AuditSlot::default();
    req.extensions_mut().insert(slot.clone());
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let who = slot.0.lock().unwrap_or_else(PoisonError::into_inner).take();
    let (what, object) = classified.unwrap_or((action::TOKEN_USE, None));
    let (actor, via) = match who {
        Some(w) => (w.actor, w.via),
        None if with_token => ("anonymous".to_owned(), "token".to_owned()),
        None => ("anonymous".to_owned(), "none".to_owned()),
    };
    let entry = NewAuditEntry::new(actor, via, what, Outcome::of_http_status(status)).address(address).detail(
        serde_json::json!({"method": method.as_str(), "path": clip(&path, 2048), "query": query, "status": status}),
    );
    let entry = match object {
        Some(o) => entry.object(o),
        None => entry,
    };
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.audit(&entry)).await {
        Ok(Ok(_)) => resp,
        Ok(Err(e)) => {
            tracing::error!(error = %e, %path, "the audit trail cannot be written; the answer is withheld");
            ApiError::internal("the audit trail cannot be written; nothing was handed out").into_response()
        }
        Err(e) => ApiError::internal(format!("writing the audit trail: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified() {
        let c = |m: Method, p: &str| classify(&m, p).map(|(a, o)| (a, o.unwrap_or_default()));
        assert_eq!(c(Method::GET, "/api/v1/runs/abc/logs/stdout/live"), Some((action::LOG_VIEW, "run:abc".into())));
        assert_eq!(c(Method::POST, "/api/v1/runs/abc/kill"), Some((action::KILL, "run:abc".into())));
        assert_eq!(c(Method::POST, "/api/v1/projects/p1/launch"), Some((action::LAUNCH, "project:p1".into())));
        assert_eq!(
            c(Method::PUT, "/api/v1/projects/p1/members/bob"),
            Some((action::PROJECT_CHANGE, "project:p1".into()))
        );
        assert_eq!(c(Method::DELETE, "/api/v1/tools/fsl"), Some((action::TOOL_CHANGE, "tool:fsl".into())));
        assert_eq!(
            c(Method::POST, "/xapi/projects/p/commands/c/wrappers/w/launch"),
            Some((action::LAUNCH, "project:p".into()))
        );
        assert_eq!(c(Method::GET, "/ui/runs/abc"), Some((action::VIEW, "run:abc".into())));
        // What the DICOM node received (patient IDs among it) is a browse of the project.
        assert_eq!(c(Method::GET, "/api/v1/projects/p/dicom"), Some((action::BROWSE, "project:p".into())));
        assert_eq!(c(Method::GET, "/ui/projects/p/dicom"), Some((action::BROWSE, "project:p".into())));
        assert_eq!(c(Method::POST, "/login"), Some((action::SIGN_IN, String::new())));
        // Lists and static things are not audited (unless a token is used).
        assert_eq!(c(Method::GET, "/api/v1/runs"), None);
        assert_eq!(c(Method::GET, "/ui/runs"), None);
        assert_eq!(c(Method::GET, "/assets/app.js"), None);
        assert_eq!(c(Method::POST, "/api/v1/tools/validate"), None);
    }

    #[test]
    fn tokens_show_as_a_short_hash() {
        assert_eq!(token_via(&"ab".repeat(32)), "token:abababababab");
    }
}
