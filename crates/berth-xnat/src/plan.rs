//! The plan of one run of an XNAT Command: everything decided before a container starts,
//! by XNAT's rules (`CommandResolutionServiceImpl.resolve` and `DockerControlApi` in
//! container-service), with host directories in place of XNAT's archive and build paths.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;

use berth_descriptor::{Problem, Problems, Value};

use crate::model::{Command, CommandType, Secret};
use crate::render::{self, ResolvedInput};
use crate::split::split;
use crate::template::{jsonpath_marker, substitute};

/// What replaces a sensitive value in [`XnatPlan::redacted`].
pub const REDACTED: &str = "*****";

/// How the container is started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    /// When true, the image's entrypoint is cleared and `cmd` is `/bin/sh -c LINE`; when
    /// false, `cmd` is the line split into arguments for the image's own entrypoint.
    pub override_entrypoint: bool,
    /// The container's command (Docker's `Cmd`).
    pub cmd: Vec<String>,
}

/// A directory bound into the container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedMount {
    /// The mount's name.
    pub name: String,
    /// The directory on the host.
    pub host_path: PathBuf,
    /// Where the container sees it (templates substituted).
    pub container_path: String,
    /// Whether the container may write to it.
    pub writable: bool,
}

/// Where an output will be found after the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedOutput {
    /// The output's name.
    pub name: String,
    /// Its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether XNAT fails the run when it cannot handle this output.
    pub required: bool,
    /// The mount the files are in.
    pub mount: String,
    /// The path inside the mount (templates substituted); empty for the whole mount.
    pub path: String,
    /// The glob, as written (XNAT 3.7 does not apply it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
    /// The output as the container sees it.
    pub container_path: String,
    /// The output on the host.
    pub host_path: PathBuf,
}

/// A `ulimits` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    /// Soft limit.
    pub soft: i64,
    /// Hard limit.
    pub hard: i64,
}

/// A `generic-resources` entry: a number is a count, anything else names a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GenericResource {
    /// A number of units (`"gpu": "1"`).
    Count(u64),
    /// A named resource.
    Named(String),
}

/// Resource requests and limits, in Docker's units.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resources {
    /// `reserve-memory` in bytes (Docker's `MemoryReservation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserve_memory_bytes: Option<i64>,
    /// `limit-memory` in bytes (Docker's `Memory`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_memory_bytes: Option<i64>,
    /// `limit-cpu` in CPUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// `limit-cpu` in billionths of a CPU (Docker's `NanoCPUs`), truncated as XNAT does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    /// `gpus`, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpus: Option<String>,
    /// `generic-resources`.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub generic_resources: IndexMap<String, GenericResource>,
    /// `shm-size` in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size_bytes: Option<i64>,
    /// `ulimits`.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub ulimits: IndexMap<String, Ulimit>,
}

/// Everything needed to run one XNAT Command, decided before the container starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct XnatPlan {
    /// The Command's name.
    pub command: String,
    /// The Command's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The Command's type.
    #[serde(rename = "type")]
    pub kind: CommandType,
    /// The image, with `:latest` added when the Command gives no tag.
    pub image: String,
    /// The command line with every replacement key substituted.
    pub command_line: String,
    /// How the container runs it.
    pub execution: Execution,
    /// The working directory (templates substituted), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// The container name (templates substituted), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Environment variables (names and values substituted).
    pub environment: IndexMap<String, String>,
    /// Published ports: container port to host port.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub ports: IndexMap<String, String>,
    /// Bind mounts.
    pub mounts: Vec<PlannedMount>,
    /// Declared outputs and where they will be.
    pub outputs: Vec<PlannedOutput>,
    /// Resources.
    pub resources: Resources,
    /// Container runtime (`runtime`), if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// IPC mode, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    /// Network, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Whether the engine removes the container when it exits.
    pub auto_remove: bool,
    /// Container labels (names and values substituted).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub container_labels: IndexMap<String, String>,
    /// Secrets the runner must provide; XNAT reads them from its own configuration.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    /// XNAT's launch-time environment variables (`XNAT_HOST`, `XNAT_USER`, ...) that the
    /// command line, environment or input values refer to. XNAT sets them in every container;
    /// berth does not, so a runner that talks to an XNAT must supply them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub xnat_environment: Vec<String>,
    /// Every command input with its value and command-line text.
    pub inputs: IndexMap<String, ResolvedInput>,
    /// Problems that did not stop the plan.
    pub warnings: Problems,
    /// Made by [`preview`]: unbound mounts and inputs hold placeholders; never run it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
}

impl XnatPlan {
    /// A copy with the value of every `sensitive` input replaced by [`REDACTED`] wherever it
    /// appears, for printing and records. Run the original.
    pub fn redacted(&self) -> XnatPlan {
        let mut secrets: Vec<String> = self
            .inputs
            .values()
            .filter(|i| i.sensitive)
            .flat_map(|i| [i.value.clone(), Some(i.command_line.clone())])
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        if secrets.is_empty() {
            return self.clone();
        }
        let table: Vec<(&str, &str)> = secrets.iter().map(|s| (s.as_str(), REDACTED)).collect();
        let hide = |s: &str| substitute(s, &table);
        let mut p = self.clone();
        p.command_line = hide(&p.command_line);
        p.execution.cmd = p.execution.cmd.iter().map(|a| hide(a)).collect();
        p.working_directory = p.working_directory.as_deref().map(hide);
        p.container_name = p.container_name.as_deref().map(hide);
        p.environment = p.environment.iter().map(|(k, v)| (hide(k), hide(v))).collect();
        p.container_labels = p.container_labels.iter().map(|(k, v)| (hide(k), hide(v))).collect();
        for m in &mut p.mounts {
            m.container_path = hide(&m.container_path);
        }
        for o in &mut p.outputs {
            o.path = hide(&o.path);
            o.container_path = hide(&o.container_path);
            o.host_path = PathBuf::from(hide(&o.host_path.to_string_lossy()));
        }
        for w in &mut p.warnings.0 {
            w.message = hide(&w.message);
        }
        for i in p.inputs.values_mut().filter(|i| i.sensitive) {
            i.value = i.value.as_ref().map(|_| REDACTED.to_string());
            if !i.command_line.is_empty() {
                i.command_line = REDACTED.to_string();
            }
        }
        p
    }
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum XnatError {
    /// The Command itself has errors.
    #[error("the XNAT Command \"{command}\" is not valid")]
    InvalidCommand {
        /// The Command's name.
        command: String,
        /// Its errors.
        problems: Problems,
    },
    /// The Command names no image.
    #[error("the XNAT Command \"{command}\" names no image")]
    NoImage {
        /// The Command's name.
        command: String,
    },
    /// The input values do not fit the Command.
    #[error("the input values are not valid for the XNAT Command \"{command}\"")]
    Inputs {
        /// The Command's name.
        command: String,
        /// What is wrong, with pointers into the input values.
        problems: Problems,
    },
    /// A mount binding names no mount of the Command.
    #[error("the XNAT Command \"{command}\" has no mount named \"{name}\"")]
    UnknownMount {
        /// The Command's name.
        command: String,
        /// The name given.
        name: String,
        /// The Command's mounts.
        known: Vec<String>,
    },
    /// Mounts without a host directory.
    #[error("no host directory for mount{} {}", if names.len() == 1 { "" } else { "s" }, quote_list(names))]
    MissingMounts {
        /// The mounts.
        names: Vec<String>,
    },
    /// A mount's container path (after substitution) is not an absolute path the engine can
    /// bind: relative, or holding a control character.
    #[error("mount \"{mount}\" has the container path \"{}\", which {reason}", path.escape_debug())]
    MountPath {
        /// The mount.
        mount: String,
        /// Its `path` after substitution.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An output's path leaves its mount.
    #[error("output \"{output}\" has the path \"{path}\", which is not inside its mount")]
    OutputOutsideMount {
        /// The output.
        output: String,
        /// Its path after substitution.
        path: String,
    },
    /// A port mapping Docker would refuse.
    #[error("port mapping \"{container_port}\" -> \"{host_port}\" is not valid: {reason}")]
    Port {
        /// Container port (after substitution).
        container_port: String,
        /// Host port (after substitution).
        host_port: String,
        /// Why.
        reason: &'static str,
    },
}

fn quote_list(names: &[String]) -> String {
    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

impl XnatError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            XnatError::InvalidCommand { .. } => Some("run `berth validate` on the Command to see every problem".into()),
            XnatError::NoImage { .. } => Some(
                "add `\"image\": \"name:tag\"` to the Command (XNAT fills it in for Commands read from an image's \
                 `org.nrg.commands` label)"
                    .into(),
            ),
            XnatError::Inputs { .. } => None,
            XnatError::UnknownMount { known, .. } => Some(if known.is_empty() {
                "the Command declares no mounts".into()
            } else {
                format!("the Command's mounts are {}", quote_list(known))
            }),
            XnatError::MissingMounts { names } => Some(format!(
                "bind each to a host directory: {}",
                names.iter().map(|n| format!("`--mount {n}=HOSTPATH`")).collect::<Vec<_>>().join(" ")
            )),
            XnatError::MountPath { .. } => Some(
                "a mount's `path` is where the container sees it: an absolute path such as `/input`; check the \
                 input values its replacement keys stand for"
                    .into(),
            ),
            XnatError::OutputOutsideMount { .. } => {
                Some("output paths are relative to their mount and may not contain `..`".into())
            }
            XnatError::Port { .. } => {
                Some("map a container port number to a host port, e.g. `\"5000\": \"8080\"`".into())
            }
        }
    }

    /// The problems behind the error, when it carries a list.
    pub fn problems(&self) -> Option<&Problems> {
        match self {
            XnatError::InvalidCommand { problems, .. } | XnatError::Inputs { problems, .. } => Some(problems),
            _ => None,
        }
    }
}

/// Plans one run of `command` with `inputs` (a JSON object of values by input name; `null`
/// for none) and `mounts` (mount name to host directory).
pub fn plan(command: &Command, inputs: &Value, mounts: &BTreeMap<String, PathBuf>) -> Result<XnatPlan, XnatError> {
    plan_as(command, inputs, mounts, false)
}

/// Plans `command` for looking at, not for running: a mount without a host directory is shown
/// as `<unbound mount NAME>` and a required input without a value as `<NAME>`, each flagged
/// with a warning (`unbound-mount`, `unbound-input`), so a Command whose values XNAT derives
/// from its wrappers can be previewed before any is known. [`XnatPlan::preview`] is set;
/// never run such a plan.
pub fn preview(command: &Command, inputs: &Value, mounts: &BTreeMap<String, PathBuf>) -> Result<XnatPlan, XnatError> {
    plan_as(command, inputs, mounts, true)
}

fn plan_as(
    command: &Command,
    inputs: &Value,
    mounts: &BTreeMap<String, PathBuf>,
    preview: bool,
) -> Result<XnatPlan, XnatError> {
    let name = command.name.clone();
    let problems = crate::validate::check(command, "");
    let errors: Vec<Problem> = problems.iter().filter(|p| p.is_error()).cloned().collect();
    if !errors.is_empty() {
        return Err(XnatError::InvalidCommand { command: name, problems: Problems(errors) });
    }
    let image = command.image_with_tag().ok_or_else(|| XnatError::NoImage { command: name.clone() })?;
    let resolved = render::resolve(command, inputs, preview)
        .map_err(|problems| XnatError::Inputs { command: name.clone(), problems })?;
    let mut warnings = resolved.warnings.clone();
    let line_values = resolved.command_line_values(command);
    let values = resolved.template_values(command);
    let template = |t: &str| substitute(t, &values);

    // Declared mounts; setup and wrapup Commands get XNAT's fixed `input` and `output`.
    let declared: Vec<(String, String, bool)> = match command.kind {
        CommandType::DockerSetup | CommandType::DockerWrapup => {
            vec![("input".into(), "/input".into(), false), ("output".into(), "/output".into(), true)]
        }
        _ => command
            .mounts
            .iter()
            .map(|m| (m.name.clone(), template(m.path.as_deref().unwrap_or_default()), m.writable))
            .collect(),
    };
    if let Some(unknown) = mounts.keys().find(|k| !declared.iter().any(|(n, _, _)| n == *k)) {
        return Err(XnatError::UnknownMount {
            command: name,
            name: unknown.clone(),
            known: declared.iter().map(|(n, _, _)| n.clone()).collect(),
        });
    }
    let missing: Vec<String> =
        declared.iter().filter(|(n, _, _)| !mounts.contains_key(n)).map(|(n, _, _)| n.clone()).collect();
    let mut mounts = mounts.clone();
    if preview {
        for m in &missing {
            warnings.push(
                Problem::warning(
                    "unbound-mount",
                    "/mounts",
                    format!("mount \"{m}\" is bound to no host directory; shown as `<unbound mount {m}>`"),
                )
                .hint(format!("this is a preview only: bind it with `--mount {m}=HOSTPATH` to run the Command")),
            );
            mounts.insert(m.clone(), PathBuf::from(format!("<unbound mount {m}>")));
        }
    } else if !missing.is_empty() {
        return Err(XnatError::MissingMounts { names: missing });
    }
    // The engine binds each mount at its container path; a relative path (or one a value
    // filled with a line break) is refused here, naming the mount, rather than by the engine
    // after the run was recorded.
    for (mount, path, _) in &declared {
        let reason = if !path.starts_with('/') {
            Some("is not an absolute path")
        } else if path.chars().any(char::is_control) {
            Some("holds a control character")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(XnatError::MountPath { mount: mount.clone(), path: path.clone(), reason });
        }
    }
    let planned_mounts: Vec<PlannedMount> = declared
        .into_iter()
        .map(|(name, container_path, writable)| PlannedMount {
            host_path: mounts[&name].clone(),
            name,
            container_path,
            writable,
        })
        .collect();

    let line_template = command.command_line.as_deref().unwrap_or_default();
    let command_line = substitute(line_template, &line_values);
    let execution = if command.overrides_entrypoint() {
        Execution { override_entrypoint: true, cmd: vec!["/bin/sh".into(), "-c".into(), command_line.clone()] }
    } else {
        let s = split(&command_line);
        if let Some(q) = s.unterminated_quote {
            warnings.push(
                Problem::warning(
                    "unterminated-quote",
                    "/command-line",
                    format!("the command line leaves a {q} quote open"),
                )
                .hint("XNAT splits it anyway, taking the rest of the line as one argument; close the quote"),
            );
        }
        if s.trailing_backslash {
            warnings.push(
                Problem::warning("trailing-backslash", "/command-line", "the command line ends with a backslash")
                    .hint("XNAT drops it; remove it"),
            );
        }
        Execution { override_entrypoint: false, cmd: s.args }
    };

    for (key, t) in [("/command-line", line_template)]
        .into_iter()
        .chain(command.working_directory.as_deref().map(|w| ("/working-directory", w)))
        .chain(command.environment_variables.values().map(|v| ("/environment-variables", v.as_str())))
    {
        if let Some(m) = jsonpath_marker(t) {
            warnings.push(
                Problem::warning("jsonpath-not-evaluated", key, format!("`{m}` is used as written"))
                    .hint("XNAT would evaluate it as a JSONPath search over the Command; berth does not"),
            );
        }
    }

    let mut outputs = Vec::new();
    for o in &command.outputs {
        let mount_name = o.mount.clone().unwrap_or_default();
        // Validation guarantees the mount exists.
        let Some(m) = planned_mounts.iter().find(|m| m.name == mount_name) else { continue };
        let path = template(o.path.as_deref().unwrap_or_default());
        let relative = inside(&path)
            .ok_or_else(|| XnatError::OutputOutsideMount { output: o.name.clone(), path: path.clone() })?;
        let container_path = if relative.as_os_str().is_empty() {
            m.container_path.clone()
        } else {
            format!("{}/{}", m.container_path.trim_end_matches('/'), relative.display())
        };
        outputs.push(PlannedOutput {
            name: o.name.clone(),
            description: o.description.clone(),
            required: o.required == Some(true),
            mount: mount_name,
            path,
            glob: o.glob.clone(),
            container_path,
            host_path: if relative.as_os_str().is_empty() { m.host_path.clone() } else { m.host_path.join(&relative) },
        });
    }

    let mut ports = IndexMap::new();
    for (c, h) in &command.ports {
        let (c, h) = (template(c), template(h));
        if c.trim().parse::<u16>().is_err() {
            return Err(XnatError::Port {
                container_port: c,
                host_port: h,
                reason: "the container port is not a port number",
            });
        }
        if h.trim().is_empty() {
            return Err(XnatError::Port { container_port: c, host_port: h, reason: "the host port is blank" });
        }
        ports.insert(c, h);
    }

    let wrapper_keys: Vec<String> = command
        .wrappers
        .iter()
        .flat_map(|w| {
            w.external_inputs
                .iter()
                .map(|e| e.replacement_key())
                .chain(w.derived_inputs.iter().map(|d| d.replacement_key()))
        })
        .collect();
    let environment: IndexMap<String, String> =
        command.environment_variables.iter().map(|(k, v)| (template(k), template(v))).collect();
    let container_labels: IndexMap<String, String> =
        command.container_labels.iter().map(|(k, v)| (template(k), template(v))).collect();
    let working_directory = command.working_directory.as_deref().filter(|w| !w.trim().is_empty()).map(template);
    for (at, text) in environment
        .iter()
        .map(|(k, v)| ("/environment-variables", format!("{k}={v}")))
        .chain(planned_mounts.iter().map(|m| ("/mounts", m.container_path.clone())))
        .chain(outputs.iter().map(|o| ("/outputs", o.path.clone())))
        .chain(working_directory.iter().map(|w| ("/working-directory", w.clone())))
    {
        if let Some(k) = wrapper_keys.iter().find(|k| text.contains(k.as_str())) {
            warnings.push(
                Problem::warning("wrapper-key-not-resolved", at, format!("`{k}` stays as written in \"{text}\"")).hint(
                    "it is a wrapper input's key, which XNAT fills from XNAT data; berth does not resolve wrappers",
                ),
            );
        }
    }

    let xnat_environment = xnat_environment(
        [line_template]
            .into_iter()
            .chain(environment.values().map(String::as_str))
            .chain(resolved.inputs.values().filter_map(|i| i.value.as_deref())),
        &environment,
    );
    if !xnat_environment.is_empty() {
        warnings.push(
            Problem::warning(
                "xnat-environment",
                "/command-line",
                format!(
                    "the Command uses {}, which XNAT sets in every container and berth does not",
                    xnat_environment.iter().map(|n| format!("`${n}`")).collect::<Vec<_>>().join(", ")
                ),
            )
            .hint("supply them from the runner's environment to run against an XNAT; the plan lists them in `xnat_environment`"),
        );
    }

    Ok(XnatPlan {
        command: command.name.clone(),
        version: command.version.clone(),
        kind: command.kind.clone(),
        image,
        command_line,
        execution,
        working_directory,
        container_name: command.container_name.as_deref().filter(|n| !n.trim().is_empty()).map(template),
        environment,
        ports,
        mounts: planned_mounts,
        outputs,
        resources: resources(command),
        runtime: command.runtime.clone().filter(|s| !s.is_empty()),
        ipc_mode: command.ipc_mode.clone().filter(|s| !s.is_empty()),
        network: command.network.clone().filter(|s| !s.is_empty()),
        auto_remove: command.auto_remove == Some(true),
        container_labels,
        secrets: command.secrets.clone(),
        xnat_environment,
        inputs: resolved.inputs,
        warnings,
        preview,
    })
}

/// The environment variables XNAT adds at launch (`ContainerServiceImpl`
/// `getDefaultEnvironmentVariablesForLaunch`).
pub const XNAT_LAUNCH_ENVIRONMENT: [&str; 5] =
    ["XNAT_HOST", "XNAT_USER", "XNAT_PASS", "XNAT_WORKFLOW_ID", "XNAT_EVENT_ID"];

/// The names of [`XNAT_LAUNCH_ENVIRONMENT`] that `texts` refer to as `$NAME` or `${NAME}` and
/// that the Command does not set itself.
fn xnat_environment<'a>(texts: impl Iterator<Item = &'a str>, own: &IndexMap<String, String>) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for text in texts {
        for name in XNAT_LAUNCH_ENVIRONMENT {
            let used = text.match_indices(name).any(|(i, _)| {
                let before = &text[..i];
                let after = text[i + name.len()..].chars().next();
                let word_ends = !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                (before.ends_with('$') && word_ends) || (before.ends_with("${") && after == Some('}'))
            });
            if used && !own.contains_key(name) && !found.iter().any(|f| f == name) {
                found.push(name.to_string());
            }
        }
    }
    found.sort_by_key(|n| XNAT_LAUNCH_ENVIRONMENT.iter().position(|x| x == n));
    found
}

/// `path` as a relative path that stays inside its mount, or `None`.
fn inside(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

const MIB: i64 = 1024 * 1024;

fn resources(c: &Command) -> Resources {
    Resources {
        reserve_memory_bytes: c.reserve_memory.and_then(|m| m.checked_mul(MIB)),
        limit_memory_bytes: c.limit_memory.and_then(|m| m.checked_mul(MIB)),
        cpus: c.limit_cpu,
        // `(long) (1e9 * cpus)`, as XNAT computes it.
        nano_cpus: c.limit_cpu.map(|cpus| (1e9 * cpus) as i64),
        gpus: c.gpus.clone().filter(|g| !g.trim().is_empty()),
        generic_resources: c
            .generic_resources
            .iter()
            .map(|(k, v)| {
                // Commons' `StringUtils.isNumeric`: digits only.
                let r = if !v.is_empty() && v.chars().all(|ch| ch.is_ascii_digit()) {
                    v.parse().map_or_else(|_| GenericResource::Named(v.clone()), GenericResource::Count)
                } else {
                    GenericResource::Named(v.clone())
                };
                (k.clone(), r)
            })
            .collect(),
        // XNAT passes `shm-size` to Docker only when it is not negative.
        shm_size_bytes: c.shm_size.filter(|s| *s >= 0),
        ulimits: c
            .ulimits
            .iter()
            .filter_map(|(k, v)| {
                let mut parts = v.split(':').map(|p| p.trim().parse::<i64>());
                let soft = parts.next()?.ok()?;
                let hard = match parts.next() {
                    Some(h) => h.ok()?,
                    None => soft,
                };
                Some((k.clone(), Ulimit { soft, hard }))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xnat_environment_is_found_as_shell_variables_only() {
        let own = IndexMap::from([("XNAT_EVENT_ID".to_string(), "1".to_string())]);
        let found = xnat_environment(
            ["run $XNAT_PASS ${XNAT_HOST} $XNAT_USERNAME XNAT_WORKFLOW_ID $XNAT_EVENT_ID", "$XNAT_USER"].into_iter(),
            &own,
        );
        assert_eq!(found, ["XNAT_HOST", "XNAT_USER", "XNAT_PASS"]);
    }

    #[test]
    fn output_paths_stay_inside_their_mount() {
        assert_eq!(inside("a/./b/../c"), Some(PathBuf::from("a/c")));
        assert_eq!(inside(""), Some(PathBuf::new()));
        assert_eq!(inside("../x"), None);
        assert_eq!(inside("a/../../x"), None);
        assert_eq!(inside("/etc/passwd"), None);
    }
}
