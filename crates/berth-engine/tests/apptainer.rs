//! The Apptainer engine: flags composed from a spec, and the container life cycle driven
//! through a recording stand-in for the `apptainer` command (Apptainer is not packaged for
//! the machines CI runs on). With a real `apptainer` on `PATH`, the last test runs a SIF.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_engine::apptainer::{ApptainerEngine, exec_args};
use berth_engine::{BindMount, ContainerSpec, Engine, Gpus, LogStreamKind, Network, NoProgress, UserId};
use futures_util::StreamExt;

/// A stand-in `apptainer`: records each call's arguments (one per line, calls separated by a
/// blank line) and behaves like the real command for what the engine needs.
fn fake_apptainer(dir: &Path, exit_code: i32) -> PathBuf {
    let log = dir.join("calls.log");
    let script = format!(
        r#"#!/bin/sh
for a in "$@"; do printf '%s\n' "$a" >> '{log}'; done; echo >> '{log}'
case "$1" in
  --version) echo "apptainer version 1.3.4" ;;
  inspect) echo '{{"data": {{"attributes": {{"labels": {{"org.berth.test": "yes"}}}}}}}}' ;;
  pull) echo "SIF" > "$3" ;;
  exec|run)
    for a in "$@"; do [ "$a" = test ] && exit 0; done
    echo "hello from apptainer"; echo "a warning" >&2
    for a in "$@"; do [ "$a" = sleep ] && exec sleep 30; done
    exit {exit_code} ;;
esac
"#,
        log = log.display()
    );
    let path = dir.join("apptainer");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn calls(dir: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .split("\n\n")
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.lines().map(str::to_owned).collect())
        .collect()
}

fn hardened(image: &str, cmd: &[&str]) -> ContainerSpec {
    let mut spec = ContainerSpec::new(image, cmd.iter().copied());
    spec.entrypoint = Some(vec!["/bin/sh".into()]);
    spec.cap_drop = vec!["ALL".into()];
    spec.security_opt = vec!["no-new-privileges".into()];
    spec.network = Network::Disabled;
    spec.user = Some(UserId { uid: 65534, gid: 65534 });
    spec.working_dir = Some("/berth/out".into());
    spec.mounts = vec![
        BindMount { source: "/data/in.nii".into(), target: "/berth/in/data/in.nii".into(), read_only: true },
        BindMount { source: "/work/out".into(), target: "/berth/out".into(), read_only: false },
    ];
    spec.env = vec![("OMP_NUM_THREADS".into(), "1".into())];
    spec.memory_bytes = Some(512 << 20);
    spec.nano_cpus = Some(1_500_000_000);
    spec.pids_limit = Some(1024);
    spec.labels = BTreeMap::from([("berth.run-id".to_owned(), "r1".to_owned())]);
    spec
}

#[test]
fn a_hardened_spec_becomes_exec_with_cleanenv_containall_binds_and_limits() {
    let spec = hardened("tool.sif", &["/berth/command.sh"]);
    let args = exec_args(&spec, "/sifs/tool.sif", false).unwrap();
    let expected = [
        "exec",
        "--cleanenv",
        "--containall",
        "--no-home",
        "--no-privs",
        "--net",
        "--network",
        "none",
        "--bind",
        "/data/in.nii:/berth/in/data/in.nii:ro",
        "--bind",
        "/work/out:/berth/out:rw",
        "--pwd",
        "/berth/out",
        "--env",
        "OMP_NUM_THREADS=1",
        "--memory",
        "536870912",
        "--cpus",
        "1.5",
        "--pids-limit",
        "1024",
        "/sifs/tool.sif",
        "/bin/sh",
        "/berth/command.sh",
    ];
    assert_eq!(args, expected);
    // Only root may pick another identity; everyone else runs as themselves.
    let as_root = exec_args(&spec, "/sifs/tool.sif", true).unwrap();
    assert!(as_root.windows(2).any(|w| w == ["--security", "uid:65534,gid:65534"]), "{as_root:?}");

    // No entrypoint override: the image's runscript runs with the arguments.
    let mut plain = ContainerSpec::new("x.sif", ["--help"]);
    plain.gpus = Gpus::All;
    let args = exec_args(&plain, "x.sif", false).unwrap();
    assert_eq!(args.first().map(String::as_str), Some("run"));
    assert!(args.contains(&"--nv".to_owned()));
    assert_eq!(&args[args.len() - 2..], ["x.sif", "--help"]);

    // A path Apptainer's bind syntax cannot carry is refused, naming it.
    let mut bad = hardened("tool.sif", &["x"]);
    bad.mounts[0].source = "/data/a:b".into();
    let err = exec_args(&bad, "tool.sif", false).unwrap_err().to_string();
    assert!(err.contains("/data/a:b"), "{err}");
}

/// Apptainer's `--env` reads a value with more than one `=` as CSV: a comma in a value set a
/// second variable (`LD_PRELOAD`) before berth quoted it. Names, capabilities, newlines in bind
/// paths and an image path that looks like a flag are refused or made harmless too.
#[test]
fn extra_apptainer_values_never_become_other_flags_or_variables() {
    use berth_engine::apptainer::env_arg;
    let mut spec = hardened("tool.sif", &["x"]);
    spec.env = vec![("OPTS".into(), "a,LD_PRELOAD=/tmp/evil.so".into())];
    let args = exec_args(&spec, "/sifs/tool.sif", false).unwrap();
    let env = args.windows(2).find(|w| w[0] == "--env").map(|w| w[1].clone()).unwrap();
    assert_eq!(env, r#""OPTS=a,LD_PRELOAD=/tmp/evil.so""#);
    // What pflag's stringToString + Go's encoding/csv make of it: one field, one variable.
    assert_eq!(env_arg("Q", r#"say "hi"=x"#).unwrap(), r#""Q=say ""hi""=x""#);
    assert_eq!(env_arg("PLAIN", "a,b c").unwrap(), "PLAIN=a,b c");
    assert!(env_arg("A=B", "x").is_err());
    assert!(env_arg("A,B", "x").is_err());
    assert!(env_arg("-A", "x").is_err());
    assert!(env_arg("A", "ends in \"").is_err());
    let mut caps = hardened("tool.sif", &["x"]);
    caps.cap_drop = vec!["NET_RAW,SYS_ADMIN".into()];
    assert!(exec_args(&caps, "t.sif", false).unwrap_err().to_string().contains("capability"));
    let mut nl = hardened("tool.sif", &["x"]);
    nl.mounts[0].target = "/berth/in\n/x".into();
    assert!(exec_args(&nl, "t.sif", false).is_err());
    let dashed = exec_args(&hardened("tool.sif", &["x"]), "--bind=/:/host", false).unwrap();
    assert!(dashed.contains(&"./--bind=/:/host".to_owned()), "{dashed:?}");
}

#[tokio::test]
async fn a_container_runs_through_the_command_with_its_logs_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_apptainer(dir.path(), 3);
    let engine = ApptainerEngine::new(&bin, dir.path().join("sifs"));
    let info = engine.info().await.unwrap();
    assert_eq!(info.server_version, "1.3.4");

    // A registry reference is pulled into the SIF directory, then found there.
    assert!(engine.inspect_image("example/tool:1").await.unwrap().is_none());
    engine.pull_image("example/tool:1", None, &NoProgress).await.unwrap();
    let image = engine.inspect_image("example/tool:1").await.unwrap().expect("pulled");
    assert!(image.id.starts_with("sha256:"), "{}", image.id);
    assert_eq!(image.labels.get("org.berth.test").map(String::as_str), Some("yes"));

    let spec = hardened(&image.id, &["/berth/command.sh"]);
    let created = engine.create_container(&spec).await.unwrap();
    assert!(engine.path_exists(&created.id, "/bin/sh").await.unwrap());
    engine.start_container(&created.id).await.unwrap();
    let mut logs = engine.container_logs(&created.id, true);
    let waited = engine.wait_container(&created.id).await.unwrap();
    assert_eq!(waited.exit_code, 3);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), logs.next()).await.expect("logs end") {
        let chunk = chunk.unwrap();
        match chunk.stream {
            LogStreamKind::Stderr => err.extend_from_slice(&chunk.bytes),
            _ => out.extend_from_slice(&chunk.bytes),
        }
    }
    assert_eq!(String::from_utf8(out).unwrap(), "hello from apptainer\n");
    assert_eq!(String::from_utf8(err).unwrap(), "a warning\n");
    let inspected = engine.inspect_container(&created.id).await.unwrap();
    assert_eq!(inspected.state.exit_code, Some(3));
    assert_eq!(inspected.applied.network_mode.as_deref(), Some("none"));
    let listed = engine.list_containers(&[berth_engine::LabelFilter::equals("berth.run-id", "r1")]).await.unwrap();
    assert_eq!(listed.len(), 1);
    engine.remove_container(&created.id, false).await.unwrap();
    assert!(engine.list_containers(&[]).await.unwrap().is_empty());

    let sif = engine.sif_path("example/tool:1").to_string_lossy().into_owned();
    let exec = calls(dir.path()).into_iter().find(|c| c[0] == "exec" && !c.contains(&"test".to_owned())).unwrap();
    assert_eq!(&exec[..5], ["exec", "--cleanenv", "--containall", "--no-home", "--no-privs"]);
    assert!(exec.contains(&sif), "the pulled SIF runs: {exec:?}");
    let pull = calls(dir.path()).into_iter().find(|c| c[0] == "pull").unwrap();
    assert_eq!(pull.last().map(String::as_str), Some("docker://example/tool:1"));
}

#[tokio::test]
async fn stopping_a_container_ends_its_process() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_apptainer(dir.path(), 0);
    let sif = dir.path().join("tool.sif");
    std::fs::write(&sif, "SIF").unwrap();
    let engine = ApptainerEngine::new(&bin, dir.path().join("sifs"));
    let spec = ContainerSpec::new(sif.to_str().unwrap(), ["sleep"]);
    let created = engine.create_container(&spec).await.unwrap();
    engine.start_container(&created.id).await.unwrap();
    let t = std::time::Instant::now();
    engine.stop_container(&created.id, Duration::from_secs(5)).await.unwrap();
    let waited = engine.wait_container(&created.id).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(waited.exit_code, 128 + 15, "ended by SIGTERM");
}

#[tokio::test]
async fn a_real_apptainer_runs_a_sif_when_installed() {
    let Some(bin) = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("apptainer")).find(|p| p.is_file()))
    else {
        eprintln!("skipped: apptainer not installed");
        return;
    };
    let sif = std::env::var_os("BERTH_TEST_SIF").map(PathBuf::from).expect("set BERTH_TEST_SIF to a SIF with /bin/sh");
    let dir = tempfile::tempdir().unwrap();
    let engine = ApptainerEngine::new(bin, dir.path());
    let image = engine.inspect_image(sif.to_str().unwrap()).await.unwrap().expect("the SIF");
    let mut spec = ContainerSpec::new(&image.id, ["-c", "echo real; exit 4"]);
    spec.entrypoint = Some(vec!["/bin/sh".into()]);
    let created = engine.create_container(&spec).await.unwrap();
    engine.start_container(&created.id).await.unwrap();
    assert_eq!(engine.wait_container(&created.id).await.unwrap().exit_code, 4);
}
