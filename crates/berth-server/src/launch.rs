//! Turning a launch request into a prepared job, with the service's rules: the tool must be
//! registered and enabled on the site and in the project; project defaults fill inputs left
//! out; every input path must lie within the project's data roots (checked on the text before
//! anything touches the file system, then again on the resolved paths, so a symlink cannot
//! lead out); outputs go to the server's output root; users cannot pass engine options.
//!
//! The same preparation runs when a launch is queued (so a bad request is a 400 at once, not a
//! failed run later) and when a worker takes it.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use berth_descriptor::model::InputType;
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

/// Lexically normalized absolute path (no file-system access): `..` cannot climb above `/`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s),
            _ => {}
        }
    }
    out
}

/// The project's data roots, as configured and as resolved (symlinks followed).
fn roots_of(project: &Project) -> ApiResult<Vec<(PathBuf, PathBuf)>> {
    let roots: Vec<(PathBuf, PathBuf)> = project
        .data_roots
        .iter()
        .filter_map(|r| {
            let p = normalize(Path::new(r));
            std::fs::canonicalize(&p).ok().map(|c| (p, c))
        })
        .collect();
    if roots.is_empty() {
        return Err(ApiError::bad_request(format!(
            "project `{}` has no data root that exists on the server",
            project.id
        ))
        .hint("an administrator sets them with `berth project add ID --data-root DIR` (or `berth project roots`)"));
    }
    Ok(roots)
}

fn outside(what: &str, path: &Path, project: &Project) -> ApiError {
    ApiError::bad_request(format!(
        "{what}: `{}` is outside the data roots of project `{}` ({})",
        path.display(),
        project.id,
        project.data_roots.join(", ")
    ))
    .hint("give a path inside one of the project's data roots")
}

fn check_lexical(
    what: &str,
    value: &str,
    cwd: &Path,
    roots: &[(PathBuf, PathBuf)],
    project: &Project,
) -> ApiResult<()> {
    let p = Path::new(value);
    let abs = normalize(&if p.is_absolute() { p.to_path_buf() } else { cwd.join(p) });
    if roots.iter().any(|(lexical, canonical)| abs.starts_with(lexical) || abs.starts_with(canonical)) {
        Ok(())
    } else {
        Err(outside(what, &abs, project))
    }
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
    let cwd = roots[0].1.clone();
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
                    check_lexical(&format!("input \"{}\"", input.id), v, &cwd, &roots, project)?;
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
                check_lexical(&format!("mount \"{name}\""), path, &cwd, &roots, project)?;
                bindings.insert(name.clone(), PathBuf::from(path));
            }
            berth_run::tool::prepare_xnat(c, &tool.text, &invocation, &bindings, &opts)
        }
    };
    let mut job = prepared.map_err(|e| prepare_error(e, &cwd, &roots, project))?;
    // Again on the resolved paths: a symlink inside a root must not lead out of it.
    for m in job.inputs() {
        if !roots.iter().any(|(_, canonical)| m.host.starts_with(canonical)) {
            return Err(outside(&format!("input \"{}\"", m.key), &m.host, project));
        }
    }
    job.engine_paths = state.opts.path_map.clone();
    Ok(job)
}

fn prepare_error(e: PrepareError, cwd: &Path, roots: &[(PathBuf, PathBuf)], project: &Project) -> ApiError {
    match e {
        PrepareError::Invalid(problems) => ApiError::bad_request("the inputs are not valid for this tool")
            .problems(problems_of(&problems))
            .hint("fix the inputs listed; a dry run (`\"dry_run\": true`) checks them without launching"),
        PrepareError::InputMissing { input, path } => {
            if check_lexical("", &path.to_string_lossy(), cwd, roots, project).is_err() {
                outside(&format!("input \"{input}\""), &path, project)
            } else {
                ApiError::bad_request(format!("input \"{input}\": `{}` does not exist", path.display()))
                    .hint("check the path; relative paths are relative to the project's first data root")
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
