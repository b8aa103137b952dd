//! [`DockerEngine`]: the [`Engine`] for Docker and for Podman's Docker-compatible API, on bollard.
//!
//! Connecting negotiates the API version with the engine (`GET /version`), so one build of
//! berth talks to Docker 20.10 (API 1.41) as well as to current engines. Podman is told apart
//! from Docker by the version payload's components, not by the socket's path.

mod failure;
mod wire;

use std::time::Duration;

use async_trait::async_trait;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};
use futures_util::StreamExt;

use crate::endpoint::Endpoint;
use crate::engine::Engine;
use crate::env::Env;
use crate::error::{EngineError, Operation, UnreachableReason};
use crate::model::{
    ContainerInfo, ContainerSummary, CreatedContainer, EngineInfo, ExportStream, ImageConfig, ImageInfo, ImageSummary,
    LabelFilter, LogChunk, LogStream, RemovedImage, WaitOutcome,
};
use crate::pull::{PullEvent, PullOutcome, PullReporter, RegistryAuth, normalize_reference, split_tag};
use crate::spec::ContainerSpec;

pub(crate) use failure::classify;
use failure::classify_container;

/// The oldest Docker API berth uses: 1.40 (Docker 19.03) added `DeviceRequests`, which GPU
/// support needs. Podman 3 and newer report 1.40 or above.
pub const MIN_API_VERSION: (usize, usize) = (1, 40);

/// How long an ordinary request (everything but waiting and stopping) may take, by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A Docker or Podman engine reached over its Docker-compatible HTTP API.
#[derive(Debug, Clone)]
pub struct DockerEngine {
    /// For requests that answer promptly; bounded by the request timeout.
    client: Docker,
    /// The same connection without a request timeout, for requests whose answer legitimately
    /// takes as long as the container runs (`wait`) or as the stop grace period (`stop`).
    unbounded: Docker,
    endpoint: Endpoint,
}

/// bollard applies its timeout to every request, from sending it until the response headers
/// arrive. u64::MAX seconds overflows `Instant`, which tokio treats as "no deadline".
const NO_TIMEOUT: Duration = Duration::from_secs(u64::MAX);

/// How often, and how many times, a memory-limited container that exited with SIGKILL is
/// inspected again for the OOM flag (see `wait_container`): at most 1.5 s, only for such exits.
const OOM_EVENT_POLL: Duration = Duration::from_millis(100);
const OOM_EVENT_POLLS: u32 = 15;

impl DockerEngine {
    /// Connect to the engine at `endpoint` and negotiate the API version.
    ///
    /// This sends a request (`GET /version`), so an unreachable engine fails here with
    /// [`EngineError::Unreachable`] and a hint.
    pub async fn connect(endpoint: &Endpoint) -> Result<Self, EngineError> {
        Self::connect_with_timeout(endpoint, DEFAULT_REQUEST_TIMEOUT).await
    }

    /// Like [`DockerEngine::connect`], with a different timeout for ordinary requests
    /// (rounded up to whole seconds; detection probes use a short one).
    pub async fn connect_with_timeout(endpoint: &Endpoint, request_timeout: Duration) -> Result<Self, EngineError> {
        let secs = request_timeout.as_secs().saturating_add(u64::from(request_timeout.subsec_nanos() > 0)).max(1);
        let unreachable = |reason| EngineError::Unreachable { endpoint: endpoint.to_string(), reason, source: None };
        let client = match endpoint {
            Endpoint::Unix { path } => {
                // bollard checks existence too, but says nothing about permissions; the
                // connect error below carries PermissionDenied when that is the problem.
                if !path.exists() {
                    return Err(unreachable(UnreachableReason::SocketMissing));
                }
                Docker::connect_with_unix(&endpoint.to_string(), secs, API_DEFAULT_VERSION)
            }
            Endpoint::Tcp { address, tls: None } => {
                Docker::connect_with_http(&format!("tcp://{address}"), secs, API_DEFAULT_VERSION)
            }
            Endpoint::Tcp { address, tls: Some(files) } => {
                // bollard looks the crypto provider up process-wide and panics when none is
                // installed, which rustls leaves undecided once two providers are compiled in.
                // An error here only means one is installed already, which then serves.
                let _ = rustls::crypto::ring::default_provider().install_default();
                Docker::connect_with_ssl(
                    &format!("tcp://{address}"),
                    &files.key,
                    &files.cert,
                    &files.ca,
                    secs,
                    API_DEFAULT_VERSION,
                )
            }
        }
        .map_err(|e| classify(e, Operation::Connect, endpoint))?;
        let client = client.negotiate_version().await.map_err(|e| classify(e, Operation::Connect, endpoint))?;
        let agreed = client.client_version();
        if (agreed.major_version, agreed.minor_version) < MIN_API_VERSION {
            return Err(EngineError::ApiTooOld {
                endpoint: endpoint.to_string(),
                server_api_version: version_string(&agreed),
                minimum: format!("{}.{}", MIN_API_VERSION.0, MIN_API_VERSION.1),
            });
        }
        let unbounded = client.clone().with_timeout(NO_TIMEOUT);
        Ok(Self { client, unbounded, endpoint: endpoint.clone() })
    }

    /// Connect to the engine `DOCKER_HOST` (and `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`) of
    /// this process names, or the default socket.
    pub async fn from_env() -> Result<Self, EngineError> {
        let endpoint = Endpoint::docker_from_env(&Env::from_process())?;
        Self::connect(&endpoint).await
    }

    /// Where this engine is reached.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The API version agreed with the engine (`1.41`).
    pub fn api_version(&self) -> String {
        version_string(&self.client.client_version())
    }

    fn fail(&self, operation: Operation) -> impl Fn(bollard::errors::Error) -> EngineError + '_ {
        move |e| classify(e, operation, &self.endpoint)
    }

    fn fail_container<'a>(
        &'a self,
        operation: Operation,
        id: &'a str,
    ) -> impl Fn(bollard::errors::Error) -> EngineError + 'a {
        move |e| classify_container(e, operation, &self.endpoint, id)
    }
}

/// `config` as Dockerfile instructions (the `changes` of a commit, one per line), for Podman:
/// its compatible API ignores the request body of a commit and keeps the container's entrypoint
/// and command unless `changes` says otherwise.
fn commit_changes(config: &ImageConfig) -> String {
    let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"));
    let mut lines = vec![
        format!("ENTRYPOINT {}", json(config.entrypoint.as_deref().unwrap_or_default())),
        format!("CMD {}", json(config.cmd.as_deref().unwrap_or_default())),
    ];
    if let Some(user) = config.user.as_deref().filter(|u| !u.is_empty()) {
        lines.push(format!("USER {user}"));
    }
    if let Some(dir) = config.working_dir.as_deref().filter(|d| !d.is_empty()) {
        lines.push(format!("WORKDIR {dir}"));
    }
    for (k, v) in &config.labels {
        lines.push(format!("LABEL {}={}", quote(k), quote(v)));
    }
    lines.join("\n")
}

/// An image operation's error: 404 means the image named is missing.
fn image_error(e: bollard::errors::Error, operation: Operation, reference: &str, endpoint: &Endpoint) -> EngineError {
    match classify(e, operation, endpoint) {
        EngineError::Api { status_code: 404, .. } => EngineError::ImageNotFound { reference: reference.to_owned() },
        other => other,
    }
}

fn version_string(v: &ClientVersion) -> String {
    format!("{}.{}", v.major_version, v.minor_version)
}

#[async_trait]
impl Engine for DockerEngine {
    async fn info(&self) -> Result<EngineInfo, EngineError> {
        let version = self.client.version().await.map_err(self.fail(Operation::Info))?;
        let info = self.client.info().await.map_err(self.fail(Operation::Info))?;
        Ok(wire::engine_info(self.endpoint.to_string(), self.api_version(), version, info))
    }

    async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>, EngineError> {
        match self.client.inspect_image(reference).await {
            Ok(image) => Ok(Some(wire::image_info(image))),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(classify(e, Operation::InspectImage, &self.endpoint)),
        }
    }

    async fn pull_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        reporter: &dyn PullReporter,
    ) -> Result<PullOutcome, EngineError> {
        let reference = normalize_reference(reference);
        let options = CreateImageOptionsBuilder::new().from_image(&reference).build();
        let mut progress = self.client.create_image(Some(options), None, auth.map(wire::credentials));
        let mut digest = None;
        while let Some(record) = progress.next().await {
            match record {
                Ok(record) => {
                    let Some(status) = record.status else {
                        continue;
                    };
                    let detail = record.progress_detail.unwrap_or_default();
                    let event = PullEvent::from_progress(&status, record.id.as_deref(), detail.current, detail.total);
                    if let Some(d) = event.digest() {
                        digest = Some(d.to_owned());
                    }
                    reporter.on_event(&event);
                }
                // Errors after the pull began arrive inside the stream (`errorDetail`); errors
                // before it (unknown repository, denied) as an HTTP status.
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(EngineError::Pull { reference, status_code: None, message: error });
                }
                Err(bollard::errors::Error::DockerResponseServerError { status_code, message }) => {
                    return Err(EngineError::Pull { reference, status_code: Some(status_code), message });
                }
                Err(e) => return Err(classify(e, Operation::PullImage, &self.endpoint)),
            }
        }
        Ok(PullOutcome { reference, digest })
    }

    async fn list_images(&self) -> Result<Vec<ImageSummary>, EngineError> {
        // Podman answers 500 for the whole list when an image is removed while it lists
        // ("image not known"): on a busy host that is a race, not a failure; list again.
        let mut attempt = 0;
        loop {
            let options = bollard::query_parameters::ListImagesOptionsBuilder::new().all(false).build();
            match self.client.list_images(Some(options)).await {
                Ok(listed) => return Ok(listed.into_iter().map(wire::image_summary).collect()),
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 500, message })
                    if attempt < 4 && (message.contains("image not known") || message.contains("No such image")) =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => return Err(self.fail(Operation::ListImages)(e)),
            }
        }
    }

    async fn tag_image(&self, source: &str, target: &str) -> Result<(), EngineError> {
        let target = normalize_reference(target);
        let (repo, tag) = split_tag(&target);
        let mut options = bollard::query_parameters::TagImageOptionsBuilder::new().repo(repo);
        if let Some(tag) = tag {
            options = options.tag(tag);
        }
        self.client
            .tag_image(source, Some(options.build()))
            .await
            .map_err(|e| image_error(e, Operation::TagImage, source, &self.endpoint))
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<RemovedImage, EngineError> {
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new().force(force).build();
        let items = self
            .client
            .remove_image(reference, Some(options), None)
            .await
            .map_err(|e| image_error(e, Operation::RemoveImage, reference, &self.endpoint))?;
        let mut removed = RemovedImage::default();
        for item in items {
            removed.untagged.extend(item.untagged);
            removed.deleted.extend(item.deleted);
        }
        Ok(removed)
    }

    async fn push_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        reporter: &dyn PullReporter,
    ) -> Result<PullOutcome, EngineError> {
        let reference = normalize_reference(reference);
        let (repo, tag) = split_tag(&reference);
        let mut options = bollard::query_parameters::PushImageOptionsBuilder::new();
        if let Some(tag) = tag {
            options = options.tag(tag);
        }
        // Docker refuses a push without an `X-Registry-Auth` header, even for an open registry.
        let credentials = auth.map(wire::credentials).unwrap_or_default();
        let mut progress = self.client.push_image(repo, Some(options.build()), Some(credentials));
        let mut digest = None;
        while let Some(record) = progress.next().await {
            match record {
                Ok(record) => {
                    if let Some(detail) = record.error_detail.and_then(|d| d.message) {
                        return Err(EngineError::Push { reference, status_code: None, message: detail });
                    }
                    let Some(status) = record.status else { continue };
                    // The last record reads `TAG: digest: sha256:... size: N`.
                    if let Some((_, rest)) = status.split_once("digest: ") {
                        digest = rest.split_whitespace().next().map(str::to_owned);
                    }
                    // Push records carry no layer IDs in bollard's model: report them as messages,
                    // skipping the byte-count chatter.
                    if !matches!(status.as_str(), "Pushing" | "Preparing" | "Waiting") {
                        reporter.on_event(&PullEvent::Message { text: status });
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(EngineError::Push { reference, status_code: None, message: error });
                }
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                    return Err(EngineError::ImageNotFound { reference });
                }
                Err(bollard::errors::Error::DockerResponseServerError { status_code, message }) => {
                    return Err(EngineError::Push { reference, status_code: Some(status_code), message });
                }
                Err(e) => return Err(classify(e, Operation::PushImage, &self.endpoint)),
            }
        }
        Ok(PullOutcome { reference, digest })
    }

    async fn load_image(&self, archive: &std::path::Path) -> Result<Vec<String>, EngineError> {
        let shown = archive.display().to_string();
        let file = tokio::fs::File::open(archive)
            .await
            .map_err(|e| EngineError::Load { archive: shown.clone(), message: e.to_string() })?;
        let body = tokio_util::io::ReaderStream::new(file);
        let options = bollard::query_parameters::ImportImageOptionsBuilder::new().quiet(true).build();
        let mut answers = self.client.import_image_stream(options, body, None);
        let mut loaded = Vec::new();
        while let Some(answer) = answers.next().await {
            match answer {
                Ok(info) => {
                    if let Some(message) = info.error_detail.and_then(|d| d.message) {
                        return Err(EngineError::Load { archive: shown, message });
                    }
                    // `Loaded image: name:tag` or `Loaded image ID: sha256:...`, one per line.
                    for line in info.stream.iter().chain(info.status.iter()).flat_map(|s| s.lines()) {
                        if let Some(what) =
                            line.strip_prefix("Loaded image ID: ").or_else(|| line.strip_prefix("Loaded image: "))
                        {
                            for one in what.split(',') {
                                loaded.push(one.trim().to_owned());
                            }
                        }
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(EngineError::Load { archive: shown, message: error });
                }
                Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
                    return Err(EngineError::Load { archive: shown, message });
                }
                Err(e) => return Err(classify(e, Operation::LoadImage, &self.endpoint)),
            }
        }
        Ok(loaded)
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<CreatedContainer, EngineError> {
        spec.validate()?;
        let mut options = CreateContainerOptionsBuilder::new();
        if let Some(name) = &spec.name {
            options = options.name(name);
        }
        let created =
            self.client.create_container(Some(options.build()), wire::create_body(spec)).await.map_err(|e| {
                match classify(e, Operation::CreateContainer, &self.endpoint) {
                    // 404 on create means the image is missing (the engine never pulls here).
                    EngineError::Api { status_code: 404, .. } => {
                        EngineError::ImageNotFound { reference: spec.image.clone() }
                    }
                    other => other,
                }
            })?;
        Ok(CreatedContainer { id: created.id, warnings: created.warnings })
    }

    async fn start_container(&self, id: &str) -> Result<(), EngineError> {
        // 304 (already started) counts as success in bollard.
        self.client.start_container(id, None).await.map_err(self.fail_container(Operation::StartContainer, id))
    }

    async fn wait_container(&self, id: &str) -> Result<WaitOutcome, EngineError> {
        let options = WaitContainerOptionsBuilder::new().condition("not-running").build();
        let mut answers = self.unbounded.wait_container(id, Some(options));
        let exit_code = match answers.next().await {
            Some(Ok(answer)) => answer.status_code,
            // bollard turns every non-zero exit into this error; an empty message means the
            // wait itself went fine and `code` is the container's exit code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { error, code })) if error.is_empty() => code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { error, .. })) => {
                return Err(EngineError::Protocol { operation: Operation::WaitContainer, problem: error });
            }
            Some(Err(e)) => {
                return Err(classify_container(e, Operation::WaitContainer, &self.endpoint, id));
            }
            None => {
                return Err(EngineError::Protocol {
                    operation: Operation::WaitContainer,
                    problem: "the wait ended without an exit status".to_owned(),
                });
            }
        };
        // The wait answer has no OOM flag; the container's state does. Docker sets `OOMKilled`
        // from containerd's OOM event, which is independent of the exit event and may be applied
        // after it: a SIGKILL exit (137) without the flag is inspected again for a moment before
        // it is taken for a kill by someone else.
        let info = self.inspect_container(id).await?;
        let limited = info.applied.memory_bytes.is_some_and(|m| m > 0);
        let mut state = info.state;
        if exit_code == 137 && !state.oom_killed && limited {
            for _ in 0..OOM_EVENT_POLLS {
                tokio::time::sleep(OOM_EVENT_POLL).await;
                state = self.inspect_container(id).await?.state;
                if state.oom_killed {
                    break;
                }
            }
        }
        Ok(WaitOutcome { exit_code, oom_killed: state.oom_killed })
    }

    fn container_logs(&self, id: &str, follow: bool) -> LogStream {
        let options = LogsOptionsBuilder::new().follow(follow).stdout(true).stderr(true).build();
        let endpoint = self.endpoint.clone();
        let id = id.to_owned();
        // Without a TTY the engine frames stdout and stderr separately (8-byte headers);
        // bollard takes the frames apart, so each item says which stream it came from.
        let frames = self.client.logs(&id, Some(options));
        Box::pin(frames.filter_map(move |frame| {
            let item = match frame {
                Ok(bollard::container::LogOutput::StdOut { message })
                | Ok(bollard::container::LogOutput::Console { message }) => Some(Ok(LogChunk::stdout(message))),
                Ok(bollard::container::LogOutput::StdErr { message }) => Some(Ok(LogChunk::stderr(message))),
                Ok(bollard::container::LogOutput::StdIn { .. }) => None,
                Err(e) => Some(Err(classify_container(e, Operation::ContainerLogs, &endpoint, &id))),
            };
            std::future::ready(item)
        }))
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), EngineError> {
        let secs = timeout.as_secs().saturating_add(u64::from(timeout.subsec_nanos() > 0));
        let options = StopContainerOptionsBuilder::new().t(i32::try_from(secs).unwrap_or(i32::MAX)).build();
        // 304 (not running) counts as success in bollard.
        self.unbounded
            .stop_container(id, Some(options))
            .await
            .map_err(self.fail_container(Operation::StopContainer, id))
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<(), EngineError> {
        let options = RemoveContainerOptionsBuilder::new().force(force).v(true).build();
        self.client
            .remove_container(id, Some(options))
            .await
            .map_err(self.fail_container(Operation::RemoveContainer, id))
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo, EngineError> {
        let inspected = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(self.fail_container(Operation::InspectContainer, id))?;
        Ok(wire::container_info(inspected))
    }

    async fn path_exists(&self, id: &str, path: &str) -> Result<bool, EngineError> {
        let options = bollard::query_parameters::ContainerArchiveInfoOptionsBuilder::new().path(path).build();
        match self.client.get_container_archive_info(id, Some(options)).await {
            Ok(_) => Ok(true),
            // The answer to HEAD has no body, so a missing path and a missing container both
            // come back as a bare 404; callers ask about containers they just created.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(classify_container(e, Operation::StatPath, &self.endpoint, id)),
        }
    }

    async fn list_containers(&self, labels: &[LabelFilter]) -> Result<Vec<ContainerSummary>, EngineError> {
        let mut options = ListContainersOptionsBuilder::new().all(true);
        if !labels.is_empty() {
            let filters = std::collections::HashMap::from([(
                "label",
                labels.iter().map(LabelFilter::to_filter_string).collect::<Vec<_>>(),
            )]);
            options = options.filters(&filters);
        }
        let listed =
            self.client.list_containers(Some(options.build())).await.map_err(self.fail(Operation::ListContainers))?;
        Ok(listed.into_iter().map(wire::container_summary).collect())
    }

    fn export_image(&self, reference: &str) -> ExportStream {
        let endpoint = self.endpoint.clone();
        let reference = reference.to_owned();
        // The export streams for as long as the image is large: no request timeout.
        let chunks = self.unbounded.export_image(&reference);
        Box::pin(chunks.map(move |chunk| {
            chunk.map_err(|e| match classify(e, Operation::ExportImage, &endpoint) {
                EngineError::Api { status_code: 404, .. } => {
                    EngineError::ImageNotFound { reference: reference.clone() }
                }
                other => other,
            })
        }))
    }

    fn export_container(&self, id: &str) -> ExportStream {
        let endpoint = self.endpoint.clone();
        let id = id.to_owned();
        let chunks = self.unbounded.export_container(&id);
        Box::pin(
            chunks
                .map(move |chunk| chunk.map_err(|e| classify_container(e, Operation::ExportContainer, &endpoint, &id))),
        )
    }

    async fn commit_container(
        &self,
        id: &str,
        reference: Option<&str>,
        config: &ImageConfig,
    ) -> Result<String, EngineError> {
        let mut options = bollard::query_parameters::CommitContainerOptionsBuilder::new().container(id).pause(false);
        // Podman ignores the body (below) and needs the configuration as `changes`; Docker
        // takes the body, and an empty `ENTRYPOINT []` change would let it copy the container's.
        if self.info().await?.kind == crate::model::EngineKind::Podman {
            options = options.changes(&commit_changes(config));
        }
        let normalized = reference.map(normalize_reference);
        if let Some(r) = &normalized {
            let (repo, tag) = split_tag(r);
            options = options.repo(repo);
            if let Some(tag) = tag {
                options = options.tag(tag);
            }
        }
        // Docker merges the body with the container's configuration wherever the body is empty
        // (daemon/commit.go `merge`): an explicit empty entrypoint (`[]`, not null) keeps the
        // container's from leaking in; callers run jobs to commit without a command of their own.
        let body = bollard::models::ContainerConfig {
            entrypoint: Some(config.entrypoint.clone().unwrap_or_default()),
            cmd: config.cmd.clone().filter(|c| !c.is_empty()),
            env: Some(config.env.clone()),
            user: Some(config.user.clone().unwrap_or_default()),
            working_dir: config.working_dir.clone(),
            labels: Some(config.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        let answer = self
            .unbounded
            .commit_container(options.build(), body)
            .await
            .map_err(self.fail_container(Operation::CommitContainer, id))?;
        // Podman answers the bare hex digest; image IDs are `sha256:…` everywhere else.
        Ok(if answer.id.contains(':') { answer.id } else { format!("sha256:{}", answer.id) })
    }

    async fn exec(
        &self,
        id: &str,
        spec: &crate::spec::ExecSpec,
        output: &mut (dyn FnMut(LogChunk) + Send),
    ) -> Result<i64, EngineError> {
        if spec.cmd.is_empty() {
            return Err(EngineError::InvalidSpec { field: "cmd", problem: "is empty: give the command to run".into() });
        }
        let config = bollard::models::ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(false),
            tty: Some(false),
            cmd: Some(spec.cmd.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            working_dir: spec.working_dir.clone(),
            user: spec.user.map(|u| u.to_string()),
            ..Default::default()
        };
        let created = self.client.create_exec(id, config).await.map_err(self.fail_container(Operation::Exec, id))?;
        // The command runs for as long as it needs: no request timeout on its output.
        let started = self
            .unbounded
            .start_exec(
                &created.id,
                Some(bollard::exec::StartExecOptions { detach: false, tty: false, output_capacity: None }),
            )
            .await
            .map_err(self.fail_container(Operation::Exec, id))?;
        if let bollard::exec::StartExecResults::Attached { output: mut frames, .. } = started {
            while let Some(frame) = frames.next().await {
                match frame.map_err(self.fail_container(Operation::Exec, id))? {
                    bollard::container::LogOutput::StdOut { message }
                    | bollard::container::LogOutput::Console { message } => output(LogChunk::stdout(message)),
                    bollard::container::LogOutput::StdErr { message } => output(LogChunk::stderr(message)),
                    bollard::container::LogOutput::StdIn { .. } => {}
                }
            }
        }
        let inspected =
            self.client.inspect_exec(&created.id).await.map_err(self.fail_container(Operation::Exec, id))?;
        Ok(inspected.exit_code.unwrap_or(-1))
    }
}
