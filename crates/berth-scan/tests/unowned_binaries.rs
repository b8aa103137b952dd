//! Binaries no package owns, end to end: a root filesystem (and the same files as a
//! docker archive) holding a dpkg-owned program, a pip wheel's extension and entry point, a Go
//! binary (Syft's own, from tests/peers/install.sh), a Rust binary with a `cargo auditable`
//! section, a copied shared library and a script. berth lists exactly the three unowned ELF
//! files with their SHA-256, attributes the Go modules as Syft does, the crates from the audit
//! section, and `berth scan` matches them against Go and crates.io records.
//!
//! Needs Python 3 and pip's network to PyPI the first time (the peers), and `objcopy`
//! (binutils). Fails with the reason when one is missing; never skips.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_inventory::{Inventory, PackageKind, Target, sbom_local};
use sha2::{Digest, Sha256};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

fn syft() -> PathBuf {
    let out = Command::new("bash").arg(repo().join("tests/peers/install.sh")).output().expect("run install.sh");
    assert!(out.status.success(), "installing the peers failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    PathBuf::from(text.lines().find_map(|l| l.strip_prefix("SYFT=")).expect("SYFT= line"))
}

fn write(root: &Path, rel: &str, bytes: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("read")))
}

/// The SHA-1 `sha1sum` (coreutils) prints.
fn sha1sum(path: &Path) -> String {
    let out = Command::new("sha1sum").arg(path).output().expect("sha1sum (coreutils)");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

/// A copy of the host's `true` with the `.dep-v0` section `cargo auditable` writes.
fn rust_binary(dir: &Path) -> Vec<u8> {
    let json = br#"{"packages":[{"name":"rtool","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},{"name":"smallvec","version":"1.6.0","source":"crates.io"},{"name":"time","version":"0.1.44","source":"crates.io","dependencies":[3]},{"name":"libc","version":"0.2.150","source":"crates.io"}]}"#;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(json).expect("compress");
    let section = dir.join("dep-v0");
    std::fs::write(&section, z.finish().expect("zlib")).expect("write section");
    let out = dir.join("rtool");
    let status = Command::new("objcopy")
        .arg("--add-section")
        .arg(format!(".dep-v0={}", section.display()))
        .arg("/usr/bin/true")
        .arg(&out)
        .status()
        .expect("objcopy (binutils) is needed to add a cargo auditable section");
    assert!(status.success(), "objcopy failed");
    std::fs::read(out).expect("read")
}

/// The root filesystem; returns its directory.
fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    let elf = std::fs::read("/usr/bin/true").expect("/usr/bin/true");
    let libz =
        std::fs::read(std::fs::canonicalize("/usr/lib/x86_64-linux-gnu/libz.so.1").expect("libz")).expect("libz");
    write(
        &root,
        "etc/os-release",
        b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        0o644,
    );
    write(&root, "etc/debian_version", b"12.8\n", 0o644);
    write(
        &root,
        "var/lib/dpkg/status",
        b"Package: coreutils\nStatus: install ok installed\nVersion: 9.1-1\nArchitecture: amd64\n\n",
        0o644,
    );
    // dpkg names the file through /bin, a link to usr/bin on a merged-/usr system.
    write(&root, "var/lib/dpkg/info/coreutils.list", b"/.\n/bin\n/bin/true\n", 0o644);
    write(&root, "var/lib/dpkg/info/coreutils.postinst", b"#!/bin/sh\nexit 0\n", 0o755);
    std::os::unix::fs::symlink("usr/bin", root.join("bin")).expect("symlink");
    write(&root, "usr/bin/true", &elf, 0o755);
    // A wheel: its extension module and its entry point are the wheel's.
    let site = "usr/local/lib/python3.11/dist-packages";
    write(
        &root,
        &format!("{site}/fake-1.0.dist-info/METADATA"),
        b"Metadata-Version: 2.1\nName: fake\nVersion: 1.0\n",
        0o644,
    );
    write(
        &root,
        &format!("{site}/fake-1.0.dist-info/RECORD"),
        b"fake/_ext.cpython-311-x86_64-linux-gnu.so,sha256=x,1\n../../../bin/fake-cli,sha256=y,2\nfake-1.0.dist-info/RECORD,,\n",
        0o644,
    );
    write(&root, &format!("{site}/fake/_ext.cpython-311-x86_64-linux-gnu.so"), &libz, 0o644);
    write(&root, "usr/local/bin/fake-cli", &elf, 0o755);
    // Unowned: a script (not a binary), a copied library, a Go and a Rust program.
    write(&root, "usr/local/bin/hello.sh", b"#!/bin/sh\necho hello\n", 0o755);
    write(&root, "opt/lib/libz.so.1", &libz, 0o644);
    write(&root, "opt/go/syft", &std::fs::read(syft()).expect("read syft"), 0o755);
    write(&root, "opt/rust/rtool", &rust_binary(dir), 0o755);
    root
}

/// The same files as a one-layer docker archive.
fn docker_archive(root: &Path, dir: &Path) -> PathBuf {
    let layer = dir.join("layer.tar");
    let status = Command::new("tar").arg("-C").arg(root).arg("-cf").arg(&layer).arg(".").status().expect("tar");
    assert!(status.success());
    let layer_bytes = std::fs::read(&layer).expect("layer");
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&layer_bytes)));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [ { "created_by": "COPY . /" } ],
    }))
    .expect("config");
    let config_name = format!("{}.json", hex::encode(Sha256::digest(&config)));
    let manifest = serde_json::to_vec(&serde_json::json!([
        { "Config": config_name, "RepoTags": ["unowned:test"], "Layers": ["layer/layer.tar"] }
    ]))
    .expect("manifest");
    let out = dir.join("image.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&out).expect("create"));
    for (name, bytes) in
        [("manifest.json", &manifest), (config_name.as_str(), &config), ("layer/layer.tar", &layer_bytes)]
    {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, bytes.as_slice()).expect("append");
    }
    b.finish().expect("finish");
    out
}

fn modules(inv: &Inventory, kind: PackageKind, at: &str) -> BTreeSet<(String, String)> {
    inv.packages
        .iter()
        .filter(|p| p.kind == kind && p.location == at)
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect()
}

fn check(inv: &Inventory, root: &Path) {
    let unowned: Vec<(&str, &str)> = inv.unowned.iter().map(|f| (f.path.as_str(), f.kind.as_str())).collect();
    assert_eq!(
        unowned,
        vec![("opt/go/syft", "executable"), ("opt/lib/libz.so.1", "shared-library"), ("opt/rust/rtool", "executable")],
        "{:#?}",
        inv.unowned
    );
    for f in &inv.unowned {
        assert_eq!(f.sha256.as_deref(), Some(sha256(&root.join(&f.path)).as_str()), "{}", f.path);
        assert_eq!(f.sha1.as_deref(), Some(sha1sum(&root.join(&f.path)).as_str()), "{}", f.path);
        assert_eq!(f.size, std::fs::metadata(root.join(&f.path)).expect("stat").len());
    }
    // SPDX 2.3 lists each with the SHA1 it requires, and the SHA256.
    let spdx: serde_json::Value = serde_json::from_str(&berth_inventory::report::render(
        inv,
        berth_inventory::report::Format::Spdx,
        &berth_inventory::report::DocumentMeta::now(),
    ))
    .expect("SPDX JSON");
    let files = spdx["files"].as_array().expect("files");
    assert_eq!(files.len(), inv.unowned.len());
    for file in files {
        let algorithms: Vec<&str> =
            file["checksums"].as_array().expect("checksums").iter().filter_map(|c| c["algorithm"].as_str()).collect();
        assert_eq!(algorithms, ["SHA1", "SHA256"], "{file}");
    }
    let go = &inv.unowned[0];
    assert!(go.toolchain.as_deref().is_some_and(|t| t.starts_with("go1.")), "{go:?}");
    assert_eq!(go.main.as_deref(), Some("github.com/anchore/syft"));
    let rust = &inv.unowned[2];
    assert_eq!((rust.toolchain.as_deref(), rust.main.as_deref()), (Some("rust"), Some("rtool 0.1.0")));
    let crates = modules(inv, PackageKind::Rust, "opt/rust/rtool");
    let expected: BTreeSet<(String, String)> =
        [("libc", "0.2.150"), ("smallvec", "1.6.0"), ("time", "0.1.44")].map(|(n, v)| (n.into(), v.into())).into();
    assert_eq!(crates, expected);
    let smallvec = inv.packages.iter().find(|p| p.name == "smallvec").expect("smallvec");
    assert_eq!(smallvec.purl, "pkg:cargo/smallvec@1.6.0");
    assert!(inv.packages.iter().any(|p| p.purl == "pkg:golang/golang.org/x/net@v0.32.0"), "x/net purl");
    // The wheel's files and dpkg's are owned; the script is not a binary.
    assert!(inv.packages.iter().any(|p| p.kind == PackageKind::Python && p.name == "fake"));
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
}

#[test]
fn unowned_binaries_are_listed_hashed_and_attributed_as_syft_does() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = rootfs(dir.path());
    let from_dir = sbom_local(&Target::Rootfs(root.clone())).expect("rootfs inventory");
    check(&from_dir, &root);
    let archive = docker_archive(&root, dir.path());
    let from_archive = sbom_local(&Target::DockerArchive(archive)).expect("archive inventory");
    check(&from_archive, &root);
    assert_eq!(from_dir.unowned, from_archive.unowned);

    // Syft's Go modules of the same binary (its go-module-binary-cataloger): the same set,
    // except for how the standard library's version is written (`go1.23.4` there, OSV's
    // `1.23.4` here).
    let out = Command::new(syft())
        .args(["scan", "-q", "-o", "json"])
        .arg(format!("dir:{}", root.display()))
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .expect("run syft");
    assert!(out.status.success(), "syft failed: {}", String::from_utf8_lossy(&out.stderr));
    let syft: serde_json::Value = serde_json::from_slice(&out.stdout).expect("syft json");
    let theirs: BTreeSet<(String, String)> = syft["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter(|a| a["type"] == "go-module")
        .map(|a| {
            let version = a["version"].as_str().unwrap_or_default();
            (
                a["name"].as_str().unwrap_or_default().to_owned(),
                version.trim_start_matches("go").trim_start_matches('v').to_owned(),
            )
        })
        .collect();
    let ours = modules(&from_dir, PackageKind::Go, "opt/go/syft");
    assert!(ours.len() > 150, "{} Go modules", ours.len());
    assert_eq!(ours, theirs, "berth and Syft attribute different Go modules to Syft's binary");
    let syft_crates: BTreeSet<String> = syft["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter(|a| a["type"] == "rust-crate")
        .map(|a| format!("{} {}", a["name"].as_str().unwrap_or_default(), a["version"].as_str().unwrap_or_default()))
        .collect();
    // Syft lists the root crate too; berth names it as the binary's main crate.
    assert_eq!(syft_crates, ["libc 0.2.150", "rtool 0.1.0", "smallvec 1.6.0", "time 0.1.44"].map(String::from).into());

    // Scanned against Go and crates.io records: the modules are matched; the binaries are
    // their own finding class.
    let db_dir = tempfile::tempdir().expect("tmp");
    let db_path = db_dir.path().join("adv.sqlite");
    let records = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/osv-binaries.json");
    berth_advisory::update(
        &[records.to_string_lossy().into_owned()],
        &berth_advisory::UpdateOptions::new(db_path.clone()),
    )
    .expect("database");
    let db = berth_advisory::Database::open(&db_path).expect("open");
    let go_toolchain = from_dir.unowned[0].toolchain.clone().expect("go toolchain");
    let report = berth_scan::scan_inventory(from_dir, &db, &berth_scan::ScanOptions::default()).expect("scan");
    // The Go and GitHub records of the x/net vulnerability alias each other: one finding,
    // named by either.
    let canonical = |id: &str| if id == "GHSA-w32m-9786-jp63" { "GO-2024-3333".to_owned() } else { id.to_owned() };
    let found: BTreeSet<(String, String, Option<String>)> =
        report.findings.iter().map(|f| (canonical(&f.id), f.package.clone(), f.fixed_version.clone())).collect();
    let go_version = go_toolchain.strip_prefix("go").expect("go version").to_owned();
    let mut expected: BTreeSet<(String, String, Option<String>)> = [
        ("GO-2024-3333", "golang.org/x/net", Some("0.33.0")),
        ("RUSTSEC-2021-0003", "smallvec", Some("1.6.1")),
        ("RUSTSEC-2020-0071", "time", Some("0.2.23")),
    ]
    .map(|(i, p, f)| (i.to_owned(), p.to_owned(), f.map(str::to_owned)))
    .into();
    // Syft 1.18.1 was built with Go 1.23.4, inside the record's second range.
    if go_version.starts_with("1.23.") && go_version.as_str() < "1.23.5" {
        expected.insert(("GO-2025-3373".into(), "stdlib".into(), Some("1.23.5".into())));
    }
    assert_eq!(found, expected, "{:#?}", report.findings);
    let net = report.findings.iter().find(|f| f.package == "golang.org/x/net").expect("x/net");
    let ids: BTreeSet<&str> = std::iter::once(net.id.as_str()).chain(net.aliases.iter().map(String::as_str)).collect();
    assert!(
        ids.contains("GO-2024-3333") && ids.contains("GHSA-w32m-9786-jp63"),
        "one finding for both records: {net:?}"
    );
    assert_eq!(net.location, "opt/go/syft");
    let unowned: Vec<(&str, usize)> = report.unowned.iter().map(|u| (u.path.as_str(), u.accounted)).collect();
    assert_eq!(unowned[1], ("opt/lib/libz.so.1", 0));
    assert!(unowned[0].1 > 150 && unowned[2].1 == 3, "{unowned:?}");
    let table = berth_scan::report::table::render(&report);
    assert!(table.contains("UNOWNED BINARIES (3, 1 with nothing known of their contents)"), "{table}");
}
