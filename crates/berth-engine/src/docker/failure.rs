//! Turning bollard's errors into [`EngineError`]s with structured fields.

use std::io;

use bollard::errors::Error as BollardError;

use crate::endpoint::Endpoint;
use crate::error::{EngineError, Operation, UnreachableReason};

/// The kinds of the `io::Error`s in `err`'s chain, outermost first.
fn io_kinds(err: &BollardError) -> Vec<io::ErrorKind> {
    // `#[error(transparent)]` variants report their inner error's *source* as theirs, so
    // the inner error itself has to be looked at first.
    let start: &(dyn std::error::Error + 'static) = match err {
        BollardError::IOError { err } => err,
        BollardError::HyperResponseError { err } => err,
        other => other,
    };
    let mut kinds = Vec::new();
    let mut current = Some(start);
    while let Some(e) = current {
        current = match e.downcast_ref::<io::Error>() {
            // An io::Error wrapping another error (hyper wraps rustls's this way) reports the
            // wrapped error's source, skipping the wrapped error: step into it instead.
            Some(io) => {
                kinds.push(io.kind());
                io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static))
            }
            None => e.source(),
        };
    }
    kinds
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

fn reason_from_io(kinds: &[io::ErrorKind], tls: bool) -> UnreachableReason {
    // rustls reports bad certificates as InvalidData, wrapped in an Other by the connector.
    if tls && kinds.contains(&io::ErrorKind::InvalidData) {
        return UnreachableReason::Tls;
    }
    let kind = kinds.iter().copied().find(|k| *k != io::ErrorKind::Other).unwrap_or(io::ErrorKind::Other);
    match kind {
        io::ErrorKind::NotFound => UnreachableReason::SocketMissing,
        io::ErrorKind::PermissionDenied => UnreachableReason::PermissionDenied,
        io::ErrorKind::ConnectionRefused => UnreachableReason::ConnectionRefused,
        io::ErrorKind::TimedOut => UnreachableReason::TimedOut,
        _ => UnreachableReason::Other,
    }
}

/// Classify a bollard error raised while doing `operation` against `endpoint`.
pub(crate) fn classify(err: BollardError, operation: Operation, endpoint: &Endpoint) -> EngineError {
    let tls = matches!(endpoint, Endpoint::Tcp { tls: Some(_), .. });
    let unreachable = |reason, source: Option<crate::error::BoxError>| EngineError::Unreachable {
        endpoint: endpoint.to_string(),
        reason,
        source,
    };
    match err {
        BollardError::DockerResponseServerError { status_code, message } => {
            EngineError::Api { operation, status_code, message }
        }
        BollardError::RequestTimeoutError if operation == Operation::Connect => {
            unreachable(UnreachableReason::TimedOut, None)
        }
        BollardError::RequestTimeoutError => EngineError::Timeout { operation },
        BollardError::SocketNotFoundError(_) => unreachable(UnreachableReason::SocketMissing, Some(Box::new(err))),
        BollardError::CertPathError { .. }
        | BollardError::CertMultipleKeys { .. }
        | BollardError::CertParseError { .. }
        | BollardError::NoNativeCertsError { .. }
        | BollardError::LoadNativeCertsErrors { .. }
        | BollardError::NoHomePathError => unreachable(UnreachableReason::Tls, Some(Box::new(err))),
        BollardError::JsonDataError { message, .. } => EngineError::Protocol { operation, problem: message },
        BollardError::JsonSerdeError { err } => EngineError::Protocol { operation, problem: err.to_string() },
        BollardError::APIVersionParseError {} => {
            EngineError::Protocol { operation, problem: "the engine's API version could not be parsed".to_owned() }
        }
        other => {
            if operation == Operation::Connect || is_connect_failure(&other) {
                let reason = reason_from_io(&io_kinds(&other), tls);
                unreachable(reason, Some(Box::new(other)))
            } else {
                EngineError::Transport { operation, source: Box::new(other) }
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
        EngineError::Api { status_code: 404, .. } => EngineError::ContainerNotFound { id: id.to_owned() },
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
            BollardError::DockerResponseServerError { status_code: 409, message: "conflict".into() },
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
            BollardError::DockerResponseServerError { status_code: 404, message: "No such container: abc".into() },
            Operation::StartContainer,
            &sock(),
            "abc",
        );
        assert!(matches!(e, EngineError::ContainerNotFound { ref id } if id == "abc"));
    }

    #[test]
    fn io_errors_while_connecting_say_why() {
        let e = classify(
            BollardError::IOError { err: io::Error::from(io::ErrorKind::PermissionDenied) },
            Operation::Connect,
            &sock(),
        );
        assert!(matches!(e, EngineError::Unreachable { reason: UnreachableReason::PermissionDenied, .. }));
        assert!(e.source().is_some());
    }

    #[test]
    fn a_certificate_error_wrapped_by_the_connector_is_a_tls_failure() {
        // The shape hyper-rustls gives: Other(InvalidData(rustls error)).
        let inner = io::Error::new(io::ErrorKind::InvalidData, "invalid peer certificate");
        let err = BollardError::IOError { err: io::Error::other(inner) };
        let tls = Endpoint::Tcp {
            address: "127.0.0.1:2376".into(),
            tls: Some(crate::endpoint::TlsFiles::in_dir(std::path::Path::new("/certs"))),
        };
        let e = classify(err, Operation::Connect, &tls);
        assert!(matches!(e, EngineError::Unreachable { reason: UnreachableReason::Tls, .. }));
    }

    #[test]
    fn timeouts_after_connecting_name_the_operation() {
        let e = classify(BollardError::RequestTimeoutError, Operation::InspectImage, &sock());
        assert_eq!(e.to_string(), "inspecting an image timed out");
    }
}
