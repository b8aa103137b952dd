//! [`FakeEngine`]: a recording, scriptable [`Engine`] for unit tests of code built on this crate.
//!
//! It records every call with its arguments ([`FakeEngine::calls`]) and plays back what it was
//! told: which images exist locally or can be pulled, and per created container its exit
//! code, OOM flag and output ([`ScriptedRun`]). Container life cycles follow the real engines
//! closely enough to catch ordering mistakes: a created container that is waited for without
//! being started "exits" 0 at once, as with Docker; removing a running container without
//! `force` is refused with 409; operations on unknown containers fail with
//! [`EngineError::ContainerNotFound`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::engine::Engine;
use crate::error::{EngineError, Operation};
use crate::model::{
    AppliedConfig, ContainerInfo, ContainerState, ContainerStatus, ContainerSummary, CreatedContainer,
    DeviceRequestInfo, EngineInfo, EngineKind, ImageInfo, ImageSummary, LabelFilter, LogChunk, LogStream, MountInfo,
    RemovedImage, WaitOutcome,
};
use crate::pull::{PullEvent, PullOutcome, PullReporter, RegistryAuth, normalize_reference};
use crate::spec::{ContainerSpec, Gpus, Network};

/// One call made to a [`FakeEngine`], with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// [`Engine::path_exists`].
    PathExists {
        /// The container.
        id: String,
        /// The path asked about.
        path: String,
    },
    /// [`Engine::info`].
    Info,
    /// [`Engine::inspect_image`].
    InspectImage {
        /// The reference asked for.
        reference: String,
    },
    /// [`Engine::pull_image`].
    PullImage {
        /// The reference asked for, as given.
        reference: String,
        /// The credentials passed.
        auth: Option<RegistryAuth>,
    },
    /// [`Engine::list_images`].
    ListImages,
    /// [`Engine::tag_image`].
    TagImage {
        /// The image tagged.
        source: String,
        /// The new reference, as given.
        target: String,
    },
    /// [`Engine::remove_image`].
    RemoveImage {
        /// The reference or ID.
        reference: String,
        /// Whether forced.
        force: bool,
    },
    /// [`Engine::push_image`].
    PushImage {
        /// The reference, as given.
        reference: String,
        /// The credentials passed.
        auth: Option<RegistryAuth>,
    },
    /// [`Engine::load_image`].
    LoadImage {
        /// The archive's path.
        archive: std::path::PathBuf,
    },
    /// [`Engine::create_container`].
    CreateContainer {
        /// The spec passed.
        spec: Box<ContainerSpec>,
    },
    /// [`Engine::start_container`].
    StartContainer {
        /// The container.
        id: String,
    },
    /// [`Engine::wait_container`].
    WaitContainer {
        /// The container.
        id: String,
    },
    /// [`Engine::container_logs`].
    ContainerLogs {
        /// The container.
        id: String,
        /// Whether to follow.
        follow: bool,
    },
    /// [`Engine::stop_container`].
    StopContainer {
        /// The container.
        id: String,
        /// The grace period.
        timeout: Duration,
    },
    /// [`Engine::remove_container`].
    RemoveContainer {
        /// The container.
        id: String,
        /// Whether forced.
        force: bool,
    },
    /// [`Engine::inspect_container`].
    InspectContainer {
        /// The container.
        id: String,
    },
    /// [`Engine::list_containers`].
    ListContainers {
        /// The filters passed.
        labels: Vec<LabelFilter>,
    },
    /// [`Engine::export_image`].
    ExportImage {
        /// The reference asked for.
        reference: String,
    },
    /// [`Engine::exec`].
    Exec {
        /// The container.
        id: String,
        /// What was run.
        spec: crate::spec::ExecSpec,
    },
    /// [`Engine::commit_container`].
    CommitContainer {
        /// The container.
        id: String,
        /// The reference given.
        reference: Option<String>,
        /// The configuration given.
        config: crate::model::ImageConfig,
    },
}

/// What one created container does once started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedRun {
    /// Its exit code when it runs to the end.
    pub exit_code: i64,
    /// Whether the OOM killer ends it.
    pub oom_killed: bool,
    /// What it writes, in order.
    pub logs: Vec<LogChunk>,
    /// When set, a followed log stream delivers only this many chunks and then stays open
    /// (as Podman's compatible API sometimes does after the container has ended); a stream
    /// that does not follow still gives everything.
    pub follow_stalls_after: Option<usize>,
}

impl ScriptedRun {
    /// A run that exits with `exit_code` and writes nothing.
    pub fn exits(exit_code: i64) -> Self {
        Self { exit_code, oom_killed: false, logs: Vec::new(), follow_stalls_after: None }
    }

    /// The same run, also writing `chunk`.
    pub fn with_output(mut self, chunk: LogChunk) -> Self {
        self.logs.push(chunk);
        self
    }

    /// The same run, with a followed log stream that stalls after `chunks` chunks.
    pub fn stalling_follow_after(mut self, chunks: usize) -> Self {
        self.follow_stalls_after = Some(chunks);
        self
    }

    /// A run the OOM killer ends (exit code 137, as with Docker).
    pub fn oom_killed() -> Self {
        Self { exit_code: 137, oom_killed: true, logs: Vec::new(), follow_stalls_after: None }
    }
}

impl Default for ScriptedRun {
    fn default() -> Self {
        Self::exits(0)
    }
}

/// The exit code Docker reports for a container killed by `SIGKILL`.
const KILLED_EXIT_CODE: i64 = 137;

#[derive(Debug)]
struct FakeContainer {
    id: String,
    spec: ContainerSpec,
    image_id: String,
    run: ScriptedRun,
    status: ContainerStatus,
    exit_code: Option<i64>,
    oom_killed: bool,
    started: bool,
}

#[derive(Debug)]
struct State {
    calls: Vec<Call>,
    info: EngineInfo,
    images: BTreeMap<String, ImageInfo>,
    registry: BTreeMap<String, (ImageInfo, Vec<PullEvent>)>,
    /// Archives [`Engine::load_image`] knows: path → (reference, image).
    archives: BTreeMap<std::path::PathBuf, (String, ImageInfo)>,
    runs: VecDeque<ScriptedRun>,
    /// In creation order.
    containers: Vec<FakeContainer>,
    created: u64,
    failures: HashMap<Operation, VecDeque<EngineError>>,
    /// Image reference (normalized) or ID → what exporting it yields.
    exports: BTreeMap<String, bytes::Bytes>,
    /// Paths absent from images' filesystems, by normalized reference (all others exist).
    missing_paths: BTreeMap<String, std::collections::BTreeSet<String>>,
}

/// A recording, scriptable engine for unit tests. See the module documentation.
#[derive(Debug)]
pub struct FakeEngine {
    state: Mutex<State>,
}

impl Default for FakeEngine {
    fn default() -> Self {
        Self::new()
    }
}

/// A deterministic 64-hex-digit ID derived from `seed` (FNV-1a, repeated), shaped like the
/// engines' IDs.
fn fake_hex_id(seed: &str) -> String {
    let mut out = String::with_capacity(64);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0u8..4 {
        for byte in seed.bytes().chain([round]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{hash:016x}"));
    }
    out
}

/// A plausible local image for `reference`: ID derived from the reference, tagged with it,
/// default command `sh`.
pub fn fake_image(reference: &str) -> ImageInfo {
    let reference = normalize_reference(reference);
    ImageInfo {
        id: format!("sha256:{}", fake_hex_id(&reference)),
        repo_tags: vec![reference],
        repo_digests: Vec::new(),
        labels: BTreeMap::new(),
        entrypoint: None,
        cmd: Some(vec!["sh".to_owned()]),
        user: None,
        working_dir: None,
        env: vec!["PATH=/usr/local/bin:/usr/bin:/bin".to_owned()],
        created: Some("2024-01-01T00:00:00Z".to_owned()),
        size: Some(1 << 20),
        os: Some("linux".to_owned()),
        architecture: Some("amd64".to_owned()),
        variant: None,
    }
}

impl FakeEngine {
    /// An engine with no images, no scripted runs, and Docker-like info.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                calls: Vec::new(),
                info: EngineInfo {
                    kind: EngineKind::Docker,
                    endpoint: "fake://engine".to_owned(),
                    server_version: "0.0.0-fake".to_owned(),
                    api_version: "1.41".to_owned(),
                    server_api_version: "1.41".to_owned(),
                    min_api_version: Some("1.12".to_owned()),
                    os: "linux".to_owned(),
                    arch: "amd64".to_owned(),
                    kernel_version: None,
                    operating_system: None,
                    rootless: false,
                    cgroup_driver: Some("cgroupfs".to_owned()),
                    cgroup_version: Some("2".to_owned()),
                    default_runtime: Some("runc".to_owned()),
                    runtimes: vec!["runc".to_owned()],
                    logging_driver: Some("json-file".to_owned()),
                    security_options: Vec::new(),
                    warnings: Vec::new(),
                },
                images: BTreeMap::new(),
                registry: BTreeMap::new(),
                archives: BTreeMap::new(),
                runs: VecDeque::new(),
                containers: Vec::new(),
                created: 0,
                failures: HashMap::new(),
                exports: BTreeMap::new(),
                missing_paths: BTreeMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; keep the state.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replace what [`Engine::info`] returns.
    pub fn set_info(&self, info: EngineInfo) {
        self.lock().info = info;
    }

    /// Make `image` present locally under `reference` (and under its ID).
    pub fn add_image(&self, reference: &str, image: ImageInfo) {
        let mut state = self.lock();
        state.images.insert(image.id.clone(), image.clone());
        state.images.insert(normalize_reference(reference), image);
    }

    /// Make `image` present under `reference`, exporting as `archive` (the bytes of a
    /// `docker save` tarball) through [`Engine::export_image`].
    pub fn add_image_archive(&self, reference: &str, image: ImageInfo, archive: impl Into<bytes::Bytes>) {
        let archive = archive.into();
        let mut state = self.lock();
        state.exports.insert(image.id.clone(), archive.clone());
        state.exports.insert(normalize_reference(reference), archive);
        drop(state);
        self.add_image(reference, image);
    }

    /// Make `path` absent from the filesystem of containers created from `reference` (every
    /// other path exists), e.g. `/bin/sh` for an image built `FROM scratch`.
    pub fn remove_image_path(&self, reference: &str, path: &str) {
        let mut state = self.lock();
        let reference = normalize_reference(reference);
        // Containers may be created from the reference or from the image ID it resolves to.
        let id = state.images.get(&reference).map(|i| i.id.clone());
        for key in std::iter::once(reference).chain(id) {
            state.missing_paths.entry(key).or_default().insert(path.to_owned());
        }
    }

    /// Make `reference` pullable: pulling it reports `events`, then makes `image` local.
    pub fn add_registry_image(&self, reference: &str, image: ImageInfo, events: Vec<PullEvent>) {
        self.lock().registry.insert(normalize_reference(reference), (image, events));
    }

    /// Make `archive` loadable: loading it makes `image` local under `reference`.
    pub fn add_archive(&self, archive: impl Into<std::path::PathBuf>, reference: &str, image: ImageInfo) {
        self.lock().archives.insert(archive.into(), (normalize_reference(reference), image));
    }

    /// Script the next created container (containers take scripted runs in creation order;
    /// without one, a container exits 0 and writes nothing).
    pub fn push_run(&self, run: ScriptedRun) {
        self.lock().runs.push_back(run);
    }

    /// Make the next call of `operation` fail with `error` (errors queue per operation).
    pub fn fail_next(&self, operation: Operation, error: EngineError) {
        self.lock().failures.entry(operation).or_default().push_back(error);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// IDs of the containers that exist (created and not removed), in creation order.
    pub fn container_ids(&self) -> Vec<String> {
        self.lock().containers.iter().map(|c| c.id.clone()).collect()
    }
}

impl State {
    /// Record `call`, then hand out a queued failure for `operation` if there is one.
    fn enter(&mut self, call: Call, operation: Operation) -> Result<(), EngineError> {
        self.calls.push(call);
        match self.failures.get_mut(&operation).and_then(VecDeque::pop_front) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn image(&self, reference: &str) -> Option<&ImageInfo> {
        self.images.get(reference).or_else(|| self.images.get(&normalize_reference(reference)))
    }

    /// The references (not IDs) that point at image `id`.
    fn tags_of(&self, id: &str) -> Vec<String> {
        self.images.iter().filter(|(k, i)| i.id == id && k.as_str() != id).map(|(k, _)| k.clone()).collect()
    }

    fn container(&mut self, id: &str) -> Result<&mut FakeContainer, EngineError> {
        self.containers
            .iter_mut()
            .find(|c| c.id == id || c.spec.name.as_deref() == Some(id))
            .ok_or_else(|| EngineError::ContainerNotFound { id: id.to_owned() })
    }

    /// The container runs to its scripted end.
    fn finish(container: &mut FakeContainer) {
        container.status = ContainerStatus::Exited;
        container.exit_code = Some(container.run.exit_code);
        container.oom_killed = container.run.oom_killed;
    }
}

fn applied(spec: &ContainerSpec) -> AppliedConfig {
    AppliedConfig {
        image: Some(spec.image.clone()),
        user: spec.user.map(|u| u.to_string()),
        env: spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        entrypoint: spec.entrypoint.clone(),
        cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
        working_dir: spec.working_dir.clone(),
        memory_bytes: spec.memory_bytes,
        nano_cpus: spec.nano_cpus,
        pids_limit: spec.pids_limit,
        cap_drop: spec.cap_drop.clone(),
        cap_add: spec.cap_add.clone(),
        security_opt: spec.security_opt.clone(),
        network_mode: Some(
            match spec.network {
                Network::Disabled => "none",
                Network::EngineDefault => "default",
                Network::Host => "host",
            }
            .to_owned(),
        ),
        privileged: false,
        readonly_rootfs: spec.read_only_rootfs,
        init: Some(spec.init),
        auto_remove: false,
        tmpfs: spec.tmpfs.iter().map(|t| (t.target.clone(), t.options.clone())).collect(),
        mounts: spec
            .mounts
            .iter()
            .map(|m| MountInfo {
                kind: "bind".to_owned(),
                source: Some(m.source.display().to_string()),
                target: m.target.clone(),
                read_only: m.read_only,
            })
            .collect(),
        readonly_paths: Vec::new(),
        masked_paths: Vec::new(),
        device_requests: match &spec.gpus {
            Gpus::None => Vec::new(),
            gpus => vec![DeviceRequestInfo {
                driver: None,
                count: match gpus {
                    Gpus::Count(n) => Some(i64::from(*n)),
                    Gpus::DeviceIds(_) => None,
                    Gpus::All | Gpus::None => Some(-1),
                },
                device_ids: match gpus {
                    Gpus::DeviceIds(ids) => ids.clone(),
                    _ => Vec::new(),
                },
                capabilities: vec![vec!["gpu".to_owned()]],
            }],
        },
        runtime: Some("runc".to_owned()),
    }
}

#[async_trait]
impl Engine for FakeEngine {
    /// Records the call; the command "runs" in a container that exists and is running, prints
    /// its arguments on stdout and exits 0 (`exit N` as the last word exits N).
    async fn exec(
        &self,
        id: &str,
        spec: &crate::spec::ExecSpec,
        output: &mut (dyn FnMut(LogChunk) + Send),
    ) -> Result<i64, EngineError> {
        {
            let mut state = self.lock();
            state.enter(Call::Exec { id: id.to_owned(), spec: spec.clone() }, Operation::Exec)?;
            if !state
                .containers
                .iter()
                .any(|c| c.id == id || c.id.starts_with(id) || c.spec.name.as_deref() == Some(id))
            {
                return Err(EngineError::ContainerNotFound { id: id.to_owned() });
            }
        }
        output(LogChunk::stdout(bytes::Bytes::from(spec.cmd.join(" ") + "\n")));
        let code = match spec.cmd.as_slice() {
            [.., exit, n] if exit == "exit" => n.parse().unwrap_or(1),
            _ => 0,
        };
        Ok(code)
    }

    async fn info(&self) -> Result<EngineInfo, EngineError> {
        let mut state = self.lock();
        state.enter(Call::Info, Operation::Info)?;
        Ok(state.info.clone())
    }

    async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>, EngineError> {
        let mut state = self.lock();
        state.enter(Call::InspectImage { reference: reference.to_owned() }, Operation::InspectImage)?;
        Ok(state.image(reference).cloned())
    }

    async fn pull_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        reporter: &dyn PullReporter,
    ) -> Result<PullOutcome, EngineError> {
        let (image, events, normalized) = {
            let mut state = self.lock();
            state.enter(
                Call::PullImage { reference: reference.to_owned(), auth: auth.cloned() },
                Operation::PullImage,
            )?;
            let normalized = normalize_reference(reference);
            let Some((image, events)) = state.registry.get(&normalized).cloned() else {
                return Err(EngineError::Pull {
                    reference: normalized.clone(),
                    status_code: Some(404),
                    message: format!("manifest for {normalized} not found: manifest unknown"),
                });
            };
            state.images.insert(image.id.clone(), image.clone());
            state.images.insert(normalized.clone(), image.clone());
            (image, events, normalized)
        };
        // Report outside the lock: a reporter may call back into the engine.
        let mut digest = None;
        for event in &events {
            if let Some(d) = event.digest() {
                digest = Some(d.to_owned());
            }
            reporter.on_event(event);
        }
        let digest =
            digest.or_else(|| image.repo_digests.first().and_then(|d| d.split_once('@').map(|(_, d)| d.to_owned())));
        Ok(PullOutcome { reference: normalized, digest })
    }

    async fn list_images(&self) -> Result<Vec<ImageSummary>, EngineError> {
        let mut state = self.lock();
        state.enter(Call::ListImages, Operation::ListImages)?;
        let mut seen = std::collections::BTreeSet::new();
        let images: Vec<ImageInfo> = state.images.values().filter(|i| seen.insert(i.id.clone())).cloned().collect();
        Ok(images
            .into_iter()
            .map(|i| ImageSummary {
                repo_tags: state.tags_of(&i.id),
                id: i.id,
                repo_digests: i.repo_digests,
                created: Some(1_704_067_200),
                size: i.size,
                labels: i.labels,
            })
            .collect())
    }

    async fn tag_image(&self, source: &str, target: &str) -> Result<(), EngineError> {
        let mut state = self.lock();
        state.enter(Call::TagImage { source: source.to_owned(), target: target.to_owned() }, Operation::TagImage)?;
        let image =
            state.image(source).cloned().ok_or_else(|| EngineError::ImageNotFound { reference: source.to_owned() })?;
        state.images.insert(normalize_reference(target), image);
        Ok(())
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<RemovedImage, EngineError> {
        let mut state = self.lock();
        state.enter(Call::RemoveImage { reference: reference.to_owned(), force }, Operation::RemoveImage)?;
        let image = state
            .image(reference)
            .cloned()
            .ok_or_else(|| EngineError::ImageNotFound { reference: reference.to_owned() })?;
        let in_use = state.containers.iter().any(|c| c.image_id == image.id);
        if in_use && !force {
            return Err(EngineError::Api {
                operation: Operation::RemoveImage,
                status_code: 409,
                message: format!(
                    "conflict: unable to remove repository reference \"{reference}\" (must force) - image is being used by a stopped container"
                ),
            });
        }
        let mut removed = RemovedImage::default();
        let by_id = reference == image.id;
        let untag: Vec<String> = if by_id { state.tags_of(&image.id) } else { vec![normalize_reference(reference)] };
        for r in untag {
            state.images.remove(&r);
            removed.untagged.push(r);
        }
        if state.tags_of(&image.id).is_empty() {
            state.images.remove(&image.id);
            removed.deleted.push(image.id);
        }
        Ok(removed)
    }

    async fn push_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        reporter: &dyn PullReporter,
    ) -> Result<PullOutcome, EngineError> {
        let normalized = normalize_reference(reference);
        let (image, digest) = {
            let mut state = self.lock();
            state.enter(
                Call::PushImage { reference: reference.to_owned(), auth: auth.cloned() },
                Operation::PushImage,
            )?;
            let mut image = state
                .image(&normalized)
                .cloned()
                .ok_or_else(|| EngineError::ImageNotFound { reference: normalized.clone() })?;
            let digest = format!("sha256:{}", fake_hex_id(&format!("manifest-{}", image.id)));
            let repo = crate::pull::split_tag(&normalized).0.to_owned();
            image.repo_digests.retain(|d| !d.starts_with(&format!("{repo}@")));
            image.repo_digests.push(format!("{repo}@{digest}"));
            for (_, i) in state.images.iter_mut().filter(|(_, i)| i.id == image.id) {
                i.repo_digests.clone_from(&image.repo_digests);
            }
            state.registry.insert(normalized.clone(), (image.clone(), Vec::new()));
            (image, digest)
        };
        let tag = crate::pull::split_tag(&normalized).1.unwrap_or("latest").to_owned();
        reporter.on_event(&PullEvent::Message {
            text: format!("{tag}: digest: {digest} size: {}", image.size.unwrap_or(0)),
        });
        Ok(PullOutcome { reference: normalized, digest: Some(digest) })
    }

    async fn load_image(&self, archive: &std::path::Path) -> Result<Vec<String>, EngineError> {
        let mut state = self.lock();
        state.enter(Call::LoadImage { archive: archive.to_owned() }, Operation::LoadImage)?;
        let (reference, image) = state.archives.get(archive).cloned().ok_or_else(|| EngineError::Load {
            archive: archive.display().to_string(),
            message: "open: no such file or directory".to_owned(),
        })?;
        state.images.insert(image.id.clone(), image.clone());
        state.images.insert(reference.clone(), image);
        Ok(vec![reference])
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<CreatedContainer, EngineError> {
        let mut state = self.lock();
        state.enter(Call::CreateContainer { spec: Box::new(spec.clone()) }, Operation::CreateContainer)?;
        spec.validate()?;
        let image_id = match state.image(&spec.image) {
            Some(image) => image.id.clone(),
            None => {
                return Err(EngineError::ImageNotFound { reference: spec.image.clone() });
            }
        };
        if let Some(name) = &spec.name
            && state.containers.iter().any(|c| c.spec.name.as_ref() == Some(name))
        {
            return Err(EngineError::Api {
                operation: Operation::CreateContainer,
                status_code: 409,
                message: format!("Conflict. The container name \"/{name}\" is already in use"),
            });
        }
        state.created += 1;
        let id = fake_hex_id(&format!("container-{}", state.created));
        let run = state.runs.pop_front().unwrap_or_default();
        state.containers.push(FakeContainer {
            id: id.clone(),
            spec: spec.clone(),
            image_id,
            run,
            status: ContainerStatus::Created,
            exit_code: None,
            oom_killed: false,
            started: false,
        });
        Ok(CreatedContainer { id, warnings: Vec::new() })
    }

    async fn start_container(&self, id: &str) -> Result<(), EngineError> {
        let mut state = self.lock();
        state.enter(Call::StartContainer { id: id.to_owned() }, Operation::StartContainer)?;
        let c = state.container(id)?;
        c.status = ContainerStatus::Running;
        c.exit_code = None;
        c.oom_killed = false;
        c.started = true;
        Ok(())
    }

    async fn wait_container(&self, id: &str) -> Result<WaitOutcome, EngineError> {
        let mut state = self.lock();
        state.enter(Call::WaitContainer { id: id.to_owned() }, Operation::WaitContainer)?;
        let c = state.container(id)?;
        match c.status {
            ContainerStatus::Running => State::finish(c),
            // Docker's `not-running` wait returns at once, with 0, for a container never started.
            ContainerStatus::Created => {
                return Ok(WaitOutcome { exit_code: 0, oom_killed: false });
            }
            _ => {}
        }
        Ok(WaitOutcome { exit_code: c.exit_code.unwrap_or(0), oom_killed: c.oom_killed })
    }

    fn container_logs(&self, id: &str, follow: bool) -> LogStream {
        let mut state = self.lock();
        let items: Vec<Result<LogChunk, EngineError>> = match state
            .enter(Call::ContainerLogs { id: id.to_owned(), follow }, Operation::ContainerLogs)
            .and_then(|()| state.container(id).map(|c| (c.started, c.run.logs.clone(), c.run.follow_stalls_after)))
        {
            Ok((true, logs, Some(n))) if follow => {
                let items: Vec<Result<LogChunk, EngineError>> = logs.into_iter().take(n).map(Ok).collect();
                return Box::pin(futures_util::StreamExt::chain(
                    futures_util::stream::iter(items),
                    futures_util::stream::pending(),
                ));
            }
            Ok((true, logs, _)) => logs.into_iter().map(Ok).collect(),
            Ok((false, _, _)) => Vec::new(),
            Err(e) => vec![Err(e)],
        };
        Box::pin(futures_util::stream::iter(items))
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), EngineError> {
        let mut state = self.lock();
        state.enter(Call::StopContainer { id: id.to_owned(), timeout }, Operation::StopContainer)?;
        let c = state.container(id)?;
        if c.status == ContainerStatus::Running {
            c.status = ContainerStatus::Exited;
            c.exit_code = Some(KILLED_EXIT_CODE);
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<(), EngineError> {
        let mut state = self.lock();
        state.enter(Call::RemoveContainer { id: id.to_owned(), force }, Operation::RemoveContainer)?;
        let c = state.container(id)?;
        if c.status == ContainerStatus::Running && !force {
            return Err(EngineError::Api {
                operation: Operation::RemoveContainer,
                status_code: 409,
                message: format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    c.id
                ),
            });
        }
        let full_id = c.id.clone();
        state.containers.retain(|c| c.id != full_id);
        Ok(())
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo, EngineError> {
        let mut state = self.lock();
        state.enter(Call::InspectContainer { id: id.to_owned() }, Operation::InspectContainer)?;
        let c = state.container(id)?;
        let ended = c.status == ContainerStatus::Exited;
        Ok(ContainerInfo {
            id: c.id.clone(),
            name: c.spec.name.clone(),
            image_id: Some(c.image_id.clone()),
            created: Some("2024-01-01T00:00:00Z".to_owned()),
            state: ContainerState {
                status: c.status.clone(),
                exit_code: c.exit_code.filter(|_| ended),
                oom_killed: c.oom_killed,
                error: None,
                started_at: c.started.then(|| "2024-01-01T00:00:01Z".to_owned()),
                finished_at: ended.then(|| "2024-01-01T00:00:02Z".to_owned()),
            },
            labels: c.spec.labels.clone(),
            applied: applied(&c.spec),
        })
    }

    async fn path_exists(&self, id: &str, path: &str) -> Result<bool, EngineError> {
        let mut state = self.lock();
        state.enter(Call::PathExists { id: id.to_owned(), path: path.to_owned() }, Operation::StatPath)?;
        let image = normalize_reference(&state.container(id)?.spec.image);
        Ok(!state.missing_paths.get(&image).is_some_and(|m| m.contains(path)))
    }

    async fn list_containers(&self, labels: &[LabelFilter]) -> Result<Vec<ContainerSummary>, EngineError> {
        let mut state = self.lock();
        state.enter(Call::ListContainers { labels: labels.to_vec() }, Operation::ListContainers)?;
        Ok(state
            .containers
            .iter()
            .filter(|c| labels.iter().all(|f| f.matches(&c.spec.labels)))
            .map(|c| ContainerSummary {
                id: c.id.clone(),
                names: c.spec.name.iter().cloned().collect(),
                image: Some(c.spec.image.clone()),
                labels: c.spec.labels.clone(),
                status: c.status.clone(),
                status_text: None,
                created: Some(1_704_067_200),
            })
            .collect())
    }

    fn export_container(&self, id: &str) -> crate::model::ExportStream {
        let error = EngineError::Protocol {
            operation: Operation::ExportContainer,
            problem: format!("the fake engine has no filesystem to export for container `{id}`"),
        };
        Box::pin(futures_util::stream::once(async move { Err(error) }))
    }

    async fn commit_container(
        &self,
        id: &str,
        reference: Option<&str>,
        config: &crate::model::ImageConfig,
    ) -> Result<String, EngineError> {
        self.commit(id, reference, config)
    }

    fn export_image(&self, reference: &str) -> crate::model::ExportStream {
        let items: Vec<Result<bytes::Bytes, EngineError>> = match self.export(reference) {
            Ok(archive) => (0..archive.len())
                .step_by(EXPORT_CHUNK)
                .map(|at| Ok(archive.slice(at..(at + EXPORT_CHUNK).min(archive.len()))))
                .collect(),
            Err(e) => vec![Err(e)],
        };
        Box::pin(futures_util::stream::iter(items))
    }
}

/// The size of the chunks a fake export is cut into, so that readers see more than one.
const EXPORT_CHUNK: usize = 64 * 1024;

impl FakeEngine {
    /// The commit: a new image whose ID is derived from the container's and the configuration
    /// given, registered under `reference` when given.
    fn commit(
        &self,
        id: &str,
        reference: Option<&str>,
        config: &crate::model::ImageConfig,
    ) -> Result<String, EngineError> {
        let mut state = self.lock();
        state.enter(
            Call::CommitContainer {
                id: id.to_owned(),
                reference: reference.map(str::to_owned),
                config: config.clone(),
            },
            Operation::CommitContainer,
        )?;
        let container = state
            .containers
            .iter()
            .find(|c| c.id == id || c.id.starts_with(id) || c.spec.name.as_deref() == Some(id))
            .ok_or_else(|| EngineError::ContainerNotFound { id: id.to_owned() })?;
        let base = state.images.values().find(|i| i.id == container.image_id).cloned().unwrap_or_default();
        let image_id = format!("sha256:{:0>64}", format!("{:x}", state.calls.len()));
        let image = ImageInfo {
            id: image_id.clone(),
            repo_tags: reference.map(|r| vec![normalize_reference(r)]).unwrap_or_default(),
            repo_digests: Vec::new(),
            labels: config.labels.clone(),
            entrypoint: config.entrypoint.clone(),
            cmd: config.cmd.clone(),
            user: config.user.clone(),
            working_dir: config.working_dir.clone(),
            env: config.env.clone(),
            ..base
        };
        state.images.insert(image_id.clone(), image.clone());
        if let Some(r) = reference {
            state.images.insert(normalize_reference(r), image);
        }
        Ok(image_id)
    }

    fn export(&self, reference: &str) -> Result<bytes::Bytes, EngineError> {
        let mut state = self.lock();
        state.enter(Call::ExportImage { reference: reference.to_owned() }, Operation::ExportImage)?;
        let found = state.exports.get(reference).or_else(|| state.exports.get(&normalize_reference(reference)));
        found.cloned().ok_or_else(|| EngineError::ImageNotFound { reference: reference.to_owned() })
    }
}

/// A [`PullReporter`] that keeps every event, for assertions.
#[derive(Debug, Default)]
pub struct RecordingReporter {
    events: Mutex<Vec<PullEvent>>,
}

impl RecordingReporter {
    /// The events received so far.
    pub fn events(&self) -> Vec<PullEvent> {
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl PullReporter for RecordingReporter {
    fn on_event(&self, event: &PullEvent) {
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(event.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_util::StreamExt;

    use super::*;
    use crate::model::LogStreamKind;
    use crate::pull::{LayerPhase, NoProgress};

    fn engine_with_busybox() -> FakeEngine {
        let fake = FakeEngine::new();
        fake.add_image("busybox", fake_image("busybox"));
        fake
    }

    fn spec() -> ContainerSpec {
        let mut s = ContainerSpec::new("busybox", ["sh", "-c", "exit 3"]);
        s.labels.insert("berth.run-id".into(), "r1".into());
        s
    }

    #[tokio::test]
    async fn a_scripted_run_plays_back_exit_code_and_logs_and_calls_are_recorded() {
        let fake = engine_with_busybox();
        fake.push_run(
            ScriptedRun::exits(3).with_output(LogChunk::stdout("out\n")).with_output(LogChunk::stderr("err\n")),
        );
        let engine: Arc<dyn Engine> = Arc::new(fake);
        let id = engine.create_container(&spec()).await.expect("create").id;
        engine.start_container(&id).await.expect("start");
        let outcome = engine.wait_container(&id).await.expect("wait");
        assert_eq!(outcome, WaitOutcome { exit_code: 3, oom_killed: false });
        let chunks: Vec<_> = engine.container_logs(&id, false).map(|c| c.expect("chunk")).collect().await;
        assert_eq!(
            chunks.iter().map(|c| c.stream).collect::<Vec<_>>(),
            vec![LogStreamKind::Stdout, LogStreamKind::Stderr]
        );
        engine.remove_container(&id, false).await.expect("remove");
        let info = engine.inspect_container(&id).await.expect_err("gone");
        assert!(matches!(info, EngineError::ContainerNotFound { .. }));
    }

    #[tokio::test]
    async fn calls_are_recorded_with_their_arguments() {
        let fake = engine_with_busybox();
        let id = fake.create_container(&spec()).await.expect("create").id;
        fake.stop_container(&id, Duration::from_secs(5)).await.expect("stop");
        fake.list_containers(&[LabelFilter::equals("berth.run-id", "r1")]).await.expect("list");
        assert_eq!(
            fake.calls(),
            vec![
                Call::CreateContainer { spec: Box::new(spec()) },
                Call::StopContainer { id: id.clone(), timeout: Duration::from_secs(5) },
                Call::ListContainers { labels: vec![LabelFilter::equals("berth.run-id", "r1")] },
            ]
        );
    }

    #[tokio::test]
    async fn images_are_listed_tagged_pushed_and_removed_like_an_engine() {
        let fake = FakeEngine::new();
        fake.add_image("busybox", fake_image("busybox"));
        fake.tag_image("busybox", "localhost:5000/bb:1").await.expect("tag");
        let listed = fake.list_images().await.expect("ls");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].repo_tags, ["busybox:latest", "localhost:5000/bb:1"]);
        let err = fake.tag_image("nope", "x").await.expect_err("missing source");
        assert!(matches!(err, EngineError::ImageNotFound { ref reference } if reference == "nope"));

        let pushed = fake.push_image("localhost:5000/bb:1", None, &NoProgress).await.expect("push");
        let digest = pushed.digest.expect("a digest");
        let local = fake.inspect_image("busybox").await.expect("inspect").expect("present");
        assert_eq!(local.repo_digests, [format!("localhost:5000/bb@{digest}")]);

        let removed = fake.remove_image("localhost:5000/bb:1", false).await.expect("rm tag");
        assert_eq!(removed, RemovedImage { untagged: vec!["localhost:5000/bb:1".into()], deleted: vec![] });
        let removed = fake.remove_image("busybox", false).await.expect("rm last tag");
        assert_eq!(removed.deleted, [local.id]);
        assert!(fake.list_images().await.expect("ls").is_empty());
        assert!(matches!(fake.remove_image("busybox", false).await, Err(EngineError::ImageNotFound { .. })));
    }

    #[tokio::test]
    async fn missing_images_fail_create_and_can_be_pulled_when_scripted() {
        let fake = FakeEngine::new();
        let err = fake.create_container(&spec()).await.expect_err("missing");
        assert!(matches!(err, EngineError::ImageNotFound { ref reference } if reference == "busybox"));
        assert_eq!(fake.inspect_image("busybox").await.expect("inspect"), None);

        let err = fake.pull_image("busybox", None, &NoProgress).await.expect_err("not in registry");
        assert!(matches!(err, EngineError::Pull { status_code: Some(404), .. }));

        let layer = PullEvent::Layer { id: "abc".into(), phase: LayerPhase::PullComplete, current: None, total: None };
        fake.add_registry_image(
            "busybox",
            fake_image("busybox"),
            vec![layer.clone(), PullEvent::Message { text: "Digest: sha256:feed".into() }],
        );
        let reporter = RecordingReporter::default();
        let auth = RegistryAuth { username: Some("ana".into()), ..RegistryAuth::default() };
        let pulled = fake.pull_image("busybox", Some(&auth), &reporter).await.expect("pull");
        assert_eq!(pulled.reference, "busybox:latest");
        assert_eq!(pulled.digest.as_deref(), Some("sha256:feed"));
        assert_eq!(reporter.events()[0], layer);
        assert!(fake.inspect_image("busybox:latest").await.expect("inspect").is_some());
        assert!(fake.calls().contains(&Call::PullImage { reference: "busybox".into(), auth: Some(auth) }));
    }

    #[tokio::test]
    async fn lifecycle_rules_match_the_real_engines() {
        let fake = engine_with_busybox();
        fake.push_run(ScriptedRun::exits(3));
        let id = fake.create_container(&spec()).await.expect("create").id;
        // Waiting on a never-started container returns 0 at once, as Docker does.
        assert_eq!(fake.wait_container(&id).await.expect("wait").exit_code, 0);
        fake.start_container(&id).await.expect("start");
        let refused = fake.remove_container(&id, false).await.expect_err("running");
        assert!(matches!(refused, EngineError::Api { status_code: 409, .. }));
        fake.stop_container(&id, Duration::from_secs(1)).await.expect("stop");
        let state = fake.inspect_container(&id).await.expect("inspect").state;
        assert_eq!((state.status, state.exit_code), (ContainerStatus::Exited, Some(137)));
        fake.remove_container(&id, false).await.expect("remove");
        assert!(fake.container_ids().is_empty());
    }

    #[tokio::test]
    async fn oom_kills_are_reported_by_wait_and_inspect() {
        let fake = engine_with_busybox();
        fake.push_run(ScriptedRun::oom_killed());
        let id = fake.create_container(&spec()).await.expect("create").id;
        fake.start_container(&id).await.expect("start");
        let outcome = fake.wait_container(&id).await.expect("wait");
        assert_eq!(outcome, WaitOutcome { exit_code: 137, oom_killed: true });
        assert!(fake.inspect_container(&id).await.expect("inspect").state.oom_killed);
    }

    #[tokio::test]
    async fn queued_failures_are_returned_once_and_the_call_is_still_recorded() {
        let fake = engine_with_busybox();
        fake.fail_next(Operation::Info, EngineError::Timeout { operation: Operation::Info });
        assert!(matches!(fake.info().await, Err(EngineError::Timeout { .. })));
        assert!(fake.info().await.is_ok());
        assert_eq!(fake.calls(), vec![Call::Info, Call::Info]);
    }

    #[tokio::test]
    async fn listing_filters_by_every_label_given() {
        let fake = engine_with_busybox();
        let mine = fake.create_container(&spec()).await.expect("create").id;
        let mut other = spec();
        other.labels.insert("berth.run-id".into(), "r2".into());
        fake.create_container(&other).await.expect("create");
        let found = fake
            .list_containers(&[LabelFilter::has("berth.run-id"), LabelFilter::equals("berth.run-id", "r1")])
            .await
            .expect("list");
        assert_eq!(found.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), vec![mine]);
        assert_eq!(fake.list_containers(&[]).await.expect("list").len(), 2);
    }

    #[tokio::test]
    async fn exports_play_back_the_scripted_archive_in_chunks_and_are_recorded() {
        let fake = FakeEngine::new();
        let archive: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        fake.add_image_archive("tool:1", fake_image("tool:1"), archive.clone());
        let chunks: Vec<_> = fake.export_image("tool:1").map(|c| c.expect("chunk")).collect().await;
        assert!(chunks.len() > 1);
        assert_eq!(chunks.concat(), archive);
        assert!(fake.inspect_image("tool:1").await.expect("inspect").is_some());
        let mut missing = fake.export_image("nope");
        assert!(matches!(missing.next().await, Some(Err(EngineError::ImageNotFound { .. }))));
        assert!(missing.next().await.is_none());
        assert_eq!(fake.calls()[..1], [Call::ExportImage { reference: "tool:1".into() }]);
    }

    #[tokio::test]
    async fn logs_of_an_unknown_container_fail_as_the_first_item() {
        let fake = FakeEngine::new();
        let mut logs = fake.container_logs("nope", true);
        assert!(matches!(logs.next().await, Some(Err(EngineError::ContainerNotFound { .. }))));
        assert!(logs.next().await.is_none());
    }
}
