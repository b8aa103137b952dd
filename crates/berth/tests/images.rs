//! `berth image ...` and `berth login` end to end against real components: the private Docker
//! daemon (and Podman service), real registries on loopback (Debian's `docker-registry`, one
//! open and one with htpasswd authentication, started per test and stopped when it ends), and
//! a real HTTP server on loopback for archive downloads.
//!
//! Needs root (or running engines, `DOCKER_HOST` / `CONTAINER_HOST`) and `docker-registry`
//! (installed with apt-get when missing): without them these tests fail with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use berth_testkit::{BUSYBOX, FileServer, Registry};
use serde_json::Value;
use tempfile::TempDir;

/// One test's world: a berth home (store, credentials), a Docker config dir, the engine.
struct World {
    home: TempDir,
    docker_config: TempDir,
    host: String,
    client: &'static str,
}

impl World {
    fn docker() -> World {
        Self::new(berth_testkit::docker_host(), "docker")
    }

    fn podman() -> World {
        Self::new(berth_testkit::podman_host(), "podman")
    }

    fn new(host: String, client: &'static str) -> World {
        World { home: tempfile::tempdir().unwrap(), docker_config: tempfile::tempdir().unwrap(), host, client }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(args)
            .env("BERTH_HOME", self.home.path())
            .env("BERTH_CONFIG", self.home.path().join("no-config.toml"))
            .env("DOCKER_CONFIG", self.docker_config.path())
            .env("DOCKER_HOST", &self.host)
            .env_remove("BERTH_ENGINE")
            .env("NO_COLOR", "1");
        c
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// `berth ARGS` that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        berth_testkit::stdout_of_success(args, &self.berth(args))
    }

    /// `berth ARGS` that must fail with `code`; its stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.berth(args);
        assert_eq!(out.status.code(), Some(code), "berth {args:?}: {}\n{}", text(&out.stdout), text(&out.stderr));
        text(&out.stderr)
    }

    fn login(&self, registry: &str, user: &str, password: &str) -> Output {
        let mut child = self
            .cmd(&["login", registry, "-u", user, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), password.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// The engine's own client, for set-up berth does not do.
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

    fn check_json(&self, reference: &str) -> (i32, Value) {
        let out = self.berth(&["image", "check", reference, "--json"]);
        let code = out.status.code().unwrap();
        let v = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("check {reference}: {e}: {}{}", text(&out.stdout), text(&out.stderr)));
        (code, v)
    }

    fn ls(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.ok(&["image", "ls", "--json"])).unwrap().as_array().unwrap().clone()
    }

    /// A fresh image unlike any other: busybox plus a file holding `marker`.
    fn distinct_image(&self, tag: &str, marker: &str) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("marker"), marker).unwrap();
        let tarball = dir.path().join("layer.tar");
        let st =
            Command::new("tar").arg("-C").arg(dir.path()).args(["-cf"]).arg(&tarball).arg("marker").status().unwrap();
        assert!(st.success());
        self.engine(&["import", tarball.to_str().unwrap(), tag]);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A unique repository name per test, so tests sharing an engine do not meet.
fn repo(registry: &Registry, name: &str) -> String {
    format!("{}/{name}-{}", registry.address, std::process::id())
}

fn digest_of_push(stdout: &str) -> String {
    stdout.split_whitespace().find(|w| w.starts_with("sha256:")).expect("push prints the digest").to_owned()
}

#[test]
fn push_pull_and_check_current_stale_missing_locally_and_missing_tag() {
    let w = World::docker();
    let reg = Registry::start(None);
    let r = format!("{}:1", repo(&reg, "bb"));
    w.ok(&["image", "tag", BUSYBOX, &r]);
    let d1 = digest_of_push(&w.ok(&["image", "push", &r]));

    // Current: the local image carries the digest the registry has under the tag.
    let (code, v) = w.check_json(&r);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "current");
    assert_eq!(v["remote"]["digest"], d1.as_str());
    let human = w.ok(&["image", "check", &r]);
    assert!(human.starts_with("current: ") && human.contains(&d1), "{human}");

    // Missing locally: remove the tag, the registry still has it; pulling brings it back current.
    w.ok(&["image", "rm", &r]);
    let (code, v) = w.check_json(&r);
    assert_eq!((code, v["status"].as_str()), (4, Some("missing-locally")), "{v}");
    let pulled = w.ok(&["image", "pull", &r]);
    assert!(pulled.contains(&d1), "pull reports the digest: {pulled}");
    assert_eq!(w.check_json(&r).0, 0);
    let row = w.ls().into_iter().find(|row| row["reference"] == r.as_str()).expect("ls lists the pulled tag");
    assert!(row["repo_digest"].as_str().unwrap().ends_with(&d1), "{row}");

    // Stale: another image is pushed under the same tag; the local tag still points at the old one.
    let old_id = w.engine(&["image", "inspect", "--format", "{{.Id}}", &r]).trim().to_owned();
    w.distinct_image(&r, "second version");
    let d2 = digest_of_push(&w.ok(&["image", "push", &r]));
    assert_ne!(d1, d2);
    w.ok(&["image", "tag", &old_id, &r]);
    let (code, v) = w.check_json(&r);
    assert_eq!((code, v["status"].as_str()), (3, Some("stale")), "{v}");
    assert_eq!(v["remote"]["digest"], d2.as_str());
    assert_eq!(v["local_digests"][0].as_str().unwrap(), format!("{}@{d1}", r.trim_end_matches(":1")));
    let out = w.berth(&["image", "check", &r]);
    assert!(text(&out.stdout).starts_with("stale: "), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains(&format!("berth image pull {r}")), "{}", text(&out.stderr));

    // Missing tag: named with its registry and repository, for check and for pull.
    let missing = format!("{}:no-such-tag", repo(&reg, "bb"));
    let out = w.berth(&["image", "check", &missing]);
    assert_eq!(out.status.code(), Some(5));
    let said = text(&out.stdout);
    assert!(said.contains("no-such-tag") && said.contains(&reg.address), "{said}");
    let err = w.fails(&["image", "pull", &missing], 1);
    assert!(err.contains("no-such-tag") && err.contains("not found"), "{err}");
}

#[test]
fn authentication_login_ok_bad_credentials_and_none_each_say_so() {
    let w = World::docker();
    let reg = Registry::start(Some(("ana", "right-password")));
    let r = format!("{}:1", repo(&reg, "private"));
    w.ok(&["image", "tag", BUSYBOX, &r]);

    // No credentials at all.
    let err = w.fails(&["image", "check", &r], 1);
    assert!(err.contains(&format!("{} requires credentials", reg.address)), "{err}");
    assert!(err.contains(&format!("hint: run `berth login {}`", reg.address)), "{err}");
    let err = w.fails(&["image", "push", &r], 1);
    assert!(err.contains("requires credentials") && err.contains("berth login"), "{err}");

    // Bad credentials.
    let out = w.login(&reg.address, "ana", "wrong-password");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("login failed for {}", reg.address)) && err.contains("`ana`"), "{err}");
    assert!(err.contains(&format!("berth login {}", reg.address)), "{err}");
    assert!(!w.home.path().join("credentials.json").exists(), "refused credentials are not stored");

    // Login OK: stored privately, then used for push, check and pull.
    let out = w.login(&reg.address, "ana", "right-password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = w.home.path().join("credentials.json");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let d = digest_of_push(&w.ok(&["image", "push", &r]));
    let (code, v) = w.check_json(&r);
    assert_eq!((code, v["remote"]["digest"].as_str()), (0, Some(d.as_str())), "{v}");
    w.ok(&["image", "rm", &r]);
    w.ok(&["image", "pull", &r]);

    // Docker's config is read too: a fresh berth home, credentials only in DOCKER_CONFIG.
    let w2 = World::docker();
    let b64 = |s: &str| {
        let out = Command::new("base64").arg("-w0").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut out = out;
        std::io::Write::write_all(&mut out.stdin.take().unwrap(), s.as_bytes()).unwrap();
        text(&out.wait_with_output().unwrap().stdout)
    };
    let config = |auth: &str| serde_json::json!({"auths": {reg.address.clone(): {"auth": b64(auth)}}}).to_string();
    std::fs::write(w2.docker_config.path().join("config.json"), config("ana:right-password")).unwrap();
    // The engine is shared with `w`, which pulled the image: current.
    let (code, v) = w2.check_json(&r);
    assert_eq!((code, v["status"].as_str()), (0, Some("current")), "docker config credentials reach the registry: {v}");
    std::fs::write(w2.docker_config.path().join("config.json"), config("ana:stale-password")).unwrap();
    let err = w2.fails(&["image", "check", &r], 1);
    assert!(err.contains(&format!("login failed for {}", reg.address)), "{err}");
    let err = w2.fails(&["image", "pull", &r], 1);
    assert!(err.contains(&format!("login failed for {}", reg.address)), "{err}");
}

#[test]
fn an_unreachable_registry_is_named_with_its_port_and_the_os_error() {
    let w = World::docker();
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let r = format!("127.0.0.1:{port}/nothing:1");
    let err = w.fails(&["image", "check", &r], 1);
    assert!(err.contains(&format!("cannot reach the registry at 127.0.0.1:{port}")), "{err}");
    assert!(err.contains("Connection refused (os error 111)"), "{err}");
    assert!(err.contains("hint: "), "{err}");
    let err = w.fails(&["image", "pull", &r], 1);
    assert!(err.contains(&format!("127.0.0.1:{port}")) && err.contains("connection refused"), "{err}");
    let out = w.login(&format!("127.0.0.1:{port}"), "ana", "pw");
    assert!(text(&out.stderr).contains("cannot reach the registry"), "{}", text(&out.stderr));
}

fn docker_save(w: &World, image: &str, dir: &Path) -> PathBuf {
    let path = dir.join("saved.tar");
    w.engine(&["save", "-o", path.to_str().unwrap(), image]);
    path
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    text(&out.stdout).split_whitespace().next().unwrap().to_owned()
}

#[test]
fn import_docker_archive_and_oci_archive() {
    let w = World::docker();
    let dir = tempfile::tempdir().unwrap();
    let id = w.engine(&["image", "inspect", "--format", "{{.Id}}", BUSYBOX]).trim().to_owned();

    // docker-archive from `docker save`, retagged on import.
    let saved = docker_save(&w, BUSYBOX, dir.path());
    let tag = format!("imported/docker-archive:{}", std::process::id());
    let out: Value =
        serde_json::from_str(&w.ok(&["image", "import", saved.to_str().unwrap(), "--tag", &tag, "--json"])).unwrap();
    assert_eq!(out["kind"], "docker-archive");
    assert_eq!(out["loaded"][0], BUSYBOX);
    assert_eq!(out["tagged"], tag.as_str());
    let inspected: Value = serde_json::from_str(&w.ok(&["image", "inspect", &tag])).unwrap();
    assert_eq!(inspected["id"], id.as_str());

    // OCI archive written by Podman (`podman save --format oci-archive`), loaded into Docker.
    let p = World::podman();
    let oci = dir.path().join("oci.tar");
    p.engine(&["save", "--format", "oci-archive", "-o", oci.to_str().unwrap(), BUSYBOX]);
    let tag = format!("imported/oci-archive:{}", std::process::id());
    let out: Value =
        serde_json::from_str(&w.ok(&["image", "import", oci.to_str().unwrap(), "--tag", &tag, "--json"])).unwrap();
    assert_eq!(out["kind"], "oci-archive");
    assert_eq!(out["tagged"], tag.as_str());
    // The layers arrived intact: the image runs.
    let ran = w.engine(&["run", "--rm", "--network", "none", &tag, "/bin/echo", "from-oci"]);
    assert_eq!(ran.trim(), "from-oci");

    // Not an archive at all.
    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, "not an image archive, only text long enough to fill a block").unwrap();
    let err = w.fails(&["image", "import", junk.to_str().unwrap()], 1);
    assert!(err.contains("junk.tar") && err.contains("hint: "), "{err}");
}

#[test]
fn import_from_a_url_verifies_the_digest_and_resumes_a_partial_download() {
    let w = World::docker();
    let dir = tempfile::tempdir().unwrap();
    let saved = docker_save(&w, BUSYBOX, dir.path());
    let digest = sha256(&saved);
    let bytes = std::fs::read(&saved).unwrap();
    let server = FileServer::start();
    server.add("/busybox.tar", bytes.clone());
    let url = format!("{}/busybox.tar", server.url);
    // The file server is on loopback, which URL imports refuse unless configured to reach it.
    std::fs::write(w.home.path().join("no-config.toml"), "[registry]\nimport_private_addresses = true\n").unwrap();

    // Good digest, in the URL fragment.
    let tag = format!("from-url/good:{}", std::process::id());
    w.ok(&["image", "import", &format!("{url}#sha256={digest}"), "--tag", &tag]);
    assert!(w.ls().iter().any(|r| r["reference"] == tag.as_str()));

    // Bad digest: refused, named, nothing loaded, nothing left behind.
    let bad = "0".repeat(64);
    let tag_bad = format!("from-url/bad:{}", std::process::id());
    let err = w.fails(&["image", "import", &url, "--sha256", &bad, "--tag", &tag_bad], 1);
    assert!(err.contains(&format!("expected sha256 {bad}, got {digest}")), "{err}");
    assert!(!w.ls().iter().any(|r| r["reference"] == tag_bad.as_str()));
    let downloads = w.home.path().join("downloads");
    assert_eq!(std::fs::read_dir(&downloads).unwrap().count(), 0, "no partial file kept after a bad digest");

    // Interrupted after half the bytes: the next attempt asks only for the rest.
    let half = bytes.len() / 2;
    server.cut_next_after(half);
    let tag_resumed = format!("from-url/resumed:{}", std::process::id());
    let err = w.fails(&["image", "import", &url, "--sha256", &digest, "--tag", &tag_resumed], 1);
    assert!(err.contains("downloading") && err.contains("hint: run the same command again"), "{err}");
    let partial: Vec<_> = std::fs::read_dir(&downloads).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(partial.len(), 1);
    assert_eq!(std::fs::metadata(&partial[0]).unwrap().len(), half as u64);
    let out = w.berth(&["image", "import", &url, "--sha256", &digest, "--tag", &tag_resumed, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["download"]["resumed_from"], half as u64);
    assert_eq!(v["download"]["sha256"], digest.as_str());
    assert_eq!(server.ranges().last().unwrap().as_deref(), Some(format!("bytes={half}-").as_str()));
    assert!(w.ls().iter().any(|r| r["reference"] == tag_resumed.as_str()));
}

fn tag_rm_ls_inspect(w: &World) {
    let tag = format!("berth-test/tagged:{}", std::process::id());
    w.ok(&["image", "tag", BUSYBOX, &tag]);
    let rows = w.ls();
    let row = rows.iter().find(|r| r["reference"].as_str().is_some_and(|s| s.ends_with(&tag))).expect("listed");
    assert!(row["id"].as_str().unwrap().starts_with("sha256:"));
    assert!(row["size"].as_i64().unwrap() > 0);
    assert!(row["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(row["descriptor_labels"], serde_json::json!([]));
    let table = w.ok(&["image", "ls"]);
    assert!(table.starts_with("REFERENCE") && table.contains(&tag), "{table}");

    let v: Value = serde_json::from_str(&w.ok(&["image", "inspect", &tag])).unwrap();
    assert_eq!(v["id"], row["id"]);
    assert_eq!(v["labels"]["org.opencontainers.image.title"], "berth-test-busybox");

    // An image used by a container is refused without --force, with a hint.
    let container = w.engine(&["create", "--network", "none", &tag, "true"]);
    let id_tag = format!("berth-test/only:{}", std::process::id());
    w.distinct_image(&id_tag, "only tag");
    let used = w.engine(&["create", "--network", "none", &id_tag, "true"]);
    let err = w.fails(&["image", "rm", &id_tag], 1);
    assert!(err.contains("hint: "), "{err}");
    w.engine(&["rm", used.trim()]);
    w.engine(&["rm", container.trim()]);
    let out = w.ok(&["image", "rm", "--force", &id_tag]);
    assert!(out.contains("untagged") || out.contains("deleted"), "{out}");

    let out = w.ok(&["image", "rm", &tag]);
    assert!(out.contains("untagged"), "{out}");
    let err = w.fails(&["image", "inspect", &tag], 1);
    assert!(err.contains("is not present") && err.contains(&tag), "{err}");
    let err = w.fails(&["image", "rm", &tag], 1);
    assert!(err.contains("is not present"), "{err}");
    let err = w.fails(&["image", "tag", "berth-test/no-such-image:1", "x/y:1"], 1);
    assert!(err.contains("berth-test/no-such-image:1"), "{err}");
}

#[test]
fn tag_rm_ls_inspect_on_docker() {
    tag_rm_ls_inspect(&World::docker());
}

#[test]
fn tag_rm_ls_inspect_on_podman() {
    tag_rm_ls_inspect(&World::podman());
}

#[test]
fn podman_pulls_from_a_loopback_registry_and_lists_the_digest() {
    // Pushed by Docker, pulled by Podman through its Docker-compatible API.
    let d = World::docker();
    let p = World::podman();
    let reg = Registry::start(None);
    let r = format!("{}:1", repo(&reg, "shared"));
    d.ok(&["image", "tag", BUSYBOX, &r]);
    let digest = digest_of_push(&d.ok(&["image", "push", &r]));
    let (code, v) = p.check_json(&r);
    assert!(code == 4 || code == 0, "{v}");
    p.ok(&["image", "pull", &r]);
    let (code, v) = p.check_json(&r);
    assert_eq!((code, v["status"].as_str()), (0, Some("current")), "{v}");
    let row = p.ls().into_iter().find(|row| row["reference"] == r.as_str()).expect("podman lists the pulled image");
    assert!(row["repo_digest"].as_str().unwrap().ends_with(&digest), "{row}");
    p.ok(&["image", "rm", &r]);
    assert_eq!(p.check_json(&r).0, 4);
}

#[test]
fn run_pull_policies_use_stored_credentials_and_record_the_repo_digest() {
    let w = World::docker();
    let reg = Registry::start(Some(("ana", "pw")));
    let r = format!("{}:1", repo(&reg, "runnable"));
    w.ok(&["image", "tag", BUSYBOX, &r]);
    assert!(w.login(&reg.address, "ana", "pw").status.success());
    let digest = digest_of_push(&w.ok(&["image", "push", &r]));
    w.ok(&["image", "rm", &r]);

    let work = tempfile::tempdir().unwrap();
    let descriptor = work.path().join("tool.json");
    let d = serde_json::json!({
        "name": "pulled", "tool-version": "1.0", "description": "runs from a private registry",
        "schema-version": "0.5", "command-line": "echo run-me [MSG]",
        "container-image": {"type": "docker", "image": r},
        "inputs": [{"id": "msg", "name": "Message", "type": "String", "value-key": "[MSG]", "optional": true}],
    });
    std::fs::write(&descriptor, d.to_string()).unwrap();
    let run = |pull: &str| {
        w.cmd(&["run", descriptor.to_str().unwrap(), "-i", "{}", "--pull", pull, "--output-dir"])
            .arg(work.path().join(format!("out-{pull}")))
            .current_dir(work.path())
            .output()
            .unwrap()
    };
    let last_record = || {
        let runs: Value = serde_json::from_str(&w.ok(&["runs", "--json"])).unwrap();
        let id = runs[0]["id"].as_str().unwrap().to_owned();
        serde_json::from_str::<Value>(&w.ok(&["show", &id, "--json"])).unwrap()
    };
    let repo_digest = format!("{}@{digest}", r.trim_end_matches(":1"));

    // never: the image is not local, so nothing runs; the image is named.
    let out = run("never");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(&r), "{}", text(&out.stderr));

    // missing: pulled with the credentials `berth login` stored, run, digest recorded.
    let out = run("missing");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "run-me\n");
    let rec = last_record();
    assert_eq!(rec["berth"]["image"]["digest"], repo_digest.as_str(), "{}", rec["berth"]["image"]);
    assert_eq!(rec["berth"]["image"]["ref"], r.as_str());

    // always: pulls even though the image is local (the engine reports the digest again).
    let out = run("always");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("pulling {r}")), "{}", text(&out.stderr));
    assert_eq!(last_record()["berth"]["image"]["digest"], repo_digest.as_str());

    // Without the stored credentials, `--pull always` cannot pull; the local image is used and
    // the reason is said.
    w.ok(&["logout", &reg.address]);
    let out = run("always");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("could not pull"), "{}", text(&out.stderr));
}
