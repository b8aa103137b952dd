//! Hostile archives against the real `berth` binary (issue 14, finding 6 and the red-team of
//! archives): decompression bombs for `berth sbom`, tar header records that the `tar` crate
//! would read whole into memory, huge JSON documents, OCI layouts reached through links,
//! `berth image import` of archives whose names, links and digests point outside, and an OSV
//! zip bomb for `berth db update`.
//!
//! Every bomb is generated here as it is written, never held decompressed: a gzip stream may be
//! many members, so 1 MiB of zeros is compressed once and its member repeated; a raw deflate
//! stream may be many blocks, so a fully flushed 1 MiB block is repeated likewise; a huge member
//! of an uncompressed tar is a hole in a sparse file. Peak memory of the `berth` process is
//! measured with `wait4(2)`'s `ru_maxrss`.
//!
//! `extra_image_import_refuses_hostile_archives` needs a Docker engine (`DOCKER_HOST`, else
//! `scripts/dockerd.sh` through berth-testkit); it fails with the reason when there is none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

const MIB: u64 = 1 << 20;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A gzip-compressed tar layer written member by member, so that its decompressed size costs
/// nothing here.
struct GzTar {
    out: Vec<u8>,
    mib_of_zeros: Vec<u8>,
}

impl GzTar {
    fn new() -> Self {
        Self { out: Vec::new(), mib_of_zeros: gz(&vec![0; MIB as usize]) }
    }

    fn header(&mut self, name: &str, size: u64, kind: tar::EntryType) {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(kind);
        h.set_cksum();
        self.out.extend(gz(h.as_bytes()));
    }

    /// `size` bytes of zeros (rounded up to the tar block).
    fn zeros(&mut self, size: u64) {
        let size = size.div_ceil(512) * 512;
        for _ in 0..size / MIB {
            self.out.extend_from_slice(&self.mib_of_zeros);
        }
        if !size.is_multiple_of(MIB) {
            self.out.extend(gz(&vec![0; (size % MIB) as usize]));
        }
    }

    /// A file whose content is `size` zeros.
    fn zero_file(&mut self, name: &str, size: u64, kind: tar::EntryType) {
        self.header(name, size, kind);
        self.zeros(size);
    }

    fn small(&mut self, name: &str, data: &[u8]) {
        self.header(name, data.len() as u64, tar::EntryType::Regular);
        let mut padded = data.to_vec();
        padded.resize(data.len().div_ceil(512) * 512, 0);
        self.out.extend(gz(&padded));
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.extend(gz(&[0; 1024]));
        self.out
    }
}

/// A `docker save`-style archive of `config` and gzip `layers`.
fn docker_archive(path: &Path, config: &[u8], layers: &[Vec<u8>]) {
    let names: Vec<String> = (0..layers.len()).map(|i| format!("{i}/layer.tar")).collect();
    let manifest = serde_json::json!([{"Config": "config.json", "RepoTags": ["hostile:1"], "Layers": names}]);
    let mut b = tar::Builder::new(File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("manifest.json", manifest.to_string().as_bytes());
    add("config.json", config);
    for (name, layer) in names.iter().zip(layers) {
        add(name, layer);
    }
    b.finish().unwrap();
}

const CONFIG: &[u8] = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

/// What a measured run of `berth` did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Peak resident memory of the `berth` process.
    max_rss_mib: u64,
}

/// Reap `pid` with `wait4(2)`: its wait status and its resource usage (the only way to learn a
/// child's own peak RSS once it is gone).
#[allow(unsafe_code)]
fn wait4(pid: u32) -> (libc::c_int, libc::rusage) {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: both out-pointers point at live locals; `pid` is our own unreaped child.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 failed: {}", std::io::Error::last_os_error());
    (status, usage)
}

/// `berth ARGS` with its own `BERTH_HOME` (and `config` as its configuration file), measured.
#[allow(clippy::zombie_processes)] // reaped by `wait4`, which `Child::wait` cannot replace
fn berth(home: &Path, config: Option<&str>, args: &[&str]) -> Run {
    let config_path = home.join("config.toml");
    match config {
        Some(c) => std::fs::write(&config_path, c).unwrap(),
        None => {
            let _ = std::fs::remove_file(&config_path);
        }
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("BERTH_HOME", home)
        .env("BERTH_CONFIG", &config_path)
        .env_remove("BERTH_ENGINE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            r.read_to_end(&mut s).unwrap();
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let (status, usage) = wait4(child.id());
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    // ru_maxrss is in KiB on Linux.
    let max_rss_mib = u64::try_from(usage.ru_maxrss).unwrap() / 1024;
    Run { code, stdout: out.join().unwrap(), stderr: err.join().unwrap(), max_rss_mib }
}

fn python(name: &str) -> String {
    format!("usr/lib/python3/dist-packages/{name}-1.0.dist-info/METADATA")
}

/// The bomb of the issue: a small archive holding 4 × 256 MiB `METADATA` files of zeros, and
/// one genuine package beside them.
fn bomb(dir: &Path) -> std::path::PathBuf {
    let mut t = GzTar::new();
    t.small(&python("genuine"), b"Metadata-Version: 2.1\nName: genuine\nVersion: 1.0\n");
    for i in 0..4 {
        t.zero_file(&python(&format!("bomb{i}")), 256 * MIB, tar::EntryType::Regular);
    }
    let layer = t.finish();
    assert!(layer.len() < 4 << 20, "the bomb should be small: {} bytes", layer.len());
    let path = dir.join("bomb.tar");
    docker_archive(&path, CONFIG, &[layer]);
    path
}

#[test]
fn finding_06_a_decompression_bomb_stays_bounded_and_the_skipped_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let archive = bomb(dir.path());
    let target = format!("docker-archive:{}", archive.display());
    let run = berth(dir.path(), None, &["sbom", &target, "--format", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.max_rss_mib < 300, "berth sbom peaked at {} MiB on a 4 MiB archive", run.max_rss_mib);
    for i in 0..4 {
        let name = python(&format!("bomb{i}"));
        assert!(run.stderr.contains(&format!("skipped `{name}`")), "no warning names {name}:\n{}", run.stderr);
    }
    assert!(run.stderr.contains("`[inventory] max_file_bytes`"), "{}", run.stderr);
    assert!(run.stderr.contains("missing from this inventory"), "{}", run.stderr);
    // The rest of the image is still read, and the report itself says what was skipped.
    let sbom: Value = serde_json::from_str(&run.stdout).unwrap();
    let names: Vec<&str> = sbom["packages"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(names.contains(&"genuine"), "{names:?}");
    let warnings = sbom["warnings"].to_string();
    assert!(warnings.contains(&python("bomb3")), "{warnings}");
}

#[test]
fn finding_06_the_held_and_read_budgets_come_from_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    // Under the per-file limit, but three of them pass the held budget.
    let mut t = GzTar::new();
    for i in 0..3 {
        t.zero_file(&python(&format!("held{i}")), 60 * MIB, tar::EntryType::Regular);
    }
    let archive = dir.path().join("held.tar");
    docker_archive(&archive, CONFIG, &[t.finish()]);
    let target = format!("docker-archive:{}", archive.display());
    let config = "[inventory]\nmax_file_bytes = \"64m\"\nmax_held_bytes = \"100m\"\n";
    let run = berth(dir.path(), Some(config), &["sbom", &target]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains(&format!("skipped `{}`", python("held0"))), "{}", run.stderr);
    for i in 1..3 {
        let warning = format!(
            "skipped `{}`: keeping its 60 MiB would pass `[inventory] max_held_bytes`",
            python(&format!("held{i}"))
        );
        assert!(run.stderr.contains(&warning), "{}", run.stderr);
    }
    assert!(run.max_rss_mib < 200, "{} MiB", run.max_rss_mib);

    // The total read per scan: the bomb stops with an error, not a partial inventory.
    let bomb = bomb(dir.path());
    let target = format!("docker-archive:{}", bomb.display());
    let run = berth(dir.path(), Some("[inventory]\nmax_read_bytes = \"300m\"\n"), &["sbom", &target]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("`[inventory] max_read_bytes`") && run.stderr.contains("hint:"), "{}", run.stderr);

    // A limit that is not a size is named.
    let run = berth(dir.path(), Some("[inventory]\nmax_held_bytes = \"lots\"\n"), &["sbom", &target]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("[inventory] max_held_bytes") && run.stderr.contains("`lots`"), "{}", run.stderr);
}

#[test]
fn extra_tar_header_records_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // A GNU long name and a PAX extended header of 512 MiB each: the tar crate reads such a
    // record whole into memory before it yields the entry it describes.
    for (what, kind) in [("long-name", tar::EntryType::GNULongName), ("pax", tar::EntryType::XHeader)] {
        let mut t = GzTar::new();
        t.zero_file("././@LongLink", 512 * MIB, kind);
        t.small("etc/os-release", b"ID=debian\nVERSION_ID=12\n");
        let archive = dir.path().join(format!("{what}.tar"));
        docker_archive(&archive, CONFIG, &[t.finish()]);
        let target = format!("docker-archive:{}", archive.display());
        let run = berth(dir.path(), None, &["sbom", &target]);
        assert_eq!(run.code, Some(1), "{what}: {}", run.stderr);
        assert!(run.stderr.contains("long name or PAX extended header"), "{what}: {}", run.stderr);
        assert!(run.max_rss_mib < 100, "{what}: berth peaked at {} MiB", run.max_rss_mib);
    }
}

#[test]
fn extra_a_huge_json_document_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge-config.tar");
    // An uncompressed archive whose config is a 200 MiB hole (a sparse file: no disk used).
    let mut f = File::create(&path).unwrap();
    let manifest = br#"[{"Config":"config.json","RepoTags":[],"Layers":[]}]"#;
    let header = |name: &str, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h
    };
    f.write_all(header("manifest.json", manifest.len() as u64).as_bytes()).unwrap();
    let mut padded = manifest.to_vec();
    padded.resize(512, 0);
    f.write_all(&padded).unwrap();
    f.write_all(header("config.json", 200 * MIB).as_bytes()).unwrap();
    f.seek(SeekFrom::Current(i64::try_from(200 * MIB).unwrap())).unwrap();
    f.write_all(&[0; 1024]).unwrap();
    drop(f);
    let target = format!("docker-archive:{}", path.display());
    let run = berth(dir.path(), None, &["sbom", &target]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("`config.json` is larger than"), "{}", run.stderr);
    assert!(run.stderr.contains("max_document_bytes"), "{}", run.stderr);
    assert!(run.max_rss_mib < 100, "berth peaked at {} MiB", run.max_rss_mib);
}

#[test]
fn extra_an_oci_layout_is_never_read_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let hex = |c: char| c.to_string().repeat(64);
    // Blobs somewhere else on this machine, which the layout reaches through `blobs -> ...`.
    let elsewhere = dir.path().join("elsewhere/blobs/sha256");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let manifest = serde_json::json!({"schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", hex('c'))},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", hex('1'))}]});
    std::fs::write(elsewhere.join(hex('a')), manifest.to_string()).unwrap();
    std::fs::write(elsewhere.join(hex('c')), CONFIG).unwrap();
    let mut t = GzTar::new();
    t.small("etc/os-release", b"ID=host-secret\nVERSION_ID=1\n");
    std::fs::write(elsewhere.join(hex('1')), t.finish()).unwrap();

    let layout = dir.path().join("layout");
    std::fs::create_dir_all(&layout).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", hex('a'))}]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::os::unix::fs::symlink(dir.path().join("elsewhere/blobs"), layout.join("blobs")).unwrap();

    let target = format!("oci-dir:{}", layout.display());
    let run = berth(dir.path(), None, &["sbom", &target, "--format", "json"]);
    assert_eq!(run.code, Some(1), "the layout was read through its link:\n{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert!(!run.stdout.contains("host-secret"), "{}", run.stdout);

    // The same for `index.json` itself as a link to a file of this machine.
    std::fs::remove_file(layout.join("blobs")).unwrap();
    std::fs::remove_file(layout.join("index.json")).unwrap();
    std::fs::write(dir.path().join("index.json"), index.to_string()).unwrap();
    std::os::unix::fs::symlink(dir.path().join("index.json"), layout.join("index.json")).unwrap();
    let run = berth(dir.path(), None, &["sbom", &target]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
}

/// A tar entry written as given, with no checks on its name or link (as an attacker would).
fn raw_entry(b: &mut tar::Builder<File>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

#[test]
fn extra_image_import_refuses_hostile_archives() {
    let host = berth_testkit::docker_host();
    let dir = tempfile::tempdir().unwrap();
    let hex = |c: char| c.to_string().repeat(64);
    let index = |digest: &str| {
        serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest}]})
        .to_string()
    };
    let manifest = serde_json::json!({"schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", hex('c'))},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{}", hex('1'))}]})
    .to_string();
    use tar::EntryType::{Regular, Symlink};
    type Entries = Vec<(String, tar::EntryType, String, Vec<u8>)>;
    let cases: Vec<(&str, Entries, String)> = vec![
        (
            "digest-path",
            vec![("index.json".into(), Regular, String::new(), index("sha256:../../../../etc/passwd").into_bytes())],
            "refusing `sha256:../../../../etc/passwd`".into(),
        ),
        (
            "dotdot-entry",
            vec![
                ("manifest.json".into(), Regular, String::new(), b"[]".to_vec()),
                ("../../../tmp/berth-escape".into(), Regular, String::new(), b"x".to_vec()),
            ],
            "refusing `../../../tmp/berth-escape`".into(),
        ),
        (
            "blob-link",
            vec![
                ("index.json".into(), Regular, String::new(), index(&format!("sha256:{}", hex('a'))).into_bytes()),
                (format!("blobs/sha256/{}", hex('a')), Regular, String::new(), manifest.into_bytes()),
                (format!("blobs/sha256/{}", hex('c')), Regular, String::new(), CONFIG.to_vec()),
                (format!("blobs/sha256/{}", hex('1')), Symlink, "/etc/shadow".into(), Vec::new()),
            ],
            "outside the archive".into(),
        ),
    ];
    for (what, entries, expected) in cases {
        let path = dir.path().join(format!("{what}.tar"));
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        raw_entry(&mut b, "oci-layout", Regular, "", br#"{"imageLayoutVersion":"1.0.0"}"#);
        for (name, kind, link, data) in &entries {
            raw_entry(&mut b, name, *kind, link, data);
        }
        b.finish().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["image", "import", path.to_str().unwrap()])
            .env("BERTH_HOME", dir.path())
            .env("BERTH_CONFIG", dir.path().join("none.toml"))
            .env("DOCKER_HOST", &host)
            .env_remove("BERTH_ENGINE")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(stderr.contains(&expected), "{what}: expected {expected:?} in:\n{stderr}");
        assert!(stderr.contains("hint: the archive is malformed or malicious"), "{what}: {stderr}");
    }
}

/// A zip holding `members`: (name, raw deflate data, CRC-32, uncompressed size).
fn zip(path: &Path, members: &[(&str, Vec<u8>, u32, u64)]) {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, crc, size) in members {
        let offset = u32::try_from(out.len()).unwrap();
        let (csize, usize_) = (u32::try_from(data.len()).unwrap(), u32::try_from(*size).unwrap());
        let name_len = u16::try_from(name.len()).unwrap();
        out.extend(0x0403_4b50u32.to_le_bytes());
        for v in [20u16, 0, 8, 0, 0] {
            out.extend(v.to_le_bytes());
        }
        for v in [*crc, csize, usize_] {
            out.extend(v.to_le_bytes());
        }
        out.extend(name_len.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        for v in [20u16, 20, 0, 8, 0, 0] {
            central.extend(v.to_le_bytes());
        }
        for v in [*crc, csize, usize_] {
            central.extend(v.to_le_bytes());
        }
        for v in [name_len, 0, 0, 0, 0] {
            central.extend(v.to_le_bytes());
        }
        central.extend(0u32.to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).unwrap();
    let cd_size = u32::try_from(central.len()).unwrap();
    out.extend(central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    let n = u16::try_from(members.len()).unwrap();
    for v in [0u16, 0, n, n] {
        out.extend(v.to_le_bytes());
    }
    out.extend(cd_size.to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    std::fs::write(path, out).unwrap();
}

/// Raw deflate of `data`, one stream.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn extra_db_update_skips_a_zip_bomb_record_by_name_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // 1 GiB of zeros as 1024 copies of one fully flushed deflate block (each starts afresh).
    let mut c = flate2::Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(1 << 20);
    c.compress_vec(&vec![0; MIB as usize], &mut block, flate2::FlushCompress::Full).unwrap();
    let mut bomb = Vec::new();
    let mut crc = flate2::Crc::new();
    let zeros = vec![0u8; MIB as usize];
    for _ in 0..1024 {
        bomb.extend_from_slice(&block);
        crc.update(&zeros);
    }
    bomb.extend(deflate(&[]));
    let record = br#"{"id":"BERTH-TEST-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0"}]}]}]}"#;
    let mut record_crc = flate2::Crc::new();
    record_crc.update(record);
    let path = dir.path().join("all.zip");
    zip(
        &path,
        &[
            ("bomb.json", bomb, crc.sum(), 1 << 30),
            // A name that would climb out if berth ever wrote members under their names.
            ("../../../escape.json", deflate(record), record_crc.sum(), record.len() as u64),
        ],
    );
    let run = berth(dir.path(), None, &["db", "update", "--source", path.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("bomb.json: larger than"), "the skipped record is not named:\n{}", run.stderr);
    assert!(run.max_rss_mib < 200, "berth db update peaked at {} MiB", run.max_rss_mib);
    // The good record was loaded; nothing was written outside the database's directory.
    let status = berth(dir.path(), None, &["db", "status", "--json"]);
    assert!(status.stdout.contains("\"records\": 1") || status.stdout.contains("\"records\":1"), "{}", status.stdout);
    assert!(!dir.path().join("../../../escape.json").exists());
}

/// What Apptainer makes of one `--env` argument: pflag's `stringToString.Set` (one `=`: the
/// text whole, `"` trimmed from both ends; more: one record of Go's `encoding/csv`), then each
/// field split at its first `=`.
fn apptainer_env(arg: &str) -> Vec<(String, String)> {
    let fields: Vec<String> = if arg.matches('=').count() == 1 {
        vec![arg.trim_matches('"').to_owned()]
    } else {
        let (mut fields, mut field, mut chars) = (Vec::new(), String::new(), arg.chars().peekable());
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' if field.is_empty() && !quoted => quoted = true,
                '"' if quoted && chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' if quoted => quoted = false,
                ',' if !quoted => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        fields
    };
    fields.iter().map(|f| f.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap()).collect()
}

#[test]
fn extra_an_apptainer_env_value_cannot_set_another_variable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.path().join("exec.args");
    // A stand-in for `apptainer` that records what berth asks it to run.
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  --version) echo \"apptainer version 1.3.4\" ;;\n  inspect) echo '{{}}' ;;\n  pull) echo SIF > \"$3\" ;;\n  exec|run) printf '%s\\n' \"$@\" > '{}'; exit 0 ;;\nesac\n",
        log.display()
    );
    std::fs::write(bin.join("apptainer"), script).unwrap();
    std::fs::set_permissions(bin.join("apptainer"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let descriptor = dir.path().join("t.json");
    std::fs::write(
        &descriptor,
        r#"{"name": "t", "tool-version": "1", "description": "d", "schema-version": "0.5", "command-line": "echo [X]",
            "container-image": {"type": "docker", "image": "example/tool:1"},
            "environment-variables": [{"name": "OPTS", "value": "a,LD_PRELOAD=/tmp/evil.so"}],
            "inputs": [{"id": "x", "name": "X", "type": "String", "value-key": "[X]"}]}"#,
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "run",
            "--engine",
            "apptainer",
            descriptor.to_str().unwrap(),
            "-i",
            r#"{"x": "hi"}"#,
            "--output-dir",
            "o",
        ])
        .current_dir(dir.path())
        .env("PATH", &path)
        .env("BERTH_HOME", dir.path().join("home"))
        .env("BERTH_CONFIG", dir.path().join("no-config.toml"))
        .env_remove("DOCKER_HOST")
        .env_remove("CONTAINER_HOST")
        .env_remove("BERTH_ENGINE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let args: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect();
    let envs: Vec<(String, String)> =
        args.windows(2).filter(|w| w[0] == "--env").flat_map(|w| apptainer_env(&w[1])).collect();
    assert!(
        envs.iter().all(|(k, _)| k != "LD_PRELOAD"),
        "an environment value set LD_PRELOAD through Apptainer's --env: {args:?}"
    );
    assert!(envs.contains(&("OPTS".to_owned(), "a,LD_PRELOAD=/tmp/evil.so".to_owned())), "{envs:?}");
}
