//! From a descriptor and an invocation to exactly what the engine will be asked to run.
//!
//! Everything that can be refused is refused here, before a run record exists or a container
//! starts: invalid invocations, input paths that do not exist, output paths that escape the
//! output directory, a command that needs a shell the descriptor forbids.
//!
//! The container sees a fixed layout, the same on every machine, so a recorded command line
//! can be compared and re-run elsewhere:
//!
//! | container path | what | mode |
//! |---|---|---|
//! | `/berth/out` | the run's output directory, also the working directory | read-write |
//! | `/berth/in/<input-id>/<name>` | each File input (`/berth/in/<id>/<n>/<name>` for list items) | read-only |
//! | `/berth/command.sh` | the command as a script, when it runs through the image's shell | read-only |
//! | `/tmp` | a private tmpfs (`HOME` points here unless the descriptor sets it) | read-write |

use std::path::{Component, Path, PathBuf};

use berth_descriptor::model::InputType;
use berth_descriptor::{Descriptor, Mode, Problems, Value};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::shell::{self, Words};

/// The working directory inside the container, where the output directory is mounted.
pub const WORKDIR: &str = "/berth/out";
/// Where File inputs are mounted.
pub const INPUTS_ROOT: &str = "/berth/in";
/// Where the command script is mounted.
pub const SCRIPT_PATH: &str = "/berth/command.sh";

/// Why a job cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The invocation does not satisfy the descriptor.
    #[error("the invocation is not valid for this descriptor")]
    Invalid(Problems),
    /// A File input names a path that does not exist.
    #[error("input \"{input}\": {path} does not exist")]
    InputMissing {
        /// The input id.
        input: String,
        /// The path as resolved on the host.
        path: PathBuf,
    },
    /// An output path leaves the output directory.
    #[error("output \"{output}\": path `{path}` {why}")]
    OutputEscapes {
        /// The output id (or the configuration file's output id).
        output: String,
        /// The rendered path.
        path: String,
        /// `is absolute` or `leaves the output directory`.
        why: &'static str,
    },
    /// The descriptor names no container image.
    #[error("the descriptor has no `container-image`, and berth only runs tools in containers")]
    NoImage,
    /// The command needs a shell but the descriptor runs it through the image's entrypoint.
    #[error("the command needs a shell ({why}), but the descriptor asks for the image's own entrypoint")]
    EntrypointNeedsShell {
        /// The shell feature found.
        why: String,
    },
    /// The directory of a writable XNAT mount could not be made inside the output directory
    /// (a link or a file is in its place, or the name is not one path component).
    #[error("mount \"{mount}\": {error}")]
    MountDir {
        /// The mount's name.
        mount: String,
        /// What berth-hostpath refused.
        error: berth_hostpath::HostPathError,
    },
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] berth_descriptor::render::RenderError),
    /// The output directory could not be created or used.
    #[error("cannot use the output directory {path}")]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl PrepareError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PrepareError::Invalid(_) => "fix the values listed above; `berth invocation` checks them".into(),
            PrepareError::InputMissing { .. } => {
                "check the path; relative paths are relative to the directory you run berth in".into()
            }
            PrepareError::OutputEscapes { .. } => {
                "outputs must stay inside the output directory: use relative path templates without `..`".into()
            }
            PrepareError::NoImage => "add a `container-image` to the descriptor".into(),
            PrepareError::EntrypointNeedsShell { .. } => {
                "remove `\"entrypoint\": true` from `container-image`, or make the command a plain word list".into()
            }
            PrepareError::MountDir { error, .. } => {
                error.hint().unwrap_or_else(|| "choose another `--output-dir`".into())
            }
            PrepareError::Render(e) => e.hint().into(),
            PrepareError::OutputDir { .. } => "choose another `--output-dir`".into(),
        })
    }
}

/// How the command is executed in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Exec {
    /// bosh's way: the image's shell runs a script holding the command. `argv_fallback` holds
    /// the command's words when no shell feature is used, for images without that shell.
    Shell {
        /// The shell (`/bin/sh` unless the descriptor sets `shell`).
        shell: String,
        /// The script's text (`#!SHELL -l`, then the command, as bosh writes it).
        script: String,
        /// The words, when the command can run without a shell.
        argv_fallback: Option<Vec<String>>,
        /// The shell feature that makes a shell necessary, when there is one.
        needs_shell: Option<String>,
    },
    /// The command's words, passed as arguments to the image's own entrypoint.
    Entrypoint {
        /// The words.
        args: Vec<String>,
    },
    /// An entrypoint and arguments given explicitly (XNAT's `override-entrypoint`:
    /// `/bin/sh -c LINE`).
    Explicit {
        /// The program and its first arguments.
        entrypoint: Vec<String>,
        /// The rest.
        cmd: Vec<String>,
    },
}

impl PreparedJob {
    /// The input mounts.
    pub fn inputs(&self) -> impl Iterator<Item = &JobMount> {
        self.mounts.iter().filter(|m| m.role == MountRole::Input)
    }

    /// The output mounts.
    pub fn output_mounts(&self) -> impl Iterator<Item = &JobMount> {
        self.mounts.iter().filter(|m| m.role == MountRole::Output)
    }
}

/// Whether a mount brings data in or takes results out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountRole {
    /// Read by the tool (hashed before the run).
    Input,
    /// Written by the tool (outputs are looked for here).
    Output,
}

/// A host path bound into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMount {
    /// Input or output.
    pub role: MountRole,
    /// The input id (Boutiques), the mount name (XNAT), or empty for the output directory.
    pub key: String,
    /// The path as the user gave it.
    pub given: String,
    /// The absolute host path.
    pub host: PathBuf,
    /// The path inside the container.
    pub container: String,
    /// Whether the container may not write to it.
    pub read_only: bool,
}

/// An output the tool is expected to produce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedOutput {
    /// The output id.
    pub key: String,
    /// The path inside the container (may hold `*` globs).
    pub container: String,
    /// The same path on the host (under the output directory).
    pub host: PathBuf,
    /// Whether the tool may legitimately not produce it.
    pub optional: bool,
}

/// A configuration file written into the output directory before the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFileOut {
    /// The output id whose `file-template` produced it.
    pub key: String,
    /// Its host path.
    pub host: PathBuf,
    /// Its content.
    pub content: String,
}

/// GPU request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GpuRequest {
    /// No GPU.
    #[default]
    None,
    /// All GPUs.
    All,
    /// This many GPUs.
    Count(u32),
}

/// Resource limits and where each came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory limit in bytes (`None`: unlimited, a recorded relaxation).
    pub memory_bytes: Option<i64>,
    /// Where the memory limit came from.
    pub memory_source: String,
    /// CPU limit in units of 1e-9 CPUs.
    pub nano_cpus: Option<i64>,
    /// Where the CPU limit came from.
    pub cpus_source: String,
    /// Maximum number of processes.
    pub pids_limit: Option<i64>,
    /// GPUs.
    pub gpus: GpuRequest,
}

/// A security setting relaxed on request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relaxation {
    /// The flag that asked for it.
    pub flag: String,
    /// What it changed.
    pub effect: String,
}

/// The user, network and capabilities of the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    /// User id inside the container.
    pub uid: u32,
    /// Group id inside the container.
    pub gid: u32,
    /// Why this user (`invoking user`, `sudo user`, `nobody, because berth runs as root`, `--user`).
    pub user_source: String,
    /// Network mode (`none` by default).
    pub network: String,
    /// Capabilities added back after dropping all.
    pub cap_add: Vec<String>,
    /// Every setting relaxed from the defaults, with the flag that asked for it.
    pub relaxations: Vec<Relaxation>,
}

/// Everything needed to run one tool invocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreparedJob {
    /// Tool name.
    pub tool: String,
    /// Tool version.
    pub tool_version: String,
    /// The descriptor's exact text.
    pub descriptor_json: String,
    /// Its SHA-256.
    pub descriptor_sha256: String,
    /// The invocation as given, with defaults added (host paths).
    pub invocation: IndexMap<String, Value>,
    /// The container image reference.
    pub image: String,
    /// The command line rendered with container paths.
    pub command_line: String,
    /// How it runs.
    pub exec: Exec,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// The working directory inside the container (`None`: the image's).
    pub workdir: Option<String>,
    /// The output directory on the host (absolute): outputs are confined under it.
    pub output_dir: PathBuf,
    /// Every bind mount (inputs read-only, outputs read-write), the command script aside.
    pub mounts: Vec<JobMount>,
    /// Declared outputs.
    pub outputs: Vec<ExpectedOutput>,
    /// Configuration files to write before running.
    pub config_files: Vec<ConfigFileOut>,
    /// Resource limits.
    pub limits: Limits,
    /// User, network, capabilities.
    pub security: Security,
    /// Warnings that did not block the job (shown, not persisted).
    #[serde(skip)]
    pub warnings: Problems,
    /// Where the engine sees host paths that berth sees elsewhere (a server whose data is
    /// mounted under another prefix on the engine's host); applied to bind-mount sources only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_paths: Vec<PathMapping>,
    /// The data roots inputs must lie beneath (resolved), set by the service: when the run
    /// starts each input is opened beneath its root without following links
    /// ([`crate::inputs::pin`]). Empty: inputs are opened along the canonical path `prepare`
    /// resolved, still without following links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_roots: Vec<PathBuf>,
    /// The file-access tracer (berth-trace on this host) to run the job under: the paths the
    /// run accessed are kept with it ([`crate::trace`], `berth run --trace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<PathBuf>,
}

/// A host path prefix as berth sees it (`from`) and as the engine sees it (`to`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathMapping {
    /// The prefix on berth's side.
    pub from: PathBuf,
    /// The same directory on the engine's side.
    pub to: PathBuf,
}

/// A `FROM=TO` entry of a path map that is not two plain absolute paths.
#[derive(Debug, thiserror::Error)]
#[error("`{entry}` is not FROM=TO with two absolute paths without `..` or control characters")]
pub struct PathMappingError {
    /// The entry as given.
    pub entry: String,
}

impl PathMappingError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some("write e.g. `/data=/mnt/cluster/data`".into())
    }
}

impl PathMapping {
    /// Parses `FROM=TO`. Both sides must be absolute, without `..` components or control
    /// characters: a mapping must not lead out of its prefix (`PreparedJob::engine_path` matches
    /// whole components, so `/home` never maps `/homeevil`). The one parser for `--path-map`,
    /// `--slurm-path-map` and `[slurm] path_map`.
    pub fn parse(entry: &str) -> Result<Self, PathMappingError> {
        let plain =
            |p: &str| p.starts_with('/') && !p.split('/').any(|c| c == "..") && !p.chars().any(char::is_control);
        let (from, to) = entry
            .split_once('=')
            .filter(|(f, t)| plain(f) && plain(t))
            .ok_or_else(|| PathMappingError { entry: entry.to_string() })?;
        Ok(Self { from: PathBuf::from(from), to: PathBuf::from(to) })
    }
}

impl PreparedJob {
    /// `path` as the engine sees it: the longest matching [`PathMapping`] applied, if any.
    pub fn engine_path(&self, path: &Path) -> PathBuf {
        map_path(&self.engine_paths, path)
    }
}

/// `path` with the longest matching prefix of `mappings` replaced (whole components only).
pub fn map_path(mappings: &[PathMapping], path: &Path) -> PathBuf {
    mappings
        .iter()
        .filter_map(|m| path.strip_prefix(&m.from).ok().map(|rest| (m.from.as_os_str().len(), m.to.join(rest))))
        .max_by_key(|(len, _)| *len)
        .map(|(_, p)| p)
        .unwrap_or_else(|| path.to_path_buf())
}

/// Choices the caller makes for a run.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// The host directory outputs go to (created if missing).
    pub output_dir: PathBuf,
    /// The directory relative input paths are relative to.
    pub cwd: PathBuf,
    /// bosh-compatible or strict rendering.
    pub mode: Mode,
    /// `--memory` (`Some(None)`: `--memory none`).
    pub memory: Option<Option<i64>>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--pids-limit` (`Some(None)`: unlimited).
    pub pids_limit: Option<Option<i64>>,
    /// `--gpus`.
    pub gpus: GpuRequest,
    /// `--network`.
    pub network: Option<String>,
    /// `--user UID:GID` (or `root`).
    pub user: Option<(u32, u32)>,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// Defaults from the configuration file.
    pub config: berth_config::RunConfig,
    /// The host facts that defaults depend on.
    pub host: HostFacts,
}

impl PrepareOptions {
    /// Options with nothing asked beyond the configuration: bosh-compatible rendering, the
    /// descriptor's and the configuration's limits, berth's secure defaults.
    pub fn with_defaults(
        output_dir: PathBuf,
        cwd: PathBuf,
        config: berth_config::RunConfig,
        host: HostFacts,
    ) -> PrepareOptions {
        PrepareOptions {
            output_dir,
            cwd,
            mode: Mode::Bosh,
            memory: None,
            cpus: None,
            pids_limit: None,
            gpus: GpuRequest::default(),
            network: None,
            user: None,
            cap_add: Vec::new(),
            config,
            host,
        }
    }
}

/// Facts about the host that choose defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// The real user id berth runs as.
    pub uid: u32,
    /// The real group id.
    pub gid: u32,
    /// `SUDO_UID`/`SUDO_GID` when berth runs under sudo.
    pub sudo: Option<(u32, u32)>,
    /// Total memory in bytes.
    pub memory_bytes: i64,
    /// Number of CPUs.
    pub cpus: u32,
}

/// The uid/gid berth falls back to when it runs as root: `nobody`/`nogroup`.
pub const NOBODY: (u32, u32) = (65534, 65534);
/// The default process limit.
pub const DEFAULT_PIDS_LIMIT: i64 = 1024;

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lexically normalizes an absolute container path (no symlinks exist in the plan).
fn normalize_container(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::RootDir => {}
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::Prefix(_) => return None,
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Maps a rendered output path to its place under the output directory, refusing escapes.
pub(crate) fn confine(key: &str, rendered: &str, output_dir: &Path) -> Result<(String, PathBuf), PrepareError> {
    let escape = |why| PrepareError::OutputEscapes { output: key.to_string(), path: rendered.to_string(), why };
    let joined = if rendered.starts_with('/') {
        // `uses-absolute-path` outputs are made absolute against the working directory; any
        // other absolute path was written into the template.
        if !(rendered == WORKDIR || rendered.starts_with(&format!("{WORKDIR}/"))) {
            return Err(escape("is absolute and outside the output directory"));
        }
        rendered.to_string()
    } else {
        format!("{WORKDIR}/{rendered}")
    };
    let norm = normalize_container(&joined).ok_or_else(|| escape("leaves the output directory"))?;
    let rel = norm.strip_prefix(WORKDIR).ok_or_else(|| escape("leaves the output directory"))?;
    if !(rel.is_empty() || rel.starts_with('/')) {
        return Err(escape("leaves the output directory"));
    }
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        return Err(escape("is the output directory itself"));
    }
    Ok((norm.clone(), output_dir.join(rel)))
}

fn file_name_for(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| "data".into())
}

/// Prepares a Boutiques invocation for running. `descriptor_text` is the exact descriptor
/// text (hashed into the record).
pub fn prepare(
    d: &Descriptor,
    descriptor_text: &str,
    invocation: &Value,
    opts: &PrepareOptions,
) -> Result<PreparedJob, PrepareError> {
    let image = d
        .container
        .as_ref()
        .and_then(|c| c.image.clone())
        .map(|i| {
            // bosh lets `index` name the registry separately; berth pulls through the engine.
            match d.container.as_ref().and_then(|c| c.index.as_deref()) {
                Some(idx) if !idx.is_empty() && !idx.contains("://") && !i.contains('/') => format!("{idx}/{i}"),
                _ => i,
            }
        })
        .ok_or(PrepareError::NoImage)?;

    // Validate what the user wrote first, so messages show their values.
    let checked = berth_descriptor::invocation::check(d, invocation, opts.mode);
    if checked.problems.iter().any(|p| p.is_error()) {
        return Err(PrepareError::Invalid(checked.problems));
    }
    let mut warnings = checked.problems.clone();

    // File inputs: resolve on the host, check they exist, give each a container path.
    let mut inputs = Vec::new();
    let mut container_values = checked.values.clone();
    for i in d.inputs.iter().filter(|i| i.kind == InputType::File) {
        let Some(v) = checked.values.get(&i.id) else { continue };
        let resolve = |given: &str, slot: Option<usize>| -> Result<JobMount, PrepareError> {
            let p = Path::new(given);
            let host = if p.is_absolute() { p.to_path_buf() } else { opts.cwd.join(p) };
            let host = std::fs::canonicalize(&host)
                .map_err(|_| PrepareError::InputMissing { input: i.id.clone(), path: host.clone() })?;
            let name = file_name_for(&host);
            let container = match slot {
                Some(n) => format!("{INPUTS_ROOT}/{}/{n}/{name}", i.id),
                None => format!("{INPUTS_ROOT}/{}/{name}", i.id),
            };
            Ok(JobMount {
                role: MountRole::Input,
                key: i.id.clone(),
                given: given.to_string(),
                host,
                container,
                read_only: true,
            })
        };
        let mapped = match v {
            Value::List(items) => {
                let mut out = Vec::new();
                for (n, item) in items.iter().enumerate() {
                    let m = resolve(&item.py_str(), Some(n))?;
                    out.push(Value::Str(m.container.clone()));
                    inputs.push(m);
                }
                Value::List(out)
            }
            Value::Null => continue,
            other => {
                let m = resolve(&other.py_str(), None)?;
                let c = Value::Str(m.container.clone());
                inputs.push(m);
                c
            }
        };
        container_values.insert(i.id.clone(), mapped);
    }

    let rendered = berth_descriptor::render::render(d, &container_values, opts.mode, WORKDIR)?;

    std::fs::create_dir_all(&opts.output_dir)
        .map_err(|source| PrepareError::OutputDir { path: opts.output_dir.clone(), source })?;
    let output_dir = std::fs::canonicalize(&opts.output_dir)
        .map_err(|source| PrepareError::OutputDir { path: opts.output_dir.clone(), source })?;

    let mut outputs = Vec::new();
    for o in &d.outputs {
        let Some(path) = rendered.outputs.get(&o.id) else { continue };
        let (container, host) = confine(&o.id, path, &output_dir)?;
        outputs.push(ExpectedOutput { key: o.id.clone(), container, host, optional: o.is_optional() });
    }
    let mut config_files = Vec::new();
    for f in &rendered.config_files {
        let (_, host) = confine(&f.id, &f.path, &output_dir)?;
        config_files.push(ConfigFileOut { key: f.id.clone(), host, content: f.content.clone() });
    }

    let exec = if d.container.as_ref().and_then(|c| c.entrypoint) == Some(true) {
        match shell::split(&rendered.command_line) {
            Words::Plain(args) => Exec::Entrypoint { args },
            Words::NeedsShell(why) => return Err(PrepareError::EntrypointNeedsShell { why }),
        }
    } else {
        let shell_path = d.shell().to_string();
        // bosh's script: `#!SHELL` (with ` -l` for /bin/sh), a line break, the command.
        let login = if shell_path == "/bin/sh" { " -l" } else { "" };
        let script = format!("#!{shell_path}{login}\n{}", rendered.command_line);
        let (argv_fallback, needs_shell) = match shell::split(&rendered.command_line) {
            Words::Plain(w) => (Some(w), None),
            Words::NeedsShell(why) => (None, Some(why)),
        };
        Exec::Shell { shell: shell_path, script, argv_fallback, needs_shell }
    };

    // Environment: the descriptor's, then a writable HOME unless it sets one.
    let plan_env = berth_descriptor::plan::environment(d, &checked.values);
    let mut env: Vec<(String, String)> = plan_env.into_iter().collect();
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.push(("HOME".into(), "/tmp".into()));
    }

    let (limits, mut relaxations, capped) = limits(&Suggested::of(d), opts)?;
    warnings.0.extend(capped.0);
    let security = security(opts, &mut relaxations);
    if security.uid != 0 {
        for m in &inputs {
            if let Some(w) = unreadable_warning(m, security.uid, security.gid) {
                warnings.push(w);
            }
        }
    }
    Ok(PreparedJob {
        tool: d.name.clone(),
        tool_version: d.tool_version.clone(),
        descriptor_json: descriptor_text.to_string(),
        descriptor_sha256: berth_descriptor::descriptor_sha256(&d.doc),
        invocation: checked.values,
        image,
        command_line: rendered.command_line,
        exec,
        env,
        workdir: Some(WORKDIR.into()),
        mounts: std::iter::once(JobMount {
            role: MountRole::Output,
            key: String::new(),
            given: opts.output_dir.to_string_lossy().into_owned(),
            host: output_dir.clone(),
            container: WORKDIR.into(),
            read_only: false,
        })
        .chain(inputs)
        .collect(),
        output_dir,
        outputs,
        config_files,
        limits,
        security: Security { relaxations, ..security },
        warnings,
        engine_paths: Vec::new(),
        input_roots: Vec::new(),
        trace: None,
    })
}

/// What a descriptor suggests: memory in bytes and CPUs, each with where it came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Suggested {
    pub memory: Option<(i64, String)>,
    pub cpus: Option<(f64, String)>,
}

impl Suggested {
    fn of(d: &Descriptor) -> Suggested {
        let sr = &d.suggested_resources;
        Suggested {
            // Boutiques `ram` is in GB; read it as GiB, the generous reading.
            memory: sr
                .ram
                .filter(|gb| *gb > 0.0)
                .map(|gb| ((gb * (1u64 << 30) as f64).ceil() as i64, "descriptor suggested-resources.ram".to_string())),
            cpus: sr
                .cpu_cores
                .filter(|c| *c > 0)
                .map(|c| (c as f64, "descriptor suggested-resources.cpu-cores".to_string())),
        }
    }
}

/// The memory and CPU limits, the relaxations asked for, and a warning for every request capped
/// at the host or at the site's maximum (`[run] max_memory`, `max_cpus`). Every caller (the
/// CLI, the server, pipelines, the Slurm backend) prepares through here, so none can give a
/// container more than the host has or the site allows (issue 14, finding 7).
pub(crate) fn limits(
    suggested: &Suggested,
    opts: &PrepareOptions,
) -> Result<(Limits, Vec<Relaxation>, Problems), PrepareError> {
    let mut relaxations = Vec::new();
    let mut warnings = Problems::default();
    let config_memory = opts.config.memory.as_deref().and_then(|m| berth_config::parse_size(m).ok());
    let site_memory = opts.config.max_memory.as_deref().and_then(|m| berth_config::parse_size(m).ok());
    let host_memory = Some(opts.host.memory_bytes).filter(|m| *m > 0);
    // The lower of the host's memory and the site's maximum, and which one it is.
    let memory_cap = match (host_memory, site_memory) {
        (Some(h), Some(s)) if s < h => Some((s, "the site maximum (configuration run.max_memory)")),
        (Some(h), _) => Some((h, "the host's memory")),
        (None, Some(s)) => Some((s, "the site maximum (configuration run.max_memory)")),
        (None, None) => None,
    };
    let (mut memory_bytes, mut memory_source) = match opts.memory {
        Some(Some(m)) => (Some(m), "--memory".to_string()),
        Some(None) if site_memory.is_none() => {
            relaxations.push(Relaxation { flag: "--memory none".into(), effect: "no memory limit".into() });
            (None, "--memory none".to_string())
        }
        Some(None) => (None, "--memory none".to_string()),
        None => match (&suggested.memory, config_memory) {
            (Some((m, from)), _) => (Some(*m), from.clone()),
            (_, Some(m)) => (Some(m), "configuration run.memory".to_string()),
            _ => {
                let m = opts.host.memory_bytes / 10 * 8;
                (Some(m), "default: 80% of the host's memory".to_string())
            }
        },
    };
    match (memory_bytes, memory_cap, site_memory) {
        (Some(m), Some((cap, what)), _) if m > cap => {
            if !memory_source.starts_with("default") {
                warnings.push(capped("memory", &memory_source, &bytes(m), what, &bytes(cap)));
                memory_source = format!("{memory_source}, capped at {what}");
            } else {
                memory_source = "configuration run.max_memory".into();
            }
            memory_bytes = Some(cap);
        }
        // `--memory none` where the site sets a maximum: the maximum.
        (None, _, Some(s)) => {
            warnings.push(capped(
                "memory",
                &memory_source,
                "no limit",
                "the site maximum (configuration run.max_memory)",
                &bytes(s),
            ));
            memory_source = "--memory none, capped at the site maximum (configuration run.max_memory)".into();
            memory_bytes = Some(s);
        }
        _ => {}
    }
    let (cpus, mut cpus_source) = match (opts.cpus, &suggested.cpus, opts.config.cpus) {
        (Some(c), _, _) => (c, "--cpus".to_string()),
        (None, Some((c, from)), _) => (*c, from.clone()),
        (None, _, Some(c)) => (c, "configuration run.cpus".to_string()),
        _ => (f64::from(opts.host.cpus), "default: all host CPUs".to_string()),
    };
    let host_cpus = f64::from(opts.host.cpus.max(1));
    let cpus_cap = match opts.config.max_cpus.filter(|c| c.is_finite() && *c > 0.0) {
        Some(s) if s < host_cpus => (s, "the site maximum (configuration run.max_cpus)"),
        _ => (host_cpus, "the host's CPUs"),
    };
    let cpus = if cpus > cpus_cap.0 {
        if cpus_source.starts_with("default") {
            cpus_source = "configuration run.max_cpus".into();
        } else {
            warnings.push(capped("CPUs", &cpus_source, &cpus.to_string(), cpus_cap.1, &cpus_cap.0.to_string()));
            cpus_source = format!("{cpus_source}, capped at {}", cpus_cap.1);
        }
        cpus_cap.0
    } else {
        cpus
    };
    let pids_limit = match opts.pids_limit {
        Some(Some(p)) => {
            if p > opts.config.pids_limit.unwrap_or(DEFAULT_PIDS_LIMIT) {
                relaxations
                    .push(Relaxation { flag: format!("--pids-limit {p}"), effect: "raised the process limit".into() });
            }
            Some(p)
        }
        Some(None) => {
            relaxations.push(Relaxation { flag: "--pids-limit none".into(), effect: "no process limit".into() });
            None
        }
        None => Some(opts.config.pids_limit.unwrap_or(DEFAULT_PIDS_LIMIT)),
    };
    if opts.gpus != GpuRequest::None {
        relaxations.push(Relaxation { flag: "--gpus".into(), effect: format!("GPU access ({:?})", opts.gpus) });
    }
    Ok((
        Limits {
            memory_bytes,
            memory_source,
            nano_cpus: Some((cpus * 1e9).round() as i64),
            cpus_source,
            pids_limit,
            gpus: opts.gpus,
        },
        relaxations,
        warnings,
    ))
}

/// The warning for a request lowered to a cap: what asked for how much, and what was given.
fn capped(what: &str, from: &str, asked: &str, cap: &str, given: &str) -> berth_descriptor::Problem {
    berth_descriptor::Problem::warning(
        "resource-capped",
        "",
        format!("{what}: {from} asks for {asked}, more than {cap}; the container gets {given}"),
    )
    .hint(
        "ask for what the tool needs; the site's maxima are `max_memory` and `max_cpus` in the configuration \
         file's `[run]` table (docs/configuration.md)",
    )
}

/// A byte count for a message: MiB below 1 GiB, else GiB.
fn bytes(b: i64) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    const GIB: f64 = (1u64 << 30) as f64;
    let f = b as f64;
    if f < GIB { format!("{:.0} MiB", f / MIB) } else { format!("{:.1} GiB", f / GIB) }
}

pub(crate) fn security(opts: &PrepareOptions, relaxations: &mut Vec<Relaxation>) -> Security {
    let ((uid, gid), user_source) = match opts.user {
        Some((0, g)) => {
            relaxations.push(Relaxation { flag: "--user root".into(), effect: "the tool runs as root".into() });
            ((0, g), "--user".to_string())
        }
        Some(u) => (u, "--user".to_string()),
        None => match (opts.host.uid, opts.host.sudo) {
            (0, Some((u, g))) if u != 0 => ((u, g), "the user who ran sudo".to_string()),
            (0, _) => (NOBODY, "nobody, because berth runs as root".to_string()),
            (u, _) => ((u, opts.host.gid), "the invoking user".to_string()),
        },
    };
    let network = opts.network.clone().unwrap_or_else(|| "none".into());
    if network != "none" {
        relaxations
            .push(Relaxation { flag: format!("--network {network}"), effect: "the tool can use the network".into() });
    }
    for c in &opts.cap_add {
        relaxations.push(Relaxation { flag: format!("--cap-add {c}"), effect: format!("capability {c} kept") });
    }
    Security { uid, gid, user_source, network, cap_add: opts.cap_add.clone(), relaxations: Vec::new() }
}

/// A warning when the container user cannot read an input (judged from its mode bits).
pub(crate) fn unreadable_warning(m: &JobMount, uid: u32, gid: u32) -> Option<berth_descriptor::Problem> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(&m.host).ok()?;
    let mode = md.mode();
    let need = if md.is_dir() { 0o5 } else { 0o4 };
    let ok = if md.uid() == uid {
        (mode >> 6) & need == need
    } else if md.gid() == gid {
        (mode >> 3) & need == need
    } else {
        mode & need == need
    };
    (!ok).then(|| {
        berth_descriptor::Problem::warning(
            "input-unreadable",
            format!("/{}", m.key),
            format!("input \"{}\": {} may not be readable by the container user {uid}:{gid}", m.key, m.host.display()),
        )
        .hint("make it world-readable (chmod o+r), or run with `--user UID:GID`")
    })
}

#[cfg(test)]
mod path_map_tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins_and_only_whole_components_match() {
        let m = |f: &str, t: &str| PathMapping { from: f.into(), to: t.into() };
        let maps = [m("/data", "/mnt/data"), m("/data/xnat/archive", "/docker/archive")];
        assert_eq!(map_path(&maps, Path::new("/data/x/a.dcm")), PathBuf::from("/mnt/data/x/a.dcm"));
        assert_eq!(map_path(&maps, Path::new("/data/xnat/archive/s1")), PathBuf::from("/docker/archive/s1"));
        assert_eq!(map_path(&maps, Path::new("/database/a")), PathBuf::from("/database/a"));
        assert_eq!(map_path(&maps, Path::new("/data")), PathBuf::from("/mnt/data"));
        assert_eq!(map_path(&[], Path::new("/data/a")), PathBuf::from("/data/a"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_confined_to_the_output_directory() {
        let out = Path::new("/host/out");
        assert_eq!(
            confine("o", "a/b.txt", out).unwrap(),
            ("/berth/out/a/b.txt".into(), PathBuf::from("/host/out/a/b.txt"))
        );
        assert_eq!(confine("o", "/berth/out/x", out).unwrap().1, PathBuf::from("/host/out/x"));
        assert_eq!(confine("o", "a/../b", out).unwrap().1, PathBuf::from("/host/out/b"));
        for bad in ["../x", "a/../../x", "/etc/passwd", "/berth/outside", ".", "/berth/out"] {
            assert!(confine("o", bad, out).is_err(), "{bad}");
        }
    }

    /// Issue 14, finding 7: a descriptor asking 100000 GB got a 100000 GiB limit.
    #[test]
    fn finding_07_requests_are_capped_at_the_host_and_the_site_with_a_warning() {
        const GIB: i64 = 1 << 30;
        let host = HostFacts { uid: 1000, gid: 1000, sudo: None, memory_bytes: 16 * GIB, cpus: 4 };
        let opts = |config: berth_config::RunConfig| {
            PrepareOptions::with_defaults("/o".into(), "/".into(), config, host.clone())
        };
        let asked = Suggested {
            memory: Some((100_000 * GIB, "descriptor suggested-resources.ram".into())),
            cpus: Some((64.0, "descriptor suggested-resources.cpu-cores".into())),
        };
        let (l, _, w) = limits(&asked, &opts(Default::default())).unwrap();
        assert_eq!(l.memory_bytes, Some(16 * GIB));
        assert_eq!(l.nano_cpus, Some(4_000_000_000));
        assert!(l.memory_source.contains("capped at the host's memory"), "{}", l.memory_source);
        let msgs: Vec<&str> = w.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "memory: descriptor suggested-resources.ram asks for 100000.0 GiB, more than the host's memory; the container gets 16.0 GiB",
                "CPUs: descriptor suggested-resources.cpu-cores asks for 64, more than the host's CPUs; the container gets 4",
            ]
        );
        let site = berth_config::RunConfig { max_memory: Some("2g".into()), max_cpus: Some(1.5), ..Default::default() };
        let (l, _, w) = limits(&asked, &opts(site.clone())).unwrap();
        assert_eq!((l.memory_bytes, l.nano_cpus), (Some(2 * GIB), Some(1_500_000_000)));
        assert!(w.iter().all(|p| p.message.contains("the site maximum")), "{w:?}");
        // Defaults are capped without a warning; requests within the caps are untouched.
        let (l, _, w) = limits(&Suggested::default(), &opts(site.clone())).unwrap();
        assert_eq!((l.memory_bytes, l.nano_cpus, w.is_empty()), (Some(2 * GIB), Some(1_500_000_000), true));
        let small =
            Suggested { memory: Some((GIB, "XNAT limit-memory".into())), cpus: Some((1.0, "XNAT limit-cpu".into())) };
        let (l, _, w) = limits(&small, &opts(site.clone())).unwrap();
        assert_eq!((l.memory_bytes, l.nano_cpus, w.is_empty()), (Some(GIB), Some(1_000_000_000), true));
        assert_eq!(l.memory_source, "XNAT limit-memory");
        // `--memory none` gets the site's maximum, and no "no memory limit" relaxation.
        let mut none = opts(site);
        none.memory = Some(None);
        let (l, relaxed, w) = limits(&Suggested::default(), &none).unwrap();
        assert_eq!(l.memory_bytes, Some(2 * GIB));
        assert!(relaxed.is_empty() && w.iter().count() == 1, "{relaxed:?} {w:?}");
    }
}
