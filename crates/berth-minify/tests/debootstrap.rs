//! End to end on real Debian root filesystems (`scripts/test-rootfs.sh minbase` and
//! `analysis`, built with debootstrap): trace a command with the static berth-trace inside a
//! chroot, plan, apply, and check that the command still works the same and that dpkg and apt
//! agree with what is left.
//!
//! Needs root (debootstrap, chroot, mounting /proc) and, the first time, the network (the
//! fixtures are cached under `target/berth-fixtures`). Without root the tests fail, saying so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_minify::{KeepReason, MinifyOptions, Op};

const COMMAND: &str = "sha256sum /etc/os-release > /tmp/out; ls -l /etc/os-release >/dev/null";
const PYTHON: &str = "python3 -c 'import numpy, nibabel, pydicom; print(numpy.arange(10).sum(), nibabel.__version__, \
                      pydicom.__version__)' > /tmp/out";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `/proc` mounted inside the root for as long as it lives (the tracer reads `/proc/PID/cwd`).
struct ProcMount(PathBuf);

impl ProcMount {
    fn new(root: &Path) -> Self {
        let target = root.join("proc");
        run(Command::new("mount").args(["-t", "proc", "proc"]).arg(&target));
        Self(target)
    }
}

impl Drop for ProcMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn need_root() {
    assert!(
        run(Command::new("id").arg("-u")).trim() == "0",
        "this test needs root: it builds a debootstrap root filesystem, chroots and mounts /proc; \
         run it as root (CI runs it in the privileged job)"
    );
}

/// A copy of the `fixture` root filesystem with the static tracer in `/berth`.
fn prepared(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    need_root();
    let fixture = run(Command::new(repo().join("scripts/test-rootfs.sh")).arg(fixture));
    let tracer = run(&mut Command::new(repo().join("tools/berth-trace/build.sh")));
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    run(Command::new("cp").arg("-a").arg(fixture.trim()).arg(&root));
    std::fs::create_dir_all(root.join("berth")).expect("mkdir /berth");
    std::fs::copy(tracer.trim(), root.join("berth/berth-trace")).expect("copy the tracer");
    (tmp, root)
}

/// Run `command` with `sh -c` in a chroot of `root` (traced when `traced`); what it wrote to
/// `/tmp/out`, which is then removed.
fn chroot_sh(root: &Path, command: &str, traced: bool) -> String {
    let _proc = ProcMount::new(root);
    let mut cmd = Command::new("chroot");
    cmd.arg(root);
    if traced {
        cmd.args(["/berth/berth-trace", "--output", "/berth/trace.jsonl", "--"]);
    }
    run(cmd.args(["/bin/sh", "-c", command]));
    let out = std::fs::read_to_string(root.join("tmp/out")).expect("the command wrote /tmp/out");
    std::fs::remove_file(root.join("tmp/out")).expect("rm /tmp/out");
    out
}

/// dpkg lists exactly `kept` and finds nothing half-installed; apt finds every dependency met.
fn check_package_database(root: &Path, kept: &BTreeSet<String>) {
    let _proc = ProcMount::new(root);
    let listed = run(Command::new("chroot").arg(root).args(["dpkg-query", "-W", "-f", "${Package}\\n"]));
    assert_eq!(&listed.lines().map(str::to_owned).collect::<BTreeSet<_>>(), kept);
    run(Command::new("chroot").arg(root).args(["dpkg", "--audit"]));
    run(Command::new("chroot").arg(root).args(["apt-get", "check", "-q"]));
}

#[test]
fn minifying_minbase_keeps_a_traced_command_working() {
    let (_tmp, root) = prepared("minbase");
    let expected = chroot_sh(&root, COMMAND, true);
    let trace = berth_minify::read_trace(&root.join("berth/trace.jsonl")).expect("the trace reads");
    let interp = trace.accesses.iter().any(|a| a.op == Op::Interp && a.path == "/lib64/ld-linux-x86-64.so.2" && a.ok);
    assert!(interp, "the tracer records the ELF interpreter the kernel loads");
    let plan = berth_minify::plan(&root, &trace, &MinifyOptions::default()).expect("plans");
    let report = berth_minify::apply(&root, &plan).expect("applies");
    eprintln!(
        "minbase, `{COMMAND}`: {} packages before, {} after, {} paths removed, {} bytes freed; removed: {}",
        report.packages_before.len(),
        report.packages_after.len(),
        report.files_removed.len(),
        report.bytes_freed,
        report.removed_packages.join(" ")
    );
    assert!(!report.removed_packages.is_empty(), "minbase has packages nothing needs");
    let kept: BTreeSet<String> = report.kept.iter().map(|k| k.name.clone()).collect();
    assert_eq!(report.packages_after.iter().cloned().collect::<BTreeSet<_>>(), kept);

    // The same command, without the tracer, in the minified root: same output.
    assert_eq!(chroot_sh(&root, COMMAND, false), expected);
    check_package_database(&root, &kept);

    // Essential packages and the package manager stay; what is removed has no files left.
    let reason = |name: &str| report.kept.iter().find(|k| k.name == name).map(|k| k.reason.clone());
    assert_eq!(reason("perl-base"), Some(KeepReason::Essential));
    assert_eq!(reason("apt"), Some(KeepReason::PackageManager));
    assert!(matches!(reason("coreutils"), Some(KeepReason::Accessed { .. })), "{:?}", reason("coreutils"));
    assert!(report.removed_packages.contains(&"e2fsprogs".to_owned()), "nothing needs e2fsprogs");
    for package in &report.removed_packages {
        assert!(!root.join(format!("var/lib/dpkg/info/{package}.list")).exists(), "{package}'s list is gone");
        assert!(!root.join(format!("var/lib/dpkg/info/{package}:amd64.list")).exists(), "{package}'s list is gone");
    }
    for path in &report.files_removed {
        assert!(std::fs::symlink_metadata(root.join(path.trim_start_matches('/'))).is_err(), "{path} is gone");
    }
    assert!(root.join("berth/berth-trace").exists(), "protected paths are never touched");
}

#[test]
fn minifying_the_analysis_image_keeps_python_imports_working() {
    let (_tmp, root) = prepared("analysis");
    let expected = chroot_sh(&root, PYTHON, true);
    let trace = berth_minify::read_trace(&root.join("berth/trace.jsonl")).expect("the trace reads");
    let opts = MinifyOptions { prune_unowned: true, ..MinifyOptions::default() };
    let plan = berth_minify::plan(&root, &trace, &opts).expect("plans");
    let report = berth_minify::apply(&root, &plan).expect("applies");
    eprintln!(
        "analysis, `{PYTHON}`: {} packages before, {} after, {} paths removed ({} unowned), {} bytes freed",
        report.packages_before.len(),
        report.packages_after.len(),
        report.files_removed.len(),
        report.unowned_unaccessed.len(),
        report.bytes_freed,
    );
    assert_eq!(chroot_sh(&root, PYTHON, false), expected);
    let kept: BTreeSet<String> = report.kept.iter().map(|k| k.name.clone()).collect();
    check_package_database(&root, &kept);
    for gone in ["git", "curl", "dcm2niix", "python3-pip"] {
        assert!(report.removed_packages.contains(&gone.to_owned()), "{gone} is not needed to import numpy");
    }
    // pip-installed, never imported: gone, metadata and all. Imported: stays, with its metadata.
    let site = root.join("usr/local/lib/python3.11/dist-packages");
    assert!(!site.join("yaml").exists() && !site.join("PyYAML-6.0.1.dist-info").exists());
    assert!(site.join("pydicom-2.4.4.dist-info/METADATA").exists());
    assert!(!root.join("usr/lib/python3/dist-packages/pip").exists(), "pip's files and compiled bytecode are gone");
}
