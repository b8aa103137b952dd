//! `--backend slurm` end to end on a real one-node Slurm cluster (`scripts/slurm.sh`: munged,
//! slurmctld and slurmd on loopback) with the private Docker daemon as the nodes' engine: the
//! example tool as a Slurm job, a failing tool, a detached job cancelled with `berth cancel`
//! (scancel), Podman on the node through its service, and the example DICOM pipeline through
//! job arrays, each checked in the run records (job id, state, node, elapsed).
//!
//! Needs root (to start the cluster and the engine): without it these tests fail with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// A berth home and a working directory, with the cluster and the engine set up.
struct World {
    dir: TempDir,
    docker: String,
    slurm: String,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl World {
    fn new() -> World {
        let docker = berth_testkit::docker_host();
        let slurm = berth_testkit::slurm_conf();
        // The home is under the repository's target/ (not /tmp) as it would be on a shared
        // file system; here the one node sees every path anyway.
        let dir = tempfile::tempdir().unwrap();
        World { dir, docker, slurm }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = berth_testkit::berth_command(env!("CARGO_BIN_EXE_berth"), self.dir.path(), &self.docker);
        c.args(args).env("BERTH_CONFIG", self.path("no-config.toml")).env("SLURM_CONF", &self.slurm);
        c
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        berth_testkit::stdout_of_success(args, &self.berth(args))
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// A descriptor on the busybox image that prints, sleeps, and exits with a code.
    fn sleeper(&self) -> String {
        let d = serde_json::json!({
            "name": "sleeper",
            "tool-version": "1.0",
            "schema-version": "0.5",
            "description": "Prints, sleeps, exits with the code asked for (test tool for the Slurm backend).",
            "command-line": "echo started; echo to-stderr >&2; sleep [SECONDS]; echo done > done.txt; exit [CODE]",
            "container-image": {"type": "docker", "image": berth_testkit::BUSYBOX},
            "inputs": [
                {"id": "seconds", "name": "Seconds", "type": "Number", "value-key": "[SECONDS]"},
                {"id": "code", "name": "Exit code", "type": "Number", "value-key": "[CODE]"}
            ],
            "output-files": [{"id": "done", "name": "Done", "path-template": "done.txt"}],
            "suggested-resources": {"cpu-cores": 1, "ram": 0.25, "walltime-estimate": 120}
        });
        let p = self.path("sleeper.json");
        std::fs::write(&p, d.to_string()).unwrap();
        p.to_string_lossy().into_owned()
    }

    /// The run's Slurm job as `berth show --json` records it.
    fn job(&self, run: &str) -> Value {
        self.json(&["show", run, "--json"])["berth-slurm-job"].clone()
    }

    fn containers_of(&self, run: &str) -> String {
        let out = Command::new("docker")
            .args(["--host", &self.docker, "ps", "--all", "--quiet", "--filter", &format!("label=berth.run-id={run}")])
            .output()
            .unwrap();
        text(&out.stdout).trim().to_string()
    }
}

fn hostname() -> String {
    text(&Command::new("hostname").arg("-s").output().unwrap().stdout).trim().to_string()
}

fn example(rel: &str) -> PathBuf {
    berth_testkit::repo_root().join("examples").join(rel)
}

#[test]
fn the_example_tool_runs_as_a_slurm_job_and_its_record_carries_the_job() {
    let w = World::new();
    berth_testkit::dicom_image(&w.docker);
    let out = w
        .cmd(&[
            "run",
            &example("dicom-normalize/dicom-normalize.json").to_string_lossy(),
            "-i",
            &example("dicom-normalize/invocation.json").to_string_lossy(),
            "--output-dir",
            &w.path("out").to_string_lossy(),
            "--backend",
            "slurm",
            "--json",
        ])
        .current_dir(example("dicom-normalize"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stderr).contains("submitted to Slurm as job"), "{}", text(&out.stderr));
    let outcome: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(outcome["status"], "succeeded");
    assert!(w.path("out/out/phantom-mr-normalized.dcm").is_file());

    let run = outcome["run_id"].as_str().unwrap();
    let record = w.json(&["show", run, "--json"]);
    let job = &record["berth-slurm-job"];
    assert!(job["job_id"].as_str().unwrap().chars().all(|c| c.is_ascii_digit()), "{job}");
    assert_eq!(job["state"], "COMPLETED", "{job}");
    assert_eq!(job["node"], hostname().as_str(), "{job}");
    assert_eq!(job["slurm_exit_code"], "0:0", "{job}");
    assert!(job["elapsed_seconds"].as_i64().is_some(), "{job}");
    // The job script ran exactly berth's confinement on the node's engine.
    let script = std::fs::read_to_string(job["script_path"].as_str().unwrap()).unwrap();
    for flag in
        ["--network none", "--cap-drop ALL", "--security-opt no-new-privileges", ",readonly", "--user 65534:65534"]
    {
        assert!(script.contains(flag), "{flag} missing from the job script:\n{script}");
    }
    assert!(script.contains(&format!("docker --host {}", w.docker)), "{script}");
    // `berth status` reads the same job.
    let status = w.json(&["status", run, "--json"]);
    assert_eq!(status["status"], "succeeded");
    assert_eq!(status["job"]["job_id"], job["job_id"]);
    eprintln!("example tool: run {run}, Slurm job {job}");
}

#[test]
fn a_failing_tool_fails_its_job_and_its_run_with_the_tools_exit_code_and_logs() {
    let w = World::new();
    let d = w.sleeper();
    let out = w.berth(&[
        "run",
        &d,
        "-i",
        r#"{"seconds": 0, "code": 3}"#,
        "-o",
        &w.path("out").to_string_lossy(),
        "--backend",
        "slurm",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}{}", text(&out.stdout), text(&out.stderr));
    let outcome: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(outcome["status"], "failed");
    assert_eq!(outcome["exit_code"], 3);
    // the record says why without the log: the exit code and the end of the job's stderr
    assert_eq!(outcome["error"], "the tool exited with code 3; its stderr ends with:\nto-stderr");
    let run = outcome["run_id"].as_str().unwrap();
    let job = w.job(run);
    assert_eq!(job["state"], "FAILED", "{job}");
    assert_eq!(job["slurm_exit_code"], "3:0", "{job}");
    // Logs come from the job's output files, stream by stream.
    let logs = w.path("home/logs").join(run);
    assert_eq!(std::fs::read_to_string(logs.join("stdout")).unwrap().trim(), "started");
    assert_eq!(std::fs::read_to_string(logs.join("stderr")).unwrap().trim(), "to-stderr");
    eprintln!("failed job: run {run}, Slurm job {job}");
    assert_eq!(w.containers_of(run), "", "the job removes its container");
}

#[test]
fn a_detached_job_is_cancelled_with_scancel_and_its_container_stopped() {
    let w = World::new();
    let d = w.sleeper();
    let out = w.ok(&[
        "run",
        &d,
        "-i",
        r#"{"seconds": 300, "code": 0}"#,
        "-o",
        &w.path("out").to_string_lossy(),
        "--backend",
        "slurm",
        "--detach",
    ]);
    let run = out.trim().to_string();
    // Wait until the tool runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = w.json(&["status", &run, "--json"]);
        if s["job"]["state"] == "RUNNING" && w.path("home/slurm").join(&run).join("stdout").exists() {
            break;
        }
        assert!(Instant::now() < deadline, "the job never ran: {s}");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(w.json(&["status", &run, "--json"])["status"], "running");
    w.ok(&["cancel", &run]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let s = loop {
        let s = w.json(&["status", &run, "--json"]);
        if s["status"] != "running" && s["status"] != "queued" {
            break s;
        }
        assert!(Instant::now() < deadline, "the job was not cancelled: {s}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(s["status"], "cancelled", "{s}");
    assert_eq!(s["job"]["state"], "CANCELLED", "{s}");
    assert!(!w.path("out/done.txt").exists(), "the tool did not run to the end");
    // The job script's trap stopped and removed the container.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !w.containers_of(&run).is_empty() {
        assert!(Instant::now() < deadline, "the container of the cancelled job is still there");
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!("cancelled job: run {run}, Slurm job {}", s["job"]);
}

#[test]
fn podman_on_the_node_runs_through_the_service_berth_was_given_and_defaulted_limits_follow_the_allocation() {
    let w = World::new();
    let podman = berth_testkit::podman_host();
    let d = w.sleeper();
    // No suggested-resources: memory and CPUs are host defaults, which a node takes from its allocation.
    let mut descriptor: Value = serde_json::from_str(&std::fs::read_to_string(&d).unwrap()).unwrap();
    descriptor.as_object_mut().unwrap().remove("suggested-resources");
    std::fs::write(&d, descriptor.to_string()).unwrap();
    let out = w
        .cmd(&["run", &d, "-i", r#"{"seconds": 0, "code": 0}"#, "-o", "out", "--backend", "slurm", "--json"])
        .env("BERTH_ENGINE", "podman")
        .env("CONTAINER_HOST", &podman)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let outcome: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let job = w.job(outcome["run_id"].as_str().unwrap());
    assert_eq!(job["state"], "COMPLETED", "{job}");
    let submitted = job["submit_json"].as_str().unwrap();
    assert!(!submitted.contains("--mem=") && !submitted.contains("--cpus-per-task"), "{submitted}");
    let script = std::fs::read_to_string(job["script_path"].as_str().unwrap()).unwrap();
    assert!(script.contains(&format!("podman --remote --url {podman} run ")), "{script}");
    assert!(script.contains(r#"--memory "$memory" --cpus "$cpus""#), "{script}");
    assert!(w.path("out/done.txt").is_file());
}

fn task_jobs(w: &World, pipeline: &str) -> Vec<(String, String, Value)> {
    let show = w.json(&["pipeline", "show", pipeline, "--json"]);
    show["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let run = t["run_id"].as_str().unwrap().to_string();
            (t["step"].as_str().unwrap().to_string(), run.clone(), w.job(&run))
        })
        .collect()
}

#[test]
fn the_example_pipeline_runs_through_slurm_job_arrays() {
    let w = World::new();
    berth_testkit::dicom_image(&w.docker);
    berth_testkit::example_image(&w.docker, "dicom-stats");
    berth_testkit::example_image(&w.docker, "dicom-summary");
    let bids = w.path("bids");
    berth_testkit::run_script("examples/dicom-pipeline/make-dataset.sh", &[&bids.to_string_lossy()], &[]).unwrap();
    let pipeline = example("dicom-pipeline/pipeline.yaml");
    let out = w.berth(&[
        "pipeline",
        "run",
        &pipeline.to_string_lossy(),
        "--bids",
        &bids.to_string_lossy(),
        "-o",
        &w.path("results").to_string_lossy(),
        "--backend",
        "slurm",
        "--json",
    ]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let outcome: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(outcome["status"], "succeeded");
    assert!(w.path("results/summary").read_dir().unwrap().next().is_some());
    let id = outcome["id"].as_str().unwrap();
    let jobs = task_jobs(&w, id);
    assert_eq!(jobs.len(), 11, "5 normalize, 5 stats, 1 summary");
    for (step, run, job) in &jobs {
        assert_eq!(job["state"], "COMPLETED", "{step} {run}: {job}");
        assert_eq!(job["node"], hostname().as_str(), "{step} {run}: {job}");
        eprintln!(
            "pipeline {step:<10} run {run} job {:<6} {} on {} elapsed {}s MaxRSS {}",
            job["job_id"].as_str().unwrap(),
            job["state"],
            job["node"],
            job["elapsed_seconds"],
            job["max_rss_bytes"]
        );
    }
    // The five sessions of the first step were ready together: one array, one task each.
    let normalize: Vec<&Value> = jobs.iter().filter(|(s, _, _)| s == "normalize").map(|(_, _, j)| j).collect();
    let arrays: std::collections::BTreeSet<&str> =
        normalize.iter().map(|j| j["array_job_id"].as_str().expect("an array task")).collect();
    assert_eq!(arrays.len(), 1, "{normalize:?}");
    let mut tasks: Vec<String> = normalize.iter().map(|j| j["job_id"].as_str().unwrap().to_string()).collect();
    tasks.sort();
    let a = arrays.iter().next().unwrap();
    assert_eq!(tasks, (0..5).map(|i| format!("{a}_{i}")).collect::<Vec<_>>());
    // The summary waited for every stats task (tracked by berth) and ran alone: a plain job.
    let summary = &jobs.iter().find(|(s, _, _)| s == "summary").unwrap().2;
    assert!(summary["array_job_id"].is_null(), "{summary}");
    assert!(Path::new(summary["script_path"].as_str().unwrap()).is_file());
}
