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
            StoreError::Conflict { .. } | StoreError::ToolConflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            StoreError::AmbiguousTool { .. }
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

/// The handlers' result type.
pub type ApiResult<T> = Result<T, ApiError>;
