//! Turning a launch request into a prepared job, with the service's rules: the tool must be
//! registered and enabled on the site and in the project; project defaults fill inputs left
//! out; every input path must lie within the project's data roots (checked on the text before
//! anything touches the file system, then again on the resolved paths, so a symlink cannot
//! lead out); outputs go to the server's output root; users cannot pass engine options.
//!
//! The same preparation runs when a launch is queued (so a bad request is a 400 at once, not a
//! failed run later) and when a worker takes it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_descriptor::model::InputType;
use berth_run::inputs::{DataRoots, InputError};
use berth_run::{LoadedTool, PrepareError, PrepareOptions, PreparedJob, ToolError, ToolSpec};
use std::sync::Arc;

use axum::http::StatusCode;
use berth_store::{Launch, NewLaunch, Project, RunStatus, Store, User, new_launch_id};

use crate::access::{visible_launch, visible_project};
use crate::api::{DryRun, blocking};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// What a client asks to run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    /// The registered tool's name.
    pub tool: String,
    /// Its version (needed when several are registered).
    #[serde(default)]
    pub version: Option<String>,
    /// Input values by input id (Boutiques) or input name (XNAT).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// XNAT Command mounts bound to directories in the data roots (read-only mounts only).
    #[serde(default)]
    pub mounts: BTreeMap<String, String>,
    /// Only check and render: nothing is queued.
    #[serde(default)]
    pub dry_run: bool,
}

/// A registered tool by name and version, as a 404 or 400 when it cannot be used.
pub fn resolve_tool(store: &Store, name: &str, version: Option<&str>) -> ApiResult<LoadedTool> {
    berth_run::tool::load_registered(store, name, version).map_err(|e| match e {
        ToolError::Registry(s) => ApiError::from(s),
        other => {
            let hint = other.hint();
            let problems = other.problems().map(problems_of).unwrap_or_default();
            let err = ApiError::bad_request(other.to_string()).problems(problems);
            err.maybe_hint(hint)
        }
    })
}

/// The project's default inputs for `tool`, after checking that it may be launched there.
pub fn enabled_defaults(
    store: &Store,
    project: &Project,
    tool: &str,
) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
    if !store.tool_setting(None, tool)?.enabled {
        return Err(ApiError::forbidden(format!("tool `{tool}` is disabled on this site"))
            .hint("an administrator enables it with `PUT /api/v1/tools/{name}/settings`"));
    }
    let setting = store.tool_setting(Some(&project.id), tool)?;
    if !setting.enabled {
        return Err(ApiError::forbidden(format!("tool `{tool}` is not enabled in project `{}`", project.id))
            .hint("an administrator enables it with `berth project enable PROJECT TOOL`"));
    }
    Ok(setting.defaults)
}

/// Converts descriptor problems for the API.
pub fn problems_of(problems: &berth_descriptor::Problems) -> Vec<Problem> {
    problems
        .iter()
        .filter(|p| p.is_error())
        .map(|p| Problem { at: p.pointer.clone(), message: p.message.clone(), hint: p.hint.clone() })
        .collect()
}

/// The project's data roots that exist on the server.
fn roots_of(project: &Project) -> ApiResult<DataRoots> {
    let roots = DataRoots::new(&project.data_roots);
    if roots.is_empty() {
        return Err(ApiError::bad_request(format!(
            "project `{}` has no data root that exists on the server",
            project.id
        ))
        .hint("an administrator sets them with `berth project add ID --data-root DIR` (or `berth project roots`)"));
    }
    Ok(roots)
}

/// An input refused by the data-root rule, as a 400 (the message names what the user gave,
/// never where a link points).
fn input_error(e: InputError, project: &Project) -> ApiError {
    let hint = e.hint();
    let msg = match &e {
        InputError::Outside { what, given, .. } => format!(
            "{what}: `{given}` is outside the data roots of project `{}` ({})",
            project.id,
            project.data_roots.join(", ")
        ),
        other => other.to_string(),
    };
    ApiError::bad_request(msg).maybe_hint(hint)
}

/// Prepares a launch of `tool` in `project` with output directory `output_dir`.
pub fn prepare_launch(
    state: &AppState,
    project: &Project,
    tool: &LoadedTool,
    req: &LaunchRequest,
    defaults: &serde_json::Map<String, serde_json::Value>,
    output_dir: PathBuf,
) -> ApiResult<PreparedJob> {
    let roots = roots_of(project)?;
    let cwd = roots.cwd().map(PathBuf::from).unwrap_or_default();
    let mut inputs = defaults.clone();
    for (k, v) in &req.inputs {
        inputs.insert(k.clone(), v.clone());
    }
    let opts = PrepareOptions::with_defaults(
        output_dir,
        cwd.clone(),
        state.opts.site.config().run.clone(),
        host_facts(&state.host),
    );
    let invocation = berth_descriptor::Value::from_serde(&serde_json::Value::Object(inputs.clone()));
    let prepared = match &tool.spec {
        ToolSpec::Boutiques(d) => {
            if !req.mounts.is_empty() {
                return Err(ApiError::bad_request(
                    "`mounts` binds XNAT Command mounts; this tool is a Boutiques descriptor",
                )
                .hint("give File inputs as paths in `inputs`"));
            }
            for input in d.inputs.iter().filter(|i| i.kind == InputType::File) {
                let values: Vec<&str> = match inputs.get(&input.id) {
                    Some(serde_json::Value::String(s)) => vec![s.as_str()],
                    Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
                    _ => Vec::new(),
                };
                for v in values {
                    roots.check(&format!("input \"{}\"", input.id), v).map_err(|e| input_error(e, project))?;
                }
            }
            berth_run::prepare(d, &tool.text, &invocation, &opts)
        }
        ToolSpec::Xnat(c) => {
            let mut bindings = berth_run::tool::MountBindings::new();
            for (name, path) in &req.mounts {
                let Some(m) = c.mounts.iter().find(|m| &m.name == name) else {
                    return Err(ApiError::bad_request(format!("mounts: the Command has no mount `{name}`")));
                };
                if m.writable {
                    return Err(ApiError::bad_request(format!(
                        "mounts: `{name}` is writable; writable mounts always go to the launch's output directory"
                    )));
                }
                roots.check(&format!("mount \"{name}\""), path).map_err(|e| input_error(e, project))?;
                bindings.insert(name.clone(), PathBuf::from(path));
            }
            berth_run::tool::prepare_xnat(c, &tool.text, &invocation, &bindings, &opts)
        }
    };
    let mut job = prepared.map_err(|e| prepare_error(e, &roots, project))?;
    // The run opens every input beneath these roots without following links, hashes what it
    // opened and hands the engine that (`berth_run::inputs`); checked once more here so that a
    // bad request is a 400 now.
    job.input_roots = roots.resolved();
    berth_run::inputs::pin(&job).map_err(|e| input_error(e, project))?;
    job.engine_paths = state.opts.path_map.clone();
    Ok(job)
}

fn prepare_error(e: PrepareError, roots: &DataRoots, project: &Project) -> ApiError {
    match e {
        PrepareError::Invalid(problems) => ApiError::bad_request("the inputs are not valid for this tool")
            .problems(problems_of(&problems))
            .hint("fix the inputs listed; a dry run (`\"dry_run\": true`) checks them without launching"),
        // Only reached when the path changed after the check above (it was inside a root and
        // existed): say so through the data-root rule, which never names a link's target.
        PrepareError::InputMissing { input, path } => {
            match roots.check(&format!("input \"{input}\""), &path.to_string_lossy()) {
                Err(e) => input_error(e, project),
                Ok(_) => ApiError::bad_request(format!("input \"{input}\": `{}` does not exist", path.display()))
                    .hint("check the path; relative paths are relative to the project's first data root"),
            }
        }
        other => {
            let hint = other.hint();
            let err = ApiError::bad_request(other.to_string());
            err.maybe_hint(hint)
        }
    }
}

/// The facts that choose run defaults (the server's own ids: it runs tools as `nobody` when
/// it runs as root).
pub fn host_facts(host: &berth_run::HostInfo) -> berth_run::prepare::HostFacts {
    let (uid, gid) = berth_run::host::process_ids();
    berth_run::prepare::HostFacts { uid, gid, sudo: None, memory_bytes: host.memory_bytes, cpus: host.cpus }
}

/// Checks a launch request and queues it (or, with `dry_run`, shows the command it would run).
pub fn accept_launch(
    state: &AppState,
    caller: &User,
    project: &str,
    req: LaunchRequest,
    bulk: Option<&str>,
) -> ApiResult<(NewLaunch, Option<DryRun>)> {
    let store = &state.store;
    let project = visible_project(store, caller, project)?;
    let tool = resolve_tool(store, &req.tool, req.version.as_deref())?;
    let defaults = enabled_defaults(store, &project, tool.name())?;
    let id = new_launch_id();
    let output_dir = if req.dry_run {
        state.opts.output_root.join(".dry-run").join(&id)
    } else {
        state.opts.output_root.join(&project.id).join(&id)
    };
    let job = prepare_launch(state, &project, &tool, &req, &defaults, output_dir.clone());
    if req.dry_run {
        let _ = std::fs::remove_dir_all(&output_dir);
    }
    let job = job?;
    let dry = req.dry_run.then(|| DryRun {
        command_line: job.command_line.clone(),
        image: job.image.clone(),
        mounts: job
            .mounts
            .iter()
            .map(|m| serde_json::json!({"host": m.host, "container": m.container, "read_only": m.read_only}))
            .collect(),
    });
    let mut stored = req;
    stored.version = Some(tool.version().to_owned());
    // Defaults are applied now: the launch records what it will run with.
    for (k, v) in defaults {
        stored.inputs.entry(k).or_insert(v);
    }
    let new = NewLaunch {
        id,
        project_id: project.id.clone(),
        user_name: caller.name.clone(),
        tool_name: tool.name().to_owned(),
        tool_version: tool.version().to_owned(),
        invocation_json: serde_json::to_string(&stored).unwrap_or_default(),
        bulk_id: bulk.map(str::to_owned),
    };
    Ok((new, dry))
}

/// The kill logic shared with the XNAT endpoint.
pub async fn kill_launch(state: &Arc<AppState>, caller: &User, id: &str) -> ApiResult<Launch> {
    let store = state.store.clone();
    let (caller2, id2) = (caller.clone(), id.to_owned());
    let launch = blocking(move || visible_launch(&store, &caller2, &id2)).await?;
    if launch.is_terminal() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("run \"{id}\" is already {}", launch.status())));
    }
    let store = state.store.clone();
    let lid = launch.id.clone();
    blocking(move || Ok(store.request_cancel(&lid)?)).await?;
    if let Some(token) = state.cancel_token(&launch.id) {
        token.cancel();
    } else if let (Some(run), Some(RunStatus::Running)) = (&launch.run_id, launch.run_status) {
        // Its server is gone: stop the container; the janitor records the end.
        crate::queue::stop_run_container(state, run).await;
    }
    let store = state.store.clone();
    let lid = launch.id.clone();
    blocking(move || Ok(store.get_launch(&lid)?)).await
}
