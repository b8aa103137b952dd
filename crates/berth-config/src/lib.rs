//! berth's environment variables, directories and configuration file, each defined once.
//!
//! | variable | meaning |
//! |---|---|
//! | `BERTH_HOME` | where berth keeps its store (database, logs, run files); default `$XDG_DATA_HOME/berth`, else `~/.local/share/berth` |
//! | `BERTH_CONFIG` | the configuration file; default `$XDG_CONFIG_HOME/berth/config.toml`, else `~/.config/berth/config.toml` |
//! | `BERTH_ENGINE` | the container engine to use (`docker`, `podman`, `apptainer`), like `--engine` |
//! | `DOCKER_HOST`, `CONTAINER_HOST`, `DOCKER_CERT_PATH`, `DOCKER_TLS_VERIFY` | where the engine is (read by `berth-engine`) |
//!
//! The configuration file is TOML; every key is optional:
//!
//! ```toml
//! engine = "docker"          # docker | podman | apptainer
//!
//! [run]
//! pids_limit = 1024          # processes per container
//! memory = "8g"              # default memory limit when the descriptor suggests none
//! cpus = 2.0                 # default CPU limit when the descriptor suggests none
//! log_max_bytes = 67108864   # per stream; the rest is discarded with a visible marker
//! max_memory = "64g"         # the most memory any container gets (the host's memory caps it anyway)
//! max_cpus = 16.0            # the most CPUs any container gets (the host's CPUs cap it anyway)
//!
//! [registry]
//! insecure = ["registry.lab:5000"]  # registries berth talks to over plain HTTP (loopback always is)
//! import_private_addresses = false  # URL imports may reach loopback/private addresses
//! [scan]
//! db = "/srv/berth/advisories.sqlite"  # advisory database; default $BERTH_HOME/advisories.sqlite
//! max_db_age_hours = 24      # scans warn when the database is older
//! sources = ["/srv/mirror/osv/Debian/all.zip"]  # what `berth db update` reads when given no --source
//! run_policy = "off"         # off | warn | enforce: what `berth run` does with a scan before starting
//! refuse = "critical"        # enforce: refuse images with findings this severe that have a fix
//! warn = "high"              # warn about findings this severe (fixed or not)
//! accept = ["CVE-2023-1234"] # ids (or aliases) the policy never counts
//!
//! [serve]                    # berth serve (docs/service.md)
//! public_url = "https://berth.lab.example"  # the origin browsers use; https makes cookies Secure
//! forwarded_for = false      # client address from the last X-Forwarded-For entry (behind a proxy)
//! pipeline_dirs = ["/srv/berth/pipelines"]  # where POST /api/v1/pipelines reads pipeline files
//! session_hours = 12         # web UI sessions
//! max_live_streams = 256     # live-log streams open at once, in all
//! max_live_streams_per_user = 16
//!
//! [inventory]                # what one `berth sbom`/`scan` may read of an untrusted image
//! max_file_bytes = "128m"    # one file kept in memory; larger ones are skipped with a warning
//! max_held_bytes = "256m"    # all file contents and names kept at once; past it, files are skipped with a warning
//! max_read_bytes = "32g"     # bytes decompressed and read per scan; past it the scan stops with an error
//! max_document_bytes = "16m" # one manifest, index or image config
//!
//! [dicom]                    # berth dicom listen (docs/dicom.md)
//! serve = true              # berth serve runs the node and its rules (default false)
//! ae_title = "BERTH"         # our AE title; associations must call it
//! bind = "0.0.0.0"           # default 127.0.0.1
//! port = 11112
//! project = "neuro"          # where instances go when --project is not given
//! duplicates = "reject-different"  # reject-different | keep-first | reject | replace
//! sync = "always"           # fsync each instance before Success; "never": rename only
//! max_pdu = 65536            # bytes
//! max_instance_bytes = "1g"
//! max_associations = 16
//! timeout_seconds = 60       # an association silent this long is aborted
//! tls_certificate = "/etc/berth/dicom.crt"  # with tls_key: DICOM TLS only
//! tls_key = "/etc/berth/dicom.key"
//! tls_client_ca = "/etc/berth/modalities-ca.crt"  # senders must present a certificate it signed
//! [dicom.projects.neuro]
//! calling_ae_titles = ["MRI3T"]    # none: any title
//! sources = ["10.1.2.0/24"]        # none: loopback only
//! data_root = "/srv/data/neuro"    # one of the project's data roots (default its first)
//! [[dicom.rules]]            # berth serve: a complete series launches a tool (docs/dicom.md)
//! project = "neuro"
//! on = "series-complete"     # or study-complete
//! quiet = "30s"              # no new instance for this long completes it
//! count = 0                  # or this many instances (0: quiet time only)
//! modality = ["MR"]          # filters, optional: modality, description glob, sender
//! series_description = "T1*"
//! calling_ae = ["MRI3T"]
//! tool = "dicom-normalize"   # a registered tool enabled in the project, or
//! # pipeline = "series.yaml" # a pipeline file in [serve] pipeline_dirs (started as an admin)
//! input = "input"            # the input bound to the series (or study) directory
//! inputs = { level = 2 }     # other inputs
//! as_user = "dicom"          # the launch is made as this member of the project
//! send_to = "PACS@10.1.2.3:104"  # a successful run's DICOM outputs are sent there
//! ```
//!
//! Registry credentials saved by `berth login` live in `$BERTH_HOME/credentials.json` (mode 0600);
//! berth also reads Docker's `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`).

pub mod text;

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Store directory override.
pub const BERTH_HOME: &str = "BERTH_HOME";
/// Configuration file override.
pub const BERTH_CONFIG: &str = "BERTH_CONFIG";
/// Engine choice override (same as `--engine`).
pub const BERTH_ENGINE: &str = "BERTH_ENGINE";
/// The file-access tracer (same as `--tracer`).
pub const BERTH_TRACE: &str = "BERTH_TRACE";
/// The tracer's file name, looked for beside the `berth` executable.
pub const TRACER_FILE: &str = "berth-trace";

/// The file-access tracer for `berth run --trace` and `berth harden minify`: `explicit`
/// (`--tracer`), then `BERTH_TRACE`, then `berth-trace` beside the running executable; made
/// absolute. Whether it exists is the caller's check.
pub fn tracer(explicit: Option<&Path>) -> std::io::Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => match std::env::var_os(BERTH_TRACE).filter(|v| !v.is_empty()) {
            Some(v) => PathBuf::from(v),
            None => std::env::current_exe()?.with_file_name(TRACER_FILE),
        },
    };
    std::path::absolute(path)
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read the configuration file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong key or value.
    #[error("the configuration file {path} is not valid")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser found (it names the line and the key).
        #[source]
        source: toml::de::Error,
    },
    /// A size such as `8g` could not be understood.
    #[error("`{value}` is not a size (use bytes, or a number with k, m, g or t)")]
    Size {
        /// The text given.
        value: String,
    },
    /// A duration such as `30m` could not be understood.
    #[error("`{value}` is not a duration (use seconds, or a number with s, m, h or d: 90s, 30m, 2h)")]
    Duration {
        /// The text given.
        value: String,
    },
    /// A setting's value is not allowed.
    #[error("configuration `{key}`: `{value}` is not a size above zero")]
    Setting {
        /// The key, with its table (`[inventory] max_file_bytes`).
        key: String,
        /// The value given.
        value: String,
    },
    /// A setting is not one of its allowed values.
    #[error("configuration `{key}`: `{value}` is not one of {choices}")]
    Choice {
        /// The key, with its table.
        key: &'static str,
        /// The value given.
        value: String,
        /// The values allowed.
        choices: &'static str,
    },
    /// No home directory to derive defaults from.
    #[error("cannot find a home directory for berth's files")]
    NoHome,
}

impl ConfigError {
    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Parse { .. } => {
                Some("fix the file or remove the offending key; keys are documented in docs/configuration.md".into())
            }
            ConfigError::NoHome => Some(format!("set `{BERTH_HOME}` to a directory berth may write to")),
            ConfigError::Setting { .. } => Some("use bytes, or a number with k, m, g or t, such as `\"256m\"`".into()),
            _ => None,
        }
    }
}

/// The `[run]` table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Processes allowed per container.
    pub pids_limit: Option<i64>,
    /// Default memory limit (bytes, or with a k/m/g/t suffix).
    pub memory: Option<String>,
    /// Default CPU limit.
    pub cpus: Option<f64>,
    /// Cap on each stored log stream, in bytes.
    pub log_max_bytes: Option<u64>,
    /// The most memory any container may get (a size, as `memory`), whatever a descriptor,
    /// Command, flag or request asks; the host's memory caps it in any case.
    #[serde(default, deserialize_with = "opt_size")]
    pub max_memory: Option<String>,
    /// The most CPUs any container may get; the host's CPU count caps it in any case.
    #[serde(default, deserialize_with = "opt_positive")]
    pub max_cpus: Option<f64>,
}

/// A size that [`parse_size`] reads, checked when the file is read: a maximum that silently
/// failed to parse would cap nothing.
fn opt_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    if let Some(s) = &v {
        parse_size(s).map_err(serde::de::Error::custom)?;
    }
    Ok(v)
}

/// A finite number above zero.
fn opt_positive<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v: Option<f64> = Option::deserialize(d)?;
    match v {
        Some(c) if !(c.is_finite() && c > 0.0) => {
            Err(serde::de::Error::custom(format!("`{c}` is not a number of CPUs above 0")))
        }
        _ => Ok(v),
    }
}

/// The `[registry]` table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Registries (`host` or `host:port`) reached over plain HTTP. Loopback registries
    /// (`localhost`, `127.0.0.1`, `[::1]`) always are, as with Docker.
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Whether image imports from URLs (`berth image import URL`, `POST /api/v1/images/import`)
    /// may reach loopback, link-local, private, unique-local or unspecified addresses, after
    /// DNS resolution and on every redirect. Off by default: a URL must not turn berth into a
    /// client of the services on its own host or network.
    #[serde(default)]
    pub import_private_addresses: bool,
}

/// The `[serve]` table: `berth serve` (see `docs/service.md`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// The origin browsers reach the service at (`https://berth.lab.example`), when it is not
    /// the address it listens on (behind a proxy). Requests that change state with the UI's
    /// cookie must come from this origin; an `https` origin makes the cookie `Secure`.
    pub public_url: Option<String>,
    /// Take the client address from the last `X-Forwarded-For` entry (set it only when a proxy
    /// in front of berth appends that header); used to limit failed sign-ins per address.
    #[serde(default)]
    pub forwarded_for: bool,
    /// Directories `POST /api/v1/pipelines` may read pipeline files from (none by default:
    /// the endpoint is off until one is set).
    #[serde(default)]
    pub pipeline_dirs: Vec<PathBuf>,
    /// Hours a web UI session lasts (default 12).
    pub session_hours: Option<u64>,
    /// Live-log streams (`.../logs/{stream}/live`) open at once, in all (default 256).
    pub max_live_streams: Option<usize>,
    /// Live-log streams one user may hold open at once (default 16).
    pub max_live_streams_per_user: Option<usize>,
    /// What users may run in a tool session through the service: `tool` (the default: only the
    /// tool's own command, for an invocation) or `any` (any command).
    pub session_commands: Option<String>,
    /// Tools whose sessions take any command even when `session_commands` is `tool` (an
    /// interactive environment such as a Python or MATLAB runtime image).
    #[serde(default)]
    pub session_command_tools: Vec<String>,
}

impl ServeConfig {
    /// Whether a session of `tool` started through the service may run any command (else only
    /// the tool's own). A value of `session_commands` other than `tool` or `any` is an error.
    pub fn session_any_command(&self, tool: &str) -> Result<bool, ConfigError> {
        match self.session_commands.as_deref().unwrap_or("tool") {
            "any" => Ok(true),
            "tool" => Ok(self.session_command_tools.iter().any(|t| t == tool)),
            other => Err(ConfigError::Choice {
                key: "[serve] session_commands",
                value: other.to_owned(),
                choices: "`tool`, `any`",
            }),
        }
    }
}

/// The `[scan]` table (see `docs/security-scanning.md`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    /// The advisory database file (default `$BERTH_HOME/advisories.sqlite`).
    pub db: Option<PathBuf>,
    /// Scans warn when the database is older than this many hours (default 24).
    pub max_db_age_hours: Option<u64>,
    /// Sources `berth db update` reads when given none.
    pub sources: Option<Vec<String>>,
    /// What `berth run` does with the image's scan: `off` (default), `warn`, `enforce`.
    pub run_policy: Option<String>,
    /// The least severity of a fixable finding that makes `enforce` refuse (default `critical`).
    pub refuse: Option<String>,
    /// The least severity of a finding that is warned about (default `high`).
    pub warn: Option<String>,
    /// Vulnerability ids (or aliases) the policy never counts.
    #[serde(default)]
    pub accept: Vec<String>,
}

/// The `[slurm]` table (see `docs/slurm.md`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// `--partition` for every job.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time` when the descriptor has no walltime estimate (Slurm's syntax, e.g. `2:00:00`).
    pub time: Option<String>,
    /// Further `sbatch` options, passed as they are.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Where job directories go, on the file system the compute nodes share (default
    /// `$BERTH_HOME/slurm`).
    pub work_dir: Option<PathBuf>,
    /// Path translation, `"FROM=TO"`: a path under FROM here is under TO on the compute nodes.
    #[serde(default)]
    pub path_map: Vec<String>,
    /// Gather pipeline tasks that become ready together into job arrays (default true).
    pub arrays: Option<bool>,
    /// Seconds between `squeue` polls (default 2).
    pub poll_seconds: Option<f64>,
}

/// The `[inventory]` table: what one inventory (`berth sbom`, `berth scan`, the run policy's
/// scan) may read of an untrusted image, so that no archive — a decompression bomb, a layer of
/// a million names, a huge JSON document — can take more memory or time than this. Sizes are
/// bytes or a number with k/m/g/t, as a string (`"128m"`) or an integer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryConfig {
    /// The largest single file kept in memory for an analyzer (default 128 MiB); a larger one
    /// is skipped with a warning naming it.
    pub max_file_bytes: Option<SizeValue>,
    /// The most bytes of file contents and entry names kept at once over the whole scan
    /// (default 256 MiB); files past it are skipped with a warning naming them.
    pub max_held_bytes: Option<SizeValue>,
    /// The most bytes decompressed and read per scan (default 32 GiB); past it the scan stops
    /// with an error.
    pub max_read_bytes: Option<SizeValue>,
    /// The largest manifest, index or image config read (default 16 MiB).
    pub max_document_bytes: Option<SizeValue>,
}

/// A size in the configuration file: an integer number of bytes or a string such as `"128m"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    /// Bytes.
    Bytes(u64),
    /// A string for [`parse_size`].
    Text(String),
}

impl SizeValue {
    /// The size in bytes; `key` names the setting in the error (`[inventory] max_file_bytes`).
    pub fn bytes(&self, key: &str) -> Result<u64, ConfigError> {
        match self {
            Self::Bytes(0) => Err(ConfigError::Setting { key: key.to_owned(), value: "0".to_owned() }),
            Self::Bytes(b) => Ok(*b),
            Self::Text(t) => parse_size(t)
                .map(|b| b as u64)
                .map_err(|_| ConfigError::Setting { key: key.to_owned(), value: t.clone() }),
        }
    }
}

/// What one inventory may read and hold, resolved from `[inventory]` with the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InventoryLimits {
    /// See [`InventoryConfig::max_file_bytes`].
    pub max_file_bytes: u64,
    /// See [`InventoryConfig::max_held_bytes`].
    pub max_held_bytes: u64,
    /// See [`InventoryConfig::max_read_bytes`].
    pub max_read_bytes: u64,
    /// See [`InventoryConfig::max_document_bytes`].
    pub max_document_bytes: u64,
}

impl InventoryLimits {
    /// The defaults: 128 MiB per file, 256 MiB held, 32 GiB read, 16 MiB per document. A
    /// dpkg status is a few MiB and an rpmdb under 100 MiB; images of 20 GiB are read whole.
    pub const DEFAULT: Self = Self {
        max_file_bytes: 128 << 20,
        max_held_bytes: 256 << 20,
        max_read_bytes: 32 << 30,
        max_document_bytes: 16 << 20,
    };
}

impl Default for InventoryLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl InventoryConfig {
    /// The limits this table sets, the defaults for keys it leaves out.
    pub fn limits(&self) -> Result<InventoryLimits, ConfigError> {
        let d = InventoryLimits::DEFAULT;
        let get = |v: &Option<SizeValue>, key: &str, default: u64| {
            v.as_ref().map_or(Ok(default), |v| v.bytes(&format!("[inventory] {key}")))
        };
        Ok(InventoryLimits {
            max_file_bytes: get(&self.max_file_bytes, "max_file_bytes", d.max_file_bytes)?,
            max_held_bytes: get(&self.max_held_bytes, "max_held_bytes", d.max_held_bytes)?,
            max_read_bytes: get(&self.max_read_bytes, "max_read_bytes", d.max_read_bytes)?,
            max_document_bytes: get(&self.max_document_bytes, "max_document_bytes", d.max_document_bytes)?,
        })
    }
}

/// The `[audit]` table (see `docs/audit.md`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Days the audit trail keeps entries (none, the default: forever). `berth serve` applies
    /// it once an hour, `berth audit prune` on demand; each removal is recorded in the chain.
    pub retention_days: Option<u64>,
}

impl AuditConfig {
    /// The time before which entries may be removed (RFC 3339), or `None` to keep everything.
    pub fn prune_before(&self, now: std::time::SystemTime) -> Option<std::time::SystemTime> {
        let days = self.retention_days.filter(|d| *d > 0)?;
        now.checked_sub(std::time::Duration::from_secs(days.saturating_mul(86_400)))
    }
}

/// The `[dicom]` table: the DICOM node, `berth dicom listen` (see `docs/dicom.md`). Read and
/// checked by berth-dicom (`Settings`), which gives each key its default; flags override.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DicomConfig {
    /// Our AE title (default `BERTH`); the called AE title of an association must be it.
    pub ae_title: Option<String>,
    /// The address to listen on (default `127.0.0.1`).
    pub bind: Option<String>,
    /// The port (default 11112).
    pub port: Option<u16>,
    /// The project received instances go to, when `--project` is not given.
    pub project: Option<String>,
    /// What a second instance with a SOP Instance UID already stored does: `reject-different`
    /// (the default: the same bytes are acknowledged and dropped, other bytes refused),
    /// `keep-first`, `reject`, `replace`.
    pub duplicates: Option<String>,
    /// `always` (the default: every instance `fsync`ed, file and directory, before Success)
    /// or `never` (renamed into place before Success: survives berth being killed, not power
    /// loss or an operating system crash).
    pub sync: Option<String>,
    /// The largest PDU accepted, in bytes (default 65536; at most 16 MiB).
    pub max_pdu: Option<u32>,
    /// The largest instance accepted (default `1g`), a size as in `[inventory]`.
    pub max_instance_bytes: Option<SizeValue>,
    /// Associations served at once (default 16); more are rejected as a transient local limit.
    pub max_associations: Option<usize>,
    /// Seconds without a PDU after which an association is aborted (default 60).
    pub timeout_seconds: Option<u64>,
    /// DICOM TLS (PS3.15 Annex B): the node's certificate chain, PEM. With `tls_key`, every
    /// association must use TLS.
    pub tls_certificate: Option<PathBuf>,
    /// The private key of `tls_certificate`, PEM.
    pub tls_key: Option<PathBuf>,
    /// Certificates (PEM) of the authorities whose client certificates are accepted; when set,
    /// a sender must present one (mutual authentication).
    pub tls_client_ca: Option<PathBuf>,
    /// Per project: who may send (`[dicom.projects.NAME]`).
    #[serde(default)]
    pub projects: std::collections::BTreeMap<String, DicomProjectConfig>,
    /// Whether `berth serve` runs the node (listener and rules) inside itself (default false).
    pub serve: Option<bool>,
    /// Automation rules (`[[dicom.rules]]`): a complete series or study launches a tool. Run
    /// by `berth serve` (see `docs/dicom.md`).
    #[serde(default)]
    pub rules: Vec<DicomRuleConfig>,
}

/// `[[dicom.rules]]`: when a series (or study) received for `project` is complete and passes
/// the filters, launch `tool` (or start `pipeline`) on its directory as `as_user`. Checked by
/// berth-dicom (`rules`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DicomRuleConfig {
    /// The rule's name, which the store records its triggers under (default `TOOL@ON`, or
    /// `PIPELINE@ON` with the pipeline file's stem).
    pub name: Option<String>,
    /// The project whose arrivals it watches.
    pub project: String,
    /// `series-complete` (the default) or `study-complete`.
    pub on: Option<String>,
    /// No new instance for this long completes the series or study (default `30s`).
    pub quiet: Option<String>,
    /// Or this many instances complete it (0 or none: only the quiet time).
    pub count: Option<u64>,
    /// Modalities accepted (none: any).
    #[serde(default)]
    pub modality: Vec<String>,
    /// A glob the Series Description must match (`T1*`).
    pub series_description: Option<String>,
    /// Calling AE titles accepted (none: any).
    #[serde(default)]
    pub calling_ae: Vec<String>,
    /// The registered tool to launch (or `pipeline`: exactly one of the two).
    pub tool: Option<String>,
    /// Its version (needed when several are registered).
    pub version: Option<String>,
    /// The pipeline file to start (in `[serve] pipeline_dirs`, as `POST /api/v1/pipelines`
    /// takes it), instead of a tool.
    pub pipeline: Option<String>,
    /// The tool's input (or the pipeline's parameter) bound to the series (or study) directory.
    pub input: String,
    /// Other inputs (a pipeline's: other parameters), fixed.
    #[serde(default)]
    pub inputs: toml::Table,
    /// The user the launch is made as; must be a member of the project.
    pub as_user: String,
    /// Where a successful run's DICOM outputs are sent (`AE@host:port`).
    pub send_to: Option<String>,
}

/// `[dicom.projects.NAME]`: who may send to a project, and where its instances go.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DicomProjectConfig {
    /// Calling AE titles allowed (none listed: any).
    #[serde(default)]
    pub calling_ae_titles: Vec<String>,
    /// Source networks allowed, as CIDRs or single addresses (none listed: loopback only).
    #[serde(default)]
    pub sources: Vec<String>,
    /// The data root instances are written to; one of the project's (default its first).
    pub data_root: Option<PathBuf>,
}

/// The configuration file's contents.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The engine to use when `--engine` is not given.
    pub engine: Option<String>,
    /// The execution backend when `--backend` is not given: `local` (default) or `slurm`.
    pub backend: Option<String>,
    /// Slurm settings for `--backend slurm`.
    #[serde(default)]
    pub slurm: SlurmConfig,
    /// Run defaults.
    #[serde(default)]
    pub run: RunConfig,
    /// Registry settings.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// Scanning and the run policy.
    #[serde(default)]
    pub scan: ScanConfig,
    /// The service.
    #[serde(default)]
    pub serve: ServeConfig,
    /// What one inventory may read of an untrusted image.
    #[serde(default)]
    pub inventory: InventoryConfig,
    /// The audit trail.
    #[serde(default)]
    pub audit: AuditConfig,
    /// The DICOM node.
    #[serde(default)]
    pub dicom: DicomConfig,
}

fn var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn home() -> Result<PathBuf, ConfigError> {
    var("HOME").ok_or(ConfigError::NoHome)
}

/// The store directory: `$BERTH_HOME`, else `$XDG_DATA_HOME/berth`, else `~/.local/share/berth`.
/// A relative `XDG_DATA_HOME` is ignored, as the XDG Base Directory specification requires
/// (and as berth-store's `default_home` does: both must name the same directory).
pub fn berth_home() -> Result<PathBuf, ConfigError> {
    berth_home_in(|name| std::env::var_os(name))
}

/// [`berth_home`] according to `var` (a lookup such as `|name| std::env::var_os(name)`), so
/// that callers with their own view of the environment (tests, an engine's `Env`) resolve it
/// the same way. Empty values count as unset. The one definition: berth-store and the
/// Apptainer engine's SIF directory use it too.
pub fn berth_home_in(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf, ConfigError> {
    let get = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = get(BERTH_HOME) {
        return Ok(p);
    }
    if let Some(p) = get("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Ok(p.join("berth"));
    }
    get("HOME").map(|h| h.join(".local/share/berth")).ok_or(ConfigError::NoHome)
}

/// The environment variable naming the advisory database file.
pub const BERTH_ADVISORY_DB: &str = "BERTH_ADVISORY_DB";

/// The advisory database's file name under `BERTH_HOME`.
pub const ADVISORY_DB_FILE: &str = "advisories.sqlite";

/// Scans warn when the advisory database is older than this, unless `[scan] max_db_age_hours`
/// says otherwise.
pub const DEFAULT_MAX_DB_AGE_HOURS: u64 = 24;

/// The configuration file path (it need not exist).
pub fn config_path() -> Result<PathBuf, ConfigError> {
    if let Some(p) = var(BERTH_CONFIG) {
        return Ok(p);
    }
    if let Some(p) = var("XDG_CONFIG_HOME").filter(|p| p.is_absolute()) {
        return Ok(p.join("berth/config.toml"));
    }
    Ok(home()?.join(".config/berth/config.toml"))
}

impl Config {
    /// The advisory database every scan, the scan policy and `berth db` use: `explicit` (a
    /// `--db` flag), then `$BERTH_ADVISORY_DB`, then `[scan] db`, then
    /// `$BERTH_HOME/advisories.sqlite`. The one definition; front ends do not choose.
    pub fn advisory_db(&self, explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
        match self.advisory_db_unless_default(explicit) {
            Some(p) => Ok(p),
            None => Ok(berth_home()?.join(ADVISORY_DB_FILE)),
        }
    }

    /// [`Config::advisory_db`] with berth's home given: the site's home, not the process's.
    pub fn advisory_db_in(&self, home: &Path, explicit: Option<&Path>) -> PathBuf {
        self.advisory_db_unless_default(explicit).unwrap_or_else(|| home.join(ADVISORY_DB_FILE))
    }

    fn advisory_db_unless_default(&self, explicit: Option<&Path>) -> Option<PathBuf> {
        explicit.map(Path::to_path_buf).or_else(|| var(BERTH_ADVISORY_DB)).or_else(|| self.scan.db.clone())
    }

    /// How old the advisory database may be before scans warn (`[scan] max_db_age_hours`).
    pub fn max_db_age(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.scan.max_db_age_hours.unwrap_or(DEFAULT_MAX_DB_AGE_HOURS) * 3600)
    }

    /// Reads the configuration file; a missing file is an empty configuration. `BERTH_ENGINE`
    /// overrides `engine`.
    pub fn load() -> Result<Config, ConfigError> {
        let mut c = match config_path() {
            Ok(p) => Config::from_file(&p)?,
            Err(ConfigError::NoHome) => Config::default(),
            Err(e) => return Err(e),
        };
        if let Some(e) = std::env::var(BERTH_ENGINE).ok().filter(|e| !e.is_empty()) {
            c.engine = Some(e);
        }
        Ok(c)
    }

    /// Reads one configuration file; a missing file is an empty configuration.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
        };
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source })
    }
}

/// Parses a size: plain bytes, or a number with `k`, `m`, `g`, `t` (powers of 1024), with an
/// optional `b`/`i`/`ib` (`512m`, `1.5g`, `2GiB`).
pub fn parse_size(s: &str) -> Result<i64, ConfigError> {
    let err = || ConfigError::Size { value: s.to_string() };
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix("ib").or_else(|| t.strip_suffix('b')).or_else(|| t.strip_suffix('i')).unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.trim().parse().map_err(|_| err())?;
    if !v.is_finite() || v <= 0.0 {
        return Err(err());
    }
    let bytes = v * mult as f64;
    if bytes > i64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes.round() as i64)
}

/// Parses a duration: seconds, or a number with `s`, `m`, `h` or `d` (`90s`, `30m`, `1.5h`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, ConfigError> {
    let err = || ConfigError::Duration { value: s.to_string() };
    let t = s.trim().to_ascii_lowercase();
    let (num, unit) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1.0),
        Some('m') => (&t[..t.len() - 1], 60.0),
        Some('h') => (&t[..t.len() - 1], 3600.0),
        Some('d') => (&t[..t.len() - 1], 86_400.0),
        _ => (t.as_str(), 1.0),
    };
    let v: f64 = num.trim().parse().map_err(|_| err())?;
    let secs = v * unit;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(err());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_commands_are_the_tools_own_unless_the_site_says_otherwise() {
        let mut serve = ServeConfig::default();
        assert!(!serve.session_any_command("fsl").unwrap());
        serve.session_command_tools = vec!["python-env".into()];
        assert!(serve.session_any_command("python-env").unwrap());
        assert!(!serve.session_any_command("fsl").unwrap());
        serve.session_commands = Some("any".into());
        assert!(serve.session_any_command("fsl").unwrap());
        serve.session_commands = Some("anything".into());
        assert!(serve.session_any_command("fsl").unwrap_err().to_string().contains("`tool`, `any`"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_duration("1.5h").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration(" 2d ").unwrap().as_secs(), 172_800);
        for bad in ["", "m", "-5s", "0", "soon", "1e12s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        for bad in ["", "x", "-1g", "0", "1q"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_files_parse_and_reject_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        assert_eq!(Config::from_file(&p).unwrap(), Config::default());
        std::fs::write(&p, "engine = \"podman\"\n[run]\npids_limit = 64\nmemory = \"1g\"\n").unwrap();
        let c = Config::from_file(&p).unwrap();
        assert_eq!(c.engine.as_deref(), Some("podman"));
        assert_eq!(c.run.pids_limit, Some(64));
        std::fs::write(&p, "engin = \"podman\"\n").unwrap();
        let e = Config::from_file(&p).unwrap_err();
        assert!(format!("{:?}", e).contains("engin"), "{e:?}");
        std::fs::write(&p, "[scan]\nrun_policy = \"enforce\"\nmax_db_age_hours = 48\naccept = [\"CVE-1\"]\n").unwrap();
        let c = Config::from_file(&p).unwrap();
        assert_eq!(c.scan.run_policy.as_deref(), Some("enforce"));
        assert_eq!(c.scan.max_db_age_hours, Some(48));
        assert_eq!(c.scan.accept, ["CVE-1"]);
        std::fs::write(&p, "[scan]\nrun_polcy = \"enforce\"\n").unwrap();
        assert!(Config::from_file(&p).is_err());
    }

    /// Issue 14, finding 7: the site's maxima are read, and a maximum that means nothing is an
    /// error when the file is read, not a cap that silently never applies.
    #[test]
    fn finding_07_site_maxima_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[run]\nmax_memory = \"2g\"\nmax_cpus = 1.5\n").unwrap();
        let c = Config::from_file(&p).unwrap();
        assert_eq!((c.run.max_memory.as_deref(), c.run.max_cpus), (Some("2g"), Some(1.5)));
        for bad in ["max_memory = \"lots\"", "max_cpus = 0", "max_cpus = -2.0"] {
            std::fs::write(&p, format!("[run]\n{bad}\n")).unwrap();
            let e = Config::from_file(&p).unwrap_err();
            let shown = format!("{:?}", e);
            assert!(shown.contains("max_"), "{bad}: {shown}");
        }
    }

    #[test]
    fn inventory_limits_default_and_parse_sizes() {
        assert_eq!(InventoryConfig::default().limits().unwrap(), InventoryLimits::DEFAULT);
        let c: Config = toml::from_str("[inventory]\nmax_file_bytes = \"1m\"\nmax_read_bytes = 4096\n").unwrap();
        let l = c.inventory.limits().unwrap();
        assert_eq!((l.max_file_bytes, l.max_read_bytes), (1 << 20, 4096));
        assert_eq!(l.max_held_bytes, InventoryLimits::DEFAULT.max_held_bytes);
        let c: Config = toml::from_str("[inventory]\nmax_held_bytes = \"lots\"\n").unwrap();
        let e = c.inventory.limits().unwrap_err();
        assert!(e.to_string().contains("[inventory] max_held_bytes"), "{e}");
        assert!(toml::from_str::<Config>("[inventory]\nmax_bytes = 1\n").is_err());
    }
}
