//! Container engines for berth: find one, and drive containers through one narrow trait.
//!
//! The layers, in the order a run uses them:
//!
//! - [`detect`](mod@detect): list the engines on this machine ([`detect::detect`]) and choose
//!   one ([`detect::select`]: `--engine`, then configuration, then the first reachable Docker,
//!   then Podman), then connect to it ([`detect::open`] → `Arc<dyn Engine>`).
//! - [`Engine`]: the operations a run needs — engine info, image inspect and pull (with
//!   per-layer progress through a [`PullReporter`]), create/start/wait/logs/stop/remove,
//!   container inspect (the settings actually applied, for provenance) and listing by label
//!   (for crash reconciliation by `berth.run-id`).
//! - [`ContainerSpec`]: what to create. Every security setting is an explicit field; this crate
//!   adds no defaults, so what the runner decided is what the engine gets.
//! - [`DockerEngine`]: the real engine, on bollard, for Docker and for Podman's
//!   Docker-compatible API (`unix://` sockets, and `tcp://` with TLS client certificates from
//!   `DOCKER_CERT_PATH` when `DOCKER_TLS_VERIFY` is set). The API version is negotiated.
//! - [`FakeEngine`]: a recording, scriptable engine for unit tests of code built on this crate.
//!
//! Errors are [`EngineError`] (with [`EngineError::hint`] for the user), [`SelectError`] and
//! [`OpenError`]; all carry structured fields. Environment variables are listed in [`env`](mod@env).
//!
//! # The `berth engine` command
//!
//! [`report::report`] gathers everything the command shows; the result serializes to JSON
//! (`--json`) and renders as a table with `Display`. The handler is one line:
//!
//! ```no_run
//! # async fn handler(json: bool, engine: Option<berth_engine::EngineKind>) -> anyhow::Result<()> {
//! let report = berth_engine::report::report(engine, None).await;
//! if json { println!("{}", serde_json::to_string_pretty(&report)?) } else { print!("{report}") }
//! # Ok(()) }
//! ```
//!
//! [`EngineReport::is_usable`](report::EngineReport::is_usable) tells whether to exit 0.
//!
//! # What code on top of this crate should know
//!
//! - **Order of a run**: `inspect_image` (pull on `None`; `create_container` never pulls and
//!   fails with [`EngineError::ImageNotFound`]) → `create_container` → `start_container` →
//!   `container_logs(id, true)` and `wait_container` side by side → `inspect_container` (the
//!   settings the engine *applied*, for the provenance record) → `remove_container`.
//!   Containers are never auto-removed, so exit code, logs and state stay readable until then.
//! - **Waiting** uses the `not-running` condition: call it after `start_container`. On a
//!   container never started it returns at once with exit code 0, as the engines do. It has
//!   no request timeout; `wait_container` then inspects to report `OOMKilled`.
//! - **Logs**: containers never get a TTY, so the engine frames stdout and stderr apart and
//!   every [`LogChunk`] says which stream it came from. Chunks are not lines. A followed stream
//!   ends when the container exits. Reading needs a logging driver that keeps logs
//!   ([`EngineInfo::logging_driver`], `json-file` by default).
//! - **Stopping**: the grace period is rounded up to whole seconds. A tool running as PID 1
//!   ignores `SIGTERM` unless it handles it, and is killed (exit 137) when the grace period
//!   ends; with [`ContainerSpec::init`] the init process forwards `SIGTERM` (exit 143).
//! - **API versions**: Debian 12's Docker 20.10 and Podman 4.3 speak API 1.41; bollard's
//!   default is newer and is refused, so [`DockerEngine::connect`] negotiates (`GET /version`)
//!   and refuses engines older than 1.40 (`DeviceRequests`, needed for GPUs). Nothing newer
//!   than 1.41 is sent.
//! - **Crash reconciliation**: label containers (`berth.run-id`) and find them again, stopped
//!   or not, with `list_containers(&[LabelFilter::equals("berth.run-id", id)])`.
//! - **Podman 4.3** through its Docker-compatible service differs in ways the integration
//!   tests pin (`tests/common/scenarios.rs`, `PODMAN`): conflicts answer 500 instead of 409;
//!   `OOMKilled` stays false (exit code 137 only); a missing bind-mount source is *created* on
//!   the host instead of refused, so check that inputs exist before creating; `CapDrop: ALL`
//!   reads back as the list of its default capabilities; short image names come back
//!   qualified (`localhost/...`, `docker.io/...`).
//!
//! # Testing
//!
//! Unit tests need nothing. The integration tests in `tests/` run real engines and fail,
//! never skip, without one: Docker is the engine `DOCKER_HOST` names or else the private
//! daemon of `scripts/dockerd.sh`; Podman is the service `CONTAINER_HOST` names or else the
//! private one of `scripts/podman.sh`. Both scripts install Debian's packages when needed
//! (root), keep their state under `$BERTH_STATE_DIR` (default `.state/`), are reused when
//! already running and are stopped with `stop`. The test image `berth-test/busybox:latest` is
//! a `docker import` of Debian's `busybox-static` (`scripts/busybox-image.sh`).
//!
//! ```sh
//! eval "$(scripts/dockerd.sh start)"     # export DOCKER_HOST=unix://.../.state/docker/docker.sock
//! scripts/busybox-image.sh               # berth-test/busybox:latest
//! cargo test -p berth-engine
//! scripts/dockerd.sh stop; scripts/podman.sh stop
//! ```

pub mod apptainer;
pub mod detect;
pub mod docker;
pub mod endpoint;
pub mod engine;
pub mod env;
pub mod error;
pub mod fake;
pub mod model;
pub mod pull;
pub mod report;
pub mod spec;

pub use apptainer::ApptainerEngine;
pub use detect::{Candidate, OpenError, SelectError, Selection, SelectionReason};
pub use docker::DockerEngine;
pub use endpoint::{Endpoint, EndpointError, TlsFiles};
pub use engine::Engine;
pub use error::{EngineError, Operation, UnreachableReason};
pub use fake::{Call, FakeEngine, RecordingReporter, ScriptedRun};
pub use model::*;
pub use pull::{
    LayerPhase, NoProgress, PullEvent, PullOutcome, PullReporter, RegistryAuth, normalize_reference, split_tag,
};
pub use report::EngineReport;
pub use spec::{BindMount, ContainerSpec, ExecSpec, Gpus, Network, Tmpfs, UserId};
