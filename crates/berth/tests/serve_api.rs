//! `berth serve` end to end: the real binary on a loopback port, the private Docker daemon,
//! real HTTP. Covers the REST API (tools, projects, launches, bulk launches, runs, logs, live
//! logs, kill, metrics, OpenAPI), the access rules and the request-checking the security list
//! in docs/service.md names, the XNAT-compatible subset, and a server killed with queued and
//! running launches and started again: every launch ends, none is lost.
//!
//! Needs root (or an engine in `DOCKER_HOST`): without it these tests fail with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use tempfile::TempDir;

const SLEEPER: &str = r#"{
    "name": "sleeper", "tool-version": "1", "schema-version": "0.5",
    "description": "Sleeps, then writes a file.",
    "command-line": "echo start; sleep [SECONDS]; echo done > [OUT]; echo finished",
    "container-image": {"type": "docker", "image": "berth-test/busybox:latest"},
    "inputs": [
        {"id": "seconds", "name": "Seconds", "type": "Number", "value-key": "[SECONDS]", "default-value": 0, "optional": true},
        {"id": "out", "name": "Output", "type": "String", "value-key": "[OUT]", "default-value": "done.txt", "optional": true}
    ],
    "output-files": [{"id": "done", "name": "Done", "path-template": "[OUT]"}]
}"#;

const XNAT: &str = r#"{"name": "xnat-wc", "version": "1.0", "type": "docker", "image": "berth-test/busybox:latest",
    "command-line": "wc -c /input/#FILE# > /output/count.txt && cat /output/count.txt",
    "override-entrypoint": true,
    "mounts": [{"name": "in", "writable": false, "path": "/input"}, {"name": "out", "writable": true, "path": "/output"}],
    "inputs": [{"name": "FILE", "type": "string", "required": true}],
    "outputs": [{"name": "count", "mount": "out", "path": "count.txt"}]}"#;

fn checksum_descriptor() -> String {
    berth_testkit::repo_root().join("crates/berth-pipeline/tests/data/checksum.json").to_string_lossy().into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A berth home with users, projects and tools, and a server on it.
struct Service {
    dir: TempDir,
    host: String,
    port: u16,
    server: Option<Child>,
    admin: String,
    alice: String,
    bob: String,
}

impl Service {
    fn new(workers: usize) -> Service {
        let host = berth_testkit::docker_host();
        let dir = tempfile::tempdir().unwrap();
        for d in ["data1", "data2", "outside"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("data1/scan.txt"), "alice's data\n").unwrap();
        std::fs::write(dir.path().join("data2/scan.txt"), "bob's data\n").unwrap();
        std::fs::write(dir.path().join("outside/secret.txt"), "not yours\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside/secret.txt"), dir.path().join("data1/link.txt")).unwrap();
        std::fs::write(dir.path().join("sleeper.json"), SLEEPER).unwrap();
        // Pipeline files are read from configured directories only: this one.
        std::fs::write(
            dir.path().join("config.toml"),
            format!("[serve]\npipeline_dirs = [\"{}\"]\n", dir.path().display()),
        )
        .unwrap();
        let mut s = Service {
            dir,
            host,
            port: free_port(),
            server: None,
            admin: String::new(),
            alice: String::new(),
            bob: String::new(),
        };
        s.ok(&["user", "add", "admin", "--role", "admin"]);
        s.ok(&["user", "add", "alice"]);
        s.ok(&["user", "add", "bob"]);
        s.admin = s.ok(&["user", "token", "admin"]).trim().to_owned();
        s.alice = s.ok(&["user", "token", "alice"]).trim().to_owned();
        s.bob = s.ok(&["user", "token", "bob"]).trim().to_owned();
        let d1 = s.path("data1").to_string_lossy().into_owned();
        let d2 = s.path("data2").to_string_lossy().into_owned();
        s.ok(&["project", "add", "p1", "--data-root", &d1, "--member", "alice"]);
        s.ok(&["project", "add", "p2", "--data-root", &d2, "--member", "bob"]);
        s.ok(&["tool", "add", &checksum_descriptor()]);
        s.ok(&["tool", "add", &s.path("sleeper.json").to_string_lossy()]);
        for p in ["p1", "p2"] {
            s.ok(&["project", "enable", p, "checksum"]);
            s.ok(&["project", "enable", p, "sleeper"]);
        }
        s.start(workers);
        s
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = berth_testkit::berth_command(env!("CARGO_BIN_EXE_berth"), self.dir.path(), &self.host);
        c.args(args);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "berth {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start(&mut self, workers: usize) {
        let log = std::fs::File::create(self.path(&format!("server-{}.log", self.port))).unwrap();
        let child = self
            .cmd(&[
                "serve",
                "--bind",
                &format!("127.0.0.1:{}", self.port),
                "--workers",
                &workers.to_string(),
                "--max-body",
                "64k",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.get(None, "/api/v1/health").0 == StatusCode::OK {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("berth serve did not answer within 30 s:\n{}", self.server_log());
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.path(&format!("server-{}.log", self.port))).unwrap_or_default()
    }

    /// Stops the server: SIGKILL (a crash) or SIGTERM (a clean stop).
    fn stop(&mut self, kill: bool) {
        if let Some(mut c) = self.server.take() {
            if kill {
                let _ = c.kill();
            } else {
                let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            }
            let _ = c.wait();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn client() -> Client {
        // reqwest is built without a default TLS provider (berth picks ring); plain HTTP here.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
    }

    fn get(&self, token: Option<&str>, path: &str) -> (StatusCode, String) {
        let mut r = Self::client().get(self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        match r.send() {
            Ok(resp) => (resp.status(), resp.text().unwrap_or_default()),
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
        }
    }

    fn json(&self, token: &str, path: &str) -> Value {
        let (status, body) = self.get(Some(token), path);
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn send(&self, method: &str, token: Option<&str>, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let c = Self::client();
        let mut r = match method {
            "POST" => c.post(self.url(path)),
            "PUT" => c.put(self.url(path)),
            "DELETE" => c.delete(self.url(path)),
            _ => c.get(self.url(path)),
        };
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().unwrap();
        let status = resp.status();
        let text = resp.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    fn launch(&self, token: &str, project: &str, body: Value) -> String {
        let (status, v) = self.send("POST", Some(token), &format!("/api/v1/projects/{project}/launch"), Some(&body));
        assert_eq!(status, StatusCode::ACCEPTED, "launch: {v}");
        v["id"].as_str().unwrap().to_owned()
    }

    fn wait_terminal(&self, token: &str, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.json(token, &format!("/api/v1/runs/{id}"));
            if v["terminal"].as_bool() == Some(true) {
                return v;
            }
            assert!(Instant::now() < deadline, "run {id} did not end within {timeout:?}: {v}\n{}", self.server_log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop(true);
    }
}

fn file_input(s: &Service, rel: &str) -> String {
    s.path(rel).to_string_lossy().into_owned()
}

#[test]
fn launch_run_logs_provenance_and_metrics() {
    let s = Service::new(2);
    let (status, health) = s.send("GET", None, "/api/v1/health", None);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["engine_reachable"], true, "{health}");

    // A user sees the tools enabled in their projects, with a dry run first.
    let tools = s.json(&s.alice, "/api/v1/tools");
    let names: Vec<&str> = tools.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"checksum") && names.contains(&"sleeper"), "{tools}");
    let input = file_input(&s, "data1/scan.txt");
    let (status, dry) = s.send(
        "POST",
        Some(&s.alice),
        "/api/v1/projects/p1/launch",
        Some(&json!({"tool": "checksum", "inputs": {"input": input}, "dry_run": true})),
    );
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert!(dry["command_line"].as_str().unwrap().contains("sha256sum /"), "{dry}");

    let id = s.launch(&s.alice, "p1", json!({"tool": "checksum", "inputs": {"input": input}}));
    let run = s.wait_terminal(&s.alice, &id, Duration::from_secs(120));
    assert_eq!(run["status"], "succeeded", "{run}\n{}", s.server_log());
    assert_eq!(run["exit_code"], 0);
    // Provenance: the image id, the input and the output by hash, the engine.
    let prov = &run["provenance"]["record"];
    assert!(prov["image_id"].as_str().unwrap().starts_with("sha256:"), "{prov}");
    assert_eq!(prov["engine_kind"], "docker");
    let files = prov["files"].as_array().unwrap();
    let expected_in = berth_store::hash::sha256_hex(b"alice's data\n");
    assert!(files.iter().any(|f| f["role"] == "input" && f["sha256"] == expected_in.as_str()), "{files:?}");
    let out = files.iter().find(|f| f["role"] == "output").expect("an output file");
    let written = std::fs::read_to_string(out["path"].as_str().unwrap()).unwrap();
    assert_eq!(written.trim(), expected_in, "the tool's checksum of the input");
    assert_eq!(prov["labels"]["berth.project"], "p1");

    // Logs: the download, and the live stream that ends with the run's status.
    let id2 = s.launch(&s.alice, "p1", json!({"tool": "sleeper", "inputs": {"seconds": 1}}));
    let live = Service::client()
        .get(s.url(&format!("/api/v1/runs/{id2}/logs/stdout/live")))
        .bearer_auth(&s.alice)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(live.contains("event: chunk") && live.contains("finished"), "{live}");
    assert!(live.trim_end().ends_with("data: succeeded"), "{live}");
    let (status, log) = s.get(Some(&s.alice), &format!("/api/v1/runs/{id2}/logs/stdout"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log, "start\nfinished\n");

    // Listing with filters and pagination.
    let page = s.json(&s.alice, "/api/v1/runs?limit=1&offset=0");
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let by_tool = s.json(&s.alice, "/api/v1/runs?tool=sleeper&status=succeeded");
    assert_eq!(by_tool["total"], 1, "{by_tool}");
    let (status, bad) = s.send("GET", Some(&s.alice), "/api/v1/runs?status=done", None);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");

    // Metrics and the OpenAPI document.
    let (status, metrics) = s.get(None, "/metrics");
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.contains("berth_launches{status=\"succeeded\"} 2"), "{metrics}");
    assert!(metrics.contains("# TYPE berth_http_requests_total counter"), "{metrics}");
    assert!(metrics.contains("berth_dicom_instances 0\n"), "{metrics}");
    assert!(metrics.contains("berth_dicom_associations{outcome=\"rejected\"} 0"), "{metrics}");
    let openapi = s.json(&s.alice, "/api/v1/openapi.json");
    for p in ["/api/v1/projects/{project}/launch", "/api/v1/runs/{id}/logs/{stream}/live", "/api/v1/images/scan"] {
        assert!(openapi["paths"][p].is_object(), "{p} missing from the OpenAPI document");
    }
}

#[test]
fn access_rules_and_bad_requests() {
    let s = Service::new(1);
    let input = file_input(&s, "data1/scan.txt");
    let id = s.launch(&s.alice, "p1", json!({"tool": "checksum", "inputs": {"input": input}}));

    // No token, a wrong token: 401 with a hint.
    let (status, v) = s.send("GET", None, "/api/v1/runs", None);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["hint"].as_str().unwrap().contains("Bearer"), "{v}");
    let (status, _) = s.send("GET", Some("berth_0000"), "/api/v1/runs", None);
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Another project's run, project and launch: 404, as if they did not exist.
    let (status, _) = s.send("GET", Some(&s.bob), &format!("/api/v1/runs/{id}"), None);
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.send("GET", Some(&s.bob), &format!("/api/v1/runs/{id}/logs/stdout"), None);
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.send("POST", Some(&s.bob), &format!("/api/v1/runs/{id}/kill"), None);
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.send(
        "POST",
        Some(&s.bob),
        "/api/v1/projects/p1/launch",
        Some(&json!({"tool": "checksum", "inputs": {"input": input}})),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(s.json(&s.bob, "/api/v1/runs")["total"], 0);

    // Inputs outside the data roots: a path, a `..` escape, a symlink out: 400 naming the input.
    for (value, what) in [
        (file_input(&s, "outside/secret.txt"), "absolute path"),
        (format!("{}/../outside/secret.txt", file_input(&s, "data1")), "dot-dot"),
        ("../outside/secret.txt".to_owned(), "relative dot-dot"),
        (file_input(&s, "data1/link.txt"), "symlink"),
        ("/etc/passwd".to_owned(), "system file"),
    ] {
        let (status, v) = s.send(
            "POST",
            Some(&s.alice),
            "/api/v1/projects/p1/launch",
            Some(&json!({"tool": "checksum", "inputs": {"input": value}})),
        );
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {v}");
        let msg = v["error"].as_str().unwrap();
        // A link below the root is refused as a link, without its target (issue 14, finding 2).
        let expected = if what == "symlink" { "symbolic link" } else { "outside the data roots" };
        assert!(msg.contains("input \"input\"") && msg.contains(expected), "{what}: {msg}");
        assert!(what != "symlink" || !msg.contains("secret"), "{what}: {msg}");
    }

    // Malformed JSON, a wrong type, an unknown field: 400 with the position or the field.
    let resp = Service::client()
        .post(s.url("/api/v1/projects/p1/launch"))
        .bearer_auth(&s.alice)
        .header("content-type", "application/json")
        .body("{\"tool\": \"checksum\", \"inputs\": {")
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: Value = resp.json().unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("malformed JSON") && v["error"].as_str().unwrap().contains("column"),
        "{v}"
    );
    let (status, v) = s.send("POST", Some(&s.alice), "/api/v1/projects/p1/launch", Some(&json!({"tool": 3})));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("tool"), "{v}");
    let (status, v) = s.send(
        "POST",
        Some(&s.alice),
        "/api/v1/projects/p1/launch",
        Some(&json!({"tool": "checksum", "engine_options": {"privileged": true}})),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("engine_options"), "{v}");
    // Invalid input values: the problems, each with its place.
    let (status, v) = s.send(
        "POST",
        Some(&s.alice),
        "/api/v1/projects/p1/launch",
        Some(&json!({"tool": "sleeper", "inputs": {"seconds": "soon"}})),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(!v["problems"].as_array().unwrap().is_empty(), "{v}");

    // An oversized body: 413.
    let big = json!({"tool": "checksum", "inputs": {"input": "x".repeat(100_000)}});
    let (status, _) = s.send("POST", Some(&s.alice), "/api/v1/projects/p1/launch", Some(&big));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Admin-only: tools, images, engines, projects.
    let (status, _) =
        s.send("POST", Some(&s.alice), "/api/v1/tools", Some(&serde_json::from_str::<Value>(SLEEPER).unwrap()));
    assert_eq!(status, StatusCode::FORBIDDEN);
    for path in ["/api/v1/images", "/api/v1/engines", "/api/v1/pipelines"] {
        let (status, _) = s.send("GET", Some(&s.alice), path, None);
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _) =
        s.send("POST", Some(&s.alice), "/api/v1/projects", Some(&json!({"id": "p9", "data_roots": ["/"]})));
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A bad project name is the request's mistake (400); a taken one a conflict (409).
    let data = s.path("data1").to_string_lossy().into_owned();
    let (status, v) =
        s.send("POST", Some(&s.admin), "/api/v1/projects", Some(&json!({"id": "../p9", "data_roots": [data]})));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("is not a valid project name"), "{v}");
    let (status, v) =
        s.send("POST", Some(&s.admin), "/api/v1/projects", Some(&json!({"id": "p1", "data_roots": [data]})));
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(v["hint"].as_str().is_some_and(|h| h.contains("berth project ls")), "{v}");
    let (status, images) = s.send("GET", Some(&s.admin), "/api/v1/images", None);
    assert_eq!(status, StatusCode::OK, "{images}");
    for (method, path) in
        [("GET", "/api/v1/records"), ("GET", "/api/v1/images/sbom?reference=x"), ("POST", "/api/v1/images/tag")]
    {
        let (status, _) = s.send(
            method,
            Some(&s.alice),
            path,
            Some(&json!({"source": "a", "target": "b"})).filter(|_| method == "POST"),
        );
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }

    // A tool disabled in the project or on the site: 403 with how to enable it.
    s.ok(&["project", "disable", "p1", "sleeper"]);
    let (status, v) = s.send("POST", Some(&s.alice), "/api/v1/projects/p1/launch", Some(&json!({"tool": "sleeper"})));
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, _) =
        s.send("PUT", Some(&s.admin), "/api/v1/tools/checksum/settings", Some(&json!({"enabled": false})));
    assert_eq!(status, StatusCode::OK);
    let (status, v) = s.send(
        "POST",
        Some(&s.alice),
        "/api/v1/projects/p1/launch",
        Some(&json!({"tool": "checksum", "inputs": {"input": input}})),
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"].as_str().unwrap().contains("disabled on this site"), "{v}");

    // The run launched at the start still ended.
    assert_eq!(s.wait_terminal(&s.alice, &id, Duration::from_secs(120))["status"], "succeeded");
}

#[test]
fn kill_bulk_and_project_defaults() {
    let s = Service::new(2);
    // Kill a running run, and a queued one.
    let long = s.launch(&s.alice, "p1", json!({"tool": "sleeper", "inputs": {"seconds": 60}}));
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.json(&s.alice, &format!("/api/v1/runs/{long}"))["status"] != "running" {
        assert!(Instant::now() < deadline, "never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, v) = s.send("POST", Some(&s.alice), &format!("/api/v1/runs/{long}/kill"), None);
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let ended = s.wait_terminal(&s.alice, &long, Duration::from_secs(60));
    assert_eq!(ended["status"], "cancelled", "{ended}");
    let (status, _) = s.send("POST", Some(&s.alice), &format!("/api/v1/runs/{long}/kill"), None);
    assert_eq!(status, StatusCode::CONFLICT);

    // Bulk: 12 launches over the project's files, all accepted at once and all succeed.
    let mut items = Vec::new();
    for i in 0..12 {
        let f = format!("data1/bulk-{i}.txt");
        std::fs::write(s.path(&f), format!("item {i}\n")).unwrap();
        items.push(json!({"input": file_input(&s, &f)}));
    }
    let (status, bulk) = s.send(
        "POST",
        Some(&s.alice),
        "/api/v1/projects/p1/bulk-launch",
        Some(&json!({"tool": "checksum", "items": items})),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{bulk}");
    for id in bulk["ids"].as_array().unwrap() {
        assert_eq!(s.wait_terminal(&s.alice, id.as_str().unwrap(), Duration::from_secs(180))["status"], "succeeded");
    }
    let listed = s.json(&s.alice, &format!("/api/v1/runs?bulk={}&limit=500", bulk["bulk_id"].as_str().unwrap()));
    assert_eq!(listed["total"], 12);
    // One bad item refuses the whole bulk, naming the item.
    let (status, v) = s.send(
        "POST",
        Some(&s.alice),
        "/api/v1/projects/p1/bulk-launch",
        Some(&json!({"tool": "checksum", "items": [{"input": file_input(&s, "data1/scan.txt")}, {"input": "/etc/passwd"}]})),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().starts_with("items[1]"), "{v}");
    assert_eq!(s.json(&s.alice, "/api/v1/runs?limit=1")["total"], 13, "nothing of the refused bulk was queued");

    // Project defaults fill inputs left out.
    s.ok(&["project", "enable", "p1", "checksum", "--default", "name=fromdefault"]);
    let id =
        s.launch(&s.alice, "p1", json!({"tool": "checksum", "inputs": {"input": file_input(&s, "data1/scan.txt")}}));
    let run = s.wait_terminal(&s.alice, &id, Duration::from_secs(120));
    assert_eq!(run["request"]["inputs"]["name"], "fromdefault", "{run}");
    assert!(run["provenance"]["record"]["command_line"].as_str().unwrap().contains("fromdefault.sha256"), "{run}");
}

#[test]
fn xnat_compatible_endpoints() {
    let s = Service::new(1);
    let (status, v) =
        s.send("POST", Some(&s.admin), "/xapi/commands", Some(&serde_json::from_str::<Value>(XNAT).unwrap()));
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let command_id = v.as_i64().unwrap_or_else(|| v.as_str().unwrap().parse().unwrap());
    s.ok(&["project", "enable", "p1", "xnat-wc"]);
    let commands = s.json(&s.alice, "/xapi/commands");
    assert!(commands.as_array().unwrap().iter().any(|c| c["name"] == "xnat-wc" && c["id"] == command_id), "{commands}");
    // Bob's project does not have it enabled: he does not see it.
    let theirs = s.json(&s.bob, "/xapi/commands");
    assert!(!theirs.as_array().unwrap().iter().any(|c| c["name"] == "xnat-wc"), "{theirs}");

    let (status, v) = s.send(
        "POST",
        Some(&s.alice),
        &format!("/xapi/projects/p1/commands/{command_id}/wrappers/default/launch"),
        Some(&json!({"FILE": "scan.txt", "mounts": {"in": file_input(&s, "data1")}})),
    );
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "success");
    let id = v["container-id"].as_str().unwrap().to_owned();
    s.wait_terminal(&s.alice, &id, Duration::from_secs(120));
    let containers = s.json(&s.alice, "/xapi/containers");
    let c = containers.as_array().unwrap().iter().find(|c| c["id"] == id.as_str()).unwrap();
    assert_eq!(c["status"], "Complete", "{c}\n{}", s.server_log());
    let (status, log) = s.get(Some(&s.alice), &format!("/xapi/containers/{id}/logs/stdout"));
    assert_eq!(status, StatusCode::OK);
    assert!(log.contains("13 /input/scan.txt"), "{log}");
    // A writable mount cannot be bound by a user; a mount outside the data roots is refused.
    for mounts in [json!({"out": file_input(&s, "data1")}), json!({"in": file_input(&s, "outside")})] {
        let (status, v) = s.send(
            "POST",
            Some(&s.alice),
            &format!("/xapi/projects/p1/commands/{command_id}/wrappers/default/launch"),
            Some(&json!({"FILE": "scan.txt", "mounts": mounts})),
        );
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    }
    // Form-encoded launches work too (XNAT's UI posts forms).
    let resp = Service::client()
        .post(s.url(&format!("/xapi/projects/p1/commands/{command_id}/wrappers/default/launch")))
        .bearer_auth(&s.alice)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("FILE=scan.txt")
        .send()
        .unwrap();
    // Without a bound read-only mount the Command cannot run: a clear 400.
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn a_killed_server_loses_nothing() {
    let mut s = Service::new(2);
    // Two running (10 s each: neither ends while the server is away) and six queued behind.
    let mut ids = Vec::new();
    for i in 0..8 {
        let seconds = if i < 2 { 10 } else { 1 };
        ids.push(s.launch(&s.alice, "p1", json!({"tool": "sleeper", "inputs": {"seconds": seconds}})));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = s.json(&s.alice, "/api/v1/runs?status=running&limit=10")["total"].as_u64().unwrap();
        if running >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing started:\n{}", s.server_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    s.stop(true);
    // The containers go on without the server.
    std::thread::sleep(Duration::from_millis(500));
    s.start(2);
    for id in &ids {
        let run = s.wait_terminal(&s.alice, id, Duration::from_secs(180));
        assert_eq!(run["status"], "succeeded", "{run}\n{}", s.server_log());
    }
    let all = s.json(&s.alice, "/api/v1/runs?limit=100");
    assert_eq!(all["total"], 8);
    // The two that were running were collected from their containers, not run again.
    let collected = all["items"].as_array().unwrap().iter().filter(|r| r["attempts"] == 1).count();
    assert_eq!(collected, 8, "each launch was claimed once: {all}");
    let (_, metrics) = s.get(None, "/metrics");
    assert!(metrics.contains("berth_runs_reconciled_total 2"), "{metrics}");
    // A clean stop (SIGTERM) and start: nothing changes.
    s.stop(false);
    s.start(1);
    assert_eq!(s.json(&s.alice, "/api/v1/runs?status=succeeded&limit=1")["total"], 8);
}

/// A Debian-looking image with a dpkg database and nothing else (no container runs from it),
/// and an advisory database with records for its packages: a real scan with findings.
fn scan_fixture(s: &Service) -> &'static str {
    const IMAGE: &str = "berth-test/scanme:1";
    let root = s.path("scanme");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/debian_version"), "12.5\n").unwrap();
    let mut status = String::new();
    for (name, version) in [
        ("openssl", "3.0.11-1~deb12u2"),
        ("bash", "5.2.15-2+b2"),
        ("zlib1g", "1:1.2.13.dfsg-1"),
        ("tar", "1.34+dfsg-1.2"),
    ] {
        status.push_str(&format!(
            "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\nDescription: {name}\n\n"
        ));
    }
    std::fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
    let tar = s.path("scanme.tar");
    assert!(Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().unwrap().success());
    let out = Command::new("docker").env("DOCKER_HOST", &s.host).arg("import").arg(&tar).arg(IMAGE).output().unwrap();
    assert!(out.status.success(), "docker import: {}", String::from_utf8_lossy(&out.stderr));
    let range = |fixed: &str| json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]);
    let records = json!([
        {"id": "BERTH-UI-0001", "modified": "2026-01-01T00:00:00Z",
         "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
         "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"}, "ranges": range("5.2.15-2+deb12u1")}]},
        {"id": "BERTH-UI-0002", "modified": "2026-01-01T00:00:00Z",
         "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
         "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"}, "ranges": range("3.0.13-1~deb12u1")}]},
        {"id": "BERTH-UI-0003", "modified": "2026-01-01T00:00:00Z",
         "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
         "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"}, "ranges": range("3.0.14-1~deb12u1")}]},
        {"id": "BERTH-UI-0004", "modified": "2026-01-01T00:00:00Z",
         "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:L/UI:R/S:U/C:L/I:L/A:N"}],
         "affected": [{"package": {"ecosystem": "Debian:12", "name": "tar"}, "ranges": range("1.34+dfsg-1.3")}]},
    ]);
    let osv = s.path("osv.json");
    std::fs::write(&osv, serde_json::to_vec(&records).unwrap()).unwrap();
    s.ok(&["db", "update", "--source", &osv.to_string_lossy()]);
    IMAGE
}

#[test]
fn web_ui_in_a_real_browser() {
    let install = berth_testkit::repo_root().join("tests/ui/install.sh");
    let out = Command::new("bash").arg(&install).output().unwrap();
    assert!(
        out.status.success(),
        "the browser tests need Chromium and playwright-core (tests/ui/install.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node_modules = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    let mut s = Service::new(2);
    // The server reads the advisory database at start-up: make it, then restart.
    let image = scan_fixture(&s);
    s.stop(false);
    s.start(2);
    let (status, scan) = s.send("POST", Some(&s.admin), "/api/v1/images/scan", Some(&json!({"reference": image})));
    assert_eq!(status, StatusCode::OK, "{scan}\n{}", s.server_log());
    assert_eq!(scan["counts"]["critical"], 1, "{scan}");
    assert_eq!(scan["counts"]["high"], 2, "{scan}");

    // A pipeline file in the server's pipeline directory, started from the browser.
    let yaml = format!(
        "berth-pipeline: 1\nname: ui-e2e\nparams: {{greeting: hello}}\nsteps:\n  checksum:\n    descriptor: {}\n    inputs:\n      input: {}\n",
        checksum_descriptor(),
        file_input(&s, "data1/scan.txt")
    );
    std::fs::write(s.path("ui-e2e.yaml"), yaml).unwrap();
    let shots = berth_testkit::repo_root().join("target/ui-screenshots");
    let out = Command::new("node")
        .arg(berth_testkit::repo_root().join("tests/ui/e2e.mjs"))
        .env("BERTH_NODE_MODULES", &node_modules)
        .env("BERTH_URL", s.url(""))
        .env("BERTH_TOKEN", &s.alice)
        .env("BERTH_ADMIN_TOKEN", &s.admin)
        .env("BERTH_INPUT", file_input(&s, "data1/scan.txt"))
        .env("BERTH_IMAGE", image)
        .env("BERTH_UI_SHOTS", &shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.server_log()
    );
    for shot in ["02-tools.png", "03-launch-form-dry-run.png", "04-run-succeeded.png", "08-image-scan.png"] {
        assert!(shots.join(shot).metadata().is_ok_and(|m| m.len() > 1000), "screenshot {shot} missing");
    }
}

#[test]
fn pipeline_runs_for_admins() {
    let s = Service::new(1);
    let yaml = format!(
        "berth-pipeline: 1\nname: ui-pipe\nsteps:\n  checksum:\n    descriptor: {}\n    inputs:\n      input: {}\n",
        checksum_descriptor(),
        file_input(&s, "data1/scan.txt")
    );
    std::fs::write(s.path("pipe.yaml"), yaml).unwrap();
    // Started through the API; a pipeline file with a mistake is refused with the problem's path.
    let pipe = s.path("pipe.yaml").to_string_lossy().into_owned();
    std::fs::write(s.path("bad.yaml"), "berth-pipeline: 1\nname: bad\nstepz: {}\n").unwrap();
    let (status, v) = s.send("POST", Some(&s.admin), "/api/v1/pipelines", Some(&json!({"file": s.path("bad.yaml")})));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("stepz"), "{v}");
    let (status, v) = s.send("POST", Some(&s.alice), "/api/v1/pipelines", Some(&json!({"file": pipe})));
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, v) =
        s.send("POST", Some(&s.admin), "/api/v1/pipelines", Some(&json!({"file": pipe, "output_dir": "pipe-out"})));
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["tasks"], 1, "{v}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let list = loop {
        let list = s.json(&s.admin, "/api/v1/pipelines");
        if list[0]["status"] == "succeeded" {
            break list;
        }
        assert!(Instant::now() < deadline, "the pipeline run did not succeed: {list}\n{}", s.server_log());
        std::thread::sleep(Duration::from_millis(200));
    };
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["id"], id.as_str(), "the start answers the pipeline run's id: {v}");
    assert!(s.path("home/outputs/pipelines/pipe-out/checksum").is_dir(), "published outputs");
    let detail = s.json(&s.admin, &format!("/api/v1/pipelines/{id}"));
    assert_eq!(detail["tasks"][0]["status"], "succeeded", "{detail}");
    let (status, _) = s.send("GET", Some(&s.alice), "/api/v1/pipelines", None);
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The pipeline run page: the report with its timeline, behind the UI's session cookie.
    let page = |token: &str| {
        let signed_in = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(s.url("/login"))
            .header("origin", s.url(""))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .unwrap();
        let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let resp =
            Service::client().get(s.url(&format!("/ui/pipelines/{id}"))).header("cookie", cookie).send().unwrap();
        (resp.status(), resp.text().unwrap())
    };
    let (status, html) = page(&s.admin);
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<svg") && html.contains("<rect") && html.contains("checksum"), "{html}");
    assert!(html.contains("id=\"tasks\"") && !html.contains("style="), "the UI's own page, no inline style: {html}");
    let (status, _) = page(&s.alice);
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The task's run record and logs, served by the server; the records page lists it as a
    // pipeline's; the pipeline list offers the file to start again, with a form made from it.
    let run = detail["tasks"][0]["run_id"].as_str().expect("the task's run").to_owned();
    let (status, log) = s.get(Some(&s.admin), &format!("/api/v1/records/{run}/logs/stdout"));
    assert_eq!(status, StatusCode::OK, "{log}");
    assert_eq!(s.get(Some(&s.alice), &format!("/api/v1/records/{run}/logs/stdout")).0, StatusCode::FORBIDDEN);
    let (_, cookie) = sign_in(&s, &s.admin);
    let cookie = cookie.unwrap();
    let (status, records) = page_with(&s, &cookie, "/ui/records?origin=pipeline");
    assert_eq!(status, StatusCode::OK);
    assert!(records.contains(&run[..13]), "{records}");
    let (_, cli_only) = page_with(&s, &cookie, "/ui/records?origin=cli");
    assert!(!cli_only.contains(&run[..13]), "origin filter: {cli_only}");
    let (status, record) = page_with(&s, &cookie, &format!("/ui/records/{run}"));
    assert_eq!(status, StatusCode::OK);
    assert!(record.contains("made by pipeline") && record.contains("log-stdout"), "{record}");
    let (_, list) = page_with(&s, &cookie, "/ui/pipelines");
    assert!(unescape(&list).contains("pipe.yaml"), "{list}");
    let (status, form) = page_with(&s, &cookie, &format!("/ui/pipelines/start?file={}", s.path("pipe.yaml").display()));
    assert_eq!(status, StatusCode::OK, "{form}");
    assert!(form.contains("pipeline-form") && form.contains("ui-pipe"), "{form}");
}

/// A page with a session cookie (for tests that name their closure `page`).
fn page_with(s: &Service, cookie: &str, path: &str) -> (StatusCode, String) {
    page(s, cookie, path)
}

#[test]
fn admins_manage_images_and_read_every_record() {
    let s = Service::new(1);
    // A run made with the CLI, outside the service: admins see it among the records.
    s.ok(&[
        "run",
        &checksum_descriptor(),
        "-i",
        &json!({"input": file_input(&s, "data1/scan.txt")}).to_string(),
        "--output-dir",
        &s.path("cli-out").to_string_lossy(),
    ]);
    let records = s.json(&s.admin, "/api/v1/records?status=succeeded");
    let id = records[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(records.as_array().unwrap().len(), 1, "{records}");
    let record = s.json(&s.admin, &format!("/api/v1/records/{id}"));
    assert_eq!(record["record"]["tool_name"], "checksum", "{record}");
    let (status, _) = s.send("GET", Some(&s.admin), "/api/v1/records?status=done", None);
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Tag, SBOM, remove.
    let (status, v) = s.send(
        "POST",
        Some(&s.admin),
        "/api/v1/images/tag",
        Some(&json!({"source": "berth-test/busybox:latest", "target": "berth-test/api-tagged:1"})),
    );
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, v) = s.send(
        "POST",
        Some(&s.admin),
        "/api/v1/images/tag",
        Some(&json!({"source": "berth-test/busybox:latest", "target": "Not A Ref"})),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, sbom) =
        s.get(Some(&s.admin), "/api/v1/images/sbom?reference=berth-test/api-tagged:1&format=cyclonedx");
    assert_eq!(status, StatusCode::OK, "{sbom}");
    let sbom: Value = serde_json::from_str(&sbom).unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX", "{sbom}");
    let (status, v) =
        s.send("GET", Some(&s.admin), "/api/v1/images/sbom?reference=berth-test/api-tagged:1&format=xml", None);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = s.send("DELETE", Some(&s.admin), "/api/v1/images?reference=berth-test/api-tagged:1", None);
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = s.send("DELETE", Some(&s.admin), "/api/v1/images?reference=berth-test/api-tagged:1", None);
    // What the engine does not have is 404, not the client's mistake (400).
    assert_eq!(status, StatusCode::NOT_FOUND, "removing it twice: {v}");
    let (status, v) = s.send(
        "POST",
        Some(&s.admin),
        "/api/v1/images/tag",
        Some(&json!({"source": "berth-test/no-such-image:1", "target": "berth-test/api-tagged:2"})),
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "tagging a missing image: {v}");
    // Import: an archive saved from the engine, loaded back under a new tag.
    let tar = s.path("busybox.tar");
    let out = Command::new("docker")
        .env("DOCKER_HOST", &s.host)
        .args(["save", "-o"])
        .arg(&tar)
        .arg("berth-test/busybox:latest")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, v) = s.send(
        "POST",
        Some(&s.admin),
        "/api/v1/images/import",
        Some(&json!({"source": tar.to_string_lossy(), "tag": "berth-test/api-imported:1"})),
    );
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["tagged"], "berth-test/api-imported:1", "{v}");
    let (status, v) = s.send(
        "POST",
        Some(&s.admin),
        "/api/v1/images/import",
        Some(&json!({"source": tar.to_string_lossy(), "sha256": "abc"})),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let _ = s.send("DELETE", Some(&s.admin), "/api/v1/images?reference=berth-test/api-imported:1", None);
}

/// A client that does not follow redirects (sign-in and sign-out answer 303).
fn browser() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(60)).build().unwrap()
}

/// A form post from the server's own origin.
fn post_form(s: &Service, path: &str, cookie: Option<&str>, field: &str, value: &str) -> reqwest::blocking::Response {
    assert!(value.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)), "{value} needs encoding");
    let mut r = browser()
        .post(s.url(path))
        .header("Origin", s.url(""))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("{field}={value}"));
    if let Some(c) = cookie {
        r = r.header("Cookie", c);
    }
    r.send().unwrap()
}

/// Signs in to the web UI with `token` as a browser would (same origin); the session cookie.
fn sign_in(s: &Service, token: &str) -> (StatusCode, Option<String>) {
    let resp = post_form(s, "/login", None, "token", token);
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("berth_session="))
        .map(|v| v.split(';').next().unwrap().to_owned());
    (resp.status(), cookie)
}

/// HTML attribute text as a browser reads it (the escapes minijinja writes).
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A page with the session cookie.
fn page(s: &Service, cookie: &str, path: &str) -> (StatusCode, String) {
    let resp = browser().get(s.url(path)).header("Cookie", cookie).send().unwrap();
    (resp.status(), resp.text().unwrap())
}

#[test]
fn the_audit_trail_records_who_touched_which_data_and_finds_tampering() {
    let mut s = Service::new(1);
    // A run of alice's, read by her; bob tries to read it; a forged token is refused.
    let input = file_input(&s, "data1/scan.txt");
    let id = s.launch(&s.alice, "p1", json!({"tool": "checksum", "inputs": {"input": input}}));
    let done = s.wait_terminal(&s.alice, &id, Duration::from_secs(120));
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(s.get(Some(&s.alice), &format!("/api/v1/runs/{id}/logs/stdout")).0, StatusCode::OK);
    assert_eq!(s.get(Some(&s.bob), &format!("/api/v1/runs/{id}/logs/stdout")).0, StatusCode::NOT_FOUND);
    assert_eq!(s.get(Some("berth_forged"), "/api/v1/runs").0, StatusCode::UNAUTHORIZED);
    // Only admins read the trail.
    assert_eq!(s.get(Some(&s.alice), "/api/v1/audit").0, StatusCode::FORBIDDEN);
    // A browser session: a wrong token, then alice's; a page; sign-out with the page's CSRF token.
    assert_eq!(sign_in(&s, "berth_wrong").0, StatusCode::UNAUTHORIZED);
    let (status, cookie) = sign_in(&s, &s.alice);
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.expect("a session cookie");
    let (status, html) = page(&s, &cookie, &format!("/ui/runs/{id}"));
    assert_eq!(status, StatusCode::OK);
    let csrf = html.split("name=\"csrf-token\" content=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let out = post_form(&s, "/logout", Some(&cookie), "csrf_token", &csrf);
    assert_eq!(out.status(), StatusCode::SEE_OTHER);

    let entries = s.json(&s.admin, "/api/v1/audit?limit=1000");
    let find = |actor: &str, action: &str, outcome: &str| {
        entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["actor"] == actor && e["action"] == action && e["outcome"] == outcome)
            .cloned()
    };
    let run_obj = format!("run:{id}");
    let launch = find("alice", "launch", "ok").expect("alice's launch");
    assert_eq!(launch["object"], "project:p1");
    assert_eq!(launch["address"], "127.0.0.1");
    assert!(launch["via"].as_str().unwrap().starts_with("token:"), "{launch}");
    assert_eq!(find("alice", "log-view", "ok").expect("alice's log view")["object"], run_obj.as_str());
    assert_eq!(find("bob", "log-view", "not-found").expect("bob's attempt")["object"], run_obj.as_str());
    assert!(find("anonymous", "token-use", "denied").is_some(), "the forged token");
    assert!(find("alice", "view", "denied").is_some(), "alice reading the trail");
    assert!(find("anonymous", "sign-in", "denied").is_some(), "the failed sign-in");
    assert!(find("alice", "sign-in", "ok").is_some(), "the sign-in");
    assert_eq!(find("alice", "view", "ok").expect("the run page")["via"], "session");
    assert!(find("alice", "sign-out", "ok").is_some(), "the sign-out");
    // The command line's changes are there too, by the login that made them.
    let cli = entries.as_array().unwrap().iter().find(|e| e["action"] == "project-change" && e["via"] == "cli");
    assert!(cli.is_some_and(|e| e["actor"].as_str().unwrap().starts_with("cli:")), "{entries}");
    // Filters: one actor, one object.
    let bobs = s.json(&s.admin, "/api/v1/audit?actor=bob");
    assert!(bobs.as_array().unwrap().iter().all(|e| e["actor"] == "bob") && !bobs.as_array().unwrap().is_empty());
    let of_run = s.json(&s.admin, &format!("/api/v1/audit?object={run_obj}"));
    assert!(of_run.as_array().unwrap().iter().all(|e| e["object"] == run_obj.as_str()), "{of_run}");
    assert_eq!(s.json(&s.admin, "/api/v1/audit/verify")["problems"], json!([]));

    // Intact from the command line; an export kept aside.
    let verified = s.ok(&["audit", "verify"]);
    assert!(verified.contains("audit trail intact"), "{verified}");
    let export = s.path("audit-export.jsonl");
    s.ok(&["audit", "export", "--out", &export.to_string_lossy()]);
    let listed = s.ok(&["audit", "ls", "--actor", "bob"]);
    assert!(listed.contains(&run_obj), "{listed}");

    // Someone with the database hides bob's attempt: the triggers refuse, so they drop them.
    s.stop(false);
    let db = rusqlite::Connection::open(s.path("home/berth.db")).unwrap();
    let refused = db.execute("DELETE FROM audit_log WHERE actor = 'bob'", []).unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    db.execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE actor = 'bob';").unwrap();
    drop(db);
    let out = s.cmd(&["audit", "verify"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("tampered") && stderr.contains("was removed"), "{stderr}");
    let out = s.cmd(&["audit", "verify", "--checkpoint", &export.to_string_lossy(), "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["problems"].as_array().unwrap().iter().any(|p| p["kind"] == "checkpoint-mismatch"),
        "the export names the removed entry: {v}"
    );
    // And the admin page says so.
    s.start(1);
    let (_, admin_cookie) = sign_in(&s, &s.admin);
    let (status, html) = page(&s, &admin_cookie.unwrap(), "/ui/audit");
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("has been tampered with") && html.contains("was removed"), "{html}");
}

#[test]
fn data_roots_are_browsed_and_outputs_downloaded_without_following_links() {
    let s = Service::new(1);
    // A scanner export with a name that says nothing, a subdirectory, and the planted link.
    std::fs::create_dir_all(s.path("data1/study/series1")).unwrap();
    std::fs::copy(
        berth_testkit::repo_root().join("examples/dicom-normalize/data/phantom-mr.dcm"),
        s.path("data1/study/series1/IM0001"),
    )
    .unwrap();
    let listing = s.json(&s.alice, "/api/v1/projects/p1/files");
    assert_eq!(listing["root_path"], s.path("data1").to_string_lossy().as_ref());
    let kind = |l: &Value, name: &str| {
        l["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["kind"].as_str().unwrap().to_owned())
    };
    assert_eq!(kind(&listing, "link.txt").as_deref(), Some("link"), "{listing}");
    assert_eq!(kind(&listing, "scan.txt").as_deref(), Some("file"));
    assert_eq!(listing["entries"][0]["name"], "study", "directories first: {listing}");
    let series = s.json(&s.alice, "/api/v1/projects/p1/files?path=study/series1");
    let dcm = &series["entries"][0];
    assert_eq!(dcm["format"], "dicom", "{series}");
    assert!(dcm["summary"].as_str().unwrap().starts_with("MR"), "{dcm}");
    // Its middle slice as a PNG; a text file has none; a link is not followed.
    let resp = Service::client()
        .get(s.url("/api/v1/projects/p1/files/preview?path=study/series1/IM0001"))
        .bearer_auth(&s.alice)
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert!(resp.bytes().unwrap().starts_with(b"\x89PNG"), "a PNG");
    let (status, body) = s.get(Some(&s.alice), "/api/v1/projects/p1/files/preview?path=scan.txt");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(s.get(Some(&s.alice), "/api/v1/projects/p1/files/preview?path=link.txt").0, StatusCode::NOT_FOUND);
    assert_eq!(
        s.get(Some(&s.bob), "/api/v1/projects/p1/files/preview?path=study/series1/IM0001").0,
        StatusCode::NOT_FOUND
    );
    // Nothing outside the root, through `..` or the link; nothing of another project.
    assert_eq!(s.get(Some(&s.alice), "/api/v1/projects/p1/files?path=../outside").0, StatusCode::BAD_REQUEST);
    let (status, body) = s.get(Some(&s.alice), "/api/v1/projects/p1/files?path=link.txt");
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.contains("not yours"));
    assert_eq!(s.get(Some(&s.bob), "/api/v1/projects/p1/files").0, StatusCode::NOT_FOUND);
    assert_eq!(s.get(Some(&s.alice), "/api/v1/projects/p1/files?root=7").0, StatusCode::NOT_FOUND);

    // A run's outputs: listed, downloaded one by one and as a streamed tar.
    let input = file_input(&s, "data1/scan.txt");
    let id = s.launch(&s.alice, "p1", json!({"tool": "checksum", "inputs": {"input": input}}));
    let done = s.wait_terminal(&s.alice, &id, Duration::from_secs(120));
    assert_eq!(done["status"], "succeeded", "{done}");
    // What a hostile tool could leave: a link to a file of the server's.
    let out_dir = s.path(&format!("home/outputs/p1/{id}"));
    std::os::unix::fs::symlink(s.path("outside/secret.txt"), out_dir.join("evil")).unwrap();
    let top = s.json(&s.alice, &format!("/api/v1/runs/{id}/outputs"));
    assert_eq!(kind(&top, "evil").as_deref(), Some("link"), "{top}");
    let sub = top["entries"].as_array().unwrap().iter().find(|e| e["kind"] == "dir").expect("an output directory");
    let outputs = s.json(&s.alice, &format!("/api/v1/runs/{id}/outputs?path={}", sub["path"].as_str().unwrap()));
    let files: Vec<&Value> = outputs["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "file").collect();
    assert!(!files.is_empty(), "{outputs}");
    let first = files[0]["path"].as_str().unwrap().to_owned();
    let resp = Service::client()
        .get(s.url(&format!("/api/v1/runs/{id}/outputs/file?path={first}&inline=true")))
        .bearer_auth(&s.alice)
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert!(h["content-security-policy"].to_str().unwrap().starts_with("sandbox"), "{h:?}");
    assert!(h["content-disposition"].to_str().unwrap().starts_with("inline"));
    let one = resp.bytes().unwrap();
    assert_eq!(one.as_ref(), std::fs::read(out_dir.join(&first)).unwrap());
    let (status, _) = s.get(Some(&s.alice), &format!("/api/v1/runs/{id}/outputs/file?path=evil"));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(s.get(Some(&s.bob), &format!("/api/v1/runs/{id}/outputs/file?path={first}")).0, StatusCode::NOT_FOUND);
    let tar_bytes = Service::client()
        .get(s.url(&format!("/api/v1/runs/{id}/outputs/archive")))
        .bearer_auth(&s.alice)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let mut archive = tar::Archive::new(std::io::Cursor::new(tar_bytes.to_vec()));
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
        assert!(!String::from_utf8_lossy(&content).contains("not yours"), "{name} carries the linked file");
        if name == first {
            assert_eq!(content, one.as_ref());
        }
        names.push(name);
    }
    assert!(names.contains(&first) && !names.iter().any(|n| n == "evil"), "{names:?}");

    // In the pages: the browser picks a file into the launch form; the run page offers downloads.
    let (_, cookie) = sign_in(&s, &s.alice);
    let cookie = cookie.unwrap();
    let (status, html) =
        page(&s, &cookie, "/ui/projects/p1/files?path=study%2Fseries1&pick_tool=checksum&pick_input=input");
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("MR") && html.contains("Pick"), "{html}");
    let pick = unescape(html.split("class=\"button pick\" href=\"").nth(1).unwrap().split('"').next().unwrap());
    assert!(pick.starts_with("/ui/tools/checksum/launch?project=p1&pick_input=input&pick_path="), "{pick}");
    let (status, form) = page(&s, &cookie, &pick);
    assert_eq!(status, StatusCode::OK);
    let picked = s.path("data1/study/series1/IM0001").to_string_lossy().into_owned();
    assert!(unescape(&form).contains(&format!("value=\"{picked}\"")), "the picked path fills the input:\n{form}");
    let (_, run_page) = page(&s, &cookie, &format!("/ui/runs/{id}"));
    let run_page = unescape(&run_page);
    assert!(run_page.contains("Download all") && run_page.contains(&first), "{run_page}");

    // Browsing and downloading are in the audit trail.
    let trail = s.json(&s.admin, "/api/v1/audit?actor=alice&limit=1000");
    let actions: Vec<&str> = trail.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"browse") && actions.contains(&"download"), "{actions:?}");
}

#[test]
fn admins_manage_users_projects_and_tokens_over_the_api_and_pages() {
    let s = Service::new(1);
    let (status, v) = s.send("POST", Some(&s.admin), "/api/v1/users", Some(&json!({"name": "carol"})));
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = s.send("POST", Some(&s.admin), "/api/v1/users", Some(&json!({"name": "carol"})));
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (status, v) = s.send("POST", Some(&s.admin), "/api/v1/users", Some(&json!({"name": "dan", "role": "boss"})));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = s.send("POST", Some(&s.alice), "/api/v1/users", Some(&json!({"name": "eve"})));
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, v) = s.send("POST", Some(&s.admin), "/api/v1/users/carol/tokens", Some(&json!({"label": "laptop"})));
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let carol = v["token"].as_str().unwrap().to_owned();
    assert_eq!(s.json(&carol, "/api/v1/me")["user"]["name"], "carol");
    // Membership decides what carol sees.
    assert_eq!(s.get(Some(&carol), "/api/v1/projects/p1/files").0, StatusCode::NOT_FOUND);
    let (status, v) = s.send("PUT", Some(&s.admin), "/api/v1/projects/p1/members/carol", None);
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(s.get(Some(&carol), "/api/v1/projects/p1/files").0, StatusCode::OK);
    let (status, v) = s.send("DELETE", Some(&s.admin), "/api/v1/projects/p1/members/carol", None);
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(s.get(Some(&carol), "/api/v1/projects/p1/files").0, StatusCode::NOT_FOUND);
    let (status, _) = s.send("DELETE", Some(&s.admin), "/api/v1/projects/p1/members/carol", None);
    assert_eq!(status, StatusCode::NOT_FOUND, "not a member any more");
    // Tokens are listed by prefix only, and revoked by it.
    let users = s.json(&s.admin, "/api/v1/users");
    let entry = users.as_array().unwrap().iter().find(|u| u["name"] == "carol").unwrap().clone();
    let prefix = entry["tokens"][0]["prefix"].as_str().unwrap().to_owned();
    assert!(carol.starts_with(&prefix) && prefix.len() < carol.len(), "{entry}");
    assert!(!users.to_string().contains(&carol), "a token is never listed whole");
    let (status, v) = s.send("DELETE", Some(&s.admin), &format!("/api/v1/users/carol/tokens/{prefix}"), None);
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["revoked"], 1);
    assert_eq!(s.get(Some(&carol), "/api/v1/me").0, StatusCode::UNAUTHORIZED);
    // The pages.
    let (_, admin_cookie) = sign_in(&s, &s.admin);
    let admin_cookie = admin_cookie.unwrap();
    let (status, html) = page(&s, &admin_cookie, "/ui/admin");
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-user=\"carol\"") && html.contains("add-project"), "{html}");
    let (status, html) = page(&s, &admin_cookie, "/ui/images/view?reference=berth-test/busybox:latest");
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("scan-form") && html.contains("id=\"digests\""), "{html}");
    let (_, alice_cookie) = sign_in(&s, &s.alice);
    assert_eq!(page(&s, &alice_cookie.clone().unwrap(), "/ui/admin").0, StatusCode::FORBIDDEN);
    // A page that does not exist is a page, with no API advice.
    let (status, html) = page(&s, &alice_cookie.unwrap(), "/ui/nowhere");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("no such page") && !html.contains("/api/v1"), "{html}");
    // Every change is in the audit trail.
    let trail = s.json(&s.admin, "/api/v1/audit?action=user-change");
    assert!(trail.as_array().unwrap().iter().any(|e| e["object"] == "user:carol" && e["outcome"] == "ok"), "{trail}");
}

#[test]
fn sessions_through_the_service_follow_the_project_rules() {
    let s = Service::new(1);
    let input = file_input(&s, "data1/scan.txt");
    // Inputs outside the project's data roots, and tools not enabled, are refused as launches are.
    let (status, v) = s.send(
        "POST",
        Some(&s.alice),
        "/api/v1/projects/p1/sessions",
        Some(&json!({"tool": "checksum", "inputs": {"input": file_input(&s, "outside/secret.txt")}})),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = s.send(
        "POST",
        Some(&s.bob),
        "/api/v1/projects/p1/sessions",
        Some(&json!({"tool": "checksum", "inputs": {"input": input}})),
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "bob is not in p1: {v}");
    let (status, started) = s.send(
        "POST",
        Some(&s.alice),
        "/api/v1/projects/p1/sessions",
        Some(&json!({"tool": "checksum", "inputs": {"input": input}, "idle_timeout_secs": 600})),
    );
    assert_eq!(status, StatusCode::CREATED, "{started}\n{}", s.server_log());
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!((started["status"].as_str(), started["project_id"].as_str()), (Some("running"), Some("p1")));
    // The tool's own command for an invocation, twice; any other command is the site's to allow.
    for name in ["one", "two"] {
        let (status, step) = s.send(
            "POST",
            Some(&s.alice),
            &format!("/api/v1/sessions/{id}/exec"),
            Some(&json!({"inputs": {"input": input, "name": name}})),
        );
        assert_eq!(status, StatusCode::OK, "{step}");
        assert_eq!(step["exit_code"], 0, "{step}");
        assert_eq!(step["changes"][0]["path"], format!("out/{name}.sha256"), "{step}");
    }
    let (status, v) =
        s.send("POST", Some(&s.alice), &format!("/api/v1/sessions/{id}/exec"), Some(&json!({"command": ["id"]})));
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, _) = s.send(
        "POST",
        Some(&s.alice),
        &format!("/api/v1/sessions/{id}/exec"),
        Some(&json!({"inputs": {"input": file_input(&s, "data1/link.txt")}})),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "a link below the data root is refused");
    // Members see it; others do not.
    assert_eq!(s.get(Some(&s.bob), &format!("/api/v1/sessions/{id}")).0, StatusCode::NOT_FOUND);
    let detail = s.json(&s.alice, &format!("/api/v1/sessions/{id}"));
    assert_eq!(detail["steps"].as_array().unwrap().len(), 2, "{detail}");
    assert!(s.json(&s.bob, "/api/v1/sessions").as_array().unwrap().is_empty());
    assert_eq!(s.json(&s.admin, "/api/v1/sessions").as_array().unwrap().len(), 1);
    let (_, cookie) = sign_in(&s, &s.alice);
    let (status, html) = page(&s, &cookie.unwrap(), "/ui/sessions");
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&id[..13]) && html.contains("checksum"), "{html}");
    // Stopped by its user; exec is refused afterwards.
    let (status, v) = s.send("DELETE", Some(&s.bob), &format!("/api/v1/sessions/{id}"), None);
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v) = s.send("DELETE", Some(&s.alice), &format!("/api/v1/sessions/{id}"), None);
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "stopped");
    let (status, v) = s.send(
        "POST",
        Some(&s.alice),
        &format!("/api/v1/sessions/{id}/exec"),
        Some(&json!({"inputs": {"input": input}})),
    );
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let trail = s.json(&s.admin, &format!("/api/v1/audit?object=session:{id}"));
    assert!(trail.as_array().unwrap().len() >= 4, "{trail}");
}
