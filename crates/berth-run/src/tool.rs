//! Tools as berth knows them: a Boutiques descriptor or an XNAT Command, read from a file,
//! standard input, inline JSON, the tool registry, or an image's labels.
//!
//! The CLI and the server resolve every tool argument here, so `berth run NAME@VERSION`,
//! `berth run descriptor.json` and `berth run '{"name": ...}'` behave alike, and both formats
//! reach the same runner: a Boutiques descriptor through [`crate::prepare`], an XNAT Command
//! through [`prepare_xnat`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_descriptor::{Descriptor, Document, LoadError, Origin, Problem, Problems, Value};
use berth_store::{NewTool, Store, StoreError, ToolKind};
use berth_xnat::{Command, DocumentKind};

use crate::prepare::{
    self, Exec, ExpectedOutput, JobMount, MountRole, PrepareError, PrepareOptions, PreparedJob, Relaxation, Suggested,
};

/// The image label holding berth's own Boutiques descriptor (see examples/dicom-normalize).
pub const BOUTIQUES_LABEL: &str = "org.berth.boutiques.descriptor";

/// A descriptor of either format, validated.
#[derive(Debug, Clone)]
pub enum ToolSpec {
    /// A Boutiques descriptor.
    Boutiques(Box<Descriptor>),
    /// An XNAT Command.
    Xnat(Box<Command>),
}

/// A tool ready to use: its descriptor, exact text, where it came from, and its warnings.
#[derive(Debug, Clone)]
pub struct LoadedTool {
    /// The descriptor.
    pub spec: ToolSpec,
    /// Its exact text.
    pub text: String,
    /// Where it came from (a path, `registry NAME@VERSION`, `<inline JSON>`).
    pub origin: String,
    /// Problems that did not block it.
    pub warnings: Problems,
}

impl LoadedTool {
    /// The tool's name.
    pub fn name(&self) -> &str {
        match &self.spec {
            ToolSpec::Boutiques(d) => &d.name,
            ToolSpec::Xnat(c) => &c.name,
        }
    }

    /// The tool's version (`tool-version`, or the Command's `version`, `unversioned` if none).
    pub fn version(&self) -> &str {
        match &self.spec {
            ToolSpec::Boutiques(d) => &d.tool_version,
            ToolSpec::Xnat(c) => c.version.as_deref().unwrap_or("unversioned"),
        }
    }

    /// The format.
    pub fn kind(&self) -> ToolKind {
        match &self.spec {
            ToolSpec::Boutiques(_) => ToolKind::Boutiques,
            ToolSpec::Xnat(_) => ToolKind::Xnat,
        }
    }

    /// The container image the descriptor names.
    pub fn image(&self) -> Option<String> {
        match &self.spec {
            ToolSpec::Boutiques(d) => d.container.as_ref().and_then(|c| c.image.clone()),
            ToolSpec::Xnat(c) => c.image_with_tag(),
        }
    }

    /// The SHA-256 of the descriptor's canonical JSON (formatting does not change it).
    pub fn sha256(&self) -> String {
        Value::parse(&self.text).map(|v| berth_descriptor::descriptor_sha256(&v)).unwrap_or_default()
    }

    /// The registry entry for this tool.
    pub fn to_new_tool(&self, source: &str) -> NewTool {
        NewTool {
            name: self.name().to_string(),
            version: self.version().to_string(),
            kind: self.kind(),
            descriptor_json: self.text.clone(),
            descriptor_sha256: self.sha256(),
            image: self.image(),
            source: source.to_string(),
        }
    }
}

/// Why a tool could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The argument could not be read as JSON.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The document is invalid; the problems say why.
    #[error("the {what} {origin} is not valid ({} problem{})", problems.blocking(false).count(), if problems.blocking(false).count() == 1 { "" } else { "s" })]
    Invalid {
        /// `Boutiques descriptor` or `XNAT Command`.
        what: &'static str,
        /// Where it came from.
        origin: String,
        /// Every problem found.
        problems: Problems,
    },
    /// The document is neither a Boutiques descriptor nor an XNAT Command.
    #[error("{origin} is neither a Boutiques descriptor nor an XNAT Command")]
    Unknown {
        /// Where it came from.
        origin: String,
    },
    /// The registry could not answer.
    #[error(transparent)]
    Registry(#[from] StoreError),
    /// An image label is not valid.
    #[error("image `{image}`, label `{label}`: {message}")]
    Label {
        /// The image.
        image: String,
        /// The label key.
        label: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ToolError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ToolError::Load(LoadError::NotFound { arg }) => Some(format!(
                "`{arg}` is not a file, JSON text, or a registered tool (`berth tool ls` lists them; `berth tool add FILE` registers one)"
            )),
            ToolError::Load(e) => e.hint(),
            ToolError::Invalid { .. } => Some("fix the problems listed above; `berth validate` lists them again".into()),
            ToolError::Unknown { .. } => Some(
                "a Boutiques descriptor has `name`, `tool-version`, `command-line` and `inputs`; an XNAT Command has `name`, `image`, `command-line` and `schema-version` 1.0"
                    .into(),
            ),
            ToolError::Registry(e) => e.hint(),
            ToolError::Label { .. } => Some("fix the label in the image's build, or register the tool from a file".into()),
        }
    }

    /// The problems to print, when there are any.
    pub fn problems(&self) -> Option<&Problems> {
        match self {
            ToolError::Invalid { problems, .. } => Some(problems),
            _ => None,
        }
    }
}

/// The outcome of validating one document of either kind.
#[derive(Debug, Clone)]
pub struct Validated {
    /// What the document is.
    pub kind: DocumentKind,
    /// The tool, when usable.
    pub tool: Option<ToolSpec>,
    /// Every problem found.
    pub problems: Problems,
}

/// Validates a parsed document: a Boutiques descriptor or an XNAT Command, decided by its
/// contents.
pub fn validate_value(doc: &Value) -> Validated {
    let kind = berth_xnat::detect(doc).kind;
    match kind {
        DocumentKind::XnatCommand => {
            let v = berth_xnat::validate(doc);
            Validated { kind, tool: v.command.map(|c| ToolSpec::Xnat(Box::new(c))), problems: v.problems }
        }
        _ => {
            let v = berth_descriptor::validate(doc.clone());
            Validated {
                kind: if kind == DocumentKind::Unknown { DocumentKind::Boutiques } else { kind },
                tool: v.descriptor.map(|d| ToolSpec::Boutiques(Box::new(d))),
                problems: v.problems,
            }
        }
    }
}

fn from_document(doc: Document, origin: String, strict: bool) -> Result<LoadedTool, ToolError> {
    let v = validate_value(&doc.value);
    let what = if v.kind == DocumentKind::XnatCommand { "XNAT Command" } else { "Boutiques descriptor" };
    match v.tool {
        Some(spec) if !v.problems.has_errors(strict) => {
            Ok(LoadedTool { spec, text: doc.text, origin, warnings: v.problems })
        }
        _ => Err(ToolError::Invalid { what, origin, problems: v.problems }),
    }
}

/// Whether `arg` names a document (an existing path, `-`, or JSON text) rather than a tool.
pub fn is_document_arg(arg: &str) -> bool {
    arg == "-" || Path::new(arg).exists() || arg.trim_start().starts_with(['{', '['])
}

/// Splits `NAME@VERSION`.
pub fn split_name(arg: &str) -> (&str, Option<&str>) {
    match arg.rsplit_once('@') {
        Some((n, v)) if !n.is_empty() && !v.is_empty() => (n, Some(v)),
        _ => (arg, None),
    }
}

/// Resolves a tool argument: a file, `-`, inline JSON, or a registered `NAME[@VERSION]`.
pub fn load_tool(arg: &str, store: Option<&Store>, strict: bool) -> Result<LoadedTool, ToolError> {
    if !is_document_arg(arg)
        && let Some(store) = store
    {
        let (name, version) = split_name(arg);
        match store.get_tool(name, version) {
            Ok(rec) => {
                let doc = berth_descriptor::load::parse_object(rec.tool.descriptor_json, Origin::Inline)?;
                return from_document(doc, format!("registered tool {}@{}", rec.tool.name, rec.tool.version), strict);
            }
            // No such tool: report the argument as an unknown file/tool below, unless the
            // registry knows other versions of the name.
            Err(StoreError::NoSuchTool { versions, .. }) if versions.is_empty() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let doc = berth_descriptor::load_object(arg)?;
    let origin = doc.origin.to_string();
    from_document(doc, origin, strict)
}

/// A tool from descriptor text received over the network (never a path): Boutiques or XNAT.
pub fn load_text(text: String, origin: &str) -> Result<LoadedTool, ToolError> {
    let doc = berth_descriptor::load::parse_object(text, Origin::Inline)?;
    from_document(doc, origin.to_owned(), false)
}

/// A registered tool by name and version only: never a file or inline JSON (the service
/// resolves tool names from requests with this, so a name cannot read a file on the server).
pub fn load_registered(store: &Store, name: &str, version: Option<&str>) -> Result<LoadedTool, ToolError> {
    let rec = store.get_tool(name, version)?;
    let doc = berth_descriptor::load::parse_object(rec.tool.descriptor_json, Origin::Inline)?;
    from_document(doc, format!("registered tool {}@{}", rec.tool.name, rec.tool.version), false)
}

/// The tool definitions an image carries in its labels: berth's Boutiques label and XNAT's
/// `org.nrg.commands` (a JSON array of Commands). A malformed label is an error naming the
/// image, the label and the JSON problem.
pub fn tools_from_labels(image: &str, labels: &BTreeMap<String, String>) -> Result<Vec<LoadedTool>, ToolError> {
    let mut tools = Vec::new();
    if let Some(text) = labels.get(BOUTIQUES_LABEL) {
        let label_err =
            |message: String| ToolError::Label { image: image.into(), label: BOUTIQUES_LABEL.into(), message };
        let doc = berth_descriptor::load::parse_object(text.clone(), Origin::Inline).map_err(|e| {
            label_err(match e {
                LoadError::Parse { source, .. } => format!("not valid JSON: {source}"),
                other => other.to_string(),
            })
        })?;
        let origin = format!("image {image}, label {BOUTIQUES_LABEL}");
        match from_document(doc, origin, false) {
            Ok(t) => tools.push(t),
            Err(ToolError::Invalid { problems, .. }) => {
                let first = problems.blocking(false).next().map(ToString::to_string).unwrap_or_default();
                return Err(label_err(format!("the descriptor is not valid: {first}")));
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(text) = labels.get(berth_xnat::LABEL_KEY) {
        let commands = berth_xnat::parse_commands_label(text).map_err(|e| match e {
            // Each problem is printed with its pointer (`/0/mounts/1/name`) and hint.
            berth_xnat::LabelError::Invalid { problems } => ToolError::Invalid {
                what: "XNAT Command",
                origin: format!("in image {image}, label {}", berth_xnat::LABEL_KEY),
                problems,
            },
            e => ToolError::Label { image: image.into(), label: berth_xnat::LABEL_KEY.into(), message: e.to_string() },
        })?;
        // The label's own JSON for each Command, so the registered text is what the image says.
        let items: Vec<Value> =
            Value::parse(text).ok().and_then(|v| v.as_list().map(<[Value]>::to_vec)).unwrap_or_default();
        for (n, mut c) in commands.into_iter().enumerate() {
            let mut item = items.get(n).cloned().unwrap_or(Value::Null);
            // XNAT fills in the image of a Command read from that image's label.
            if c.image.is_none() {
                c.image = Some(image.to_string());
                if let Value::Dict(d) = &mut item {
                    d.insert("image".into(), Value::Str(image.to_string()));
                }
            }
            let text = if matches!(item, Value::Null) {
                serde_json::to_string(&c).unwrap_or_default()
            } else {
                item.to_json()
            };
            tools.push(LoadedTool {
                spec: ToolSpec::Xnat(Box::new(c)),
                text,
                origin: format!("image {image}, label {}, command {n}", berth_xnat::LABEL_KEY),
                warnings: Problems::default(),
            });
        }
    }
    Ok(tools)
}

/// Checks input values for an XNAT Command without binding its mounts (an invocation does not
/// say where mounts are): every mount is bound to `/` for planning, and the plan's resolved
/// inputs and warnings are returned.
pub fn check_xnat_inputs(command: &Command, inputs: &Value) -> Result<berth_xnat::XnatPlan, berth_xnat::XnatError> {
    let mounts: MountBindings = command.mounts.iter().map(|m| (m.name.clone(), PathBuf::from("/"))).collect();
    berth_xnat::plan(command, inputs, &mounts)
}

/// Host directories bound to an XNAT Command's mounts with `--mount NAME=HOSTPATH`.
pub type MountBindings = BTreeMap<String, PathBuf>;

/// Prepares an XNAT Command for the runner. Writable mounts that were not bound get
/// `OUTPUT_DIR/<mount name>`, so outputs stay in one directory; read-only mounts must be bound.
pub fn prepare_xnat(
    command: &Command,
    text: &str,
    inputs: &Value,
    bindings: &MountBindings,
    opts: &PrepareOptions,
) -> Result<PreparedJob, PrepareError> {
    std::fs::create_dir_all(&opts.output_dir)
        .map_err(|source| PrepareError::OutputDir { path: opts.output_dir.clone(), source })?;
    let output_dir = std::fs::canonicalize(&opts.output_dir)
        .map_err(|source| PrepareError::OutputDir { path: opts.output_dir.clone(), source })?;
    let mut relaxations = Vec::new();
    let mut mounts_host = BTreeMap::new();
    let mut to_create = Vec::new();
    for m in &command.mounts {
        let host = match bindings.get(&m.name) {
            Some(p) => {
                let abs = if p.is_absolute() { p.clone() } else { opts.cwd.join(p) };
                let abs = std::fs::canonicalize(&abs).map_err(|_| PrepareError::InputMissing {
                    input: format!("mount {}", m.name),
                    path: abs.clone(),
                })?;
                if m.writable && !abs.starts_with(&output_dir) {
                    relaxations.push(Relaxation {
                        flag: format!("--mount {}={}", m.name, p.display()),
                        effect: "a writable mount outside the output directory".into(),
                    });
                }
                abs
            }
            // `OUTPUT_DIR/<name>`, made below only once the plan is accepted. A name that is
            // not one path component is never joined: the plan refuses the Command
            // (`bad-mount-name`), naming the mount.
            None if m.writable => match berth_hostpath::join_component(&output_dir, &m.name) {
                Ok(dir) => {
                    to_create.push(m.name.clone());
                    dir
                }
                Err(_) => continue,
            },
            // Left unbound: XNAT's planner names it and says to bind it.
            None => continue,
        };
        mounts_host.insert(m.name.clone(), host);
    }
    let plan = berth_xnat::plan(command, inputs, &mounts_host).map_err(|e| {
        let mut problems = Problems::default();
        let hint = e.hint();
        let mut p = Problem::error("xnat", "", e.to_string());
        if let Some(h) = hint {
            p = p.hint(h);
        }
        problems.push(p);
        if let berth_xnat::XnatError::Inputs { problems: inner, .. }
        | berth_xnat::XnatError::InvalidCommand { problems: inner, .. } = &e
        {
            problems.0.extend(inner.iter().cloned());
        }
        PrepareError::Invalid(problems)
    })?;
    // Beneath the output directory, one component each, following no link: a directory the
    // Command names cannot be placed anywhere else, even by a link planted in a reused
    // output directory (issue 14, finding 1).
    if !to_create.is_empty() {
        let root = berth_hostpath::Root::open(&output_dir)
            .map_err(|error| PrepareError::MountDir { mount: to_create[0].clone(), error })?;
        for name in &to_create {
            root.create_child_dir(name, 0o777)
                .map_err(|error| PrepareError::MountDir { mount: name.clone(), error })?;
        }
    }
    let mounts: Vec<JobMount> = plan
        .mounts
        .iter()
        .map(|m| JobMount {
            role: if m.writable { MountRole::Output } else { MountRole::Input },
            key: m.name.clone(),
            given: m.host_path.to_string_lossy().into_owned(),
            host: m.host_path.clone(),
            container: m.container_path.clone(),
            read_only: !m.writable,
        })
        .collect();
    let outputs = plan
        .outputs
        .iter()
        .map(|o| ExpectedOutput {
            key: o.name.clone(),
            container: o.container_path.clone(),
            host: o.host_path.clone(),
            optional: !o.required,
        })
        .collect();
    let exec = if plan.execution.override_entrypoint && plan.execution.cmd.len() >= 2 {
        Exec::Explicit { entrypoint: plan.execution.cmd[..2].to_vec(), cmd: plan.execution.cmd[2..].to_vec() }
    } else {
        Exec::Entrypoint { args: plan.execution.cmd.clone() }
    };
    let mut env: Vec<(String, String)> = plan.environment.clone().into_iter().collect();
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.push(("HOME".into(), "/tmp".into()));
    }
    let suggested = Suggested {
        memory: plan.resources.limit_memory_bytes.map(|b| (b, "XNAT limit-memory".to_string())),
        cpus: plan.resources.cpus.map(|c| (c, "XNAT limit-cpu".to_string())),
    };
    let (limits, mut more, capped) = prepare::limits(&suggested, opts)?;
    relaxations.append(&mut more);
    let security = prepare::security(opts, &mut relaxations);
    let mut warnings = plan.warnings.clone();
    warnings.0.extend(capped.0);
    if let Some(net) = plan.network.as_deref().filter(|n| *n != "none") {
        warnings.push(Problem::warning(
            "xnat-network",
            "/network",
            format!(
                "the Command asks for network `{net}`; berth runs without network unless `--network default` is given"
            ),
        ));
    }
    if security.uid != 0 {
        for m in mounts.iter().filter(|m| m.role == MountRole::Input) {
            if let Some(w) = prepare::unreadable_warning(m, security.uid, security.gid) {
                warnings.push(w);
            }
        }
    }
    let invocation = inputs.as_dict().cloned().unwrap_or_default();
    Ok(PreparedJob {
        tool: plan.command.clone(),
        tool_version: plan.version.clone().unwrap_or_else(|| "unversioned".into()),
        descriptor_json: text.to_string(),
        descriptor_sha256: Value::parse(text)
            .map(|v| berth_descriptor::descriptor_sha256(&v))
            .unwrap_or_else(|_| prepare::sha256_hex(text.as_bytes())),
        invocation,
        image: plan.image.clone(),
        command_line: plan.command_line.clone(),
        exec,
        env,
        workdir: plan.working_directory.clone(),
        output_dir,
        mounts,
        outputs,
        config_files: Vec::new(),
        limits,
        security: prepare::Security { relaxations, ..security },
        warnings,
        engine_paths: Vec::new(),
        trace: None,
        input_roots: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_last_at_sign() {
        assert_eq!(split_name("bet@6.0"), ("bet", Some("6.0")));
        assert_eq!(split_name("bet"), ("bet", None));
        assert_eq!(split_name("org@x@1"), ("org@x", Some("1")));
        assert_eq!(split_name("@1"), ("@1", None));
    }

    #[test]
    fn labels_yield_tools_and_malformed_ones_are_named() {
        let mut labels = BTreeMap::new();
        labels.insert(BOUTIQUES_LABEL.to_string(), "{\"name\": ".to_string());
        let e = tools_from_labels("lab/tool:1", &labels).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("lab/tool:1") && msg.contains(BOUTIQUES_LABEL) && msg.contains("JSON"), "{msg}");
        labels.clear();
        labels.insert(
            berth_xnat::LABEL_KEY.to_string(),
            "[{\"name\": \"x\", \"command-line\": \"echo #A#\", \"inputs\": [{\"name\": \"A\"}]},]".to_string(),
        );
        let e = tools_from_labels("lab/tool:1", &labels).unwrap_err().to_string();
        assert!(e.contains(berth_xnat::LABEL_KEY), "{e}");
    }

    fn options(out: &Path) -> PrepareOptions {
        let host = prepare::HostFacts { uid: 1000, gid: 1000, sudo: None, memory_bytes: 1 << 32, cpus: 2 };
        PrepareOptions::with_defaults(out.to_path_buf(), out.to_path_buf(), Default::default(), host)
    }

    fn command(mount: &str) -> Command {
        // Straight from serde: no validation, as if a Command had slipped past it.
        serde_json::from_value(serde_json::json!({
            "name": "c", "image": "busybox:1", "command-line": "true", "override-entrypoint": true,
            "mounts": [{"name": mount, "writable": true, "path": "/out"}],
        }))
        .unwrap()
    }

    /// Issue 14, finding 1: `OUTPUT_DIR.join(mount name)` was created and mounted read-write.
    #[test]
    fn finding_01_mount_directories_never_leave_the_output_directory() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("a/b/out");
        let absolute = t.path().join("escaped-absolute");
        for name in ["../../../escaped", absolute.to_str().unwrap(), "x/../../escaped2"] {
            let e = prepare_xnat(&command(name), "{}", &Value::Null, &MountBindings::new(), &options(&out))
                .expect_err(name);
            let PrepareError::Invalid(problems) = &e else { panic!("{name}: {e}") };
            assert!(problems.iter().any(|p| p.code == "bad-mount-name"), "{name}: {problems:?}");
        }
        assert!(!t.path().join("escaped").exists() && !t.path().join("a/b/escaped2").exists());
        assert!(!absolute.exists());
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "nothing made in the output directory either");

        // A link planted in a reused output directory is refused, not followed.
        let victim = t.path().join("victim");
        std::os::unix::fs::symlink(&victim, out.join("res")).unwrap();
        let e =
            prepare_xnat(&command("res"), "{}", &Value::Null, &MountBindings::new(), &options(&out)).expect_err("link");
        assert!(
            matches!(&e, PrepareError::MountDir { mount, error: berth_hostpath::HostPathError::Link { .. } } if mount == "res"),
            "{e:?}"
        );
        assert!(!victim.exists());

        // A plain name: made inside, mounted read-write.
        let job = prepare_xnat(&command("data"), "{}", &Value::Null, &MountBindings::new(), &options(&out)).unwrap();
        assert!(out.join("data").is_dir());
        assert_eq!(job.mounts[0].host, std::fs::canonicalize(&out).unwrap().join("data"));
    }
}
