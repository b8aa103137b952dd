//! berth-trace end to end on the host: real programs, real ptrace.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Run `berth-trace --output OUT -- program...`; its exit code and the `(op, path, ok)` lines.
fn trace(dir: &Path, program: &[&str]) -> (i32, BTreeSet<(String, String, bool)>) {
    let out = dir.join("trace.jsonl");
    let status = Command::new(env!("CARGO_BIN_EXE_berth-trace"))
        .arg("--output")
        .arg(&out)
        .arg("--")
        .args(program)
        .current_dir(dir)
        .status()
        .expect("berth-trace runs");
    let text = std::fs::read_to_string(&out).expect("berth-trace wrote its output");
    let records = text
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            (
                v["op"].as_str().expect("op").to_owned(),
                v["path"].as_str().expect("path").to_owned(),
                v["ok"].as_bool().expect("ok"),
            )
        })
        .collect();
    (status.code().expect("an exit code"), records)
}

fn has(records: &BTreeSet<(String, String, bool)>, op: &str, path: &str, ok: bool) -> bool {
    records.contains(&(op.to_owned(), path.to_owned(), ok))
}

#[test]
fn script_interpreter_and_elf_loader_are_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("hello");
    std::fs::write(&script, "#!/bin/sh\ncat ./data >/dev/null\nexit 7\n").expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(dir.path().join("data"), "x").expect("write data");
    let (code, records) = trace(dir.path(), &[script.to_str().expect("utf-8")]);
    assert_eq!(code, 7, "the program's exit status is berth-trace's");
    let script = script.to_str().expect("utf-8").to_owned();
    assert!(has(&records, "exec", &script, true), "{records:#?}");
    assert!(has(&records, "interp", "/bin/sh", true), "the #! interpreter: {records:#?}");
    let loader = records.iter().any(|(op, p, ok)| op == "interp" && p.contains("ld-linux") && *ok);
    assert!(loader, "the ELF interpreter of /bin/sh: {records:#?}");
    // `cat` is a forked child; its relative path is resolved against its working directory.
    let data = std::fs::canonicalize(dir.path().join("data")).expect("canonical");
    assert!(has(&records, "open", data.to_str().expect("utf-8"), true), "{records:#?}");
}

#[test]
fn failed_lookups_are_kept_apart_from_successes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, records) = trace(dir.path(), &["/bin/sh", "-c", "cat /nonexistent/x 2>/dev/null; true"]);
    assert_eq!(code, 0);
    assert!(has(&records, "open", "/nonexistent/x", false), "{records:#?}");
    assert!(has(&records, "exec", "/bin/sh", true));
}

#[test]
fn a_program_that_cannot_be_executed_gives_127() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, records) = trace(dir.path(), &["/nonexistent/program"]);
    assert_eq!(code, 127);
    assert!(has(&records, "exec", "/nonexistent/program", false), "{records:#?}");
}

#[test]
fn sigterm_is_forwarded_and_the_exit_status_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("t.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth-trace"))
        .arg("--output")
        .arg(&out)
        .args(["--", "sleep", "30"])
        .spawn()
        .expect("berth-trace runs");
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    let status = child.wait().expect("waits");
    assert_eq!(status.code(), Some(128 + 15), "{status:?} (signal {:?})", status.signal());
    assert!(out.exists(), "the trace is written even when the program is killed");
}
