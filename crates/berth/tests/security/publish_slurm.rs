//! Security regressions for publishing pipeline outputs and for the Slurm backend, end to end
//! against the real `berth` binary, the private Docker daemon and the private one-node Slurm
//! cluster (issue 14, findings 3, 10 and 11).
//!
//! - finding 3: a tool that leaves links in its output directory gets them published as links,
//!   never followed (nothing of the linked host tree is hard-linked or copied).
//! - finding 10: a comma in an input file's name cannot add a `source=` to the job script's
//!   `--mount`; `--sbatch-arg` cannot replace the job script; a path map cannot hold `..`.
//! - finding 11: a Slurm work directory another user owns (or can write) is refused.
//!
//! Needs root (to start the engine and the cluster, and to give a directory to another user):
//! without it these tests fail with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Output};

use tempfile::TempDir;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct World {
    dir: TempDir,
    docker: String,
}

impl World {
    fn new() -> World {
        let docker = berth_testkit::docker_host();
        let dir = tempfile::tempdir().unwrap();
        // Every directory above a Slurm work dir must be ours or root's and not open to others.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        World { dir, docker }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = berth_testkit::berth_command(env!("CARGO_BIN_EXE_berth"), self.dir.path(), &self.docker);
        c.args(args);
        c
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn write(&self, rel: &str, content: &str) -> String {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().into_owned()
    }

    /// A tool that prints its input file (so a swapped mount would show in its output).
    fn cat_tool(&self) -> String {
        let d = serde_json::json!({
            "name": "cat",
            "tool-version": "1.0",
            "schema-version": "0.5",
            "description": "Prints its input (test tool).",
            "command-line": "cat [INPUT] > copy.txt",
            "container-image": {"type": "docker", "image": berth_testkit::BUSYBOX},
            "inputs": [{"id": "input", "name": "Input", "type": "File", "value-key": "[INPUT]"}],
            "output-files": [{"id": "copy", "name": "Copy", "path-template": "copy.txt"}]
        });
        self.write("cat.json", &d.to_string())
    }

    fn slurm_run(&self, input: &str, extra: &[&str]) -> Output {
        let tool = self.cat_tool();
        let inv = serde_json::json!({ "input": input }).to_string();
        let mut args = vec!["run", &tool, "-i", &inv, "-o", "out", "--backend", "slurm"];
        args.extend_from_slice(extra);
        let mut c = self.cmd(&args);
        c.env("SLURM_CONF", berth_testkit::slurm_conf());
        c.output().unwrap()
    }
}

fn need_root() {
    assert_eq!(
        std::fs::metadata("/proc/self").unwrap().uid(),
        0,
        "these tests need root (to start the engine and the cluster and to chown a directory)"
    );
}

#[test]
fn finding_03_a_pipeline_publishes_links_a_tool_left_as_links_and_follows_none() {
    need_root();
    let w = World::new();
    // Another project's data on the host, and a tool that links to it from its outputs.
    let victim = w.path("other-project");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("secret.nii"), "patient data of another project").unwrap();
    let tool = serde_json::json!({
        "name": "linker",
        "tool-version": "1.0",
        "schema-version": "0.5",
        "description": "Leaves links to host paths in its outputs (test tool).",
        "command-line": format!(
            "echo [LABEL] >/dev/null; mkdir -p res && echo mine > res/result.txt && ln -s {v} res/other && ln -s {v}/secret.nii res/direct",
            v = victim.display()
        ),
        "container-image": {"type": "docker", "image": berth_testkit::BUSYBOX},
        "inputs": [{"id": "label", "name": "Label", "type": "String", "value-key": "[LABEL]", "optional": true,
                    "default-value": "x"}],
        "output-files": [{"id": "res", "name": "Results", "path-template": "res"}]
    });
    let d = w.write("linker.json", &tool.to_string());
    let p = w.write(
        "pipeline.yaml",
        &format!("berth-pipeline: 1\nname: links\nsteps:\n  linker:\n    descriptor: {d}\n    inputs: {{}}\n"),
    );
    let out = w.berth(&["pipeline", "run", &p, "-o", "out"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let published = w.path("out/linker/res");
    assert_eq!(std::fs::read_to_string(published.join("result.txt")).unwrap(), "mine\n");
    for (name, target) in [("other", victim.clone()), ("direct", victim.join("secret.nii"))] {
        let m = std::fs::symlink_metadata(published.join(name)).unwrap();
        assert!(m.file_type().is_symlink(), "{name} was followed when published (a {:?})", m.file_type());
        assert_eq!(std::fs::read_link(published.join(name)).unwrap(), target);
    }
    // Nothing of the other project was hard-linked into the outputs.
    assert_eq!(std::fs::metadata(victim.join("secret.nii")).unwrap().nlink(), 1);
    let left: Vec<String> = std::fs::read_dir(w.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".berth-publish") || n.starts_with(".berth-old"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn finding_10_a_comma_in_an_input_name_cannot_mount_another_host_path() {
    need_root();
    let w = World::new();
    let victim = w.write("victim/secret.txt", "the victim's data\n");
    let victim_dir = w.path("victim");
    // The decoy: a file whose name carries `,source=<victim dir>`.
    let decoy = w.write(&format!("in/x.txt,source={}", victim_dir.display()), "decoy\n");
    let out = w.slurm_run(&decoy, &[]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "the run was submitted:\n{}{err}", text(&out.stdout));
    assert!(err.contains("holds `,`") && err.contains("x.txt,source="), "{err}");
    assert!(!w.path("out/copy.txt").exists());
    assert_eq!(std::fs::read_to_string(victim).unwrap(), "the victim's data\n");
}

#[test]
fn finding_10_sbatch_args_cannot_replace_the_job_script_and_path_maps_cannot_hold_dotdot() {
    need_root();
    let w = World::new();
    let input = w.write("in/a.txt", "a\n");
    let evil = w.write("evil.sh", "#!/bin/sh\nid\n");
    for args in [vec!["--sbatch-arg", evil.as_str()], vec!["--sbatch-arg=--wrap=id"], vec!["--sbatch-arg=--uid=65534"]]
    {
        let out = w.slurm_run(&input, &args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted:\n{err}");
        assert!(err.contains("is not accepted") && err.contains("hint:"), "{args:?}: {err}");
    }
    let out = w.slurm_run(&input, &["--slurm-path-map", "/tmp/../etc=/x"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("without `..`"), "{}", text(&out.stderr));
}

#[test]
fn finding_11_a_slurm_work_dir_another_user_owns_or_can_write_is_refused() {
    need_root();
    let w = World::new();
    let input = w.write("in/a.txt", "a\n");
    let theirs = w.path("theirs");
    std::fs::create_dir_all(theirs.join("arrays")).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::chown(theirs.join("arrays"), Some(65534), Some(65534)).unwrap();
    w.write("config.toml", &format!("[slurm]\nwork_dir = \"{}\"\n", theirs.display()));
    let out = w.slurm_run(&input, &[]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "the run used their work dir:\n{err}");
    assert!(err.contains("is owned by uid 65534") && err.contains("hint:"), "{err}");
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 1, "berth wrote into their directory");

    // Ours, but writable by others.
    let open = w.path("open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    w.write("config.toml", &format!("[slurm]\nwork_dir = \"{}\"\n", open.display()));
    let out = w.slurm_run(&input, &[]);
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("writable by others"), "{err}");
    assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0);
}
