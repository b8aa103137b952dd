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
//! [`OpenError`]; all carry structured fields. Environment variables are listed in [`env`].
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

pub use detect::{Candidate, OpenError, SelectError, Selection, SelectionReason};
pub use docker::DockerEngine;
pub use endpoint::{Endpoint, EndpointError, TlsFiles};
pub use engine::Engine;
pub use error::{EngineError, Operation, UnreachableReason};
pub use fake::{Call, FakeEngine, RecordingReporter, ScriptedRun};
pub use model::*;
pub use pull::{
    LayerPhase, NoProgress, PullEvent, PullOutcome, PullReporter, RegistryAuth, normalize_reference,
};
pub use report::EngineReport;
pub use spec::{BindMount, ContainerSpec, Gpus, Network, Tmpfs, UserId};
