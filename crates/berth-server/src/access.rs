//! Who may see what: the visibility rules the REST API, the web UI and the XNAT endpoints all
//! apply. A user sees the projects they belong to, the launches of those projects and the
//! tools enabled in them; anything else is answered as if it did not exist (404). Admins see
//! everything.

use berth_store::{Launch, Project, Store, User};

use crate::error::{ApiError, ApiResult};

use crate::api::ToolView;

/// The projects a caller may see (`None`: all, for admins).
pub fn visible_projects(store: &Store, caller: &User) -> ApiResult<Option<Vec<String>>> {
    if caller.is_admin() {
        return Ok(None);
    }
    Ok(Some(store.list_projects(Some(&caller.name))?.into_iter().map(|p| p.id).collect()))
}

/// A project the caller belongs to (admins: any), else 404.
pub fn visible_project(store: &Store, caller: &User, id: &str) -> ApiResult<Project> {
    let project = store.get_project(id).map_err(|_| ApiError::not_found(format!("no project \"{id}\"")))?;
    if caller.is_admin() || project.members.iter().any(|m| m == &caller.name) {
        Ok(project)
    } else {
        Err(ApiError::not_found(format!("no project \"{id}\"")))
    }
}

/// A launch (by launch or run id) the caller may see, else 404.
pub fn visible_launch(store: &Store, caller: &User, id: &str) -> ApiResult<Launch> {
    let missing = || ApiError::not_found(format!("no run \"{id}\"")).hint("list runs with `GET /api/v1/runs`");
    let launch = store.get_launch(id).map_err(|_| missing())?;
    if caller.is_admin() || store.list_projects(Some(&caller.name))?.iter().any(|p| p.id == launch.project_id) {
        Ok(launch)
    } else {
        Err(missing())
    }
}

/// A registered tool as the API shows it, with where the caller may launch it.
pub fn tool_view(store: &Store, rec: &berth_store::ToolRecord, projects: &[Project]) -> ApiResult<ToolView> {
    let site = store.tool_setting(None, &rec.tool.name)?;
    let mut enabled_in = Vec::new();
    for p in projects {
        if store.tool_setting(Some(&p.id), &rec.tool.name)?.enabled {
            enabled_in.push(p.id.clone());
        }
    }
    Ok(ToolView {
        name: rec.tool.name.clone(),
        version: rec.tool.version.clone(),
        kind: rec.tool.kind.as_str().to_owned(),
        image: rec.tool.image.clone(),
        descriptor_sha256: rec.tool.descriptor_sha256.clone(),
        source: rec.tool.source.clone(),
        added_at: rec.added_at.clone(),
        site_enabled: site.enabled,
        enabled_in,
        description: description_of(&rec.tool.descriptor_json),
    })
}

/// A descriptor's (or XNAT Command's) `description`, shortened for lists.
fn description_of(descriptor_json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(descriptor_json).ok()?;
    let d = v.get("description")?.as_str()?.trim();
    if d.is_empty() {
        return None;
    }
    Some(if d.chars().count() > 300 { format!("{}…", d.chars().take(300).collect::<String>()) } else { d.to_owned() })
}

/// The tools the caller may see: those they can launch somewhere (enabled on the site and in
/// one of their projects); admins see all.
pub fn visible_tools(store: &Store, caller: &User) -> ApiResult<Vec<ToolView>> {
    let projects = caller_projects(store, caller)?;
    let mut out = Vec::new();
    for t in &store.list_tools()? {
        let v = tool_view(store, t, &projects)?;
        if caller.is_admin() || v.launchable() {
            out.push(v);
        }
    }
    Ok(out)
}

/// The projects the caller sees: theirs, or all for admins.
pub fn caller_projects(store: &Store, caller: &User) -> ApiResult<Vec<Project>> {
    Ok(store.list_projects(if caller.is_admin() { None } else { Some(&caller.name) })?)
}

/// Whether the caller may use a tool session: one of their projects' (admins: any; a session
/// started on the command line belongs to no project and only admins see it).
fn session_visible(mine: Option<&[String]>, s: &berth_store::ToolSessionRecord) -> bool {
    match (mine, &s.new.project_id) {
        (None, _) => true,
        (Some(m), Some(p)) => m.contains(p),
        _ => false,
    }
}

/// A tool session the caller may use, else 404.
pub fn visible_session(store: &Store, caller: &User, id: &str) -> ApiResult<berth_store::ToolSessionRecord> {
    let missing = || ApiError::not_found(format!("no session \"{id}\""));
    let s = store.get_tool_session(id).map_err(|_| missing())?;
    if session_visible(visible_projects(store, caller)?.as_deref(), &s) { Ok(s) } else { Err(missing()) }
}

/// The tool sessions the caller may use, newest first.
pub fn visible_sessions(store: &Store, caller: &User) -> ApiResult<Vec<berth_store::ToolSessionRecord>> {
    let mine = visible_projects(store, caller)?;
    Ok(store.list_tool_sessions(false, 500)?.into_iter().filter(|s| session_visible(mine.as_deref(), s)).collect())
}
