//! What users read, as snapshots (insta): `berth run`'s notes, `runs`, `show`, `logs`,
//! `pipeline ls|status|show`, and error rendering. A change to any of them is a reviewed diff
//! (`cargo insta review`). Ids, digests, times, temporary paths and engine versions are
//! replaced by stable names; everything else is compared as printed.
//!
//! Needs root (or an engine in `DOCKER_HOST`): without it these tests fail with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

use tempfile::TempDir;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct World {
    dir: TempDir,
    docker: String,
}

impl World {
    fn new() -> World {
        World { dir: tempfile::tempdir().unwrap(), docker: berth_testkit::docker_host() }
    }

    fn berth(&self, args: &[&str]) -> Output {
        let mut c = berth_testkit::berth_command(env!("CARGO_BIN_EXE_berth"), self.dir.path(), &self.docker);
        c.args(args).output().unwrap()
    }

    /// Standard output and error of a command, with its exit code, made stable.
    fn shown(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        let code = out.status.code().map_or_else(|| "signal".to_owned(), |c| c.to_string());
        let all = format!(
            "$ berth {}\n[exit {code}]\n--- stdout\n{}--- stderr\n{}",
            args.join(" "),
            text(&out.stdout),
            text(&out.stderr)
        );
        stable(&all, self.dir.path())
    }

    fn write(&self, name: &str, content: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        name.to_owned()
    }
}

/// The temporary directory as `[DIR]`; the rest is insta's filters ([`FILTERS`]).
fn stable(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), "[DIR]")
}

/// What changes from run to run, replaced with stable names (in this order).
const FILTERS: [(&str, &str); 11] = [
    (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "[ID]"),
    (r"\b[0-9a-f]{8}-[0-9a-f]{4}\b", "[SHORT-ID]"),
    (r"\b\d+\.\ds\b", "[SECS]"),
    (r" +\d+\.\d( +\[ID\])", " [SECS]$1"),
    (r"sha256:[0-9a-f]{64}", "sha256:[HASH]"),
    (r"\b[0-9a-f]{64}\b", "[HASH]"),
    (r"\b[0-9a-f]{12,13}\b", "[SHORT]"),
    (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?Z?", "[TIME]"),
    (r"\b\d{8}-\d{6}\b", "[STAMP]"),
    (r"docker \d+\.\d+\.\d+\S*", "docker [VERSION]"),
    (r"\b[0-9a-f]{8}\b", "[PREFIX]"),
];

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ filters => FILTERS.to_vec() }, { insta::assert_snapshot!($name, $value) })
    };
}

const HELLO: &str = r#"{
    "name": "hello", "tool-version": "1.0", "schema-version": "0.5",
    "description": "Greets, and fails when asked to.",
    "command-line": "echo hello [WHO]; echo to-stderr >&2; exit [CODE]",
    "container-image": {"type": "docker", "image": "berth-test/busybox:latest"},
    "inputs": [
        {"id": "who", "name": "Who", "type": "String", "value-key": "[WHO]"},
        {"id": "code", "name": "Exit code", "type": "Number", "value-key": "[CODE]", "optional": true, "default-value": 0}
    ]
}"#;

#[test]
fn runs_and_their_records_as_users_read_them() {
    let w = World::new();
    let tool = w.write("hello.json", HELLO);
    let mut shown = String::new();
    shown += &w.shown(&["run", &tool, "-i", r#"{"who": "world"}"#, "-o", "out", "--pull", "never"]);
    shown += &w.shown(&["run", &tool, "-i", r#"{"who": "again", "code": 3}"#, "-o", "out2", "--pull", "never"]);
    shown += &w.shown(&["runs", "--limit", "1"]);
    let runs: serde_json::Value = serde_json::from_slice(&w.berth(&["runs", "--json"]).stdout).unwrap();
    let first = runs[1]["id"].as_str().unwrap().to_owned();
    // The prefix `berth runs` shows is enough.
    shown += &w.shown(&["show", &first[..13]]);
    shown += &w.shown(&["logs", &first[..13]]);
    shown += &w.shown(&["show", "00000000"]);
    snapshot!("runs", shown);
}

#[test]
fn errors_as_users_read_them() {
    let w = World::new();
    let mut shown = String::new();
    let bad = w.write("trailing.json", "{\n  \"name\": \"x\",\n}\n");
    shown += &w.shown(&["validate", &bad]);
    shown += &w.shown(&["invocation", &w.write("hello.json", HELLO), "-i", "{'who': 1}"]);
    shown += &w.shown(&["validate", "no-such-file.json"]);
    w.write("config.toml", "[scan]\nrun_policy = \"enforcing\"\n");
    shown += &w.shown(&["run", "hello.json", "-i", r#"{"who": "x"}"#, "--pull", "never"]);
    w.write("config.toml", "[run]\nnot_a_key = 1\n");
    shown += &w.shown(&["runs"]);
    snapshot!("errors", shown);
}

#[test]
fn pipelines_as_users_read_them() {
    let w = World::new();
    w.write("hello.json", HELLO);
    let file = w.write(
        "greet.yaml",
        "berth-pipeline: 1\nname: greet\nsteps:\n  greet:\n    descriptor: hello.json\n    foreach: [ana, bo]\n    inputs:\n      who: ${item}\n",
    );
    let mut shown = w.shown(&["pipeline", "run", &file, "-o", "results", "--jobs", "1", "--pull", "never"]);
    let runs: serde_json::Value = serde_json::from_slice(&w.berth(&["pipeline", "ls", "--json"]).stdout).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_owned();
    shown += &w.shown(&["pipeline", "ls"]);
    shown += &w.shown(&["pipeline", "status", &id]);
    shown += &w.shown(&["pipeline", "show", &id]);
    snapshot!("pipelines", shown);
}

/// A value with terminal escape sequences (a server user's launch, a pasted invocation) is
/// recorded as given and shown by `berth show` as text, never as control sequences.
#[test]
fn show_prints_a_runs_hostile_values_as_text() {
    let w = World::new();
    let tool = w.write("hello.json", HELLO);
    let who = "\u{1b}]0;pwned\u{7}\u{1b}[2J";
    let inv = serde_json::json!({ "who": who }).to_string();
    let out = w.berth(&["run", &tool, "-i", &inv, "-o", "out", "--pull", "never", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs: serde_json::Value = serde_json::from_slice(&w.berth(&["runs", "--json"]).stdout).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_owned();
    let shown = w.berth(&["show", &id]);
    let stdout = text(&shown.stdout);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{7}'), "a control character was printed:\n{stdout:?}");
    assert!(stdout.contains("\\u{1b}]0;pwned\\u{7}\\u{1b}[2J"), "the value is shown escaped:\n{stdout}");
    let record: serde_json::Value = serde_json::from_slice(&w.berth(&["show", &id, "--json"]).stdout).unwrap();
    assert!(record.to_string().contains("\\u001b]0;pwned"), "the record keeps the exact value: {record}");
}
