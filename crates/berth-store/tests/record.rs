//! The execution record of a finished run, pinned as a snapshot: bosh's four sections plus
//! the `berth` section. Ids, times and temporary paths are filtered out.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;

use berth_store::{FileRecord, FileRole, Hasher, LogContent, RunStatus, RunUpdate, Store};
use common::new_run;

/// A store holding one failed run of the common descriptor with inputs, outputs (one of them
/// missing), engine facts and logs (stdout cut at its cap).
fn finished_run() -> (tempfile::TempDir, Store, berth_store::RunId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("home")).unwrap();
    let id = store.create_run(&new_run("dicom-normalize")).unwrap();
    store.set_status(&id, RunStatus::Running, Some("container started")).unwrap();

    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("in")).unwrap();
    std::fs::create_dir_all(data.join("refs/series-1")).unwrap();
    std::fs::create_dir_all(data.join("out")).unwrap();
    std::fs::write(data.join("in/scan.dcm"), b"DICM pretend pixels").unwrap();
    std::fs::write(data.join("refs/series-1/a.dcm"), b"ref a").unwrap();
    std::fs::write(data.join("refs/b.dcm"), b"ref b").unwrap();
    std::os::unix::fs::symlink("series-1/a.dcm", data.join("refs/latest")).unwrap();
    std::fs::write(data.join("out/scan-norm.dcm"), b"normalized").unwrap();

    let hasher = Hasher::new(&store);
    let files = vec![
        FileRecord::hashed(&hasher, FileRole::Input, "infile", &data.join("in/scan.dcm"), Some("/in/scan.dcm".into()))
            .unwrap(),
        FileRecord::hashed(&hasher, FileRole::Input, "refs", &data.join("refs"), Some("/in/refs".into())).unwrap(),
        FileRecord::hashed(&hasher, FileRole::Output, "normalized", &data.join("out/scan-norm.dcm"), None).unwrap(),
        FileRecord::hashed(&hasher, FileRole::Output, "report", &data.join("out/scan-norm.txt"), None).unwrap(),
    ];
    store.add_files(&id, &files).unwrap();

    let (mut out, mut err) = store.open_logs(&id, 16).unwrap();
    out.write_all(b"normalizing scan.dcm\nwindow 0..4095\n").unwrap();
    err.write_all(b"error: not a DICOM file\n").unwrap();
    store.record_logs(&id, out.finish().unwrap().0, err.finish().unwrap().0).unwrap();

    let update = RunUpdate {
        image_id: Some("sha256:1111111111111111111111111111111111111111111111111111111111111111".into()),
        image_digest: Some(
            "berth/dicom-normalize@sha256:2222222222222222222222222222222222222222222222222222222222222222".into(),
        ),
        engine_kind: Some("docker".into()),
        engine_version: Some("20.10.24".into()),
        engine_api_version: Some("1.41".into()),
        host_json: Some(r#"{"os": "linux", "cpus": 2}"#.into()),
        container_id: Some("c0ffee".into()),
        container_json: Some(r#"{"NetworkMode": "none", "ReadonlyRootfs": true, "CapDrop": ["ALL"]}"#.into()),
        exit_code: Some(3),
        oom_killed: Some(false),
        error: Some("the tool exited with code 3".into()),
        relaxations_json: Some("[]".into()),
        ..RunUpdate::default()
    };
    store.update_run(&id, &update).unwrap();
    store.set_status(&id, RunStatus::Failed, Some("exit code 3")).unwrap();
    (dir, store, id)
}

fn filters(dir: &std::path::Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    let tmp = dir.to_str().unwrap().replace('.', r"\.");
    settings.add_filter(&tmp, "[TMP]");
    settings.add_filter(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", "[RUN-ID]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", "[TIME]");
    settings
}

#[test]
fn execution_record_of_a_failed_run() {
    let (dir, store, id) = finished_run();
    let record = store.get_run(id.as_str()).unwrap().to_execution_record();
    filters(dir.path()).bind(|| insta::assert_json_snapshot!(record));
}

#[test]
fn execution_record_keeps_bosh_keys_and_values() {
    let (_dir, store, id) = finished_run();
    let run = store.get_run(id.as_str()).unwrap();
    let record = run.to_execution_record();
    let keys: Vec<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["summary", "public-invocation", "public-output", "additional-information", "berth"]);
    let out = &record["public-output"];
    assert_eq!(out["exit-code"], 3);
    assert_eq!(out["error-message"], "The input is not a DICOM file", "from the descriptor's error-codes");
    assert_eq!(out["shell-command"], run.new.command_line);
    assert_eq!(out["stdout"], "normalizing scan\n[berth: output truncated after 16 bytes; the rest was discarded]\n");
    assert_eq!(out["missing-files"]["report"].as_str().unwrap(), run.files[3].path);
    assert_eq!(out["output-files"]["normalized"]["sha256"], berth_store::hash::sha256_hex(b"normalized"));
    let inv = &record["public-invocation"];
    assert_eq!(inv["infile"]["file-name"], "scan.dcm");
    assert_eq!(inv["infile"]["sha256"], berth_store::hash::sha256_hex(b"DICM pretend pixels"));
    assert_eq!(inv["verbose"], true, "non-File inputs are kept as given");
    assert_eq!(inv["out"], "scan-norm");
    assert_eq!(record["additional-information"]["project"], "phantom");
    assert_eq!(record["berth"]["run-id"], id.as_str());
}

#[test]
fn an_unreadable_or_absent_log_is_null_with_the_reason_in_the_berth_section() {
    let (_dir, store, id) = finished_run();
    let run = store.get_run(id.as_str()).unwrap();
    let record = run
        .execution_record_with_logs(&LogContent::Absent, &LogContent::Unreadable { error: "permission denied".into() });
    assert!(record["public-output"]["stdout"].is_null());
    assert!(record["public-output"]["stderr"].is_null());
    assert_eq!(record["berth"]["logs"]["stderr"]["read-error"], "permission denied");
    assert!(record["berth"]["logs"]["stdout"].get("read-error").is_none());
}

#[test]
fn a_list_of_file_inputs_becomes_a_list_of_public_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("home")).unwrap();
    let mut new = new_run("t");
    new.invocation_json = r#"{"infile": ["/data/x.dcm", "/data/y.dcm"], "out": "o"}"#.to_owned();
    let id = store.create_run(&new).unwrap();
    for (name, body) in [("x.dcm", b"x"), ("y.dcm", b"y")] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let record = FileRecord::hashed(&Hasher::new(&store), FileRole::Input, "infile", &path, None).unwrap();
        store.add_files(&id, &[record]).unwrap();
    }
    let record = store.get_run(id.as_str()).unwrap().to_execution_record();
    let sha = berth_store::hash::sha256_hex;
    assert_eq!(
        record["public-invocation"]["infile"],
        serde_json::json!([
            {"file-name": "x.dcm", "sha256": sha(b"x")},
            {"file-name": "y.dcm", "sha256": sha(b"y")},
        ])
    );
    assert!(record["public-output"]["stdout"].is_null(), "no log was ever opened");
}
