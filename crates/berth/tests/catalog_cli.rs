//! Sharing tools through a catalog, end to end on the private Docker daemon: an image whose
//! label carries a descriptor is pushed to a real registry on loopback, `berth catalog build`
//! writes the index, a loopback HTTP server hosts it, and `berth tool search` / `berth tool
//! install` read it — installing by digest into a fresh berth, and refusing a tampered
//! descriptor hash and a moved tag with clear errors, registering nothing.
//!
//! Needs root (the private engine and Debian's docker-registry): without them these tests fail
//! with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output, Stdio};

use berth_testkit::{BUSYBOX, FileServer, Registry};
use serde_json::{Value, json};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One berth (its own home) in a directory.
struct Berth {
    dir: tempfile::TempDir,
    host: String,
}

impl Berth {
    fn new(host: &str) -> Berth {
        Berth { dir: tempfile::tempdir().unwrap(), host: host.to_owned() }
    }

    fn run(&self, args: &[&str]) -> Output {
        berth_testkit::berth_command(env!("CARGO_BIN_EXE_berth"), self.dir.path(), &self.host)
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("BERTH_CATALOG_INDEX")
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        berth_testkit::stdout_of_success(args, &self.run(args))
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "berth {args:?}:\n{}\n{}", text(&out.stdout), text(&out.stderr));
        text(&out.stderr)
    }

    fn tools(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.ok(&["tool", "ls", "--json"])).unwrap().as_array().unwrap().clone()
    }
}

fn docker(host: &str, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A descriptor of a small tool on the busybox test image, named as `local` (the tag that
/// `install` gives the pulled image).
fn descriptor(local: &str, greeting: &str) -> Value {
    json!({
        "name": "catalog-echo", "tool-version": "1.0", "schema-version": "0.5",
        "description": format!("Writes a greeting to a file ({greeting})."),
        "command-line": format!("echo {greeting} [NAME] > [OUT]"),
        "container-image": {"type": "docker", "image": local},
        "inputs": [
            {"id": "name", "name": "Name", "type": "String", "value-key": "[NAME]"},
            {"id": "out", "name": "Output", "type": "String", "value-key": "[OUT]", "default-value": "greeting.txt", "optional": true}
        ],
        "output-files": [{"id": "greeting", "name": "Greeting", "path-template": "[OUT]"}],
        "tests": [{"name": "world", "invocation": {"name": "world"}, "assertions": {"exit-code": 0}}]
    })
}

/// Builds `reference` from the busybox test image with `descriptor` in its label.
fn labelled_image(host: &str, reference: &str, descriptor: &Value) {
    docker(host, &["image", "inspect", BUSYBOX], None);
    docker(
        host,
        &["build", "-q", "--label", &format!("org.berth.boutiques.descriptor={descriptor}"), "-t", reference, "-"],
        Some(&format!("FROM {BUSYBOX}\n")),
    );
}

#[test]
fn a_catalog_is_built_hosted_searched_and_installed_by_digest_and_tampering_is_refused() {
    let host = berth_testkit::docker_host();
    let reg = Registry::start(None);
    let pid = std::process::id();
    let reference = format!("{}/tools/catalog-echo-{pid}:1.0", reg.address);
    let local = format!("berth-test/catalog-echo-{pid}:1.0");
    labelled_image(&host, &reference, &descriptor(&local, "hello"));

    // The maintainer: an index of a pushed image (not of one only on this engine).
    let maintainer = Berth::new(&host);
    let err = maintainer.fails(&["catalog", "build", &reference, "-o", "site/index.json"]);
    assert!(err.contains("has not been pushed") && err.contains("berth image push"), "{err}");
    maintainer.ok(&["image", "push", &reference]);
    let built = maintainer.ok(&["catalog", "build", &reference, "-o", "site/index.json"]);
    assert!(built.contains("catalog-echo@1.0") && built.contains("1 tool"), "{built}");
    let index_text = std::fs::read_to_string(maintainer.dir.path().join("site/index.json")).unwrap();
    let index: Value = serde_json::from_str(&index_text).unwrap();
    let entry = &index["tools"][0];
    assert_eq!(index["format"], "berth-catalog/1");
    assert!(entry["digest"].as_str().unwrap().starts_with("sha256:"), "{entry:#}");
    assert_eq!(entry["tests"], json!(["world"]));
    assert!(entry["sbom"]["packages"].as_u64().is_some(), "{entry:#}");
    // The hash is the one berth registers: the maintainer's own registration agrees.
    maintainer.ok(&["tool", "import", &reference]);
    assert_eq!(maintainer.tools()[0]["descriptor-sha256"], entry["descriptor_sha256"]);

    // Hosted by any static web server.
    let server = FileServer::start();
    server.add("/catalog/index.json", index_text.clone().into_bytes());
    let url = format!("{}/catalog/index.json", server.url);

    // A user elsewhere: nothing local, searches, installs.
    docker(&host, &["image", "rm", "-f", &reference], None);
    let user = Berth::new(&host);
    let found = user.ok(&["tool", "search", "greeting", "--index", &url]);
    assert!(found.contains("catalog-echo@1.0") && found.contains(entry["digest"].as_str().unwrap()), "{found}");
    let none = user.run(&["tool", "search", "registration", "--index", &url]);
    assert_eq!(none.status.code(), Some(1));
    let installed = user.ok(&["tool", "install", "catalog-echo", "--index", &url]);
    assert!(installed.contains("checked against the catalog") && installed.contains(&local), "{installed}");
    let tools = user.tools();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["descriptor-sha256"], entry["descriptor_sha256"]);
    assert!(tools[0]["source"].as_str().unwrap().contains(&url), "{:#}", tools[0]);
    // The installed tool runs by name, on the image tagged as its descriptor names it.
    user.ok(&["run", "catalog-echo", "-i", r#"{"name": "world"}"#, "-o", "out", "--pull", "never"]);
    assert_eq!(std::fs::read_to_string(user.dir.path().join("out/greeting.txt")).unwrap(), "hello world\n");

    // A tampered index: the descriptor hash no longer matches the label. Nothing is registered.
    let mut tampered: Value = serde_json::from_str(&index_text).unwrap();
    tampered["tools"][0]["descriptor_sha256"] = json!("0".repeat(64));
    server.add("/catalog/tampered.json", serde_json::to_vec(&tampered).unwrap());
    let other = Berth::new(&host);
    let err =
        other.fails(&["tool", "install", "catalog-echo", "--index", &format!("{}/catalog/tampered.json", server.url)]);
    assert!(err.contains("does not match the catalog") && err.contains("nothing was registered"), "{err}");
    assert!(other.tools().is_empty());

    // A moved tag: another image pushed under the same tag since the index was built.
    labelled_image(&host, &reference, &descriptor(&local, "HACKED"));
    maintainer.ok(&["image", "push", &reference]);
    let err = other.fails(&["tool", "install", "catalog-echo@1.0", "--index", &url]);
    assert!(
        err.contains("has moved since the catalog was built") && err.contains(entry["digest"].as_str().unwrap()),
        "{err}"
    );
    assert!(other.tools().is_empty());

    // An index that is not one, and a tool it does not have, are named.
    server.add("/catalog/page.html", b"<html>not an index</html>".to_vec());
    let err = other.fails(&["tool", "search", "--index", &format!("{}/catalog/page.html", server.url)]);
    assert!(err.contains("is not a berth catalog index"), "{err}");
    let err = other.fails(&["tool", "install", "catalog-ech", "--index", &url]);
    assert!(err.contains("has no tool `catalog-ech`") && err.contains("catalog-echo"), "{err}");
    drop(reg);
}
