//! Image archives: telling a docker-archive (`docker save`: `manifest.json`) from an OCI
//! archive (`oci-layout` + `index.json`, e.g. `podman save --format oci-archive`), and turning
//! an OCI archive into a docker-archive, which every engine's load endpoint accepts (Docker
//! 20.10 loads only docker-archives).
//!
//! The conversion keeps every blob where it is and adds a `manifest.json` whose `Config` and
//! `Layers` point at `blobs/sha256/<hex>`: the engine's loader opens those paths, decompresses
//! gzip layers itself and checks them against the config's `rootfs.diff_ids`.
//!
//! An archive is untrusted until checked, before any engine sees it: every entry name must stay
//! inside the archive (no `..` climbing out, not absolute), every link must point inside it,
//! only files, directories and links may appear, digests must be `algorithm:hex` (so that
//! `sha256:../../etc/passwd` names no path), and a blob a manifest names must be a regular
//! file. Reading is bounded: the tar reader may read at most [`META_WINDOW`] bytes between two
//! entries (GNU long names and PAX records are read whole into memory), at most
//! [`MAX_MEMBERS`] entries are indexed, and only the JSON documents used are read, each up to
//! [`SMALL`] bytes.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::RegistryError;

/// What kind of archive a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveKind {
    /// `docker save` output (has `manifest.json`; may have `index.json` too).
    DockerArchive,
    /// An OCI image layout in a tar, without `manifest.json`.
    OciArchive,
    /// gzip-, bzip2-, xz- or zstd-compressed: handed to the engine as is (it decompresses
    /// docker-archives itself).
    Compressed,
}

/// The largest JSON document (index, manifest, config) read; layers are never read here.
pub const SMALL: u64 = 4 << 20;

/// The most bytes the tar reader may read between two entries (header, long names, PAX).
pub const META_WINDOW: u64 = 1 << 20;

/// The most entries an image archive may have (`docker save` writes a few per layer).
pub const MAX_MEMBERS: usize = 100_000;

fn archive_error(path: &Path, problem: impl Into<String>, source: Option<std::io::Error>) -> RegistryError {
    RegistryError::Archive { path: path.to_owned(), problem: problem.into(), source: source.map(|e| Box::new(e) as _) }
}

fn hostile(path: &Path, entry: &str, problem: impl Into<String>) -> RegistryError {
    RegistryError::HostileArchive { path: path.to_owned(), entry: entry.to_owned(), problem: problem.into() }
}

/// `name` as a path inside the archive: no leading `./` or `/` handling beyond `./`; `.`
/// components and repeated `/` dropped, `..` applied. `None` if it is absolute or climbs out.
pub fn normalize_member(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Where a symbolic link at `member` pointing at `target` leads inside the archive, or `None`.
pub fn link_inside(member: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let dir = member.rsplit_once('/').map_or("", |(d, _)| d);
    normalize_member(&if dir.is_empty() { target.to_owned() } else { format!("{dir}/{target}") })
}

/// A window on the tar reader's reads between entries (see the module documentation).
struct Windowed<R> {
    inner: R,
    left: Arc<AtomicU64>,
}

impl<R: Read> Read for Windowed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.left.load(Ordering::Relaxed);
        let len = buf.len().min(usize::try_from(left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        if left != u64::MAX {
            if n as u64 > left {
                return Err(std::io::Error::other(format!("a tar header record is larger than {META_WINDOW} bytes")));
            }
            self.left.store(left - n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

impl<R: Seek> Seek for Windowed<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(to)
    }
}

/// One checked member of an archive.
struct Member {
    /// Offset of the data and size, for regular files.
    file: Option<(u64, u64)>,
}

/// An archive's members, in order, checked (see the module documentation).
struct Scanned {
    members: Vec<Member>,
    by_name: HashMap<String, usize>,
}

impl Scanned {
    fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The JSON document `name` (a regular file of at most [`SMALL`] bytes).
    fn read(&self, path: &Path, name: &str) -> Result<Vec<u8>, RegistryError> {
        let member = self.by_name.get(name).map(|&i| &self.members[i]);
        let Some(member) = member else {
            return Err(archive_error(path, format!("`{name}` is missing"), None));
        };
        let Some((offset, size)) = member.file else {
            return Err(hostile(path, name, "it is a link or a directory, not the regular file a manifest needs"));
        };
        if size > SMALL {
            return Err(archive_error(path, format!("`{name}` is larger than {SMALL} bytes"), None));
        }
        let io = |e| RegistryError::Io { action: "read", path: path.to_owned(), source: e };
        let mut file = std::fs::File::open(path).map_err(io)?;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut buf = Vec::with_capacity(size as usize);
        file.take(size).read_to_end(&mut buf).map_err(io)?;
        Ok(buf)
    }
}

fn scan(path: &Path) -> Result<Scanned, RegistryError> {
    let file = std::fs::File::open(path).map_err(|e| RegistryError::Io {
        action: "open",
        path: path.to_owned(),
        source: e,
    })?;
    let left = Arc::new(AtomicU64::new(u64::MAX));
    let mut archive = tar::Archive::new(Windowed { inner: file, left: left.clone() });
    let mut scanned = Scanned { members: Vec::new(), by_name: HashMap::new() };
    let mut entries = archive.entries_with_seek().map_err(|e| archive_error(path, "not a tar file", Some(e)))?;
    loop {
        left.store(META_WINDOW, Ordering::Relaxed);
        let next = entries.next();
        left.store(u64::MAX, Ordering::Relaxed);
        let Some(entry) = next else { break };
        let entry = entry.map_err(|e| archive_error(path, "damaged tar entry", Some(e)))?;
        if scanned.members.len() >= MAX_MEMBERS {
            return Err(archive_error(path, format!("it has more than {MAX_MEMBERS} entries"), None));
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = normalize_member(&raw)
            .ok_or_else(|| hostile(path, &raw, "the entry name is absolute or climbs out of the archive with `..`"))?;
        let kind = entry.header().entry_type();
        let link = || entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let file = if kind.is_file() {
            Some((entry.raw_file_position(), entry.size()))
        } else if kind.is_symlink() {
            let target = link();
            if link_inside(&name, &target).is_none() {
                return Err(hostile(path, &raw, format!("it is a link to `{target}`, outside the archive")));
            }
            None
        } else if kind.is_hard_link() {
            let target = link();
            if normalize_member(&target).is_none_or(|t| t.is_empty()) {
                return Err(hostile(path, &raw, format!("it is a hard link to `{target}`, outside the archive")));
            }
            None
        } else if kind.is_dir() || kind.is_pax_global_extensions() {
            None
        } else {
            return Err(hostile(path, &raw, "image archives hold only files, directories and links"));
        };
        if name.is_empty() {
            continue;
        }
        scanned.by_name.insert(name, scanned.members.len());
        scanned.members.push(Member { file });
    }
    if scanned.members.is_empty() {
        return Err(archive_error(path, "the tar file is empty", None));
    }
    Ok(scanned)
}

/// What kind of archive `path` is.
pub fn detect(path: &Path) -> Result<ArchiveKind, RegistryError> {
    let mut magic = [0u8; 6];
    let mut f = std::fs::File::open(path).map_err(|e| RegistryError::Io {
        action: "open",
        path: path.to_owned(),
        source: e,
    })?;
    let n = f.read(&mut magic).map_err(|e| RegistryError::Io { action: "read", path: path.to_owned(), source: e })?;
    let magic = &magic[..n];
    if magic.starts_with(&[0x1f, 0x8b])
        || magic.starts_with(b"BZh")
        || magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
    {
        return Ok(ArchiveKind::Compressed);
    }
    let scanned = scan(path)?;
    if scanned.has("manifest.json") {
        // What the engine's loader will open must be a path inside the archive too.
        let manifest: Vec<DockerManifestEntry> = serde_json::from_slice(&scanned.read(path, "manifest.json")?)
            .map_err(|e| archive_error(path, format!("`manifest.json` is not valid: {e}"), None))?;
        for name in manifest.iter().flat_map(|m| std::iter::once(&m.config).chain(&m.layers)) {
            if normalize_member(name).is_none_or(|n| !scanned.has(&n)) {
                return Err(hostile(path, name, "`manifest.json` names it, and it is not a member of the archive"));
            }
        }
        Ok(ArchiveKind::DockerArchive)
    } else if scanned.has("index.json") {
        Ok(ArchiveKind::OciArchive)
    } else {
        Err(archive_error(path, "it has neither `manifest.json` (docker-archive) nor `index.json` (OCI archive)", None))
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    layers: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(serde::Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(serde::Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(serde::Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

/// [`blob_path`] of a digest checked to be `algorithm:hex` (OCI image-spec `descriptor.md`), so
/// that a digest cannot name another path (`sha256:../../etc/passwd`).
fn checked_blob_path(archive: &Path, digest: &str) -> Result<String, RegistryError> {
    let ok = |s: &str, extra: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    match digest.split_once(':') {
        Some((algorithm, hex)) if ok(algorithm, "+._-") && ok(hex, "=_-") => Ok(blob_path(digest)),
        _ => Err(hostile(archive, digest, "it is not a digest (`algorithm:hex`)")),
    }
}

fn is_index(media_type: &str) -> bool {
    media_type.ends_with("image.index.v1+json") || media_type.ends_with("manifest.list.v2+json")
}

/// The host's architecture in OCI's words.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Convert the OCI archive `source` into a docker-archive at `dest`, naming the image `tag`
/// (else the index's `org.opencontainers.image.ref.name` when that is a full reference).
/// Returns the `RepoTags` written.
pub fn oci_to_docker_archive(source: &Path, dest: &Path, tag: Option<&str>) -> Result<Vec<String>, RegistryError> {
    let scanned = scan(source)?;
    let json = |name: &str| scanned.read(source, name);
    let parse_err =
        |what: &str, e: serde_json::Error| archive_error(source, format!("`{what}` is not valid: {e}"), None);
    let index: Index = serde_json::from_slice(&json("index.json")?).map_err(|e| parse_err("index.json", e))?;
    let mut chosen =
        index.manifests.into_iter().next().ok_or_else(|| archive_error(source, "`index.json` lists no image", None))?;
    let ref_name = chosen.annotations.get("org.opencontainers.image.ref.name").cloned();
    // A nested index (multi-platform image): take the host's platform, else the first.
    let mut depth = 0;
    while is_index(&chosen.media_type) {
        depth += 1;
        if depth > 4 {
            return Err(archive_error(source, "indexes nest more than 4 deep", None));
        }
        let name = checked_blob_path(source, &chosen.digest)?;
        let nested: Index = serde_json::from_slice(&json(&name)?).map_err(|e| parse_err(&name, e))?;
        let pos = nested
            .manifests
            .iter()
            .position(|m| m.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == host_arch()))
            .unwrap_or(0);
        chosen = nested
            .manifests
            .into_iter()
            .nth(pos)
            .ok_or_else(|| archive_error(source, format!("`{name}` lists no image"), None))?;
    }
    let name = checked_blob_path(source, &chosen.digest)?;
    let manifest: Manifest = serde_json::from_slice(&json(&name)?).map_err(|e| parse_err(&name, e))?;
    // The blobs the engine will open must be regular files of the archive, not links.
    let config = checked_blob_path(source, &manifest.config.digest)?;
    let layers = manifest.layers.iter().map(|l| checked_blob_path(source, &l.digest)).collect::<Result<Vec<_>, _>>()?;
    for blob in std::iter::once(&config).chain(&layers) {
        match scanned.by_name.get(blob).map(|&i| &scanned.members[i]) {
            Some(Member { file: Some(_) }) => {}
            Some(_) => return Err(hostile(source, blob, "the manifest names it, and it is a link, not a blob")),
            None => return Err(archive_error(source, format!("`{blob}` is missing"), None)),
        }
    }
    let repo_tags: Vec<String> = match (tag, ref_name) {
        (Some(t), _) => vec![berth_engine::normalize_reference(t)],
        // Only a full reference names an image; a bare tag (`latest`) names nothing.
        (None, Some(r)) if r.contains('/') || r.contains(':') => vec![berth_engine::normalize_reference(&r)],
        _ => Vec::new(),
    };
    let docker_manifest = serde_json::json!([{
        "Config": config,
        "RepoTags": repo_tags,
        "Layers": layers,
    }]);
    let body = serde_json::to_vec(&docker_manifest).map_err(|e| parse_err("manifest.json", e))?;

    // Copy every entry, then add manifest.json; written to a temporary file, then renamed.
    let write_err = |e: std::io::Error| RegistryError::Io { action: "write", path: dest.to_owned(), source: e };
    let tmp: PathBuf = crate::download::partial_path(dest);
    let out = std::fs::File::create(&tmp).map_err(write_err)?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(out));
    let input = std::fs::File::open(source).map_err(|e| RegistryError::Io {
        action: "open",
        path: source.to_owned(),
        source: e,
    })?;
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries().map_err(|e| archive_error(source, "not a tar file", Some(e)))? {
        let mut entry = entry.map_err(|e| archive_error(source, "damaged tar entry", Some(e)))?;
        let mut header = entry.header().clone();
        let path = entry.path().map_err(|e| archive_error(source, "bad entry name", Some(e)))?.into_owned();
        builder.append_data(&mut header, &path, &mut entry).map_err(write_err)?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, "manifest.json", body.as_slice()).map_err(write_err)?;
    let inner = builder.into_inner().map_err(write_err)?;
    inner.into_inner().map_err(|e| write_err(e.into_error()))?.sync_all().map_err(write_err)?;
    std::fs::rename(&tmp, dest).map_err(write_err)?;
    Ok(repo_tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(path: &Path, files: &[(&str, &[u8])]) {
        let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.finish().unwrap();
    }

    #[test]
    fn kinds_are_told_apart_by_their_metadata_files() {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("d.tar");
        tar_with(&docker, &[("manifest.json", b"[]"), ("index.json", b"{}")]);
        assert_eq!(detect(&docker).unwrap(), ArchiveKind::DockerArchive);
        let oci = dir.path().join("o.tar");
        tar_with(&oci, &[("oci-layout", b"{}"), ("index.json", b"{}")]);
        assert_eq!(detect(&oci).unwrap(), ArchiveKind::OciArchive);
        let other = dir.path().join("x.tar");
        tar_with(&other, &[("hello.txt", b"hi")]);
        let e = detect(&other).unwrap_err();
        assert!(e.to_string().contains("neither `manifest.json`"), "{e}");
        let gz = dir.path().join("x.tar.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
        assert_eq!(detect(&gz).unwrap(), ArchiveKind::Compressed);
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"not a tar at all, just some text that is long enough").unwrap();
        assert!(detect(&junk).is_err());
    }

    #[test]
    fn an_oci_archive_gains_a_manifest_json_pointing_at_its_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let oci = dir.path().join("o.tar");
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d('c'), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d('1'), "size": 1}]});
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d('a'), "size": 1, "annotations": {"org.opencontainers.image.ref.name": "localhost/tools/x:1"}}]});
        let m = manifest.to_string();
        let i = index.to_string();
        tar_with(
            &oci,
            &[
                ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
                ("index.json", i.as_bytes()),
                (&blob_path(&d('a')), m.as_bytes()),
                (&blob_path(&d('c')), b"{}"),
                (&blob_path(&d('1')), b"L"),
            ],
        );
        let out = dir.path().join("docker.tar");
        assert_eq!(oci_to_docker_archive(&oci, &out, None).unwrap(), ["localhost/tools/x:1"]);
        assert_eq!(detect(&out).unwrap(), ArchiveKind::DockerArchive);
        let scanned = scan(&out).unwrap();
        assert!(scanned.has(&blob_path(&d('1'))));
        assert!(scanned.has("manifest.json"));
        let written: serde_json::Value = serde_json::from_slice(&scanned.read(&out, "manifest.json").unwrap()).unwrap();
        assert_eq!(written[0]["Config"], format!("blobs/sha256/{}", "c".repeat(64)));
        assert_eq!(written[0]["Layers"][0], format!("blobs/sha256/{}", "1".repeat(64)));
        assert_eq!(oci_to_docker_archive(&oci, &out, Some("mine/x")).unwrap(), ["mine/x:latest"]);
    }

    /// A tar entry written as given, with no checks on its name or link (as an attacker would).
    fn raw(b: &mut tar::Builder<std::fs::File>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn refused(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        raw(&mut b, "oci-layout", tar::EntryType::Regular, "", b"{}");
        for (name, kind, link, data) in entries {
            raw(&mut b, name, *kind, link, data);
        }
        b.finish().unwrap();
        let e = detect(&path).and_then(|_| oci_to_docker_archive(&path, &dir.path().join("out.tar"), None));
        match e {
            Err(e @ RegistryError::HostileArchive { .. }) => e.to_string(),
            other => panic!("{entries:?} was not refused as hostile: {other:?}"),
        }
    }

    #[test]
    fn extra_hostile_archive_entries_are_refused_before_any_engine() {
        use tar::EntryType::{Link, Regular, Symlink};
        let index = |digest: &str| {
            format!(
                r#"{{"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}"}}]}}"#
            )
        };
        assert!(refused(&[("../escape", Regular, "", b"x")]).contains("`../escape`"));
        assert!(refused(&[("/etc/cron.d/x", Regular, "", b"x")]).contains("absolute"));
        assert!(refused(&[("a/../../x", Regular, "", b"x")]).contains("climbs out"));
        assert!(refused(&[("blobs/l", Symlink, "/etc/passwd", b"")]).contains("`/etc/passwd`"));
        assert!(refused(&[("blobs/l", Symlink, "../../etc/passwd", b"")]).contains("outside the archive"));
        assert!(refused(&[("blobs/h", Link, "../etc/shadow", b"")]).contains("hard link"));
        assert!(refused(&[("dev", tar::EntryType::Char, "", b"")]).contains("only files"));
        let bad = index("sha256:../../etc/passwd");
        assert!(refused(&[("index.json", Regular, "", bad.as_bytes())]).contains("not a digest"));
        // A manifest naming a blob that is a link (even one inside the archive).
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let manifest = format!(
            r#"{{"config":{{"mediaType":"x","digest":"{}"}},"layers":[{{"mediaType":"x","digest":"{}"}}]}}"#,
            d('c'),
            d('1')
        );
        let good = index(&d('a'));
        let e = refused(&[
            ("index.json", Regular, "", good.as_bytes()),
            (&blob_path(&d('a')), Regular, "", manifest.as_bytes()),
            (&blob_path(&d('c')), Regular, "", b"{}"),
            ("elsewhere", Regular, "", b"L"),
            (&blob_path(&d('1')), Symlink, "../../elsewhere", b""),
        ]);
        assert!(e.contains("is a link"), "{e}");
    }

    #[test]
    fn extra_a_huge_long_name_record_is_refused_without_reading_it_into_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(tar::EntryType::GNULongName);
        let long = vec![b'a'; 2 << 20];
        h.set_size(long.len() as u64);
        h.set_cksum();
        b.append(&h, long.as_slice()).unwrap();
        raw(&mut b, "x", tar::EntryType::Regular, "", b"x");
        b.finish().unwrap();
        let e = detect(&path).unwrap_err().to_string();
        assert!(e.contains("damaged tar entry"), "{e}");
    }

    #[test]
    fn member_names_normalize_inside_the_archive_only() {
        assert_eq!(normalize_member("./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(normalize_member("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize_member("../a"), None);
        assert_eq!(normalize_member("/a"), None);
        assert_eq!(link_inside("x/layer.tar", "../y/layer.tar").as_deref(), Some("y/layer.tar"));
        assert_eq!(link_inside("layer.tar", "../y"), None);
    }
}
