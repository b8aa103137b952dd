//! The Boutiques descriptor `examples/dicom-normalize/dicom-normalize.json` must describe
//! this binary: same version, an image tag of that version, and a command line that the
//! CLI accepts and that writes the file its `output-files` path template names.
//!
//! The rendering here is deliberately minimal (whitespace tokens, value-key replaced by
//! `flag value` or `value`, File inputs' path templates use the basename without the
//! stripped extension); `bosh validate` and `bosh exec simulate` are the reference and are
//! run by hand as documented in the example's README.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dicom-normalize")
}

fn load(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(example_dir().join(name)).unwrap()).unwrap()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The argument vector for an invocation, and the expected output path per output id.
fn render(descriptor: &Value, invocation: &Value) -> (Vec<String>, Vec<(String, String)>) {
    let inputs = descriptor["inputs"].as_array().unwrap();
    let value_of =
        |input: &Value| invocation.get(input["id"].as_str().unwrap()).or(input.get("default-value")).cloned();
    let mut argv = Vec::new();
    for token in descriptor["command-line"].as_str().unwrap().split_whitespace() {
        match inputs.iter().find(|i| i["value-key"] == token) {
            None => argv.push(token.to_string()),
            Some(input) => {
                if let Some(v) = value_of(input) {
                    if let Some(flag) = input.get("command-line-flag") {
                        argv.push(flag.as_str().unwrap().to_string());
                    }
                    argv.push(scalar(&v));
                }
            }
        }
    }
    let mut outputs = Vec::new();
    for out in descriptor["output-files"].as_array().unwrap() {
        let mut path = out["path-template"].as_str().unwrap().to_string();
        for input in inputs {
            let Some(v) = value_of(input) else { continue };
            let mut text = scalar(&v);
            if input["type"] == "File" {
                text = Path::new(&text).file_name().unwrap().to_string_lossy().into_owned();
                for ext in out["path-template-stripped-extensions"].as_array().into_iter().flatten() {
                    if let Some(stripped) = text.strip_suffix(ext.as_str().unwrap()) {
                        text = stripped.to_string();
                    }
                }
            }
            path = path.replace(input["value-key"].as_str().unwrap(), &text);
        }
        outputs.push((out["id"].as_str().unwrap().to_string(), path));
    }
    (argv, outputs)
}

/// Runs the rendered command in a scratch directory holding the example's `data/`.
fn run(descriptor: &Value, invocation: &Value) -> (i32, tempfile::TempDir, Vec<(String, String)>) {
    let (argv, outputs) = render(descriptor, invocation);
    assert_eq!(argv[0], "dicom-normalize", "the command line must start with the executable");
    let work = tempfile::TempDir::new().unwrap();
    std::fs::create_dir(work.path().join("data")).unwrap();
    std::fs::copy(example_dir().join("data/phantom-mr.dcm"), work.path().join("data/phantom-mr.dcm")).unwrap();
    let status =
        Command::new(env!("CARGO_BIN_EXE_dicom-normalize")).args(&argv[1..]).current_dir(work.path()).status().unwrap();
    (status.code().unwrap(), work, outputs)
}

#[test]
fn descriptor_names_this_version_and_its_image() {
    let d = load("dicom-normalize.json");
    assert_eq!(d["schema-version"], "0.5");
    assert_eq!(d["tool-version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(d["container-image"]["type"], "docker");
    assert_eq!(d["container-image"]["image"], format!("berth-example/dicom-normalize:{}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn example_invocation_runs_and_writes_the_templated_output() {
    let (code, work, outputs) = run(&load("dicom-normalize.json"), &load("invocation.json"));
    assert_eq!(code, 0);
    assert_eq!(outputs, vec![("normalized".to_string(), "out/phantom-mr-normalized.dcm".to_string())]);
    assert!(work.path().join("out/phantom-mr-normalized.dcm").is_file());
}

#[test]
fn defaults_alone_give_a_valid_command() {
    let (code, work, outputs) =
        run(&load("dicom-normalize.json"), &serde_json::json!({"input": "data/phantom-mr.dcm"}));
    assert_eq!(code, 0);
    assert!(work.path().join(&outputs[0].1).is_file());
}

#[test]
fn descriptor_tests_pass() {
    let d = load("dicom-normalize.json");
    let tests = d["tests"].as_array().unwrap();
    assert!(!tests.is_empty());
    for t in tests {
        let (code, work, outputs) = run(&d, &t["invocation"]);
        assert_eq!(i64::from(code), t["assertions"]["exit-code"].as_i64().unwrap(), "{}", t["name"]);
        for expected in t["assertions"]["output-files"].as_array().into_iter().flatten() {
            let (_, path) = outputs.iter().find(|(id, _)| expected["id"] == id.as_str()).unwrap();
            assert!(work.path().join(path).is_file(), "{}: {path} missing", t["name"]);
        }
    }
}
