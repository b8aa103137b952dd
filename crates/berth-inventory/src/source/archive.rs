//! Image archives and layouts: `docker save` tarballs, OCI layouts (directories or tarballs).
//!
//! An archive is never extracted. Its tar is indexed once (member name → offset and size),
//! and members are read in place: the manifest, the config, then each layer in the order the
//! manifest gives. Member names are cleaned like layer entries, so a manifest cannot point
//! outside the archive, and OCI blobs are looked up by digest only. A layout directory is read
//! through [`berth_hostpath::Root`]: no link below its root is followed, whatever the link is
//! (`blobs -> /`, a blob that is a link to a host file). Manifests, indexes and configs are read
//! up to `[inventory] max_document_bytes`; the archive's index is metered like a layer.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use berth_hostpath::Root;

use super::layer::ReadSeek;
use crate::budget::{MAX_MEMBERS, META_WINDOW, Meter, Metered, Tripped};
use crate::error::SourceError;
use crate::fs::clean;
use crate::model::{Layer, TargetKind};

/// Where blobs (manifests, configs, layers) are read from.
pub enum Blobs {
    /// Members of a tarball, by cleaned name.
    Tar {
        /// The tarball.
        path: PathBuf,
        /// Name → (offset of the data, size).
        index: HashMap<String, (u64, u64)>,
    },
    /// Files of an OCI layout directory.
    Dir {
        /// The layout's root, opened once; nothing below it is reached through a link.
        root: Root,
    },
}

/// A window `[start, start + len)` of a file, readable and seekable as a file of its own.
struct Slice {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Slice {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        if left == 0 {
            return Ok(0);
        }
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let read = self.file.read(&mut buf[..n])?;
        self.pos += read as u64;
        Ok(read)
    }
}

impl Seek for Slice {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        }
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.file.seek(SeekFrom::Start(self.start + target))?;
        self.pos = target;
        Ok(target)
    }
}

impl Blobs {
    /// Index the members of the tarball at `path`; what the tar reader reads is counted
    /// against `meter` (long names and PAX records are bounded, data is seeked over).
    pub fn index_tar(path: &Path, meter: &std::sync::Arc<Meter>) -> Result<Self, SourceError> {
        let io = |source| SourceError::Io { path: path.to_owned(), source };
        let tar_err = |source| {
            let (path, what) = (path.to_owned(), "the archive".to_owned());
            match meter.tripped() {
                Some(Tripped::Read) => SourceError::ReadLimit { path, what, limit: meter.limits.max_read_bytes },
                Some(Tripped::Metadata) => SourceError::HeaderTooLarge { path, what, limit: META_WINDOW },
                None => SourceError::Tar { path, what, source },
            }
        };
        let file = File::open(path).map_err(io)?;
        let mut archive = tar::Archive::new(Metered::new(file, meter.clone()));
        let mut index = HashMap::new();
        let mut entries = archive.entries_with_seek().map_err(tar_err)?;
        loop {
            meter.window(META_WINDOW);
            let next = entries.next();
            meter.window(u64::MAX);
            let Some(entry) = next else { break };
            let entry = entry.map_err(tar_err)?;
            if index.len() >= MAX_MEMBERS {
                return Err(SourceError::TooManyMembers { path: path.to_owned(), limit: MAX_MEMBERS });
            }
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = clean(&raw).map_err(|source| SourceError::Escape { path: path.to_owned(), source })?;
            index.insert(name, (entry.raw_file_position(), entry.size()));
        }
        Ok(Self::Tar { path: path.to_owned(), index })
    }

    /// The archive or layout directory.
    pub fn origin(&self) -> &Path {
        match self {
            Self::Tar { path, .. } => path,
            Self::Dir { root } => root.path(),
        }
    }

    /// Whether the member `name` exists.
    pub fn has(&self, name: &str) -> bool {
        match self {
            Self::Tar { index, .. } => clean(name).is_ok_and(|n| index.contains_key(&n)),
            Self::Dir { root } => clean(name).is_ok_and(|n| root.open_file(Path::new(&n)).is_ok()),
        }
    }

    /// Open the member `name` (a path inside the archive or layout).
    pub fn open(&self, name: &str) -> Result<Box<dyn ReadSeek>, SourceError> {
        let missing = || SourceError::MissingBlob { path: self.origin().to_owned(), name: name.to_owned() };
        let cleaned = clean(name).map_err(|source| SourceError::Escape { path: self.origin().to_owned(), source })?;
        match self {
            Self::Tar { path, index } => {
                let &(start, len) = index.get(&cleaned).ok_or_else(missing)?;
                let mut file = File::open(path).map_err(|source| SourceError::Io { path: path.clone(), source })?;
                file.seek(SeekFrom::Start(start)).map_err(|source| SourceError::Io { path: path.clone(), source })?;
                Ok(Box::new(Slice { file, start, len, pos: 0 }))
            }
            Self::Dir { root } => {
                // A layout is untrusted too: its blobs must be regular files reached without
                // any link, not links (or directories that are links) to files of this machine.
                let file = root.open_file(Path::new(&cleaned)).map_err(|e| match e {
                    berth_hostpath::HostPathError::Io { source, .. }
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        missing()
                    }
                    e => SourceError::Layout { path: root.path().to_owned(), name: name.to_owned(), source: e },
                })?;
                Ok(Box::new(file))
            }
        }
    }

    /// Read the whole member `name` (manifests and configs), at most `limit` bytes.
    pub fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        let mut out = Vec::new();
        self.open(name)?
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|source| SourceError::Io { path: self.origin().join(name), source })?;
        if out.len() as u64 > limit {
            return Err(SourceError::DocumentTooLarge { path: self.origin().to_owned(), name: name.to_owned(), limit });
        }
        Ok(out)
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, name: &str, limit: u64) -> Result<T, SourceError> {
        let bytes = self.read(name, limit)?;
        serde_json::from_slice(&bytes).map_err(|e| SourceError::Manifest {
            path: self.origin().to_owned(),
            what: format!("`{name}`"),
            problem: e.to_string(),
        })
    }
}

/// An image read from an archive or layout: where its layers are and what its config says.
pub struct ImageLayout {
    /// Where to read blobs.
    pub blobs: Blobs,
    /// The layers' member names, bottom first.
    pub layer_members: Vec<String>,
    /// The layers as reported.
    pub layers: Vec<Layer>,
    /// Tags recorded in the archive.
    pub repo_tags: Vec<String>,
    /// The image ID (digest of the config).
    pub image_id: Option<String>,
    /// The architecture from the config.
    pub architecture: Option<String>,
    /// What the archive turned out to be.
    pub kind: TargetKind,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct ImageConfig {
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    rootfs: Option<RootFs>,
    #[serde(default)]
    history: Vec<History>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Deserialize)]
struct History {
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    empty_layer: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciIndex {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// The member name of a blob in an OCI layout: `blobs/<algorithm>/<hex>`. Only digests of
/// the form `algorithm:hex` are accepted, so a digest cannot name another path.
fn blob_name(layout: &Path, digest: &str) -> Result<String, SourceError> {
    let bad = || SourceError::Manifest {
        path: layout.to_owned(),
        what: "a descriptor".to_owned(),
        problem: format!("`{digest}` is not a digest"),
    };
    let (algorithm, hex) = digest.split_once(':').ok_or_else(bad)?;
    let ok = |s: &str, extra: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    if !ok(algorithm, "+._-") || !ok(hex, "=_-") {
        return Err(bad());
    }
    Ok(format!("blobs/{algorithm}/{hex}"))
}

/// Fill in history lines for the non-empty layers, in order.
fn layers_from_config(config: &ImageConfig, count: usize, digests: &[Option<String>]) -> Vec<Layer> {
    let diff_ids = config.rootfs.as_ref().map(|r| r.diff_ids.clone()).unwrap_or_default();
    let mut created = config.history.iter().filter(|h| !h.empty_layer).map(|h| h.created_by.clone());
    (0..count)
        .map(|index| Layer {
            index,
            diff_id: diff_ids.get(index).cloned(),
            digest: digests.get(index).cloned().flatten(),
            created_by: created.next().flatten(),
        })
        .collect()
}

fn config_id(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Read a `docker save` archive's `manifest.json` (first image) and config.
pub fn docker_archive(blobs: Blobs, limit: u64) -> Result<ImageLayout, SourceError> {
    let manifests: Vec<DockerManifestEntry> = blobs.json("manifest.json", limit)?;
    let Some(entry) = manifests.into_iter().next() else {
        return Err(SourceError::Manifest {
            path: blobs.origin().to_owned(),
            what: "`manifest.json`".to_owned(),
            problem: "it lists no image".to_owned(),
        });
    };
    let config_bytes = blobs.read(&entry.config, limit)?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| SourceError::Manifest {
        path: blobs.origin().to_owned(),
        what: format!("the config `{}`", entry.config),
        problem: e.to_string(),
    })?;
    // docker 25 and newer name layers by their blob path (`blobs/sha256/<hex>`).
    let digests: Vec<Option<String>> =
        entry.layers.iter().map(|l| l.strip_prefix("blobs/sha256/").map(|hex| format!("sha256:{hex}"))).collect();
    let layers = layers_from_config(&config, entry.layers.len(), &digests);
    Ok(ImageLayout {
        layer_members: entry.layers,
        layers,
        repo_tags: entry.repo_tags.unwrap_or_default(),
        image_id: Some(config_id(&config_bytes)),
        architecture: config.architecture,
        kind: TargetKind::DockerArchive,
        blobs,
    })
}

const INDEX_TYPES: [&str; 2] =
    ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];

/// Read an OCI layout's `index.json`, choosing the first `linux` manifest for this machine's
/// architecture when the index lists several platforms, and the manifest's config.
pub fn oci_layout(blobs: Blobs, kind: TargetKind, limit: u64) -> Result<ImageLayout, SourceError> {
    let origin = blobs.origin().to_owned();
    let index: OciIndex = blobs.json("index.json", limit)?;
    let mut candidates = index.manifests;
    let mut depth = 0;
    let manifest = loop {
        let chosen = choose(&candidates).ok_or_else(|| SourceError::Manifest {
            path: origin.clone(),
            what: "`index.json`".to_owned(),
            problem: "it lists no image manifest".to_owned(),
        })?;
        let name = blob_name(&origin, &chosen.digest)?;
        let manifest: OciManifest = blobs.json(&name, limit)?;
        let nested = chosen.media_type.as_deref().is_some_and(|t| INDEX_TYPES.contains(&t))
            || manifest.media_type.as_deref().is_some_and(|t| INDEX_TYPES.contains(&t))
            || (manifest.config.is_none() && !manifest.manifests.is_empty());
        if nested && depth < 4 {
            candidates = manifest.manifests;
            depth += 1;
            continue;
        }
        break manifest;
    };
    let config_desc = manifest.config.ok_or_else(|| SourceError::Manifest {
        path: origin.clone(),
        what: "the image manifest".to_owned(),
        problem: "it has no config".to_owned(),
    })?;
    let config_name = blob_name(&origin, &config_desc.digest)?;
    let config_bytes = blobs.read(&config_name, limit)?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| SourceError::Manifest {
        path: origin.clone(),
        what: "the image config".to_owned(),
        problem: e.to_string(),
    })?;
    let layer_members = manifest.layers.iter().map(|l| blob_name(&origin, &l.digest)).collect::<Result<Vec<_>, _>>()?;
    let digests: Vec<Option<String>> = manifest.layers.iter().map(|l| Some(l.digest.clone())).collect();
    let layers = layers_from_config(&config, layer_members.len(), &digests);
    Ok(ImageLayout {
        layer_members,
        layers,
        repo_tags: Vec::new(),
        image_id: Some(config_desc.digest),
        architecture: config.architecture,
        kind,
        blobs,
    })
}

/// The manifest to read from an index: the one for linux on this machine's architecture,
/// else the first without a platform or the first of all.
fn choose(manifests: &[Descriptor]) -> Option<&Descriptor> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    manifests
        .iter()
        .find(|m| m.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == arch))
        .or_else(|| {
            // Attestation manifests (buildkit) carry this annotation and no image.
            manifests.iter().find(|m| m.platform.is_none() && !m.annotations.contains_key("vnd.docker.reference.type"))
        })
        .or_else(|| manifests.first())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_names_come_from_digests_only() {
        let p = Path::new("x");
        assert_eq!(blob_name(p, "sha256:abc").expect("ok"), "blobs/sha256/abc");
        assert!(blob_name(p, "sha256:../../etc/passwd").is_err());
        assert!(blob_name(p, "nocolon").is_err());
    }
}
