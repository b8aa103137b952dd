//! `berth serve` against the red team's findings (issue 14): the real binary on loopback, the
//! private Docker daemon, real HTTP. One test per finding:
//!
//! - 4: state changes made with the UI's cookie need the server's own origin and the session's
//!   CSRF token; bearer clients are unaffected; the cookie holds a server-side session that
//!   signing out ends; failed token checks are limited per address and per user.
//! - 8: pipeline files come from the configured pipeline directories only; errors quote no
//!   other file.
//! - 9: stored scan reports (and every image endpoint) are for admins only.
//! - 12: live-log streams are capped per user and in all, and memory stays bounded.
//! - URL imports may not reach loopback or private addresses unless configured to.
//! - Pipeline runs started through the API publish beneath the server's output root only.
//!
//! Needs root (or an engine in `DOCKER_HOST`): without it these tests fail with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;

const SLEEPER: &str = r#"{
    "name": "sleeper", "tool-version": "1", "schema-version": "0.5",
    "description": "Sleeps, printing.",
    "command-line": "echo start; sleep [SECONDS]; echo finished",
    "container-image": {"type": "docker", "image": "berth-test/busybox:latest"},
    "inputs": [{"id": "seconds", "name": "Seconds", "type": "Number", "value-key": "[SECONDS]", "default-value": 0, "optional": true}]
}"#;

fn descriptor(name: &str) -> Value {
    let mut d: Value = serde_json::from_str(SLEEPER).unwrap();
    d["name"] = json!(name);
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A berth home with an admin, alice (project p1) and bob (p2), the sleeper tool, a
/// configuration file, and a server on it.
struct Server {
    dir: TempDir,
    host: String,
    port: u16,
    child: Option<Child>,
    admin: String,
    alice: String,
    bob: String,
}

impl Server {
    fn new(config: &str) -> Server {
        let host = berth_testkit::docker_host();
        let dir = tempfile::tempdir().unwrap();
        for d in ["data1", "data2", "pipes", "outside"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let config = config.replace("$DIR", &dir.path().to_string_lossy());
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        std::fs::write(dir.path().join("sleeper.json"), SLEEPER).unwrap();
        let mut s = Server {
            dir,
            host,
            port: free_port(),
            child: None,
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
        s.ok(&["tool", "add", &s.path("sleeper.json").to_string_lossy()]);
        s.ok(&["project", "enable", "p1", "sleeper"]);
        s.ok(&["project", "enable", "p2", "sleeper"]);
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

    fn start(mut self) -> Server {
        let log = std::fs::File::create(self.path("server.log")).unwrap();
        let child = self
            .cmd(&["serve", "--bind", &format!("127.0.0.1:{}", self.port), "--workers", "2"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if client().get(self.url("/api/v1/health")).send().is_ok_and(|r| r.status() == StatusCode::OK) {
                return self;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("berth serve did not answer within 30 s:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// `(status, body as JSON or as a string)` of a request.
    fn send(&self, r: RequestBuilder) -> (StatusCode, Value) {
        let resp = r.send().unwrap();
        let status = resp.status();
        let text = resp.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    fn bearer(&self, method: &str, token: &str, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let c = client();
        let mut r = match method {
            "POST" => c.post(self.url(path)),
            "PUT" => c.put(self.url(path)),
            "DELETE" => c.delete(self.url(path)),
            _ => c.get(self.url(path)),
        }
        .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(b);
        }
        self.send(r)
    }

    /// Signs in through the sign-in form as a browser on the server's origin would; returns
    /// the session cookie (`berth_session=...`) and the whole `Set-Cookie` line.
    fn sign_in(&self, token: &str) -> (String, String) {
        let resp = client()
            .post(self.url("/login"))
            .header("origin", self.origin())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("token", token)]))
            .send()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "sign-in: {}", resp.text().unwrap_or_default());
        let set = resp.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
        (set.split(';').next().unwrap().to_owned(), set)
    }

    /// The CSRF token the UI's pages carry for this session.
    fn csrf(&self, cookie: &str) -> String {
        let html = client().get(self.url("/ui/runs")).header("cookie", cookie).send().unwrap().text().unwrap();
        let at = html.find("name=\"csrf-token\" content=\"").expect("the page carries a CSRF token") + 27;
        html[at..at + 64].to_owned()
    }

    fn tools(&self) -> Vec<String> {
        let (_, v) = self.bearer("GET", &self.admin, "/api/v1/tools", None);
        v.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    }

    fn runs_total(&self, token: &str) -> u64 {
        self.bearer("GET", token, "/api/v1/runs", None).1["total"].as_u64().unwrap()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A form body (`application/x-www-form-urlencoded`).
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |v: &str| {
        v.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

fn client() -> Client {
    // reqwest is built without a default TLS provider (berth picks ring); plain HTTP here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().timeout(Duration::from_secs(60)).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A client whose connections come from `address` (any of 127.0.0.0/8).
fn client_from(address: &str) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(60))
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[test]
fn finding_04_cookie_state_changes_need_same_origin_and_csrf_token() {
    let s = Server::new("").start();
    let evil = format!("http://127.0.0.1:{}", free_port());

    // The cookie holds a server-side session, not the token, with the right attributes.
    let (cookie, set) = s.sign_in(&s.admin);
    assert!(cookie.starts_with("berth_session=") && !set.contains(&s.admin), "{set}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{attr} missing: {set}");
    }
    assert!(!set.contains("Secure"), "plain http on loopback: {set}");
    let (status, me) = s.send(client().get(s.url("/api/v1/me")).header("cookie", &cookie));
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["name"], "admin");
    // The old cookie (the raw token) signs no one in.
    let (status, _) = s.send(client().get(s.url("/api/v1/me")).header("cookie", format!("berth_token={}", s.admin)));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let csrf = s.csrf(&cookie);

    // A cross-origin text/plain POST (what a form or `fetch(..., {mode: "no-cors"})` on another
    // port can send with the cookie): refused, nothing registered.
    let attempts = [
        ("cross-origin text/plain", vec![("origin", evil.clone())], "text/plain"),
        (
            "cross-origin, even with the token",
            vec![("origin", evil.clone()), ("x-csrf-token", csrf.clone())],
            "text/plain",
        ),
        (
            "same-site fetch",
            vec![("origin", s.origin()), ("sec-fetch-site", "same-site".into()), ("x-csrf-token", csrf.clone())],
            "text/plain",
        ),
        ("no origin at all", vec![("x-csrf-token", csrf.clone())], "text/plain"),
        ("same origin without the CSRF token", vec![("origin", s.origin())], "text/plain"),
        (
            "same origin with a wrong CSRF token",
            vec![("origin", s.origin()), ("x-csrf-token", "0".repeat(64))],
            "text/plain",
        ),
    ];
    for (what, headers, kind) in &attempts {
        let mut r = client()
            .post(s.url("/api/v1/tools"))
            .header("cookie", &cookie)
            .header("content-type", *kind)
            .body(descriptor("csrf-tool").to_string());
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        let (status, v) = s.send(r);
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {v}");
    }
    assert!(!s.tools().contains(&"csrf-tool".to_owned()), "a refused request registered nothing");

    // A cross-origin form POST to the XNAT launch, as alice: refused, nothing queued.
    let (alice_cookie, _) = s.sign_in(&s.alice);
    let (status, v) = s.send(
        client()
            .post(s.url("/xapi/projects/p1/commands/1/wrappers/w/launch"))
            .header("cookie", &alice_cookie)
            .header("origin", &evil)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("seconds", "0")])),
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, v) = s.send(
        client()
            .post(s.url("/api/v1/projects/p1/launch"))
            .header("cookie", &alice_cookie)
            .header("origin", &evil)
            .header("content-type", "text/plain")
            .body(json!({"tool": "sleeper"}).to_string()),
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(s.runs_total(&s.alice), 0, "nothing was queued");

    // The same request from the server's own origin with the session's token: accepted.
    let (status, v) = s.send(
        client()
            .post(s.url("/api/v1/tools"))
            .header("cookie", &cookie)
            .header("origin", s.origin())
            .header("x-csrf-token", &csrf)
            .header("content-type", "application/json")
            .body(descriptor("csrf-tool").to_string()),
    );
    assert_eq!(status, StatusCode::CREATED, "{v}");
    // Bearer API clients are unaffected, whatever their origin headers say.
    let (status, v) = s.send(
        client()
            .post(s.url("/api/v1/tools"))
            .bearer_auth(&s.admin)
            .header("origin", &evil)
            .header("content-type", "text/plain")
            .body(descriptor("bearer-tool").to_string()),
    );
    assert_eq!(status, StatusCode::CREATED, "{v}");

    // Sign-out: needs the token too; afterwards the cookie (even a copy) is useless.
    let (status, _) = s.send(
        client()
            .post(s.url("/logout"))
            .header("cookie", &cookie)
            .header("origin", s.origin())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("x", "y")])),
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "sign-out without the CSRF token");
    let (status, _) = s.send(
        client()
            .post(s.url("/logout"))
            .header("cookie", &cookie)
            .header("origin", s.origin())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("csrf_token", &csrf)])),
    );
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = s.send(client().get(s.url("/api/v1/me")).header("cookie", &cookie));
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session ended with the sign-out");
    let resp = client().get(s.url("/ui/runs")).header("cookie", &cookie).send().unwrap();
    assert_eq!(resp.headers().get("location").unwrap(), "/login");
    // Revoking the token ends the sessions opened with it.
    let (alice_status, _) = s.send(client().get(s.url("/api/v1/me")).header("cookie", &alice_cookie));
    assert_eq!(alice_status, StatusCode::OK);
    s.ok(&["user", "revoke", "alice", &s.alice[..14]]);
    let (status, _) = s.send(client().get(s.url("/api/v1/me")).header("cookie", &alice_cookie));
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked token's session ended");

    // Failed token checks are limited per address (429 with Retry-After; other addresses go on)...
    let from = client_from("127.0.0.30");
    let mut limited = None;
    for i in 0..15 {
        let resp = from.get(s.url("/api/v1/me")).bearer_auth(format!("berth_{i:064x}")).send().unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned())));
            break;
        }
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let (after, retry) = limited.expect("no 429 after 15 wrong tokens from one address");
    assert!(after <= 11, "limited only after {after} failures");
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    let resp = from.get(s.url("/api/v1/me")).bearer_auth(&s.bob).send().unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "the address waits, whatever it sends");
    let resp = client_from("127.0.0.31").get(s.url("/api/v1/me")).bearer_auth(&s.bob).send().unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "another address is not affected");
    // ...and per user: tokens imitating bob's (its public prefix) from many addresses.
    let forged = format!("{}{}", &s.bob[..14], "0".repeat(s.bob.len() - 14));
    let mut bob_limited = false;
    for i in 0..15 {
        let resp =
            client_from(&format!("127.0.1.{}", i + 1)).get(s.url("/api/v1/me")).bearer_auth(&forged).send().unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            bob_limited = true;
            break;
        }
    }
    assert!(bob_limited, "no 429 after 15 forged tokens of bob's from 15 addresses");
    let resp = client_from("127.0.2.1").get(s.url("/api/v1/me")).bearer_auth(&s.admin).send().unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "other users are not affected");
    // Sign-in attempts count too.
    let mut signin_limited = false;
    let via = client_from("127.0.0.40");
    for _ in 0..15 {
        let resp = via
            .post(s.url("/login"))
            .header("origin", s.origin())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("token", "berth_wrong")]))
            .send()
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            signin_limited = true;
            break;
        }
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(signin_limited, "no 429 after 15 failed sign-ins");
}

#[test]
fn finding_08_pipeline_files_come_from_pipeline_dirs_only() {
    let s = Server::new("[serve]\npipeline_dirs = [\"$DIR/pipes\"]\n").start();
    std::fs::write(s.path("outside/secret.yaml"), "secret-line-7781: xyz\n").unwrap();
    std::fs::write(s.path("outside/secret.txt"), "secret-line-7782: xyz\n").unwrap();
    std::os::unix::fs::symlink(s.path("outside/secret.yaml"), s.path("pipes/link.yaml")).unwrap();
    std::os::unix::fs::symlink(s.path("outside"), s.path("pipes/outdir")).unwrap();
    std::fs::write(s.path("pipes/bad.yaml"), "berth-pipeline: 1\nname: bad\nstepz: {}\n").unwrap();
    let passwd_line = std::fs::read_to_string("/etc/passwd").unwrap().lines().next().unwrap().to_owned();
    let shadow_line = std::fs::read_to_string("/etc/shadow").ok().and_then(|t| t.lines().next().map(str::to_owned));

    let outside = s.path("outside/secret.yaml").to_string_lossy().into_owned();
    let txt = s.path("outside/secret.txt").to_string_lossy().into_owned();
    let via_link = s.path("pipes/link.yaml").to_string_lossy().into_owned();
    let via_dir_link = s.path("pipes/outdir/secret.yaml").to_string_lossy().into_owned();
    let dotdot = format!("{}/../outside/secret.yaml", s.path("pipes").display());
    for file in [
        "/etc/shadow",
        "/etc/passwd",
        outside.as_str(),
        txt.as_str(),
        via_link.as_str(),
        via_dir_link.as_str(),
        dotdot.as_str(),
        "../outside/secret.yaml",
        "link.yaml",
    ] {
        let (status, v) = s.bearer("POST", &s.admin, "/api/v1/pipelines", Some(&json!({"file": file})));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{file}: {v}");
        let text = v.to_string();
        for secret in ["secret-line-7781", "secret-line-7782", passwd_line.as_str()] {
            assert!(!text.contains(secret), "{file}: the error quotes another file: {text}");
        }
        if let Some(line) = &shadow_line {
            let user_field = line.split(':').take(2).collect::<Vec<_>>().join(":");
            assert!(!text.contains(&user_field), "{file}: the error quotes /etc/shadow: {text}");
        }
        assert!(text.contains("file"), "{file}: the error names the field: {text}");
    }
    // A pipeline file in the directory is read (its own problems are named), by absolute path
    // or relative to the directory.
    for file in [s.path("pipes/bad.yaml").to_string_lossy().into_owned(), "bad.yaml".to_owned()] {
        let (status, v) = s.bearer("POST", &s.admin, "/api/v1/pipelines", Some(&json!({"file": file})));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(v.to_string().contains("stepz"), "{v}");
    }
    // Users are refused before anything is read.
    let (status, _) = s.bearer("POST", &s.alice, "/api/v1/pipelines", Some(&json!({"file": "bad.yaml"})));
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[test]
fn finding_09_scan_reports_and_image_endpoints_are_for_admins_only() {
    let s = Server::new("");
    // A stored scan report (as `POST /api/v1/images/scan` keeps them).
    {
        let store = berth_store::Store::open(&s.path("home")).unwrap();
        store
            .add_scan("berth-test/busybox:latest", None, r#"{"counts": {"critical": 3}, "marker": "report-4411"}"#)
            .unwrap();
    }
    let s = s.start();
    let (status, v) = s.bearer("GET", &s.alice, "/api/v1/images/scan?reference=berth-test/busybox:latest", None);
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert!(!v.to_string().contains("report-4411"), "{v}");
    let (status, v) = s.bearer("GET", &s.admin, "/api/v1/images/scan?reference=berth-test/busybox:latest", None);
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["marker"], "report-4411");

    // Every endpoint that manages the site answers 403 to a user, before doing anything.
    let body = json!({"reference": "x", "source": "x", "target": "y:1", "file": "x.yaml", "enabled": true, "id": "p9", "data_roots": ["/"]});
    for (method, path) in [
        ("GET", "/api/v1/images"),
        ("DELETE", "/api/v1/images?reference=berth-test/busybox:latest"),
        ("GET", "/api/v1/images/sbom?reference=x"),
        ("GET", "/api/v1/images/check?reference=x"),
        ("POST", "/api/v1/images/pull"),
        ("POST", "/api/v1/images/tag"),
        ("POST", "/api/v1/images/import"),
        ("POST", "/api/v1/images/scan"),
        ("GET", "/api/v1/records"),
        ("GET", "/api/v1/records/x"),
        ("GET", "/api/v1/engines"),
        ("GET", "/api/v1/pipelines"),
        ("GET", "/api/v1/pipelines/x"),
        ("POST", "/api/v1/pipelines"),
        ("POST", "/api/v1/tools"),
        ("POST", "/api/v1/tools/import"),
        ("DELETE", "/api/v1/tools/sleeper"),
        ("PUT", "/api/v1/tools/sleeper/settings"),
        ("POST", "/api/v1/projects"),
        ("PUT", "/api/v1/projects/p1/members/alice"),
        ("PUT", "/api/v1/projects/p1/tools/sleeper"),
        ("POST", "/xapi/commands"),
    ] {
        let (status, v) =
            s.bearer(method, &s.alice, path, Some(&body).filter(|_| method != "GET" && method != "DELETE"));
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {v}");
    }
    assert!(s.tools().contains(&"sleeper".to_owned()), "nothing was removed");
    // Another project's things answer 404 (their existence is not revealed).
    let (status, _) = s.bearer("GET", &s.alice, "/api/v1/projects/p2", None);
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.bearer("POST", &s.alice, "/api/v1/projects/p2/launch", Some(&json!({"tool": "sleeper"})));
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Opens a live-log stream on a raw connection and returns the status and the connection.
fn open_stream(s: &Server, token: &str, id: &str) -> (u16, TcpStream) {
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        c,
        "GET /api/v1/runs/{id}/logs/stdout/live HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\n\r\n",
        s.port
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            c.read(&mut byte).unwrap(),
            1,
            "the server closed the connection: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    if status == 429 {
        assert!(text.to_ascii_lowercase().contains("retry-after:"), "429 without Retry-After: {text}");
    }
    (status, c)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn finding_12_live_log_streams_are_capped_and_idle_ones_cheap() {
    let s = Server::new("[serve]\nmax_live_streams = 6\nmax_live_streams_per_user = 4\n").start();
    let launch = |token: &str, project: &str| {
        let (status, v) = s.bearer(
            "POST",
            token,
            &format!("/api/v1/projects/{project}/launch"),
            Some(&json!({"tool": "sleeper", "inputs": {"seconds": 40}})),
        );
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
        v["id"].as_str().unwrap().to_owned()
    };
    let mine = launch(&s.alice, "p1");
    let theirs = launch(&s.bob, "p2");
    let base_rss = rss_kib(s.pid());

    // Per user: the fifth stream of alice's is refused with 429.
    let mut held = Vec::new();
    for i in 0..4 {
        let (status, c) = open_stream(&s, &s.alice, &mine);
        assert_eq!(status, 200, "stream {i}");
        held.push(c);
    }
    let (status, _) = open_stream(&s, &s.alice, &mine);
    assert_eq!(status, 429, "alice's fifth stream");
    // In all: bob gets two more, then the server is full.
    for _ in 0..2 {
        let (status, c) = open_stream(&s, &s.bob, &theirs);
        assert_eq!(status, 200);
        held.push(c);
    }
    let (status, _) = open_stream(&s, &s.bob, &theirs);
    assert_eq!(status, 429, "the seventh stream in all");

    // Six streams over two runs: two pollers, one per run, not one per stream.
    let metrics = client().get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("berth_live_streams 6") && metrics.contains("berth_live_runs 2"), "{metrics}");

    // Hammering does not grow the server: 300 more attempts, all refused at once.
    let started = Instant::now();
    for _ in 0..300 {
        let (status, _) = open_stream(&s, &s.alice, &mine);
        assert_eq!(status, 429);
    }
    assert!(started.elapsed() < Duration::from_secs(30), "refusals took {:?}", started.elapsed());
    // Idle streams cost nothing to hold: the server's CPU time over 3 s stays small.
    let cpu = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    let before = cpu(s.pid());
    std::thread::sleep(Duration::from_secs(3));
    let ticks = cpu(s.pid()) - before;
    assert!(ticks < 100, "the server used {ticks} ticks of CPU in 3 s with 6 idle streams");
    let grown = rss_kib(s.pid()).saturating_sub(base_rss);
    assert!(grown < 64 * 1024, "the server grew by {grown} KiB");

    // A stream that ends gives its place back.
    drop(held.remove(0));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, c) = open_stream(&s, &s.alice, &mine);
        if status == 200 {
            held.push(c);
            break;
        }
        assert!(Instant::now() < deadline, "the place of a closed stream was never given back");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The streams still carry the log.
    let mut first = held.remove(0);
    let mut buf = vec![0u8; 4096];
    let mut got = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !got.contains("start") && Instant::now() < deadline {
        let n = first.read(&mut buf).unwrap_or(0);
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.contains("event: chunk") && got.contains("start"), "{got}\n{}", s.log());
    for id in [&mine, &theirs] {
        let token = if id == &mine { &s.alice } else { &s.bob };
        let _ = s.bearer("POST", token, &format!("/api/v1/runs/{id}/kill"), None);
    }
}

#[test]
fn extra_url_import_refuses_loopback_unless_configured() {
    let server = berth_testkit::FileServer::start();
    server.add("/image.tar", b"not an archive".to_vec());
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let s = Server::new("").start();
    for url in [format!("{}/image.tar", server.url), format!("http://localhost:{port}/image.tar")] {
        let (status, v) = s.bearer("POST", &s.admin, "/api/v1/images/import", Some(&json!({"source": url})));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["error"].as_str().unwrap().contains("loopback"), "{url}: {v}");
        assert!(v["hint"].as_str().unwrap().contains("import_private_addresses"), "{v}");
    }
    assert!(server.ranges().is_empty(), "berth connected to the loopback file server");

    // With the setting on, the same URL is fetched (and found not to be an archive).
    let s2 = Server::new("[registry]\nimport_private_addresses = true\n").start();
    let (status, v) = s2.bearer(
        "POST",
        &s2.admin,
        "/api/v1/images/import",
        Some(&json!({"source": format!("{}/image.tar", server.url)})),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(!v["error"].as_str().unwrap().contains("loopback"), "{v}");
    assert_eq!(server.ranges().len(), 1, "fetched once");
}

#[test]
fn extra_pipeline_outputs_stay_under_the_output_root() {
    let s = Server::new("[serve]\npipeline_dirs = [\"$DIR/pipes\"]\n").start();
    let yaml = format!(
        "berth-pipeline: 1\nname: outs\nsteps:\n  sleep:\n    descriptor: {}\n    inputs:\n      seconds: 0\n",
        s.path("sleeper.json").display()
    );
    std::fs::write(s.path("pipes/outs.yaml"), yaml).unwrap();
    // A link planted inside the output root (as a tool's output could be) is not followed.
    std::fs::create_dir_all(s.path("home/outputs/pipelines")).unwrap();
    std::os::unix::fs::symlink(s.path("outside"), s.path("home/outputs/pipelines/planted")).unwrap();
    let evil = s.path("outside/evil-out").to_string_lossy().into_owned();
    for dir in [evil.as_str(), "/etc/berth-evil-out", "../../outside/evil-out", "planted/evil-out"] {
        let (status, v) =
            s.bearer("POST", &s.admin, "/api/v1/pipelines", Some(&json!({"file": "outs.yaml", "output_dir": dir})));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{dir}: {v}");
        assert!(v["error"].as_str().unwrap().contains("output_dir"), "{dir}: {v}");
    }
    assert!(!s.path("outside/evil-out").exists() && !std::path::Path::new("/etc/berth-evil-out").exists());
    // Inside the output root: accepted.
    let (status, v) =
        s.bearer("POST", &s.admin, "/api/v1/pipelines", Some(&json!({"file": "outs.yaml", "output_dir": "fine"})));
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert!(v["output_dir"].as_str().unwrap().ends_with("/outputs/pipelines/fine"), "{v}");
}
