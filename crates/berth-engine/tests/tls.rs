//! `tcp://` with TLS client certificates (`DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`) against a
//! real `dockerd --tlsverify` that this test starts on loopback with certificates it makes
//! with `openssl`.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_engine::env::{self, Env};
use berth_engine::{DockerEngine, Endpoint, Engine, EngineError, EngineKind, UnreachableReason};

fn openssl(dir: &Path, args: &[&str]) {
    let out =
        Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl (Debian's `openssl` package)");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A CA in `dir/<name>` and a certificate signed by it, for `usage` (`serverAuth` or
/// `clientAuth`), as `<prefix>cert.pem` / `<prefix>key.pem` plus `ca.pem`.
fn make_ca(dir: &Path) {
    fs::create_dir_all(dir).expect("mkdir");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=berth-test-ca",
        ],
    );
}

fn make_cert(dir: &Path, prefix: &str, ext: &str) {
    let key = format!("{prefix}key.pem");
    let csr = format!("{prefix}.csr");
    let cert = format!("{prefix}cert.pem");
    let extfile = format!("{prefix}.ext");
    fs::write(dir.join(&extfile), ext).expect("ext file");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=berth-test",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "1",
            "-extfile",
            &extfile,
        ],
    );
}

/// A `dockerd` this test started; stopped (SIGTERM, then SIGKILL) when dropped.
struct TlsDaemon {
    child: Child,
}

impl Drop for TlsDaemon {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop the containerd it started; SIGKILL would orphan it.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

fn start_tls_daemon(dir: &Path, port: u16) -> TlsDaemon {
    let log = dir.join("dockerd.log");
    let server = dir.join("server");
    let child = Command::new("dockerd")
        .args(["--tlsverify", "--tlscacert"])
        .arg(server.join("ca.pem"))
        .arg("--tlscert")
        .arg(server.join("servercert.pem"))
        .arg("--tlskey")
        .arg(server.join("serverkey.pem"))
        .args(["-H", &format!("tcp://127.0.0.1:{port}")])
        .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("docker.pid"))
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).expect("log file"))
        .stderr(fs::File::create(dir.join("dockerd.err")).expect("log file"))
        .spawn()
        .expect("start dockerd (installed by scripts/dockerd.sh)");
    TlsDaemon { child }
}

fn tls_env(port: u16, cert_dir: &Path) -> Env {
    Env::from_pairs([
        (env::DOCKER_HOST, format!("tcp://127.0.0.1:{port}")),
        (env::DOCKER_TLS_VERIFY, "1".to_owned()),
        (env::DOCKER_CERT_PATH, cert_dir.display().to_string()),
    ])
}

#[tokio::test]
async fn tls_client_certificates_from_docker_cert_path_reach_a_tlsverify_daemon() {
    // Makes sure `dockerd` is installed (and the shared engine is up) before starting ours.
    common::docker_host();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = dir.path().join("server");
    make_ca(&server);
    make_cert(&server, "server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    make_cert(&server, "", "extendedKeyUsage=clientAuth\n");
    // The client's DOCKER_CERT_PATH: ca.pem, cert.pem, key.pem, as the docker client wants.
    let client = dir.path().join("client");
    fs::create_dir_all(&client).expect("mkdir");
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        fs::copy(server.join(f), client.join(f)).expect("copy");
    }
    // A second CA the daemon does not know, to check the server is really verified.
    let stranger = dir.path().join("stranger");
    make_ca(&stranger);
    make_cert(&stranger, "", "extendedKeyUsage=clientAuth\n");

    let port = free_port();
    let daemon = start_tls_daemon(dir.path(), port);
    let endpoint = Endpoint::docker_from_env(&tls_env(port, &client)).expect("endpoint");
    assert!(matches!(endpoint, Endpoint::Tcp { tls: Some(_), .. }));

    let deadline = Instant::now() + Duration::from_secs(60);
    let engine = loop {
        match DockerEngine::connect(&endpoint).await {
            Ok(engine) => break engine,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!(
                "the TLS dockerd did not answer within 60s: {e}\n{}",
                fs::read_to_string(dir.path().join("dockerd.err")).unwrap_or_default()
            ),
        }
    };
    let info = engine.info().await.expect("info over TLS");
    assert_eq!(info.kind, EngineKind::Docker);
    assert_eq!(info.endpoint, format!("tcp://127.0.0.1:{port}"));
    engine.list_containers(&[]).await.expect("list over TLS");

    // Certificates from a CA the daemon does not trust: the handshake fails, and berth says
    // it was TLS.
    let wrong = Endpoint::docker_from_env(&tls_env(port, &stranger)).expect("endpoint");
    let err = DockerEngine::connect(&wrong).await.expect_err("untrusted");
    assert!(matches!(err, EngineError::Unreachable { reason: UnreachableReason::Tls, .. }), "{err:?}");
    assert!(err.hint().expect("hint").contains("DOCKER_CERT_PATH"));
    drop(daemon);
}
