//! Connecting: errors for engines that are not there, and detection and the `berth engine`
//! report against the real engine under test.

mod common;

use std::os::unix::net::UnixListener;

use berth_engine::detect::{self, CandidateSource, SelectionReason, SystemProber};
use berth_engine::env::{self, Env};
use berth_engine::{DockerEngine, Endpoint, EngineError, EngineKind, UnreachableReason, report};

/// Tests that fork (starting the engine under test, probing for engines) hold this lock, and
/// so does the stale-socket test: a child forked while its listener is still open inherits
/// the socket for a moment, and the connection is then reset instead of refused.
static FORKS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_missing_socket_is_unreachable_with_a_hint_to_start_an_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint = Endpoint::unix(dir.path().join("docker.sock"));
    let err = DockerEngine::connect(&endpoint).await.expect_err("no engine");
    assert!(matches!(err, EngineError::Unreachable { reason: UnreachableReason::SocketMissing, .. }), "{err:?}");
    let hint = err.hint().expect("hint");
    assert!(hint.contains("podman system service") && hint.contains("docker.io"), "{hint}");
}

#[tokio::test]
async fn a_stale_socket_is_connection_refused() {
    let _no_forks = FORKS.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("docker.sock");
    // Bind and close: the socket file stays, nobody listens (a crashed daemon).
    drop(UnixListener::bind(&path).expect("bind"));
    let err = DockerEngine::connect(&Endpoint::unix(&path)).await.expect_err("no engine");
    assert!(matches!(err, EngineError::Unreachable { reason: UnreachableReason::ConnectionRefused, .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some(), "the transport error is kept");
}

#[tokio::test]
async fn a_closed_tcp_port_is_unreachable() {
    let endpoint = Endpoint::parse("tcp://127.0.0.1:9", None, &Env::default()).expect("endpoint");
    let err = DockerEngine::connect(&endpoint).await.expect_err("no engine");
    assert!(matches!(err, EngineError::Unreachable { reason: UnreachableReason::ConnectionRefused, .. }), "{err:?}");
}

fn env_for(host: &str) -> Env {
    Env::from_pairs([
        (env::DOCKER_HOST, host.to_owned()),
        (env::PATH, std::env::var("PATH").unwrap_or_default()),
        // A runtime dir with no Podman socket in it.
        (env::XDG_RUNTIME_DIR, "/nonexistent-berth-test".to_owned()),
    ])
}

#[tokio::test]
async fn detection_finds_the_engine_under_test_and_selects_it() {
    let _forks = FORKS.lock().await;
    let host = common::docker_host();
    let candidates = detect::detect_with(&env_for(&host), &SystemProber).await;
    let first = &candidates[0];
    assert_eq!(first.source, CandidateSource::DockerHost);
    assert_eq!(first.location, host);
    assert!(first.reachable, "{first:?}");
    assert_eq!(first.kind, EngineKind::Docker);
    assert!(first.version.is_some() && first.api_version.is_some(), "{first:?}");
    let podman_user = candidates
        .iter()
        .find(|c| c.source == CandidateSource::PodmanUserSocket)
        .expect("the XDG_RUNTIME_DIR candidate");
    assert!(!podman_user.reachable);
    assert_eq!(podman_user.unreachable_reason, Some(UnreachableReason::SocketMissing));

    let selected = detect::select(&candidates, None, None).expect("selected");
    assert_eq!(selected.reason, SelectionReason::FirstReachableDocker);
    let engine = detect::open(&selected).await.expect("open");
    assert_eq!(engine.info().await.expect("info").kind, EngineKind::Docker);
}

#[tokio::test]
async fn the_engine_report_names_the_engine_under_test() {
    let _forks = FORKS.lock().await;
    let host = common::docker_host();
    let report = report::report_with(&env_for(&host), &SystemProber, Some(EngineKind::Docker), None).await;
    assert!(report.is_usable(), "{report}");
    let info = report.engine.as_ref().expect("engine info");
    assert_eq!(info.endpoint, host);
    let text = report.to_string();
    assert!(text.contains(&format!("Selected: docker at {host} (asked for on the command line)")), "{text}");
    assert!(text.contains(&format!("API version      {}", info.api_version)), "{text}");

    // Asking for Podman where there is none is a problem with a hint, not a fallback.
    let report = report::report_with(&env_for(&host), &SystemProber, Some(EngineKind::Podman), None).await;
    assert!(!report.is_usable());
    let problem = report.problem.expect("problem");
    assert!(problem.message.starts_with("podman was asked for on the command line"), "{problem:?}");
    assert!(problem.hint.is_some());
}
