//! `berth harden update` and `berth run --security-updates` on the private Docker daemon and
//! Podman service: a real Debian root filesystem (debootstrap) with one outdated package, an apt
//! repository on loopback holding its update, and an advisory database that knows the fix.
//!
//! Needs root (debootstrap, the engines) or engines in `DOCKER_HOST` / `CONTAINER_HOST`:
//! without them these tests fail with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A `.deb` of `berth-demo` at `version`, which installs `/usr/share/berth-demo/version`.
fn demo_deb(dir: &Path, version: &str) -> PathBuf {
    let root = dir.join(format!("berth-demo-{version}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/berth-demo")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: berth-demo\nVersion: {version}\nArchitecture: all\nMaintainer: berth <berth@example.invalid>\n\
             Description: a package berth's hardening tests update\n"
        ),
    )
    .unwrap();
    std::fs::write(root.join("usr/share/berth-demo/version"), format!("{version}\n")).unwrap();
    // Every version's file has the same size and modification time, as packages built in the
    // same second have: engines that diff containers by size and time (Podman's vfs driver)
    // then miss the upgraded file unless berth refreshes it (harden's REFRESH step). Before that
    // step this made the Podman test fail whenever both packages were built within one second.
    let touched = Command::new("touch")
        .args(["-d", "2026-01-01T00:00:00Z"])
        .arg(root.join("usr/share/berth-demo/version"))
        .status()
        .unwrap();
    assert!(touched.success());
    let deb = dir.join(format!("berth-demo_{version}_all.deb"));
    let out = Command::new("dpkg-deb").args(["--root-owner-group", "--build"]).arg(&root).arg(&deb).output().unwrap();
    assert!(out.status.success(), "dpkg-deb: {}", text(&out.stderr));
    deb
}

/// A flat apt repository (`deb [trusted=yes] URL ./`) serving `deb`, on a loopback file server.
fn apt_repo(deb: &Path) -> berth_testkit::FileServer {
    let bytes = std::fs::read(deb).unwrap();
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    let packages = format!(
        "Package: berth-demo\nVersion: 1.1\nArchitecture: all\nMaintainer: berth <berth@example.invalid>\n\
         Filename: ./{name}\nSize: {}\nSHA256: {}\nDescription: a package berth's hardening tests update\n\n",
        bytes.len(),
        hex::encode(Sha256::digest(&bytes))
    );
    let release = format!(
        "Origin: berth-test\nLabel: berth-test\nSuite: test\nCodename: test\nDate: Thu, 03 Dec 2026 00:00:00 UTC\n\
         Architectures: amd64 all\nSHA256:\n {} {} Packages\n",
        hex::encode(Sha256::digest(packages.as_bytes())),
        packages.len()
    );
    let server = berth_testkit::FileServer::start();
    // apt asks a flat repository (`./`) for `/./NAME`; the file server matches paths exactly.
    for prefix in ["/", "/./"] {
        server.add(&format!("{prefix}{name}"), bytes.clone());
        server.add(&format!("{prefix}Packages"), packages.clone().into_bytes());
        server.add(&format!("{prefix}Release"), release.clone().into_bytes());
    }
    server
}

/// The engine under test and what the tests share.
struct World {
    dir: tempfile::TempDir,
    host: String,
    client: &'static str,
    repo: berth_testkit::FileServer,
}

impl World {
    fn new(host: String, client: &'static str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let new = demo_deb(dir.path(), "1.1");
        World { repo: apt_repo(&new), dir, host, client }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn source_line(&self) -> String {
        format!("deb [trusted=yes] {}/ ./\n", self.repo.url)
    }

    fn berth(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .current_dir(self.dir.path())
            .env("BERTH_HOME", self.path("home"))
            .env("BERTH_CONFIG", self.path("no-config.toml"))
            .env("BERTH_ADVISORY_DB", self.path("advisories.sqlite"))
            .env("DOCKER_HOST", &self.host)
            .env_remove("BERTH_ENGINE")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        berth_testkit::stdout_of_success(args, &self.berth(args))
    }

    /// The engine's own client, for set-up and checks berth does not do.
    fn engine(&self, args: &[&str]) -> String {
        let mut c = Command::new(self.client);
        if self.client == "podman" {
            c.args(["--remote", "--url", &self.host]);
        } else {
            c.env("DOCKER_HOST", &self.host);
        }
        let out = c.args(args).output().unwrap();
        assert!(out.status.success(), "{} {args:?}: {}", self.client, text(&out.stderr));
        text(&out.stdout)
    }

    /// A debootstrap'd Debian with `berth-demo 1.0` installed and `sources` as its only apt
    /// source, imported as `reference` with an entrypoint-less configuration of its own.
    fn image(&self, reference: &str, sources: &str) {
        let base = berth_testkit::run_script("scripts/test-rootfs.sh", &["minbase"], &[])
            .unwrap_or_else(|e| panic!("this test needs a Debian root filesystem (debootstrap): {e}"));
        let root = self.path(&format!("rootfs-{}", reference.replace(['/', ':'], "-")));
        let cp = Command::new("cp").arg("-a").arg(base.trim()).arg(&root).output().unwrap();
        assert!(cp.status.success(), "cp: {}", text(&cp.stderr));
        let old = demo_deb(self.dir.path(), "1.0");
        let out = Command::new("dpkg").arg(format!("--root={}", root.display())).arg("-i").arg(&old).output().unwrap();
        assert!(out.status.success(), "dpkg --root -i: {}{}", text(&out.stdout), text(&out.stderr));
        std::fs::write(root.join("etc/apt/sources.list"), sources).unwrap();
        let tar = self.path(&format!("{}.tar", reference.replace(['/', ':'], "-")));
        let out = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").output().unwrap();
        assert!(out.status.success(), "tar: {}", text(&out.stderr));
        self.engine(&[
            "import",
            "--change",
            "CMD [\"/bin/bash\"]",
            "--change",
            "ENV TOOL_HOME=/opt/tool",
            "--change",
            "WORKDIR /work",
            &tar.to_string_lossy(),
            reference,
        ]);
    }

    /// An advisory database in which `berth-demo` before 1.1 has a high-severity advisory.
    fn advisories(&self) {
        let records = json!([{
            "id": "BERTH-HARDEN-0001", "modified": "2026-01-01T00:00:00Z",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "berth-demo"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1"}]}]}]
        }]);
        let osv = self.path("osv.json");
        std::fs::write(&osv, serde_json::to_vec(&records).unwrap()).unwrap();
        self.ok(&["db", "update", "--source", &osv.to_string_lossy()]);
    }

    fn inspect(&self, reference: &str) -> Value {
        let v: Value = serde_json::from_str(&self.engine(&["image", "inspect", reference])).unwrap();
        v[0]["Config"].clone()
    }

    /// What `cat FILE` prints in a container of `reference`.
    fn cat(&self, reference: &str, file: &str) -> String {
        self.engine(&["run", "--rm", "--network", "none", reference, "cat", file])
    }
}

fn updates_an_image_keeps_its_configuration_and_reports_the_fix(w: World) {
    let image = format!("berth-test/outdated-{}:1", w.client);
    // The image's own source is unreachable here: `--source` stands in for it during the update.
    let own = "deb http://127.0.0.1:9/unreachable bookworm main\n";
    w.image(&image, own);
    w.advisories();
    let source = w.path("repo.list");
    std::fs::write(&source, w.source_line()).unwrap();

    let out = w.ok(&["harden", "update", &image, "--source", &source.to_string_lossy(), "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let reference = v["update"]["reference"].as_str().unwrap().to_owned();
    assert!(reference.starts_with("berth-updated/outdated-"), "{v}");
    assert_eq!(v["update"]["manager"], "apt");
    assert_eq!(v["update"]["reused"], false);
    let upgraded = v["changes"]["upgraded"].as_array().unwrap();
    assert!(upgraded.contains(&json!(["berth-demo", "1.0", "1.1"])), "{v}");
    assert_eq!(v["changes"]["added"], json!([]), "{v}");
    assert_eq!(v["changes"]["removed"], json!([]), "{v}");
    assert_eq!(v["before"]["findings"]["high"], 1, "{v}");
    assert_eq!(v["after"]["findings"]["high"], 0, "{v}");
    assert_eq!(v["before"]["packages"], v["after"]["packages"]);

    // The new image runs as the original did, says what it came from, and carries the update,
    // but neither the extra source nor apt's lists.
    let (before, after) = (w.inspect(&image), w.inspect(&reference));
    // (An empty list and null both mean "none".)
    let none_if_empty = |v: &Value| if v == &json!([]) { Value::Null } else { v.clone() };
    // Podman's commits keep the variables it sets in every container (docs/hardening.md).
    let mut after_env = after["Env"].as_array().cloned().unwrap_or_default();
    if w.client == "podman" {
        after_env.retain(|e| {
            let e = e.as_str().unwrap();
            !(e == "container=podman" || e == "TERM=xterm" || e.starts_with("PATH="))
        });
    }
    assert_eq!(before["Env"], json!(after_env), "{before} → {after}");
    for key in ["Entrypoint", "Cmd", "WorkingDir", "User"] {
        assert_eq!(none_if_empty(&before[key]), none_if_empty(&after[key]), "{key}: {before} → {after}");
    }
    assert_eq!(after["Cmd"], json!(["/bin/bash"]));
    let labels = &after["Labels"];
    assert_eq!(labels["berth.harden.kind"], "update");
    assert_eq!(labels["berth.harden.base-reference"], image.as_str());
    assert!(labels["berth.harden.base-id"].as_str().unwrap().starts_with("sha256:"), "{labels}");
    assert_eq!(labels["berth.harden.manager"], "apt");
    assert_eq!(w.cat(&reference, "/usr/share/berth-demo/version"), "1.1\n");
    assert_eq!(w.cat(&image, "/usr/share/berth-demo/version"), "1.0\n");
    let listing = w.engine(&[
        "run",
        "--rm",
        "--network",
        "none",
        &reference,
        "sh",
        "-c",
        "ls /etc/apt/sources.list.d/ /var/lib/apt/lists/ /tmp/ | grep -v '^/\\|^$\\|^partial$\\|^lock$' || true",
    ]);
    assert_eq!(listing.trim(), "", "left in the image: {listing}");
    assert_eq!(w.cat(&reference, "/etc/apt/sources.list"), own, "the image's own sources are kept");

    // The same base on the same day: reused, nothing runs.
    let again = w.ok(&["harden", "update", &image, "--source", &source.to_string_lossy(), "--json", "--no-compare"]);
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["update"]["reused"], true, "{again}");
    assert_eq!(again["update"]["image_id"], v["update"]["image_id"]);

    // Without a reachable source the package manager's failure is shown with a hint.
    let broken = w.path("broken.list");
    std::fs::write(&broken, "deb [trusted=yes] http://127.0.0.1:9/ ./\n").unwrap();
    let out =
        w.berth(&["harden", "update", &image, "--source", &broken.to_string_lossy(), "--force", "--tag", "x/y:z"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("`apt` failed"), "{err}");
    assert!(err.contains("127.0.0.1:9"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn docker_updates_an_image_keeps_its_configuration_and_reports_the_fix() {
    updates_an_image_keeps_its_configuration_and_reports_the_fix(World::new(berth_testkit::docker_host(), "docker"));
}

#[test]
fn podman_updates_an_image_keeps_its_configuration_and_reports_the_fix() {
    updates_an_image_keeps_its_configuration_and_reports_the_fix(World::new(berth_testkit::podman_host(), "podman"));
}

#[test]
fn images_without_a_package_manager_are_refused_with_a_hint() {
    let w = World::new(berth_testkit::docker_host(), "docker");
    let out = w.berth(&["harden", "update", berth_testkit::BUSYBOX, "--no-compare"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("has no package manager berth can update with"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let out = w.berth(&["harden", "update", "berth-test/no-such-image:1", "--no-compare"]);
    assert!(text(&out.stderr).contains("berth image pull"), "{}", text(&out.stderr));
}

#[test]
fn runs_with_security_updates_use_an_updated_image_made_once_a_day_and_record_the_base() {
    let w = World::new(berth_testkit::docker_host(), "docker");
    let image = "berth-test/outdated-run:1";
    // This image's own apt source is the loopback repository holding the update.
    w.image(image, &w.source_line());
    let descriptor = json!({
        "name": "demo-version", "tool-version": "1", "schema-version": "0.5",
        "description": "Reports berth-demo's version.",
        "command-line": "cat /usr/share/berth-demo/version > [OUT]",
        "container-image": {"type": "docker", "image": image},
        "inputs": [{"id": "out", "name": "Output", "type": "String", "value-key": "[OUT]", "default-value": "version.txt", "optional": true}],
        "output-files": [{"id": "version", "name": "Version", "path-template": "[OUT]"}]
    });
    let file = w.path("demo.json");
    std::fs::write(&file, serde_json::to_vec(&descriptor).unwrap()).unwrap();
    let file = file.to_string_lossy().into_owned();

    let plain = w.path("plain");
    w.ok(&["run", &file, "-i", "{}", "-o", &plain.to_string_lossy()]);
    assert_eq!(std::fs::read_to_string(plain.join("version.txt")).unwrap(), "1.0\n");

    let mut ids = Vec::new();
    for (n, expect) in [(1, "updated now"), (2, "updated earlier today")] {
        let out_dir = w.path(&format!("updated-{n}"));
        let out =
            w.berth(&["run", &file, "-i", "{}", "-o", &out_dir.to_string_lossy(), "--security-updates", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains(expect), "{}", text(&out.stderr));
        assert_eq!(std::fs::read_to_string(out_dir.join("version.txt")).unwrap(), "1.1\n");
        let outcome: Value = serde_json::from_slice(&out.stdout).unwrap();
        let run_id = outcome["run_id"].as_str().unwrap().to_owned();
        let record: Value = serde_json::from_str(&w.ok(&["show", &run_id, "--json"])).unwrap();
        let text = record.to_string();
        assert!(text.contains("berth.security-updates.base-id"), "{record}");
        assert!(text.contains("\"berth.security-updates.base-reference\":\"berth-test/outdated-run:1\""), "{record}");
        assert!(text.contains("berth-updated/outdated-run:"), "{record}");
        let id = record["berth"]["image"]["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("sha256:"), "{record}");
        assert!(record["berth"]["image"]["ref"].as_str().unwrap().starts_with("berth-updated/outdated-run:"));
        ids.push(id);
    }
    assert_eq!(ids[0], ids[1], "the second run reuses the first one's updated image");
}

/// The bench's numpy-stats analysis in the world's directory, its descriptor pointing at
/// `image`: returns the descriptor's path (the script and data are beside it).
fn numpy_stats(w: &World, image: &str) -> PathBuf {
    let bench = berth_testkit::repo_root().join("bench/harden");
    let descriptor = w.path("numpy-stats.json");
    let content =
        std::fs::read_to_string(bench.join("numpy-stats.json")).unwrap().replace("berth-eval/analysis:1", image);
    std::fs::write(&descriptor, content).unwrap();
    for f in ["numpy_stats.py", "data.csv"] {
        std::fs::copy(bench.join(f), w.path(f)).unwrap();
    }
    descriptor
}

#[test]
fn minify_keeps_what_the_analysis_uses_passes_its_tests_and_refuses_a_changed_output() {
    let w = World::new(berth_testkit::docker_host(), "docker");
    let image = berth_testkit::analysis_image(&w.host);
    let tracer = berth_testkit::tracer();
    let descriptor = numpy_stats(&w, image);
    let d = descriptor.to_string_lossy().into_owned();
    let out = w.ok(&[
        "harden",
        "minify",
        image,
        "-d",
        &d,
        "-i",
        r#"{"script": "numpy_stats.py", "data": "data.csv"}"#,
        "--tracer",
        &tracer,
        "--work-dir",
        &w.path("minify").to_string_lossy(),
        "--tag",
        "berth-test/analysis-min:1",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let report = &v["minify"]["report"];
    let kept: Vec<&str> = report["kept"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    let removed: Vec<&str> =
        report["removed_packages"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    for needed in ["python3-numpy", "python3.11-minimal", "libc6", "dpkg", "apt", "bash"] {
        assert!(kept.contains(&needed), "{needed} must stay: {report}");
    }
    for unused in ["build-essential", "gcc-12", "cpp-12", "make", "dcm2niix", "python3-scipy", "linux-libc-dev"] {
        assert!(removed.contains(&unused), "{unused} is never used: {report}");
    }
    // The outputs matched, and the image is much smaller.
    let checks = v["minify"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0]["outputs"][0][0], "stats");
    let (before, after) = (v["before"]["size"].as_i64().unwrap(), v["after"]["size"].as_i64().unwrap());
    assert!(after * 2 < before, "{before} → {after}");
    assert!(v["after"]["packages"].as_u64() < v["before"]["packages"].as_u64());

    // The package database says exactly what is there: dpkg lists the kept packages.
    let listed = w.engine(&[
        "run",
        "--rm",
        "--network",
        "none",
        "berth-test/analysis-min:1",
        "dpkg-query",
        "-W",
        "-f",
        "${Package}\n",
    ]);
    let mut listed: Vec<&str> = listed.lines().map(|l| l.split(':').next().unwrap()).collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> =
        report["packages_after"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected);

    // The tool's own tests pass on the minified image.
    let tested = w.berth(&["test", &d, "--image", "berth-test/analysis-min:1"]);
    assert!(tested.status.success(), "{}{}", text(&tested.stdout), text(&tested.stderr));

    // A tool whose output lists a directory depends on packages it never opens a file of:
    // the outputs differ, the minification is refused and no image is left behind.
    let lister = json!({
        "name": "list-bin", "tool-version": "1", "schema-version": "0.5", "description": "Lists /usr/bin.",
        "command-line": "ls /usr/bin > [OUT]",
        "container-image": {"type": "docker", "image": image},
        "inputs": [{"id": "out", "name": "Output", "type": "String", "value-key": "[OUT]", "default-value": "bin.txt", "optional": true}],
        "output-files": [{"id": "listing", "name": "Listing", "path-template": "[OUT]"}]
    });
    let lister_file = w.path("ls.json");
    std::fs::write(&lister_file, serde_json::to_vec(&lister).unwrap()).unwrap();
    let out = w.berth(&[
        "harden",
        "minify",
        image,
        "-d",
        &lister_file.to_string_lossy(),
        "-i",
        "{}",
        "--tracer",
        &tracer,
        "--work-dir",
        &w.path("minify-ls").to_string_lossy(),
        "--tag",
        "berth-test/analysis-ls:1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("output `listing` differs on the minified image"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let left = Command::new("docker")
        .env("DOCKER_HOST", &w.host)
        .args(["image", "inspect", "berth-test/analysis-ls:1"])
        .output()
        .unwrap();
    assert!(!left.status.success(), "the refused image must be removed");
}

/// `--minimal` keeps only what the traced runs use, so every tool of the image that must keep
/// working is traced: `--with DESCRIPTOR INVOCATION` adds another tool's run (here `cp`, which
/// the analysis never runs). The labels say the image is minimal and cannot be repaired.
#[test]
fn minimal_minify_traces_every_tool_given_and_says_it_cannot_be_repaired() {
    let w = World::new(berth_testkit::docker_host(), "docker");
    let image = berth_testkit::analysis_image(&w.host);
    let tracer = berth_testkit::tracer();
    let descriptor = numpy_stats(&w, image);
    let copier = json!({
        "name": "copy", "tool-version": "1", "schema-version": "0.5", "description": "Copies a file.",
        "command-line": "cp [IN] [OUT]",
        "container-image": {"type": "docker", "image": image},
        "inputs": [
            {"id": "in", "name": "Input", "type": "File", "value-key": "[IN]"},
            {"id": "out", "name": "Output", "type": "String", "value-key": "[OUT]", "default-value": "copy.csv", "optional": true}
        ],
        "output-files": [{"id": "copy", "name": "Copy", "path-template": "[OUT]"}]
    });
    let copier_file = w.path("copy.json");
    std::fs::write(&copier_file, serde_json::to_vec(&copier).unwrap()).unwrap();
    let out = w.ok(&[
        "harden",
        "minify",
        image,
        "-d",
        &descriptor.to_string_lossy(),
        "-i",
        r#"{"script": "numpy_stats.py", "data": "data.csv"}"#,
        "--with",
        &copier_file.to_string_lossy(),
        r#"{"in": "data.csv"}"#,
        "--minimal",
        "--tracer",
        &tracer,
        "--work-dir",
        &w.path("minify-minimal").to_string_lossy(),
        "--tag",
        "berth-test/analysis-minimal:1",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let report = &v["minify"]["report"];
    let after: Vec<&str> = report["packages_after"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    // cp is coreutils': kept because the copy tool was traced; apt goes in the minimal mode.
    for needed in ["coreutils", "python3-numpy", "libc6"] {
        assert!(after.contains(&needed), "{needed} must stay: {report}");
    }
    for gone in ["apt", "gcc-12", "dcm2niix"] {
        assert!(!after.contains(&gone), "{gone} must go in the minimal mode: {report}");
    }
    // Both tools ran again on the minified image with the same outputs.
    let checks = v["minify"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert!(checks[1]["invocation"].as_str().unwrap().contains("(copy)"), "{checks:?}");
    let labels = &w.inspect("berth-test/analysis-minimal:1")["Labels"];
    assert_eq!(labels["berth.harden.minify-mode"], "minimal", "{labels}");
    assert_eq!(labels["berth.harden.repairable"], "no", "{labels}");
}
