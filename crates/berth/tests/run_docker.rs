//! `berth run` end to end against real engines — every test runs on Docker and on Podman
//! (through its Docker-compatible service): exit codes, outputs, secure defaults as the kernel
//! sees them, cancellation, crash reconciliation, provenance hashes, registered tools and image
//! labels, XNAT Commands, and the DICOM example checked pixel by pixel by an independent reader.
//!
//! Needs the engines (`DOCKER_HOST` / `CONTAINER_HOST`, else `scripts/dockerd.sh` and
//! `scripts/podman.sh`, as root): without them these tests fail with the reason, never skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// One test's world: a store, a working directory, the engine address.
struct World {
    home: TempDir,
    work: TempDir,
    host: String,
    /// The engine's own client for set-up steps berth does not do (`docker` or `podman`).
    client: &'static str,
}

/// The engines every test runs on.
macro_rules! on_both_engines {
    ($($name:ident),+ $(,)?) => {
        mod docker {
            $( #[test] fn $name() { super::$name(super::World::new(berth_testkit::docker_host(), "docker")); } )+
        }
        mod podman {
            $( #[test] fn $name() { super::$name(super::World::new(berth_testkit::podman_host(), "podman")); } )+
        }
    };
}

on_both_engines!(
    the_tool_exit_code_is_returned_and_recorded,
    a_missing_required_output_fails_the_run_and_is_named,
    limits_user_network_and_capabilities_are_applied,
    a_tool_cannot_write_its_read_only_input,
    refused_before_anything_starts,
    ctrl_c_stops_and_removes_the_container_and_marks_the_run_cancelled,
    a_killed_berth_is_reconciled_by_the_next_command,
    the_dicom_example_runs_from_scratch_and_matches_an_independent_computation,
    registered_tools_and_image_labels_run_by_name,
    xnat_commands_run_with_their_mounts,
);

impl World {
    fn new(host: String, client: &'static str) -> World {
        World { home: tempfile::tempdir().unwrap(), work: tempfile::tempdir().unwrap(), host, client }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(args)
            .current_dir(self.work.path())
            .env("BERTH_HOME", self.home.path())
            .env("BERTH_CONFIG", self.home.path().join("no-config.toml"))
            .env("DOCKER_HOST", &self.host)
            .env_remove("BERTH_ENGINE")
            .env("NO_COLOR", "1");
        c
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn show(&self, run: &str) -> Value {
        let out = self.berth(&["show", run, "--json"]);
        assert!(out.status.success(), "berth show failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn last_run(&self) -> String {
        let out = self.berth(&["runs", "--json"]);
        let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
        runs[0]["id"].as_str().expect("a run").to_string()
    }

    /// A descriptor running `sh -c SCRIPT` in busybox, with optional extra inputs/outputs.
    fn busybox_tool(&self, name: &str, command_line: &str, inputs: Value, outputs: Value) -> PathBuf {
        let d = serde_json::json!({
            "name": name, "tool-version": "1.0", "description": "test tool", "schema-version": "0.5",
            "command-line": command_line,
            "container-image": {"type": "docker", "image": berth_testkit::BUSYBOX},
            "inputs": inputs, "output-files": outputs,
        });
        let mut d = d;
        if d["output-files"].as_array().is_some_and(Vec::is_empty) {
            d.as_object_mut().unwrap().remove("output-files");
        }
        self.write(&format!("{name}.json"), &d.to_string())
    }
}

fn script_input() -> Value {
    serde_json::json!([{"id": "script", "name": "Script", "type": "String", "value-key": "[SCRIPT]"}])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sha256sum(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    text(&out.stdout).split_whitespace().next().unwrap().to_string()
}

fn record_field<'a>(rec: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(rec, |v, k| &v[*k])
}

fn the_tool_exit_code_is_returned_and_recorded(w: World) {
    let d = w.busybox_tool("exit3", "sh -c [SCRIPT]", script_input(), serde_json::json!([]));
    let out = w.berth(&[
        "run",
        d.to_str().unwrap(),
        "-i",
        r#"{"script": "echo to-out; echo to-err >&2; exit 3"}"#,
        "--output-dir",
        "out",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "to-out\n");
    assert!(text(&out.stderr).contains("to-err"));
    let rec = w.show(&w.last_run());
    assert_eq!(record_field(&rec, &["public-output", "exit-code"]), 3);
    assert_eq!(record_field(&rec, &["berth", "status"]), "failed");
    assert_eq!(record_field(&rec, &["public-output", "stdout"]), "to-out\n");
    let ok = w.berth(&["run", d.to_str().unwrap(), "-i", r#"{"script": "true"}"#, "--output-dir", "out"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
}

fn a_missing_required_output_fails_the_run_and_is_named(w: World) {
    let outputs =
        serde_json::json!([{"id": "result", "name": "Result", "path-template": "result.txt", "optional": false}]);
    let d = w.busybox_tool("outputs", "sh -c [SCRIPT]", script_input(), outputs);
    let out = w.berth(&["run", d.to_str().unwrap(), "-i", r#"{"script": "true"}"#, "--output-dir", "out"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("required output missing") && err.contains("\"result\""), "{err}");
    let ok = w.berth(&[
        "run",
        d.to_str().unwrap(),
        "-i",
        r#"{"script": "echo hello > result.txt"}"#,
        "--output-dir",
        "out2",
    ]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let rec = w.show(&w.last_run());
    let produced = w.path("out2/result.txt");
    assert_eq!(std::fs::read_to_string(&produced).unwrap(), "hello\n");
    assert_eq!(
        record_field(&rec, &["public-output", "output-files", "result", "sha256"]).as_str().unwrap(),
        sha256sum(&produced),
        "the recorded hash is sha256sum's"
    );
}

fn limits_user_network_and_capabilities_are_applied(w: World) {
    let outputs = serde_json::json!([{"id": "facts", "name": "Facts", "path-template": "facts.txt"}]);
    let script = "{ id -u; id -g; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; ls /sys/class/net; \
                  cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; } > facts.txt";
    let d = w.busybox_tool("facts", "sh -c [SCRIPT]", script_input(), outputs);
    let inv = serde_json::json!({"script": script}).to_string();
    let out = w.berth(&[
        "run",
        d.to_str().unwrap(),
        "-i",
        &inv,
        "--output-dir",
        "out",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let facts = std::fs::read_to_string(w.path("out/facts.txt")).unwrap();
    let lines: Vec<&str> = facts.lines().collect();
    assert_ne!(lines[0], "0", "the tool must not run as root: {facts}");
    assert!(facts.contains("CapEff:\t0000000000000000"), "{facts}");
    assert!(facts.contains("NoNewPrivs:\t1"), "{facts}");
    assert_eq!(lines.iter().filter(|l| **l == "lo").count(), 1, "only loopback: {facts}");
    assert!(!facts.contains("eth0"), "{facts}");
    assert!(facts.contains("67108864"), "memory limit in the cgroup: {facts}");
    let rec = w.show(&w.last_run());
    let applied = record_field(&rec, &["berth", "container", "settings"]);
    assert_eq!(applied["memory_bytes"], 67_108_864);
    assert_eq!(applied["nano_cpus"], 500_000_000);
    assert_eq!(applied["pids_limit"], 50);
    // What the engine reports: Docker keeps `ALL`, Podman lists the capabilities it dropped.
    // CapEff above is what the tool actually had.
    let dropped = applied["cap_drop"].as_array().unwrap();
    assert!(
        dropped == &[serde_json::json!("ALL")]
            || ["CHOWN", "DAC_OVERRIDE", "SETUID", "SETGID"].iter().all(|c| dropped.contains(&serde_json::json!(c))),
        "{dropped:?}"
    );
    assert_eq!(applied["security_opt"], serde_json::json!(["no-new-privileges"]));
    assert_eq!(applied["network_mode"], "none");
}

fn a_tool_cannot_write_its_read_only_input(w: World) {
    let input = w.write("data/in.txt", "original\n");
    // World-writable, so that only the read-only mount can stop the write.
    std::fs::set_permissions(&input, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let inputs = serde_json::json!([{"id": "data", "name": "Data", "type": "File", "value-key": "[DATA]"}]);
    let d = w.busybox_tool("writer", "sh -c 'echo changed >> \"$0\"' [DATA]", inputs, serde_json::json!([]));
    let out = w.berth(&["run", d.to_str().unwrap(), "-i", r#"{"data": "data/in.txt"}"#, "--output-dir", "out"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("Read-only file system"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(w.path("data/in.txt")).unwrap(), "original\n");
}

fn refused_before_anything_starts(w: World) {
    let inputs = serde_json::json!([{"id": "data", "name": "Data", "type": "File", "value-key": "[DATA]"}]);
    let d = w.busybox_tool("refuse", "cat [DATA]", inputs, serde_json::json!([]));
    let out = w.berth(&["run", d.to_str().unwrap(), "-i", r#"{"data": "no/such/file"}"#, "--output-dir", "out"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no/such/file") && text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );

    let outputs = serde_json::json!([{"id": "esc", "name": "Escape", "path-template": "../escape.txt"}]);
    let d = w.busybox_tool("escape", "sh -c [SCRIPT]", script_input(), outputs);
    let out = w.berth(&["run", d.to_str().unwrap(), "-i", r#"{"script": "true"}"#, "--output-dir", "out"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("\"esc\"") && text(&out.stderr).contains("leaves the output directory"),
        "{}",
        text(&out.stderr)
    );

    let missing = serde_json::json!({
        "name": "noimage", "tool-version": "1", "description": "d", "schema-version": "0.5", "command-line": "true",
        "container-image": {"type": "docker", "image": "berth-test/does-not-exist:1"}, "inputs": [{"id": "x", "name": "x", "type": "String", "value-key": "[X]", "optional": true}],
    });
    let mut missing_cmd = missing.clone();
    missing_cmd["command-line"] = "true [X]".into();
    let d = w.write("noimage.json", &missing_cmd.to_string());
    let out = w.berth(&["run", d.to_str().unwrap(), "-i", "{}", "--output-dir", "out", "--pull", "never"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("berth-test/does-not-exist:1") && text(&out.stderr).contains("not available"),
        "{}",
        text(&out.stderr)
    );
    // Nothing was recorded for any of them.
    let runs: Value = serde_json::from_slice(&w.berth(&["runs", "--json"]).stdout).unwrap();
    assert_eq!(runs.as_array().map(Vec::len), Some(0), "{runs}");
}

/// Waits until the store shows the last run as running.
fn wait_running(w: &World) -> String {
    let start = Instant::now();
    loop {
        let out = w.berth(&["runs", "--json"]);
        if let Ok(runs) = serde_json::from_slice::<Value>(&out.stdout)
            && runs[0]["status"] == "running"
        {
            return runs[0]["id"].as_str().unwrap().to_string();
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the run never started");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn containers_of(w: &World, run: &str) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use berth_engine::Engine;
        let e = berth_engine::DockerEngine::connect(
            &berth_engine::Endpoint::parse(&w.host, Some("DOCKER_HOST"), &berth_engine::env::Env::from_process())
                .unwrap(),
        )
        .await
        .unwrap();
        e.list_containers(&[berth_engine::LabelFilter::equals("berth.run-id", run)]).await.unwrap().len()
    })
}

fn ctrl_c_stops_and_removes_the_container_and_marks_the_run_cancelled(w: World) {
    let d = w.busybox_tool("sleeper", "sh -c [SCRIPT]", script_input(), serde_json::json!([]));
    let mut child = w
        .cmd(&["run", d.to_str().unwrap(), "-i", r#"{"script": "sleep 300"}"#, "--output-dir", "out"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run = wait_running(&w);
    assert_eq!(containers_of(&w, &run), 1);
    let t = Instant::now();
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(status.code(), Some(130));
    assert_eq!(containers_of(&w, &run), 0, "no container is left behind");
    assert_eq!(record_field(&w.show(&run), &["berth", "status"]), "cancelled");
}

fn a_killed_berth_is_reconciled_by_the_next_command(w: World) {
    let outputs = serde_json::json!([{"id": "done", "name": "Done", "path-template": "done.txt"}]);
    let d = w.busybox_tool("slow", "sh -c [SCRIPT]", script_input(), outputs);
    let mut child = w
        .cmd(&[
            "run",
            d.to_str().unwrap(),
            "-i",
            r#"{"script": "sleep 6; echo finished; echo ok > done.txt"}"#,
            "--output-dir",
            "out",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let run = wait_running(&w);
    Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    // The container goes on and ends by itself (its script sleeps 6 s; asking an engine
    // whether the run is running takes up to a second or two on Podman).
    std::thread::sleep(Duration::from_secs(8));
    let listed = w.berth(&["runs"]);
    assert!(text(&listed.stderr).contains(&run), "reconciliation is reported: {}", text(&listed.stderr));
    let rec = w.show(&run);
    assert_eq!(record_field(&rec, &["berth", "status"]), "succeeded", "{rec}");
    assert_eq!(record_field(&rec, &["public-output", "exit-code"]), 0);
    assert_eq!(record_field(&rec, &["public-output", "stdout"]), "finished\n");
    assert_eq!(
        record_field(&rec, &["public-output", "output-files", "done", "sha256"]).as_str().unwrap(),
        sha256sum(&w.path("out/done.txt"))
    );
    assert_eq!(containers_of(&w, &run), 0);
}

fn the_dicom_example_runs_from_scratch_and_matches_an_independent_computation(w: World) {
    berth_testkit::dicom_image(&w.host);
    let ex = berth_testkit::repo_root().join("examples/dicom-normalize");
    let input = ex.join("data/phantom-mr.dcm");
    let inv = serde_json::json!({"input": input, "min": 0, "max": 1000}).to_string();
    let desc = ex.join("dicom-normalize.json");
    let out = w.berth(&["run", desc.to_str().unwrap(), "-i", &inv, "--output-dir", "norm"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no /bin/sh"), "the scratch image runs without a shell: {}", text(&out.stderr));
    let produced = w.path("norm/out/phantom-mr-normalized.dcm");
    assert!(produced.exists());
    let rec = w.show(&w.last_run());
    assert_eq!(
        record_field(&rec, &["public-invocation", "input", "sha256"]).as_str().unwrap(),
        sha256sum(&input),
        "the input's recorded hash is sha256sum's"
    );
    assert_eq!(
        record_field(&rec, &["public-output", "output-files", "normalized", "sha256"]).as_str().unwrap(),
        sha256sum(&produced)
    );
    let check = Command::new("python3")
        .arg(berth_testkit::repo_root().join("tools/dicom-normalize/tests/independent_check.py"))
        .args(["check", input.to_str().unwrap(), produced.to_str().unwrap(), "--min", "0", "--max", "1000"])
        .output()
        .unwrap();
    assert!(check.status.success(), "independent pixel check failed:\n{}{}", text(&check.stdout), text(&check.stderr));

    // The same image refuses a command that needs the shell it lacks.
    let mut d: Value = serde_json::from_str(&std::fs::read_to_string(&desc).unwrap()).unwrap();
    d["command-line"] = "dicom-normalize [INPUT] [OUTPUT_DIR] [MIN] [MAX] && echo done".into();
    let shelly = w.write("shelly.json", &d.to_string());
    let out = w.berth(&["run", shelly.to_str().unwrap(), "-i", &inv, "--output-dir", "norm2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("needs a shell") && text(&out.stderr).contains("`&`"), "{}", text(&out.stderr));
}

/// Builds a busybox-based image carrying `labels`, with the `docker` client against the
/// engine under test: `docker commit` keeps the labels of the container it commits, so the
/// values reach the image byte for byte (a `--change LABEL` would go through Dockerfile
/// quoting).
fn labelled_image(w: &World, tag: &str, labels: &[(&str, &str)]) {
    // Podman's Docker-compatible commit endpoint refuses the docker client's request, so each
    // engine gets its own client.
    let docker = |args: &[String]| {
        let mut cmd = Command::new(w.client);
        match w.client {
            "podman" => cmd.args(["--remote", "--url", &w.host]),
            _ => cmd.env("DOCKER_HOST", &w.host),
        };
        let out = cmd.args(args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let mut create: Vec<String> = vec!["create".into()];
    for (k, v) in labels {
        create.push("--label".into());
        create.push(format!("{k}={v}"));
    }
    create.push(berth_testkit::BUSYBOX.into());
    create.push("true".into());
    let id = docker(&create);
    docker(&["commit".into(), id.clone(), tag.into()]);
    docker(&["rm".into(), id]);
}

fn registered_tools_and_image_labels_run_by_name(w: World) {
    // A descriptor file, registered and run by name; an identical text under the same name and
    // version is unchanged, a different one is refused.
    let d = w.busybox_tool("greeter", "sh -c [SCRIPT]", script_input(), serde_json::json!([]));
    let add = w.berth(&["tool", "add", d.to_str().unwrap()]);
    assert!(add.status.success() && text(&add.stdout).contains("greeter@1.0 registered"), "{}", text(&add.stderr));
    let again = w.berth(&["tool", "add", d.to_str().unwrap()]);
    assert!(text(&again.stdout).contains("unchanged"), "{}", text(&again.stdout));
    let run =
        w.berth(&["run", "greeter@1.0", "-i", r#"{"script": "echo hello from the registry"}"#, "--output-dir", "o1"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), "hello from the registry\n");
    let rec = w.show(&w.last_run());
    let listed: Value = serde_json::from_slice(&w.berth(&["tool", "ls", "--json"]).stdout).unwrap();
    assert_eq!(
        record_field(&rec, &["berth", "descriptor-sha256"]),
        &listed[0]["descriptor-sha256"],
        "the run records the registered descriptor"
    );
    let unknown = w.berth(&["run", "nosuchtool@2", "-i", "{}"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("nosuchtool@2"), "{}", text(&unknown.stderr));

    // Tools read from an image's labels: berth's Boutiques label and XNAT's org.nrg.commands.
    let boutiques = std::fs::read_to_string(&d).unwrap().replace("greeter", "labelled");
    let xnat = r#"[{"name": "xnat-echo", "version": "2", "type": "docker", "command-line": "echo #word#", "override-entrypoint": true,
                   "inputs": [{"name": "word", "required": true}]}]"#;
    labelled_image(
        &w,
        "berth-test/labelled:1",
        &[("org.berth.boutiques.descriptor", &boutiques), ("org.nrg.commands", xnat)],
    );
    let import = w.berth(&["tool", "import", "berth-test/labelled:1"]);
    assert!(import.status.success(), "{}", text(&import.stderr));
    let out = text(&import.stdout);
    assert!(out.contains("labelled@1.0 registered") && out.contains("xnat-echo@2 registered"), "{out}");
    let run = w.berth(&["run", "xnat-echo", "-i", r#"{"word": "xnat"}"#, "--output-dir", "o2"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), "xnat\n");

    // A malformed label is an error naming the image, the label and the JSON problem.
    labelled_image(&w, "berth-test/badlabel:1", &[("org.nrg.commands", r#"[{"name": "x",}]"#)]);
    let bad = w.berth(&["tool", "import", "berth-test/badlabel:1"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(
        err.contains("berth-test/badlabel:1") && err.contains("org.nrg.commands") && err.contains("line 1"),
        "{err}"
    );
}

fn xnat_commands_run_with_their_mounts(w: World) {
    w.write("session/scan.txt", "raw scan\n");
    let command = serde_json::json!({
        "name": "copy-scan", "version": "1.0", "schema-version": "1.0", "type": "docker",
        "image": berth_testkit::BUSYBOX,
        "command-line": "cp /input/#file# /output/#file#.copy && echo copied #file# #FLAG#",
        "override-entrypoint": true,
        "mounts": [{"name": "in", "writable": false, "path": "/input"}, {"name": "out", "writable": true, "path": "/output"}],
        "inputs": [{"name": "file", "type": "string", "required": true},
                   {"name": "verbose", "type": "boolean", "replacement-key": "#FLAG#", "true-value": "-v", "false-value": ""}],
        "outputs": [{"name": "copy", "mount": "out", "path": "#file#.copy", "required": true}],
    });
    let c = w.write("copy-scan.json", &command.to_string());
    let v = w.berth(&["validate", c.to_str().unwrap()]);
    assert!(v.status.success(), "{}", text(&v.stderr));
    let sim = w.berth(&[
        "simulate",
        c.to_str().unwrap(),
        "-i",
        r#"{"file": "scan.txt", "verbose": true}"#,
        "--mount",
        "in=session",
        "--mount",
        "out=o",
    ]);
    assert!(sim.status.success(), "{}", text(&sim.stderr));
    assert_eq!(text(&sim.stdout), "cp /input/scan.txt /output/scan.txt.copy && echo copied scan.txt -v\n");
    // A preview needs neither the mounts nor the required value, and no `-i` at all.
    let preview = w.berth(&["simulate", c.to_str().unwrap()]);
    assert!(preview.status.success(), "{}", text(&preview.stderr));
    assert_eq!(text(&preview.stdout), "cp /input/<file> /output/<file>.copy && echo copied <file> \n");
    let warned = text(&preview.stderr);
    assert!(warned.contains("shown as `<file>`") && warned.contains("--mount in=HOSTPATH"), "{warned}");
    // Unbound read-only mount: named, with the flag to bind it.
    let unbound = w.berth(&["run", c.to_str().unwrap(), "-i", r#"{"file": "scan.txt"}"#, "--output-dir", "o"]);
    assert_eq!(unbound.status.code(), Some(1));
    assert!(text(&unbound.stderr).contains("--mount in="), "{}", text(&unbound.stderr));
    // Bound: the writable mount goes under the output directory.
    let run = w.berth(&[
        "run",
        c.to_str().unwrap(),
        "-i",
        r#"{"file": "scan.txt"}"#,
        "--mount",
        "in=session",
        "--output-dir",
        "o",
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), "copied scan.txt\n");
    let copy = w.path("o/out/scan.txt.copy");
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "raw scan\n");
    let rec = w.show(&w.last_run());
    assert_eq!(
        record_field(&rec, &["public-output", "output-files", "copy", "sha256"]).as_str().unwrap(),
        sha256sum(&copy)
    );
    let settings = record_field(&rec, &["berth", "container", "settings"]);
    assert_eq!(settings["network_mode"], "none");
    assert_eq!(settings["cap_drop"].as_array().map(|a| !a.is_empty()), Some(true));
}
