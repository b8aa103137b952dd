//! Where an engine's API listens: parsing `DOCKER_HOST`-style addresses and TLS settings.
//!
//! The rules follow the `docker` client: `unix:///path` or `tcp://host[:port]`; with
//! `DOCKER_TLS_VERIFY` set, a `tcp://` engine is reached over TLS using `ca.pem`, `cert.pem` and
//! `key.pem` from `DOCKER_CERT_PATH` (default `~/.docker`), and the default port is 2376
//! instead of 2375.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::env::{self, Env};

/// The socket Docker listens on when `DOCKER_HOST` is unset.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// The address of a Docker-compatible engine API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "transport", rename_all = "lowercase")]
pub enum Endpoint {
    /// A unix socket on this machine.
    Unix {
        /// The socket's path.
        path: PathBuf,
    },
    /// A TCP address, plain or over TLS.
    Tcp {
        /// `host:port`.
        address: String,
        /// Client certificate and CA when TLS is on.
        tls: Option<TlsFiles>,
    },
}

/// The three files of a TLS client set-up, as the `docker` client names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TlsFiles {
    /// The CA that signed the server's certificate (`ca.pem`).
    pub ca: PathBuf,
    /// The client certificate (`cert.pem`).
    pub cert: PathBuf,
    /// The client key (`key.pem`).
    pub key: PathBuf,
}

impl TlsFiles {
    /// `ca.pem`, `cert.pem` and `key.pem` inside `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem") }
    }
}

/// An engine address that berth cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The address has a scheme berth does not speak.
    #[error("unsupported engine address `{value}`{}: expected `unix://PATH` or `tcp://HOST[:PORT]`", from_variable(.variable))]
    UnsupportedScheme {
        /// The address as given.
        value: String,
        /// The environment variable it came from, if any.
        variable: Option<&'static str>,
    },
    /// The address has the right scheme but nothing after it.
    #[error("engine address `{value}`{} names no socket or host", from_variable(.variable))]
    Empty {
        /// The address as given.
        value: String,
        /// The environment variable it came from, if any.
        variable: Option<&'static str>,
    },
    /// TLS is asked for but there is no directory to take the certificates from.
    #[error(
        "`{}` is set but neither `{}` nor `{}` is, so there are no TLS certificates to use",
        env::DOCKER_TLS_VERIFY,
        env::DOCKER_CERT_PATH,
        env::HOME
    )]
    NoCertPath,
}

fn from_variable(variable: &Option<&'static str>) -> String {
    variable.map(|v| format!(" (from `{v}`)")).unwrap_or_default()
}

impl EndpointError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::UnsupportedScheme { value, .. } if value.starts_with("ssh://") => Some(
                "berth cannot tunnel over ssh; forward the remote socket (`ssh -L /tmp/docker.sock:/var/run/docker.sock HOST`) and use `unix:///tmp/docker.sock`".to_owned(),
            ),
            Self::UnsupportedScheme { .. } | Self::Empty { .. } => Some(
                "set `DOCKER_HOST` to e.g. `unix:///var/run/docker.sock` or `tcp://127.0.0.1:2376`"
                    .to_owned(),
            ),
            Self::NoCertPath => Some(format!(
                "set `{}` to the directory holding `ca.pem`, `cert.pem` and `key.pem`",
                env::DOCKER_CERT_PATH
            )),
        }
    }
}

impl Endpoint {
    /// A unix socket endpoint.
    pub fn unix(path: impl Into<PathBuf>) -> Self {
        Self::Unix { path: path.into() }
    }

    /// Docker's endpoint as the `docker` client would pick it: `DOCKER_HOST`, else the default
    /// socket.
    pub fn docker_from_env(env: &Env) -> Result<Self, EndpointError> {
        match env.get(env::DOCKER_HOST) {
            Some(value) => Self::parse(value, Some(env::DOCKER_HOST), env),
            None => Ok(Self::unix(DEFAULT_DOCKER_SOCKET)),
        }
    }

    /// Parse an address (`unix://`, `tcp://`, also `http://` and `https://`), taking TLS
    /// settings for `tcp://` from `env`. `variable` names where the address came from, for
    /// error messages.
    pub fn parse(value: &str, variable: Option<&'static str>, env: &Env) -> Result<Self, EndpointError> {
        let empty = || EndpointError::Empty { value: value.to_owned(), variable };
        if let Some(path) = value.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(empty());
            }
            return Ok(Self::unix(path));
        }
        let (rest, force_tls) = if let Some(rest) = value.strip_prefix("tcp://") {
            (rest, false)
        } else if let Some(rest) = value.strip_prefix("http://") {
            (rest, false)
        } else if let Some(rest) = value.strip_prefix("https://") {
            (rest, true)
        } else {
            return Err(EndpointError::UnsupportedScheme { value: value.to_owned(), variable });
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() {
            return Err(empty());
        }
        let tls = if force_tls || env.get(env::DOCKER_TLS_VERIFY).is_some() {
            let dir = match (env.get(env::DOCKER_CERT_PATH), env.get(env::HOME)) {
                (Some(dir), _) => PathBuf::from(dir),
                (None, Some(home)) => Path::new(home).join(".docker"),
                (None, None) => return Err(EndpointError::NoCertPath),
            };
            Some(TlsFiles::in_dir(&dir))
        } else {
            None
        };
        // The docker client's defaults: 2376 with TLS, 2375 without. A bracketed IPv6
        // address has colons of its own, so only a colon after the closing bracket is a port.
        let has_port = match host.rfind(']') {
            Some(close) => host[close..].contains(':'),
            None => host.contains(':'),
        };
        let address = if has_port {
            host.to_owned()
        } else if tls.is_some() {
            format!("{host}:2376")
        } else {
            format!("{host}:2375")
        };
        Ok(Self::Tcp { address, tls })
    }

    /// The unix socket path, for unix endpoints.
    pub fn socket_path(&self) -> Option<&Path> {
        match self {
            Self::Unix { path } => Some(path),
            Self::Tcp { .. } => None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix { path } => write!(f, "unix://{}", path.display()),
            Self::Tcp { address, .. } => write!(f, "tcp://{address}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_docker_host_means_the_default_socket() {
        let ep = Endpoint::docker_from_env(&Env::default()).expect("endpoint");
        assert_eq!(ep, Endpoint::unix("/var/run/docker.sock"));
        assert_eq!(ep.to_string(), "unix:///var/run/docker.sock");
    }

    #[test]
    fn docker_host_unix_socket() {
        let env = Env::from_pairs([(env::DOCKER_HOST, "unix:///tmp/x/docker.sock")]);
        let ep = Endpoint::docker_from_env(&env).expect("endpoint");
        assert_eq!(ep.socket_path(), Some(Path::new("/tmp/x/docker.sock")));
    }

    #[test]
    fn tcp_without_tls_defaults_to_port_2375() {
        let env = Env::from_pairs([(env::DOCKER_HOST, "tcp://10.0.0.5")]);
        let ep = Endpoint::docker_from_env(&env).expect("endpoint");
        assert_eq!(ep, Endpoint::Tcp { address: "10.0.0.5:2375".into(), tls: None });
    }

    #[test]
    fn tls_verify_takes_certificates_from_docker_cert_path() {
        let env = Env::from_pairs([
            (env::DOCKER_HOST, "tcp://engine.example:2376/"),
            (env::DOCKER_TLS_VERIFY, "1"),
            (env::DOCKER_CERT_PATH, "/certs"),
        ]);
        let ep = Endpoint::docker_from_env(&env).expect("endpoint");
        assert_eq!(
            ep,
            Endpoint::Tcp {
                address: "engine.example:2376".into(),
                tls: Some(TlsFiles {
                    ca: "/certs/ca.pem".into(),
                    cert: "/certs/cert.pem".into(),
                    key: "/certs/key.pem".into(),
                }),
            }
        );
    }

    #[test]
    fn tls_verify_defaults_to_home_docker_and_port_2376() {
        let env = Env::from_pairs([
            (env::DOCKER_HOST, "tcp://[::1]"),
            (env::DOCKER_TLS_VERIFY, "1"),
            (env::HOME, "/home/ana"),
        ]);
        let Endpoint::Tcp { address, tls } = Endpoint::docker_from_env(&env).expect("endpoint") else {
            panic!("expected tcp")
        };
        assert_eq!(address, "[::1]:2376");
        assert_eq!(tls.expect("tls").ca, PathBuf::from("/home/ana/.docker/ca.pem"));
    }

    #[test]
    fn ssh_is_refused_with_a_hint() {
        let env = Env::from_pairs([(env::DOCKER_HOST, "ssh://me@host")]);
        let err = Endpoint::docker_from_env(&env).expect_err("ssh is unsupported");
        assert_eq!(
            err.to_string(),
            "unsupported engine address `ssh://me@host` (from `DOCKER_HOST`): expected `unix://PATH` or `tcp://HOST[:PORT]`"
        );
        assert!(err.hint().expect("hint").contains("ssh -L"));
    }

    #[test]
    fn empty_unix_path_is_an_error() {
        let err = Endpoint::parse("unix://", None, &Env::default()).expect_err("empty");
        assert!(matches!(err, EndpointError::Empty { .. }));
    }
}
