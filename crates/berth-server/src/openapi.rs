//! The OpenAPI document, generated from the handlers' annotations (`/api/v1/openapi.json`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;
use crate::error::{ErrorBody, Problem};
use crate::launch::LaunchRequest;

struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token from `berth user token NAME`."))
                    .build(),
            ),
        );
    }
}

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(title = "berth", description = "Run described analysis tools in containers: tools, launches, runs with provenance, images and scans. XNAT-compatible endpoints live under /xapi (see docs/service.md)."),
    paths(
        api::health, api::metrics, api::me,
        api::list_tools, api::add_tool, api::validate_tool, api::import_tools, api::get_tool, api::remove_tool, api::site_setting,
        api::list_projects, api::add_project, api::get_project, api::add_member, api::project_setting, api::project_dicom,
        api::launch, api::bulk_launch, api::list_runs, api::get_run, api::logs, api::live_logs, api::kill,
        api::list_images, api::pull_image, api::sbom, api::tag_image, api::remove_image, api::import_image, api::list_records, api::get_record, api::record_logs, api::check_image, api::scan_image, api::latest_scan, api::engines,
        api::list_pipelines, api::start_pipeline, api::get_pipeline,
        api::list_audit, api::verify_audit,
        api::browse, api::outputs, api::output_file, api::output_archive, api::output_preview, api::file_preview,
        api::list_users, api::add_user, api::make_token, api::revoke_token, api::remove_member,
        api::start_session, api::list_sessions, api::get_session, api::exec_session, api::stop_session,
    ),
    components(schemas(ErrorBody, Problem, LaunchRequest, api::BulkRequest, api::RunView, api::RunPage, api::RunDetail,
        api::Accepted, api::BulkAccepted, api::DryRun, api::ToolView, api::ToolDetail, api::Validation,
        api::SettingRequest, api::ProjectRequest, api::ImageRequest, api::TagRequest, api::ImportRequest, api::Health, api::Me,
        api::UserView, api::UserRequest, api::TokenRequest, api::NewToken, api::Revoked,
        api::SessionRequest, api::ExecBody, api::SessionDetail, api::ExecEvent,
        api::DicomOverview, berth_store::DicomStudy, berth_store::DicomSeries, berth_store::DicomTrigger)),
    modifiers(&TokenAuth),
    tags((name = "service"), (name = "users"), (name = "tools"), (name = "projects"), (name = "runs"), (name = "images"), (name = "pipelines"), (name = "audit"), (name = "sessions"))
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What openapi-spec-validator checks about parameters: every `{name}` in a path is a path
    /// parameter of each of its operations, and every path parameter appears in the path.
    #[test]
    fn path_parameters_match_the_paths_and_queries_are_queries() {
        let doc = serde_json::to_value(document()).expect("json");
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.len() >= 30, "{} paths", paths.len());
        for (path, item) in paths {
            let in_path: Vec<&str> =
                path.split('/').filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
            for (method, op) in item.as_object().expect("item") {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                for p in &params {
                    let name = p["name"].as_str().expect("name");
                    if p["in"] == "path" {
                        assert!(in_path.contains(&name), "{method} {path}: path parameter `{name}` is not in the path");
                    }
                }
                for name in &in_path {
                    assert!(
                        params.iter().any(|p| p["in"] == "path" && p["name"] == *name),
                        "{method} {path}: `{name}` is not declared"
                    );
                }
            }
        }
        let list = &doc["paths"]["/api/v1/runs"]["get"]["parameters"];
        assert!(list.as_array().expect("params").iter().all(|p| p["in"] == "query"), "{list}");
        assert!(doc["components"]["securitySchemes"]["token"].is_object());
    }
}
