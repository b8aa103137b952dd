//! Every environment variable this crate reads, named and documented once.
//!
//! Nothing else in the crate spells these names; detection and connection take an [`Env`]
//! so that tests can supply their own values instead of mutating the process environment.

use std::collections::BTreeMap;

/// Address of the Docker (or Docker-compatible) engine: `unix:///path`, `tcp://host:port`.
/// Same meaning as for the `docker` client.
pub const DOCKER_HOST: &str = "DOCKER_HOST";
/// Directory holding `ca.pem`, `cert.pem` and `key.pem` for a `tcp://` engine with TLS.
/// Defaults to `~/.docker`, as for the `docker` client.
pub const DOCKER_CERT_PATH: &str = "DOCKER_CERT_PATH";
/// When set to a non-empty value, a `tcp://` engine is reached over TLS, verifying the server
/// against `ca.pem` and presenting the client certificate (as the `docker` client does).
pub const DOCKER_TLS_VERIFY: &str = "DOCKER_TLS_VERIFY";
/// Podman's counterpart of `DOCKER_HOST` (`unix://` addresses only, for berth).
pub const CONTAINER_HOST: &str = "CONTAINER_HOST";
/// Where a rootless Podman keeps its API socket (`$XDG_RUNTIME_DIR/podman/podman.sock`).
pub const XDG_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";
/// Searched for `apptainer` and `singularity`.
pub const PATH: &str = "PATH";
/// Home directory: the default `DOCKER_CERT_PATH` is `$HOME/.docker`.
pub const HOME: &str = "HOME";
/// berth's home: Apptainer images pulled by berth go to `$BERTH_HOME/apptainer`.
pub const BERTH_HOME: &str = "BERTH_HOME";
/// The XDG data directory, berth's home when `BERTH_HOME` is unset (`$XDG_DATA_HOME/berth`).
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";

/// A read-only view of environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The variables this crate reads, taken from the current process.
    pub fn from_process() -> Self {
        let vars = [
            DOCKER_HOST,
            DOCKER_CERT_PATH,
            DOCKER_TLS_VERIFY,
            CONTAINER_HOST,
            XDG_RUNTIME_DIR,
            PATH,
            HOME,
            BERTH_HOME,
            XDG_DATA_HOME,
        ]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.to_owned(), v)))
        .collect();
        Self { vars }
    }

    /// An environment holding exactly `pairs` (for tests and for embedding).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// The value of `name`, treating an empty value as unset (as the `docker` client does).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs([(DOCKER_HOST, ""), (DOCKER_TLS_VERIFY, "1")]);
        assert_eq!(env.get(DOCKER_HOST), None);
        assert_eq!(env.get(DOCKER_TLS_VERIFY), Some("1"));
        assert_eq!(env.get(CONTAINER_HOST), None);
    }
}
