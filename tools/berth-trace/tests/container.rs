//! berth-trace as a container's entry point under the engine's default seccomp profile, with
//! every capability dropped and `no-new-privileges`: ptrace of one's own children needs none.
//!
//! Needs a container engine (`BERTH_TEST_ENGINE`, else `podman`, else `docker`), root for the
//! debootstrap fixture, and builds the static binary: run with
//! `cargo test -p berth-trace --test container -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
#[ignore = "end-to-end: needs a container engine and root; run with --ignored"]
fn traces_inside_a_container_with_default_seccomp_and_no_capabilities() {
    let engine = std::env::var("BERTH_TEST_ENGINE").unwrap_or_else(|_| {
        let has = |e: &str| Command::new(e).arg("--version").output().is_ok_and(|o| o.status.success());
        if has("podman") { "podman".to_owned() } else { "docker".to_owned() }
    });
    let binary = stdout_of(&mut Command::new(repo().join("tools/berth-trace/build.sh")));
    let tarball = stdout_of(Command::new(repo().join("scripts/test-rootfs.sh")).args(["tarball", "minbase"]));
    let image = "berth-test/berth-trace-minbase:latest";
    stdout_of(Command::new(&engine).args(["import", "-q", &tarball, image]));
    let out = tempfile::tempdir().expect("tempdir");
    let status = Command::new(&engine)
        .args(["run", "--rm", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"])
        // Some sandboxes refuse the engine's default rlimits; these lower ones are always allowed.
        .args(["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"])
        .arg("-v")
        .arg(format!("{binary}:/berth/berth-trace:ro"))
        .arg("-v")
        .arg(format!("{}:/out", out.path().display()))
        .args([image, "/berth/berth-trace", "--output", "/out/t.jsonl", "--"])
        .args(["/bin/sh", "-c", "sha256sum /etc/os-release >/dev/null; exit 4"])
        .status()
        .expect("the engine runs");
    assert_eq!(status.code(), Some(4), "the program's status comes back through the container");
    let text = std::fs::read_to_string(out.path().join("t.jsonl")).expect("the trace was written");
    for line in [
        r#"{"op":"exec","path":"/bin/sh","ok":true}"#,
        r#"{"op":"open","path":"/etc/os-release","ok":true}"#,
        r#"{"op":"interp","path":"/lib64/ld-linux-x86-64.so.2","ok":true}"#,
        r#"{"op":"exec","path":"/usr/bin/sha256sum","ok":true}"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in:\n{text}");
    }
}
