//! Issue 14, beyond the numbered findings: text from a descriptor meeting a host path when berth
//! writes files. A reused output directory may hold links the previous run's tool left there
//! (`berth run` wrote a run's configuration files and gave their directories to the tool through
//! them), and `berth simulate` wrote a descriptor's configuration files wherever their rendered
//! path pointed (absolute, `..`), as bosh does.
//!
//! The `berth run` test needs the private Docker daemon (`DOCKER_HOST`, else
//! `scripts/dockerd.sh` as root, started by berth-testkit): without it it fails with the reason,
//! never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;
use tempfile::TempDir;

/// One test's world: a store and a working directory (and the engine, for runs).
struct World {
    home: TempDir,
    work: TempDir,
}

impl World {
    fn new() -> World {
        World { home: tempfile::tempdir().unwrap(), work: tempfile::tempdir().unwrap() }
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

    fn berth(&self, cwd: &Path, args: &[&str], docker_host: Option<&str>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(args)
            .current_dir(cwd)
            .env("BERTH_HOME", self.home.path().join("home"))
            .env("BERTH_CONFIG", self.home.path().join("config.toml"))
            .env_remove("BERTH_ENGINE")
            .env("NO_COLOR", "1");
        if let Some(h) = docker_host {
            c.env("DOCKER_HOST", h);
        }
        c.output().unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A busybox descriptor running `command` (with an optional String `[P]` at its end), with a
/// configuration-file output at `config` when given.
fn descriptor(command: &str, config: Option<&str>) -> String {
    let mut d = json!({
        "name": "outdir", "tool-version": "1", "description": "d", "schema-version": "0.5",
        "command-line": format!("{command} [P]"),
        "container-image": {"type": "docker", "image": berth_testkit::BUSYBOX},
        "inputs": [{"id": "p", "name": "P", "type": "String", "value-key": "[P]", "optional": true}],
    });
    if let Some(path) = config {
        d["output-files"] = json!([{
            "id": "conf", "name": "Conf", "value-key": "[CONF]",
            "path-template": path, "file-template": ["written by berth"],
        }]);
    }
    d.to_string()
}

/// A second run into the same output directory: the first run's tool left `out/sub -> victim`;
/// the second tool's configuration file is `sub/config.json`. berth refuses the link by name
/// before any container is created, and neither writes into nor gives away `victim`. On the
/// base commit (2a3b5fa) `victim/config.json` was written ("the configuration file was written
/// through the link"; the tool itself then failed, the link dangling inside its container) and
/// `victim` was given to nobody (65534): as root, `out/sub -> /etc` is host takeover.
#[test]
fn extra_run_does_not_write_or_chown_config_files_through_a_link_left_in_the_output_dir() {
    let host = berth_testkit::docker_host();
    let w = World::new();
    let victim = w.path("victim");
    std::fs::create_dir(&victim).unwrap();
    let owner = std::fs::metadata(&victim).unwrap().uid();

    let planter = w.write("planter.json", &descriptor(&format!("ln -s {} sub", victim.display()), None));
    let first =
        w.berth(w.work.path(), &["run", planter.to_str().unwrap(), "-i", "{}", "--output-dir", "out"], Some(&host));
    assert!(first.status.success(), "the first run plants the link: {}", text(&first.stderr));
    assert!(w.path("out/sub").symlink_metadata().unwrap().file_type().is_symlink());

    let tool = w.write("tool.json", &descriptor("cat [CONF]", Some("sub/config.json")));
    let second =
        w.berth(w.work.path(), &["run", tool.to_str().unwrap(), "-i", "{}", "--output-dir", "out"], Some(&host));
    let err = text(&second.stderr);
    assert!(!victim.join("config.json").exists(), "the configuration file was written through the link\n{err}");
    assert_eq!(std::fs::metadata(&victim).unwrap().uid(), owner, "the link's target was given to the tool\n{err}");
    assert!(!second.status.success(), "the second run must be refused:\n{err}");
    let out = std::fs::canonicalize(w.path("out")).unwrap();
    let link = out.join("sub");
    assert!(
        err.contains(&format!("{} is or passes through a symbolic link", link.display())),
        "the link is named:\n{err}"
    );
    assert!(
        err.contains(&format!(
            "{} may have been left by the tool of an earlier run in this output directory: remove it, or use a \
             fresh output directory (`--output-dir`)",
            link.display()
        )),
        "{err}"
    );
}

/// `berth simulate` writes a descriptor's configuration files only beneath the working
/// directory and through no link; an absolute path outside it, a path with `..`, or one through
/// a link is refused with the output's id, the path and a hint, and nothing is written. On the
/// base commit (2a3b5fa) all three were written (bosh's behaviour): `../escaped.txt`, the
/// absolute path, and through `lnk`.
#[test]
fn extra_simulate_writes_config_files_only_beneath_the_working_directory() {
    let w = World::new();
    let cwd = w.path("cwd");
    std::fs::create_dir(&cwd).unwrap();
    std::os::unix::fs::symlink(w.work.path(), cwd.join("lnk")).unwrap();
    let d = w.write("d.json", &descriptor("cat [CONF]", Some("[P]")));
    let absolute = w.path("absolute.txt");
    for (value, because) in [
        ("../escaped.txt".to_string(), "which is not inside the working directory".to_string()),
        (absolute.to_str().unwrap().to_string(), "outside the working directory".to_string()),
        ("lnk/linked.txt".to_string(), format!("but {} is a symbolic link", cwd.join("lnk").display())),
    ] {
        let inv = json!({"p": value}).to_string();
        let out = w.berth(&cwd, &["simulate", d.to_str().unwrap(), "-i", &inv], None);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{value}: {err}");
        assert!(
            err.contains(&format!(
                "the configuration file of output \"conf\" would be written at `{value}`, {because}"
            )),
            "{value}: {err}"
        );
        assert!(err.contains("hint: `berth simulate` writes configuration files only beneath the working directory"));
    }
    for name in ["escaped.txt", "absolute.txt", "linked.txt"] {
        assert!(!w.path(name).exists(), "{name} was written outside the working directory");
    }
    // Inside the working directory, relative or absolute, it is written as bosh writes it.
    let inside = cwd.join("sub/inside.txt");
    for value in ["sub/rel.txt", inside.to_str().unwrap()] {
        let out = w.berth(&cwd, &["simulate", d.to_str().unwrap(), "-i", &json!({"p": value}).to_string()], None);
        assert!(out.status.success(), "{value}: {}", text(&out.stderr));
    }
    assert_eq!(std::fs::read_to_string(cwd.join("sub/rel.txt")).unwrap(), "written by berth");
    assert_eq!(std::fs::read_to_string(inside).unwrap(), "written by berth");
    // `--no-write` still prints the command without writing anything.
    let out = w.berth(
        &cwd,
        &["simulate", d.to_str().unwrap(), "-i", &json!({"p": "../escaped.txt"}).to_string(), "--no-write"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!w.path("escaped.txt").exists());
}

/// The Slurm backend writes a run's files through the same function as the local runner
/// (`berth_run::run::write_run_files`): the link left in a reused output directory is refused
/// there too, before the job is submitted. On the base commit (2a3b5fa) `victim/config.json`
/// was written and `victim` given to nobody. Needs the test Slurm cluster (berth-testkit).
#[test]
fn extra_slurm_run_does_not_write_or_chown_config_files_through_a_link_left_in_the_output_dir() {
    let docker = berth_testkit::docker_host();
    let slurm = berth_testkit::slurm_conf();
    let w = World::new();
    let victim = w.path("victim");
    std::fs::create_dir(&victim).unwrap();
    let owner = std::fs::metadata(&victim).unwrap().uid();
    // What the previous run's tool left (the Docker test above shows a tool can).
    std::fs::create_dir(w.path("out")).unwrap();
    std::os::unix::fs::symlink(&victim, w.path("out/sub")).unwrap();
    let tool = w.write("tool.json", &descriptor("cat [CONF]", Some("sub/config.json")));
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["run", tool.to_str().unwrap(), "-i", "{}", "-o", "out", "--backend", "slurm"])
        .current_dir(w.work.path())
        .env("BERTH_HOME", w.home.path().join("home"))
        .env("BERTH_CONFIG", w.home.path().join("config.toml"))
        .env_remove("BERTH_ENGINE")
        .env_remove("BERTH_BACKEND")
        .env("DOCKER_HOST", &docker)
        .env("SLURM_CONF", &slurm)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(!victim.join("config.json").exists(), "the configuration file was written through the link\n{err}");
    assert_eq!(std::fs::metadata(&victim).unwrap().uid(), owner, "the link's target was given to the tool\n{err}");
    assert!(!out.status.success(), "the run must be refused:\n{err}");
    let link = std::fs::canonicalize(w.path("out")).unwrap().join("sub");
    assert!(
        err.contains(&format!("{} is or passes through a symbolic link", link.display())),
        "the link is named:\n{err}"
    );
}
