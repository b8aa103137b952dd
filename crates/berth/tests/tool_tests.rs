//! `berth test` on the private Docker daemon: a descriptor's declared tests (invocation, exit
//! code, output MD5s) pass and fail for the right reasons, on the descriptor's image or another.
//!
//! Needs root (or an engine in `DOCKER_HOST`): without it these tests fail with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use serde_json::{Value, json};

fn descriptor(tests: Value) -> Value {
    json!({
        "name": "upper", "tool-version": "1", "schema-version": "0.5",
        "description": "Upper-cases a file.",
        "command-line": "tr a-z A-Z < [IN] > [OUT]; exit [CODE]",
        "container-image": {"type": "docker", "image": berth_testkit::BUSYBOX},
        "inputs": [
            {"id": "in", "name": "Input", "type": "File", "value-key": "[IN]"},
            {"id": "out", "name": "Output", "type": "String", "value-key": "[OUT]", "default-value": "upper.txt", "optional": true},
            {"id": "code", "name": "Exit code", "type": "Number", "integer": true, "value-key": "[CODE]", "default-value": 0, "optional": true}
        ],
        "output-files": [{"id": "result", "name": "Result", "path-template": "[OUT]", "optional": true}],
        "tests": tests
    })
}

fn berth(dir: &std::path::Path, host: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(dir)
        .env("BERTH_HOME", dir.join("home"))
        .env("BERTH_CONFIG", dir.join("none.toml"))
        .env_remove("BERTH_ENGINE")
        .env("DOCKER_HOST", host)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn declared_tests_pass_and_fail_for_the_right_reasons() {
    let host = berth_testkit::docker_host();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tool/data")).unwrap();
    std::fs::write(dir.path().join("tool/data/hello.txt"), "hello\n").unwrap();
    // md5("HELLO\n"), as `printf 'HELLO\n' | md5sum` prints it.
    let md5 = "0084467710d2fc9d8a306e14efbe6d0f";
    let tests = json!([
        {"name": "uppercases", "invocation": {"in": "data/hello.txt"},
         "assertions": {"exit-code": 0, "output-files": [{"id": "result", "md5-reference": md5}]}},
        {"name": "wrong-checksum", "invocation": {"in": "data/hello.txt"},
         "assertions": {"output-files": [{"id": "result", "md5-reference": "00000000000000000000000000000000"}]}},
        {"name": "exit-code", "invocation": {"in": "data/hello.txt", "code": 3}, "assertions": {"exit-code": 0}},
        {"name": "missing-output", "invocation": {"in": "data/hello.txt", "out": "no-such-dir/upper.txt"},
         "assertions": {"output-files": [{"id": "result"}]}},
        {"name": "expects-failure", "invocation": {"in": "data/hello.txt", "code": 2}, "assertions": {"exit-code": 2}}
    ]);
    let file = dir.path().join("tool/upper.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&descriptor(tests)).unwrap()).unwrap();
    // Relative paths in test invocations are relative to the descriptor, whatever the cwd.
    let out = berth(dir.path(), &host, &["test", &file.to_string_lossy(), "--json", "--output-dir", "t1"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |n: &str| v["tests"].as_array().unwrap().iter().find(|t| t["name"] == n).unwrap().clone();
    assert_eq!(by_name("uppercases")["passed"], true, "{v}");
    assert_eq!(by_name("uppercases")["outputs_checked"], 1);
    assert_eq!(by_name("expects-failure")["passed"], true, "{v}");
    let wrong = by_name("wrong-checksum");
    assert!(wrong["failures"][0].as_str().unwrap().contains(&format!("has MD5 {md5}, expected 0000")), "{wrong}");
    assert!(by_name("exit-code")["failures"][0].as_str().unwrap().contains("exit code 3, expected 0"), "{v}");
    // The shell cannot write into a directory that does not exist: the (optional) output is absent.
    assert!(
        by_name("missing-output")["failures"][0].as_str().unwrap().contains("output `result` was not produced"),
        "{v}"
    );
    assert_eq!((v["passed"].as_u64(), v["failed"].as_u64()), (Some(2), Some(3)), "{v}");
    // Every test run is an ordinary recorded run.
    let run = by_name("uppercases")["run_id"].as_str().unwrap().to_owned();
    let show = berth(dir.path(), &host, &["show", &run, "--json"]);
    assert!(show.status.success());

    // One test by name, on another image (the same busybox under another tag): passes.
    let tag = Command::new("docker")
        .env("DOCKER_HOST", &host)
        .args(["tag", berth_testkit::BUSYBOX, "berth-test/busybox-retagged:1"])
        .status()
        .unwrap();
    assert!(tag.success());
    let out = berth(
        dir.path(),
        &host,
        &[
            "test",
            &file.to_string_lossy(),
            "--name",
            "uppercases",
            "--image",
            "berth-test/busybox-retagged:1",
            "--output-dir",
            "t2",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("PASS  uppercases") && text.contains("1 passed, 0 failed (berth-test/busybox-retagged:1)"),
        "{text}"
    );

    // No such test; no tests at all.
    let out = berth(dir.path(), &host, &["test", &file.to_string_lossy(), "--name", "nope"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("the tests are: uppercases"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bare = dir.path().join("bare.json");
    let mut d = descriptor(json!([]));
    d.as_object_mut().unwrap().remove("tests");
    std::fs::write(&bare, serde_json::to_vec(&d).unwrap()).unwrap();
    let out = berth(dir.path(), &host, &["test", &bare.to_string_lossy()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("declares no tests"));
}

#[test]
fn the_example_tool_passes_its_own_declared_test() {
    let host = berth_testkit::docker_host();
    let image = berth_testkit::dicom_image(&host);
    let dir = tempfile::tempdir().unwrap();
    let descriptor = berth_testkit::repo_root().join("examples/dicom-normalize/dicom-normalize.json");
    let out =
        berth(dir.path(), &host, &["test", &descriptor.to_string_lossy(), "--image", &image, "--output-dir", "t"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("PASS  phantom_to_0_1000  (exit 0, 1 output(s) checked)"), "{text}");
}
