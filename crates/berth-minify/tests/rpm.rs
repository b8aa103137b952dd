//! Plan and apply on an rpm root filesystem made with the host's `rpmbuild` and `rpm --root`:
//! the database is read and edited through rpm itself.
//!
//! Needs `rpm` and `rpmbuild` on the host (Debian: `apt-get install rpm`); without them the test
//! fails, saying so.

use std::path::Path;
use std::process::Command;

use berth_minify::{Access, KeepReason, MinifyOptions, Op};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {cmd:?}: {e}; this test needs `rpm` and `rpmbuild` on the host (Debian: `apt-get install rpm`)"
        )
    });
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Build a noarch rpm named `name` holding `files`, with extra spec `tags`.
fn build(top: &Path, name: &str, tags: &str, files: &[&str]) {
    let install: String = files
        .iter()
        .map(|f| format!("mkdir -p $(dirname %{{buildroot}}{f})\necho {name} > %{{buildroot}}{f}\n"))
        .collect();
    let spec = format!(
        "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: test\nLicense: MIT\nBuildArch: noarch\n{tags}\n\
         %description\ntest\n%install\n{install}%files\n{}\n",
        files.join("\n")
    );
    std::fs::create_dir_all(top).expect("mkdir");
    let path = top.join(format!("{name}.spec"));
    std::fs::write(&path, spec).expect("spec");
    run(Command::new("rpmbuild").arg("--define").arg(format!("_topdir {}", top.display())).arg("-bb").arg(&path));
}

fn rpm(root: &Path) -> Command {
    let mut cmd = Command::new("rpm");
    cmd.arg("--root").arg(root).args(["--dbpath", "/usr/lib/sysimage/rpm"]);
    cmd
}

#[test]
fn rpm_databases_are_read_and_edited_through_rpm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let top = tmp.path().join("build");
    let root = tmp.path().join("root");
    build(&top, "app", "Requires: libx.so.1", &["/usr/bin/app"]);
    build(&top, "libx", "Provides: libx.so.1", &["/usr/lib64/libx.so.1"]);
    build(&top, "filesystem", "", &["/usr/share/filesystem/marker"]);
    build(&top, "extra", "", &["/usr/share/extra/data", "/usr/share/extra/more"]);
    std::fs::create_dir_all(root.join("usr/lib/sysimage/rpm")).expect("mkdir");
    run(rpm(&root).arg("--initdb"));
    let rpms: Vec<_> =
        std::fs::read_dir(top.join("RPMS/noarch")).expect("RPMS").map(|e| e.expect("entry").path()).collect();
    run(rpm(&root).args(["-i", "--nodeps", "--noscripts"]).args(&rpms));

    let trace = [Access { op: Op::Exec, path: "/usr/bin/app".into(), ok: true }].into_iter().collect();
    let plan = berth_minify::plan(&root, &trace, &MinifyOptions::default()).expect("plans");
    let reason = |name: &str| plan.kept.iter().find(|k| k.name == name).map(|k| k.reason.clone());
    assert_eq!(reason("libx"), Some(KeepReason::DependencyOf { package: "app".into() }));
    assert_eq!(reason("filesystem"), Some(KeepReason::Essential));
    let report = berth_minify::apply(&root, &plan).expect("applies");
    assert_eq!(report.removed_packages, ["extra"]);
    assert!(!root.join("usr/share/extra").exists(), "its files and the directory they leave empty go");
    assert!(root.join("usr/bin/app").exists() && root.join("usr/lib64/libx.so.1").exists());
    let listed = run(rpm(&root).args(["-qa", "--qf", "%{NAME}\\n"]));
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort_unstable();
    assert_eq!(listed, ["app", "filesystem", "libx"]);
    assert_eq!(report.packages_after, listed);
}
