//! Issue 14, XNAT Commands and resource requests, against the real `berth` binary: mount names
//! that would become host paths outside the output directory (finding 1: `berth run`,
//! `berth tool import` of an `org.nrg.commands` label, `POST /xapi/commands`), input values
//! that would add shell syntax to a `/bin/sh -c` line (finding 5), and resource requests above
//! the host or the site's maximum (finding 7, run on the private Docker daemon).
//!
//! Needs the private Docker daemon (`DOCKER_HOST`, else `scripts/dockerd.sh` as root, started
//! by berth-testkit): without it these tests fail with the reason, never skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

/// One test's world: a store, a working directory, the engine.
struct World {
    home: TempDir,
    work: TempDir,
    host: String,
}

impl World {
    fn new() -> World {
        World {
            home: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
            host: berth_testkit::docker_host(),
        }
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
            .env("BERTH_HOME", self.home.path().join("home"))
            .env("BERTH_CONFIG", self.home.path().join("config.toml"))
            .env("DOCKER_HOST", &self.host)
            .env_remove("BERTH_ENGINE")
            .env("NO_COLOR", "1");
        c
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn runs(&self) -> Vec<Value> {
        let out = self.berth(&["runs", "--json"]);
        assert!(out.status.success(), "berth runs: {}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().cloned().unwrap_or_default()
    }

    fn show_last(&self) -> Value {
        let id = self.runs()[0]["id"].as_str().expect("a run").to_string();
        let out = self.berth(&["show", &id, "--json"]);
        assert!(out.status.success(), "berth show: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An XNAT Command in busybox whose writable mounts have `names`; its line leaves a marker in
/// each, so a mount that reached the host shows.
fn marker_command(names: &[&str]) -> Value {
    let mounts: Vec<Value> =
        names.iter().enumerate().map(|(i, n)| json!({"name": n, "writable": true, "path": format!("/m{i}")})).collect();
    let touch: Vec<String> = (0..names.len()).map(|i| format!("/m{i}/marker")).collect();
    json!({
        "name": "planted", "version": "1", "schema-version": "1.0", "type": "docker",
        "image": berth_testkit::BUSYBOX, "override-entrypoint": true,
        "command-line": format!("touch {}", touch.join(" ")),
        "mounts": mounts,
    })
}

/// Nothing named `escaped*` or `absolute*` exists anywhere below `root`.
fn assert_nothing_escaped(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !(name.starts_with("escaped") || name.starts_with("absolute")),
                "{} was created outside the output directory",
                e.path().display()
            );
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
}

/// Finding 1 through `berth run` (and `berth validate`): `../..` and absolute mount names are
/// refused with the mount's pointer, and nothing is created or mounted outside the output
/// directory. On the base commit both directories were created beside the work directory's
/// `runs/`, given to the container read-write and the markers written there.
#[test]
fn finding_01_mount_names_cannot_leave_the_output_directory_through_berth_run() {
    let w = World::new();
    let absolute = w.path("absolute-mount");
    let c = w.write("planted.json", &marker_command(&["../../escaped-mount", absolute.to_str().unwrap()]).to_string());
    let out = w.berth(&["run", c.to_str().unwrap(), "-i", "{}", "--output-dir", "runs/o"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for (pointer, name) in [("/mounts/0/name", "../../escaped-mount"), ("/mounts/1/name", absolute.to_str().unwrap())] {
        let line = err.lines().find(|l| l.contains(pointer)).unwrap_or_else(|| panic!("{pointer} not named:\n{err}"));
        assert!(line.contains(&format!("mount name \"{name}\" is not a single name")), "{line}");
    }
    assert!(err.contains("hint: a mount name is one directory name"), "{err}");
    assert_nothing_escaped(w.work.path());
    assert!(w.runs().is_empty(), "nothing ran");
    let v = w.berth(&["validate", c.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v.stderr));
    assert!(text(&v.stderr).contains("bad-mount-name") || text(&v.stderr).contains("is not a single name"));
}

/// Finding 1 through an image's `org.nrg.commands` label and `berth tool import`: the label's
/// Command is refused with its pointer inside the label, and nothing is registered.
#[test]
fn finding_01_mount_names_from_an_image_label_are_refused_by_tool_import() {
    let w = World::new();
    let label = json!([marker_command(&["../../../escaped-label"])]).to_string();
    let tag = format!("berth-test/planted-mount:{}", std::process::id());
    let docker = |args: &[&str]| {
        let out = Command::new("docker").env("DOCKER_HOST", &w.host).args(args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let id = docker(&["create", "--label", &format!("org.nrg.commands={label}"), berth_testkit::BUSYBOX, "true"]);
    docker(&["commit", &id, &tag]);
    docker(&["rm", &id]);
    let out = w.berth(&["tool", "import", &tag]);
    docker(&["rmi", &tag]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("/0/mounts/0/name") && err.contains("mount name \"../../../escaped-label\" is not a single name"),
        "{err}"
    );
    let ls = w.berth(&["tool", "ls", "--json"]);
    let listed: Value = serde_json::from_slice(&ls.stdout).unwrap_or(Value::Null);
    assert!(listed.as_array().is_none_or(Vec::is_empty), "nothing registered: {listed}");
    assert_nothing_escaped(w.home.path());
}

/// A `berth serve` on loopback with an admin and a project member.
struct Server {
    w: World,
    child: Child,
    port: u16,
    admin: String,
    alice: String,
}

impl Server {
    fn start() -> Server {
        let w = World::new();
        let ok = |args: &[&str]| {
            let out = w.berth(args);
            assert!(out.status.success(), "berth {args:?}: {}", text(&out.stderr));
            text(&out.stdout).trim().to_string()
        };
        ok(&["user", "add", "admin", "--role", "admin"]);
        ok(&["user", "add", "alice"]);
        let admin = ok(&["user", "token", "admin"]);
        let alice = ok(&["user", "token", "alice"]);
        std::fs::create_dir_all(w.path("data")).unwrap();
        ok(&["project", "add", "p1", "--data-root", w.path("data").to_str().unwrap(), "--member", "alice"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(w.home.path().join("server.log")).unwrap();
        let child = w
            .cmd(&["serve", "--bind", &format!("127.0.0.1:{port}"), "--workers", "1"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let s = Server { w, child, port, admin, alice };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if s.request("GET", None, "/api/v1/health", None).0 == StatusCode::OK {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("berth serve did not answer within 30 s:\n{}", s.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.w.home.path().join("server.log")).unwrap_or_default()
    }

    fn request(&self, method: &str, token: Option<&str>, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let mut r = if method == "POST" { c.post(url) } else { c.get(url) };
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        match r.send() {
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().unwrap_or_default();
                (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
            }
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Value::Null),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finding 1 through `POST /xapi/commands`: the Command is refused (400, each mount named by
/// its pointer), so no launch or dry run of it can make or mount a directory. On the base
/// commit it was registered (201), and any launch of it would have made `escaped-xapi` beside
/// the server's home, as `berth run` does in the test above.
#[test]
fn finding_01_mount_names_are_refused_by_post_xapi_commands() {
    let s = Server::start();
    // Launch output directories are `$BERTH_HOME/outputs/<project>/<id>` (dry runs
    // `…/.dry-run/<id>`): four levels up is the test's own directory.
    let absolute = s.w.home.path().join("absolute-xapi");
    let command = marker_command(&["../../../../escaped-xapi", absolute.to_str().unwrap()]);
    let (status, body) = s.request("POST", Some(&s.admin), "/xapi/commands", Some(&command));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}\n{}", s.log());
    let shown = body.to_string();
    for pointer in ["/mounts/0/name", "/mounts/1/name"] {
        assert!(shown.contains(pointer), "{pointer} not named: {shown}");
    }
    assert!(shown.contains("is not a single name") && shown.contains("one directory name"), "{shown}");
    let (status, listed) = s.request("GET", Some(&s.admin), "/xapi/commands", None);
    assert_eq!(status, StatusCode::OK);
    assert!(!listed.to_string().contains("planted"), "not registered: {listed}");
    // The launch (a dry run already made the directories on the base commit) finds no tool.
    let (status, _) = s.request(
        "POST",
        Some(&s.alice),
        "/api/v1/projects/p1/launch",
        Some(&json!({"tool": "planted", "inputs": {}, "dry_run": true})),
    );
    assert_ne!(status, StatusCode::OK);
    assert_nothing_escaped(s.w.home.path());
    assert_nothing_escaped(s.w.work.path());
}

/// Finding 5: a value such as `x<newline>id` in a Command run through `/bin/sh -c` ran `id`,
/// and the record said the tool ran. Refused now, naming the input and the character; no run
/// is recorded and no container starts.
#[test]
fn finding_05_shell_syntax_in_values_is_refused_and_nothing_runs() {
    let w = World::new();
    let command = json!({
        "name": "echo-value", "version": "1", "schema-version": "1.0", "type": "docker",
        "image": berth_testkit::BUSYBOX, "override-entrypoint": true,
        "command-line": "echo #VALUE#",
        "inputs": [{"name": "VALUE", "required": true}],
    });
    let c = w.write("echo.json", &command.to_string());
    for (value, named) in [
        ("x\nid", "a line break"),
        ("x | id", "`|`"),
        ("x > /tmp/owned", "`>`"),
        ("x < /etc/passwd", "`<`"),
        ("$HOME", "`$`"),
    ] {
        let inv = json!({"VALUE": value}).to_string();
        let out = w.berth(&["run", c.to_str().unwrap(), "-i", &inv, "--output-dir", "o"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{value:?}: {err}");
        assert!(err.contains("input \"VALUE\" has a value containing") && err.contains(named), "{value:?}: {err}");
        assert!(err.contains("/VALUE"), "{value:?}: the pointer: {err}");
        assert!(!text(&out.stdout).contains("uid="), "{value:?} ran a command");
    }
    assert!(w.runs().is_empty(), "no run is recorded");
    // A plain value still runs, with its spaces splitting words as in XNAT.
    let out = w.berth(&["run", c.to_str().unwrap(), "-i", r#"{"VALUE": "plain  value"}"#, "--output-dir", "o"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "plain value\n");
}

fn host_memory() -> i64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: i64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Finding 7: a descriptor asking 100000 GB of RAM got exactly that limit, and an XNAT
/// `limit-memory` of 999999 MiB too. Now the host caps the first and the site's
/// `[run] max_memory` / `max_cpus` the second, each with a warning saying what was asked and
/// what was given; the cgroup and the record hold the applied value.
#[test]
fn finding_07_resource_requests_are_capped_at_the_host_and_the_site() {
    let w = World::new();
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max";
    let d = json!({
        "name": "greedy", "tool-version": "1", "schema-version": "0.5", "description": "asks for a lot",
        "command-line": format!("sh -c '{script}' [NOTE]"),
        "container-image": {"type": "docker", "image": berth_testkit::BUSYBOX},
        "inputs": [{"id": "note", "name": "Note", "type": "String", "value-key": "[NOTE]", "optional": true}],
        "suggested-resources": {"ram": 100000, "cpu-cores": 4096},
    });
    let d = w.write("greedy.json", &d.to_string());
    let out = w.berth(&["run", d.to_str().unwrap(), "-i", "{}", "--output-dir", "o1"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let host = host_memory();
    let gib = |b: i64| format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30));
    assert!(
        err.contains(&format!(
            "memory: descriptor suggested-resources.ram asks for 100000.0 GiB, more than the host's memory; the container gets {}",
            gib(host)
        )),
        "{err}"
    );
    assert!(
        err.contains("CPUs: descriptor suggested-resources.cpu-cores asks for 4096, more than the host's CPUs"),
        "{err}"
    );
    assert_eq!(text(&out.stdout).trim(), host.to_string(), "the cgroup's limit");
    let rec = w.show_last();
    assert_eq!(rec["berth"]["container"]["settings"]["memory_bytes"], host, "{rec}");

    // XNAT's `limit-memory` of 999999 MiB under a site maximum of 256 MiB and 1 CPU.
    std::fs::create_dir_all(w.home.path()).unwrap();
    std::fs::write(w.home.path().join("config.toml"), "[run]\nmax_memory = \"256m\"\nmax_cpus = 1\n").unwrap();
    let command = json!({
        "name": "greedy-xnat", "version": "1", "schema-version": "1.0", "type": "docker",
        "image": berth_testkit::BUSYBOX, "override-entrypoint": true,
        "command-line": script, "limit-memory": 999999, "limit-cpu": 64,
    });
    let c = w.write("greedy-xnat.json", &command.to_string());
    let out = w.berth(&["run", c.to_str().unwrap(), "-i", "{}", "--output-dir", "o2"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("memory: XNAT limit-memory asks for 976.6 GiB, more than the site maximum (configuration run.max_memory); the container gets 256 MiB"),
        "{err}"
    );
    assert!(err.contains("CPUs: XNAT limit-cpu asks for 64, more than the site maximum (configuration run.max_cpus); the container gets 1"), "{err}");
    assert_eq!(text(&out.stdout).trim(), (256 << 20).to_string(), "the cgroup's limit");
    let rec = w.show_last();
    assert_eq!(rec["berth"]["container"]["settings"]["memory_bytes"], 256 << 20, "{rec}");
    assert_eq!(rec["berth"]["container"]["settings"]["nano_cpus"], 1_000_000_000, "{rec}");
}
