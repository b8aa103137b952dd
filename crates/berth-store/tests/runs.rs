//! Integration tests of recording runs in a real SQLite store: migrations, status rules,
//! updates, files, logs, lookups and listings.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use berth_store::{
    FileKind, FileRecord, FileRole, LogSummary, RunFilter, RunId, RunStatus, RunUpdate, SCHEMA_VERSION, Store,
    StoreError,
};
use common::new_run;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("home")).unwrap();
    (dir, store)
}

#[test]
fn open_creates_a_private_home_with_database_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("a/b/home");
    let store = Store::open(&home).unwrap();
    assert_eq!(std::fs::metadata(&home).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(home.join("berth.db").is_file());
    assert!(home.join("logs").is_dir());
    assert_eq!(store.db_path(), home.join("berth.db"));
}

#[test]
fn migrations_apply_from_an_empty_database_and_reopening_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let id = {
        let store = Store::open(&home).unwrap();
        store.create_run(&new_run("tool")).unwrap()
    };
    let conn = rusqlite::Connection::open(home.join("berth.db")).unwrap();
    let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    drop(conn);
    let store = Store::open(&home).unwrap();
    assert_eq!(store.get_run(id.as_str()).unwrap().id, id);
}

#[test]
fn a_database_from_a_newer_berth_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    drop(Store::open(&home).unwrap());
    let conn = rusqlite::Connection::open(home.join("berth.db")).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(conn);
    let err = Store::open(&home).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    assert!(err.hint().unwrap().contains("upgrade berth"));
}

#[test]
fn a_new_run_is_queued_with_one_event_and_every_field_reads_back() {
    let (_dir, store) = store();
    let new = new_run("dicom-normalize");
    let id = store.create_run(&new).unwrap();
    assert_eq!(id.as_str().len(), RunId::LEN);
    let run = store.get_run(id.as_str()).unwrap();
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(run.new, new);
    assert_eq!(run.update, RunUpdate::default());
    assert_eq!(run.events.len(), 1);
    assert_eq!((run.events[0].seq, run.events[0].status), (1, RunStatus::Queued));
    assert_eq!(run.events[0].at, run.created_at);
    assert!(run.files.is_empty());
    assert_eq!((run.stdout, run.stderr), (None, None));
    assert_eq!(run.stdout_path, store.home().join("logs").join(id.as_str()).join("stdout"));
}

#[test]
fn statuses_are_recorded_in_order_with_start_and_finish_times() {
    let (_dir, store) = store();
    let id = store.create_run(&new_run("t")).unwrap();
    store.set_status(&id, RunStatus::Running, Some("container started")).unwrap();
    let running = store.get_run(id.as_str()).unwrap();
    assert!(running.update.started_at.is_some());
    assert!(running.update.finished_at.is_none());
    store.set_status(&id, RunStatus::Failed, Some("exit code 3")).unwrap();
    let run = store.get_run(id.as_str()).unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.status_message.as_deref(), Some("exit code 3"));
    assert_eq!(run.update.started_at, running.update.started_at, "the start time is kept");
    assert!(run.update.finished_at.is_some());
    let history: Vec<_> = run.events.iter().map(|e| (e.seq, e.status, e.message.as_deref())).collect();
    assert_eq!(
        history,
        [
            (1, RunStatus::Queued, None),
            (2, RunStatus::Running, Some("container started")),
            (3, RunStatus::Failed, Some("exit code 3"))
        ]
    );
}

#[test]
fn no_transition_out_of_a_terminal_status() {
    let (_dir, store) = store();
    for terminal in [RunStatus::Succeeded, RunStatus::Failed, RunStatus::Cancelled] {
        let id = store.create_run(&new_run("t")).unwrap();
        store.set_status(&id, RunStatus::Running, None).unwrap();
        store.set_status(&id, terminal, None).unwrap();
        for next in RunStatus::ALL {
            let err = store.set_status(&id, next, None).unwrap_err();
            assert!(
                matches!(&err, StoreError::TerminalStatus { current, requested, .. } if *current == terminal && *requested == next),
                "{terminal} -> {next}: {err:?}"
            );
        }
        let run = store.get_run(id.as_str()).unwrap();
        assert_eq!(run.status, terminal);
        assert_eq!(run.events.len(), 3, "refused transitions leave no history");
    }
}

#[test]
fn cancelled_then_running_from_another_store_handle_is_refused() {
    // Two handles (two connections), as a CLI `cancel` and the runner would hold.
    let (dir, runner) = store();
    let id = runner.create_run(&new_run("t")).unwrap();
    let canceller = Store::open(&dir.path().join("home")).unwrap();
    canceller.set_status(&id, RunStatus::Cancelled, Some("by user")).unwrap();
    let err = runner.set_status(&id, RunStatus::Running, None).unwrap_err();
    assert!(matches!(err, StoreError::TerminalStatus { current: RunStatus::Cancelled, .. }), "{err:?}");
}

#[test]
fn set_status_of_an_unknown_run_is_not_found() {
    let (_dir, store) = store();
    let id = store.create_run(&new_run("t")).unwrap();
    let other: RunId = serde_json::from_str("\"00000000-0000-7000-8000-000000000000\"").unwrap();
    assert!(matches!(store.set_status(&other, RunStatus::Running, None), Err(StoreError::RunNotFound { .. })));
    assert!(matches!(store.update_run(&other, &RunUpdate::default()), Err(StoreError::RunNotFound { .. })));
    assert!(matches!(store.add_files(&other, &[]), Err(StoreError::RunNotFound { .. })));
    assert!(store.get_run(id.as_str()).is_ok());
}

#[test]
fn update_run_writes_only_the_fields_given() {
    let (_dir, store) = store();
    let id = store.create_run(&new_run("t")).unwrap();
    let first = RunUpdate {
        image_id: Some("sha256:abc".into()),
        engine_kind: Some("docker".into()),
        exit_code: Some(0),
        oom_killed: Some(false),
        container_json: Some(r#"{"ReadonlyRootfs": true}"#.into()),
        ..RunUpdate::default()
    };
    store.update_run(&id, &first).unwrap();
    let second = RunUpdate { exit_code: Some(3), error: Some("boom".into()), ..RunUpdate::default() };
    store.update_run(&id, &second).unwrap();
    let run = store.get_run(id.as_str()).unwrap();
    assert_eq!(
        run.update,
        RunUpdate {
            image_id: Some("sha256:abc".into()),
            engine_kind: Some("docker".into()),
            exit_code: Some(3),
            oom_killed: Some(false),
            container_json: Some(r#"{"ReadonlyRootfs": true}"#.into()),
            error: Some("boom".into()),
            ..RunUpdate::default()
        }
    );
    // Every field round-trips.
    let all = RunUpdate {
        image_id: Some("a".into()),
        image_digest: Some("b".into()),
        engine_kind: Some("c".into()),
        engine_version: Some("d".into()),
        engine_api_version: Some("e".into()),
        host_json: Some("{}".into()),
        container_id: Some("f".into()),
        container_json: Some("{}".into()),
        exit_code: Some(-9),
        oom_killed: Some(true),
        error: Some("g".into()),
        started_at: Some("2025-01-01T00:00:00.000Z".into()),
        finished_at: Some("2025-01-01T00:00:01.000Z".into()),
        relaxations_json: Some("[]".into()),
        scan_policy_json: Some(r#"{"verdict": "allow"}"#.into()),
    };
    store.update_run(&id, &all).unwrap();
    assert_eq!(store.get_run(id.as_str()).unwrap().update, all);
}

#[test]
fn files_round_trip_in_order_with_manifests() {
    let (dir, store) = store();
    let id = store.create_run(&new_run("t")).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("a.txt"), "a").unwrap();
    std::fs::write(data.join("sub/b.txt"), "bb").unwrap();
    let hasher = berth_store::Hasher::new(&store);
    let dir_record = FileRecord::hashed(&hasher, FileRole::Input, "refs", &data, Some("/in/refs".into())).unwrap();
    let file_record = FileRecord::hashed(&hasher, FileRole::Input, "infile", &data.join("a.txt"), None).unwrap();
    let missing = FileRecord::hashed(&hasher, FileRole::Output, "report", &data.join("nope"), None).unwrap();
    assert_eq!(dir_record.kind, FileKind::Dir);
    assert_eq!(file_record.kind, FileKind::File);
    assert_eq!(missing.kind, FileKind::Missing);
    store.add_files(&id, &[dir_record.clone(), file_record.clone()]).unwrap();
    store.add_files(&id, std::slice::from_ref(&missing)).unwrap();
    let run = store.get_run(id.as_str()).unwrap();
    assert_eq!(run.files, vec![dir_record, file_record, missing]);
    assert_eq!(run.files[0].size, Some(3));
    assert_eq!(run.files[0].manifest.as_ref().unwrap().len(), 3, "a.txt, sub, sub/b.txt");
}

#[test]
fn logs_are_written_capped_and_their_summary_recorded() {
    let (_dir, store) = store();
    let id = store.create_run(&new_run("t")).unwrap();
    let (mut out, mut err) = store.open_logs(&id, 8).unwrap();
    out.write_all(b"hello, world\n").unwrap();
    err.write_all(b"warn\n").unwrap();
    let (out_summary, _) = out.finish().unwrap();
    let (err_summary, _) = err.finish().unwrap();
    store.record_logs(&id, out_summary, err_summary).unwrap();
    let run = store.get_run(id.as_str()).unwrap();
    assert_eq!(run.stdout, Some(LogSummary { cap: 8, bytes_written: 8, bytes_seen: 13, truncated: true }));
    assert_eq!(run.stderr, Some(LogSummary { cap: 8, bytes_written: 5, bytes_seen: 5, truncated: false }));
    let (out_path, err_path) = store.log_paths(&id);
    assert_eq!(
        std::fs::read_to_string(out_path).unwrap(),
        "hello, w\n[berth: output truncated after 8 bytes; the rest was discarded]\n"
    );
    assert_eq!(std::fs::read_to_string(err_path).unwrap(), "warn\n");
}

#[test]
fn lookup_by_unique_prefix_and_ambiguity() {
    let (_dir, store) = store();
    let ids: Vec<RunId> = (0..5).map(|_| store.create_run(&new_run("t")).unwrap()).collect();
    // The ids start with the same millisecond timestamp bits, so they share a long prefix.
    let common = ids
        .iter()
        .map(|id| id.as_str())
        .reduce(|a, b| &a[..a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()])
        .unwrap()
        .to_owned();
    assert!(common.len() >= RunId::MIN_PREFIX, "{ids:?}");
    match store.get_run(&common[..RunId::MIN_PREFIX]).unwrap_err() {
        StoreError::AmbiguousRunId { candidates, total, .. } => {
            assert_eq!(total, 5);
            let mut sorted: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
            sorted.sort();
            assert_eq!(candidates, sorted);
        }
        e => panic!("expected an ambiguity, got {e:?}"),
    }
    for id in &ids {
        // The shortest prefix that tells this id apart from the others.
        let unique = (RunId::MIN_PREFIX..=RunId::LEN)
            .map(|n| &id.as_str()[..n])
            .find(|p| ids.iter().filter(|o| o.as_str().starts_with(p)).count() == 1)
            .unwrap();
        assert_eq!(&store.resolve_run_id(unique).unwrap(), id);
        assert_eq!(&store.resolve_run_id(&unique.to_uppercase()).unwrap(), id, "case does not matter");
        assert_eq!(&store.get_run(id.as_str()).unwrap().id, id);
    }
    assert!(matches!(store.get_run("01a"), Err(StoreError::RunIdTooShort { minimum: 4, .. })));
    assert!(matches!(store.get_run("01a%"), Err(StoreError::InvalidRunId { .. })));
    assert!(matches!(store.get_run("ffff"), Err(StoreError::RunNotFound { .. })));
}

#[test]
fn listing_is_newest_first_and_filtered() {
    let (_dir, store) = store();
    let a = store.create_run(&new_run("alpha")).unwrap();
    let b = store.create_run(&new_run("beta")).unwrap();
    let c = store.create_run(&new_run("alpha")).unwrap();
    store.set_status(&c, RunStatus::Running, None).unwrap();
    let ids = |f: &RunFilter| store.list_runs(f).unwrap().into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(&RunFilter::default()), [c.clone(), b.clone(), a.clone()]);
    assert_eq!(ids(&RunFilter { tool: Some("alpha".into()), ..Default::default() }), [c.clone(), a.clone()]);
    assert_eq!(ids(&RunFilter { status: Some(RunStatus::Queued), ..Default::default() }), [b.clone(), a.clone()]);
    assert_eq!(ids(&RunFilter { limit: Some(1), offset: 1, ..Default::default() }), std::slice::from_ref(&b));
    let future = SystemTime::now() + Duration::from_secs(3600);
    assert!(ids(&RunFilter { since: Some(future), ..Default::default() }).is_empty());
    let past = SystemTime::now() - Duration::from_secs(3600);
    assert_eq!(ids(&RunFilter { since: Some(past), ..Default::default() }).len(), 3);
    let summary = &store.list_runs(&RunFilter::default()).unwrap()[0];
    assert_eq!((summary.status, summary.tool_name.as_str(), summary.owner_pid), (RunStatus::Running, "alpha", 4242));
    assert!(summary.started_at.is_some());
}

#[test]
fn runs_with_status_finds_unfinished_runs() {
    let (_dir, store) = store();
    let queued = store.create_run(&new_run("t")).unwrap();
    let running = store.create_run(&new_run("t")).unwrap();
    store.set_status(&running, RunStatus::Running, None).unwrap();
    let done = store.create_run(&new_run("t")).unwrap();
    store.set_status(&done, RunStatus::Succeeded, None).unwrap();
    let found: Vec<RunId> =
        store.runs_with_status(&[RunStatus::Queued, RunStatus::Running]).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(found, [running, queued]);
    assert!(store.runs_with_status(&[]).unwrap().is_empty());
}

#[test]
fn a_run_record_round_trips_through_json() {
    // The server will send records as JSON; what it sends must read back as the same record.
    let (_dir, store) = store();
    let id = store.create_run(&new_run("t")).unwrap();
    store.update_run(&id, &RunUpdate { exit_code: Some(1), ..RunUpdate::default() }).unwrap();
    let file = FileRecord::missing(FileRole::Output, "out", "/out/x", None);
    store.add_files(&id, &[file]).unwrap();
    let run = store.get_run(id.as_str()).unwrap();
    let json = serde_json::to_string(&run).unwrap();
    assert!(json.contains(r#""status":"queued""#), "{json}");
    let back: berth_store::RunRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(back, run);
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}
