//! `berth sbom`, `berth scan`, `berth scan compare`, `berth db update|status` and the scan
//! policy of `berth run`, end to end on real targets: debootstrap root filesystems
//! (`scripts/test-rootfs.sh`, cached under `target/berth-fixtures/`), a docker-archive of one,
//! and the same root filesystem imported into the real Docker engine. Advisories are loaded
//! with `berth db update` from an HTTP server on loopback: the real PyPA records and Debian
//! tracker excerpt in `../shared/fixtures/advisories/`, and Debian records written here against
//! the versions actually installed.
//!
//! Needs root, debootstrap and a Debian mirror (the first time), and a Docker engine
//! (`DOCKER_HOST`, else `scripts/dockerd.sh`): without them these tests fail with the reason,
//! never skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

fn repo() -> PathBuf {
    berth_testkit::repo_root()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `scripts/test-rootfs.sh ARGS`, once per fixture and process.
fn fixture(args: &[&str]) -> PathBuf {
    let out = Command::new("bash").arg(repo().join("scripts/test-rootfs.sh")).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "building the debootstrap fixture {args:?} failed (it needs root, debootstrap and a Debian mirror):\n{}",
        text(&out.stderr)
    );
    PathBuf::from(text(&out.stdout).trim())
}

/// A loopback HTTP/1.1 server answering GETs from a fixed map; anything else is 404.
fn serve(routes: Vec<(String, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = Arc::new(routes);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let (status, body) = match routes.iter().find(|(p, _)| *p == path) {
                Some((_, b)) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"not here".to_vec()),
            };
            let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}")
}

fn advisories() -> PathBuf {
    match std::env::var_os("BERTH_SHARED_FIXTURES") {
        Some(dir) => PathBuf::from(dir).join("advisories"),
        None => repo().join("../shared/fixtures/advisories"),
    }
}

/// Whether the shared advisory fixtures are here. A fresh clone outside the project's
/// workspace has no `../shared`; these tests say "skipped" then, as the XNAT fixture tests do.
fn fixtures_present() -> bool {
    let here = advisories().is_dir();
    if !here {
        use std::io::Write as _;
        // Written to the real stderr, so that it shows even when the harness captures output.
        let _ = writeln!(std::io::stderr(), "skipped: {} not present", advisories().display());
    }
    here
}

/// osv.dev's dump format: a zip of one JSON record per advisory, from the PyPA YAML records.
fn pypi_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut dirs: Vec<_> = std::fs::read_dir(advisories().join("osv-pypi/vulns")).unwrap().flatten().collect();
    dirs.sort_by_key(|d| d.path());
    for dir in dirs {
        let Ok(files) = std::fs::read_dir(dir.path()) else { continue };
        for f in files.flatten().filter(|f| f.path().extension().is_some_and(|e| e == "yaml")) {
            let record = berth_advisory::osv::from_yaml(&std::fs::read(f.path()).unwrap()).unwrap();
            zip.start_file(format!("{}.json", record.id), zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(&serde_json::to_vec(&record).unwrap()).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

/// The source package and version of binary package `name` in a berth inventory.
fn source_of(inventory: &Value, name: &str) -> (String, String) {
    let p = inventory["packages"].as_array().unwrap().iter().find(|p| p["name"] == name && p["kind"] == "deb");
    let p = p.unwrap_or_else(|| panic!("{name} is not in the inventory"));
    let version = p["version"].as_str().unwrap();
    (
        p["source_name"].as_str().unwrap_or(p["name"].as_str().unwrap()).to_owned(),
        p["source_version"].as_str().unwrap_or(version).to_owned(),
    )
}

const CRITICAL: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";

/// Debian records written against the minbase fixture's real versions: one critical with a fix
/// (for bash's source package), one already fixed below the installed version (coreutils: no
/// finding), one open without a fix (dpkg, low urgency).
fn debian_records(minbase_inventory: &Value) -> Vec<u8> {
    let (bash_src, _) = source_of(minbase_inventory, "bash");
    let (coreutils_src, _) = source_of(minbase_inventory, "coreutils");
    let (dpkg_src, _) = source_of(minbase_inventory, "dpkg");
    let range = |fixed: Option<&str>| {
        let mut events = vec![json!({"introduced": "0"})];
        events.extend(fixed.map(|f| json!({"fixed": f})));
        json!([{"type": "ECOSYSTEM", "events": events}])
    };
    serde_json::to_vec(&json!([
        {"id": "BERTH-CLI-0001", "aliases": ["CVE-2099-1001"], "modified": "2024-01-01T00:00:00Z",
         "severity": [{"type": "CVSS_V3", "score": CRITICAL}],
         "affected": [{"package": {"ecosystem": "Debian:12", "name": bash_src}, "ranges": range(Some("99:1.0-1"))}]},
        {"id": "BERTH-CLI-0002", "modified": "2024-01-01T00:00:00Z",
         "severity": [{"type": "CVSS_V3", "score": CRITICAL}],
         "affected": [{"package": {"ecosystem": "Debian:12", "name": coreutils_src}, "ranges": range(Some("0.1-1"))}]},
        {"id": "BERTH-CLI-0003", "modified": "2024-01-01T00:00:00Z",
         "affected": [{"package": {"ecosystem": "Debian:12", "name": dpkg_src}, "ranges": range(None),
                       "ecosystem_specific": {"urgency": "low"}}]},
    ]))
    .unwrap()
}

struct Shared {
    _dir: TempDir,
    db: PathBuf,
    update_stdout: String,
    minbase: PathBuf,
    analysis: PathBuf,
    archive: PathBuf,
}

fn berth_in(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("BERTH_HOME", home)
        .env("BERTH_CONFIG", home.join("config.toml"))
        .env_remove("BERTH_ADVISORY_DB")
        .env_remove("BERTH_ENGINE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// The fixtures, and one advisory database built through `berth db update` over loopback HTTP.
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let minbase = fixture(&["minbase"]);
        let analysis = fixture(&["analysis"]);
        let archive = fixture(&["archive", "minbase"]);
        let dir = tempfile::tempdir().unwrap();
        let out = berth_in(dir.path(), &["sbom", minbase.to_str().unwrap(), "-f", "json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let inventory: Value = serde_json::from_slice(&out.stdout).unwrap();
        let tracker = std::fs::read(advisories().join("debian-tracker/debian_security_tracker_mock.json")).unwrap();
        let base = serve(vec![
            ("/osv/PyPI/all.zip".into(), pypi_zip()),
            ("/tracker/data/json".into(), tracker),
            ("/osv/berth-debian.json".into(), debian_records(&inventory)),
        ]);
        let sources = [
            format!("{base}/osv/PyPI/all.zip"),
            format!("{base}/tracker/data/json"),
            format!("{base}/osv/berth-debian.json"),
        ];
        let mut args = vec!["db", "update"];
        for s in &sources {
            args.extend(["--source", s]);
        }
        let out = berth_in(dir.path(), &args);
        assert!(out.status.success(), "berth db update failed: {}", text(&out.stderr));
        let db = dir.path().join("advisories.sqlite");
        assert!(db.is_file(), "the database lives under BERTH_HOME");
        Shared { db, update_stdout: text(&out.stdout), _dir: dir, minbase, analysis, archive }
    })
}

/// A test's own BERTH_HOME (with a configuration file) using the shared database.
struct World {
    home: TempDir,
}

impl World {
    fn new(config: &str) -> World {
        let home = tempfile::tempdir().unwrap();
        let db = shared().db.display().to_string();
        std::fs::write(home.path().join("config.toml"), format!("[scan]\ndb = {db:?}\n{config}")).unwrap();
        World { home }
    }

    fn berth(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(args)
            .current_dir(self.home.path())
            .env("BERTH_HOME", self.home.path())
            .env("BERTH_CONFIG", self.home.path().join("config.toml"))
            .env("DOCKER_HOST", berth_testkit::docker_host())
            .env_remove("BERTH_ADVISORY_DB")
            .env_remove("BERTH_ENGINE")
            .env("NO_COLOR", "1");
        c.output().unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.berth(args);
        assert!(out.status.success(), "berth {args:?} failed: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
    }
}

fn ids(report: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        report["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids.dedup();
    ids
}

fn debs(inventory: &Value) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = inventory["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "deb")
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (s("name"), s("version"), s("source_version"))
        })
        .collect();
    v.sort();
    v
}

/// The minbase fixture imported into the real Docker engine, as `berth-test/scan-cli:minbase`.
fn engine_image() -> &'static str {
    static IMAGE: OnceLock<&'static str> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let tag = "berth-test/scan-cli:minbase";
        let tarball = fixture(&["tarball", "minbase"]);
        let out = Command::new("docker")
            .env("DOCKER_HOST", berth_testkit::docker_host())
            .args(["import", "--change", "CMD [\"/bin/sh\"]"])
            .arg(&tarball)
            .arg(tag)
            .output()
            .expect("run docker import (Debian's docker.io provides the client)");
        assert!(out.status.success(), "docker import failed: {}", text(&out.stderr));
        tag
    })
}

#[test]
fn db_update_over_loopback_loads_every_source_and_status_describes_them() {
    if !fixtures_present() {
        return;
    }
    let s = shared();
    assert!(s.update_stdout.contains("snapshot:"), "{}", s.update_stdout);
    let w = World::new("");
    let status = w.json(&["db", "status", "--json"]);
    let kinds: Vec<(String, u64)> = status["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["kind"].as_str().unwrap().to_owned(), s["records"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("osv-zip".to_owned(), 2651), ("debian-tracker".to_owned(), 15), ("osv-json".to_owned(), 3)],
        "2,651 live PyPA records, the tracker excerpt, our three Debian records"
    );
    assert_eq!(status["stale"], false);
    // A configured maximum age of 0 hours makes the database stale, and scans say so.
    let old = World::new("max_db_age_hours = 0\n");
    std::thread::sleep(Duration::from_millis(1100));
    let st = old.json(&["db", "status", "--json"]);
    assert_eq!(st["stale"], true, "{st}");
    let out = old.berth(&["scan", s.minbase.to_str().unwrap(), "-f", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("run `berth db update`"), "{}", text(&out.stderr));
}

#[test]
fn sbom_reads_a_rootfs_an_archive_and_an_engine_image_alike_and_says_what_it_detected() {
    if !fixtures_present() {
        return;
    }
    let s = shared();
    let w = World::new("");
    let out = w.berth(&["sbom", s.minbase.to_str().unwrap(), "-f", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("as a root filesystem"), "{}", text(&out.stderr));
    let rootfs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(debs(&rootfs).len() > 80, "a minbase has about 90 debs");

    let out = w.berth(&["sbom", s.archive.to_str().unwrap(), "-f", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("as a docker-archive"), "{}", text(&out.stderr));
    assert_eq!(debs(&serde_json::from_slice(&out.stdout).unwrap()), debs(&rootfs));

    let image = engine_image();
    let out = w.berth(&["sbom", image, "-f", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("as an image of the container engine"), "{}", text(&out.stderr));
    let from_engine: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(debs(&from_engine), debs(&rootfs));
    assert!(from_engine["target"]["image_id"].as_str().unwrap().starts_with("sha256:"));

    // Standard formats, to a file.
    let cdx = w.home.path().join("bom.cdx.json");
    let out = w.berth(&["sbom", s.minbase.to_str().unwrap(), "--format", "cyclonedx", "-o", cdx.to_str().unwrap()]);
    assert!(out.status.success() && out.stdout.is_empty(), "{}", text(&out.stderr));
    let cdx: Value = serde_json::from_slice(&std::fs::read(cdx).unwrap()).unwrap();
    assert_eq!((cdx["bomFormat"].as_str(), cdx["specVersion"].as_str()), (Some("CycloneDX"), Some("1.5")));
    assert!(
        cdx["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["purl"].as_str().is_some_and(|p| p.starts_with("pkg:deb/debian/bash@")))
    );
    let spdx = w.json(&["sbom", s.minbase.to_str().unwrap(), "--format", "spdx"]);
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    let table = w.berth(&["sbom", s.minbase.to_str().unwrap()]);
    assert!(text(&table.stdout).contains("bash"), "{}", text(&table.stdout));
}

#[test]
fn scan_matches_debian_records_by_source_version_and_gates_ci() {
    if !fixtures_present() {
        return;
    }
    let s = shared();
    let w = World::new("");
    let rootfs = s.minbase.to_str().unwrap();
    let report = w.json(&["scan", rootfs, "-f", "json"]);
    assert_eq!(ids(&report), ["BERTH-CLI-0001", "BERTH-CLI-0003"], "0002 was fixed below the installed version");
    let f1 = report["findings"].as_array().unwrap().iter().find(|f| f["id"] == "BERTH-CLI-0001").unwrap();
    assert_eq!((f1["severity"].as_str(), f1["fixed_version"].as_str()), (Some("critical"), Some("99:1.0-1")));
    assert_eq!(f1["package"], "bash");
    let f3 = report["findings"].as_array().unwrap().iter().find(|f| f["id"] == "BERTH-CLI-0003").unwrap();
    assert_eq!(f3["severity"], "low");
    assert!(f3["fixed_version"].is_null());

    let fixed_only = w.json(&["scan", rootfs, "-f", "json", "--ignore-unfixed"]);
    assert_eq!(ids(&fixed_only), ["BERTH-CLI-0001"]);

    // --fail-on: exit code 3 at or above the threshold, 0 below it; errors stay 1.
    let out = w.berth(&["scan", rootfs, "--fail-on", "critical"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("BERTH-CLI-0001"), "the table names the finding");
    let out = w.berth(&["scan", rootfs, "--fail-on", "medium", "--ignore-unfixed"]);
    assert_eq!(out.status.code(), Some(3));
    let missing = w.home.path().join("none.sqlite");
    let out = w.berth(&["scan", rootfs, "--db", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("hint:") && text(&out.stderr).contains("berth db update"),
        "{}",
        text(&out.stderr)
    );
    let out = w.berth(&["scan", rootfs, "--fail-on", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("severities:"), "{}", text(&out.stderr));

    // VEX in: an OpenVEX statement takes the critical finding out (listed with its statement, so
    // --fail-on critical passes); a CycloneDX `in_triage` only annotates the other.
    let open = w.home.path().join("triage.openvex.json");
    std::fs::write(
        &open,
        serde_json::to_vec(&serde_json::json!({
            "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://lab.example/vex/1",
            "statements": [{
                "vulnerability": {"name": "BERTH-CLI-0001"},
                "products": [{"@id": "pkg:oci/minbase", "subcomponents": [{"@id": "pkg:deb/debian/bash"}]}],
                "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path",
                "impact_statement": "the analysis never starts bash"
            }]
        }))
        .unwrap(),
    )
    .unwrap();
    let cdx_vex = w.home.path().join("triage.cdx.json");
    std::fs::write(
        &cdx_vex,
        serde_json::to_vec(&serde_json::json!({
            "bomFormat": "CycloneDX", "specVersion": "1.5",
            "vulnerabilities": [{"id": "BERTH-CLI-0003", "analysis": {"state": "in_triage", "detail": "looking"}}]
        }))
        .unwrap(),
    )
    .unwrap();
    let (o, c) = (open.to_str().unwrap(), cdx_vex.to_str().unwrap());
    let triaged = w.json(&["scan", rootfs, "-f", "json", "--vex", o, "--vex", c]);
    assert_eq!(ids(&triaged), ["BERTH-CLI-0003"]);
    let suppressed = &triaged["suppressed"][0];
    assert_eq!(suppressed["finding"]["id"], "BERTH-CLI-0001");
    assert_eq!(suppressed["vex"]["justification"], "vulnerable_code_not_in_execute_path");
    assert!(suppressed["vex"]["document"].as_str().unwrap().contains("https://lab.example/vex/1"));
    assert_eq!(triaged["findings"][0]["vex"]["status"], "under_investigation");
    let out = w.berth(&["scan", rootfs, "--fail-on", "critical", "--vex", o]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("suppressed by VEX: BERTH-CLI-0001 in bash"), "{}", text(&out.stderr));
    std::fs::write(&cdx_vex, b"{\"statements\": []}").unwrap();
    let out = w.berth(&["scan", rootfs, "--vex", c]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("triage.cdx.json") && text(&out.stderr).contains("hint:"),
        "{}",
        text(&out.stderr)
    );

    // SARIF and CycloneDX with vulnerabilities.
    let sarif = w.json(&["scan", rootfs, "-f", "sarif"]);
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["runs"][0]["results"].as_array().unwrap().iter().any(|r| r["ruleId"] == "BERTH-CLI-0001"));
    let cdx = w.json(&["scan", rootfs, "-f", "cyclonedx"]);
    assert!(cdx["vulnerabilities"].as_array().unwrap().iter().any(|v| v["id"] == "BERTH-CLI-0001"));
}

#[test]
fn scan_of_the_engine_image_and_the_archive_equal_the_rootfs_and_compare_says_so() {
    if !fixtures_present() {
        return;
    }
    let s = shared();
    let w = World::new("");
    let results = w.home.path();
    let mut paths = Vec::new();
    for (name, target) in
        [("rootfs", s.minbase.to_str().unwrap()), ("archive", s.archive.to_str().unwrap()), ("image", engine_image())]
    {
        let p = results.join(format!("{name}.json"));
        let out = w.berth(&["scan", target, "-f", "json", "-o", p.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(ids(&report), ["BERTH-CLI-0001", "BERTH-CLI-0003"], "{name}");
        paths.push(p);
    }
    let same = w.json(&["scan", "compare", paths[0].to_str().unwrap(), paths[2].to_str().unwrap(), "--json"]);
    assert_eq!(same["jaccard"], 1.0, "{same}");
    let fixed = results.join("fixed.json");
    let out = w.berth(&[
        "scan",
        s.minbase.to_str().unwrap(),
        "-f",
        "json",
        "--ignore-unfixed",
        "-o",
        fixed.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let diff = w.json(&["scan", "compare", paths[0].to_str().unwrap(), fixed.to_str().unwrap(), "--json"]);
    assert_eq!(diff["common"], 1, "{diff}");
    assert!(diff["jaccard"].as_f64().unwrap() < 1.0);
    assert_eq!(diff["differences"][0]["item"]["id"], "BERTH-CLI-0003", "{diff}");
    let printed = w.berth(&["scan", "compare", paths[0].to_str().unwrap(), fixed.to_str().unwrap()]);
    assert!(text(&printed.stdout).contains("Jaccard"), "{}", text(&printed.stdout));
    let bad = w.berth(&["scan", "compare", paths[0].to_str().unwrap(), "/nonexistent.json"]);
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn scan_of_the_analysis_rootfs_reports_the_real_pypa_advisories_of_its_pinned_packages() {
    if !fixtures_present() {
        return;
    }
    let s = shared();
    let w = World::new("");
    let report = w.json(&["scan", s.analysis.to_str().unwrap(), "-f", "json"]);
    let findings = report["findings"].as_array().unwrap();
    for pkg in ["pillow", "jinja2", "urllib3"] {
        let hits: Vec<&Value> = findings
            .iter()
            .filter(|f| f["kind"] == "python" && f["package"].as_str().unwrap().eq_ignore_ascii_case(pkg))
            .collect();
        assert!(!hits.is_empty(), "no PyPA finding for {pkg}");
        assert!(hits.iter().all(|f| f["fixed_version"].is_string() || f["status"].is_string()));
    }
    println!("analysis rootfs counts: {}", report["counts"]);
}

/// A descriptor running `sh -c SCRIPT` in `image`.
fn tool(dir: &Path, image: &str) -> PathBuf {
    let d = json!({
        "name": "scanned", "tool-version": "1.0", "description": "runs in the scanned image", "schema-version": "0.5",
        "command-line": "sh -c [SCRIPT]",
        "container-image": {"type": "docker", "image": image},
        "inputs": [{"id": "script", "name": "Script", "type": "String", "value-key": "[SCRIPT]"}],
    });
    let p = dir.join("tool.json");
    std::fs::write(&p, d.to_string()).unwrap();
    p
}

fn containers_of(image: &str) -> usize {
    let out = Command::new("docker")
        .env("DOCKER_HOST", berth_testkit::docker_host())
        .args(["ps", "-aq", "--filter", &format!("ancestor={image}")])
        .output()
        .unwrap();
    text(&out.stdout).lines().count()
}

#[test]
fn berth_run_applies_the_scan_policy_before_starting_and_records_the_decision() {
    if !fixtures_present() {
        return;
    }
    let image = engine_image();
    let inv = r#"{"script": "echo ran"}"#;

    // Off by default: no scan, no decision in the record.
    let w = World::new("");
    let d = tool(w.home.path(), image);
    let out = w.berth(&["run", d.to_str().unwrap(), "-i", inv, "-o", "out", "--pull", "never"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs = w.json(&["runs", "--json"]);
    let rec = w.json(&["show", runs[0]["id"].as_str().unwrap(), "--json"]);
    assert!(rec["berth"]["scan-policy"].is_null(), "{}", rec["berth"]);

    // enforce: the critical finding with a fix refuses the image; no container is created.
    let w = World::new("run_policy = \"enforce\"\n");
    let d = tool(w.home.path(), image);
    let before = containers_of(image);
    let out = w.berth(&["run", d.to_str().unwrap(), "-i", inv, "-o", "out", "--pull", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("refused by the scan policy") && err.contains("BERTH-CLI-0001"), "{err}");
    assert!(!text(&out.stdout).contains("ran"));
    assert_eq!(containers_of(image), before, "nothing was created");
    let runs = w.json(&["runs", "--json"]);
    assert_eq!(runs[0]["status"], "failed");
    let rec = w.json(&["show", runs[0]["id"].as_str().unwrap(), "--json"]);
    let policy = &rec["berth"]["scan-policy"];
    assert_eq!(policy["verdict"], "refuse", "{policy}");
    assert_eq!(policy["mode"], "enforce");
    assert_eq!(policy["counts"]["critical"], 1, "{policy}");
    assert!(policy["image"].as_str().unwrap().starts_with("sha256:"));
    assert!(policy["reasons"][0].as_str().unwrap().contains("BERTH-CLI-0001"), "{policy}");

    // warn: the same finding only warns; the run goes ahead with the decision recorded.
    let w = World::new("run_policy = \"warn\"\n");
    let d = tool(w.home.path(), image);
    let out = w.berth(&["run", d.to_str().unwrap(), "-i", inv, "-o", "out", "--pull", "never"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ran\n");
    assert!(text(&out.stderr).contains("scan policy (warn): warn"), "{}", text(&out.stderr));
    let runs = w.json(&["runs", "--json"]);
    let rec = w.json(&["show", runs[0]["id"].as_str().unwrap(), "--json"]);
    assert_eq!(rec["berth"]["scan-policy"]["verdict"], "warn");

    // enforce with the finding accepted by a person: allowed.
    let w = World::new("run_policy = \"enforce\"\naccept = [\"CVE-2099-1001\"]\n");
    let d = tool(w.home.path(), image);
    let out = w.berth(&["run", d.to_str().unwrap(), "-i", inv, "-o", "out", "--pull", "never"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs = w.json(&["runs", "--json"]);
    let rec = w.json(&["show", runs[0]["id"].as_str().unwrap(), "--json"]);
    assert_eq!(rec["berth"]["scan-policy"]["verdict"], "allow");

    // A misspelled mode is an error with a hint, before anything runs.
    let w = World::new("run_policy = \"enforcing\"\n");
    let d = tool(w.home.path(), image);
    let out = w.berth(&["run", d.to_str().unwrap(), "-i", inv, "-o", "out", "--pull", "never"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`off`, `warn` or `enforce`"), "{}", text(&out.stderr));
}

#[test]
fn unknown_targets_and_formats_are_errors_with_hints() {
    if !fixtures_present() {
        return;
    }
    let w = World::new("");
    let out = w.berth(&["sbom", "no-such-image-berth:latest"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("an image of the container engine") && err.contains("hint:"), "{err}");
    let out = w.berth(&["sbom", shared().minbase.to_str().unwrap(), "-f", "xml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown format"), "{}", text(&out.stderr));
    let out = w.berth(&["scan"]);
    assert_eq!(out.status.code(), Some(2), "usage errors are clap's 2");
}

/// A root filesystem whose package database and file names hold terminal escape sequences and
/// line breaks (anyone can build such an image): the tables show them as text, on their line;
/// JSON keeps the exact strings.
#[test]
fn tables_show_an_images_escape_sequences_as_text_and_json_keeps_them() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n").unwrap();
    std::fs::create_dir_all(r.join("var/lib/dpkg/info")).unwrap();
    let version = "1.0\u{1b}]0;pwned\u{7}\u{1b}[2J";
    std::fs::write(
        r.join("var/lib/dpkg/status"),
        format!(
            "Package: evil\nStatus: install ok installed\nVersion: {version}\nArchitecture: amd64\n\
             Description: x\n\n"
        ),
    )
    .unwrap();
    std::fs::write(r.join("var/lib/dpkg/info/evil.list"), "").unwrap();
    // A file name with an escape and a forged line: an npm manifest that does not parse, so
    // its path is named in a warning.
    let odd = "x\u{1b}[31m\nwarning: all clear";
    std::fs::create_dir_all(r.join("opt/node_modules").join(odd)).unwrap();
    std::fs::write(r.join("opt/node_modules").join(odd).join("package.json"), "not json").unwrap();
    let dir = r.to_str().unwrap();

    let world = World::new("");
    for args in [["sbom", dir, "--format", "table"], ["scan", dir, "--format", "table"]] {
        let out = world.berth(&args);
        assert!(out.status.success(), "berth {args:?} failed: {}", text(&out.stderr));
        for shown in [text(&out.stdout), text(&out.stderr)] {
            assert!(
                !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
                "berth {args:?} printed a control character:\n{shown:?}"
            );
            assert!(!shown.lines().any(|l| l.starts_with("warning: all clear")), "a forged line: {shown}");
        }
        let both = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(both.contains("x\\u{1b}[31m\\nwarning: all clear"), "the file name is shown escaped:\n{both}");
        if args[0] == "sbom" {
            assert!(both.contains("1.0\\u{1b}]0;pwned\\u{7}\\u{1b}[2J"), "the version is shown escaped:\n{both}");
        }
    }
    let inventory = world.json(&["sbom", dir, "-f", "json"]);
    let evil = inventory["packages"].as_array().unwrap().iter().find(|p| p["name"] == "evil").expect("evil listed");
    assert_eq!(evil["version"], version, "JSON carries the exact version");
}
