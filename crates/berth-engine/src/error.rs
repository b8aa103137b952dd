//! The error every [`Engine`](crate::Engine) operation returns, with user-facing hints.
//!
//! Fields are structured (status code, engine message, endpoint) so that callers can match on
//! them; the cause is attached as `source`, never pasted into the message. [`EngineError::hint`]
//! says what the user can do about it, for the shared `error:`/`Caused by:`/`hint:` renderer.

use std::fmt;

use crate::endpoint::EndpointError;

/// A boxed error from a lower layer (transport, TLS, I/O), kept as the `source` of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What berth was asking the engine to do when something failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Opening the connection and negotiating the API version.
    Connect,
    /// `GET /version` and `GET /info`.
    Info,
    /// `GET /images/{name}/json`.
    InspectImage,
    /// `POST /images/create?fromImage=...`.
    PullImage,
    /// `POST /containers/create`.
    CreateContainer,
    /// `POST /containers/{id}/start`.
    StartContainer,
    /// `POST /containers/{id}/wait`.
    WaitContainer,
    /// `GET /containers/{id}/logs`.
    ContainerLogs,
    /// `POST /containers/{id}/stop`.
    StopContainer,
    /// `DELETE /containers/{id}`.
    RemoveContainer,
    /// `GET /containers/{id}/json`.
    InspectContainer,
    /// `GET /containers/json?all=true&filters=...`.
    ListContainers,
    /// `GET /images/{name}/get`.
    ExportImage,
    /// `HEAD /containers/{id}/archive?path=...`.
    StatPath,
    /// `GET /images/json`.
    ListImages,
    /// `POST /images/{name}/tag`.
    TagImage,
    /// `DELETE /images/{name}`.
    RemoveImage,
    /// `POST /images/{name}/push`.
    PushImage,
    /// `POST /images/load`.
    LoadImage,
    /// `POST /commit?container=...`.
    CommitContainer,
    /// `GET /containers/{id}/export`.
    ExportContainer,
    /// `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `GET /exec/{id}/json`.
    Exec,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connecting to the engine",
            Self::Info => "reading the engine's version and info",
            Self::InspectImage => "inspecting an image",
            Self::PullImage => "pulling an image",
            Self::CreateContainer => "creating a container",
            Self::StartContainer => "starting a container",
            Self::WaitContainer => "waiting for a container",
            Self::ContainerLogs => "reading a container's logs",
            Self::StopContainer => "stopping a container",
            Self::RemoveContainer => "removing a container",
            Self::InspectContainer => "inspecting a container",
            Self::ListContainers => "listing containers",
            Self::ExportImage => "exporting an image",
            Self::StatPath => "looking for a path in a container",
            Self::ListImages => "listing images",
            Self::TagImage => "tagging an image",
            Self::RemoveImage => "removing an image",
            Self::PushImage => "pushing an image",
            Self::LoadImage => "loading an image archive",
            Self::CommitContainer => "committing a container as an image",
            Self::ExportContainer => "exporting a container's filesystem",
            Self::Exec => "running a command in a container",
        })
    }
}

/// Why an engine could not be reached, as far as the transport error tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnreachableReason {
    /// The unix socket does not exist: no engine has been started there.
    SocketMissing,
    /// The socket exists but this user may not open it.
    PermissionDenied,
    /// Nothing accepts connections at the address (a stale socket, or a stopped daemon).
    ConnectionRefused,
    /// The engine did not answer in time.
    TimedOut,
    /// The TLS handshake or the client certificates failed.
    Tls,
    /// Anything else the transport reported.
    Other,
}

impl fmt::Display for UnreachableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SocketMissing => "no socket there",
            Self::PermissionDenied => "permission denied",
            Self::ConnectionRefused => "connection refused",
            Self::TimedOut => "no answer in time",
            Self::Tls => "TLS failed",
            Self::Other => "transport error",
        })
    }
}

/// Everything that can go wrong talking to a container engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine's address could not be worked out from the environment or configuration.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),

    /// No engine answered at the address.
    #[error("cannot reach a container engine at `{endpoint}`: {reason}")]
    Unreachable {
        /// The address tried (`unix:///var/run/docker.sock`, `tcp://host:2376`).
        endpoint: String,
        /// What the transport error says about why.
        reason: UnreachableReason,
        /// The transport error.
        #[source]
        source: Option<BoxError>,
    },

    /// The engine's newest API is older than the oldest berth can use.
    #[error(
        "the engine at `{endpoint}` speaks Docker API {server_api_version}, older than {minimum}, the oldest berth supports"
    )]
    ApiTooOld {
        /// The address of the engine.
        endpoint: String,
        /// The newest API version the engine offers.
        server_api_version: String,
        /// The oldest API version berth supports.
        minimum: String,
    },

    /// The engine answered with an HTTP error status.
    #[error("{operation} failed: the engine answered {status_code}: {message}")]
    Api {
        /// What berth asked.
        operation: Operation,
        /// The HTTP status code.
        status_code: u16,
        /// The engine's own message, verbatim.
        message: String,
    },

    /// The image is not present on the engine.
    #[error("image `{reference}` is not present on the engine")]
    ImageNotFound {
        /// The image reference asked for.
        reference: String,
    },

    /// No container has this id or name.
    #[error("no container `{id}` on the engine")]
    ContainerNotFound {
        /// The container id or name asked for.
        id: String,
    },

    /// A pull failed: refused up front (`status_code`) or part-way, inside the progress
    /// stream (no status code).
    #[error("pulling `{reference}` failed: {message}")]
    Pull {
        /// The reference being pulled.
        reference: String,
        /// The HTTP status, when the engine refused the pull up front.
        status_code: Option<u16>,
        /// The engine's message, verbatim.
        message: String,
    },

    /// A push failed: refused up front (`status_code`) or part-way, inside the progress
    /// stream (no status code).
    #[error("pushing `{reference}` failed: {message}")]
    Push {
        /// The reference being pushed.
        reference: String,
        /// The HTTP status, when the engine refused the push up front.
        status_code: Option<u16>,
        /// The engine's message, verbatim.
        message: String,
    },

    /// Loading an image archive failed.
    #[error("loading the image archive `{archive}` failed: {message}")]
    Load {
        /// The archive's path.
        archive: String,
        /// What went wrong (the engine's message, or the I/O error).
        message: String,
    },

    /// The container spec cannot be expressed to the engine.
    #[error("invalid container spec: `{field}` {problem}")]
    InvalidSpec {
        /// The offending field of [`ContainerSpec`](crate::ContainerSpec).
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },

    /// The request got no answer in time.
    #[error("{operation} timed out")]
    Timeout {
        /// What berth asked.
        operation: Operation,
    },

    /// The connection broke during a request.
    #[error("{operation} failed: the connection to the engine broke")]
    Transport {
        /// What berth asked.
        operation: Operation,
        /// The transport error.
        #[source]
        source: BoxError,
    },

    /// The engine answered something berth cannot understand.
    #[error("{operation} failed: unexpected answer from the engine: {problem}")]
    Protocol {
        /// What berth asked.
        operation: Operation,
        /// What was wrong with the answer.
        problem: String,
    },
}

/// How to start an engine, for every "nothing to talk to" hint.
pub(crate) const START_ENGINE_HINT: &str = "start a container engine: install Docker \
(`apt-get install docker.io`) and start it (`systemctl start docker`, or run `dockerd`), or run \
Podman's API service (`podman system service --time=0 &`) and set \
`DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock`";

impl EngineError {
    /// What the user can do about this error, if there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Endpoint(e) => e.hint(),
            Self::Unreachable { endpoint, reason, .. } => Some(match reason {
                UnreachableReason::SocketMissing | UnreachableReason::ConnectionRefused => {
                    format!("no engine is listening at `{endpoint}`; {START_ENGINE_HINT}")
                }
                UnreachableReason::PermissionDenied => format!(
                    "this user may not open `{endpoint}`: add it to the `docker` group \
                     (`sudo usermod -aG docker $USER`, then log in again), or use a rootless \
                     engine (rootless Docker or Podman) and point `DOCKER_HOST` at its socket"
                ),
                UnreachableReason::TimedOut => format!(
                    "the engine at `{endpoint}` did not answer in time; check that it is \
                     healthy with `docker info`"
                ),
                UnreachableReason::Tls => "check `DOCKER_CERT_PATH` (it must hold `ca.pem`, \
                     `cert.pem` and `key.pem`) and that the server's certificate is signed by \
                     that `ca.pem`"
                    .to_owned(),
                UnreachableReason::Other => format!(
                    "check that `{endpoint}` is the address of a Docker-compatible engine \
                     (`DOCKER_HOST`)"
                ),
            }),
            Self::ApiTooOld { .. } => {
                Some("upgrade the engine: berth needs Docker 19.03 or newer, or Podman 3 or newer".to_owned())
            }
            Self::ImageNotFound { reference } => {
                Some(format!("pull it first (`docker pull {reference}`), or check the image reference"))
            }
            Self::Api { status_code, message, .. } => {
                if message.contains("bind source path does not exist") {
                    Some(
                        "every mount source must exist on the engine's host before the container is created".to_owned(),
                    )
                } else if *status_code == 409 && message.contains("is running") {
                    Some("stop the container first, or remove it with force".to_owned())
                } else if *status_code == 409 && message.contains("image") {
                    Some("remove the containers using it first, or use `--force`".to_owned())
                } else {
                    None
                }
            }
            Self::Pull { .. } => Some(
                "check the reference, that the registry is reachable from the engine, and the \
                 registry credentials"
                    .to_owned(),
            ),
            Self::Push { message, .. } => {
                Some(if message.contains("unauthorized") || message.contains("authentication") {
                    "log in to the registry first (`berth login REGISTRY`)".to_owned()
                } else {
                    "check that the registry is reachable from the engine and accepts pushes (a plain-HTTP registry \
                 must be on loopback or listed in the engine's `insecure-registries`)"
                        .to_owned()
                })
            }
            Self::Load { .. } => Some(
                "give a `docker save` archive (holding `manifest.json`) or an OCI archive (holding `index.json`)"
                    .to_owned(),
            ),
            Self::Timeout { .. } => Some("the engine is slow or stuck; check it with `docker info`".to_owned()),
            Self::ContainerNotFound { .. }
            | Self::InvalidSpec { .. }
            | Self::Transport { .. }
            | Self::Protocol { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_denied_hints_at_the_docker_group_and_rootless() {
        let e = EngineError::Unreachable {
            endpoint: "unix:///var/run/docker.sock".into(),
            reason: UnreachableReason::PermissionDenied,
            source: None,
        };
        let hint = e.hint().expect("a hint");
        assert!(hint.contains("`docker` group"), "{hint}");
        assert!(hint.contains("rootless"), "{hint}");
        assert_eq!(
            e.to_string(),
            "cannot reach a container engine at `unix:///var/run/docker.sock`: permission denied"
        );
    }

    #[test]
    fn missing_socket_hints_at_how_to_start_an_engine() {
        let e = EngineError::Unreachable {
            endpoint: "unix:///var/run/docker.sock".into(),
            reason: UnreachableReason::SocketMissing,
            source: None,
        };
        let hint = e.hint().expect("a hint");
        assert!(hint.contains("apt-get install docker.io"), "{hint}");
        assert!(hint.contains("podman system service"), "{hint}");
    }

    #[test]
    fn api_errors_keep_status_and_message_apart() {
        let e = EngineError::Api {
            operation: Operation::CreateContainer,
            status_code: 400,
            message: "invalid mount config for type \"bind\": bind source path does not exist: /nope".into(),
        };
        assert!(matches!(e, EngineError::Api { status_code: 400, .. }));
        assert!(e.to_string().starts_with("creating a container failed: the engine answered 400: "));
        assert!(e.hint().is_some());
    }
}
