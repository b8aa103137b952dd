//! Several threads and several processes writing to one store at once: none of them may fail
//! (WAL, `BEGIN IMMEDIATE` and the busy timeout make them wait for each other instead).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use berth_store::{FileKind, FileRecord, FileRole, RunFilter, RunStatus, RunUpdate, Store};
use common::new_run;

/// Where the parent test tells a child process to write.
const CHILD_HOME: &str = "BERTH_STORE_TEST_CHILD_HOME";
/// What the child calls its runs, so that the parent can count them.
const CHILD_TOOL: &str = "BERTH_STORE_TEST_CHILD_TOOL";
const RUNS_PER_WRITER: usize = 40;

/// One writer's work: each run goes through its whole life, with files and an update, and
/// the writer reads back what it wrote.
fn write_runs(store: &Store, tool: &str) {
    for i in 0..RUNS_PER_WRITER {
        let id = store.create_run(&new_run(tool)).unwrap();
        store.set_status(&id, RunStatus::Running, None).unwrap();
        store.update_run(&id, &RunUpdate { exit_code: Some(i as i64), ..RunUpdate::default() }).unwrap();
        let file = FileRecord::missing(FileRole::Output, "out", format!("/out/{i}"), None);
        store.add_files(&id, &[file]).unwrap();
        store.set_status(&id, RunStatus::Succeeded, None).unwrap();
        let run = store.get_run(id.as_str()).unwrap();
        assert_eq!((run.status, run.events.len(), run.update.exit_code), (RunStatus::Succeeded, 3, Some(i as i64)));
        assert_eq!(run.files[0].kind, FileKind::Missing);
    }
}

fn count(store: &Store, tool: &str) -> usize {
    let runs = store.list_runs(&RunFilter { tool: Some(tool.into()), ..RunFilter::default() }).unwrap();
    assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));
    runs.len()
}

#[test]
fn threads_sharing_one_store_do_not_fail() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("home")).unwrap());
    std::thread::scope(|s| {
        for t in 0..4 {
            let store = Arc::clone(&store);
            s.spawn(move || write_runs(&store, &format!("shared-{t}")));
        }
    });
    for t in 0..4 {
        assert_eq!(count(&store, &format!("shared-{t}")), RUNS_PER_WRITER);
    }
}

#[test]
fn threads_with_their_own_connections_do_not_fail() {
    // Each thread opens the store itself: separate SQLite connections contend for the lock
    // exactly as separate processes do.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::thread::scope(|s| {
        for t in 0..4 {
            let home = home.clone();
            s.spawn(move || write_runs(&Store::open(&home).unwrap(), &format!("own-{t}")));
        }
    });
    let store = Store::open(&home).unwrap();
    for t in 0..4 {
        assert_eq!(count(&store, &format!("own-{t}")), RUNS_PER_WRITER);
    }
}

/// The body of each child process of [`two_processes_write_at_once`]. Run on its own (no
/// variables set), it writes to a store of its own and checks what it wrote.
#[test]
fn child_process_writer() {
    let own = tempfile::tempdir().unwrap();
    let home = std::env::var_os(CHILD_HOME).map_or_else(|| own.path().join("home"), Into::into);
    let tool = std::env::var(CHILD_TOOL).unwrap_or_else(|_| "alone".to_owned());
    let store = Store::open(Path::new(&home)).unwrap();
    write_runs(&store, &tool);
    assert!(count(&store, &tool) >= RUNS_PER_WRITER);
}

#[test]
fn two_processes_write_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // Neither process finds a database: both race to create and migrate it, too.
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["proc-a", "proc-b"]
        .iter()
        .map(|tool| {
            Command::new(&exe)
                .args(["--exact", "child_process_writer", "--nocapture", "--test-threads=1"])
                .env(CHILD_HOME, &home)
                .env(CHILD_TOOL, tool)
                // Keep the children's test-harness output out of this test's output.
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a child process failed: {out:?}");
    }
    let store = Store::open(&home).unwrap();
    assert_eq!(count(&store, "proc-a"), RUNS_PER_WRITER);
    assert_eq!(count(&store, "proc-b"), RUNS_PER_WRITER);
}
