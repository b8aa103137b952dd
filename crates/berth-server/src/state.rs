//! What every request handler and worker shares.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use berth_engine::{Engine, EngineInfo};
use berth_run::{HostInfo, PathMapping, PullPolicy};
use berth_store::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// How many runs execute at once.
    pub workers: usize,
    /// Where launches write their outputs: `<output_root>/<project>/<launch id>/`.
    pub output_root: PathBuf,
    /// Host path prefixes the engine sees elsewhere.
    pub path_map: Vec<PathMapping>,
    /// The largest request body accepted (bytes); larger ones get 413.
    pub max_body_bytes: usize,
    /// The most launches one bulk request may queue.
    pub max_bulk: usize,
    /// When to pull images.
    pub pull: PullPolicy,
    /// The advisory database for `POST /api/v1/images/scan`.
    pub advisory_db: Option<PathBuf>,
    /// Origins, sessions, pipeline directories, stream caps, URL imports.
    pub security: SecurityOptions,
    /// The site (berth-session): the gate every launch and pipeline task passes (registry
    /// credentials, the scan policy), the advisory database's allowed age, the run defaults
    /// (`[run]`), the log cap, the inventory limits and `[registry] insecure`.
    pub site: Arc<berth_session::Site>,
}

/// What the service's security rules need from the configuration (`[serve]`, and
/// `[registry] import_private_addresses`), resolved once.
#[derive(Debug, Clone)]
pub struct SecurityOptions {
    /// The origin browsers use (`[serve] public_url`), as `scheme://host[:port]`; when unset,
    /// `http://` and the request's `Host`.
    pub public_origin: Option<String>,
    /// Whether the UI's cookie is `Secure` (the public origin is `https`).
    pub secure_cookies: bool,
    /// Client addresses come from the last `X-Forwarded-For` entry.
    pub forwarded_for: bool,
    /// Directories `POST /api/v1/pipelines` reads pipeline files from.
    pub pipeline_dirs: Vec<PathBuf>,
    /// How long a UI session lasts.
    pub session_ttl: std::time::Duration,
    /// Live-log streams open at once, in all.
    pub max_live_streams: usize,
    /// Live-log streams one user may hold open.
    pub max_live_streams_per_user: usize,
    /// Whether URL imports may reach loopback and private addresses.
    pub import_private_addresses: bool,
}

impl Default for SecurityOptions {
    fn default() -> Self {
        SecurityOptions {
            public_origin: None,
            secure_cookies: false,
            forwarded_for: false,
            pipeline_dirs: Vec::new(),
            session_ttl: std::time::Duration::from_secs(12 * 3600),
            max_live_streams: 256,
            max_live_streams_per_user: 16,
            import_private_addresses: false,
        }
    }
}

/// A `[serve]` setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    /// `public_url` is not an `http(s)://host[:port]` URL.
    #[error("[serve] public_url `{value}` is not an http:// or https:// URL with a host")]
    PublicUrl {
        /// What was given.
        value: String,
    },
    /// A pipeline directory that is not an absolute path.
    #[error("[serve] pipeline_dirs: `{}` is not an absolute path", path.display())]
    PipelineDir {
        /// What was given.
        path: PathBuf,
    },
    /// A limit of zero.
    #[error("[serve] {key} = 0 would refuse every request")]
    Zero {
        /// The key.
        key: &'static str,
    },
}

impl SettingError {
    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            SettingError::PublicUrl { .. } => {
                "e.g. `public_url = \"https://berth.lab.example\"` (see docs/configuration.md)".into()
            }
            SettingError::Zero { .. } => "give at least 1, or leave the key out for the default".into(),
            SettingError::PipelineDir { .. } => "give each pipeline directory as an absolute path".into(),
        })
    }
}

impl SecurityOptions {
    /// The options from the configuration file.
    pub fn from_config(config: &berth_config::Config) -> Result<SecurityOptions, SettingError> {
        let d = SecurityOptions::default();
        let serve = &config.serve;
        let public_origin = serve
            .public_url
            .as_deref()
            .map(|u| crate::auth::origin_of(u).ok_or_else(|| SettingError::PublicUrl { value: u.to_owned() }))
            .transpose()?;
        let nonzero = |key, v: Option<usize>, default| match v {
            Some(0) => Err(SettingError::Zero { key }),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        Ok(SecurityOptions {
            secure_cookies: public_origin.as_deref().is_some_and(|o| o.starts_with("https://")),
            public_origin,
            forwarded_for: serve.forwarded_for,
            pipeline_dirs: match serve.pipeline_dirs.iter().find(|p| !p.is_absolute()) {
                Some(p) => return Err(SettingError::PipelineDir { path: p.clone() }),
                None => serve.pipeline_dirs.clone(),
            },
            session_ttl: match serve.session_hours {
                Some(0) => return Err(SettingError::Zero { key: "session_hours" }),
                Some(h) => std::time::Duration::from_secs(h.saturating_mul(3600)),
                None => d.session_ttl,
            },
            max_live_streams: nonzero("max_live_streams", serve.max_live_streams, d.max_live_streams)?,
            max_live_streams_per_user: nonzero(
                "max_live_streams_per_user",
                serve.max_live_streams_per_user,
                d.max_live_streams_per_user,
            )?,
            import_private_addresses: config.registry.import_private_addresses,
        })
    }
}

/// How long a health check's answer about the engine is reused.
pub const ENGINE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Requests answered with a 4xx status.
    pub client_errors: AtomicU64,
    /// Requests answered with a 5xx status.
    pub server_errors: AtomicU64,
    /// Launches queued since the server started.
    pub launches: AtomicU64,
    /// Runs the workers finished since the server started.
    pub runs_finished: AtomicU64,
    /// Launches the workers could not run.
    pub launches_failed: AtomicU64,
    /// Launches put back in the queue after a restart.
    pub launches_requeued: AtomicU64,
    /// Runs finished by reconciliation (their owner had died).
    pub runs_reconciled: AtomicU64,
}

impl Metrics {
    /// Adds one.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The server's shared state.
pub struct AppState {
    /// The store (the same one the CLI uses).
    pub store: Arc<Store>,
    /// The container engine.
    pub engine: Arc<dyn Engine>,
    /// Its identity.
    pub engine_info: EngineInfo,
    /// This host.
    pub host: HostInfo,
    /// The options.
    pub opts: ServeOptions,
    /// Cancellation of the runs this process is executing, by launch id.
    pub cancels: Mutex<HashMap<String, CancellationToken>>,
    /// Wakes idle workers when launches are queued.
    pub wake: Notify,
    /// Counters.
    pub metrics: Metrics,
    /// Fired when the server shuts down.
    pub shutdown: CancellationToken,
    /// This process, as recorded on the launches it claims: host, pid, start time.
    pub owner: (String, u32, Option<String>),
    /// When the engine last answered (or failed to): health checks reuse it for a while so
    /// that polling clients do not load the engine.
    pub engine_seen: Mutex<Option<(std::time::Instant, bool)>>,
    /// Failed sign-ins and token checks, per client address and per user.
    pub limiter: crate::limit::FailureLimiter,
    /// Live-log streams: one poller per run, and the caps.
    pub live: Arc<crate::live::LiveHub>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("engine", &self.engine_info.kind).field("opts", &self.opts).finish()
    }
}

impl AppState {
    /// The runner every execution of the service uses (launch workers, sessions): the
    /// service's engine and host, the site's gate (credentials and scan policy, as for
    /// `berth run`), its log cap, and `labels` on the run records.
    pub fn runner(&self, labels: std::collections::BTreeMap<String, String>) -> berth_run::Runner<'_> {
        static SILENT: berth_run::Silent = berth_run::Silent;
        static NO_PULL_PROGRESS: berth_engine::pull::NoProgress = berth_engine::pull::NoProgress;
        berth_run::Runner {
            store: &self.store,
            engine: self.engine.clone(),
            engine_info: self.engine_info.clone(),
            host: self.host.clone(),
            sink: &SILENT,
            pull_reporter: &NO_PULL_PROGRESS,
            pull: self.opts.pull,
            gate: &*self.opts.site,
            log_max_bytes: self.opts.site.log_cap(),
            labels,
        }
    }

    /// Makes the state.
    pub fn new(store: Arc<Store>, engine: Arc<dyn Engine>, engine_info: EngineInfo, opts: ServeOptions) -> AppState {
        let host = HostInfo::current();
        let pid = std::process::id();
        let owner = (host.hostname.clone(), pid, berth_run::host::process_identity(pid));
        AppState {
            store,
            engine,
            engine_info,
            host,
            opts,
            cancels: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            metrics: Metrics::default(),
            shutdown: CancellationToken::new(),
            owner,
            engine_seen: Mutex::new(None),
            limiter: crate::limit::FailureLimiter::default(),
            live: Arc::new(crate::live::LiveHub::default()),
        }
    }

    /// Whether the engine answers, asking it at most every [`ENGINE_CHECK_EVERY`].
    pub async fn engine_reachable(&self) -> bool {
        let cached = *self.engine_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, ok)) = cached
            && at.elapsed() < ENGINE_CHECK_EVERY
        {
            return ok;
        }
        let ok =
            tokio::time::timeout(std::time::Duration::from_secs(3), self.engine.info()).await.is_ok_and(|r| r.is_ok());
        *self.engine_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), ok));
        ok
    }

    /// The registry credentials in the store's directory (`berth login`), with Docker's config.
    pub fn credentials(&self) -> berth_registry::CredentialStore {
        self.opts.site.credentials().clone()
    }

    /// A registry client with the server's configuration.
    pub fn registry_client(&self) -> Result<berth_registry::RegistryClient, berth_registry::RegistryError> {
        berth_registry::RegistryClient::new(berth_registry::ClientOptions {
            insecure: self.opts.site.config().registry.insecure.clone(),
            import_private_addresses: self.opts.security.import_private_addresses,
            ..Default::default()
        })
    }

    /// The cancellation token of a launch this process runs, if it runs it.
    pub fn cancel_token(&self, launch: &str) -> Option<CancellationToken> {
        self.cancels.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(launch).cloned()
    }
}
