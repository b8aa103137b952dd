//! End-to-end on real Debian root filesystems built with debootstrap (`scripts/test-rootfs.sh`,
//! cached under `target/berth-fixtures/`): berth's deb inventory equals Syft's and Trivy's
//! (Jaccard 1.0, `tests/peers/agreement.py`), as a directory and as an image archive, and an
//! image read through a real Docker engine's export equals the directory it was imported from.
//!
//! Needs root, debootstrap (installed by the script), network to a Debian mirror and PyPI the
//! first time, Python 3, and for the engine test a Docker engine (`DOCKER_HOST`, or the private
//! one of `scripts/dockerd.sh`). Fails with the reason when one is missing; never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use berth_inventory::{Inventory, PackageKind, SbomOptions, Target, sbom, sbom_local};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// Run `scripts/test-rootfs.sh ARGS` and return the path it prints.
fn fixture(args: &[&str]) -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("scripts/test-rootfs.sh"))
        .args(args)
        .output()
        .expect("run scripts/test-rootfs.sh");
    assert!(
        out.status.success(),
        "building the debootstrap fixture {args:?} failed (it needs root, debootstrap and a Debian mirror):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).expect("utf-8").trim())
}

fn agree(target: &str, rootfs: &Path, inventory: &Inventory) {
    let dir = tempfile::tempdir().expect("tmp");
    let json = dir.path().join("berth.json");
    std::fs::write(&json, serde_json::to_vec(inventory).expect("json")).expect("write");
    let out = Command::new("python3")
        .arg(repo().join("tests/peers/agreement.py"))
        .args(["--target", target, "--rootfs"])
        .arg(rootfs)
        .arg("--berth-json")
        .arg(&json)
        .output()
        .expect("run python3 tests/peers/agreement.py");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(
        out.status.success(),
        "berth and its peers disagree on {target}:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn same_packages(a: &Inventory, b: &Inventory) {
    let key = |i: &Inventory| {
        i.packages
            .iter()
            .map(|p| (p.kind, p.name.clone(), p.version.clone(), p.source_version.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(a), key(b));
}

fn check(name: &str) {
    let rootfs = fixture(&[name]);
    let archive = fixture(&["archive", name]);
    let from_dir = sbom_local(&Target::Rootfs(rootfs.clone())).expect("rootfs inventory");
    assert!(from_dir.packages.iter().filter(|p| p.kind == PackageKind::Deb).count() > 80);
    let from_archive = sbom_local(&Target::DockerArchive(archive.clone())).expect("archive inventory");
    same_packages(&from_dir, &from_archive);
    agree(&format!("dir:{}", rootfs.display()), &rootfs, &from_dir);
    agree(&format!("docker-archive:{}", archive.display()), &rootfs, &from_archive);
}

#[test]
fn debootstrap_minbase_agrees_with_syft_and_trivy_as_rootfs_and_archive() {
    check("minbase");
}

#[test]
fn debootstrap_analysis_image_agrees_with_syft_and_trivy_as_rootfs_and_archive() {
    check("analysis");
}

/// The private engine's address: `DOCKER_HOST`, or `scripts/dockerd.sh start`.
fn docker_host() -> String {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        return host;
    }
    let out =
        Command::new("bash").arg(repo().join("scripts/dockerd.sh")).arg("start").output().expect("run dockerd.sh");
    assert!(out.status.success(), "no Docker engine for the engine test:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .find_map(|l| l.strip_prefix("export DOCKER_HOST="))
        .expect("dockerd.sh prints export DOCKER_HOST=")
        .to_owned()
}

#[tokio::test]
async fn real_docker_engine_export_of_an_imported_rootfs_equals_the_rootfs() {
    let rootfs = fixture(&["minbase"]);
    let tarball = fixture(&["tarball", "minbase"]);
    let host = docker_host();
    let tag = "berth-test/minbase:scan";
    let import = Command::new("docker")
        .env("DOCKER_HOST", &host)
        .args(["import", "--change", "CMD [\"/bin/sh\"]"])
        .arg(&tarball)
        .arg(tag)
        .output()
        .expect("run docker import (Debian's docker.io provides the client)");
    assert!(import.status.success(), "docker import failed: {}", String::from_utf8_lossy(&import.stderr));
    let endpoint = berth_engine::Endpoint::parse(&host, Some("DOCKER_HOST"), &berth_engine::env::Env::from_process())
        .expect("endpoint");
    let engine = berth_engine::DockerEngine::connect(&endpoint).await.expect("connect");
    let options = SbomOptions { engine: Some(Arc::new(engine)), temp_dir: None };
    let from_engine = sbom(&Target::Image(tag.to_owned()), &options).await.expect("engine inventory");
    assert_eq!(from_engine.target.kind, berth_inventory::TargetKind::Image);
    assert!(from_engine.target.image_id.as_deref().is_some_and(|i| i.starts_with("sha256:")));
    let from_dir = sbom_local(&Target::Rootfs(rootfs)).expect("rootfs inventory");
    same_packages(&from_dir, &from_engine);
}
