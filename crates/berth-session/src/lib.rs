//! The site: what berth's configuration says a run must obey, resolved and checked once, in
//! one place, for every front end (the CLI, `berth serve`'s workers, pipeline tasks local and
//! on Slurm, `berth verify`, `berth test`, `berth harden`).
//!
//! A [`Site`] is built from the configuration file and `BERTH_HOME` before anything runs, so a
//! misspelled `[scan] run_policy` fails every front end the same way, up front. It is the
//! [`RunGate`] of every [`Runner`](berth_run::Runner): the runner asks it for the registry
//! credentials of a pull and for the scan policy's decision about the image, on every path
//! that records a run. Front ends say what the user asked for; the site decides what is
//! allowed.

mod backend;
mod policy;
mod reach;
mod updates;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use berth_config::{Config, ConfigError};
use berth_engine::{Engine, RegistryAuth};
use berth_registry::CredentialStore;
use berth_run::gate::{GateError, RunGate};
use berth_run::{ImageCheck, OutputSink};

pub use backend::BackendRequest;
pub use policy::{PolicyMode, ScanPolicy};
pub use reach::reachability;
pub use updates::{UpdatesError, apply_security_updates};

/// Why the site's configuration cannot be used. Nothing has run.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The configuration file or `BERTH_HOME` could not be resolved.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A setting has a value berth does not accept.
    #[error("configuration `{setting}`: {reason}")]
    Setting {
        /// The setting, with its table (`[scan] run_policy`).
        setting: &'static str,
        /// Why its value is refused (names the value).
        reason: String,
        /// What to write instead.
        hint: String,
    },
}

impl SiteError {
    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            SiteError::Config(e) => e.hint(),
            SiteError::Setting { hint, .. } => Some(hint.clone()),
        }
    }
}

/// The site's configuration, resolved and checked.
pub struct Site {
    config: Config,
    home: PathBuf,
    scan: ScanPolicy,
    advisory_db: PathBuf,
    limits: berth_inventory::Limits,
    credentials: CredentialStore,
    /// Decisions already made, by image ID and advisory-database state: a pipeline over a
    /// dataset or a server's queue runs one image many times, and a scan takes seconds.
    decisions: tokio::sync::Mutex<HashMap<(String, DbState), ImageCheck>>,
}

/// The advisory database as a decision saw it: a new download changes the decision's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DbState {
    modified: Option<SystemTime>,
    len: u64,
}

impl DbState {
    fn of(path: &Path) -> DbState {
        match std::fs::metadata(path) {
            Ok(m) => DbState { modified: m.modified().ok(), len: m.len() },
            Err(_) => DbState { modified: None, len: 0 },
        }
    }
}

/// Decisions kept at most; the oldest are not tracked, the whole map is dropped when full.
const MAX_DECISIONS: usize = 1024;

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("home", &self.home)
            .field("scan", &self.scan.mode())
            .field("advisory_db", &self.advisory_db)
            .finish_non_exhaustive()
    }
}

impl Site {
    /// The site of this process: the configuration file (`BERTH_CONFIG`, …) and `BERTH_HOME`.
    pub fn load() -> Result<Site, SiteError> {
        let config = Config::load()?;
        let home = berth_config::berth_home()?;
        Site::new(config, home)
    }

    /// The site of `config` with its store in `home`. Every setting a run depends on is checked
    /// here.
    pub fn new(config: Config, home: PathBuf) -> Result<Site, SiteError> {
        let scan = ScanPolicy::from_config(&config.scan)?;
        let advisory_db = config.advisory_db_in(&home, None);
        let limits = config.inventory.limits()?;
        let credentials = CredentialStore::standard(&home);
        Ok(Site { config, home, scan, advisory_db, limits, credentials, decisions: Default::default() })
    }

    /// The configuration as read.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// berth's home (the store, credentials, the default advisory database).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The scan policy runs obey.
    pub fn scan_policy(&self) -> &ScanPolicy {
        &self.scan
    }

    /// The advisory database: `explicit` (a `--db` flag) or the site's
    /// ([`Config::advisory_db`]).
    pub fn advisory_db(&self, explicit: Option<&Path>) -> PathBuf {
        explicit.map_or_else(|| self.advisory_db.clone(), Path::to_path_buf)
    }

    /// How old the advisory database may be before scans warn.
    pub fn max_db_age(&self) -> Duration {
        self.config.max_db_age()
    }

    /// What one inventory may read of an untrusted image (`[inventory]`).
    pub fn inventory_limits(&self) -> &berth_inventory::Limits {
        &self.limits
    }

    /// The cap on each stored log stream (`[run] log_max_bytes`).
    pub fn log_cap(&self) -> u64 {
        self.config.run.log_max_bytes.unwrap_or(berth_store::DEFAULT_LOG_CAP)
    }

    /// The stored registry credentials.
    pub fn credentials(&self) -> &CredentialStore {
        &self.credentials
    }

    /// This site as the gate of a runner.
    pub fn gate(self: &Arc<Self>) -> Arc<dyn RunGate> {
        self.clone()
    }

    async fn decide(
        &self,
        engine: Arc<dyn Engine>,
        image_id: &str,
        sink: &dyn OutputSink,
    ) -> Result<Option<ImageCheck>, GateError> {
        if self.scan.mode() == PolicyMode::Off {
            return Ok(None);
        }
        let key = (image_id.to_owned(), DbState::of(&self.advisory_db));
        // Held across the scan: tasks that start together on one image scan it once.
        let mut decisions = self.decisions.lock().await;
        if let Some(check) = decisions.get(&key) {
            sink.note(&format!(
                "scan policy ({}): {} (decided earlier for this image)",
                self.scan.mode(),
                check.summary
            ));
            return Ok(Some(check.clone()));
        }
        let options = berth_scan::ScanOptions { max_db_age: self.max_db_age(), ..Default::default() };
        let check = self.scan.check(engine, image_id, &self.advisory_db, &self.limits, &options, sink).await?;
        if decisions.len() >= MAX_DECISIONS {
            decisions.clear();
        }
        decisions.insert(key, check.clone());
        Ok(Some(check))
    }
}

#[async_trait]
impl RunGate for Site {
    fn pull_auth(&self, image: &str) -> Result<Option<RegistryAuth>, GateError> {
        berth_registry::images::engine_auth(&self.credentials, image).map_err(|e| GateError {
            message: format!("cannot read the stored credentials for `{image}`'s registry"),
            hint: e.hint(),
            source: Some(Box::new(e)),
        })
    }

    async fn check_image(
        &self,
        engine: Arc<dyn Engine>,
        image_id: &str,
        sink: &dyn OutputSink,
    ) -> Result<Option<ImageCheck>, GateError> {
        self.decide(engine, image_id, sink).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(toml: &str) -> Result<Site, SiteError> {
        let config: Config = toml::from_str(toml).expect("toml");
        Site::new(config, PathBuf::from("/nonexistent/berth-home"))
    }

    #[test]
    fn a_misspelled_policy_names_the_setting_and_the_choices() {
        let e = site("[scan]\nrun_policy = \"enforcing\"\n").expect_err("refused");
        assert_eq!(e.to_string(), "configuration `[scan] run_policy`: unknown value `enforcing`");
        assert!(e.hint().is_some_and(|h| h.contains("`off`, `warn` or `enforce`")));
        let e = site("[scan]\nrun_policy = \"warn\"\nrefuse = \"severe\"\n").expect_err("refused");
        assert!(e.to_string().starts_with("configuration `[scan] refuse`"), "{e}");
    }

    #[test]
    fn the_advisory_database_defaults_under_the_home_and_follows_the_configuration() {
        // SAFETY of the test: the variable is read, not set; the test runs without it.
        if std::env::var_os(berth_config::BERTH_ADVISORY_DB).is_some() {
            return;
        }
        let s = site("").expect("site");
        assert_eq!(s.advisory_db(None), Path::new("/nonexistent/berth-home/advisories.sqlite"));
        let s = site("[scan]\ndb = \"/srv/adv.sqlite\"\nmax_db_age_hours = 2\n").expect("site");
        assert_eq!(s.advisory_db(None), Path::new("/srv/adv.sqlite"));
        assert_eq!(s.advisory_db(Some(Path::new("/x.sqlite"))), Path::new("/x.sqlite"));
        assert_eq!(s.max_db_age(), Duration::from_secs(7200));
    }

    #[test]
    fn credentials_that_cannot_be_read_are_an_error_not_an_anonymous_pull() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::default();
        let s = Site::new(config, dir.path().to_path_buf()).expect("site");
        std::fs::write(dir.path().join("credentials.json"), "{ not json").expect("write");
        let e = s.pull_auth("registry.example.org/lab/tool:1").expect_err("unreadable");
        assert!(e.message.contains("registry.example.org/lab/tool:1"), "{e}");
    }
}
