//! Plan and apply on tiny fake root filesystems built in temporary directories: one test per
//! case the owner mapping and the closure must get right.

use std::os::unix::fs::symlink;
use std::path::Path;

use berth_minify::{Access, ApplyReport, KeepReason, MinifyError, MinifyOptions, Op, Plan, Trace};

/// A merged-/usr root with an empty dpkg database.
struct Fake {
    dir: tempfile::TempDir,
    status: String,
}

impl Fake {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = Self { dir, status: String::new() };
        for d in ["usr/bin", "usr/sbin", "usr/lib", "etc", "var/lib/dpkg/info", "tmp"] {
            std::fs::create_dir_all(fake.root().join(d)).expect("mkdir");
        }
        // `/lib64` is absolute, as some images make it: it must resolve inside the root.
        for (link, target) in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "/usr/lib")] {
            symlink(target, fake.root().join(link)).expect("link");
        }
        fake.file("/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
        fake
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn host(&self, path: &str) -> std::path::PathBuf {
        self.root().join(path.trim_start_matches('/'))
    }

    fn exists(&self, path: &str) -> bool {
        std::fs::symlink_metadata(self.host(path)).is_ok()
    }

    fn file(&self, path: &str, content: &str) {
        let host = self.host(path);
        std::fs::create_dir_all(host.parent().expect("parent")).expect("mkdir");
        std::fs::write(host, content).expect("write");
    }

    fn link(&self, path: &str, target: &str) {
        let host = self.host(path);
        std::fs::create_dir_all(host.parent().expect("parent")).expect("mkdir");
        symlink(target, host).expect("link");
    }

    /// Install a package: its stanza (`Package:` first) and its files (a trailing `/` makes
    /// a directory; a `path -> target` a link). The list gets every parent directory, as
    /// dpkg writes it.
    fn package(&mut self, fields: &str, files: &[&str]) {
        let name = fields.lines().next().and_then(|l| l.strip_prefix("Package: ")).expect("Package: first");
        let mut list = vec!["/.".to_owned()];
        for entry in files {
            let (path, target) = match entry.split_once(" -> ") {
                Some((p, t)) => (p, Some(t)),
                None => (*entry, None),
            };
            let trimmed = path.trim_end_matches('/');
            let mut prefix = String::new();
            for part in trimmed.split('/').filter(|p| !p.is_empty()) {
                prefix = format!("{prefix}/{part}");
                if !list.contains(&prefix) {
                    list.push(prefix.clone());
                }
            }
            if path.ends_with('/') {
                std::fs::create_dir_all(self.host(trimmed)).expect("mkdir");
            } else if let Some(target) = target {
                self.link(path, target);
            } else if !self.exists(path) {
                self.file(path, &format!("{name} owns {path}\n"));
            }
        }
        let multiarch = fields.contains("Multi-Arch: same");
        let list_name = if multiarch { format!("{name}:amd64.list") } else { format!("{name}.list") };
        std::fs::write(self.host("/var/lib/dpkg/info").join(list_name), list.join("\n") + "\n").expect("list");
        std::fs::write(self.host("/var/lib/dpkg/info").join(format!("{name}.md5sums")), "").expect("md5sums");
        let status =
            if fields.contains("Status:") { String::new() } else { "Status: install ok installed\n".to_owned() };
        let version = if fields.contains("Version:") { "" } else { "Version: 1.0\n" };
        self.status.push_str(&format!("{fields}\n{status}{version}Architecture: amd64\n\n"));
        std::fs::write(self.host("/var/lib/dpkg/status"), &self.status).expect("status");
    }

    fn plan(&self, accessed: &[&str], opts: &MinifyOptions) -> Result<Plan, MinifyError> {
        berth_minify::plan(self.root(), &trace(accessed), opts)
    }

    fn minify(&self, accessed: &[&str], opts: &MinifyOptions) -> (Plan, ApplyReport) {
        let plan = self.plan(accessed, opts).expect("plans");
        let report = berth_minify::apply(self.root(), &plan).expect("applies");
        (plan, report)
    }

    fn status(&self) -> String {
        std::fs::read_to_string(self.host("/var/lib/dpkg/status")).expect("status")
    }
}

/// A trace opening `paths` successfully (a `!` prefix: a failed lookup), and `/etc/passwd`
/// (no package's), as every run does.
fn trace(paths: &[&str]) -> Trace {
    paths
        .iter()
        .chain(&["/etc/passwd"])
        .map(|p| match p.strip_prefix('!') {
            Some(p) => Access { op: Op::Stat, path: p.to_owned(), ok: false },
            None => Access { op: Op::Open, path: (*p).to_owned(), ok: true },
        })
        .collect()
}

fn reason(plan: &Plan, name: &str) -> Option<KeepReason> {
    plan.kept.iter().find(|k| k.name == name).map(|k| k.reason.clone())
}

#[test]
fn merged_usr_paths_and_links_map_to_their_owners() {
    let mut fake = Fake::new();
    // The list says /bin, the trace says /usr/bin; the link /bin/sh and its target both stay.
    fake.package("Package: dash", &["/bin/dash", "/bin/sh -> dash"]);
    fake.package("Package: bash", &["/bin/bash", "/usr/share/doc/bash/README"]);
    fake.package("Package: sh-link", &["/usr/bin/sh-link -> /bin/sh"]);
    let (plan, report) = fake.minify(&["/usr/bin/sh-link"], &MinifyOptions::default());
    assert_eq!(reason(&plan, "dash"), Some(KeepReason::Accessed { path: "/usr/bin/sh-link".into() }));
    assert_eq!(reason(&plan, "sh-link"), Some(KeepReason::Accessed { path: "/usr/bin/sh-link".into() }));
    assert_eq!(report.removed_packages, ["bash"]);
    assert!(fake.exists("/usr/bin/dash") && fake.exists("/bin/sh"));
    assert!(!fake.exists("/usr/bin/bash") && !fake.exists("/usr/share/doc/bash"), "{:?}", report.files_removed);
    assert!(fake.exists("/bin") && fake.exists("/usr/bin"), "shared directories stay");
    assert!(!fake.exists("/usr/share/doc"), "a directory only a removed package owned goes once empty");
    assert!(report.bytes_freed > 0);
    assert!(!fake.status().contains("Package: bash"));
    assert!(
        !fake.host("/var/lib/dpkg/info/bash.list").exists() && !fake.host("/var/lib/dpkg/info/bash.md5sums").exists()
    );
}

#[test]
fn a_directory_link_on_the_way_keeps_its_owner() {
    let mut fake = Fake::new();
    fake.package("Package: jre", &["/usr/lib/jvm/java-17/bin/java"]);
    fake.package("Package: default-jre", &["/usr/lib/jvm/default-java -> java-17"]);
    let (plan, _) = fake.minify(&["/usr/lib/jvm/default-java/bin/java"], &MinifyOptions::default());
    assert!(matches!(reason(&plan, "default-jre"), Some(KeepReason::Accessed { .. })), "{plan:#?}");
    assert!(matches!(reason(&plan, "jre"), Some(KeepReason::Accessed { .. })));
}

#[test]
fn dependencies_alternatives_virtuals_and_pre_depends_are_kept() {
    let mut fake = Fake::new();
    fake.package(
        "Package: app\nPre-Depends: init-helper\nDepends: libfoo (>= 2) | libfoo-compat, awk, libbar:any (>= 1.0~rc1)",
        &["/usr/bin/app"],
    );
    fake.package("Package: init-helper", &["/usr/lib/init-helper.so"]);
    // libfoo is too old: the alternative that matches is kept instead.
    fake.package("Package: libfoo\nVersion: 1.5", &["/usr/lib/libfoo.so.1"]);
    fake.package("Package: libfoo-compat", &["/usr/lib/libfoo-compat.so.1"]);
    fake.package("Package: mawk\nProvides: awk", &["/usr/bin/mawk"]);
    fake.package("Package: libbar\nMulti-Arch: same", &["/usr/lib/x86_64-linux-gnu/libbar.so.1"]);
    fake.package("Package: unused", &["/usr/bin/unused"]);
    let (plan, report) = fake.minify(&["/bin/app"], &MinifyOptions::default());
    let dep = |of: &str| Some(KeepReason::DependencyOf { package: of.to_owned() });
    assert_eq!(reason(&plan, "init-helper"), dep("app"));
    assert_eq!(reason(&plan, "libfoo-compat"), dep("app"));
    assert_eq!(reason(&plan, "mawk"), dep("app"));
    assert_eq!(reason(&plan, "libbar"), dep("app"));
    assert_eq!(report.removed_packages, ["libfoo", "unused"]);
    assert_eq!(report.packages_after, ["app", "init-helper", "libbar", "libfoo-compat", "mawk"]);
    assert!(fake.host("/var/lib/dpkg/info/libbar:amd64.list").exists());
}

#[test]
fn essential_packages_the_package_manager_and_their_dependencies_stay() {
    let mut fake = Fake::new();
    fake.package("Package: base-files\nEssential: yes\nDepends: libessential", &["/etc/os-release"]);
    fake.package("Package: libessential", &["/usr/lib/libessential.so"]);
    fake.package("Package: dpkg\nEssential: yes\nPre-Depends: libzstd1", &["/usr/bin/dpkg"]);
    fake.package("Package: apt\nDepends: libapt", &["/usr/bin/apt"]);
    fake.package("Package: libapt", &["/usr/lib/libapt.so"]);
    fake.package("Package: libzstd1", &["/usr/lib/libzstd.so.1"]);
    fake.package("Package: e2fsprogs", &["/usr/sbin/mke2fs"]);
    let (plan, report) = fake.minify(&[], &MinifyOptions::default());
    assert_eq!(reason(&plan, "base-files"), Some(KeepReason::Essential));
    assert_eq!(reason(&plan, "dpkg"), Some(KeepReason::Essential));
    assert_eq!(reason(&plan, "apt"), Some(KeepReason::PackageManager));
    assert_eq!(reason(&plan, "libapt"), Some(KeepReason::DependencyOf { package: "apt".into() }));
    assert_eq!(reason(&plan, "libzstd1"), Some(KeepReason::DependencyOf { package: "dpkg".into() }));
    assert_eq!(report.removed_packages, ["e2fsprogs"]);
    assert!(!fake.exists("/usr/sbin/mke2fs"));
    assert!(plan.repairable());
}

#[test]
fn a_minimal_plan_keeps_only_what_the_run_used_and_says_the_image_cannot_be_repaired() {
    let mut fake = Fake::new();
    fake.package("Package: base-files\nEssential: yes\nDepends: libessential", &["/etc/os-release"]);
    fake.package("Package: libessential", &["/usr/lib/libessential.so"]);
    fake.package("Package: dpkg\nEssential: yes\nPre-Depends: libzstd1", &["/usr/bin/dpkg"]);
    fake.package("Package: apt\nDepends: libapt", &["/usr/bin/apt"]);
    fake.package("Package: libapt", &["/usr/lib/libapt.so"]);
    fake.package("Package: libzstd1", &["/usr/lib/libzstd.so.1"]);
    fake.package("Package: tool\nDepends: libzstd1", &["/usr/bin/tool"]);
    let opts = MinifyOptions { minimal: true, prune_unowned: true, ..MinifyOptions::default() };
    let (plan, report) = fake.minify(&["/usr/bin/tool"], &opts);
    assert_eq!(report.packages_after, ["libzstd1", "tool"]);
    assert_eq!(reason(&plan, "libzstd1"), Some(KeepReason::DependencyOf { package: "tool".into() }));
    assert!(!plan.repairable());
    assert!(!fake.exists("/usr/bin/dpkg") && !fake.exists("/etc/os-release"));

    // a traced tool that needs dpkg (bookworm's dash pre-depends on it) keeps dpkg, but without
    // apt nothing can be installed: still not repairable
    let mut fake = Fake::new();
    fake.package("Package: dpkg\nEssential: yes\nPre-Depends: libzstd1", &["/usr/bin/dpkg"]);
    fake.package("Package: apt\nDepends: libapt", &["/usr/bin/apt"]);
    fake.package("Package: libapt", &["/usr/lib/libapt.so"]);
    fake.package("Package: libzstd1", &["/usr/lib/libzstd.so.1"]);
    fake.package("Package: dash\nPre-Depends: dpkg", &["/bin/dash"]);
    let (plan, report) = fake.minify(&["/bin/dash"], &opts);
    assert_eq!(report.packages_after, ["dash", "dpkg", "libzstd1"]);
    assert!(!plan.repairable());
}

#[test]
fn shared_directories_conffiles_and_similar_names() {
    let mut fake = Fake::new();
    fake.package(
        "Package: foo\nConffiles:\n /etc/foo.conf 0123",
        &["/etc/foo.conf", "/usr/share/foo/a", "/usr/share/common/foo"],
    );
    fake.package("Package: foo.bar", &["/usr/share/common/bar", "/usr/bin/foo.bar"]);
    // Something no package owns, inside a directory only the removed package owned.
    fake.file("/usr/share/foo/local-note", "mine");
    let (_, report) = fake.minify(&["/usr/bin/foo.bar"], &MinifyOptions::default());
    assert_eq!(report.removed_packages, ["foo"]);
    assert!(!fake.exists("/etc/foo.conf"), "a removed package's conffile goes");
    assert!(!fake.exists("/usr/share/foo/a") && !fake.exists("/usr/share/common/foo"));
    assert!(fake.exists("/usr/share/common/bar"), "a directory still holding kept files stays");
    assert!(fake.exists("/usr/share/foo/local-note"), "a directory still holding anything stays");
    assert!(fake.host("/var/lib/dpkg/info/foo.bar.list").exists(), "`foo` never takes `foo.bar`'s files");
    assert!(!fake.host("/var/lib/dpkg/info/foo.list").exists());
    assert!(fake.status().contains("Package: foo.bar") && !fake.status().contains("Package: foo\n"));
    assert!(report.unowned_unaccessed.contains(&"/usr/share/foo/local-note".to_owned()));
}

#[test]
fn unowned_files_are_reported_and_pruned_only_when_asked() {
    let mut fake = Fake::new();
    fake.package("Package: python3", &["/usr/bin/python3"]);
    fake.file("/usr/local/lib/python3/dist-packages/used.py", "");
    fake.file("/usr/local/lib/python3/dist-packages/unused.py", "");
    fake.file("/berth/input.dcm", "");
    fake.file("/etc/generated.conf", "");
    let accessed = ["/usr/bin/python3", "/usr/local/lib/python3/dist-packages/used.py"];
    let plan = fake.plan(&accessed, &MinifyOptions::default()).expect("plans");
    assert_eq!(plan.unowned_unaccessed, ["/usr/local/lib/python3/dist-packages/unused.py"]);
    let report = berth_minify::apply(fake.root(), &plan).expect("applies");
    assert!(fake.exists("/usr/local/lib/python3/dist-packages/unused.py"), "reported only");
    assert!(!report.unowned_pruned);

    let opts = MinifyOptions { prune_unowned: true, ..MinifyOptions::default() };
    let (_, report) = fake.minify(&accessed, &opts);
    assert!(!fake.exists("/usr/local/lib/python3/dist-packages/unused.py"));
    assert!(fake.exists("/usr/local/lib/python3/dist-packages/used.py"));
    assert!(fake.exists("/berth/input.dcm") && fake.exists("/etc/generated.conf") && fake.exists("/etc/passwd"));
    assert!(report.files_removed.contains(&"/usr/local/lib/python3/dist-packages/unused.py".to_owned()));
}

#[test]
fn user_keep_takes_paths_and_package_names() {
    let mut fake = Fake::new();
    fake.package("Package: a", &["/usr/bin/a"]);
    fake.package("Package: b", &["/usr/share/b/data/x", "/usr/share/b/data/y"]);
    fake.package("Package: c", &["/usr/bin/c"]);
    let opts = MinifyOptions { keep: vec!["a".into(), "/usr/share/b".into()], ..MinifyOptions::default() };
    let plan = fake.plan(&[], &opts).expect("plans");
    assert_eq!(reason(&plan, "a"), Some(KeepReason::UserKeep { entry: "a".into() }));
    assert_eq!(reason(&plan, "b"), Some(KeepReason::UserKeep { entry: "/usr/share/b".into() }));
    assert_eq!(plan.removed, ["c"]);
    for bad in ["no-such-package", "/no/such/path"] {
        let opts = MinifyOptions { keep: vec![bad.into()], ..MinifyOptions::default() };
        let err = fake.plan(&[], &opts).expect_err("unknown keep");
        assert!(matches!(&err, MinifyError::UnknownKeep { entry } if entry == bad), "{err}");
    }
}

#[test]
fn failed_lookups_keep_nothing_unless_the_file_exists() {
    let mut fake = Fake::new();
    fake.package("Package: a", &["/usr/lib/a.so"]);
    fake.package("Package: b", &["/usr/lib/b.so"]);
    let plan = fake.plan(&["!/usr/lib/glibc-hwcaps/a.so", "!/usr/lib/b.so"], &MinifyOptions::default()).expect("plans");
    assert_eq!(plan.removed, ["a"]);
}

#[test]
fn alternatives_are_repointed_or_removed_with_the_package_they_point_to() {
    let mut fake = Fake::new();
    fake.package("Package: mawk", &["/usr/bin/mawk"]);
    fake.package("Package: gawk", &["/usr/bin/gawk"]);
    fake.link("/usr/bin/awk", "/etc/alternatives/awk");
    fake.link("/etc/alternatives/awk", "/usr/bin/gawk");
    fake.file("/var/lib/dpkg/alternatives/awk", "auto\n/usr/bin/awk\n\n/usr/bin/mawk\n5\n/usr/bin/gawk\n10\n\n");
    // Through the link, the chosen alternative is kept.
    let plan = fake.plan(&["/usr/bin/awk"], &MinifyOptions::default()).expect("plans");
    assert!(matches!(reason(&plan, "gawk"), Some(KeepReason::Accessed { .. })));
    assert_eq!(plan.removed, ["mawk"]);

    // gawk goes, mawk is kept for another reason: the links point at mawk.
    let opts = MinifyOptions { keep: vec!["mawk".into()], ..MinifyOptions::default() };
    let (_, report) = fake.minify(&[], &opts);
    assert_eq!(report.removed_packages, ["gawk"]);
    let target = std::fs::read_link(fake.host("/etc/alternatives/awk")).expect("link");
    assert_eq!(target, Path::new("/usr/bin/mawk"));

    // The removed choice is no longer offered.
    let admin = std::fs::read_to_string(fake.host("/var/lib/dpkg/alternatives/awk")).expect("admin file");
    assert_eq!(admin, "auto\n/usr/bin/awk\n\n/usr/bin/mawk\n5\n\n");

    // Nothing left to point at: the links and the administrative file go.
    let (_, report) = fake.minify(&[], &MinifyOptions::default());
    assert_eq!(report.removed_packages, ["mawk"]);
    for gone in ["/usr/bin/awk", "/etc/alternatives/awk", "/var/lib/dpkg/alternatives/awk"] {
        assert!(!fake.exists(gone), "{gone}: {:?}", report.files_removed);
    }
}

#[test]
fn a_removed_diverting_package_gives_the_path_back() {
    let mut fake = Fake::new();
    fake.package("Package: orig", &["/usr/bin/tool"]);
    // `diverter` replaced /usr/bin/tool; orig's file lives at /usr/bin/tool.distrib.
    std::fs::rename(fake.host("/usr/bin/tool"), fake.host("/usr/bin/tool.distrib")).expect("divert");
    fake.package("Package: diverter", &["/usr/bin/tool"]);
    fake.file("/var/lib/dpkg/diversions", "/usr/bin/tool\n/usr/bin/tool.distrib\ndiverter\n");
    let opts = MinifyOptions { keep: vec!["orig".into()], ..MinifyOptions::default() };
    let (_, report) = fake.minify(&[], &opts);
    assert_eq!(report.removed_packages, ["diverter"]);
    let content = std::fs::read_to_string(fake.host("/usr/bin/tool")).expect("tool is back");
    assert_eq!(content, "orig owns /usr/bin/tool\n");
    assert!(!fake.exists("/usr/bin/tool.distrib"));
    assert_eq!(std::fs::read_to_string(fake.host("/var/lib/dpkg/diversions")).expect("diversions"), "");
}

#[test]
fn a_diverted_path_belongs_to_the_diverting_package() {
    let mut fake = Fake::new();
    fake.package("Package: orig", &["/usr/bin/tool"]);
    std::fs::rename(fake.host("/usr/bin/tool"), fake.host("/usr/bin/tool.distrib")).expect("divert");
    fake.package("Package: diverter", &["/usr/bin/tool"]);
    fake.file("/var/lib/dpkg/diversions", "/usr/bin/tool\n/usr/bin/tool.distrib\ndiverter\n");
    let plan = fake.plan(&["/usr/bin/tool"], &MinifyOptions::default()).expect("plans");
    assert!(matches!(reason(&plan, "diverter"), Some(KeepReason::Accessed { .. })));
    assert_eq!(plan.removed, ["orig"]);
    assert_eq!(plan.delete, ["/usr/bin/tool.distrib"]);
}

#[test]
fn packages_not_fully_installed_are_left_alone() {
    let mut fake = Fake::new();
    fake.package("Package: old\nStatus: deinstall ok config-files", &["/etc/old.conf"]);
    let (_, report) = fake.minify(&[], &MinifyOptions::default());
    assert!(report.packages_before.is_empty() && report.removed_packages.is_empty());
    assert!(fake.exists("/etc/old.conf") && fake.status().contains("Package: old"));
}

#[test]
fn protected_paths_are_never_touched() {
    let mut fake = Fake::new();
    fake.package("Package: runtime", &["/berth/placeholder", "/usr/bin/runtime"]);
    let (_, report) = fake.minify(&[], &MinifyOptions::default());
    assert_eq!(report.removed_packages, ["runtime"]);
    assert!(fake.exists("/berth/placeholder") && !fake.exists("/usr/bin/runtime"));
}

#[test]
fn no_package_database_says_what_to_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = berth_minify::plan(dir.path(), &trace(&[]), &MinifyOptions::default()).expect_err("no db");
    assert!(matches!(err, MinifyError::NoPackageDatabase { .. }));
    assert!(err.to_string().contains("hint:"), "{err}");
}

#[test]
fn apk_databases_are_read_and_edited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let installed = "\
C:Q1\nP:musl\nV:1.2.4-r2\nA:x86_64\np:so:libc.musl-x86_64.so.1=1\nF:lib\nR:ld-musl-x86_64.so.1\n\n\
P:apk-tools\nV:2.14.0-r5\nA:x86_64\nD:musl>=1.2 so:libc.musl-x86_64.so.1\nF:sbin\nR:apk\n\n\
P:app\nV:1.0-r0\nD:so:libz.so.1 !conflicting\nF:usr/bin\nR:app\n\n\
P:zlib\nV:1.3-r0\np:so:libz.so.1=1.3\nF:lib\nR:libz.so.1\n\n\
P:extra\nV:2-r0\nF:usr/share/extra\nR:data\n\n";
    for d in ["lib/apk/db", "etc/apk", "lib", "sbin", "usr/bin", "usr/share/extra"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::write(root.join("lib/apk/db/installed"), installed).expect("installed");
    std::fs::write(root.join("etc/apk/world"), "app\nextra\n").expect("world");
    for f in ["lib/ld-musl-x86_64.so.1", "sbin/apk", "usr/bin/app", "lib/libz.so.1", "usr/share/extra/data"] {
        std::fs::write(root.join(f), "x").expect("file");
    }
    let plan = berth_minify::plan(root, &trace(&["/usr/bin/app"]), &MinifyOptions::default()).expect("plans");
    assert_eq!(reason(&plan, "zlib"), Some(KeepReason::DependencyOf { package: "app".into() }));
    assert_eq!(reason(&plan, "apk-tools"), Some(KeepReason::PackageManager));
    assert_eq!(reason(&plan, "musl"), Some(KeepReason::Essential));
    let report = berth_minify::apply(root, &plan).expect("applies");
    assert_eq!(report.removed_packages, ["extra"]);
    assert_eq!(report.packages_after, ["apk-tools", "app", "musl", "zlib"]);
    assert!(!root.join("usr/share/extra").exists(), "its files and then its empty directory go");
    assert_eq!(std::fs::read_to_string(root.join("etc/apk/world")).expect("world"), "app\n");
}

#[test]
fn python_metadata_stays_with_a_distribution_that_stays_in_part() {
    let mut fake = Fake::new();
    fake.package("Package: python3", &["/usr/bin/python3"]);
    let site = "/usr/local/lib/python3.11/dist-packages";
    for (dist, files) in
        [("used-1.0", ["used/__init__.py", "used/extra.py"]), ("unused-2.0", ["unused/__init__.py", "unused/x.py"])]
    {
        let record: String = files.iter().map(|f| format!("{f},sha256=x,1\n")).collect();
        fake.file(&format!("{site}/{dist}.dist-info/RECORD"), &format!("{record}{dist}.dist-info/METADATA,,\n"));
        fake.file(&format!("{site}/{dist}.dist-info/METADATA"), "Name: x\n");
        for f in files {
            fake.file(&format!("{site}/{f}"), "");
        }
    }
    fake.file(&format!("{site}/old.egg-info/PKG-INFO"), "");
    let accessed = format!("{site}/used/__init__.py");
    let opts = MinifyOptions { prune_unowned: true, ..MinifyOptions::default() };
    let (_, report) = fake.minify(&["/usr/bin/python3", &accessed], &opts);
    assert!(fake.exists(&accessed) && !fake.exists(&format!("{site}/used/extra.py")));
    assert!(fake.exists(&format!("{site}/used-1.0.dist-info/METADATA")), "scanners still see `used`");
    assert!(
        !fake.exists(&format!("{site}/unused")) && !fake.exists(&format!("{site}/unused-2.0.dist-info")),
        "{:?}",
        report.files_removed
    );
    assert!(fake.exists(&format!("{site}/old.egg-info/PKG-INFO")));
}

#[test]
fn files_a_removed_package_generated_in_its_directories_go_with_it() {
    let mut fake = Fake::new();
    fake.package("Package: python3-pip", &["/usr/lib/python3/dist-packages/pip/__init__.py"]);
    fake.package("Package: python3-numpy", &["/usr/lib/python3/dist-packages/numpy/__init__.py"]);
    // py3compile wrote these; no package lists them.
    fake.file("/usr/lib/python3/dist-packages/pip/__pycache__/__init__.cpython-311.pyc", "");
    fake.file("/usr/lib/python3/dist-packages/numpy/__pycache__/__init__.cpython-311.pyc", "");
    let (plan, report) = fake.minify(&["/usr/lib/python3/dist-packages/numpy/__init__.py"], &MinifyOptions::default());
    assert_eq!(plan.removed, ["python3-pip"]);
    assert!(!fake.exists("/usr/lib/python3/dist-packages/pip"), "{:?}", report.files_removed);
    assert!(fake.exists("/usr/lib/python3/dist-packages/numpy/__pycache__/__init__.cpython-311.pyc"));
    assert_eq!(
        report.unowned_unaccessed,
        ["/usr/lib/python3/dist-packages/numpy/__pycache__/__init__.cpython-311.pyc"]
    );
}

#[test]
fn an_empty_trace_is_refused() {
    let mut fake = Fake::new();
    fake.package("Package: a", &["/usr/bin/a"]);
    let only_failures = trace(&["!/usr/bin/nothing"]).accesses.into_iter().filter(|a| !a.ok).collect();
    for empty in [Trace::default(), only_failures] {
        let err = berth_minify::plan(fake.root(), &empty, &MinifyOptions::default()).expect_err("refused");
        assert!(matches!(err, MinifyError::EmptyTrace), "{err}");
    }
}

#[test]
fn a_hard_linked_file_frees_bytes_only_when_its_last_link_goes() {
    let mut fake = Fake::new();
    fake.package("Package: kept", &["/usr/bin/kept"]);
    fake.package("Package: gone", &["/usr/bin/gone-alone"]);
    std::fs::write(fake.host("/usr/bin/kept"), "0123456789").expect("write");
    std::fs::hard_link(fake.host("/usr/bin/kept"), fake.host("/usr/bin/gone-linked")).expect("link");
    fake.package("Package: gone-too", &["/usr/bin/gone-linked"]);
    let size = std::fs::metadata(fake.host("/usr/bin/gone-alone")).expect("stat").len();
    let (_, report) = fake.minify(&["/usr/bin/kept"], &MinifyOptions::default());
    assert_eq!(report.removed_packages, ["gone", "gone-too"]);
    assert_eq!(report.bytes_freed, size, "the hard link to a kept file frees nothing");
}
