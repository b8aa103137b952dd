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
use berth_store::{Project, Store};
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
    let opts =
        PrepareOptions::with_defaults(output_dir, cwd.clone(), state.opts.run_config.clone(), host_facts(&state.host));
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
