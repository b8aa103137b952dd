//! berth-trace end to end on the host: real programs, real ptrace.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

type Records = BTreeSet<(String, String, bool)>;

/// Run `berth-trace --output OUT -- program...`; its exit code and the `(op, path, ok)` lines.
fn trace(dir: &Path, program: &[&str]) -> (i32, Records) {
    trace_with(dir, &[], program)
}

fn trace_with(dir: &Path, options: &[&str], program: &[&str]) -> (i32, Records) {
    // Outside `dir`, so that one run's output is not in the next run's listing.
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("trace.jsonl");
    let status = Command::new(env!("CARGO_BIN_EXE_berth-trace"))
        .arg("--output")
        .arg(&out)
        .args(options)
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

fn has(records: &Records, op: &str, path: &str, ok: bool) -> bool {
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

#[test]
fn the_seccomp_filter_records_what_stopping_at_every_call_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    // Relative paths, a dirfd (`find`), fstat (not a path), a missing file, forks and execs.
    let script = "cd sub && ls -la .. >/dev/null; find .. -maxdepth 1 >/dev/null; cat nothing 2>/dev/null; stat -L /bin/sh >/dev/null; true";
    let (code, filtered) = trace(dir.path(), &["/bin/sh", "-c", script]);
    let (code_all, all) = trace_with(dir.path(), &["--no-seccomp"], &["/bin/sh", "-c", script]);
    assert_eq!((code, code_all), (0, 0));
    let only_filtered: Vec<_> = filtered.difference(&all).collect();
    let only_all: Vec<_> = all.difference(&filtered).collect();
    assert!(
        only_filtered.is_empty() && only_all.is_empty(),
        "filter only: {only_filtered:?}\nevery call only: {only_all:?}"
    );
}
