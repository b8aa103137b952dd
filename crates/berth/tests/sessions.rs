//! `berth session` end to end on Docker and on Podman: a session's container has the
//! confinement of `berth run`; commands run in it again and again and are recorded step by step
//! with what they changed in the output directory; exit codes come back; another berth process
//! adopts a session; `berth verify SESSION` runs the steps again in a fresh session and names a
//! step that differs; a session ends after its idle timeout with no berth process running; a
//! container killed behind berth's back is found by the next command; stop removes it.
//!
//! Needs the engines (`DOCKER_HOST` / `CONTAINER_HOST`, else `scripts/dockerd.sh` and
//! `scripts/podman.sh`, as root): without them these tests fail with the reason, never skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

struct World {
    home: TempDir,
    work: TempDir,
    host: String,
    client: &'static str,
}

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
    a_session_keeps_the_confinement_of_a_run_and_records_every_step,
    a_session_ends_when_idle_or_killed_and_is_found_by_the_next_command,
);

impl World {
    fn new(host: String, client: &'static str) -> World {
        World { home: tempfile::tempdir().unwrap(), work: tempfile::tempdir().unwrap(), host, client }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    fn berth(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .current_dir(self.work.path())
            .env("BERTH_HOME", self.home.path())
            .env("BERTH_CONFIG", self.home.path().join("no-config.toml"))
            .env("DOCKER_HOST", &self.host)
            .env_remove("BERTH_ENGINE")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        berth_testkit::stdout_of_success(args, &self.berth(args))
    }

    fn tool(&self) -> PathBuf {
        let d = serde_json::json!({
            "name": "count", "tool-version": "1.0", "description": "Counts the bytes of a file.", "schema-version": "0.5",
            "command-line": "mkdir -p out && wc -c < [INPUT] > out/[NAME].txt",
            "container-image": {"type": "docker", "image": berth_testkit::BUSYBOX},
            "inputs": [
                {"id": "input", "name": "Input", "type": "File", "value-key": "[INPUT]"},
                {"id": "name", "name": "Name", "type": "String", "value-key": "[NAME]", "default-value": "count", "optional": true}
            ],
            "output-files": [{"id": "count", "name": "Count", "path-template": "out/[NAME].txt"}]
        });
        let p = self.path("count.json");
        std::fs::write(&p, d.to_string()).unwrap();
        p
    }

    fn session(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["session", "show", id, "--json"])).unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn a_session_keeps_the_confinement_of_a_run_and_records_every_step(w: World) {
    std::fs::create_dir_all(w.path("data")).unwrap();
    std::fs::write(w.path("data/scan.txt"), "twelve bytes").unwrap();
    let tool = w.tool();
    let input = serde_json::json!({"input": w.path("data/scan.txt")}).to_string();
    let data = w.path("data").to_string_lossy().into_owned();
    let out_dir = w.path("out").to_string_lossy().into_owned();
    let started = w.ok(&[
        "session",
        "start",
        &tool.to_string_lossy(),
        "-i",
        &input,
        "--mount",
        &data,
        "-o",
        &out_dir,
        "--idle-timeout",
        "5m",
    ]);
    let id = started.trim().to_owned();

    // The confinement of a run: not root, no network beyond loopback, no capabilities, inputs
    // and extra mounts read-only, the output directory the one writable place.
    let probe = w.berth(&[
        "session",
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "id -u; grep CapEff /proc/self/status; ls /sys/class/net; \
         echo x > /berth/in/input/scan.txt 2>/dev/null && echo wrote-input; \
         echo x > DATA/new 2>/dev/null && echo wrote-mount; echo ok > probe.txt; pwd"
            .replace("DATA", &data)
            .as_str(),
    ]);
    let out = text(&probe.stdout);
    assert!(probe.status.success(), "{out}\n{}", text(&probe.stderr));
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], "0", "not root: {out}");
    assert!(lines[1].ends_with("0000000000000000"), "no capabilities: {out}");
    assert_eq!(lines[2], "lo", "no network: {out}");
    assert!(!out.contains("wrote-input") && !out.contains("wrote-mount"), "read-only: {out}");
    assert_eq!(std::fs::read_to_string(w.path("out/probe.txt")).unwrap(), "ok\n");

    // The tool's own command for an invocation; twice, with another name; the exit code of a
    // failing command; a command the session cannot run.
    w.ok(&["session", "exec", &id, "-i", &input]);
    let other = serde_json::json!({"input": w.path("data/scan.txt"), "name": "again"}).to_string();
    w.ok(&["session", "exec", &id, "-i", &other]);
    assert_eq!(std::fs::read_to_string(w.path("out/out/again.txt")).unwrap().trim(), "12");
    let failed = w.berth(&["session", "exec", &id, "--", "sh", "-c", "echo oops >&2; exit 7"]);
    assert_eq!(failed.status.code(), Some(7), "{}", text(&failed.stderr));
    assert!(text(&failed.stderr).contains("oops"));
    std::fs::write(w.path("elsewhere.txt"), "x").unwrap();
    let not_mounted = serde_json::json!({"input": w.path("elsewhere.txt")}).to_string();
    let refused = w.berth(&["session", "exec", &id, "-i", &not_mounted]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("is not mounted in this session"), "{}", text(&refused.stderr));

    // Every step is recorded with what it changed, by hash.
    let shown = w.session(&id);
    let steps = shown["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4, "{shown}");
    assert_eq!(steps[0]["changes"][0]["path"], "probe.txt");
    assert_eq!(steps[1]["changes"][0]["path"], "out/count.txt");
    assert_eq!(steps[1]["changes"][0]["change"], "added");
    assert!(steps[1]["invocation_json"].as_str().unwrap().contains("scan.txt"));
    assert_eq!(steps[3]["exit_code"], 7);
    assert_eq!(steps[3]["stderr"], "oops\n");
    let sum = steps[2]["changes"][0]["sha256"].as_str().unwrap();
    let on_disk = Command::new("sha256sum").arg(w.path("out/out/again.txt")).output().unwrap();
    assert!(text(&on_disk.stdout).starts_with(sum), "the recorded hash is the file's");
    assert_eq!(shown["session"]["status"], "running");
    assert_eq!(shown["session"]["created_by"].as_str().unwrap().split(':').next(), Some("cli"));
    let logs = w.ok(&["session", "logs", &id, "--step", "2"]);
    assert!(logs.is_empty(), "the tool's command prints nothing: {logs}");

    // `berth verify SESSION`: the steps again in a fresh session, compared step by step.
    let verify_dir = w.path("verify").to_string_lossy().into_owned();
    let verified = w.berth(&["verify", &id, "-o", &verify_dir, "--json"]);
    let v: Value = serde_json::from_slice(&verified.stdout).unwrap_or_default();
    assert_eq!(verified.status.code(), Some(0), "{v}\n{}", text(&verified.stderr));
    assert_eq!(v["steps"].as_array().unwrap().len(), 4, "{v}");
    assert_eq!(v["steps"][3]["exit_code"], serde_json::json!([7, 7]));
    // A step that does not do the same twice is named.
    w.ok(&["session", "exec", &id, "--", "sh", "-c", "echo $RANDOM$RANDOM > random.txt"]);
    let differs = w.berth(&["verify", &id, "-o", &w.path("verify2").to_string_lossy()]);
    assert_eq!(differs.status.code(), Some(1), "{}", text(&differs.stderr));
    assert!(
        text(&differs.stdout).contains("DIFFERS") && text(&differs.stdout).contains("random.txt"),
        "{}",
        text(&differs.stdout)
    );

    // Stop: the container is gone, the session ended, exec refused.
    w.ok(&["session", "stop", &id]);
    let container = shown["session"]["container_id"].as_str().unwrap();
    let inspect = Command::new(w.client)
        .env("DOCKER_HOST", &w.host)
        .env("CONTAINER_HOST", &w.host)
        .args(["inspect", container])
        .output()
        .unwrap();
    assert!(!inspect.status.success(), "the container was removed");
    let after = w.berth(&["session", "exec", &id, "--", "true"]);
    assert!(!after.status.success());
    assert!(text(&after.stderr).contains("is stopped"), "{}", text(&after.stderr));
    // The audit trail names the session's steps.
    let audit = w.ok(&["audit", "ls", "--object", &format!("session:{id}"), "--json"]);
    assert!(serde_json::from_str::<Value>(&audit).unwrap().as_array().unwrap().len() >= 5, "{audit}");
}

fn a_session_ends_when_idle_or_killed_and_is_found_by_the_next_command(w: World) {
    std::fs::create_dir_all(w.path("data")).unwrap();
    std::fs::write(w.path("data/scan.txt"), "x").unwrap();
    let tool = w.tool();
    let input = serde_json::json!({"input": w.path("data/scan.txt")}).to_string();
    let out_dir = w.path("out").to_string_lossy().into_owned();
    // Idle: no berth process is left running; the session's own loop ends it.
    let idle =
        w.ok(&["session", "start", &tool.to_string_lossy(), "-i", &input, "-o", &out_dir, "--idle-timeout", "4s"]);
    let idle = idle.trim().to_owned();
    w.ok(&["session", "exec", &idle, "--", "true"]);
    let began = Instant::now();
    let container = w.session(&idle)["session"]["container_id"].as_str().unwrap().to_owned();
    loop {
        let state = Command::new(w.client)
            .env("DOCKER_HOST", &w.host)
            .env("CONTAINER_HOST", &w.host)
            .args(["inspect", "-f", "{{.State.Running}}", &container])
            .output()
            .unwrap();
        if text(&state.stdout).trim() != "true" {
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(30), "the idle session did not end");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(began.elapsed() >= Duration::from_secs(3), "ended after {:?}: too early", began.elapsed());
    // Killed behind berth's back.
    let killed = w.ok(&["session", "start", &tool.to_string_lossy(), "-i", &input, "-o", &out_dir]);
    let killed = killed.trim().to_owned();
    let kc = w.session(&killed)["session"]["container_id"].as_str().unwrap().to_owned();
    let rm = Command::new(w.client)
        .env("DOCKER_HOST", &w.host)
        .env("CONTAINER_HOST", &w.host)
        .args(["rm", "-f", &kc])
        .output()
        .unwrap();
    assert!(rm.status.success(), "{}", text(&rm.stderr));
    // The next command records it (the idle one was recorded by the `start` after it).
    let listed = w.berth(&["session", "ls", "--all", "--json"]);
    let note = text(&listed.stderr);
    assert!(note.contains("failed: its container is gone"), "{note}");
    let all: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let find = |id: &str| all.as_array().unwrap().iter().find(|s| s["id"] == id).unwrap().clone();
    assert_eq!(find(&idle)["status"], "stopped");
    assert_eq!(find(&idle)["status_message"], "idle for 4 s (its idle timeout)");
    assert_eq!(find(&killed)["status"], "failed");
    assert!(w.ok(&["session", "ls"]).lines().count() == 1, "no running session is left");
}
