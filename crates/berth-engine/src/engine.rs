//! The [`Engine`] trait: the narrow set of container operations berth needs.
//!
//! It is object-safe (`Arc<dyn Engine>`), implemented for real by
//! [`DockerEngine`](crate::DockerEngine) (Docker and Podman) and for tests by
//! [`FakeEngine`](crate::FakeEngine).

use std::time::Duration;

use async_trait::async_trait;

use crate::error::EngineError;
use crate::model::{
    ContainerInfo, ContainerSummary, CreatedContainer, EngineInfo, ExportStream, ImageConfig, ImageInfo, ImageSummary,
    LabelFilter, LogChunk, LogStream, RemovedImage, WaitOutcome,
};
use crate::pull::{PullOutcome, PullReporter, RegistryAuth};
use crate::spec::{ContainerSpec, ExecSpec};

/// A container engine.
///
/// Container arguments (`id`) accept a full ID, a unique ID prefix or a name, as the engine
/// does. Operations on a container that does not exist fail with
/// [`EngineError::ContainerNotFound`].
#[async_trait]
pub trait Engine: Send + Sync + std::fmt::Debug {
    /// What the engine says about itself, and the API version agreed on.
    async fn info(&self) -> Result<EngineInfo, EngineError>;

    /// The local image `reference`, or `None` if the engine does not have it.
    async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>, EngineError>;

    /// Pull `reference` (`:latest` is added when it has neither tag nor digest), with
    /// `auth` for the registry if given, reporting progress to `reporter`.
    async fn pull_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        reporter: &dyn PullReporter,
    ) -> Result<PullOutcome, EngineError>;

    /// Every local image, tagged or not.
    async fn list_images(&self) -> Result<Vec<ImageSummary>, EngineError>;

    /// Give the local image `source` (reference or ID) the additional reference `target`
    /// (`:latest` is added when it has no tag). A missing `source` fails with
    /// [`EngineError::ImageNotFound`].
    async fn tag_image(&self, source: &str, target: &str) -> Result<(), EngineError>;

    /// Remove the reference (or, given an ID, the image). Without `force`, an image used by a
    /// container or tagged more than once (when given by ID) is refused (409); a missing one
    /// fails with [`EngineError::ImageNotFound`].
    async fn remove_image(&self, reference: &str, force: bool) -> Result<RemovedImage, EngineError>;

    /// Push the local `reference` (`:latest` added when it has no tag) to its registry, with
    /// `auth` if given, reporting per-layer progress to `reporter`; the outcome carries the
    /// manifest digest the registry gave.
    async fn push_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        reporter: &dyn PullReporter,
    ) -> Result<PullOutcome, EngineError>;

    /// Load a `docker save` archive (a tar holding `manifest.json`) from the file `archive`;
    /// returns what the engine says it loaded (`name:tag` references, or image IDs for
    /// untagged images).
    async fn load_image(&self, archive: &std::path::Path) -> Result<Vec<String>, EngineError>;

    /// Create (not start) a container exactly as `spec` says; returns its ID and the engine's
    /// warnings.
    ///
    /// The container is never auto-removed: its exit code, logs and state stay readable
    /// until [`Engine::remove_container`]. A missing image fails with
    /// [`EngineError::ImageNotFound`]: engines do not pull on create.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<CreatedContainer, EngineError>;

    /// Start a created container.
    async fn start_container(&self, id: &str) -> Result<(), EngineError>;

    /// Wait until the container is not running, then report its exit code and whether the
    /// OOM killer ended it. Returns at once for a container that has already exited.
    async fn wait_container(&self, id: &str) -> Result<WaitOutcome, EngineError>;

    /// The container's stdout and stderr, separated, from the beginning; with `follow`, the
    /// stream goes on until the container exits. Errors (such as a missing container) arrive
    /// as the stream's first item.
    fn container_logs(&self, id: &str, follow: bool) -> LogStream;

    /// Stop a running container: `SIGTERM`, then `SIGKILL` after `timeout` (whole seconds,
    /// rounded up). Stopping a container that is not running succeeds.
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), EngineError>;

    /// Remove a container (and anonymous volumes the image declared); `force` kills it first
    /// if it is running.
    async fn remove_container(&self, id: &str, force: bool) -> Result<(), EngineError>;

    /// The container's state, labels and the settings the engine actually applied.
    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo, EngineError>;

    /// Whether `path` exists in the filesystem of container `id` (created or running), without
    /// starting anything: how a runner learns that a `FROM scratch` image has no `/bin/sh`.
    /// A symbolic link counts as existing, whatever it points to.
    async fn path_exists(&self, id: &str, path: &str) -> Result<bool, EngineError>;

    /// Every container, running or not, that matches all of `labels`.
    async fn list_containers(&self, labels: &[LabelFilter]) -> Result<Vec<ContainerSummary>, EngineError>;

    /// The local image `reference` as the engine exports it (`docker save`): a tarball with
    /// `manifest.json`, the image config and its layers. No container is started. A missing
    /// image fails with [`EngineError::ImageNotFound`] as the stream's first item.
    fn export_image(&self, reference: &str) -> ExportStream;

    /// The filesystem of container `id` (created or stopped), flattened: every layer and the
    /// container's changes merged into one tarball (`docker export`).
    fn export_container(&self, id: &str) -> ExportStream;

    /// Save the filesystem of the stopped container `id` as a new image (`docker commit`) whose
    /// configuration is `config` (not the container's: its command and user were the ones a
    /// job needed, not the image's), tagged `reference` when given. Returns the new image ID.
    async fn commit_container(
        &self,
        id: &str,
        reference: Option<&str>,
        config: &ImageConfig,
    ) -> Result<String, EngineError>;

    /// Runs `spec.cmd` in the running container `id` (`docker exec`, without a TTY or stdin)
    /// and waits for it to end: its stdout and stderr go to `output` as they come, and the
    /// command's exit code is returned (a command that cannot be started — not found, not
    /// executable — ends with the engine's code for it, 126 or 127, and its message on stderr).
    async fn exec(
        &self,
        id: &str,
        spec: &ExecSpec,
        output: &mut (dyn FnMut(LogChunk) + Send),
    ) -> Result<i64, EngineError>;
}
