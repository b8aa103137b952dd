//! The runner against the recording `FakeEngine`: what it asks the engine to do, and what it
//! records, for each path through a run. The real engine is exercised by `crates/berth`'s
//! `run_docker` tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use berth_descriptor::{Mode, Value};
use berth_engine::fake::{Call, FakeEngine, ScriptedRun, fake_image};
use berth_engine::{Engine, Gpus, LogChunk, LogStreamKind, Network, NoProgress};
use berth_run::prepare::{HostFacts, PrepareOptions};
use berth_run::{PullPolicy, Runner, Silent, prepare};
use berth_store::{RunStatus, Store};
use tempfile::TempDir;

const IMAGE: &str = "example/tool:1";

fn descriptor(command: &str, outputs: &str) -> (berth_descriptor::Descriptor, String) {
    let outputs = if outputs == "[]" { String::new() } else { format!(r#", "output-files": {outputs}"#) };
    let n_input = if command.contains("[N]") {
        r#", {"id": "n", "name": "N", "type": "Number", "value-key": "[N]", "optional": true}"#
    } else {
        ""
    };
    let text = format!(
        r#"{{"name": "tool", "tool-version": "1", "description": "d", "schema-version": "0.5",
            "command-line": "{command}",
            "container-image": {{"type": "docker", "image": "{IMAGE}"}},
            "suggested-resources": {{"cpu-cores": 1, "ram": 0.5}},
            "inputs": [{{"id": "data", "name": "Data", "type": "File", "value-key": "[DATA]"}}{n_input}]{outputs}}}"#
    );
    let d = berth_descriptor::validate(Value::parse(&text).unwrap()).descriptor.expect("valid test descriptor");
    (d, text)
}

struct World {
    dir: TempDir,
    store: Store,
    engine: Arc<FakeEngine>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("input.dat"), b"input bytes").unwrap();
        let store = Store::open(&dir.path().join("home")).unwrap();
        let engine = Arc::new(FakeEngine::new());
        engine.add_image(IMAGE, fake_image(IMAGE));
        World { dir, store, engine }
    }

    fn options(&self) -> PrepareOptions {
        PrepareOptions {
            output_dir: self.dir.path().join("out"),
            cwd: self.dir.path().to_path_buf(),
            mode: Mode::Bosh,
            memory: None,
            cpus: None,
            pids_limit: None,
            gpus: Default::default(),
            network: None,
            user: None,
            cap_add: Vec::new(),
            config: Default::default(),
            host: HostFacts { uid: 1000, gid: 1000, sudo: None, memory_bytes: 8 << 30, cpus: 2 },
        }
    }

    async fn runner(&self, pull: PullPolicy) -> Runner<'_> {
        Runner {
            store: &self.store,
            engine: self.engine.clone() as Arc<dyn Engine>,
            engine_info: self.engine.info().await.unwrap(),
            host: berth_run::HostInfo::current(),
            sink: &Silent,
            pull_reporter: &NoProgress,
            pull,
            gate: &berth_run::gate::OPEN,
            log_max_bytes: 1 << 20,
            labels: Default::default(),
        }
    }
}

fn created_spec(calls: &[Call]) -> Vec<berth_engine::ContainerSpec> {
    calls
        .iter()
        .filter_map(|c| match c {
            Call::CreateContainer { spec } => Some((**spec).clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_run_asks_for_hardened_containers_and_records_the_exit_code() {
    let w = World::new();
    let (d, text) = descriptor("tool [DATA] [N]", "[]");
    let inv = Value::parse(r#"{"data": "input.dat", "n": 3}"#).unwrap();
    let job = prepare(&d, &text, &inv, &w.options()).unwrap();
    w.engine.push_run(
        ScriptedRun::exits(3)
            .with_output(LogChunk { stream: LogStreamKind::Stdout, bytes: "out\n".into() })
            .with_output(LogChunk { stream: LogStreamKind::Stderr, bytes: "err\n".into() }),
    );
    let outcome = w.runner(PullPolicy::Missing).await.run(&job, Default::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.exit_code, Some(3));

    let calls = w.engine.calls();
    let specs = created_spec(&calls);
    assert_eq!(specs.len(), 1);
    let s = &specs[0];
    assert_eq!(s.cap_drop, vec!["ALL".to_string()]);
    assert_eq!(s.security_opt, vec!["no-new-privileges".to_string()]);
    assert_eq!(s.network, Network::Disabled);
    assert_eq!(s.user.map(|u| (u.uid, u.gid)), Some((1000, 1000)));
    assert_eq!(s.memory_bytes, Some(512 << 20), "0.5 GB suggested");
    assert_eq!(s.nano_cpus, Some(1_000_000_000));
    assert_eq!(s.pids_limit, Some(1024));
    assert_eq!(s.gpus, Gpus::None);
    assert!(s.init);
    assert_eq!(s.image, fake_image(IMAGE).id, "the resolved image id runs, not the tag");
    assert_eq!(s.entrypoint.as_deref(), Some(&["/bin/sh".to_string()][..]));
    assert_eq!(s.cmd, vec!["/berth/command.sh".to_string()]);
    assert_eq!(s.working_dir.as_deref(), Some("/berth/out"));
    let input = s.mounts.iter().find(|m| m.target == "/berth/in/data/input.dat").expect("input mount");
    assert!(input.read_only);
    let out = s.mounts.iter().find(|m| m.target == "/berth/out").expect("output mount");
    assert!(!out.read_only);
    assert_eq!(s.labels.get("berth.run-id").map(String::as_str), Some(outcome.run_id.as_str()));

    // The container is created, checked for its shell, started, waited for, inspected, removed.
    let kinds: Vec<&str> = calls
        .iter()
        .map(|c| match c {
            Call::CreateContainer { .. } => "create",
            Call::PathExists { .. } => "stat",
            Call::StartContainer { .. } => "start",
            Call::WaitContainer { .. } => "wait",
            Call::InspectContainer { .. } => "inspect",
            Call::RemoveContainer { .. } => "remove",
            _ => "",
        })
        .filter(|k| !k.is_empty())
        .collect();
    assert_eq!(kinds, ["create", "stat", "start", "wait", "inspect", "remove"]);

    let rec = w.store.get_run(outcome.run_id.as_str()).unwrap();
    assert_eq!(rec.update.exit_code, Some(3));
    let statuses: Vec<RunStatus> = rec.events.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [RunStatus::Queued, RunStatus::Running, RunStatus::Failed]);
    let (stdout, stderr) = w.store.log_paths(&outcome.run_id);
    assert_eq!(std::fs::read_to_string(stdout).unwrap(), "out\n");
    assert_eq!(std::fs::read_to_string(stderr).unwrap(), "err\n");
    let input = rec.files.iter().find(|f| f.key == "data").unwrap();
    assert_eq!(input.sha256.as_deref(), Some(berth_store::hash::sha256_hex(b"input bytes").as_str()));
}

#[tokio::test]
async fn an_image_without_a_shell_runs_the_words_or_is_refused() {
    let w = World::new();
    w.engine.remove_image_path(IMAGE, "/bin/sh");
    let (d, text) = descriptor("tool [DATA] --n [N]", "[]");
    let inv = Value::parse(r#"{"data": "input.dat", "n": 2}"#).unwrap();
    let job = prepare(&d, &text, &inv, &w.options()).unwrap();
    let outcome = w.runner(PullPolicy::Missing).await.run(&job, Default::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let specs = created_spec(&w.engine.calls());
    assert_eq!(specs.len(), 2, "the shell container is replaced by an argv one");
    assert_eq!(specs[1].entrypoint.as_deref(), Some(&["tool".to_string()][..]));
    assert_eq!(specs[1].cmd, ["/berth/in/data/input.dat", "--n", "2"]);
    assert!(!specs[1].mounts.iter().any(|m| m.target == "/berth/command.sh"));

    let (d, text) = descriptor("tool [DATA] | tee log", "[]");
    let inv = Value::parse(r#"{"data": "input.dat"}"#).unwrap();
    let job = prepare(&d, &text, &inv, &w.options()).unwrap();
    let outcome = w.runner(PullPolicy::Missing).await.run(&job, Default::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    let err = outcome.error.unwrap();
    assert!(err.contains("needs a shell") && err.contains("`|`"), "{err}");
    assert!(w.engine.container_ids().is_empty(), "no container is left behind");
}

#[tokio::test]
async fn missing_required_outputs_fail_and_present_ones_are_hashed() {
    let w = World::new();
    let (d, text) = descriptor(
        "tool [DATA]",
        r#"[{"id": "req", "name": "R", "path-template": "req.txt"}, {"id": "opt", "name": "O", "path-template": "opt.txt", "optional": true}]"#,
    );
    let inv = Value::parse(r#"{"data": "input.dat"}"#).unwrap();
    let job = prepare(&d, &text, &inv, &w.options()).unwrap();
    let outcome = w.runner(PullPolicy::Missing).await.run(&job, Default::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.missing_outputs.len(), 1);
    assert!(outcome.missing_outputs[0].contains("\"req\""));

    std::fs::write(w.dir.path().join("out/req.txt"), b"result").unwrap();
    let outcome = w.runner(PullPolicy::Missing).await.run(&job, Default::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded);
    let rec = w.store.get_run(outcome.run_id.as_str()).unwrap();
    let out = rec.files.iter().find(|f| f.key == "req").unwrap();
    assert_eq!(out.sha256.as_deref(), Some(berth_store::hash::sha256_hex(b"result").as_str()));
    assert!(rec.files.iter().all(|f| f.key != "opt"), "an absent optional output is not listed as missing");
}

#[tokio::test]
async fn a_missing_image_is_pulled_or_refused_before_anything_is_recorded() {
    let w = World::new();
    let other = "example/absent:2";
    let (_, text) = descriptor("tool [DATA]", "[]");
    let text = text.replace(IMAGE, other);
    let d2 = berth_descriptor::validate(Value::parse(&text).unwrap()).descriptor.unwrap();
    let inv = Value::parse(r#"{"data": "input.dat"}"#).unwrap();
    let job = prepare(&d2, &text, &inv, &w.options()).unwrap();
    let err = w.runner(PullPolicy::Never).await.run(&job, Default::default()).await.unwrap_err();
    assert!(err.to_string().contains(other), "{err}");
    assert!(w.store.list_runs(&Default::default()).unwrap().is_empty());

    w.engine.add_registry_image(other, fake_image(other), Vec::new());
    let outcome = w.runner(PullPolicy::Missing).await.run(&job, Default::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert!(w.engine.calls().iter().any(|c| matches!(c, Call::PullImage { reference, .. } if reference == other)));
}

#[tokio::test]
async fn an_image_refused_by_the_scan_policy_creates_no_container_and_the_decision_is_recorded() {
    let w = World::new();
    let (d, text) = descriptor("tool [DATA]", "[]");
    let inv = Value::parse(r#"{"data": "input.dat"}"#).unwrap();
    let job = prepare(&d, &text, &inv, &w.options()).unwrap();
    for refuse in [true, false] {
        let mut runner = w.runner(PullPolicy::Missing).await;
        let gate = berth_run::gate::Fixed {
            auth: None,
            check: Some(berth_run::ImageCheck {
                refuse,
                summary: "1 critical finding with a fix".into(),
                record_json: format!(r#"{{"verdict": "{}"}}"#, if refuse { "refuse" } else { "warn" }),
            }),
        };
        runner.gate = &gate;
        let before = created_spec(&w.engine.calls()).len();
        let outcome = runner.run(&job, Default::default()).await.unwrap();
        let record = w.store.get_run(outcome.run_id.as_str()).unwrap().to_execution_record();
        let verdict = &record["berth"]["scan-policy"]["verdict"];
        if refuse {
            assert_eq!(outcome.status, RunStatus::Failed);
            assert!(outcome.error.as_deref().unwrap().contains("refused by the scan policy"), "{outcome:?}");
            assert_eq!(created_spec(&w.engine.calls()).len(), before, "no container for a refused image");
            assert_eq!(verdict, "refuse");
        } else {
            assert_eq!(outcome.status, RunStatus::Succeeded);
            assert_eq!(created_spec(&w.engine.calls()).len(), before + 1);
            assert_eq!(verdict, "warn");
        }
    }
}

#[tokio::test]
async fn the_recorded_digest_is_the_one_of_the_repository_run_and_pulls_carry_credentials() {
    let w = World::new();
    let other = "127.0.0.1:5000/lab/tool:2";
    let (_, text) = descriptor("tool [DATA]", "[]");
    let text = text.replace(IMAGE, other);
    let d2 = berth_descriptor::validate(Value::parse(&text).unwrap()).descriptor.unwrap();
    let inv = Value::parse(r#"{"data": "input.dat"}"#).unwrap();
    let job = prepare(&d2, &text, &inv, &w.options()).unwrap();
    let mut image = fake_image(other);
    let digest = format!("sha256:{}", "b".repeat(64));
    image.repo_digests =
        vec![format!("mirror.lab/tool@sha256:{}", "a".repeat(64)), format!("127.0.0.1:5000/lab/tool@{digest}")];
    w.engine.add_registry_image(other, image, Vec::new());
    let auth =
        berth_engine::RegistryAuth { username: Some("ana".into()), password: Some("pw".into()), ..Default::default() };
    let mut runner = w.runner(PullPolicy::Always).await;
    let gate = berth_run::gate::Fixed { auth: Some(auth.clone()), check: None };
    runner.gate = &gate;
    let outcome = runner.run(&job, Default::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert!(w.engine.calls().iter().any(|c| matches!(c, Call::PullImage { auth: Some(a), .. } if *a == auth)));
    let rec = w.store.get_run(outcome.run_id.as_str()).unwrap();
    assert_eq!(rec.update.image_digest.as_deref(), Some(format!("127.0.0.1:5000/lab/tool@{digest}").as_str()));
}

#[tokio::test]
async fn a_cancelled_run_creates_no_container_and_is_recorded_cancelled() {
    let w = World::new();
    let (d, text) = descriptor("tool [DATA]", "[]");
    let inv = Value::parse(r#"{"data": "input.dat"}"#).unwrap();
    let job = prepare(&d, &text, &inv, &w.options()).unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    cancel.cancel();
    let outcome = w.runner(PullPolicy::Missing).await.run(&job, cancel).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Cancelled);
    assert!(created_spec(&w.engine.calls()).is_empty());
}

#[tokio::test]
async fn an_orphaned_run_is_finished_from_its_container() {
    let w = World::new();
    let (d, text) = descriptor("tool [DATA]", r#"[{"id": "req", "name": "R", "path-template": "req.txt"}]"#);
    let inv = Value::parse(r#"{"data": "input.dat"}"#).unwrap();
    let job = prepare(&d, &text, &inv, &w.options()).unwrap();
    // A berth that died after starting the container: record, container started, owner gone.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let id = w
        .store
        .create_run(&berth_store::NewRun {
            tool_name: job.tool.clone(),
            tool_version: job.tool_version.clone(),
            descriptor_json: text.clone(),
            descriptor_sha256: job.descriptor_sha256.clone(),
            invocation_json: "{}".into(),
            command_line: job.command_line.clone(),
            plan_json: serde_json::to_string(&job).unwrap(),
            image_ref: Some(IMAGE.into()),
            output_dir: job.output_dir.to_string_lossy().into_owned(),
            owner_pid: dead_pid,
            owner_host: berth_run::HostInfo::current().hostname,
            owner_started_at: Some("gone:1".into()),
            labels: Default::default(),
        })
        .unwrap();
    let spec = berth_run::run::container_spec(&job, &id, &fake_image(IMAGE).id, Path::new("/x/command.sh"), None);
    w.engine.push_run(
        ScriptedRun::exits(0).with_output(LogChunk { stream: LogStreamKind::Stdout, bytes: "done\n".into() }),
    );
    let c = w.engine.create_container(&spec).await.unwrap();
    w.engine.start_container(&c.id).await.unwrap();
    w.store.set_status(&id, RunStatus::Running, None).unwrap();
    w.engine.wait_container(&c.id).await.unwrap();
    std::fs::write(w.dir.path().join("out/req.txt"), b"ok").unwrap();

    let done = berth_run::reconcile(&w.store, &*w.engine, 1 << 20).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].to, RunStatus::Succeeded);
    let rec = w.store.get_run(id.as_str()).unwrap();
    assert_eq!(rec.status, RunStatus::Succeeded);
    assert_eq!(rec.update.exit_code, Some(0));
    assert_eq!(std::fs::read_to_string(w.store.log_paths(&id).0).unwrap(), "done\n");
    assert!(w.engine.container_ids().is_empty(), "the finished container is removed");
    // Reconciling again changes nothing.
    assert!(berth_run::reconcile(&w.store, &*w.engine, 1 << 20).await.unwrap().is_empty());
}

/// Collects what a run shows the user.
#[derive(Default)]
struct Recorded {
    stdout: std::sync::Mutex<Vec<u8>>,
    stderr: std::sync::Mutex<Vec<u8>>,
}

impl berth_run::OutputSink for Recorded {
    fn stdout(&self, bytes: &[u8]) {
        self.stdout.lock().unwrap().extend_from_slice(bytes);
    }
    fn stderr(&self, bytes: &[u8]) {
        self.stderr.lock().unwrap().extend_from_slice(bytes);
    }
    fn note(&self, _: &str) {}
}

#[tokio::test]
async fn a_log_stream_left_open_after_the_exit_is_read_again_in_full() {
    let w = World::new();
    let (d, text) = descriptor("tool [DATA]", "[]");
    let job = prepare(&d, &text, &Value::parse(r#"{"data": "input.dat"}"#).unwrap(), &w.options()).unwrap();
    let chunk = |stream, s: &str| LogChunk { stream, bytes: s.to_owned().into() };
    w.engine.push_run(
        ScriptedRun::exits(0)
            .with_output(chunk(LogStreamKind::Stdout, "one\n"))
            .with_output(chunk(LogStreamKind::Stderr, "warn\n"))
            .with_output(chunk(LogStreamKind::Stdout, "two\n"))
            .stalling_follow_after(2),
    );
    let sink = Recorded::default();
    let mut runner = w.runner(PullPolicy::Missing).await;
    runner.sink = &sink;
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), runner.run(&job, Default::default()))
        .await
        .expect("the run must not hang on a log stream that stays open")
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded);
    // Shown once each, in full; the log files hold everything.
    assert_eq!(String::from_utf8(sink.stdout.lock().unwrap().clone()).unwrap(), "one\ntwo\n");
    assert_eq!(String::from_utf8(sink.stderr.lock().unwrap().clone()).unwrap(), "warn\n");
    let (out, err) = w.store.log_paths(&outcome.run_id);
    assert_eq!(std::fs::read_to_string(out).unwrap(), "one\ntwo\n");
    assert_eq!(std::fs::read_to_string(err).unwrap(), "warn\n");
    let follows: Vec<bool> = w
        .engine
        .calls()
        .iter()
        .filter_map(|c| if let Call::ContainerLogs { follow, .. } = c { Some(*follow) } else { None })
        .collect();
    assert_eq!(follows, [true, false], "followed first, then read again without following");
}
