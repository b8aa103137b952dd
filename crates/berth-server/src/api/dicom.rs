//! `/api/v1/projects/{project}/dicom`: what the DICOM node received for a project (studies and
//! their series, with counts and arrival times) and what its rules launched, for the project's
//! members (others get 404, as for the project itself).

// utoipa's `path` macro expands `params(...)` into fully qualified paths.
#![allow(unused_qualifications)]

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use berth_store::{DicomStudy, DicomTrigger, Store, User};
use serde::Serialize;

use crate::access::visible_project;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

use super::blocking;

/// A project's DICOM arrivals and rule triggers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DicomOverview {
    /// The project.
    pub project: String,
    /// Studies received, newest first, with their series.
    pub studies: Vec<DicomStudy>,
    /// What the automation rules launched, newest first.
    pub triggers: Vec<DicomTrigger>,
}

/// The overview of `project` for `caller` (404 when it is not visible to them).
pub fn dicom_overview(store: &Store, caller: &User, project: &str) -> ApiResult<DicomOverview> {
    let project = visible_project(store, caller, project)?;
    Ok(DicomOverview {
        studies: store.dicom_studies(Some(&project.id))?,
        triggers: store.dicom_triggers(&project.id)?,
        project: project.id,
    })
}

/// What the DICOM node received for a project and what its rules launched.
#[utoipa::path(get, path = "/api/v1/projects/{project}/dicom", tag = "projects", security(("token" = [])), params(("project" = String, Path)), responses((status = 200, body = DicomOverview), (status = 404, body = ErrorBody)))]
pub async fn project_dicom(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<DicomOverview>> {
    let store = state.store.clone();
    blocking(move || Ok(Json(dicom_overview(&store, &caller.0, &project)?))).await
}
