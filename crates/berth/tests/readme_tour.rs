//! The README's tour ("## A short tour", up to "### More"), executed as written, top to bottom,
//! from the repository's root, with the `berth` under test first on `PATH`.
//!
//! Each line of the block is one command, run by bash in the directory the tour's own `cd`
//! lines lead to; every command must succeed. The stand-ins the README names are replaced
//! here, and nothing else: `RUN_ID` and `PIPELINE_RUN_ID` by the newest ids `berth runs` and
//! `berth pipeline ls` give, and `berth serve`'s port by a free one (the server is started, asked
//! for its tools with the token the tour made, and stopped). `berth db update` reads the
//! sources of `[scan] sources`, which this test's configuration points at a local OSV record.
//!
//! Outputs go to `results/` in the checkout (ignored by git; removed before and after), the
//! sample dataset to `examples/dicom-pipeline/data/` (ignored too). Needs root (or an engine in
//! `DOCKER_HOST`): without it this test fails with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The commands of the tour: the indented lines between the headings, continuation lines
/// joined, comments and blank lines left out.
fn tour(readme: &str) -> Vec<String> {
    let start = readme.find("## A short tour").expect("the README has a tour");
    let rest = &readme[start..];
    let end = rest.find("### More").or_else(|| rest[3..].find("\n## ").map(|i| i + 3)).unwrap_or(rest.len());
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in rest[..end].lines() {
        let Some(code) = line.strip_prefix("    ") else { continue };
        let code = code.trim_end();
        if pending.is_empty() && (code.is_empty() || code.trim_start().starts_with('#')) {
            continue;
        }
        if let Some(head) = code.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(code);
        commands.push(std::mem::take(&mut pending));
    }
    commands
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Tour {
    repo: PathBuf,
    cwd: PathBuf,
    home: tempfile::TempDir,
    docker: String,
    path: String,
}

impl Tour {
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(&self.cwd)
            .env("PATH", &self.path)
            .env("BERTH_HOME", self.home.path().join("home"))
            .env("BERTH_CONFIG", self.home.path().join("config.toml"))
            .env_remove("BERTH_ADVISORY_DB")
            .env_remove("BERTH_ENGINE")
            .env_remove("BERTH_BACKEND")
            .env("DOCKER_HOST", &self.docker)
            .env("NO_COLOR", "1");
        c
    }

    fn berth_json(&self, args: &[&str]) -> Value {
        let out = self.command("berth").args(args).output().unwrap();
        assert!(out.status.success(), "berth {args:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Runs one line of the tour; its standard output.
    fn run(&mut self, line: &str) -> String {
        if let Some(dir) = line.strip_prefix("cd ") {
            self.cwd = std::fs::canonicalize(self.cwd.join(dir.trim())).unwrap();
            assert!(self.cwd.starts_with(&self.repo), "the tour stays in the repository: {}", self.cwd.display());
            return String::new();
        }
        let mut line = line.to_owned();
        if line.contains("PIPELINE_RUN_ID") {
            let id = self.berth_json(&["pipeline", "ls", "--json"])[0]["id"].as_str().unwrap().to_owned();
            line = line.replace("PIPELINE_RUN_ID", &id);
        }
        if line.contains("RUN_ID") {
            let id = self.berth_json(&["runs", "--json"])[0]["id"].as_str().unwrap().to_owned();
            line = line.replace("RUN_ID", &id);
        }
        let started = Instant::now();
        let out = self.command("bash").args(["-euo", "pipefail", "-c", &line]).stdin(Stdio::null()).output().unwrap();
        println!("$ {line}   ({:.1} s)", started.elapsed().as_secs_f64());
        assert!(
            out.status.success(),
            "the tour's `{line}` failed ({}):\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `berth serve …` from the tour, on a free port: started, asked for the tools the tour
    /// enabled (with the token it made), stopped.
    fn serve(&self, line: &str, token: &str) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let line = line.split('#').next().unwrap().trim().replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
        println!("$ {line}   (until its health check answers)");
        let log = std::fs::File::create(self.home.path().join("serve.log")).unwrap();
        let mut child = self
            .command("bash")
            .args(["-c", &format!("exec {line}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let address = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while berth_testkit::http_status(&address, "GET", "/api/v1/health", &[]) != Some(200) {
            let log = std::fs::read_to_string(self.home.path().join("serve.log")).unwrap_or_default();
            assert!(child.try_wait().unwrap().is_none(), "`{line}` ended:\n{log}");
            assert!(Instant::now() < deadline, "`{line}` did not answer within 30 s:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let auth = format!("Bearer {token}");
        let status = berth_testkit::http_status(&address, "GET", "/api/v1/tools", &[("Authorization", &auth)]);
        assert_eq!(status, Some(200), "the tour's admin token lists the tools");
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn the_readme_tour_runs_as_written() {
    let repo = berth_testkit::repo_root();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let commands = tour(&readme);
    assert!(commands.len() > 20, "the tour was not found: {commands:?}");

    let home = tempfile::tempdir().unwrap();
    // `berth db update` reads `[scan] sources`: here one local OSV record.
    let record = home.path().join("osv-debian.json");
    std::fs::write(
        &record,
        r#"[{"id": "BERTH-TOUR-0001", "modified": "2026-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.2.15-2"}]}]}]}]"#,
    )
    .unwrap();
    std::fs::write(home.path().join("config.toml"), format!("[scan]\nsources = [\"{}\"]\n", record.display())).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_berth")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let results = repo.join("results");
    let _ = std::fs::remove_dir_all(&results);
    let mut tour = Tour { cwd: repo.clone(), repo: repo.clone(), home, docker: berth_testkit::docker_host(), path };

    let mut token = String::new();
    for line in &commands {
        if line.starts_with("berth serve") {
            tour.serve(line, &token);
            continue;
        }
        let stdout = tour.run(line);
        if line.starts_with("berth user token") {
            token = stdout.trim().to_owned();
        }
    }
    assert_eq!(tour.cwd, repo, "the tour ends where it started");
    assert!(!token.is_empty(), "the tour made a token");

    // What the tour promised is there.
    assert!(results.join("normalize").is_dir());
    assert!(results.join("sbom.json").is_file());
    assert!(results.join("crate/ro-crate-metadata.json").is_file());
    let pipelines = tour.berth_json(&["pipeline", "ls", "--json"]);
    assert_eq!(pipelines.as_array().unwrap().len(), 1, "{pipelines}");
    let _ = std::fs::remove_dir_all(&results);
}

#[test]
fn the_tour_is_read_as_commands() {
    let readme = "intro\n## A short tour\n\ntext\n\n    # a comment\n    berth engine\n\n    berth run a \\\n        --b c\n    cd x\n\n### More\n\n    berth not-this\n";
    assert_eq!(tour(readme), ["berth engine", "berth run a     --b c", "cd x"]);
}
