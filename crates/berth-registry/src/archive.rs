//! Image archives: telling a docker-archive (`docker save`: `manifest.json`) from an OCI
//! archive (`oci-layout` + `index.json`, e.g. `podman save --format oci-archive`), and turning
//! an OCI archive into a docker-archive, which every engine's load endpoint accepts (Docker
//! 20.10 loads only docker-archives).
//!
//! The conversion keeps every blob where it is and adds a `manifest.json` whose `Config` and
//! `Layers` point at `blobs/sha256/<hex>`: the engine's loader opens those paths, decompresses
//! gzip layers itself and checks them against the config's `rootfs.diff_ids`.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

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

/// Small files (JSON metadata, manifests, configs) are kept in memory while reading; layers are not.
const SMALL: u64 = 4 << 20;

fn archive_error(path: &Path, problem: impl Into<String>, source: Option<std::io::Error>) -> RegistryError {
    RegistryError::Archive { path: path.to_owned(), problem: problem.into(), source: source.map(|e| Box::new(e) as _) }
}

fn clean(name: &str) -> &str {
    name.trim_start_matches("./")
}

/// Read the archive's file names, and the contents of its small files.
/// An archive's entry names in order, and the contents of its small files by name.
type Scanned = (Vec<String>, HashMap<String, Vec<u8>>);

fn scan(path: &Path) -> Result<Scanned, RegistryError> {
    let file = std::fs::File::open(path).map_err(|e| RegistryError::Io {
        action: "open",
        path: path.to_owned(),
        source: e,
    })?;
    let mut archive = tar::Archive::new(file);
    let mut names = Vec::new();
    let mut small = HashMap::new();
    let entries = archive.entries().map_err(|e| archive_error(path, "not a tar file", Some(e)))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| archive_error(path, "damaged tar entry", Some(e)))?;
        let name = clean(&entry.path().map_err(|e| archive_error(path, "bad entry name", Some(e)))?.to_string_lossy())
            .to_owned();
        if entry.header().entry_type().is_file() && entry.size() <= SMALL {
            let mut buf = Vec::new();
            entry.read_to_end(&mut buf).map_err(|e| archive_error(path, format!("cannot read `{name}`"), Some(e)))?;
            small.insert(name.clone(), buf);
        }
        names.push(name);
    }
    if names.is_empty() {
        return Err(archive_error(path, "the tar file is empty", None));
    }
    Ok((names, small))
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
    let (names, _) = scan(path)?;
    let has = |n: &str| names.iter().any(|x| x == n);
    if has("manifest.json") {
        Ok(ArchiveKind::DockerArchive)
    } else if has("index.json") {
        Ok(ArchiveKind::OciArchive)
    } else {
        Err(archive_error(path, "it has neither `manifest.json` (docker-archive) nor `index.json` (OCI archive)", None))
    }
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
    let (_, small) = scan(source)?;
    let json = |name: &str| -> Result<&[u8], RegistryError> {
        small.get(name).map(Vec::as_slice).ok_or_else(|| archive_error(source, format!("`{name}` is missing"), None))
    };
    let parse_err =
        |what: &str, e: serde_json::Error| archive_error(source, format!("`{what}` is not valid: {e}"), None);
    let index: Index = serde_json::from_slice(json("index.json")?).map_err(|e| parse_err("index.json", e))?;
    let mut chosen =
        index.manifests.into_iter().next().ok_or_else(|| archive_error(source, "`index.json` lists no image", None))?;
    let ref_name = chosen.annotations.get("org.opencontainers.image.ref.name").cloned();
    // A nested index (multi-platform image): take the host's platform, else the first.
    while is_index(&chosen.media_type) {
        let name = blob_path(&chosen.digest);
        let nested: Index = serde_json::from_slice(json(&name)?).map_err(|e| parse_err(&name, e))?;
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
    let name = blob_path(&chosen.digest);
    let manifest: Manifest = serde_json::from_slice(json(&name)?).map_err(|e| parse_err(&name, e))?;
    let repo_tags: Vec<String> = match (tag, ref_name) {
        (Some(t), _) => vec![berth_engine::normalize_reference(t)],
        // Only a full reference names an image; a bare tag (`latest`) names nothing.
        (None, Some(r)) if r.contains('/') || r.contains(':') => vec![berth_engine::normalize_reference(&r)],
        _ => Vec::new(),
    };
    let docker_manifest = serde_json::json!([{
        "Config": blob_path(&manifest.config.digest),
        "RepoTags": repo_tags,
        "Layers": manifest.layers.iter().map(|l| blob_path(&l.digest)).collect::<Vec<_>>(),
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
        let (names, small) = scan(&out).unwrap();
        assert!(names.contains(&blob_path(&d('1'))));
        let written: serde_json::Value = serde_json::from_slice(&small["manifest.json"]).unwrap();
        assert_eq!(written[0]["Config"], format!("blobs/sha256/{}", "c".repeat(64)));
        assert_eq!(written[0]["Layers"][0], format!("blobs/sha256/{}", "1".repeat(64)));
        assert_eq!(oci_to_docker_archive(&oci, &out, Some("mine/x")).unwrap(), ["mine/x:latest"]);
    }
}
