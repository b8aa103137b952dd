//! Turning bollard's errors into [`EngineError`]s with structured fields.

use std::io;

use bollard::errors::Error as BollardError;

use crate::endpoint::Endpoint;
use crate::error::{EngineError, Operation, UnreachableReason};

/// The kind of the first `io::Error` in `err`'s source chain, if any.
fn io_kind(err: &BollardError) -> Option<io::ErrorKind> {
    // `#[error(transparent)]` variants report their inner error's *source* as theirs, so
    // the inner error itself has to be looked at first.
    let start: &(dyn std::error::Error + 'static) = match err {
        BollardError::IOError { err } => return Some(err.kind()),
        BollardError::HyperResponseError { err } => err,
        other => other,
    };
    let mut current = Some(start);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}

/// Whether `err` failed before any request reached the engine (so the engine is unreachable,
/// whatever the operation).
fn is_connect_failure(err: &BollardError) -> bool {
    match err {
        BollardError::HyperLegacyError { err } => err.is_connect(),
        BollardError::SocketNotFoundError(_) => true,
        _ => false,
    }
}

fn reason_from_io(kind: io::ErrorKind, tls: bool) -> UnreachableReason {
    match kind {
        io::ErrorKind::NotFound => UnreachableReason::SocketMissing,
        io::ErrorKind::PermissionDenied => UnreachableReason::PermissionDenied,
        io::ErrorKind::ConnectionRefused => UnreachableReason::ConnectionRefused,
        io::ErrorKind::TimedOut => UnreachableReason::TimedOut,
        // rustls reports bad certificates as InvalidData inside the connect error.
        io::ErrorKind::InvalidData if tls => UnreachableReason::Tls,
        _ => UnreachableReason::Other,
    }
}

/// Classify a bollard error raised while doing `operation` against `endpoint`.
pub(crate) fn classify(
    err: BollardError,
    operation: Operation,
    endpoint: &Endpoint,
) -> EngineError {
    let tls = matches!(endpoint, Endpoint::Tcp { tls: Some(_), .. });
    let unreachable = |reason, source: Option<crate::error::BoxError>| EngineError::Unreachable {
        endpoint: endpoint.to_string(),
        reason,
        source,
    };
    match err {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => EngineError::Api {
            operation,
            status_code,
            message,
        },
        BollardError::RequestTimeoutError if operation == Operation::Connect => {
            unreachable(UnreachableReason::TimedOut, None)
        }
        BollardError::RequestTimeoutError => EngineError::Timeout { operation },
        BollardError::SocketNotFoundError(_) => {
            unreachable(UnreachableReason::SocketMissing, Some(Box::new(err)))
        }
        BollardError::CertPathError { .. }
        | BollardError::CertMultipleKeys { .. }
        | BollardError::CertParseError { .. }
        | BollardError::NoNativeCertsError { .. }
        | BollardError::LoadNativeCertsErrors { .. }
        | BollardError::NoHomePathError => unreachable(UnreachableReason::Tls, Some(Box::new(err))),
        BollardError::JsonDataError { message, .. } => EngineError::Protocol {
            operation,
            problem: message,
        },
        BollardError::JsonSerdeError { err } => EngineError::Protocol {
            operation,
            problem: err.to_string(),
        },
        BollardError::APIVersionParseError {} => EngineError::Protocol {
            operation,
            problem: "the engine's API version could not be parsed".to_owned(),
        },
        other => {
            let kind = io_kind(&other);
            if operation == Operation::Connect || is_connect_failure(&other) {
                let reason = kind.map_or(UnreachableReason::Other, |k| reason_from_io(k, tls));
                unreachable(reason, Some(Box::new(other)))
            } else {
                EngineError::Transport {
                    operation,
                    source: Box::new(other),
                }
            }
        }
    }
}

/// Like [`classify`], but a 404 means the container does not exist.
pub(crate) fn classify_container(
    err: BollardError,
    operation: Operation,
    endpoint: &Endpoint,
    id: &str,
) -> EngineError {
    match classify(err, operation, endpoint) {
        EngineError::Api {
            status_code: 404, ..
        } => EngineError::ContainerNotFound { id: id.to_owned() },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn sock() -> Endpoint {
        Endpoint::unix("/run/x.sock")
    }

    #[test]
    fn server_errors_keep_status_and_message() {
        let e = classify(
            BollardError::DockerResponseServerError {
                status_code: 409,
                message: "conflict".into(),
            },
            Operation::RemoveContainer,
            &sock(),
        );
        assert!(matches!(
            e,
            EngineError::Api { status_code: 409, ref message, operation: Operation::RemoveContainer } if message == "conflict"
        ));
    }

    #[test]
    fn a_404_on_a_container_operation_means_no_such_container() {
        let e = classify_container(
            BollardError::DockerResponseServerError {
                status_code: 404,
                message: "No such container: abc".into(),
            },
            Operation::StartContainer,
            &sock(),
            "abc",
        );
        assert!(matches!(e, EngineError::ContainerNotFound { ref id } if id == "abc"));
    }

    #[test]
    fn io_errors_while_connecting_say_why() {
        let e = classify(
            BollardError::IOError {
                err: io::Error::from(io::ErrorKind::PermissionDenied),
            },
            Operation::Connect,
            &sock(),
        );
        assert!(matches!(
            e,
            EngineError::Unreachable {
                reason: UnreachableReason::PermissionDenied,
                ..
            }
        ));
        assert!(e.source().is_some());
    }

    #[test]
    fn timeouts_after_connecting_name_the_operation() {
        let e = classify(
            BollardError::RequestTimeoutError,
            Operation::InspectImage,
            &sock(),
        );
        assert_eq!(e.to_string(), "inspecting an image timed out");
    }
}
