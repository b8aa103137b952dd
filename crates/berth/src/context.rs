//! What every command shares: the async runtime, the store, the engine, the site (the
//! configuration resolved once by berth-session) and the host's facts. Command modules take
//! these from here and never from each other.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use berth_config::Config;
use berth_engine::{Engine, EngineInfo, EngineKind, detect};
use berth_run::HostInfo;
use berth_store::Store;

use crate::diag::{self, hinted};

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

fn engine_kind(s: &str, what: &str) -> anyhow::Result<EngineKind> {
    s.parse::<EngineKind>()
        .map_err(|e| hinted(format!("{what}: {e}"), Some("use `docker`, `podman` or `apptainer`".into())))
}

/// The engine choice: `--engine`, then the configuration (or `BERTH_ENGINE`).
pub fn engine_choice(
    explicit: Option<&str>,
    config: &Config,
) -> anyhow::Result<(Option<EngineKind>, Option<EngineKind>)> {
    let explicit = explicit.map(|e| engine_kind(e, "--engine")).transpose()?;
    let configured = config.engine.as_deref().map(|e| engine_kind(e, "configuration `engine`")).transpose()?;
    Ok((explicit, configured))
}

/// Finds, selects and connects to the engine.
pub async fn open_engine(
    explicit: Option<EngineKind>,
    configured: Option<EngineKind>,
) -> anyhow::Result<(Arc<dyn Engine>, EngineInfo)> {
    let env = berth_engine::env::Env::from_process();
    let (engine, info, selection) = detect::connect_preferred(&env, explicit, configured).await.map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })?;
    tracing::debug!(engine = %selection.candidate.location, reason = %selection.reason, "engine connected");
    Ok((engine, info))
}

/// The configuration's `[inventory]` limits.
pub fn inventory_limits(config: &Config) -> anyhow::Result<berth_inventory::Limits> {
    config.inventory.limits().map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })
}

/// The registry credentials berth stores (`berth login`).
pub fn credentials() -> anyhow::Result<berth_registry::CredentialStore> {
    let home = berth_config::berth_home().map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })?;
    Ok(berth_registry::CredentialStore::standard(&home))
}

/// A client for registries' APIs (and catalog indexes), with the configuration's insecure
/// registries and private-address rule.
pub fn registry_client() -> anyhow::Result<berth_registry::RegistryClient> {
    let config = Config::load()?;
    berth_registry::RegistryClient::new(berth_registry::ClientOptions {
        insecure: config.registry.insecure,
        import_private_addresses: config.registry.import_private_addresses,
        ..berth_registry::ClientOptions::default()
    })
    .map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })
}

pub fn open_store() -> anyhow::Result<Store> {
    let home = berth_config::berth_home().map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })?;
    Store::open(&home).with_context(|| format!("cannot open berth's store in {}", home.display()))
}

pub fn log_cap(config: &Config) -> u64 {
    config.run.log_max_bytes.unwrap_or(berth_store::DEFAULT_LOG_CAP)
}

/// The site (configuration resolved and checked once): the gate of every runner the CLI
/// builds, so that each command obeys the same scan policy and uses the same credentials.
pub fn site() -> anyhow::Result<Arc<berth_session::Site>> {
    berth_session::Site::load().map(Arc::new).map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })
}

/// Connects to the engine `--engine` (or the configuration) chooses.
pub async fn open_engine_for(explicit: Option<&str>) -> anyhow::Result<(Arc<dyn Engine>, EngineInfo)> {
    let config = Config::load()?;
    let (explicit, configured) = engine_choice(explicit, &config)?;
    open_engine(explicit, configured).await
}

pub fn host_facts(host: &HostInfo) -> berth_run::prepare::HostFacts {
    let id = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<u32>().ok());
    let (uid, gid) = berth_run::host::process_ids();
    berth_run::prepare::HostFacts {
        uid,
        gid,
        sudo: id("SUDO_UID").zip(id("SUDO_GID")),
        memory_bytes: host.memory_bytes,
        cpus: host.cpus,
    }
}

/// `ROOT/<tool>-<UTC time>`: where a run (`berth-out`) or a test (`berth-test-out`) writes when
/// no directory is given.
pub fn default_output_dir(root: &str, tool: &str) -> PathBuf {
    let stamp = berth_store::time::now().replace([':', '-'], "").replace('T', "-");
    let stamp = stamp.split('.').next().unwrap_or(&stamp).to_string();
    let safe: String =
        tool.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    PathBuf::from(root).join(format!("{safe}-{stamp}"))
}

/// The execution backend `--backend` (or the configuration) asks for: `None` for this machine,
/// else the Slurm backend the site builds (`pipeline`: gather tasks into job arrays).
pub fn slurm_backend(
    site: &berth_session::Site,
    request: &berth_session::BackendRequest,
    engine: &EngineInfo,
    pipeline: bool,
) -> anyhow::Result<Option<Arc<berth_slurm::SlurmBackend>>> {
    site.slurm_backend(request, engine, pipeline).map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })
}
