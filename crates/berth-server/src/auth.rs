//! Who is asking: an API token in `Authorization: Bearer <token>`, or the web UI's cookie
//! holding the same token. Tokens are checked against their stored SHA-256.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use berth_store::User;

use crate::error::ApiError;
use crate::state::AppState;

/// The cookie the web UI keeps the token in (HttpOnly, SameSite=Strict).
pub const COOKIE: &str = "berth_token";

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub User);

impl Caller {
    /// Refuses non-admins.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("user `{}` is not an administrator", self.0.name))
                .hint("ask an administrator: only admins manage engines, images, users and projects"))
        }
    }
}

/// The token of a request, from the header or the cookie.
pub fn token_of(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(t.trim().to_owned());
        }
    }
    cookie_token(&parts.headers)
}

/// The token in the web UI's cookie.
pub fn cookie_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let unauthorized = |m: &str| {
            ApiError::new(StatusCode::UNAUTHORIZED, m)
                .hint("send `Authorization: Bearer <token>`; an admin makes tokens with `berth user token NAME`")
        };
        let Some(token) = token_of(parts) else {
            return Err(unauthorized("no API token: this endpoint needs one"));
        };
        let store = state.store.clone();
        let user = tokio::task::spawn_blocking(move || store.authenticate(&token))
            .await
            .map_err(|e| ApiError::internal(format!("checking the token: {e}")))??;
        user.map(Caller).ok_or_else(|| unauthorized("the API token is not valid (unknown or revoked)"))
    }
}
