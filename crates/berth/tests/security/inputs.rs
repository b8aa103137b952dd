//! Issue 14, finding 2: the input that is checked is the input that is mounted.
//!
//! The real `berth` binary against the real engines (the private Docker daemon and Podman
//! service of berth-testkit). A run pauses between checking its inputs and creating its
//! container (the test-only `BERTH_TEST_PAUSE_BEFORE_CREATE` FIFO, so nothing here depends on
//! timing); the test swaps the checked input directory and file for links to another project's
//! data, lets the run go on, and checks that the container read the original data and that the
//! record holds the original's hash. `berth serve` refuses a link below a data root with a
//! message that names neither the link's target nor whether it exists.
//!
//! Needs the engines (`DOCKER_HOST` / `CONTAINER_HOST`, else `scripts/dockerd.sh` and
//! `scripts/podman.sh`, as root): without them these tests fail with the reason, never skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::Digest;
use tempfile::TempDir;

/// `O_NONBLOCK` on Linux (x86-64 and arm64): opening a FIFO for writing fails at once while
/// no reader has it open, instead of blocking.
const O_NONBLOCK: i32 = 0o4000;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The recorded hash of a directory holding one file `name` (berth-store's manifest format).
fn manifest_hash(name: &str, content: &[u8]) -> String {
    let text = format!("berth-manifest-v1\nfile {} {} \"{name}\"\n", content.len(), sha256_hex(content));
    sha256_hex(text.as_bytes())
}

struct World {
    home: TempDir,
    work: TempDir,
    host: String,
}

impl World {
    fn new(host: String) -> World {
        World { home: tempfile::tempdir().unwrap(), work: tempfile::tempdir().unwrap(), host }
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
            .env_remove("BERTH_TEST_PAUSE_BEFORE_CREATE")
            .env("NO_COLOR", "1");
        c
    }

    fn show_last(&self) -> Value {
        let out = self.cmd(&["runs", "--json"]).output().unwrap();
        let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
        let id = runs[0]["id"].as_str().expect("a run").to_string();
        let out = self.cmd(&["show", &id, "--json"]).output().unwrap();
        assert!(out.status.success(), "berth show failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Waits until `child` is blocked on the FIFO at `fifo` (it opened it for reading) and returns
/// the FIFO opened for writing; panics if `child` ends first.
fn wait_for_pause(child: &mut Child, fifo: &Path) -> std::fs::File {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match std::fs::OpenOptions::new().write(true).custom_flags(O_NONBLOCK).open(fifo) {
            Ok(f) => return f,
            Err(e) if e.raw_os_error() == Some(6) => {} // ENXIO: no reader yet
            Err(e) => panic!("cannot open the pause FIFO: {e}"),
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut err);
            }
            panic!(
                "berth ended ({status}) without pausing before creating the container: \
                 BERTH_TEST_PAUSE_BEFORE_CREATE is not supported by this build\n{err}"
            );
        }
        assert!(Instant::now() < deadline, "berth did not reach the pause within 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Replaces `path` by a symbolic link to `target` (the original moves aside, as an attacker
/// who owns the directory would do it).
fn swap_for_link(path: &Path, target: &Path) {
    let aside = path.with_extension("moved");
    std::fs::rename(path, &aside).unwrap();
    std::os::unix::fs::symlink(target, path).unwrap();
}

fn finding_02_a_swap_after_the_check_does_not_change_what_is_mounted(w: World) {
    w.write("project-a/scan/data.txt", "ORIGINAL-DIR\n");
    w.write("project-a/notes.txt", "ORIGINAL-FILE\n");
    w.write("project-b/scan/data.txt", "SECRET-DIR\n");
    w.write("project-b/notes.txt", "SECRET-FILE\n");
    let d = json!({
        "name": "reader", "tool-version": "1.0", "description": "reads its inputs", "schema-version": "0.5",
        "command-line": "cat [DIR]/data.txt [FILE]",
        "container-image": {"type": "docker", "image": berth_testkit::BUSYBOX},
        "inputs": [
            {"id": "dir", "name": "Dir", "type": "File", "value-key": "[DIR]"},
            {"id": "file", "name": "File", "type": "File", "value-key": "[FILE]"}
        ]
    });
    let desc = w.write("reader.json", &d.to_string());
    let fifo = w.path("pause.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success(), "mkfifo");
    let inv = json!({"dir": w.path("project-a/scan"), "file": w.path("project-a/notes.txt")}).to_string();
    let mut child = w
        .cmd(&["run", desc.to_str().unwrap(), "-i", &inv, "--output-dir", "out"])
        .env("BERTH_TEST_PAUSE_BEFORE_CREATE", &fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pause = wait_for_pause(&mut child, &fifo);
    // The inputs were checked, opened and hashed: swap both for links to the other project.
    swap_for_link(&w.path("project-a/scan"), &w.path("project-b/scan"));
    swap_for_link(&w.path("project-a/notes.txt"), &w.path("project-b/notes.txt"));
    drop(pause);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains("SECRET") && !stderr.contains("SECRET"),
        "the other project's data was mounted:\n{stdout}{stderr}"
    );
    assert!(out.status.success(), "the run failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("ORIGINAL-DIR") && stdout.contains("ORIGINAL-FILE"),
        "the container did not read the checked inputs:\n{stdout}\n{stderr}"
    );
    let rec = w.show_last();
    let inv = &rec["public-invocation"];
    assert_eq!(inv["file"]["sha256"].as_str(), Some(sha256_hex(b"ORIGINAL-FILE\n").as_str()), "{rec:#}");
    assert_eq!(inv["dir"]["sha256"].as_str(), Some(manifest_hash("data.txt", b"ORIGINAL-DIR\n").as_str()), "{rec:#}");
    // The record names the checked host paths (the engine's own view of its mounts, recorded
    // as applied, shows the staging mount points it was given; never a `/proc` path).
    let text = rec.to_string();
    let a = w.path("project-a").canonicalize().unwrap().display().to_string();
    for input in ["scan", "notes.txt"] {
        assert!(text.contains(&format!("\"host\":\"{a}/{input}\"")), "{input}: {rec:#}");
    }
    assert!(!text.contains("\"source\":\"/proc/"), "{rec:#}");
    // Nothing stays mounted.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&w.home.path().display().to_string()), "a staging mount was left behind:\n{mounts}");
}

mod docker {
    #[test]
    fn finding_02_a_swap_after_the_check_does_not_change_what_is_mounted() {
        super::finding_02_a_swap_after_the_check_does_not_change_what_is_mounted(super::World::new(
            berth_testkit::docker_host(),
        ));
    }
}

mod podman {
    #[test]
    fn finding_02_a_swap_after_the_check_does_not_change_what_is_mounted() {
        super::finding_02_a_swap_after_the_check_does_not_change_what_is_mounted(super::World::new(
            berth_testkit::podman_host(),
        ));
    }
}

/// `berth serve` on loopback with one project whose data root holds links planted by a member.
#[test]
fn finding_02_a_link_below_a_data_root_is_refused_without_revealing_its_target() {
    let host = berth_testkit::docker_host();
    let w = World::new(host);
    w.write("root/real.txt", "mine\n");
    w.write("elsewhere/secret-existing.txt", "not yours\n");
    std::os::unix::fs::symlink(w.path("elsewhere/secret-existing.txt"), w.path("root/to-existing")).unwrap();
    std::os::unix::fs::symlink(w.path("elsewhere/secret-missing.txt"), w.path("root/to-missing")).unwrap();
    std::os::unix::fs::symlink(w.path("elsewhere"), w.path("root/dir-link")).unwrap();
    let ok = |args: &[&str]| {
        let out = w.cmd(args).output().unwrap();
        assert!(out.status.success(), "berth {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    ok(&["user", "add", "alice"]);
    let token = ok(&["user", "token", "alice"]);
    ok(&["project", "add", "p1", "--data-root", &w.path("root").to_string_lossy(), "--member", "alice"]);
    let checksum = berth_testkit::repo_root().join("crates/berth-pipeline/tests/data/checksum.json");
    ok(&["tool", "add", &checksum.to_string_lossy()]);
    ok(&["project", "enable", "p1", "checksum"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = w
        .cmd(&["serve", "--bind", &format!("127.0.0.1:{port}"), "--workers", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client.get(url("/api/v1/health")).send().is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "berth serve did not answer");
        if let Some(s) = server.try_wait().unwrap() {
            panic!("berth serve ended: {s}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _server = Kill(server);
    let launch = |value: String| -> (u16, String) {
        let body = json!({"tool": "checksum", "inputs": {"input": value}, "dry_run": true});
        let resp = client.post(url("/api/v1/projects/p1/launch")).bearer_auth(&token).json(&body).send().unwrap();
        let status = resp.status().as_u16();
        let v: Value = resp.json().unwrap_or(Value::Null);
        (status, format!("{} {}", v["error"].as_str().unwrap_or_default(), v["hint"].as_str().unwrap_or_default()))
    };
    let (status, msg) = launch(w.path("root/real.txt").to_string_lossy().into_owned());
    assert!(status < 300, "a real file inside the root is accepted: {status} {msg}");
    let mut messages = Vec::new();
    for name in ["to-existing", "to-missing", "dir-link/secret-existing.txt"] {
        let given = w.path(&format!("root/{name}")).to_string_lossy().into_owned();
        let (status, msg) = launch(given.clone());
        assert_eq!(status, 400, "{name}: {msg}");
        assert!(msg.contains("input \"input\"") && msg.contains("symbolic link"), "{name}: {msg}");
        assert!(!msg.contains("elsewhere") && !msg.contains("secret-missing"), "{name}: the target leaks: {msg}");
        messages.push(msg.replace(&given, "GIVEN"));
    }
    assert!(messages.iter().all(|m| m == &messages[0]), "the messages differ by target: {messages:#?}");
    // Relative paths go through the same rule.
    let (status, msg) = launch("to-missing".into());
    assert_eq!(status, 400, "{msg}");
    assert!(msg.contains("symbolic link") && !msg.contains("elsewhere"), "{msg}");
}
