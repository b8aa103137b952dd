//! Set-up shared by the tests that need a real engine.
//!
//! Docker is the engine `DOCKER_HOST` names; when it is unset, the private daemon of
//! `scripts/dockerd.sh`. Podman is the service `CONTAINER_HOST` names; when it is unset, the
//! private service of `scripts/podman.sh`. Private engines are started, or reused when already
//! running, and stay running afterwards (`scripts/dockerd.sh stop`, `scripts/podman.sh stop`).
//! The test image `berth-test/busybox:latest` is imported by `scripts/busybox-image.sh` when
//! missing. Any failure here fails the test with the reason: these tests never skip.

#![allow(dead_code)] // Each test binary uses a different part of this module.

pub mod scenarios;

/// One `#[tokio::test]` per named scenario, run against `$engine` with `$quirks`.
#[allow(unused_macros)] // Only the engine test files run scenarios.
macro_rules! scenario_tests {
    ($engine:path, $quirks:path; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let engine = $engine().await;
                common::scenarios::$name(&engine, &$quirks).await;
            }
        )+
    };
}

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use berth_engine::env::Env;
use berth_engine::{DockerEngine, Endpoint, Engine, LabelFilter, LogStreamKind};
use futures_util::StreamExt;

/// The busybox image every test runs.
pub const IMAGE: &str = "berth-test/busybox:latest";

/// The label every test container carries, so leftovers of crashed runs can be removed.
pub const TEST_LABEL: &str = "berth.test";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_script(name: &str, args: &[&str], docker_host: Option<&str>) -> Result<String, String> {
    let script = repo_root().join("scripts").join(name);
    let mut cmd = Command::new(&script);
    cmd.args(args);
    if let Some(host) = docker_host {
        cmd.env("DOCKER_HOST", host);
    }
    let out = cmd.output().map_err(|e| format!("cannot run `{}`: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} {}` failed ({}):\n{}",
            script.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Find or start an engine, remove leftovers, import the image; once per test binary and
/// engine. `variable` names the engine's address (`DOCKER_HOST`, `CONTAINER_HOST`), `script`
/// starts a private one and prints `export <variable>=...`.
fn prepare(variable: &str, script: &str) -> Result<String, String> {
    let host = match std::env::var(variable).ok().filter(|h| !h.is_empty()) {
        Some(host) => host,
        None => {
            let out = run_script(script, &["start"], None)?;
            let export = format!("export {variable}=");
            out.lines()
                .find_map(|l| l.strip_prefix(export.as_str()))
                .map(str::to_owned)
                .ok_or_else(|| format!("`scripts/{script} start` printed no {variable}: {out:?}"))?
        }
    };
    // Remove containers that earlier, interrupted runs of these tests left behind. This runs
    // on its own thread because the caller may be inside a test's runtime.
    let cleanup_host = host.clone();
    std::thread::spawn(move || -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(async {
            let engine = connect(&cleanup_host).await?;
            let leftovers = engine.list_containers(&[LabelFilter::has(TEST_LABEL)]).await.map_err(|e| e.to_string())?;
            for c in leftovers {
                engine.remove_container(&c.id, true).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    })
    .join()
    .map_err(|_| "the leftover clean-up thread panicked".to_owned())??;
    run_script("busybox-image.sh", &[IMAGE], Some(&host))?;
    Ok(host)
}

async fn connect(host: &str) -> Result<DockerEngine, String> {
    let endpoint = Endpoint::parse(host, Some("DOCKER_HOST"), &Env::from_process()).map_err(|e| e.to_string())?;
    DockerEngine::connect(&endpoint).await.map_err(|e| format!("{e}\nhint: {}", e.hint().unwrap_or_default()))
}

/// The address of the Docker engine under test, preparing it on first use.
pub fn docker_host() -> String {
    static HOST: OnceLock<Result<String, String>> = OnceLock::new();
    match HOST.get_or_init(|| prepare("DOCKER_HOST", "dockerd.sh")) {
        Ok(host) => host.clone(),
        Err(e) => panic!(
            "these tests need a Docker engine and could not get one:\n{e}\n\
             (set DOCKER_HOST to a running engine, or let `scripts/dockerd.sh start` run as root)"
        ),
    }
}

/// The address of the Podman service under test, preparing it on first use.
pub fn podman_host() -> String {
    static HOST: OnceLock<Result<String, String>> = OnceLock::new();
    match HOST.get_or_init(|| prepare("CONTAINER_HOST", "podman.sh")) {
        Ok(host) => host.clone(),
        Err(e) => panic!(
            "these tests need a Podman service and could not get one:\n{e}\n\
             (set CONTAINER_HOST to a running `podman system service`, or let \
             `scripts/podman.sh start` run as root)"
        ),
    }
}

async fn connected(host: String) -> DockerEngine {
    match connect(&host).await {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    }
}

/// A connection to the Docker engine under test; panics with the reason if there is none.
pub async fn engine() -> DockerEngine {
    connected(docker_host()).await
}

/// A connection to the Podman service under test; panics with the reason if there is none.
pub async fn podman_engine() -> DockerEngine {
    connected(podman_host()).await
}

/// All of a container's output so far (or, with `follow`, until it exits), per stream.
pub async fn output(engine: &dyn Engine, id: &str, follow: bool) -> (String, String) {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut logs = engine.container_logs(id, follow);
    while let Some(chunk) = logs.next().await {
        let chunk = chunk.expect("log chunk");
        match chunk.stream {
            LogStreamKind::Stdout => stdout.extend_from_slice(&chunk.bytes),
            LogStreamKind::Stderr => stderr.extend_from_slice(&chunk.bytes),
        }
    }
    (String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}
