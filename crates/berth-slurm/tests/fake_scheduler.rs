//! `SlurmBackend` against the recording `FakeScheduler` and `FakeEngine`: what it submits
//! (one array for runs started together, one job each with `--no-arrays`), the job script it
//! writes, what it records, and `scancel` on cancellation. The node is simulated by writing
//! the files the job script would write. The real cluster is exercised by `crates/berth`'s
//! `slurm_cli` tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_descriptor::{Mode, Value};
use berth_engine::fake::{FakeEngine, fake_image};
use berth_engine::{Engine, NoProgress};
use berth_run::prepare::{HostFacts, PrepareOptions};
use berth_run::{ExecutionBackend, PreparedJob, PullPolicy, Runner, Silent, prepare};
use berth_slurm::{FakeScheduler, NodeEngine, SlurmBackend, SlurmOptions};
use berth_store::{RunStatus, Store};
use tempfile::TempDir;

const IMAGE: &str = "example/tool:1";

struct World {
    dir: TempDir,
    store: Store,
    engine: Arc<FakeEngine>,
    fake: Arc<FakeScheduler>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("input.dat"), b"input bytes").unwrap();
        let store = Store::open(&dir.path().join("home")).unwrap();
        let engine = Arc::new(FakeEngine::new());
        engine.add_image(IMAGE, fake_image(IMAGE));
        World { dir, store, engine, fake: Arc::new(FakeScheduler::new()) }
    }

    fn job(&self, name: &str) -> PreparedJob {
        let text = format!(
            r#"{{"name": "tool", "tool-version": "1", "description": "d", "schema-version": "0.5",
                "command-line": "tool [DATA] > result.txt",
                "container-image": {{"type": "docker", "image": "{IMAGE}"}},
                "suggested-resources": {{"cpu-cores": 2, "ram": 0.5, "walltime-estimate": 90}},
                "inputs": [{{"id": "data", "name": "Data", "type": "File", "value-key": "[DATA]"}}],
                "output-files": [{{"id": "result", "name": "Result", "path-template": "result.txt"}}]}}"#
        );
        let d = berth_descriptor::validate(Value::parse(&text).unwrap()).descriptor.unwrap();
        let opts = PrepareOptions {
            output_dir: self.dir.path().join("out").join(name),
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
            host: HostFacts { uid: 1000, gid: 1000, sudo: None, memory_bytes: 8 << 30, cpus: 4 },
        };
        prepare(&d, &text, &Value::parse(r#"{"data": "input.dat"}"#).unwrap(), &opts).unwrap()
    }

    fn backend(&self, arrays: bool) -> SlurmBackend {
        let mut o = SlurmOptions::new(NodeEngine::Docker { host: Some("unix:///d.sock".into()) }, self.work());
        o.arrays = arrays;
        o.array_window = Duration::from_millis(200);
        o.poll = Duration::from_millis(50);
        o.cluster.partition = Some("short".into());
        SlurmBackend::new(self.fake.clone(), o)
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("jobs")
    }

    async fn runner(&self) -> Runner<'_> {
        Runner {
            store: &self.store,
            engine: self.engine.clone() as Arc<dyn Engine>,
            engine_info: self.engine.info().await.unwrap(),
            host: berth_run::HostInfo::current(),
            sink: &Silent,
            pull_reporter: &NoProgress,
            pull: PullPolicy::Missing,
            gate: &berth_run::gate::OPEN,
            log_max_bytes: 1 << 20,
            labels: Default::default(),
        }
    }
}

/// What the job script does on the node: output, the tool's result, the exit code.
fn run_on_node(job_dir: &Path, output_dir: &Path, code: i32) {
    std::fs::write(job_dir.join("stdout"), "hello\n").unwrap();
    std::fs::write(job_dir.join("stderr"), "").unwrap();
    std::fs::write(output_dir.join("result.txt"), "42\n").unwrap();
    std::fs::write(job_dir.join("exit-code"), format!("{code}\n")).unwrap();
}

#[tokio::test]
async fn runs_started_together_become_one_array_and_each_is_recorded_with_its_task() {
    let w = World::new();
    let backend = w.backend(true);
    let runner = w.runner().await;
    let jobs: Vec<PreparedJob> = ["a", "b", "c"].iter().map(|n| w.job(n)).collect();
    // The first submission gets job id 101: its tasks run until the "node" has written their files.
    for t in 0..3 {
        w.fake.set_state(&format!("101_{t}"), "RUNNING");
    }
    let node = async {
        while w.fake.submitted().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sub = &w.fake.submitted()[0];
        let tasks = std::fs::read_to_string(Path::new(&sub.script).with_file_name("tasks")).unwrap();
        for (t, script) in tasks.lines().enumerate() {
            let dir = Path::new(script).parent().unwrap();
            let text = std::fs::read_to_string(script).unwrap();
            let out = jobs.iter().map(|j| j.output_dir.clone()).find(|o| text.contains(&*o.to_string_lossy())).unwrap();
            run_on_node(dir, &out, 0);
            w.fake.set_state(&format!("101_{t}"), "COMPLETED");
        }
    };
    let run = |j| backend.run(&runner, j, Default::default());
    let ((a, b, c), ()) = tokio::join!(async { tokio::join!(run(&jobs[0]), run(&jobs[1]), run(&jobs[2])) }, node);

    let subs = w.fake.submitted();
    assert_eq!(subs.len(), 1, "one sbatch for the three runs: {subs:?}");
    let args = &subs[0].args;
    for want in ["--cpus-per-task=2", "--mem=512M", "--time=2", "--partition=short", "--array=0-2"] {
        assert!(args.contains(&want.to_string()), "{want} missing from {args:?}");
    }
    assert!(subs[0].text.contains("SLURM_ARRAY_TASK_ID"), "{}", subs[0].text);
    let mut ids = Vec::new();
    for outcome in [a.unwrap(), b.unwrap(), c.unwrap()] {
        assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
        assert_eq!(outcome.exit_code, Some(0));
        assert_eq!(outcome.outputs.len(), 1);
        let job = w.store.slurm_job(&outcome.run_id).unwrap().unwrap();
        assert_eq!(job.array_job_id.as_deref(), Some("101"));
        assert_eq!(job.state.as_deref(), Some("COMPLETED"));
        assert_eq!(job.node.as_deref(), Some("node1"));
        ids.push(job.job_id);
        let record = w.store.get_run(outcome.run_id.as_str()).unwrap();
        assert_eq!(record.new.labels.get("berth.backend").map(String::as_str), Some("slurm"));
        assert_eq!(std::fs::read_to_string(&record.stdout_path).unwrap(), "hello\n");
        // The job script runs the confined container with the engine berth was given.
        let script = std::fs::read_to_string(&job.script_path).unwrap();
        assert!(script.contains("docker --host unix:///d.sock run --name berth-"), "{script}");
        assert!(script.contains("--network none --cap-drop ALL --security-opt no-new-privileges"), "{script}");
    }
    ids.sort();
    assert_eq!(ids, ["101_0", "101_1", "101_2"]);
}

#[tokio::test]
async fn without_arrays_each_run_is_its_own_job_and_cancelling_calls_scancel() {
    let w = World::new();
    let backend = w.backend(false);
    let runner = w.runner().await;
    let job = w.job("x");
    w.fake.set_state("101", "RUNNING");
    let cancel = tokio_util::sync::CancellationToken::new();
    let stop = async {
        while w.fake.submitted().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cancel.cancel();
    };
    let (outcome, ()) = tokio::join!(backend.run(&runner, &job, cancel.clone()), stop);
    let outcome = outcome.unwrap();
    assert_eq!(outcome.status, RunStatus::Cancelled);
    assert_eq!(w.fake.cancelled(), ["101"]);
    let subs = w.fake.submitted();
    assert_eq!(subs.len(), 1);
    assert!(!subs[0].args.iter().any(|a| a.starts_with("--array")), "{:?}", subs[0].args);
    assert!(subs[0].text.contains("trap on_signal TERM INT"));
    let job = w.store.slurm_job(&outcome.run_id).unwrap().unwrap();
    assert_eq!(job.state.as_deref(), Some("CANCELLED"));

    // A failed tool: the exit code from the node, not Slurm's.
    w.fake.set_state("102", "RUNNING");
    let job = w.job("y");
    let node = async {
        while w.fake.submitted().len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let dir = PathBuf::from(&w.fake.submitted()[1].script).parent().unwrap().to_path_buf();
        run_on_node(&dir, &job.output_dir, 7);
        w.fake.set_state("102", "FAILED");
    };
    let (outcome, ()) = tokio::join!(backend.run(&runner, &job, Default::default()), node);
    let outcome = outcome.unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.exit_code, Some(7));
    assert_eq!(outcome.error.as_deref(), Some("the tool exited with code 7"));
    assert_eq!(backend.submit_stats().0, 2);
}

#[tokio::test]
async fn a_detached_run_is_recorded_queued_and_an_abandoned_one_is_cancelled() {
    let w = World::new();
    let backend = w.backend(false);
    let runner = w.runner().await;
    let run = backend.submit(&runner, &w.job("d")).await.unwrap();
    assert_eq!(w.store.get_run(run.as_str()).unwrap().status, RunStatus::Queued);
    assert_eq!(w.store.slurm_job(&run).unwrap().unwrap().job_id, "101");
    // A recovering pipeline abandons the runs of a dead berth process: scancel, then cancelled.
    backend.abandon(&w.store, &run);
    assert_eq!(w.fake.cancelled(), ["101"]);
    let record = w.store.get_run(run.as_str()).unwrap();
    assert_eq!(record.status, RunStatus::Cancelled);
    assert!(record.status_message.unwrap().contains("Slurm job 101 was cancelled"));
}

#[tokio::test]
async fn an_image_the_site_refuses_is_recorded_failed_and_never_reaches_the_scheduler() {
    let w = World::new();
    let backend = w.backend(false);
    let mut runner = w.runner().await;
    let gate = berth_run::gate::Fixed {
        auth: None,
        check: Some(berth_run::ImageCheck {
            refuse: true,
            summary: "refuse: 1 critical finding with a fix".into(),
            record_json: r#"{"verdict": "refuse", "mode": "enforce"}"#.into(),
        }),
    };
    runner.gate = &gate;

    // Detached: an error naming the run, which is recorded failed with the decision.
    let err = backend.submit(&runner, &w.job("refused")).await.expect_err("refused");
    let berth_run::RunError::Refused { run_id, message } = &err else { panic!("{err:?}") };
    assert!(message.contains("refused by the scan policy"), "{message}");
    let record = w.store.get_run(run_id.as_str()).unwrap().to_execution_record();
    assert_eq!(record["berth"]["scan-policy"]["verdict"], "refuse", "{record}");
    assert_eq!(w.store.get_run(run_id.as_str()).unwrap().status, RunStatus::Failed);

    // Waited for: a failed outcome, as a local run's.
    let outcome = backend.run(&runner, &w.job("refused-2"), Default::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(outcome.error.as_deref().is_some_and(|e| e.contains("refused by the scan policy")));
    assert!(w.fake.submitted().is_empty(), "nothing was submitted");
}
