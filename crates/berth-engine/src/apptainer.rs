//! Apptainer (and Singularity) through its command line, behind the same [`Engine`] trait.
//!
//! Apptainer has no daemon and no API: a "container" here is one `apptainer exec` (or `run`)
//! process that this engine starts and watches. Creating one only records the spec; starting it
//! runs `apptainer exec --cleanenv --containall ...` with the spec's bind mounts, working
//! directory, environment, network and limits turned into flags; its stdout and stderr are the
//! container's logs. Containers live as long as the berth process that started them, so
//! [`Engine::list_containers`] only knows this process's containers.
//!
//! Images are SIF files. A reference is used as it is when it names a SIF file or an
//! `apptainer`-readable source (`docker-archive:PATH`, `oci-archive:PATH`); any other
//! reference (`debian:12`, `repo@sha256:...`) is looked up in the SIF directory, where
//! [`Engine::pull_image`] puts `apptainer pull` results.
//!
//! No crate drives Apptainer, so the flags are composed here by hand; [`exec_args`] is the
//! single place that turns a [`ContainerSpec`] into them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;

use crate::engine::Engine;
use crate::error::{EngineError, Operation};
use crate::model::{
    AppliedConfig, ContainerInfo, ContainerState, ContainerStatus, ContainerSummary, CreatedContainer, EngineInfo,
    EngineKind, ExportStream, ImageInfo, ImageSummary, LabelFilter, LogChunk, LogStream, LogStreamKind, MountInfo,
    RemovedImage, WaitOutcome,
};
use crate::pull::{PullEvent, PullOutcome, PullReporter, RegistryAuth};
use crate::spec::{ContainerSpec, Gpus, Network};

/// Sources Apptainer reads directly (`TRANSPORT:PATH`).
const DIRECT_SOURCES: &[&str] = &["docker-archive:", "oci-archive:", "oci:", "docker-daemon:"];

/// An Apptainer installation used as a container engine.
#[derive(Debug)]
pub struct ApptainerEngine {
    binary: PathBuf,
    sif_dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Image IDs handed out by `inspect_image`, to the source `apptainer` is given.
    images: HashMap<String, String>,
    containers: BTreeMap<String, Arc<Container>>,
    next: u64,
}

#[derive(Debug)]
struct Container {
    id: String,
    spec: ContainerSpec,
    /// What `apptainer` runs: the image source.
    source: String,
    created: String,
    progress: Mutex<Progress>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct Progress {
    started: bool,
    pid: Option<u32>,
    /// Output so far, in arrival order.
    chunks: Vec<LogChunk>,
    /// Both pipes are at end of file.
    streams_closed: u8,
    exit_code: Option<i64>,
    error: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
}

impl ApptainerEngine {
    /// Uses the `apptainer` (or `singularity`) program at `binary`, keeping pulled images in
    /// `sif_dir`.
    pub fn new(binary: impl Into<PathBuf>, sif_dir: impl Into<PathBuf>) -> Self {
        Self { binary: binary.into(), sif_dir: sif_dir.into(), state: Mutex::new(State::default()) }
    }

    /// Where pulled images are kept.
    pub fn sif_dir(&self) -> &Path {
        &self.sif_dir
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn container(&self, id: &str) -> Result<Arc<Container>, EngineError> {
        self.lock().containers.get(id).cloned().ok_or_else(|| EngineError::ContainerNotFound { id: id.to_owned() })
    }

    /// The SIF file `reference` is pulled to.
    pub fn sif_path(&self, reference: &str) -> PathBuf {
        let name: String =
            reference.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
        self.sif_dir.join(format!("{name}.sif"))
    }

    /// What to hand `apptainer` for `reference`, when it is available locally.
    fn local_source(&self, reference: &str) -> Option<String> {
        if let Some(known) = self.lock().images.get(reference) {
            return Some(known.clone());
        }
        if let Some(prefix) = DIRECT_SOURCES.iter().find(|p| reference.starts_with(**p)) {
            let path = &reference[prefix.len()..];
            return (*prefix == "docker-daemon:" || Path::new(path).exists()).then(|| reference.to_owned());
        }
        let path = Path::new(reference);
        if path.is_file() {
            return Some(reference.to_owned());
        }
        let sif = self.sif_path(reference);
        sif.is_file().then(|| sif.to_string_lossy().into_owned())
    }

    async fn output(&self, args: &[String], operation: Operation) -> Result<std::process::Output, EngineError> {
        tokio::process::Command::new(&self.binary)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| cli_error(operation, &self.binary, &format!("could not run it: {e}")))
    }
}

/// Something a SIF-based engine cannot do, with what to do instead.
fn unsupported(operation: Operation, reference: &str, instead: &str) -> EngineError {
    EngineError::Protocol {
        operation,
        problem: format!("Apptainer cannot do this for `{reference}` through berth; {instead}"),
    }
}

fn cli_error(operation: Operation, binary: &Path, message: &str) -> EngineError {
    EngineError::Protocol { operation, problem: format!("`{}`: {}", binary.display(), message.trim()) }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// One `--env` value that Apptainer reads back as exactly `key=value`.
///
/// Apptainer's `--env` is pflag's `stringToString`: a text with one `=` is taken whole (with
/// `"` trimmed from both ends), but a text with more is read as a CSV record, so a value
/// `x,LD_PRELOAD=/tmp/evil.so` would set a second variable. Such a pair is written as one
/// quoted CSV field (`"` doubled), which CSV reads back whole; a name must be a plain variable
/// name, and a value without `=` may not end in `"` (the trim would eat it).
pub fn env_arg(key: &str, value: &str) -> Result<String, EngineError> {
    let invalid = |problem: String| EngineError::InvalidSpec { field: "env", problem };
    let name_ok = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Err(invalid(format!(
            "Apptainer cannot pass the environment variable name `{}`: use letters, digits and `_`, not starting with a digit",
            key.escape_debug()
        )));
    }
    if value.contains('=') {
        return Ok(format!("\"{key}={}\"", value.replace('"', "\"\"")));
    }
    if value.ends_with('"') {
        return Err(invalid(format!(
            "Apptainer's `--env` would drop the `\"` that ends the value of `{key}`; use Docker or Podman for this value"
        )));
    }
    Ok(format!("{key}={value}"))
}

/// The arguments after the program name that run `spec` from image `source`.
///
/// `--cleanenv` keeps the host's environment out, `--containall` gives the container its own
/// PID and IPC namespaces, `/tmp` and no home directory; binds follow the spec exactly.
///
/// No value becomes another flag or another setting: every flag's value is the next argument
/// (pflag takes it whatever it starts with), bind paths with Apptainer's separators `:` and `,`
/// are refused, `--env` values are quoted ([`env_arg`]), capability names must be names, and an
/// image path starting with `-` is written `./-...` so it cannot be read as a flag.
pub fn exec_args(spec: &ContainerSpec, source: &str, running_as_root: bool) -> Result<Vec<String>, EngineError> {
    let invalid = |field: &'static str, problem: String| EngineError::InvalidSpec { field, problem };
    for cap in spec.cap_drop.iter().chain(&spec.cap_add) {
        if cap.is_empty() || !cap.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(
                "capabilities",
                format!("`{}` is not a capability name (such as `NET_ADMIN`)", cap.escape_debug()),
            ));
        }
    }
    let mut args: Vec<String> = Vec::new();
    let run_image_entrypoint = spec.entrypoint.is_none();
    args.push(if run_image_entrypoint { "run" } else { "exec" }.into());
    args.extend(["--cleanenv", "--containall", "--no-home"].map(String::from));
    if spec.cap_drop.iter().any(|c| c == "ALL") && spec.cap_add.is_empty() {
        args.push("--no-privs".into());
    } else if !spec.cap_drop.is_empty() {
        args.push("--drop-caps".into());
        args.push(spec.cap_drop.join(","));
    }
    if !spec.cap_add.is_empty() {
        args.push("--add-caps".into());
        args.push(spec.cap_add.join(","));
    }
    // Apptainer runs tools as the calling user; only root may ask for another identity.
    if let (Some(user), true) = (spec.user, running_as_root) {
        args.push("--security".into());
        args.push(format!("uid:{},gid:{}", user.uid, user.gid));
    }
    match &spec.network {
        Network::Disabled => args.extend(["--net", "--network", "none"].map(String::from)),
        // Apptainer's default is the host's network.
        Network::EngineDefault | Network::Host => {}
    }
    for m in &spec.mounts {
        for (what, p) in [("source", m.source.to_string_lossy().into_owned()), ("target", m.target.clone())] {
            if p.contains(':') || p.contains(',') || p.contains('\n') {
                return Err(invalid(
                    "mounts",
                    format!(
                        "Apptainer cannot bind a path with `:`, `,` or a newline in it ({what} `{}`); rename it or use Docker or Podman",
                        p.escape_debug()
                    ),
                ));
            }
        }
        let mode = if m.read_only { "ro" } else { "rw" };
        args.push("--bind".into());
        args.push(format!("{}:{}:{mode}", m.source.display(), m.target));
    }
    if let Some(dir) = &spec.working_dir {
        args.push("--pwd".into());
        args.push(dir.clone());
    }
    for (k, v) in &spec.env {
        args.push("--env".into());
        args.push(env_arg(k, v)?);
    }
    if let Some(bytes) = spec.memory_bytes {
        args.push("--memory".into());
        args.push(bytes.to_string());
    }
    if let Some(nano) = spec.nano_cpus {
        args.push("--cpus".into());
        #[allow(clippy::cast_precision_loss)]
        args.push(format!("{}", nano as f64 / 1e9));
    }
    if let Some(pids) = spec.pids_limit {
        args.push("--pids-limit".into());
        args.push(pids.to_string());
    }
    if spec.gpus != Gpus::None {
        args.push("--nv".into());
    }
    // The image is the first positional argument; flags end there (Apptainer stops parsing at
    // it), so it alone must not look like a flag.
    args.push(if source.starts_with('-') { format!("./{source}") } else { source.to_owned() });
    if let Some(entrypoint) = &spec.entrypoint {
        if entrypoint.is_empty() && spec.cmd.is_empty() {
            return Err(invalid(
                "entrypoint",
                "nothing to run: the entrypoint is cleared and there is no command".into(),
            ));
        }
        args.extend(entrypoint.iter().cloned());
    }
    args.extend(spec.cmd.iter().cloned());
    Ok(args)
}

/// `sha256:<hex>` of a file's bytes, streamed; none when it is not a readable file.
fn file_digest(path: &Path) -> Option<String> {
    use sha2::Digest;
    let mut file = std::fs::File::open(path).ok().filter(|f| f.metadata().is_ok_and(|m| m.is_file()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Some(format!("sha256:{}", hasher.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// Where pulled SIF files go by default: `apptainer/` in berth's home, found the way
/// `berth-store` finds it (`$BERTH_HOME`, else `$XDG_DATA_HOME/berth`, else
/// `$HOME/.local/share/berth`).
pub fn default_sif_dir(env: &crate::env::Env) -> PathBuf {
    let home = berth_config::berth_home_in(|name| env.get(name).map(std::ffi::OsString::from))
        .unwrap_or_else(|_| std::env::temp_dir().join("berth"));
    home.join("apptainer")
}

/// The calling user and group, as the kernel sees them (read from `/proc/self`, to stay free of
/// `unsafe` calls).
fn caller() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| (m.uid(), m.gid())).unwrap_or((u32::MAX, u32::MAX))
}

fn is_root() -> bool {
    caller().0 == 0
}

/// Sends `signal` (`TERM`, `KILL`) to process `pid` with the system's `kill`.
async fn signal(pid: u32, signal: &str) {
    let _ = tokio::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

#[async_trait]
impl Engine for ApptainerEngine {
    async fn info(&self) -> Result<EngineInfo, EngineError> {
        let out = self.output(&["--version".into()], Operation::Info).await?;
        if !out.status.success() {
            return Err(cli_error(Operation::Info, &self.binary, &String::from_utf8_lossy(&out.stderr)));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.split_whitespace().last().unwrap_or_default().to_owned();
        Ok(EngineInfo {
            kind: EngineKind::Apptainer,
            endpoint: self.binary.to_string_lossy().into_owned(),
            server_version: version,
            api_version: "cli".into(),
            server_api_version: "cli".into(),
            min_api_version: None,
            os: std::env::consts::OS.into(),
            arch: match std::env::consts::ARCH {
                "x86_64" => "amd64".into(),
                "aarch64" => "arm64".into(),
                other => other.into(),
            },
            kernel_version: None,
            operating_system: None,
            rootless: !is_root(),
            cgroup_driver: None,
            cgroup_version: None,
            default_runtime: None,
            runtimes: Vec::new(),
            logging_driver: None,
            security_options: Vec::new(),
            warnings: Vec::new(),
        })
    }

    async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>, EngineError> {
        let Some(source) = self.local_source(reference) else { return Ok(None) };
        // The ID names the file's contents where there is a file, so provenance can tell two
        // SIFs under one name apart.
        let file = DIRECT_SOURCES.iter().find_map(|p| source.strip_prefix(p)).unwrap_or(&source).to_owned();
        let id = tokio::task::spawn_blocking(move || file_digest(Path::new(&file)))
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| format!("apptainer:{source}"));
        let labels = match self
            .output(&["inspect".into(), "--json".into(), "--labels".into(), source.clone()], Operation::InspectImage)
            .await
        {
            Ok(out) if out.status.success() => serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .ok()
                .and_then(|v| v.pointer("/data/attributes/labels").cloned())
                .and_then(|v| serde_json::from_value::<BTreeMap<String, String>>(v).ok())
                .unwrap_or_default(),
            _ => BTreeMap::new(),
        };
        let size = std::fs::metadata(&source).ok().and_then(|m| i64::try_from(m.len()).ok());
        self.lock().images.insert(id.clone(), source);
        Ok(Some(ImageInfo {
            id,
            repo_tags: vec![reference.to_owned()],
            repo_digests: Vec::new(),
            labels,
            // A SIF keeps Docker's entrypoint and command in its runscript.
            entrypoint: None,
            cmd: None,
            user: None,
            working_dir: None,
            env: Vec::new(),
            created: None,
            size,
            os: Some(std::env::consts::OS.into()),
            architecture: None,
            variant: None,
        }))
    }

    async fn pull_image(
        &self,
        reference: &str,
        _auth: Option<&RegistryAuth>,
        reporter: &dyn PullReporter,
    ) -> Result<PullOutcome, EngineError> {
        std::fs::create_dir_all(&self.sif_dir)
            .map_err(|e| cli_error(Operation::PullImage, &self.binary, &format!("{}: {e}", self.sif_dir.display())))?;
        let target = self.sif_path(reference);
        let uri = if DIRECT_SOURCES.iter().any(|p| reference.starts_with(p)) || reference.contains("://") {
            reference.to_owned()
        } else {
            format!("docker://{reference}")
        };
        reporter.on_event(&PullEvent::from_progress(&format!("apptainer pull {uri}"), None, None, None));
        // Into a temporary name first, so an interrupted pull leaves no half SIF behind.
        let partial = target.with_extension("sif.partial");
        let out = self
            .output(
                &["pull".into(), "--force".into(), partial.to_string_lossy().into_owned(), uri],
                Operation::PullImage,
            )
            .await?;
        if !out.status.success() {
            let _ = std::fs::remove_file(&partial);
            return Err(EngineError::Pull {
                reference: reference.to_owned(),
                status_code: None,
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        std::fs::rename(&partial, &target)
            .map_err(|e| cli_error(Operation::PullImage, &self.binary, &format!("{}: {e}", target.display())))?;
        Ok(PullOutcome { reference: reference.to_owned(), digest: None })
    }

    async fn list_images(&self) -> Result<Vec<ImageSummary>, EngineError> {
        let Ok(entries) = std::fs::read_dir(&self.sif_dir) else { return Ok(Vec::new()) };
        let mut images = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "sif") {
                continue;
            }
            let meta = entry.metadata().ok();
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            images.push(ImageSummary {
                id: file_digest(&path).unwrap_or_else(|| format!("apptainer:{}", path.display())),
                repo_tags: vec![name],
                repo_digests: Vec::new(),
                created: meta
                    .as_ref()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_secs()).ok()),
                size: meta.and_then(|m| i64::try_from(m.len()).ok()),
                labels: BTreeMap::new(),
            });
        }
        images.sort_by(|a, b| a.repo_tags.cmp(&b.repo_tags));
        Ok(images)
    }

    async fn tag_image(&self, source: &str, target: &str) -> Result<(), EngineError> {
        let from =
            self.local_source(source).ok_or_else(|| EngineError::ImageNotFound { reference: source.to_owned() })?;
        let to = self.sif_path(target);
        std::fs::create_dir_all(&self.sif_dir)
            .and_then(|()| std::fs::copy(&from, &to).map(|_| ()))
            .map_err(|e| cli_error(Operation::TagImage, &self.binary, &format!("{from} → {}: {e}", to.display())))
    }

    async fn remove_image(&self, reference: &str, _force: bool) -> Result<RemovedImage, EngineError> {
        let path = self.sif_path(reference);
        if !path.is_file() {
            return Err(EngineError::ImageNotFound { reference: reference.to_owned() });
        }
        std::fs::remove_file(&path)
            .map_err(|e| cli_error(Operation::RemoveImage, &self.binary, &format!("{}: {e}", path.display())))?;
        Ok(RemovedImage { untagged: vec![reference.to_owned()], deleted: vec![path.to_string_lossy().into_owned()] })
    }

    async fn push_image(
        &self,
        reference: &str,
        _auth: Option<&RegistryAuth>,
        _reporter: &dyn PullReporter,
    ) -> Result<PullOutcome, EngineError> {
        Err(unsupported(
            Operation::PushImage,
            reference,
            "push the SIF with `apptainer push SIF oras://REGISTRY/NAME:TAG`",
        ))
    }

    async fn load_image(&self, archive: &Path) -> Result<Vec<String>, EngineError> {
        // A docker-archive becomes a SIF named after the archive.
        let name = archive.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
        std::fs::create_dir_all(&self.sif_dir)
            .map_err(|e| cli_error(Operation::LoadImage, &self.binary, &format!("{}: {e}", self.sif_dir.display())))?;
        let target = self.sif_path(&name);
        let partial = target.with_extension("sif.partial");
        let source = format!("docker-archive:{}", archive.display());
        let out = self
            .output(
                &["build".into(), "--force".into(), partial.to_string_lossy().into_owned(), source],
                Operation::LoadImage,
            )
            .await?;
        if !out.status.success() {
            let _ = std::fs::remove_file(&partial);
            return Err(cli_error(Operation::LoadImage, &self.binary, &String::from_utf8_lossy(&out.stderr)));
        }
        std::fs::rename(&partial, &target)
            .map_err(|e| cli_error(Operation::LoadImage, &self.binary, &format!("{}: {e}", target.display())))?;
        Ok(vec![name])
    }

    fn export_image(&self, reference: &str) -> ExportStream {
        let e = unsupported(
            Operation::ExportImage,
            reference,
            "scan the archive the SIF was built from (`berth scan docker-archive:FILE`), or the image on Docker or Podman",
        );
        Box::pin(futures_util::stream::iter([Err(e)]))
    }

    fn export_container(&self, id: &str) -> ExportStream {
        let error = unsupported(
            Operation::ExportContainer,
            id,
            "export the SIF's filesystem with `apptainer build --sandbox DIR SIF`",
        );
        Box::pin(futures_util::stream::once(async move { Err(error) }))
    }

    async fn commit_container(
        &self,
        id: &str,
        _reference: Option<&str>,
        _config: &crate::model::ImageConfig,
    ) -> Result<String, EngineError> {
        Err(unsupported(
            Operation::CommitContainer,
            id,
            "Apptainer instances are read-only images; build a new SIF with `apptainer build` from a definition file",
        ))
    }

    async fn exec(
        &self,
        id: &str,
        _spec: &crate::spec::ExecSpec,
        _output: &mut (dyn FnMut(LogChunk) + Send),
    ) -> Result<i64, EngineError> {
        Err(unsupported(
            Operation::Exec,
            id,
            "berth runs Apptainer containers as single processes, not instances; use `berth run` for each call",
        ))
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<CreatedContainer, EngineError> {
        spec.validate()?;
        let source = self
            .local_source(&spec.image)
            .ok_or_else(|| EngineError::ImageNotFound { reference: spec.image.clone() })?;
        // Composed now so that a spec Apptainer cannot express fails at creation, as with
        // the other engines.
        exec_args(spec, &source, is_root())?;
        let mut state = self.lock();
        state.next += 1;
        let id = format!("apptainer-{}-{}", std::process::id(), state.next);
        let container = Container {
            id: id.clone(),
            spec: spec.clone(),
            source,
            created: now(),
            progress: Mutex::new(Progress::default()),
            changed: Notify::new(),
        };
        state.containers.insert(id.clone(), Arc::new(container));
        Ok(CreatedContainer { id, warnings: Vec::new() })
    }

    async fn start_container(&self, id: &str) -> Result<(), EngineError> {
        let c = self.container(id)?;
        if lock(&c.progress).started {
            return Ok(());
        }
        let args = exec_args(&c.spec, &c.source, is_root())?;
        let mut child = tokio::process::Command::new(&self.binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| cli_error(Operation::StartContainer, &self.binary, &format!("could not run it: {e}")))?;
        {
            let mut p = lock(&c.progress);
            p.started = true;
            p.pid = child.id();
            p.started_at = Some(now());
        }
        for (pipe, kind) in [
            (
                child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
                LogStreamKind::Stdout,
            ),
            (
                child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
                LogStreamKind::Stderr,
            ),
        ] {
            let c = Arc::clone(&c);
            tokio::spawn(async move {
                if let Some(mut pipe) = pipe {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = pipe.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        lock(&c.progress)
                            .chunks
                            .push(LogChunk { stream: kind, bytes: Bytes::copy_from_slice(&buf[..n]) });
                        c.changed.notify_waiters();
                    }
                }
                lock(&c.progress).streams_closed += 1;
                c.changed.notify_waiters();
            });
        }
        let c2 = Arc::clone(&c);
        tokio::spawn(async move {
            let status = child.wait().await;
            let mut p = lock(&c2.progress);
            match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    p.exit_code = Some(s.code().map_or_else(|| 128 + i64::from(s.signal().unwrap_or(0)), i64::from));
                }
                Err(e) => {
                    p.exit_code = Some(-1);
                    p.error = Some(e.to_string());
                }
            }
            p.finished_at = Some(now());
            drop(p);
            c2.changed.notify_waiters();
        });
        Ok(())
    }

    async fn wait_container(&self, id: &str) -> Result<WaitOutcome, EngineError> {
        let c = self.container(id)?;
        loop {
            let changed = c.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let p = lock(&c.progress);
                if let Some(code) = p.exit_code {
                    return Ok(WaitOutcome { exit_code: code, oom_killed: false });
                }
                if !p.started {
                    return Err(EngineError::Protocol {
                        operation: Operation::WaitContainer,
                        problem: format!("container {id} was never started"),
                    });
                }
            }
            changed.await;
        }
    }

    fn container_logs(&self, id: &str, follow: bool) -> LogStream {
        let c = match self.container(id) {
            Ok(c) => c,
            Err(e) => return Box::pin(futures_util::stream::iter([Err(e)])),
        };
        Box::pin(futures_util::stream::unfold((c, 0usize), move |(c, next)| async move {
            loop {
                // Registered before looking, so a chunk arriving in between still wakes us.
                let watch = Arc::clone(&c);
                let changed = watch.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                {
                    let p = lock(&c.progress);
                    if let Some(chunk) = p.chunks.get(next) {
                        let chunk = chunk.clone();
                        drop(p);
                        return Some((Ok(chunk), (c, next + 1)));
                    }
                    let ended = p.streams_closed >= 2 && p.exit_code.is_some();
                    if !follow || ended || !p.started {
                        return None;
                    }
                }
                changed.await;
            }
        }))
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), EngineError> {
        let c = self.container(id)?;
        let pid = {
            let p = lock(&c.progress);
            if p.exit_code.is_some() {
                return Ok(());
            }
            p.pid
        };
        let Some(pid) = pid else { return Ok(()) };
        signal(pid, "TERM").await;
        let waited = tokio::time::timeout(timeout, self.wait_container(id)).await;
        if waited.is_err() {
            signal(pid, "KILL").await;
            let _ = self.wait_container(id).await;
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<(), EngineError> {
        let c = self.container(id)?;
        let running = {
            let p = lock(&c.progress);
            p.started && p.exit_code.is_none()
        };
        if running {
            if !force {
                return Err(EngineError::Api {
                    operation: Operation::RemoveContainer,
                    status_code: 409,
                    message: format!("container {id} is running; stop it first or remove with force"),
                });
            }
            self.stop_container(id, Duration::ZERO).await?;
        }
        self.lock().containers.remove(id);
        Ok(())
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo, EngineError> {
        let c = self.container(id)?;
        let p = lock(&c.progress);
        let status = match (p.started, p.exit_code) {
            (false, _) => ContainerStatus::Created,
            (true, None) => ContainerStatus::Running,
            (true, Some(_)) => ContainerStatus::Exited,
        };
        let s = &c.spec;
        let user = if is_root() { s.user.map(|u| format!("{}:{}", u.uid, u.gid)) } else { None };
        let applied = AppliedConfig {
            image: Some(c.source.clone()),
            user: Some(user.unwrap_or_else(|| {
                let (uid, gid) = caller();
                format!("{uid}:{gid}")
            })),
            env: s.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            entrypoint: s.entrypoint.clone(),
            cmd: Some(s.cmd.clone()),
            working_dir: s.working_dir.clone(),
            memory_bytes: s.memory_bytes,
            nano_cpus: s.nano_cpus,
            pids_limit: s.pids_limit,
            cap_drop: s.cap_drop.clone(),
            cap_add: s.cap_add.clone(),
            security_opt: s.security_opt.clone(),
            network_mode: Some(match &s.network {
                Network::Disabled => "none".to_owned(),
                Network::EngineDefault | Network::Host => "host".to_owned(),
            }),
            privileged: false,
            readonly_rootfs: true,
            init: Some(false),
            auto_remove: false,
            tmpfs: BTreeMap::new(),
            mounts: s
                .mounts
                .iter()
                .map(|m| MountInfo {
                    kind: "bind".into(),
                    source: Some(m.source.to_string_lossy().into_owned()),
                    target: m.target.clone(),
                    read_only: m.read_only,
                })
                .collect(),
            readonly_paths: Vec::new(),
            masked_paths: Vec::new(),
            device_requests: Vec::new(),
            runtime: Some(format!("apptainer ({})", self.binary.display())),
        };
        Ok(ContainerInfo {
            id: c.id.clone(),
            name: s.name.clone(),
            image_id: Some(s.image.clone()),
            created: Some(c.created.clone()),
            state: ContainerState {
                status,
                exit_code: p.exit_code,
                oom_killed: false,
                error: p.error.clone(),
                started_at: p.started_at.clone(),
                finished_at: p.finished_at.clone(),
            },
            labels: s.labels.clone(),
            applied,
        })
    }

    async fn path_exists(&self, id: &str, path: &str) -> Result<bool, EngineError> {
        let c = self.container(id)?;
        // `test` comes from the image; an image without it (`FROM scratch`) has no shell either.
        let out = self
            .output(
                &[
                    "exec".into(),
                    "--cleanenv".into(),
                    "--containall".into(),
                    c.source.clone(),
                    "test".into(),
                    "-e".into(),
                    path.into(),
                ],
                Operation::StatPath,
            )
            .await?;
        Ok(out.status.success())
    }

    async fn list_containers(&self, labels: &[LabelFilter]) -> Result<Vec<ContainerSummary>, EngineError> {
        let containers: Vec<Arc<Container>> = self.lock().containers.values().cloned().collect();
        Ok(containers
            .iter()
            .filter(|c| labels.iter().all(|f| f.matches(&c.spec.labels)))
            .map(|c| {
                let p = lock(&c.progress);
                ContainerSummary {
                    id: c.id.clone(),
                    names: c.spec.name.iter().cloned().collect(),
                    image: Some(c.spec.image.clone()),
                    labels: c.spec.labels.clone(),
                    status: match (p.started, p.exit_code) {
                        (false, _) => ContainerStatus::Created,
                        (true, None) => ContainerStatus::Running,
                        (true, Some(_)) => ContainerStatus::Exited,
                    },
                    status_text: None,
                    created: None,
                }
            })
            .collect())
    }
}

fn lock(p: &Mutex<Progress>) -> MutexGuard<'_, Progress> {
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
