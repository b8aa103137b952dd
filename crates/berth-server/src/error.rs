//! API errors: every failure is JSON `{"error": ..., "hint": ..., "problems": [...]}` with the
//! status that says whose fault it is, and a message that names the field or object.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_store::StoreError;
use serde::Serialize;

/// One problem with a request body (a descriptor or inputs), with where it is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A JSON pointer (or input id) naming the field.
    pub at: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, in one sentence.
    pub error: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Each problem found, for validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
    /// Seconds to send in `Retry-After` (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody { error: message.into(), hint: None, problems: Vec::new() },
            retry_after: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> ApiError {
        self.body.hint = Some(hint.into());
        self
    }

    /// Adds a hint when there is one.
    pub fn maybe_hint(self, hint: Option<String>) -> ApiError {
        match hint {
            Some(h) => self.hint(h),
            None => self,
        }
    }

    /// Adds problems.
    pub fn problems(mut self, problems: Vec<Problem>) -> ApiError {
        self.body.problems = problems;
        self
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: also what a user gets for another project's objects, so that their existence is
    /// not revealed.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, what)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 500, for failures of the store or the engine; logged.
    pub fn internal(message: impl Into<String>) -> ApiError {
        let message = message.into();
        tracing::error!(%message, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 429 with `Retry-After` (whole seconds, at least one).
    pub fn too_many(message: impl Into<String>, wait: std::time::Duration) -> ApiError {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, message);
        e.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        e
    }

    /// 503: the engine is not reachable.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let hint = e.hint();
        let err = match &e {
            StoreError::NotFound { .. } | StoreError::RunNotFound { .. } | StoreError::NoSuchTool { .. } => {
                ApiError::not_found(e.to_string())
            }
            StoreError::AlreadyExists { .. } | StoreError::ToolConflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            StoreError::InvalidName { .. }
            | StoreError::AmbiguousTool { .. }
            | StoreError::AmbiguousRunId { .. }
            | StoreError::RunIdTooShort { .. }
            | StoreError::InvalidRunId { .. } => ApiError::bad_request(e.to_string()),
            _ => {
                let mut chain = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    chain.push_str(": ");
                    chain.push_str(&s.to_string());
                    source = s.source();
                }
                ApiError::internal(chain)
            }
        };
        err.maybe_hint(hint)
    }
}

/// The status of an engine failure: the engine's fault (502), not the client's (400); 503 when
/// it cannot be reached; 404 for what it does not have; 409 for a conflict it reports.
pub fn engine_status(e: &berth_engine::EngineError) -> StatusCode {
    use berth_engine::EngineError as E;
    match e {
        E::Unreachable { .. } | E::Endpoint(_) | E::ApiTooOld { .. } => StatusCode::SERVICE_UNAVAILABLE,
        E::ImageNotFound { .. } | E::ContainerNotFound { .. } => StatusCode::NOT_FOUND,
        E::Api { status_code: 404, .. } => StatusCode::NOT_FOUND,
        E::Api { status_code: 409, .. } => StatusCode::CONFLICT,
        E::Api { status_code: 400, .. } | E::InvalidSpec { .. } => StatusCode::BAD_REQUEST,
        E::Pull { status_code: Some(404), .. } => StatusCode::NOT_FOUND,
        E::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// The status of a registry failure: a reference that does not parse or a refused address is
/// the client's (400); a registry that refuses, cannot be reached or answers nonsense is an
/// upstream failure (502); what it does not have is 404.
pub fn registry_status(e: &berth_registry::RegistryError) -> StatusCode {
    use berth_registry::RegistryError as R;
    match e {
        R::Reference(_)
        | R::PrivateAddress { .. }
        | R::DigestMismatch { .. }
        | R::HostileArchive { .. }
        | R::Archive { .. } => StatusCode::BAD_REQUEST,
        R::Api { status: 404, .. } => StatusCode::NOT_FOUND,
        R::Engine(e) => engine_status(e),
        R::CredentialFile { .. } | R::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// The status of a failure to read an image for an SBOM or a scan: a target that is not there
/// is 404, one that is malformed or over a limit is the request's (422), the engine's failures
/// as [`engine_status`].
pub fn source_status(e: &berth_inventory::SourceError) -> StatusCode {
    use berth_inventory::SourceError as S;
    match e {
        S::NotFound { .. } => StatusCode::NOT_FOUND,
        S::Engine { source, .. } => engine_status(source),
        S::NoEngine { .. } => StatusCode::SERVICE_UNAVAILABLE,
        S::Io { .. } | S::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl ApiError {
    /// An engine failure while doing `what`, with the engine's hint.
    pub fn engine(what: impl std::fmt::Display, e: &berth_engine::EngineError) -> ApiError {
        let status = engine_status(e);
        if status.is_server_error() {
            tracing::warn!(error = %e, "{what}");
        }
        ApiError::new(status, format!("{what}: {e}")).maybe_hint(e.hint())
    }

    /// A registry failure while doing `what`.
    pub fn registry(what: impl std::fmt::Display, e: &berth_registry::RegistryError) -> ApiError {
        let status = registry_status(e);
        if status.is_server_error() {
            tracing::warn!(error = %e, "{what}");
        }
        ApiError::new(status, format!("{what}: {e}")).maybe_hint(e.hint())
    }

    /// A failure to read an image or archive while doing `what`.
    pub fn source(what: impl std::fmt::Display, e: &berth_inventory::SourceError) -> ApiError {
        ApiError::new(source_status(e), format!("{what}: {e}")).maybe_hint(e.hint())
    }
}

/// The handlers' result type.
pub type ApiResult<T> = Result<T, ApiError>;
