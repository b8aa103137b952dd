//! The web UI: server-rendered pages (minijinja templates embedded in the binary, HTML
//! auto-escaped) and two small embedded assets. The pages read the same store the API does;
//! the JavaScript only calls the public API (live status, live logs, the launch form).

use std::sync::{Arc, OnceLock};

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use berth_descriptor::model::InputType;
use berth_run::ToolSpec;
use berth_store::{LaunchFilter, User};
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

use crate::access::{caller_projects, visible_launch, visible_projects};
use crate::api::{RunView, blocking, newest_tool};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

static TEMPLATES: OnceLock<Environment<'static>> = OnceLock::new();

fn templates() -> &'static Environment<'static> {
    TEMPLATES.get_or_init(|| {
        let mut env = Environment::new();
        for (name, text) in [
            ("base.html", include_str!("../templates/base.html")),
            ("login.html", include_str!("../templates/login.html")),
            ("tools.html", include_str!("../templates/tools.html")),
            ("launch.html", include_str!("../templates/launch.html")),
            ("runs.html", include_str!("../templates/runs.html")),
            ("run.html", include_str!("../templates/run.html")),
            ("images.html", include_str!("../templates/images.html")),
            ("image.html", include_str!("../templates/image.html")),
            ("pipelines.html", include_str!("../templates/pipelines.html")),
            ("error.html", include_str!("../templates/error.html")),
            ("audit.html", include_str!("../templates/audit.html")),
            ("files.html", include_str!("../templates/files.html")),
            ("data.html", include_str!("../templates/data.html")),
            ("pipeline.html", include_str!("../templates/pipeline.html")),
            ("records.html", include_str!("../templates/records.html")),
            ("record.html", include_str!("../templates/record.html")),
            ("admin.html", include_str!("../templates/admin.html")),
            ("pipeline_start.html", include_str!("../templates/pipeline_start.html")),
            ("sessions.html", include_str!("../templates/sessions.html")),
            ("dicom.html", include_str!("../templates/dicom.html")),
        ] {
            // The templates are part of the binary: a syntax error is a bug caught by the UI tests.
            if let Err(e) = env.add_template(name, text) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env
    })
}

fn render(name: &str, ctx: minijinja::Value) -> Response {
    match templates().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("rendering {name} failed: {e}")).into_response()
        }
    }
}

fn error_page(user: Option<&PageUser>, e: &ApiError) -> Response {
    // Hints written for API clients (an endpoint to call) mean nothing to someone in a browser.
    let hint = e.body.hint.as_deref().filter(|h| !h.contains("/api/") && !h.contains("`GET ") && !h.contains("`POST "));
    let mut resp = render(
        "error.html",
        context! { user => user, status => e.status.as_u16(), message => e.body.error, hint => hint },
    );
    *resp.status_mut() = e.status;
    resp
}

/// The signed-in user of a page, with the session's CSRF token for its forms and scripts.
#[derive(Debug, Clone, Serialize)]
pub struct PageUser {
    #[serde(flatten)]
    user: User,
    csrf: String,
}

impl std::ops::Deref for PageUser {
    type Target = User;
    fn deref(&self) -> &User {
        &self.user
    }
}

/// The user behind the UI's session cookie, or a redirect to the sign-in page.
async fn ui_user(state: &Arc<AppState>, parts: &Parts) -> Result<PageUser, Response> {
    let Some(id) = crate::auth::session_cookie(&parts.headers) else {
        return Err(Redirect::to("/login").into_response());
    };
    let address = crate::auth::request_address(&parts.headers, &parts.extensions, &state.opts.security);
    let csrf = crate::auth::csrf_token(&id);
    match crate::auth::check_session(state, &address, id).await {
        Ok(user) => {
            crate::audit::identify(&parts.extensions, &user.name, "session");
            Ok(PageUser { user, csrf })
        }
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => Err(e.into_response()),
        Err(_) => Err(Redirect::to("/login").into_response()),
    }
}

macro_rules! user_or_redirect {
    ($state:expr, $parts:expr) => {
        match ui_user(&$state, &$parts).await {
            Ok(u) => u,
            Err(r) => return r,
        }
    };
}

/// `GET /login`.
pub async fn login_page() -> Response {
    render("login.html", context! {})
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /login`: checks the token (failures limited per address and per user), opens a
/// server-side session and gives the browser its id in an HttpOnly, SameSite=Strict cookie
/// (`Secure` behind https). The same-origin check ran in [`crate::auth::guard`].
pub async fn login(State(state): State<Arc<AppState>>, parts: Parts, Form(form): Form<LoginForm>) -> Response {
    let address = crate::auth::request_address(&parts.headers, &parts.extensions, &state.opts.security);
    let token = form.token.trim().to_owned();
    let (user, sha) = match crate::auth::check_token(&state, &address, token).await {
        Ok(found) => {
            crate::audit::identify(&parts.extensions, &found.0.name, crate::audit::token_via(&found.1));
            found
        }
        Err(e) => {
            let message = if e.status == StatusCode::TOO_MANY_REQUESTS {
                "Too many failed sign-ins: wait a minute before trying again."
            } else {
                "That token is not valid (unknown or revoked)."
            };
            let mut resp = render("login.html", context! { error => message });
            *resp.status_mut() =
                if e.status == StatusCode::TOO_MANY_REQUESTS { e.status } else { StatusCode::UNAUTHORIZED };
            if let Some(secs) = e.retry_after {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return resp;
        }
    };
    let store = state.store.clone();
    let ttl = state.opts.security.session_ttl;
    let name = user.name.clone();
    let session = match tokio::task::spawn_blocking(move || store.create_session(&name, &sha, ttl)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return error_page(None, &ApiError::from(e)),
        Err(e) => return error_page(None, &ApiError::internal(format!("opening a session: {e}"))),
    };
    let mut resp = Redirect::to("/ui/runs").into_response();
    if let Ok(v) = HeaderValue::from_str(&crate::auth::session_set_cookie(&session.id, &state.opts.security)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `POST /logout`: ends the session in the store (the cookie is useless from now on, even if
/// it was copied) and clears the cookie. The CSRF token was checked in [`crate::auth::guard`].
pub async fn logout(State(state): State<Arc<AppState>>, parts: Parts) -> Response {
    if let Some(id) = crate::auth::session_cookie(&parts.headers) {
        let store = state.store.clone();
        let ended = tokio::task::spawn_blocking(move || {
            let user = store.session_user(&id).ok().flatten();
            store.end_session(&id).map(|_| user)
        })
        .await;
        if let Ok(Ok(Some(user))) = ended {
            crate::audit::identify(&parts.extensions, &user.name, "session");
        }
    }
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&crate::auth::session_clear_cookie(&state.opts.security)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /ui/tools`.
pub async fn tools(State(state): State<Arc<AppState>>, parts: Parts) -> Response {
    let user = user_or_redirect!(state, parts);
    let st = state.clone();
    let u = user.clone();
    let views = blocking(move || crate::access::visible_tools(&st.store, &u)).await;
    match views {
        Ok(tools) => render("tools.html", context! { user => user, nav => "tools", tools => tools }),
        Err(e) => error_page(Some(&user), &e),
    }
}

/// One field of the launch form.
#[derive(Debug, Serialize)]
struct FormField {
    id: String,
    label: String,
    description: Option<String>,
    /// `file`, `string`, `number`, `flag` or `select`.
    kind: &'static str,
    list: bool,
    required: bool,
    default: String,
    choices: Vec<String>,
    min: Option<String>,
    max: Option<String>,
    step: &'static str,
}

/// A group of fields, with its rule in words.
#[derive(Debug, Serialize)]
struct FormGroup {
    name: String,
    rule: Option<String>,
    fields: Vec<FormField>,
}

fn text_of(v: &berth_descriptor::Value) -> String {
    match v.to_serde() {
        serde_json::Value::String(s) => s,
        serde_json::Value::Array(a) => a
            .iter()
            .map(|x| match x {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The launch form of a tool: one field per input (type, choices, default, bounds,
/// required), in the descriptor's groups with their rules.
fn form_of(spec: &ToolSpec, defaults: &serde_json::Map<String, serde_json::Value>) -> (Option<String>, Vec<FormGroup>) {
    let default_text = |id: &str, own: String| match defaults.get(id) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => own,
    };
    match spec {
        ToolSpec::Boutiques(d) => {
            let field = |i: &berth_descriptor::model::Input| FormField {
                id: i.id.clone(),
                label: i.name.clone(),
                description: i.description.clone(),
                kind: match (&i.choices, i.kind) {
                    (Some(_), _) => "select",
                    (None, InputType::File) => "file",
                    (None, InputType::String) => "string",
                    (None, InputType::Number) => "number",
                    (None, InputType::Flag) => "flag",
                },
                list: i.list.unwrap_or(false),
                required: !i.is_optional(),
                default: default_text(&i.id, i.default.as_ref().map(text_of).unwrap_or_default()),
                choices: i.choices.as_ref().map(|c| c.iter().map(text_of).collect()).unwrap_or_default(),
                min: i.minimum.as_ref().map(text_of),
                max: i.maximum.as_ref().map(text_of),
                step: if i.integer.unwrap_or(false) { "1" } else { "any" },
            };
            let mut groups = Vec::new();
            let mut grouped = std::collections::BTreeSet::new();
            for g in &d.groups {
                let mut rules = Vec::new();
                if g.mutually_exclusive.unwrap_or(false) {
                    rules.push("give at most one of these");
                }
                if g.one_is_required.unwrap_or(false) {
                    rules.push("give at least one of these");
                }
                if g.all_or_none.unwrap_or(false) {
                    rules.push("give all of these or none");
                }
                let fields: Vec<FormField> = d.inputs.iter().filter(|i| g.members.contains(&i.id)).map(field).collect();
                grouped.extend(g.members.iter().cloned());
                groups.push(FormGroup {
                    name: g.name.clone(),
                    rule: (!rules.is_empty()).then(|| {
                        let mut r = rules.join("; ");
                        if let Some(first) = r.get(..1) {
                            r = first.to_uppercase() + &r[1..];
                        }
                        r + "."
                    }),
                    fields,
                });
            }
            let rest: Vec<FormField> = d.inputs.iter().filter(|i| !grouped.contains(&i.id)).map(field).collect();
            if !rest.is_empty() {
                groups.insert(0, FormGroup { name: "Inputs".into(), rule: None, fields: rest });
            }
            (Some(d.description.clone()).filter(|s| !s.is_empty()), groups)
        }
        ToolSpec::Xnat(c) => {
            let fields = c
                .inputs
                .iter()
                .map(|i| {
                    let ty = i.kind.as_str();
                    let choices: Vec<String> = i.select_values.clone();
                    FormField {
                        id: i.name.clone(),
                        label: i.name.clone(),
                        description: i.description.clone(),
                        kind: match ty {
                            "boolean" => "flag",
                            "number" => "number",
                            "select-one" | "select-many" => "select",
                            "file" => "file",
                            _ => "string",
                        },
                        list: ty == "select-many",
                        required: i.required,
                        default: default_text(&i.name, i.default_value.clone().unwrap_or_default()),
                        choices,
                        min: None,
                        max: None,
                        step: "any",
                    }
                })
                .collect();
            (c.description.clone(), vec![FormGroup { name: "Inputs".into(), rule: None, fields }])
        }
    }
}

/// `?version=&project=`.
#[derive(Debug, Deserialize)]
pub struct LaunchQuery {
    version: Option<String>,
    project: Option<String>,
    /// The input a file was picked for in the data browser, and the picked path: the form
    /// opens with it filled in (the launch rules check it like any typed path).
    pick_input: Option<String>,
    pick_path: Option<String>,
}

/// `GET /ui/tools/{name}/launch`: the launch form.
pub async fn launch_form(
    State(state): State<Arc<AppState>>,
    parts: Parts,
    Path(name): Path<String>,
    Query(q): Query<LaunchQuery>,
) -> Response {
    let user = user_or_redirect!(state, parts);
    let st = state.clone();
    let u = user.clone();
    let result = blocking(move || {
        let rec = newest_tool(&st.store, &name, q.version.as_deref())?;
        let tool = crate::launch::resolve_tool(&st.store, &rec.tool.name, Some(&rec.tool.version))?;
        let projects: Vec<String> = caller_projects(&st.store, &u)?
            .into_iter()
            .filter(|p| st.store.tool_setting(Some(&p.id), &rec.tool.name).is_ok_and(|s| s.enabled))
            .map(|p| p.id)
            .collect();
        if projects.is_empty() {
            return Err(ApiError::not_found(format!("tool `{name}` is not enabled in any of your projects")));
        }
        let project = q.project.filter(|p| projects.contains(p)).unwrap_or_else(|| projects[0].clone());
        let mut defaults = st.store.tool_setting(Some(&project), &rec.tool.name)?.defaults;
        if let (Some(input), Some(path)) = (&q.pick_input, &q.pick_path) {
            defaults.insert(input.clone(), serde_json::Value::String(path.clone()));
        }
        let (description, groups) = form_of(&tool.spec, &defaults);
        Ok((rec, projects, project, description, groups))
    })
    .await;
    match result {
        Ok((rec, projects, project, description, groups)) => render(
            "launch.html",
            context! {
                user => user, nav => "tools", tool => context!{ name => rec.tool.name, version => rec.tool.version },
                projects => projects, project => project, description => description, groups => groups
            },
        ),
        Err(e) => error_page(Some(&user), &e),
    }
}

/// `GET /ui/runs`.
pub async fn runs(State(state): State<Arc<AppState>>, parts: Parts) -> Response {
    let user = user_or_redirect!(state, parts);
    let st = state.clone();
    let u = user.clone();
    let result = blocking(move || {
        let projects = visible_projects(&st.store, &u)?;
        let (items, _) = st.store.list_launches(&LaunchFilter { projects, limit: 100, ..Default::default() })?;
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        for l in &items {
            *counts.entry(l.status().to_owned()).or_default() += 1;
        }
        Ok((items.iter().map(RunView::from).collect::<Vec<_>>(), counts))
    })
    .await;
    match result {
        Ok((runs, counts)) => {
            render("runs.html", context! { user => user, nav => "runs", runs => runs, counts => counts })
        }
        Err(e) => error_page(Some(&user), &e),
    }
}

/// `GET /ui/runs/{id}`.
pub async fn run(State(state): State<Arc<AppState>>, parts: Parts, Path(id): Path<String>) -> Response {
    let user = user_or_redirect!(state, parts);
    let st = state.clone();
    let u = user.clone();
    let result = blocking(move || {
        let launch = visible_launch(&st.store, &u, &id)?;
        let prov = match &launch.run_id {
            Some(r) => {
                let rec = st.store.get_run(r)?;
                let files: Vec<serde_json::Value> = rec
                    .files
                    .iter()
                    .map(|f| serde_json::json!({"role": f.role, "key": f.key, "path": f.path, "sha256": f.sha256}))
                    .collect();
                Some(serde_json::json!({
                    "image_ref": rec.new.image_ref, "image_id": rec.update.image_id, "image_digest": rec.update.image_digest,
                    "descriptor_sha256": rec.new.descriptor_sha256, "command_line": rec.new.command_line,
                    "engine_kind": rec.update.engine_kind, "engine_version": rec.update.engine_version,
                    "files": files, "events": rec.events,
                }))
            }
            None => None,
        };
        let (outputs, truncated) = run_outputs(&st, &launch);
        Ok((RunView::from(&launch), prov, outputs, truncated))
    })
    .await;
    match result {
        Ok((run, prov, outputs, outputs_truncated)) => render(
            "run.html",
            context! { user => user, nav => "runs", run => run, prov => prov, outputs => outputs, outputs_truncated => outputs_truncated },
        ),
        Err(e) => error_page(Some(&user), &e),
    }
}

/// `GET /ui/audit` (admins): the chain's state, then entries with filters, newest first.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    parts: Parts,
    Query(q): Query<crate::api::AuditQuery>,
) -> Response {
    let user = user_or_redirect!(state, parts);
    if !user.is_admin() {
        return error_page(Some(&user), &ApiError::forbidden("only administrators read the audit trail"));
    }
    let st = state.clone();
    let result = blocking(move || {
        let entries = crate::api::entries(&st.store, &q)?;
        let check = st.store.verify_audit(&[])?;
        Ok((entries, check, q))
    })
    .await;
    match result {
        Ok((entries, check, q)) => {
            let problems: Vec<String> = check.problems.iter().map(ToString::to_string).collect();
            let limit = q.limit.unwrap_or(100).clamp(1, 1000) as usize;
            let next_before = (entries.len() == limit).then(|| entries.last().map(|e| e.seq)).flatten();
            let next_query = next_before.map(|b| {
                let mut pairs: Vec<(&str, String)> = Vec::new();
                for (k, v) in [
                    ("actor", &q.actor),
                    ("action", &q.action),
                    ("object", &q.object),
                    ("outcome", &q.outcome),
                    ("since", &q.since),
                ] {
                    if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                        pairs.push((k, v.clone()));
                    }
                }
                pairs.push(("before_seq", b.to_string()));
                serde_urlencoded::to_string(&pairs).unwrap_or_default()
            });
            let actions = berth_store::audit::action::ALL;
            let outcomes: Vec<&str> = berth_store::audit::Outcome::ALL.iter().map(|o| o.as_str()).collect();
            let qv = serde_json::json!({"actor": q.actor, "action": q.action, "object": q.object, "outcome": q.outcome, "since": q.since});
            render(
                "audit.html",
                context! { user => user, nav => "audit", entries => entries, check => check, problems => problems,
                q => qv, actions => actions, outcomes => outcomes, next_before => next_before, next_query => next_query },
            )
        }
        Err(e) => error_page(Some(&user), &e),
    }
}

/// Bytes as people read them (`1.2 MB`).
fn size_text(bytes: u64) -> String {
    match bytes {
        b if b < 1000 => format!("{b} B"),
        b if b < 1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        b if b < 1_000_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b => format!("{:.2} GB", b as f64 / 1e9),
    }
}

fn with_size_text(entries: &[crate::files::FileEntry]) -> Vec<serde_json::Value> {
    entries
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["size_text"] = if e.kind == "file" { size_text(e.size).into() } else { "".into() };
            v
        })
        .collect()
}

/// `GET /ui/data`: the caller's projects and their data roots.
pub async fn data(State(state): State<Arc<AppState>>, parts: Parts) -> Response {
    let user = user_or_redirect!(state, parts);
    let st = state.clone();
    let u = user.clone();
    match blocking(move || caller_projects(&st.store, &u)).await {
        Ok(projects) => render("data.html", context! { user => user, nav => "data", projects => projects }),
        Err(e) => error_page(Some(&user), &e),
    }
}

/// `?root=&path=&pick_tool=&pick_input=` of the data browser.
#[derive(Debug, Deserialize)]
pub struct FilesQuery {
    root: Option<usize>,
    path: Option<String>,
    pick_tool: Option<String>,
    pick_input: Option<String>,
}

/// `GET /ui/projects/{project}/dicom`: studies and series received, and the runs rules launched.
pub async fn dicom(State(state): State<Arc<AppState>>, parts: Parts, Path(project): Path<String>) -> Response {
    let user = user_or_redirect!(state, parts);
    let st = state.clone();
    let u = user.clone();
    match blocking(move || crate::api::dicom_overview(&st.store, &u, &project)).await {
        Ok(o) => render("dicom.html", context! { user => user, nav => "data", o => o }),
        Err(e) => error_page(Some(&user), &e),
    }
}

/// `GET /ui/projects/{project}/files`: browse a data root; with `pick_tool` and `pick_input`,
/// each file and directory has a Pick button back to that tool's launch form.
pub async fn files(
    State(state): State<Arc<AppState>>,
    parts: Parts,
    Path(project): Path<String>,
    Query(q): Query<FilesQuery>,
) -> Response {
    let user = user_or_redirect!(state, parts);
    let st = state.clone();
    let u = user.clone();
    let query = crate::api::BrowseQuery { root: q.root, path: q.path.clone() };
    let result = blocking(move || crate::api::browse_project(&st, &u, &project, &query)).await;
    let b = match result {
        Ok(b) => b,
        Err(e) => return error_page(Some(&user), &e),
    };
    let mut crumbs = Vec::new();
    let mut acc = std::path::PathBuf::new();
    for c in std::path::Path::new(&b.listing.path).components() {
        acc.push(c);
        crumbs.push(context! { name => c.as_os_str().to_string_lossy(), path => acc.to_string_lossy() });
    }
    let pick = match (&q.pick_tool, &q.pick_input) {
        (Some(tool), Some(input)) => {
            let enc = |v: &str| serde_urlencoded::to_string([("v", v)]).unwrap_or_default()[2..].to_owned();
            Some((
                context! {
                    tool => tool, input => input,
                    back => format!("/ui/tools/{}/launch?project={}&pick_input={}", enc(tool), enc(&b.project), enc(input)),
                },
                format!("&pick_tool={}&pick_input={}", enc(tool), enc(input)),
            ))
        }
        _ => None,
    };
    let entries = with_size_text(&b.listing.entries);
    render(
        "files.html",
        context! {
            user => user, nav => "data", crumbs => crumbs,
            b => context! { project => b.project, roots => b.roots, root => b.root, root_path => b.root_path,
                path => b.listing.path, parent => b.listing.parent, entries => entries, omitted => b.listing.omitted },
            pick => pick.as_ref().map(|p| p.0.clone()), pick_qs => pick.map(|p| p.1).unwrap_or_default(),
        },
    )
}

/// The outputs of a launch for its page: every file (at most 500), text previews of small
/// text files.
fn run_outputs(state: &AppState, launch: &berth_store::Launch) -> (Vec<serde_json::Value>, bool) {
    let Ok(root) = crate::api::output_root(state, launch) else { return (Vec::new(), false) };
    let Ok((files, truncated)) = crate::files::walk(&root, 500) else { return (Vec::new(), false) };
    let mut out = with_size_text(&files);
    for (v, f) in out.iter_mut().zip(&files) {
        if f.format == Some("text") && f.size <= 4096 {
            let preview = root.open_file(std::path::Path::new(&f.path)).ok().and_then(|file| {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::Read::take(file, 4096), &mut text).ok().map(|_| text)
            });
            v["preview"] = preview.into();
        }
    }
    (out, truncated)
}

/// `GET /ui/images` (admins).
pub async fn images(State(state): State<Arc<AppState>>, parts: Parts) -> Response {
    let user = user_or_redirect!(state, parts);
    if !user.is_admin() {
        return error_page(Some(&user), &ApiError::forbidden("only administrators manage images"));
    }
    let labels = [berth_run::tool::BOUTIQUES_LABEL, "org.nrg.commands"];
    match berth_registry::images::list(&*state.engine, &labels).await {
        Ok(rows) => render("images.html", context! { user => user, nav => "images", images => rows }),
        Err(e) => error_page(Some(&user), &ApiError::unavailable(e.to_string())),
    }
}

/// `?reference=`.
#[derive(Debug, Deserialize)]
pub struct ImageQuery {
    reference: String,
}

/// `GET /ui/images/view?reference=`: the image and its latest scan, with a severity chart.
pub async fn image(State(state): State<Arc<AppState>>, parts: Parts, Query(q): Query<ImageQuery>) -> Response {
    let user = user_or_redirect!(state, parts);
    if !user.is_admin() {
        return error_page(Some(&user), &ApiError::forbidden("only administrators manage images"));
    }
    let info = state.engine.inspect_image(&q.reference).await.ok().flatten();
    let store = state.store.clone();
    let reference = q.reference.clone();
    let scan = match blocking(move || Ok(store.latest_scan(&reference)?)).await {
        Ok(s) => s,
        Err(e) => return error_page(Some(&user), &e),
    };
    let scan_ctx =
        scan.as_ref().and_then(|s| serde_json::from_str::<serde_json::Value>(&s.report_json).ok().map(|r| (s, r)));
    let (scan_v, bars, findings) = match scan_ctx {
        Some((s, report)) => {
            let counts = &report["counts"];
            let names = ["critical", "high", "medium", "low", "negligible", "unknown"];
            let max = names.iter().map(|n| counts[n].as_u64().unwrap_or(0)).max().unwrap_or(0).max(1);
            let bars: Vec<serde_json::Value> = names
                .iter()
                .map(|n| {
                    let c = counts[n].as_u64().unwrap_or(0);
                    serde_json::json!({"name": n, "count": c, "width": c * 360 / max})
                })
                .collect();
            let findings: Vec<serde_json::Value> = report["findings"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .take(200)
                        .map(|f| {
                            serde_json::json!({
                                "severity": f["severity"], "id": f["id"], "package": f["package"],
                                "installed": f["installed_version"], "fixed": f["fixed_version"],
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let total: u64 = names.iter().map(|n| counts[n].as_u64().unwrap_or(0)).sum();
            let packages = report["inventory"]["packages"].as_array().map_or(0, Vec::len);
            (
                Some(serde_json::json!({"created_at": s.created_at, "total": total, "packages": packages})),
                bars,
                findings,
            )
        }
        None => (None, Vec::new(), Vec::new()),
    };
    render(
        "image.html",
        context! { user => user, nav => "images", scan_body => serde_json::json!({"reference": q.reference}).to_string(),
        reference => q.reference, info => info, scan => scan_v, bars => bars, findings => findings },
    )
}

/// `GET /ui/pipelines` (admins).
pub async fn pipelines(State(state): State<Arc<AppState>>, parts: Parts) -> Response {
    let user = user_or_redirect!(state, parts);
    if !user.is_admin() {
        return error_page(Some(&user), &ApiError::forbidden("pipeline runs are visible to administrators"));
    }
    let store = state.store.clone();
    let dirs = state.opts.security.pipeline_dirs.clone();
    let result = blocking(move || {
        // The pipeline files admins may start: `.yaml`/`.yml` beneath the configured directories.
        let mut files = Vec::new();
        for dir in &dirs {
            let Ok(root) = berth_hostpath::Root::open(dir) else { continue };
            let (found, _) = crate::files::walk(&root, 2000)?;
            for f in found {
                if f.path.ends_with(".yaml") || f.path.ends_with(".yml") {
                    files.push(dir.join(&f.path).to_string_lossy().into_owned());
                }
            }
        }
        Ok((store.list_pipeline_runs(200)?, files))
    })
    .await;
    let dirs: Vec<String> = state.opts.security.pipeline_dirs.iter().map(|d| d.display().to_string()).collect();
    match result {
        Ok((list, files)) => render(
            "pipelines.html",
            context! { user => user, nav => "pipelines", pipelines => list, files => files, dirs => dirs },
        ),
        Err(e) => error_page(Some(&user), &e),
    }
}

/// `?file=` of the start form.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    file: String,
}

/// `GET /ui/pipelines/start?file=` (admins): a form made from the pipeline file — its
/// parameters with their defaults, the participants and sessions of its BIDS dataset to pick
/// from, the analysis level — that starts it through `POST /api/v1/pipelines`.
pub async fn pipeline_start(State(state): State<Arc<AppState>>, parts: Parts, Query(q): Query<StartQuery>) -> Response {
    let user = user_or_redirect!(state, parts);
    if let Some(r) = admin_only(&user, "pipeline runs") {
        return r;
    }
    let st = state.clone();
    let file = q.file.clone();
    let result = blocking(move || {
        let pipeline = crate::pipelines::load_from_dirs(&st.opts.security.pipeline_dirs, &file)?;
        let spec = &pipeline.spec;
        let bids = spec.dataset.as_ref().and_then(|d| d.bids.as_ref()).map(|b| pipeline.dir.join(b));
        let (participants, sessions, dataset_error) = match &bids {
            Some(dir) => match berth_pipeline::Dataset::open(dir) {
                Ok(ds) => {
                    let mut sessions: Vec<String> = ds.participants.iter().flat_map(|p| p.sessions.clone()).collect();
                    sessions.sort();
                    sessions.dedup();
                    let ps: Vec<_> =
                        ds.participants.iter().map(|p| context! { label => p.label, sessions => p.sessions }).collect();
                    (ps, sessions, None)
                }
                Err(e) => (Vec::new(), Vec::new(), Some(e.to_string())),
            },
            None => (Vec::new(), Vec::new(), None),
        };
        let params: Vec<_> = spec
            .params
            .iter()
            .map(|(name, v)| {
                let default = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                context! { name => name, default => default }
            })
            .collect();
        let steps: Vec<String> = spec.steps.keys().cloned().collect();
        let spec_ctx = context! { name => spec.name, description => spec.description, steps => steps };
        Ok((spec_ctx, bids.map(|b| b.to_string_lossy().into_owned()), participants, sessions, dataset_error, params))
    })
    .await;
    match result {
        Ok((spec, bids, participants, sessions, dataset_error, params)) => render(
            "pipeline_start.html",
            context! { user => user, nav => "pipelines", file => q.file, spec => spec, bids => bids,
            participants => participants, sessions => sessions, dataset_error => dataset_error, params => params },
        ),
        Err(e) => error_page(Some(&user), &e),
    }
}

/// Seconds from `a` to `b` (RFC 3339 times as the store writes them).
fn seconds_between(a: &str, b: &str) -> Option<f64> {
    let a = chrono::DateTime::parse_from_rfc3339(a).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(b).ok()?;
    Some((b - a).num_milliseconds() as f64 / 1000.0)
}

/// `4.2 s`, `3 min 05 s`, `1 h 02 min`.
fn duration_text(secs: f64) -> String {
    let s = secs.max(0.0);
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{} min {:02} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{} h {:02} min", (s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64)
    }
}

fn admin_only(user: &PageUser, what: &str) -> Option<Response> {
    (!user.is_admin())
        .then(|| error_page(Some(user), &ApiError::forbidden(format!("{what} are visible to administrators"))))
}

/// `GET /ui/pipelines/{id}`: a pipeline run in the UI's own page: its facts, a timeline of its
/// tasks, each task's status, tries, duration, run record and logs (served by the server);
/// refreshed every 3 s while it runs.
pub async fn pipeline(State(state): State<Arc<AppState>>, parts: Parts, Path(id): Path<String>) -> Response {
    let user = user_or_redirect!(state, parts);
    if let Some(r) = admin_only(&user, "pipeline runs") {
        return r;
    }
    let store = state.store.clone();
    let result = blocking(move || Ok(store.get_pipeline_run(&id)?)).await;
    let p = match result {
        Ok(p) => p,
        Err(e) => return error_page(Some(&user), &e),
    };
    let now = berth_store::time::now();
    let t0 = p.tasks.iter().filter_map(|t| t.started_at.clone()).min().or_else(|| p.started_at.clone());
    let end_of = |t: &berth_store::TaskRecord| t.finished_at.clone().unwrap_or_else(|| now.clone());
    let t1 = p.tasks.iter().filter(|t| t.started_at.is_some()).map(end_of).max();
    let span = match (&t0, &t1) {
        (Some(a), Some(b)) => seconds_between(a, b).unwrap_or(0.0).max(0.001),
        _ => 0.001,
    };
    let mut counts = std::collections::BTreeMap::<&str, u32>::new();
    let mut bars = Vec::new();
    let mut tasks = Vec::new();
    for t in &p.tasks {
        *counts.entry(t.status.as_str()).or_default() += 1;
        let duration = t.started_at.as_deref().and_then(|s| seconds_between(s, &end_of(t)));
        if let (Some(start), Some(origin), Some(d)) = (&t.started_at, &t0, duration) {
            let x = seconds_between(origin, start).unwrap_or(0.0) / span * 1000.0;
            let label = [Some(t.step.as_str()), t.participant.as_deref(), t.session.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            bars.push(context! {
                x => format!("{x:.1}"), w => format!("{:.1}", (d / span * 1000.0).max(2.0)),
                status => t.status.as_str(), label => label, duration => duration_text(d),
            });
        }
        tasks.push(context! {
            seq => t.seq, step => t.step, participant => t.participant, session => t.session,
            status => t.status.as_str(), attempts => t.attempts, cached_from => t.cached_from,
            message => t.message, run_id => t.run_id, duration => duration.map(duration_text).unwrap_or_default(),
        });
    }
    render(
        "pipeline.html",
        context! {
            user => user, nav => "pipelines", terminal => p.status.is_terminal(), counts => counts,
            bars => bars, tasks => tasks, span => duration_text(span),
            p => context! {
                id => p.id, name => p.new.name, status => p.status.as_str(), status_message => p.status_message,
                file => p.new.file_path, file_sha256 => p.new.file_sha256, dataset => p.new.dataset,
                output_dir => p.new.output_dir, created_at => p.created_at, started_at => p.started_at,
                finished_at => p.finished_at,
            },
        },
    )
}

/// `GET /ui/pipelines/{id}/report`: the stand-alone HTML report (the one `berth pipeline
/// report` writes), as a download: it is made to be opened on its own, not inside the service.
pub async fn pipeline_report(State(state): State<Arc<AppState>>, parts: Parts, Path(id): Path<String>) -> Response {
    let user = user_or_redirect!(state, parts);
    if let Some(r) = admin_only(&user, "pipeline runs") {
        return r;
    }
    let store = state.store.clone();
    let name = format!("{id}-report.html");
    let result: ApiResult<String> = blocking(move || {
        let p = store.get_pipeline_run(&id)?;
        let mut runs = std::collections::BTreeMap::new();
        for t in &p.tasks {
            for (_, r) in &t.runs {
                if let Ok(rec) = store.get_run(r) {
                    runs.insert(r.clone(), rec);
                }
            }
        }
        Ok(berth_report::render_html(&p, &runs))
    })
    .await;
    match result {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", name.replace('"', "_"))),
                (header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'; style-src 'unsafe-inline'".to_owned()),
            ],
            html,
        )
            .into_response(),
        Err(e) => error_page(Some(&user), &e),
    }
}

/// Who made a store run: the service (a launch), a pipeline, or the command line.
fn origin_of(labels: &std::collections::BTreeMap<String, String>) -> &'static str {
    if labels.contains_key(berth_store::LAUNCH_LABEL) {
        "service"
    } else if labels.contains_key(berth_store::PIPELINE_RUN_LABEL) {
        "pipeline"
    } else {
        "cli"
    }
}

/// `?status=&tool=&origin=&offset=` of the records page.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct RecordsQuery {
    status: Option<String>,
    tool: Option<String>,
    origin: Option<String>,
    offset: Option<u32>,
}

/// `GET /ui/records` (admins): every run in the store — command line, pipelines, service —
/// filterable by status, tool and origin, newest first.
pub async fn records(State(state): State<Arc<AppState>>, parts: Parts, Query(q): Query<RecordsQuery>) -> Response {
    let user = user_or_redirect!(state, parts);
    if let Some(r) = admin_only(&user, "run records") {
        return r;
    }
    const PAGE: u32 = 50;
    let store = state.store.clone();
    let status = q.status.clone().filter(|s| !s.is_empty());
    let tool = q.tool.clone().filter(|s| !s.is_empty());
    let origin = q.origin.clone().filter(|s| !s.is_empty());
    let offset = q.offset.unwrap_or(0);
    let result = blocking(move || {
        let status = status
            .as_deref()
            .map(|s| s.parse::<berth_store::RunStatus>().map_err(|e| ApiError::bad_request(format!("status: {e}"))))
            .transpose()?;
        let mut out = Vec::new();
        let mut scanned = offset;
        // Filtering by origin needs each run's labels: read pages until one is full.
        loop {
            let page = store.list_runs(&berth_store::RunFilter {
                status,
                tool: tool.clone(),
                limit: Some(PAGE),
                offset: scanned,
                since: None,
            })?;
            let n = page.len() as u32;
            for r in page {
                scanned += 1;
                let labels = store.get_run(r.id.as_str()).map(|rec| rec.new.labels).unwrap_or_default();
                let o = origin_of(&labels);
                if origin.as_deref().is_some_and(|want| want != o) {
                    continue;
                }
                out.push(context! {
                    id => r.id.as_str(), status => r.status.as_str(), tool => r.tool_name, version => r.tool_version,
                    origin => o, created_at => r.created_at, exit_code => r.exit_code,
                });
                if out.len() as u32 >= PAGE {
                    return Ok((out, Some(scanned)));
                }
            }
            if n < PAGE {
                return Ok((out, None));
            }
        }
    })
    .await;
    match result {
        Ok((records, next_offset)) => {
            let next_query = next_offset.map(|o| {
                serde_urlencoded::to_string(RecordsQuery { offset: Some(o), ..q.clone_query() }).unwrap_or_default()
            });
            let statuses: Vec<&str> = berth_store::RunStatus::ALL.iter().map(|s| s.as_str()).collect();
            render(
                "records.html",
                context! { user => user, nav => "records", records => records, q => q, statuses => statuses,
                next_offset => next_offset, next_query => next_query },
            )
        }
        Err(e) => error_page(Some(&user), &e),
    }
}

impl RecordsQuery {
    fn clone_query(&self) -> RecordsQuery {
        RecordsQuery { status: self.status.clone(), tool: self.tool.clone(), origin: self.origin.clone(), offset: None }
    }
}

/// The first 64 KiB of a run's log, for a page.
fn log_head(store: &berth_store::Store, id: &berth_store::RunId, stream: &str) -> String {
    let (out, err) = store.log_paths(id);
    let path = if stream == "stdout" { out } else { err };
    let mut text = String::new();
    if let Ok(f) = std::fs::File::open(path) {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(f, 64 << 10), &mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// `GET /ui/records/{id}` (admins): one run record of the store, whoever made it, with its logs.
pub async fn record(State(state): State<Arc<AppState>>, parts: Parts, Path(id): Path<String>) -> Response {
    let user = user_or_redirect!(state, parts);
    if let Some(r) = admin_only(&user, "run records") {
        return r;
    }
    let store = state.store.clone();
    let result = blocking(move || {
        let rec = store.get_run(&id)?;
        let stdout = log_head(&store, &rec.id, "stdout");
        let stderr = log_head(&store, &rec.id, "stderr");
        let files: Vec<serde_json::Value> = rec
            .files
            .iter()
            .map(|f| serde_json::json!({"role": f.role, "key": f.key, "path": f.path, "sha256": f.sha256}))
            .collect();
        let labels = &rec.new.labels;
        let r = context! {
            id => rec.id.as_str(), tool => rec.new.tool_name, version => rec.new.tool_version, status => rec.status.as_str(),
            origin => origin_of(labels), launch => labels.get(berth_store::LAUNCH_LABEL),
            pipeline => labels.get(berth_store::PIPELINE_RUN_LABEL), image_ref => rec.new.image_ref,
            image_id => rec.update.image_id, command_line => rec.new.command_line, host => rec.new.owner_host,
            created_at => rec.created_at, finished_at => rec.update.finished_at, exit_code => rec.update.exit_code,
            files => files,
        };
        Ok((r, stdout, stderr))
    })
    .await;
    match result {
        Ok((r, stdout, stderr)) => render(
            "record.html",
            context! { user => user, nav => "records", r => r, stdout => stdout, stderr => stderr },
        ),
        Err(e) => error_page(Some(&user), &e),
    }
}

/// `GET /ui/admin` (admins): users and their tokens, projects with their roots, members and
/// tools; every change is made through the API by the page's forms.
pub async fn admin(State(state): State<Arc<AppState>>, parts: Parts) -> Response {
    let user = user_or_redirect!(state, parts);
    if let Some(r) = admin_only(&user, "users and projects") {
        return r;
    }
    let store = state.store.clone();
    let result = blocking(move || {
        let mut users = Vec::new();
        for u in store.list_users()? {
            let tokens = store.list_tokens(&u.name)?;
            users.push(context! { name => u.name, role => u.role.as_str(), tokens => tokens });
        }
        let tools: Vec<String> = {
            let mut names: Vec<String> = store.list_tools()?.into_iter().map(|t| t.tool.name).collect();
            names.sort();
            names.dedup();
            names
        };
        let mut projects = Vec::new();
        for p in store.list_projects(None)? {
            let mut ts = Vec::new();
            for t in &tools {
                ts.push(context! { name => t, enabled => store.tool_setting(Some(&p.id), t)?.enabled });
            }
            projects.push(context! { id => p.id, title => p.title, data_roots => p.data_roots, members => p.members, tools => ts });
        }
        Ok((users, projects))
    })
    .await;
    match result {
        Ok((users, projects)) => {
            render("admin.html", context! { user => user, nav => "admin", users => users, projects => projects })
        }
        Err(e) => error_page(Some(&user), &e),
    }
}

/// `GET /ui/sessions`: the tool sessions of the caller's projects (admins: all).
pub async fn sessions(State(state): State<Arc<AppState>>, parts: Parts) -> Response {
    let user = user_or_redirect!(state, parts);
    let st = state.clone();
    let u = user.clone();
    let result = blocking(move || crate::access::visible_sessions(&st.store, &u)).await;
    match result {
        Ok(list) => render("sessions.html", context! { user => user, nav => "sessions", sessions => list }),
        Err(e) => error_page(Some(&user), &e),
    }
}

/// Any other path: a 404 page for people (the API's own 404 is JSON).
pub async fn not_found_page(State(state): State<Arc<AppState>>, parts: Parts) -> Response {
    let user = match crate::auth::session_cookie(&parts.headers) {
        Some(_) => ui_user(&state, &parts).await.ok(),
        None => None,
    };
    error_page(user.as_ref(), &ApiError::not_found("There is no such page."))
}

/// `GET /assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "style.css" => (include_str!("../assets/style.css"), "text/css; charset=utf-8"),
        "app.js" => (include_str!("../assets/app.js"), "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// `GET /`.
pub async fn home() -> Redirect {
    Redirect::to("/ui/runs")
}
