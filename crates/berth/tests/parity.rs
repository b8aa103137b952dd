//! One run path for every front end: the same tool, under the same site configuration, run
//! through `berth run`, a `berth serve` launch, a pipeline task and a Slurm submission, gets
//! the same scan-policy decision, recorded the same way, and `enforce` refuses on every path
//! before any container exists.
//!
//! The image is the test busybox with a Debian 12 identity and one installed package (bash
//! 5.2.15-2+b2) written into its dpkg database; the advisory database is built by `berth db
//! update` from one OSV record written here (critical, fixed in a later version), so the
//! decision is known without any downloaded data.
//!
//! Needs root (or an engine in `DOCKER_HOST`) and Slurm (`scripts/slurm.sh`): without them
//! these tests fail with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

const IMAGE: &str = "berth-test/parity:vulnerable";
const ADVISORY: &str = "BERTH-PARITY-0001";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The test busybox with a Debian identity and bash 5.2.15-2+b2 in its dpkg database.
fn vulnerable_image(docker: &str) -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("status"),
            "Package: bash\nStatus: install ok installed\nPriority: required\nSection: shells\n\
             Installed-Size: 7164\nMaintainer: Matthias Klose <doko@debian.org>\nArchitecture: amd64\n\
             Version: 5.2.15-2+b2\nDescription: GNU Bourne Again SHell\n\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("os-release"),
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n\
             VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("Dockerfile"),
            format!(
                "FROM {}\nCOPY status /var/lib/dpkg/status\nCOPY os-release /etc/os-release\n",
                berth_testkit::BUSYBOX
            ),
        )
        .unwrap();
        let out = Command::new("docker")
            .env("DOCKER_HOST", docker)
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "--network", "none", "-q", "-t", IMAGE])
            .arg(dir.path())
            .output()
            .expect("run docker build (Debian's docker.io provides the client)");
        assert!(out.status.success(), "docker build failed: {}", text(&out.stderr));
    });
    IMAGE
}

/// A site: berth home, configuration with the scan policy, the advisory database, a tool.
struct Site {
    dir: TempDir,
    docker: String,
    slurm: String,
    server: Option<(Child, u16)>,
}

impl Site {
    fn new(policy: &str) -> Site {
        let docker = berth_testkit::docker_host();
        let slurm = berth_testkit::slurm_conf();
        let image = vulnerable_image(&docker);
        let dir = tempfile::tempdir().unwrap();
        let site = Site { dir, docker, slurm, server: None };
        std::fs::create_dir_all(site.path("data")).unwrap();
        std::fs::write(
            site.path("config.toml"),
            format!(
                "[scan]\nrun_policy = \"{policy}\"\n\n[serve]\npipeline_dirs = [\"{}\"]\n\n[run]\nmemory = \"96m\"\ncpus = 0.5\n",
                site.path("").display()
            ),
        )
        .unwrap();
        // bash's source package below the fixed version: one critical finding with a fix.
        let record = json!([{
            "id": ADVISORY, "aliases": ["CVE-2099-4242"], "modified": "2026-01-01T00:00:00Z",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99:1.0-1"}]}]}],
        }]);
        std::fs::write(site.path("debian.json"), record.to_string()).unwrap();
        site.ok(&["db", "update", "--source", &site.path("debian.json").to_string_lossy()]);
        site.shell_tool("scanned", image, "tool.json", "pipeline.yaml");
        site
    }

    /// Writes tool `name` (`sh -c [SCRIPT]` in `image`) to `file`, and a one-step pipeline
    /// running it with `echo ran` to `pipeline`.
    fn shell_tool(&self, name: &str, image: &str, file: &str, pipeline: &str) {
        let tool = json!({
            "name": name, "tool-version": "1.0", "schema-version": "0.5",
            "description": "Runs a shell command.",
            "command-line": "sh -c [SCRIPT]",
            "container-image": {"type": "docker", "image": image},
            "inputs": [{"id": "script", "name": "Script", "type": "String", "value-key": "[SCRIPT]"}],
        });
        std::fs::write(self.path(file), tool.to_string()).unwrap();
        let yaml = format!(
            "berth-pipeline: 1\nname: {name}\nsteps:\n  only:\n    descriptor: {file}\n    inputs:\n      script: echo ran\n"
        );
        std::fs::write(self.path(pipeline), yaml).unwrap();
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = berth_testkit::berth_command(env!("CARGO_BIN_EXE_berth"), self.dir.path(), &self.docker);
        c.args(args).env("SLURM_CONF", &self.slurm);
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

    /// The scan-policy decision and status recorded for the newest run.
    fn newest_decision(&self) -> (String, Value) {
        let runs = self.json(&["runs", "--json"]);
        let id = runs[0]["id"].as_str().expect("a recorded run").to_owned();
        let record = self.json(&["show", &id, "--json"]);
        (runs[0]["status"].as_str().unwrap().to_owned(), record["berth"]["scan-policy"].clone())
    }

    fn containers(&self) -> usize {
        let out = Command::new("docker")
            .env("DOCKER_HOST", &self.docker)
            .args(["ps", "-aq", "--filter", &format!("ancestor={IMAGE}")])
            .output()
            .unwrap();
        text(&out.stdout).lines().count()
    }

    /// `berth serve` on a free loopback port, with an admin token, a project and the tool.
    fn serve(&mut self) -> String {
        self.serve_tool("tool.json", "scanned", "never")
    }

    /// `berth serve --pull PULL` with the tool of `file` (named `name`) enabled in project `lab`.
    fn serve_tool(&mut self, file: &str, name: &str, pull: &str) -> String {
        self.ok(&["user", "add", "admin", "--role", "admin"]);
        let token = self.ok(&["user", "token", "admin"]).trim().to_owned();
        let data = self.path("data").to_string_lossy().into_owned();
        self.ok(&["project", "add", "lab", "--data-root", &data, "--member", "admin"]);
        self.ok(&["tool", "add", &self.path(file).to_string_lossy()]);
        self.ok(&["project", "enable", "lab", name]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(self.path("server.log")).unwrap();
        let child = self
            .cmd(&["serve", "--bind", &format!("127.0.0.1:{port}"), "--workers", "1", "--pull", pull])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.server = Some((child, port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while berth_testkit::http_status(&format!("127.0.0.1:{port}"), "GET", "/api/v1/health", &[]) != Some(200) {
            assert!(Instant::now() < deadline, "berth serve did not answer:\n{}", self.server_log());
            std::thread::sleep(Duration::from_millis(100));
        }
        token
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
    }

    /// Launches the tool through the API and waits for the launch to end; its final state.
    fn launch(&self, token: &str) -> Value {
        self.launch_tool(token, "scanned")
    }

    /// Launches tool `name` (input `script`) through the API and waits for it to end.
    fn launch_tool(&self, token: &str, name: &str) -> Value {
        let port = self.server.as_ref().unwrap().1;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
        let resp = client
            .post(url("/api/v1/projects/lab/launch"))
            .bearer_auth(token)
            .json(&json!({"tool": name, "inputs": {"script": "echo ran"}}))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202, "{}", resp.text().unwrap());
        let id = resp.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let v: Value =
                client.get(url(&format!("/api/v1/runs/{id}"))).bearer_auth(token).send().unwrap().json().unwrap();
            if v["terminal"].as_bool() == Some(true) {
                return v;
            }
            assert!(Instant::now() < deadline, "launch {id} did not end: {v}\n{}", self.server_log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some((mut c, _)) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The limits the site's `[run]` defaults gave the newest run's container, as the engine applied
/// them: (memory bytes, nano-CPUs).
fn applied_limits(site: &Site) -> (Value, Value) {
    let runs = site.json(&["runs", "--json"]);
    let record = site.json(&["show", runs[0]["id"].as_str().unwrap(), "--json"]);
    let settings = &record["berth"]["container"]["settings"];
    (settings["memory_bytes"].clone(), settings["nano_cpus"].clone())
}

fn assert_site_limits(path: &str, site: &Site) {
    let (memory, cpus) = applied_limits(site);
    assert_eq!(memory, 96 * 1024 * 1024, "{path}: [run] memory applied");
    assert_eq!(cpus, 500_000_000, "{path}: [run] cpus applied");
    println!("{path:<16} limits   memory {memory} B, {cpus} nano-CPUs");
}

fn assert_decision(path: &str, (status, decision): (String, Value), verdict: &str, mode: &str) {
    assert_eq!(decision["verdict"], verdict, "{path}: {decision}");
    assert_eq!(decision["mode"], mode, "{path}: {decision}");
    assert_eq!(decision["counts"]["critical"], 1, "{path}: {decision}");
    assert!(decision["image"].as_str().unwrap().starts_with("sha256:"), "{path}: {decision}");
    assert!(decision["reasons"][0].as_str().unwrap().contains(ADVISORY), "{path}: {decision}");
    let expected = if verdict == "refuse" { "failed" } else { "succeeded" };
    assert_eq!(status, expected, "{path}: the run's status");
    println!("{path:<16} {mode:<8} verdict {verdict:<7} run {status}");
}

#[test]
fn enforce_refuses_the_same_image_on_every_front_end() {
    let mut site = Site::new("enforce");
    let before = site.containers();

    // The command line.
    let out = site.berth(&["run", "tool.json", "-i", r#"{"script": "echo ran"}"#, "-o", "out-cli", "--pull", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("refused by the scan policy"), "{}", text(&out.stderr));
    assert_decision("berth run", site.newest_decision(), "refuse", "enforce");

    // A Slurm submission: refused before anything reaches the scheduler.
    let out = site.berth(&[
        "run",
        "tool.json",
        "-i",
        r#"{"script": "echo ran"}"#,
        "-o",
        "out-slurm",
        "--pull",
        "never",
        "--backend",
        "slurm",
        "--detach",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stderr).contains("refused by the scan policy"), "{}", text(&out.stderr));
    let (status, decision) = site.newest_decision();
    let runs = site.json(&["runs", "--json"]);
    let record = site.json(&["show", runs[0]["id"].as_str().unwrap(), "--json"]);
    assert!(record["berth-slurm-job"].is_null(), "no job was submitted: {}", record["berth-slurm-job"]);
    assert_decision("slurm", (status, decision), "refuse", "enforce");

    // A pipeline task.
    let out = site.berth(&["pipeline", "run", "pipeline.yaml", "-o", "out-pipeline", "--pull", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("refused by the scan policy"), "{}", text(&out.stderr));
    assert_decision("pipeline task", site.newest_decision(), "refuse", "enforce");

    // A server launch.
    let token = site.serve();
    let launch = site.launch(&token);
    assert_eq!(launch["status"], "failed", "{launch}\n{}", site.server_log());
    assert_decision("server launch", site.newest_decision(), "refuse", "enforce");

    assert_eq!(site.containers(), before, "no path created a container for the refused image");
}

#[test]
fn warn_records_the_same_decision_on_every_front_end_and_runs() {
    let mut site = Site::new("warn");

    let out = site.berth(&["run", "tool.json", "-i", r#"{"script": "echo ran"}"#, "-o", "out-cli", "--pull", "never"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ran\n");
    assert!(text(&out.stderr).contains("scan policy (warn): warn"), "{}", text(&out.stderr));
    assert_decision("berth run", site.newest_decision(), "warn", "warn");
    assert_site_limits("berth run", &site);

    let out = site.berth(&["pipeline", "run", "pipeline.yaml", "-o", "out-pipeline", "--pull", "never"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_decision("pipeline task", site.newest_decision(), "warn", "warn");
    assert_site_limits("pipeline task", &site);

    let token = site.serve();
    let launch = site.launch(&token);
    assert_eq!(launch["status"], "succeeded", "{launch}\n{}", site.server_log());
    assert_decision("server launch", site.newest_decision(), "warn", "warn");
    assert_site_limits("server launch", &site);
}

#[test]
fn a_misspelled_policy_stops_every_front_end_before_anything_runs() {
    let site = Site::new("warn");
    std::fs::write(site.path("config.toml"), "[scan]\nrun_policy = \"enforcing\"\n").unwrap();
    for args in [
        vec!["run", "tool.json", "-i", r#"{"script": "echo ran"}"#, "-o", "out", "--pull", "never"],
        vec!["pipeline", "run", "pipeline.yaml", "-o", "out-pipeline"],
        vec!["serve", "--bind", "127.0.0.1:0"],
    ] {
        let out = site.berth(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains("configuration `[scan] run_policy`: unknown value `enforcing`")
                && err.contains("`off`, `warn` or `enforce`"),
            "{args:?}: {err}"
        );
    }
    assert!(site.json(&["runs", "--json"]).as_array().unwrap().is_empty(), "nothing was recorded");
}

#[test]
fn the_sites_stored_credentials_pull_on_every_front_end() {
    let mut site = Site::new("off");
    // A private registry that refuses anonymous pulls, and the image only there.
    let registry = berth_testkit::Registry::start(Some(("ana", "parity-pw")));
    let image = format!("{}/parity/private:1", registry.address);
    site.ok(&["image", "tag", berth_testkit::BUSYBOX, &image]);
    let mut login = site.cmd(&["login", &registry.address, "-u", "ana", "--password-stdin"]);
    login.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = login.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"parity-pw\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "berth login: {}", text(&out.stderr));
    site.ok(&["image", "push", &image]);
    site.shell_tool("private", &image, "private.json", "private.yaml");
    // Without them the pull is refused, and says so (the image is on the registry only).
    site.ok(&["image", "rm", &image]);
    let other = Site::new("off");
    std::fs::copy(site.path("private.json"), other.path("private.json")).unwrap();
    let out = other.berth(&["run", "private.json", "-i", r#"{"script": "echo ran"}"#, "-o", "out", "--pull", "always"]);
    assert_eq!(out.status.code(), Some(1), "an anonymous pull must fail: {}", text(&out.stderr));
    let err = text(&out.stderr).to_lowercase();
    assert!(err.contains("unauthorized") || err.contains("authentication") || err.contains("credentials"), "{err}");
    // Every path pulls (`--pull always`): only the stored credentials let it.
    let pulled = |site: &Site, path: &str| {
        println!("{path:<16} pulled {image} with the stored credentials");
        site.ok(&["image", "rm", &image]);
    };

    let out =
        site.berth(&["run", "private.json", "-i", r#"{"script": "echo ran"}"#, "-o", "out-cli", "--pull", "always"]);
    assert!(out.status.success(), "berth run: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ran\n");
    pulled(&site, "berth run");

    let out = site.berth(&["pipeline", "run", "private.yaml", "-o", "out-pipeline", "--pull", "always"]);
    assert!(out.status.success(), "pipeline: {}", text(&out.stderr));
    pulled(&site, "pipeline task");

    let out = site.berth(&[
        "run",
        "private.json",
        "-i",
        r#"{"script": "echo ran"}"#,
        "-o",
        "out-slurm",
        "--pull",
        "always",
        "--backend",
        "slurm",
        "--detach",
    ]);
    assert!(out.status.success(), "slurm: {}", text(&out.stderr));
    let run = text(&out.stdout).trim().to_owned();
    let _ = site.berth(&["cancel", &run]);
    println!("{:<16} pulled {image} with the stored credentials (submitted as run {run})", "slurm");

    let token = site.serve_tool("private.json", "private", "always");
    let launch = site.launch_tool(&token, "private");
    assert_eq!(launch["status"], "succeeded", "{launch}\n{}", site.server_log());
    println!("{:<16} pulled {image} with the stored credentials", "server launch");
}
