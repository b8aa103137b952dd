//! What a DICOM node obeys, resolved once from the flags, the `[dicom]` table and the
//! project in the store: every front end (`berth dicom listen`, `berth serve`) builds a
//! [`Settings`] here and nowhere else.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_config::{DicomConfig, DicomProjectConfig};
pub use berth_hostpath::SyncMode;
use berth_store::Store;
use ipnet::IpNet;

use crate::error::DicomError;
use crate::uid::check_ae_title;

/// The AE title used when none is configured.
pub const DEFAULT_AE_TITLE: &str = "BERTH";
/// The port used when none is configured (the IANA-registered DICOM port).
pub const DEFAULT_PORT: u16 = 11112;
/// The largest PDU accepted by default.
pub const DEFAULT_MAX_PDU: u32 = 65536;
/// The largest PDU that may be configured (the PDU length field allows 4 GiB; 16 MiB is
/// dcmtk's ceiling too, and one PDU is held in memory).
pub const MAX_PDU_CEILING: u32 = 16 << 20;
/// The largest instance accepted by default (its data set is streamed to disk as it arrives).
pub const DEFAULT_MAX_INSTANCE_BYTES: u64 = 1 << 30;
/// Associations served at once by default.
pub const DEFAULT_MAX_ASSOCIATIONS: usize = 16;
/// Seconds without a PDU before an association is aborted, by default.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 60;

/// What a second instance with a SOP Instance UID already stored in the project does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Duplicates {
    /// The default: the same bytes (same transfer syntax, same data set) are acknowledged and
    /// nothing is written; different bytes are refused with status 0111H (Duplicate SOP
    /// Instance), so that a changed object is never dropped silently nor overwritten.
    RejectDifferent,
    /// Acknowledge and drop the new one, whatever it holds.
    KeepFirst,
    /// Refuse every duplicate with status 0111H.
    Reject,
    /// Replace the stored file atomically with the new one.
    Replace,
}

impl Duplicates {
    /// The values `[dicom] duplicates` takes.
    pub const CHOICES: &str = "`reject-different`, `keep-first`, `reject`, `replace`";

    /// Parses a configuration value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reject-different" => Self::RejectDifferent,
            "keep-first" => Self::KeepFirst,
            "reject" => Self::Reject,
            "replace" => Self::Replace,
            _ => return None,
        })
    }
}

/// Who may open an association to a project's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    /// Calling AE titles allowed; empty: any.
    pub calling_ae_titles: Vec<String>,
    /// Source networks allowed; empty: loopback only.
    pub sources: Vec<IpNet>,
}

impl AllowList {
    /// Whether `title` may call.
    pub fn allows_title(&self, title: &str) -> bool {
        self.calling_ae_titles.is_empty() || self.calling_ae_titles.iter().any(|t| t == title)
    }

    /// Whether `addr` may connect. An IPv4 address seen as IPv6 (`::ffff:a.b.c.d`, a dual-stack
    /// socket) is matched as IPv4.
    pub fn allows_address(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        if self.sources.is_empty() {
            return addr.is_loopback();
        }
        self.sources.iter().any(|n| n.contains(&addr))
    }
}

/// Flags of `berth dicom listen`; each overrides its `[dicom]` key.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--ae-title`.
    pub ae_title: Option<String>,
    /// `--bind`.
    pub bind: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--project`.
    pub project: Option<String>,
}

/// Everything a node obeys, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Our AE title.
    pub ae_title: String,
    /// The address listened on.
    pub bind: IpAddr,
    /// The port (0: any free one).
    pub port: u16,
    /// The project instances go to.
    pub project: String,
    /// The data root they are written under (one of the project's).
    pub data_root: PathBuf,
    /// The duplicate rule.
    pub duplicates: Duplicates,
    /// Whether an instance is `fsync`ed before Success (`[dicom] sync`).
    pub sync: SyncMode,
    /// The largest PDU accepted.
    pub max_pdu: u32,
    /// The largest instance accepted.
    pub max_instance_bytes: u64,
    /// Associations served at once.
    pub max_associations: usize,
    /// Silence after which an association is aborted.
    pub timeout: Duration,
    /// Who may send.
    pub allow: AllowList,
    /// DICOM TLS, when configured: every association must use it.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

fn setting(key: &str, value: impl ToString, reason: impl Into<String>) -> DicomError {
    DicomError::Setting { key: key.to_owned(), value: value.to_string(), reason: reason.into() }
}

impl Settings {
    /// Resolves the settings from the flags, the `[dicom]` table and the project's record in
    /// the store. Every value is checked here, so a listener never starts half-configured.
    pub fn resolve(config: &DicomConfig, flags: &Overrides, store: &Store) -> Result<Settings, DicomError> {
        let project = flags.project.clone().or_else(|| config.project.clone()).ok_or(DicomError::NoProject)?;
        let record = store.get_project(&project).map_err(|e| DicomError::Project {
            project: project.clone(),
            reason: format!("it cannot be read from the store ({e})"),
        })?;
        let roots: Vec<PathBuf> = record.data_roots.iter().map(PathBuf::from).collect();
        Self::resolve_with_roots(config, flags, &project, &roots)
    }

    /// [`Settings::resolve`] with the project's data roots given (for tests and callers that
    /// already read the project).
    pub fn resolve_with_roots(
        config: &DicomConfig,
        flags: &Overrides,
        project: &str,
        roots: &[PathBuf],
    ) -> Result<Settings, DicomError> {
        let (key, title) = match (&flags.ae_title, &config.ae_title) {
            (Some(t), _) => ("--ae-title", t.as_str()),
            (None, Some(t)) => ("[dicom] ae_title", t.as_str()),
            (None, None) => ("--ae-title", DEFAULT_AE_TITLE),
        };
        let ae_title = check_ae_title(title).map_err(|r| setting(key, title, r))?.to_owned();
        let (key, bind) = match (&flags.bind, &config.bind) {
            (Some(b), _) => ("--bind", b.as_str()),
            (None, Some(b)) => ("[dicom] bind", b.as_str()),
            (None, None) => ("--bind", "127.0.0.1"),
        };
        let bind: IpAddr = bind.parse().map_err(|_| setting(key, bind, "is not an IP address"))?;
        let port = flags.port.or(config.port).unwrap_or(DEFAULT_PORT);
        let duplicates = match &config.duplicates {
            None => Duplicates::RejectDifferent,
            Some(d) => Duplicates::parse(d)
                .ok_or_else(|| setting("[dicom] duplicates", d, format!("is not one of {}", Duplicates::CHOICES)))?,
        };
        let sync = match config.sync.as_deref() {
            None | Some("always") => SyncMode::Always,
            Some("never") => SyncMode::Never,
            Some(other) => return Err(setting("[dicom] sync", other, "is not `always` or `never`")),
        };
        let max_pdu = config.max_pdu.unwrap_or(DEFAULT_MAX_PDU);
        if !(4096..=MAX_PDU_CEILING).contains(&max_pdu) {
            return Err(setting("[dicom] max_pdu", max_pdu, "is not between 4096 and 16777216"));
        }
        let max_instance_bytes = match &config.max_instance_bytes {
            None => DEFAULT_MAX_INSTANCE_BYTES,
            Some(v) => v
                .bytes("[dicom] max_instance_bytes")
                .map_err(|e| setting("[dicom] max_instance_bytes", "", e.to_string()))?,
        };
        let max_associations = config.max_associations.unwrap_or(DEFAULT_MAX_ASSOCIATIONS);
        if max_associations == 0 {
            return Err(setting("[dicom] max_associations", 0, "is not a number above zero"));
        }
        let timeout = Duration::from_secs(config.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS).max(1));
        let per_project = config.projects.get(project).cloned().unwrap_or_default();
        let allow = allow_list(project, &per_project)?;
        let data_root = data_root(project, &per_project, roots)?;
        let tls = crate::tls::server_config(config)?;
        Ok(Settings {
            ae_title,
            bind,
            port,
            project: project.to_owned(),
            data_root,
            duplicates,
            sync,
            max_pdu,
            max_instance_bytes,
            max_associations,
            timeout,
            allow,
            tls,
        })
    }
}

fn allow_list(project: &str, p: &DicomProjectConfig) -> Result<AllowList, DicomError> {
    let key = |k: &str| format!("[dicom.projects.{project}] {k}");
    let calling_ae_titles = p
        .calling_ae_titles
        .iter()
        .map(|t| check_ae_title(t).map(str::to_owned).map_err(|r| setting(&key("calling_ae_titles"), t, r)))
        .collect::<Result<_, _>>()?;
    let sources = p
        .sources
        .iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| setting(&key("sources"), s, "is not an address or a network (`10.1.2.0/24`)"))
        })
        .collect::<Result<_, _>>()?;
    Ok(AllowList { calling_ae_titles, sources })
}

fn data_root(project: &str, p: &DicomProjectConfig, roots: &[PathBuf]) -> Result<PathBuf, DicomError> {
    let no_root = || DicomError::Project { project: project.to_owned(), reason: "it has no data root".into() };
    match &p.data_root {
        None => roots.first().cloned().ok_or_else(no_root),
        Some(chosen) => roots.iter().find(|r| same_dir(r, chosen)).cloned().ok_or_else(|| DicomError::Project {
            project: project.to_owned(),
            reason: format!(
                "`{}` ([dicom.projects.{project}] data_root) is not one of its data roots",
                chosen.display()
            ),
        }),
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(config: &DicomConfig, flags: &Overrides) -> Result<Settings, DicomError> {
        Settings::resolve_with_roots(config, flags, "p", &[PathBuf::from("/data/a"), PathBuf::from("/data/b")])
    }

    #[test]
    fn defaults_flags_and_keys() {
        let s = resolve(&DicomConfig::default(), &Overrides::default()).expect("defaults");
        assert_eq!((s.ae_title.as_str(), s.port, s.bind.to_string().as_str()), ("BERTH", 11112, "127.0.0.1"));
        assert_eq!(s.duplicates, Duplicates::RejectDifferent);
        assert_eq!(s.sync, SyncMode::Always, "durable unless asked otherwise");
        let never = DicomConfig { sync: Some("never".into()), ..Default::default() };
        assert_eq!(resolve(&never, &Overrides::default()).expect("never").sync, SyncMode::Never);
        assert_eq!(s.data_root, PathBuf::from("/data/a"));
        let mut c = DicomConfig { ae_title: Some("SITE".into()), port: Some(104), ..Default::default() };
        c.projects.insert(
            "p".into(),
            DicomProjectConfig {
                calling_ae_titles: vec!["MRI".into()],
                sources: vec!["10.0.0.0/8".into(), "192.168.1.7".into()],
                data_root: Some("/data/b".into()),
            },
        );
        let s = resolve(&c, &Overrides { ae_title: Some("FLAG".into()), ..Default::default() }).expect("keys");
        assert_eq!((s.ae_title.as_str(), s.port), ("FLAG", 104));
        assert_eq!(s.data_root, PathBuf::from("/data/b"));
        assert!(s.allow.allows_title("MRI") && !s.allow.allows_title("CT"));
        assert!(s.allow.allows_address("10.9.8.7".parse().expect("ip")));
        assert!(s.allow.allows_address("::ffff:192.168.1.7".parse().expect("ip")));
        assert!(!s.allow.allows_address("127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn the_default_allow_list_is_loopback_with_any_title() {
        let a = AllowList { calling_ae_titles: vec![], sources: vec![] };
        assert!(a.allows_title("ANY") && a.allows_address("127.0.0.1".parse().expect("ip")));
        assert!(a.allows_address("::1".parse().expect("ip")));
        assert!(!a.allows_address("10.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |c: DicomConfig, f: Overrides, key: &str| match resolve(&c, &f) {
            Err(DicomError::Setting { key: k, .. }) => assert_eq!(k, key),
            other => panic!("expected a setting error for {key}, got {other:?}"),
        };
        bad(DicomConfig::default(), Overrides { ae_title: Some("A\\B".into()), ..Default::default() }, "--ae-title");
        bad(
            DicomConfig { duplicates: Some("newest".into()), ..Default::default() },
            Overrides::default(),
            "[dicom] duplicates",
        );
        bad(DicomConfig { max_pdu: Some(10), ..Default::default() }, Overrides::default(), "[dicom] max_pdu");
        bad(DicomConfig { sync: Some("sometimes".into()), ..Default::default() }, Overrides::default(), "[dicom] sync");
        let mut c = DicomConfig::default();
        c.projects.insert("p".into(), DicomProjectConfig { sources: vec!["10.0.0.0/33".into()], ..Default::default() });
        bad(c, Overrides::default(), "[dicom.projects.p] sources");
        let mut c = DicomConfig::default();
        c.projects
            .insert("p".into(), DicomProjectConfig { data_root: Some("/elsewhere".into()), ..Default::default() });
        assert!(matches!(resolve(&c, &Overrides::default()), Err(DicomError::Project { .. })));
    }
}
