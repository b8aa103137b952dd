//! The audit trail over HTTP (admins): list with filters, check the chain.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use berth_store::audit::{AuditEntry, AuditFilter, AuditVerification, parse_outcome};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::blocking;
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this actor (a user name, or `cli:<login>`).
    pub actor: Option<String>,
    /// Only this action (`sign-in`, `launch`, `log-view`, … see docs/audit.md).
    pub action: Option<String>,
    /// Only objects starting with this (`run:`, `project:p1`).
    pub object: Option<String>,
    /// Only this outcome (`ok`, `denied`, `not-found`, `refused`, `failed`).
    pub outcome: Option<String>,
    /// Only entries at or after this time (RFC 3339, or a date).
    pub since: Option<String>,
    /// Only entries before this time.
    pub until: Option<String>,
    /// Page size, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Only entries older than this sequence number (the next page).
    pub before_seq: Option<i64>,
}

impl AuditQuery {
    /// The store's filter, or what is wrong with the query.
    pub fn filter(&self) -> ApiResult<(AuditFilter, Option<i64>)> {
        if let Some(o) = self.outcome.as_deref().filter(|o| !o.is_empty())
            && parse_outcome(o).is_none()
        {
            return Err(ApiError::bad_request(format!(
                "outcome: `{o}` is not one of ok, denied, not-found, refused, failed"
            )));
        }
        Ok((
            AuditFilter {
                actor: self.actor.clone().filter(|s| !s.is_empty()),
                action: self.action.clone().filter(|s| !s.is_empty()),
                object_prefix: self.object.clone().filter(|s| !s.is_empty()),
                outcome: self.outcome.clone().filter(|s| !s.is_empty()),
                since: self.since.clone().filter(|s| !s.is_empty()),
                until: self.until.clone().filter(|s| !s.is_empty()),
                after_seq: None,
                limit: Some(self.limit.unwrap_or(100).clamp(1, 1000) as usize),
                oldest_first: false,
            },
            self.before_seq,
        ))
    }
}

/// Entries of the audit trail, newest first (admins). Reading it is itself audited.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("token" = [])), params(AuditQuery), responses((status = 200, body = Vec<Object>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_audit(
    State(state): State<Arc<AppState>>,
    _admin: Admin,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(entries(&store, &q)?))).await
}

/// The entries a query selects (`before_seq` pages back).
pub fn entries(store: &berth_store::Store, q: &AuditQuery) -> ApiResult<Vec<AuditEntry>> {
    let (filter, before) = q.filter()?;
    match before {
        None => Ok(store.audit_entries(&filter)?),
        Some(b) => {
            let limit = filter.limit;
            let mut all = store.audit_entries(&AuditFilter { limit: None, ..filter })?;
            all.retain(|e| e.seq < b);
            all.truncate(limit.unwrap_or(usize::MAX));
            Ok(all)
        }
    }
}

/// Checks the audit trail's chain and head (admins): `problems` is empty when it is intact.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", security(("token" = [])), responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn verify_audit(State(state): State<Arc<AppState>>, _admin: Admin) -> ApiResult<Json<AuditVerification>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(store.verify_audit(&[])?))).await
}
