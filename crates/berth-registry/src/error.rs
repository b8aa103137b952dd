//! [`RegistryError`]: everything that can go wrong between berth and a registry, a credential
//! store or a download, with structured fields and a [`RegistryError::hint`] for the user.

use std::path::PathBuf;

/// A boxed lower-level error, kept as the `source` of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong talking to a registry, reading credentials or downloading.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The reference cannot be parsed.
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),

    /// Nothing answered at the registry's address (refused, unresolvable, timed out, TLS).
    #[error("cannot reach the registry at {address}: {reason}")]
    Unreachable {
        /// `host:port` tried.
        address: String,
        /// The OS error (`Connection refused (os error 111)`) or transport error, in words.
        reason: String,
        /// The transport error.
        #[source]
        source: Option<BoxError>,
    },

    /// The registry refused the credentials given (HTTP 401 with credentials).
    #[error("login failed for {registry}: the registry refused the credentials of `{username}` ({message})")]
    BadCredentials {
        /// The registry.
        registry: String,
        /// The user name tried.
        username: String,
        /// What the registry said.
        message: String,
    },

    /// The registry wants credentials and berth has none for it.
    #[error("{registry} requires credentials and none are stored for it ({message})")]
    NoCredentials {
        /// The registry.
        registry: String,
        /// What the registry said.
        message: String,
    },

    /// The credentials were accepted but do not allow this (HTTP 403).
    #[error("{registry} denied access to `{repository}` ({message})")]
    Denied {
        /// The registry.
        registry: String,
        /// The repository asked for.
        repository: String,
        /// What the registry said.
        message: String,
    },

    /// The registry answered something berth did not expect.
    #[error("unexpected answer from {registry} to {request}: HTTP {status}: {message}")]
    Api {
        /// The registry.
        registry: String,
        /// What berth asked (`HEAD /v2/.../manifests/...`).
        request: String,
        /// The HTTP status.
        status: u16,
        /// The body, or the headers' gist.
        message: String,
    },

    /// A credential file could not be read, parsed or written.
    #[error("cannot {action} the credentials file {path}")]
    CredentialFile {
        /// `read`, `parse` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: BoxError,
    },

    /// A Docker credential helper failed.
    #[error("the credential helper `docker-credential-{helper}` failed for {registry}: {message}")]
    CredentialHelper {
        /// The helper's suffix (`pass`, `secretservice`, `ecr-login`).
        helper: String,
        /// The registry asked about.
        registry: String,
        /// Its standard error, or why it could not run.
        message: String,
    },

    /// A download failed part-way or could not start.
    #[error("downloading {url} failed: {message}")]
    Download {
        /// The URL.
        url: String,
        /// What happened (`HTTP 404`, the transport error in words).
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },

    /// A URL import would reach a loopback, private or otherwise non-public address.
    #[error("downloading {url} refused: {refused}")]
    PrivateAddress {
        /// The URL (or the redirect) refused.
        url: String,
        /// The host and the address.
        refused: crate::netguard::PrivateAddress,
    },

    /// What was downloaded does not have the digest it should.
    #[error("{url}: expected sha256 {expected}, got {actual}")]
    DigestMismatch {
        /// The URL.
        url: String,
        /// The digest given (hex).
        expected: String,
        /// The digest of what arrived (hex).
        actual: String,
    },

    /// An image archive whose entries or manifests point outside it, or at links: refused
    /// before any engine sees it.
    #[error("{}: refusing `{entry}`: {problem}", path.display())]
    HostileArchive {
        /// The archive.
        path: PathBuf,
        /// The entry name, link target or digest, as found.
        entry: String,
        /// What is wrong with it.
        problem: String,
    },

    /// An image archive is neither a docker-archive nor an OCI archive, or is damaged.
    #[error("{path} is not a usable image archive: {problem}")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        problem: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },

    /// A local file operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What berth was doing (`create`, `rename`, `read`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The engine refused an operation on the image.
    #[error(transparent)]
    Engine(#[from] berth_engine::EngineError),
}

impl RegistryError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Reference(_) => Some("write it as `[REGISTRY/]NAME[:TAG][@sha256:DIGEST]`".to_owned()),
            Self::Unreachable { address, .. } => {
                Some(format!("check that a registry is running at {address} and that the address and port are right"))
            }
            Self::BadCredentials { registry, .. } => {
                Some(format!("check the user name and password, then run `berth login {registry}`"))
            }
            Self::NoCredentials { registry, .. } => Some(format!(
                "run `berth login {registry}` (or `docker login {registry}`; berth reads Docker's config)"
            )),
            Self::Denied { registry, .. } => {
                Some(format!("ask the administrator of {registry} for access, or log in as another user"))
            }
            Self::CredentialFile { path, .. } => Some(format!("fix or remove {}", path.display())),
            Self::CredentialHelper { helper, .. } => Some(format!(
                "check that `docker-credential-{helper}` is on PATH and works (`echo REGISTRY | docker-credential-{helper} get`)"
            )),
            Self::DigestMismatch { .. } => {
                Some("the file is not the one expected: check the URL and the digest given".to_owned())
            }
            Self::Download { .. } => Some("run the same command again to resume the download".to_owned()),
            Self::PrivateAddress { .. } => Some(
                "import from a public address, or set `[registry] import_private_addresses = true` in the configuration to allow this host's own and private networks"
                    .to_owned(),
            ),
            Self::Archive { .. } => Some(
                "give a `docker save` archive (holding `manifest.json`) or an OCI archive (holding `index.json`)"
                    .to_owned(),
            ),
            Self::HostileArchive { .. } => Some(
                "the archive is malformed or malicious; berth does not hand it to an engine (make it again with `docker save` or `podman save`)"
                    .to_owned(),
            ),
            Self::Engine(e) => e.hint(),
            Self::Api { .. } | Self::Io { .. } => None,
        }
    }
}
