//! Users and their API tokens (admins): what `berth user add|ls|token|tokens|revoke` does, over
//! HTTP, for the admin page.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use berth_store::{Role, TokenInfo, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{ApiJson, blocking};
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// A user with their tokens (prefixes only).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// Their tokens, revoked ones included.
    pub tokens: Vec<TokenInfo>,
}

/// A user to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    /// The login name.
    pub name: String,
    /// `admin` or `user` (default).
    #[serde(default)]
    pub role: Option<String>,
}

/// A token to make.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// What the token is for (default `web`).
    #[serde(default)]
    pub label: Option<String>,
}

/// A token that was made: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewToken {
    /// The user.
    pub user: String,
    /// The token (keep it: it is stored hashed and cannot be shown again).
    pub token: String,
}

/// Every user with their tokens (admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("token" = [])), responses((status = 200, body = Vec<UserView>), (status = 403, body = ErrorBody)))]
pub async fn list_users(State(state): State<Arc<AppState>>, _admin: Admin) -> ApiResult<Json<Vec<UserView>>> {
    let store = state.store.clone();
    blocking(move || {
        let mut out = Vec::new();
        for user in store.list_users()? {
            let tokens = store.list_tokens(&user.name)?;
            out.push(UserView { user, tokens });
        }
        Ok(Json(out))
    })
    .await
}

/// Adds a user (admins).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("token" = [])), request_body = UserRequest, responses((status = 201, body = User), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_user(
    State(state): State<Arc<AppState>>,
    _admin: Admin,
    ApiJson(req): ApiJson<UserRequest>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let role: Role = req
        .role
        .as_deref()
        .unwrap_or("user")
        .parse()
        .map_err(|e| ApiError::bad_request(format!("role: {e}")).hint("use `admin` or `user`"))?;
    let store = state.store.clone();
    blocking(move || Ok((StatusCode::CREATED, Json(store.add_user(&req.name, role)?)))).await
}

/// Makes an API token for a user and returns it, the only time it is shown (admins).
#[utoipa::path(post, path = "/api/v1/users/{name}/tokens", tag = "users", security(("token" = [])), params(("name" = String, Path)), request_body = TokenRequest, responses((status = 201, body = NewToken), (status = 404, body = ErrorBody)))]
pub async fn make_token(
    State(state): State<Arc<AppState>>,
    _admin: Admin,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    let store = state.store.clone();
    let label = req.label.filter(|l| !l.trim().is_empty()).unwrap_or_else(|| "web".to_owned());
    blocking(move || {
        let token = store.create_token(&name, &label)?;
        Ok((StatusCode::CREATED, Json(NewToken { user: name, token })))
    })
    .await
}

/// How many tokens were revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// The count (0: no live token starts with the prefix).
    pub revoked: usize,
}

/// Revokes a user's tokens starting with `prefix` (as listed); their web sessions end too.
#[utoipa::path(delete, path = "/api/v1/users/{name}/tokens/{prefix}", tag = "users", security(("token" = [])), params(("name" = String, Path), ("prefix" = String, Path)), responses((status = 200, body = Revoked), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<Arc<AppState>>,
    _admin: Admin,
    Path((name, prefix)): Path<(String, String)>,
) -> ApiResult<Json<Revoked>> {
    let store = state.store.clone();
    blocking(move || {
        let revoked = store.revoke_tokens(&name, &prefix)?;
        if revoked == 0 {
            return Err(ApiError::not_found(format!("user `{name}` has no live token starting with `{prefix}`")));
        }
        Ok(Json(Revoked { revoked }))
    })
    .await
}
