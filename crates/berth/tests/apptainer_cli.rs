//! `berth run --engine apptainer` end to end through a recording stand-in for the `apptainer`
//! command (Apptainer is not packaged for the machines CI runs on; the engine crate's
//! `apptainer` tests run a real one when it is installed).

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn a_run_on_apptainer_pulls_a_sif_execs_it_hardened_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.path().join("exec.args");
    let script = format!(
        r#"#!/bin/sh
case "$1" in
  --version) echo "apptainer version 1.3.4" ;;
  inspect) echo '{{}}' ;;
  pull) echo SIF > "$3" ;;
  exec|run)
    for a in "$@"; do [ "$a" = test ] && exit 0; done
    printf '%s\n' "$@" > '{log}'
    echo "tool output"; exit 5 ;;
esac
"#,
        log = log.display()
    );
    std::fs::write(bin.join("apptainer"), script).unwrap();
    std::fs::set_permissions(bin.join("apptainer"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let descriptor = dir.path().join("t.json");
    std::fs::write(
        &descriptor,
        r#"{"name": "t", "tool-version": "1", "description": "d", "schema-version": "0.5", "command-line": "echo [X]",
            "container-image": {"type": "docker", "image": "example/tool:1"},
            "inputs": [{"id": "x", "name": "X", "type": "String", "value-key": "[X]"}]}"#,
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let berth = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("BERTH_HOME", dir.path().join("home"))
            .env("BERTH_CONFIG", dir.path().join("no-config.toml"))
            .env_remove("DOCKER_HOST")
            .env_remove("CONTAINER_HOST")
            .output()
            .unwrap()
    };
    let out = berth(&[
        "run",
        "--engine",
        "apptainer",
        descriptor.to_str().unwrap(),
        "-i",
        r#"{"x": "hi"}"#,
        "--output-dir",
        "o",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tool output\n");
    let args: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(&args[..5], ["exec", "--cleanenv", "--containall", "--no-home", "--no-privs"]);
    assert!(args.windows(3).any(|w| w == ["--net", "--network", "none"]), "{args:?}");
    let sif = dir.path().join("home/apptainer/example_tool_1.sif");
    assert!(args.contains(&sif.to_string_lossy().into_owned()), "the SIF pulled into berth's home runs: {args:?}");
    let out_dir = dir.path().join("o").canonicalize().unwrap();
    assert!(args.contains(&format!("{}:/berth/out:rw", out_dir.display())), "{args:?}");

    let runs: serde_json::Value = serde_json::from_slice(&berth(&["runs", "--json"]).stdout).unwrap();
    let id = runs[0]["id"].as_str().unwrap();
    let record: serde_json::Value = serde_json::from_slice(&berth(&["show", "--json", id]).stdout).unwrap();
    assert_eq!(record["public-output"]["exit-code"], 5);
    assert_eq!(record["berth"]["engine"]["kind"], "apptainer", "{}", record["berth"]["engine"]);
}
