//! Reachability from traced runs, end to end on the private Docker daemon: `berth run --trace`
//! of a real analysis (python3 and numpy on the debootstrap "analysis" image) under the static
//! berth-trace, `berth scan --reachability` against OSV records written here for packages the
//! analysis uses and packages it does not, `--reached-only`, VEX out in both formats read back
//! by `berth scan --vex`, and a tool that tries to forge its trace.
//!
//! Needs root (debootstrap, the engine) or an engine in `DOCKER_HOST`: without them these tests
//! fail with the reason, never skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct World {
    dir: tempfile::TempDir,
    host: String,
    tracer: String,
}

impl World {
    fn new() -> World {
        World { dir: tempfile::tempdir().unwrap(), host: berth_testkit::docker_host(), tracer: berth_testkit::tracer() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn berth(&self, args: &[&str]) -> Output {
        berth_testkit::berth_command(env!("CARGO_BIN_EXE_berth"), self.dir.path(), &self.host)
            .env("BERTH_TRACE", &self.tracer)
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        berth_testkit::stdout_of_success(args, &self.berth(args))
    }

    /// An advisory database at `name` built by `berth db update` from one OSV record per
    /// `(ecosystem, package)`, each affecting every version.
    fn db(&self, name: &str, packages: &[(&str, &str)]) -> String {
        let dir = self.path(&format!("{name}-osv"));
        std::fs::create_dir_all(&dir).unwrap();
        for (n, (ecosystem, package)) in packages.iter().enumerate() {
            let fixed = if ecosystem.starts_with("Debian") { "99:1" } else { "999" };
            let record = json!({
                "id": format!("BERTH-REACH-{package}"),
                "modified": "2026-12-01T00:00:00Z",
                "aliases": [format!("CVE-2099-{:04}", 1000 + n)],
                "summary": format!("test record for {package}"),
                "affected": [{
                    "package": {"ecosystem": ecosystem, "name": package},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                }],
                "database_specific": {"severity": "HIGH"},
            });
            std::fs::write(dir.join(format!("{package}.json")), record.to_string()).unwrap();
        }
        let db = self.path(&format!("{name}.sqlite")).to_string_lossy().into_owned();
        self.ok(&["db", "update", "--source", &dir.to_string_lossy(), "--db", &db]);
        db
    }

    /// `berth scan IMAGE --db DB -f json ARGS…`: the report and the exit code.
    fn scan(&self, image: &str, db: &str, args: &[&str]) -> (Value, i32) {
        let mut all = vec!["scan", image, "--db", db, "-f", "json"];
        all.extend_from_slice(args);
        let out = self.berth(&all);
        let code = out.status.code().unwrap_or(-1);
        assert!(code == 0 || code == 3, "berth {all:?} failed ({code}):\n{}", text(&out.stderr));
        (serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr))), code)
    }

    /// The analysis (numpy column statistics), its descriptor pointing at `image`.
    fn numpy_stats(&self, image: &str) -> String {
        let bench = berth_testkit::repo_root().join("bench/harden");
        let content =
            std::fs::read_to_string(bench.join("numpy-stats.json")).unwrap().replace("berth-eval/analysis:1", image);
        std::fs::write(self.path("numpy-stats.json"), content).unwrap();
        for f in ["numpy_stats.py", "data.csv"] {
            std::fs::copy(bench.join(f), self.path(f)).unwrap();
        }
        self.path("numpy-stats.json").to_string_lossy().into_owned()
    }

    /// Runs `descriptor` traced; returns the run id.
    fn traced_run(&self, descriptor: &str, invocation: &str) -> String {
        let out = self.ok(&["run", descriptor, "-i", invocation, "--trace", "--json", "--output-dir", "out"]);
        let outcome: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(outcome["status"], "succeeded", "{outcome}");
        outcome["run_id"].as_str().unwrap().to_owned()
    }
}

/// Package → reach state, from a JSON report.
fn states(report: &Value) -> std::collections::BTreeMap<String, String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (f["package"].as_str().unwrap().to_owned(), f["reach"]["state"].as_str().unwrap_or("unmarked").to_owned())
        })
        .collect()
}

fn ids(findings: &Value, key: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| key.map_or(f, |k| &f[k])["id"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_traced_analysis_marks_findings_and_states_the_unreached_as_not_affected() {
    let w = World::new();
    let image = berth_testkit::analysis_image(&w.host);
    let descriptor = w.numpy_stats(image);
    let run = w.traced_run(&descriptor, r#"{"script": "numpy_stats.py", "data": "data.csv"}"#);
    let shown: Value = serde_json::from_str(&w.ok(&["show", &run, "--json"])).unwrap();
    let trace = &shown["berth-trace"];
    assert_eq!(trace["complete"], true, "{trace}");
    assert!(trace["accesses"].as_u64().unwrap() > 100, "python3 and numpy open hundreds of files: {trace}");

    // Used: the interpreter, its standard library, numpy (Debian) and the shell. Not used: the
    // compiler, perl, and pip packages the script never imports.
    let db = w.db(
        "all",
        &[
            ("Debian:12", "python3.11"),
            ("Debian:12", "numpy"),
            ("Debian:12", "dash"),
            ("Debian:12", "gcc-12"),
            ("Debian:12", "perl"),
            ("PyPI", "pydicom"),
            ("PyPI", "Pillow"),
        ],
    );
    let vex = w.path("vex.json").to_string_lossy().into_owned();
    let (report, code) =
        w.scan(image, &db, &["--reachability", "--vex-out", &vex, "--fail-on", "high", "--reached-only"]);
    assert_eq!(code, 3, "numpy is reached and high");
    let s = states(&report);
    eprintln!("reach per package: {s:?}");
    for reached in ["python3.11", "python3.11-minimal", "libpython3.11-stdlib", "python3-numpy", "dash"] {
        assert_eq!(s.get(reached).map(String::as_str), Some("reached"), "{reached}: {s:?}");
    }
    for unreached in ["gcc-12", "cpp-12", "libgcc-12-dev", "python3.11-venv", "perl-base", "pydicom", "Pillow"] {
        assert_eq!(s.get(unreached).map(String::as_str), Some("not-reached"), "{unreached}: {s:?}");
    }
    let summary = &report["reachability"];
    assert_eq!(summary["runs"][0]["run_id"], run.as_str());
    assert_eq!(
        summary["not_reached"].as_u64().unwrap()
            + summary["reached"].as_u64().unwrap()
            + summary["unknown"].as_u64().unwrap(),
        report["findings"].as_array().unwrap().len() as u64
    );
    let numpy = report["findings"].as_array().unwrap().iter().find(|f| f["package"] == "python3-numpy").unwrap();
    assert!(
        numpy["reach"]["evidence"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().contains("/numpy/")),
        "the evidence names numpy's own files: {numpy}"
    );

    // The OpenVEX document: one not_affected statement per not-reached finding, naming the run.
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&vex).unwrap()).unwrap();
    let statements = doc["statements"].as_array().unwrap();
    assert_eq!(statements.len() as u64, summary["not_reached"].as_u64().unwrap());
    for st in statements {
        assert_eq!(st["status"], "not_affected");
        assert_eq!(st["justification"], "vulnerable_code_not_in_execute_path");
        assert!(st["impact_statement"].as_str().unwrap().contains(&run), "{st}");
    }
    eprintln!("an OpenVEX statement berth wrote: {}", serde_json::to_string_pretty(&statements[0]).unwrap());

    // Read back, in both formats: exactly the not-reached findings are suppressed.
    let not_reached: Vec<String> = {
        let mut v: Vec<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["reach"]["state"] == "not-reached")
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let cdx = w.path("vex.cdx.json").to_string_lossy().into_owned();
    w.scan(image, &db, &["--reachability", "--vex-out", &cdx, "--vex-format", "cyclonedx"]);
    for document in [&vex, &cdx] {
        let (triaged, _) = w.scan(image, &db, &["--vex", document]);
        assert_eq!(ids(&triaged["suppressed"], Some("finding")), not_reached, "{document}");
        assert_eq!(
            triaged["findings"].as_array().unwrap().len() + not_reached.len(),
            report["findings"].as_array().unwrap().len()
        );
    }

    // Only unreached findings: --fail-on fails on them, --reached-only lets them pass.
    let unused = w.db("unused", &[("Debian:12", "perl"), ("PyPI", "pydicom"), ("PyPI", "Pillow")]);
    assert_eq!(w.scan(image, &unused, &["--fail-on", "high"]).1, 3);
    assert_eq!(w.scan(image, &unused, &["--reachability", "--fail-on", "high", "--reached-only"]).1, 0);

    // Another image has no traced runs: nothing is marked, and berth says why.
    let out = w.berth(&["scan", "berth-test/busybox", "--db", &unused, "--reachability"]);
    assert!(text(&out.stderr).contains("no complete trace"), "{}", text(&out.stderr));
}

#[test]
fn a_tool_cannot_forge_or_stop_its_trace() {
    let w = World::new();
    let image = berth_testkit::analysis_image(&w.host);
    // The tool reads perl, then tries to pass for a tool that touched nothing: it connects to
    // the trace socket and sends an empty, complete-looking trace, tries to write to the
    // socket's path, and tries to kill the tracer (PID 1).
    let script = r#"
import os, signal, socket
open("/usr/bin/perl", "rb").read(4)
forged = '{"end":true,"accesses":0,"exit_status":0}\n'
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("/berth/trace.sock")
    s.sendall(forged.encode())
    s.close()
    print("connected")
except OSError as e:
    print("connect refused:", e)
try:
    open("/berth/trace.sock", "w").write(forged)
    print("wrote")
except OSError as e:
    print("write refused:", e)
try:
    os.kill(1, signal.SIGKILL)
except OSError as e:
    print("kill refused:", e)
print("done")
"#;
    std::fs::write(w.path("forge.py"), script).unwrap();
    let descriptor = json!({
        "name": "forger", "tool-version": "1", "schema-version": "0.5", "description": "tries to forge its trace",
        "command-line": "python3 [SCRIPT]",
        "container-image": {"type": "docker", "image": image},
        "inputs": [{"id": "script", "name": "Script", "type": "File", "value-key": "[SCRIPT]"}],
    });
    std::fs::write(w.path("forger.json"), descriptor.to_string()).unwrap();
    let run = w.traced_run(&w.path("forger.json").to_string_lossy(), r#"{"script": "forge.py"}"#);
    let log = std::fs::read_to_string(w.path("home").join("logs").join(&run).join("stdout")).unwrap();
    assert!(log.contains("done"), "{log}");
    assert!(!log.contains("\nconnected"), "the tool reached the listener: {log}");
    let shown: Value = serde_json::from_str(&w.ok(&["show", &run, "--json"])).unwrap();
    assert_eq!(shown["berth-trace"]["complete"], true, "{}", shown["berth-trace"]);

    let db = w.db("perl", &[("Debian:12", "perl")]);
    let (report, _) = w.scan(image, &db, &["--reachability"]);
    assert_eq!(states(&report).get("perl-base").map(String::as_str), Some("reached"), "{report:#}");
}
