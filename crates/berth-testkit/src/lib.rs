//! Test set-up shared by berth's integration tests: a private Docker or Podman engine and the
//! test images, prepared once per test binary.
//!
//! Docker is the engine `DOCKER_HOST` names; when it is unset, the private daemon of
//! `scripts/dockerd.sh`. Podman is the service `CONTAINER_HOST` names, else the private one
//! of `scripts/podman.sh`. The images are built by the repository's scripts when missing:
//! `berth-test/busybox:latest` (`scripts/busybox-image.sh`) and the DICOM example
//! (`examples/dicom-normalize/build-image.sh`). A failure panics with the reason: tests that
//! need an engine never pass without one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The busybox test image.
pub const BUSYBOX: &str = "berth-test/busybox:latest";
/// The example tool's image.
pub const DICOM_NORMALIZE: &str = "berth-example/dicom-normalize:0.1.0";

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

/// Runs `scripts/NAME ARGS` (or any repository-relative script) with the engine address set.
pub fn run_script(path: &str, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
    let script = repo_root().join(path);
    let mut cmd = Command::new(&script);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("cannot run `{}`: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} {}` failed ({}):\n{}{}",
            script.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn start(variable: &str, script: &str) -> Result<String, String> {
    if let Some(host) = std::env::var(variable).ok().filter(|h| !h.is_empty()) {
        return Ok(host);
    }
    let out = run_script(&format!("scripts/{script}"), &["start"], &[])?;
    let export = format!("export {variable}=");
    out.lines()
        .find_map(|l| l.strip_prefix(export.as_str()))
        .map(str::to_owned)
        .ok_or_else(|| format!("`scripts/{script} start` printed no {variable}: {out:?}"))
}

fn or_panic(what: &str, r: &Result<String, String>) -> String {
    match r {
        Ok(v) => v.clone(),
        Err(e) => panic!(
            "this test needs {what} and could not get it:\n{e}\n(set DOCKER_HOST / CONTAINER_HOST to a running engine, \
             or run the tests as root so that scripts/dockerd.sh and scripts/podman.sh can install and start one)"
        ),
    }
}

/// The Docker engine under test (`unix://…`), with the busybox image present.
pub fn docker_host() -> String {
    static HOST: OnceLock<Result<String, String>> = OnceLock::new();
    or_panic(
        "a Docker engine",
        HOST.get_or_init(|| {
            let host = start("DOCKER_HOST", "dockerd.sh")?;
            run_script("scripts/busybox-image.sh", &[BUSYBOX], &[("DOCKER_HOST", &host)])?;
            Ok(host)
        }),
    )
}

/// The Podman service under test, with the busybox image present.
pub fn podman_host() -> String {
    static HOST: OnceLock<Result<String, String>> = OnceLock::new();
    or_panic(
        "a Podman service",
        HOST.get_or_init(|| {
            let host = start("CONTAINER_HOST", "podman.sh")?;
            run_script("scripts/busybox-image.sh", &[BUSYBOX], &[("DOCKER_HOST", &host)])?;
            Ok(host)
        }),
    )
}

/// Builds the DICOM example image on the Docker engine under test when it is missing.
pub fn dicom_image(docker_host: &str) -> String {
    static BUILT: OnceLock<Result<String, String>> = OnceLock::new();
    or_panic(
        "the dicom-normalize example image",
        BUILT.get_or_init(|| {
            run_script("examples/dicom-normalize/build-image.sh", &[], &[("DOCKER_HOST", docker_host)])?;
            Ok(DICOM_NORMALIZE.to_string())
        }),
    )
}
