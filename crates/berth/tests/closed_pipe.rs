//! A reader that closes berth's standard output early (`berth show ID --json | head`) ends
//! berth quietly with status 0, as it ends `cat`: no `Broken pipe` message, no status 1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::process::{Command, Stdio};

fn example(rel: &str) -> String {
    berth_testkit::repo_root().join("examples/dicom-normalize").join(rel).to_string_lossy().into_owned()
}

/// Runs berth with its standard output closed before it writes; returns (status, stderr).
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("BERTH_HOME", dir.path().join("home"))
        .env("BERTH_CONFIG", dir.path().join("config.toml"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The read end goes before berth has started (it takes milliseconds to get to its output).
    drop(child.stdout.take());
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (child.wait().unwrap().code(), stderr)
}

#[test]
fn a_closed_standard_output_ends_berth_quietly() {
    let descriptor = example("dicom-normalize.json");
    let invocation = example("invocation.json");
    // `println!` (simulate's command line), JSON through serde (validate --json) and a
    // formatted table (runs) are the three ways berth writes.
    for args in [
        vec!["simulate", descriptor.as_str(), "-i", invocation.as_str()],
        vec!["validate", descriptor.as_str(), "--json"],
        vec!["runs"],
        vec!["runs", "--json"],
    ] {
        let (code, stderr) = with_closed_stdout(&args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe") && !stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
