//! Sharing tools: a static catalog index.
//!
//! XNAT's documentation says there is no way yet to find the Commands for an image or to share
//! them. A berth catalog is one JSON file (`index.json`, format [`INDEX_FORMAT`]) that any web
//! server, or a shared directory, can host: for each tool an image carries in its labels, the
//! tool's name, version and description, the image's registry reference, its manifest digest
//! and image ID, the SHA-256 of the descriptor (berth's canonical hash, as `berth tool ls`
//! shows it), the names of the descriptor's declared tests, and a summary of the image's SBOM.
//!
//! - [`entries_for_image`] reads one pushed image (its labels through the engine, its digest
//!   from the engine's repo digests) and [`write_index`] writes the file atomically;
//! - [`fetch_index`] reads an index from a URL or a path, [`search`] finds tools in it;
//! - [`install`] pulls an entry's image **by digest**, refuses it when the registry's tag has
//!   moved since the index was built or when the descriptor in the image's label does not hash
//!   to the index's value, tags it with the name the descriptor runs, and registers the tool.
//!
//! Nothing here trusts the index for more than it can check: the image is the digest's, the
//! descriptor is the label's, and both are compared with what the index promised.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use berth_engine::{Engine, NoProgress};
use berth_registry::{CredentialStore, Reference, RegistryClient};
use berth_run::tool::{self, LoadedTool};
use berth_store::{NewTool, Store, ToolAdded};
use serde::{Deserialize, Serialize};

/// The `format` of an index this version writes and reads.
pub const INDEX_FORMAT: &str = "berth-catalog/1";

/// The largest index fetched over HTTP.
pub const MAX_INDEX_BYTES: usize = 32 << 20;

/// A catalog: the tools of some images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// [`INDEX_FORMAT`].
    pub format: String,
    /// The berth that wrote it.
    pub generated_by: String,
    /// When (RFC 3339).
    pub generated_at: String,
    /// The tools, sorted by name and version.
    pub tools: Vec<Entry>,
}

/// One tool of one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The descriptor's `name`.
    pub name: String,
    /// Its version (Boutiques `tool-version`, XNAT `version`).
    pub version: String,
    /// `boutiques` or `xnat`.
    pub kind: String,
    /// The descriptor's description.
    pub description: String,
    /// Where the image is: its registry reference with the tag it was pushed under.
    pub image: String,
    /// The manifest digest that reference had when the index was built (`sha256:…`).
    pub digest: String,
    /// The image ID (the config's digest).
    pub image_id: String,
    /// The image the descriptor names: what `install` tags the pulled image as, so runs find it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptor_image: Option<String>,
    /// The descriptor's canonical SHA-256 (hex), as berth registers it.
    pub descriptor_sha256: String,
    /// The descriptor's declared tests, by name (`berth test` runs them).
    #[serde(default)]
    pub tests: Vec<String>,
    /// What the image holds, when the index was built with SBOMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<SbomSummary>,
}

/// A summary of an image's inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbomSummary {
    /// The operating system, when one was recognized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Packages in all.
    pub packages: usize,
    /// Packages by kind (`deb`, `python`, …).
    pub by_kind: BTreeMap<String, usize>,
}

/// Why a catalog could not be built, read or installed from.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The image is not on the engine.
    #[error("image `{image}` is not on the engine")]
    NoImage {
        /// The reference given.
        image: String,
    },
    /// The image has no digest in the registry its reference names.
    #[error("image `{image}` has not been pushed to {registry}: the engine knows no digest for it there")]
    NotPushed {
        /// The reference given.
        image: String,
        /// Its registry.
        registry: String,
    },
    /// The image carries no tool.
    #[error("image `{image}` carries no tool definition")]
    NoTools {
        /// The reference.
        image: String,
    },
    /// A tool definition in the image could not be read.
    #[error(transparent)]
    Tool(#[from] tool::ToolError),
    /// A reference could not be parsed.
    #[error(transparent)]
    Reference(#[from] berth_registry::reference::ReferenceError),
    /// The registry or a pull failed.
    #[error(transparent)]
    Registry(#[from] berth_registry::RegistryError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] berth_engine::EngineError),
    /// The inventory of an image could not be taken.
    #[error("cannot take the inventory of `{image}`")]
    Sbom {
        /// The image.
        image: String,
        /// Why.
        #[source]
        source: Box<berth_inventory::SourceError>,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The index is not a berth catalog index.
    #[error("{location} is not a berth catalog index: {reason}")]
    BadIndex {
        /// Where it was read from.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// No entry has the name (and version) asked for.
    #[error("the catalog {location} has no tool `{wanted}`")]
    NotInIndex {
        /// `NAME` or `NAME@VERSION`.
        wanted: String,
        /// The index.
        location: String,
        /// Versions of that name it has, or tool names close to it.
        known: Vec<String>,
    },
    /// Several versions and none chosen.
    #[error("the catalog {location} has {} versions of `{name}`: {}", versions.len(), versions.join(", "))]
    WhichVersion {
        /// The name.
        name: String,
        /// The index.
        location: String,
        /// Its versions.
        versions: Vec<String>,
    },
    /// The registry's tag points at another manifest than the index says.
    #[error(
        "the tag `{image}` has moved since the catalog was built: the catalog says {index_digest}, the registry \
         now says {registry_digest}"
    )]
    TagMoved {
        /// The reference.
        image: String,
        /// What the index recorded.
        index_digest: String,
        /// What the registry answers now.
        registry_digest: String,
    },
    /// The image's label holds another descriptor than the index's hash.
    #[error(
        "the descriptor of `{tool}` in image {image} does not match the catalog: its SHA-256 is {found}, the \
         catalog says {expected}"
    )]
    DescriptorMismatch {
        /// `NAME@VERSION`.
        tool: String,
        /// The image (by digest).
        image: String,
        /// What the index recorded.
        expected: String,
        /// What the label hashes to.
        found: String,
    },
    /// The pulled image is not the index's image ID.
    #[error("image {image} has the ID {found}, but the catalog says {expected}")]
    ImageIdMismatch {
        /// The image (by digest).
        image: String,
        /// What the index recorded.
        expected: String,
        /// What the engine has.
        found: String,
    },
    /// The image's label holds no tool of the entry's name and version.
    #[error("image {image} carries no tool `{tool}`, though the catalog lists it there")]
    ToolMissing {
        /// `NAME@VERSION`.
        tool: String,
        /// The image (by digest).
        image: String,
    },
    /// The name the descriptor runs is a local tag of another image.
    #[error("the local tag `{tag}` names another image ({other}); installing would move it")]
    TagInUse {
        /// The tag.
        tag: String,
        /// The image it names now.
        other: String,
    },
    /// Registering the tool failed (another descriptor under the same name and version).
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
}

impl CatalogError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            CatalogError::NoImage { image } => Some(format!("pull or load it first (`berth image pull {image}`)")),
            CatalogError::NotPushed { image, .. } => Some(format!(
                "a catalog lists images others can pull: push it first (`berth image push {image}`), then build the \
                 catalog again"
            )),
            CatalogError::NoTools { .. } => Some(format!(
                "berth reads the labels `{}` (Boutiques) and `{}` (XNAT Commands)",
                tool::BOUTIQUES_LABEL,
                berth_xnat::LABEL_KEY
            )),
            CatalogError::Tool(e) => e.hint(),
            CatalogError::Registry(e) => e.hint(),
            CatalogError::Engine(e) => e.hint(),
            CatalogError::BadIndex { .. } => {
                Some("give the URL or path of an index.json written by `berth catalog build`".into())
            }
            CatalogError::NotInIndex { known, .. } if !known.is_empty() => {
                Some(format!("it has: {}", known.join(", ")))
            }
            CatalogError::NotInIndex { .. } => Some("`berth tool search WORD --index URL` lists what it has".into()),
            CatalogError::WhichVersion { name, versions, .. } => Some(format!(
                "say which: `berth tool install {name}@{}`",
                versions.last().map(String::as_str).unwrap_or("VERSION")
            )),
            CatalogError::TagMoved { .. } => Some(
                "someone pushed another image under the same tag: ask the catalog's maintainer to rebuild the \
                 index, or check what changed before trusting it"
                    .into(),
            ),
            CatalogError::DescriptorMismatch { .. } | CatalogError::ImageIdMismatch { .. } => {
                Some("the image or the index was changed after the catalog was built; nothing was registered".into())
            }
            CatalogError::ToolMissing { .. } => Some("the index does not describe this image; rebuild it".into()),
            CatalogError::TagInUse { tag, .. } => Some(format!(
                "remove or rename the local image `{tag}` (`docker rmi {tag}`), or install with `--replace`"
            )),
            CatalogError::Store(e) => e.hint(),
            CatalogError::Sbom { source, .. } => source.hint(),
            CatalogError::Reference(_) | CatalogError::Io { .. } => None,
        }
    }
}

/// The entries of every tool `reference` (a pushed image on the engine) carries in its labels;
/// with `sbom`, each carries the summary of the image's inventory.
pub async fn entries_for_image(
    engine: &Arc<dyn Engine>,
    reference: &str,
    sbom: Option<&berth_inventory::Limits>,
) -> Result<Vec<Entry>, CatalogError> {
    let parsed = Reference::parse(reference)?;
    let info =
        engine.inspect_image(reference).await?.ok_or_else(|| CatalogError::NoImage { image: reference.to_owned() })?;
    let digest = info
        .repo_digests
        .iter()
        .filter_map(|d| d.split_once('@'))
        .find(|(repo, _)| Reference::parse(repo).is_ok_and(|r| r.same_repository(&parsed)))
        .map(|(_, digest)| digest.to_owned())
        .ok_or_else(|| CatalogError::NotPushed { image: reference.to_owned(), registry: parsed.registry.clone() })?;
    let tools = tool::tools_from_labels(reference, &info.labels)?;
    if tools.is_empty() {
        return Err(CatalogError::NoTools { image: reference.to_owned() });
    }
    let summary = match sbom {
        Some(limits) => {
            let options = berth_inventory::SbomOptions { engine: Some(engine.clone()), temp_dir: None };
            let target = berth_inventory::Target::parse(reference);
            let inv = berth_inventory::sbom_with_limits(&target, &options, limits)
                .await
                .map_err(|source| CatalogError::Sbom { image: reference.to_owned(), source: Box::new(source) })?;
            let mut by_kind = BTreeMap::new();
            for p in &inv.packages {
                *by_kind.entry(p.kind.as_str().to_owned()).or_insert(0) += 1;
            }
            Some(SbomSummary {
                os: inv.os.as_ref().map(|o| o.pretty_name.clone().unwrap_or_else(|| format!("{} {}", o.id, o.version))),
                packages: inv.packages.len(),
                by_kind,
            })
        }
        None => None,
    };
    Ok(tools
        .iter()
        .map(|t| Entry {
            name: t.name().to_owned(),
            version: t.version().to_owned(),
            kind: t.kind().as_str().to_owned(),
            description: document_field(t, "description").unwrap_or_default(),
            image: parsed.to_string(),
            digest: digest.clone(),
            image_id: info.id.clone(),
            descriptor_image: t.image(),
            descriptor_sha256: t.sha256(),
            tests: test_names(t),
            sbom: summary.clone(),
        })
        .collect())
}

fn document_field(t: &LoadedTool, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&t.text).ok()?;
    v.get(key)?.as_str().map(str::to_owned)
}

fn test_names(t: &LoadedTool) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&t.text) else { return Vec::new() };
    v.get("tests")
        .and_then(serde_json::Value::as_array)
        .map(|tests| tests.iter().filter_map(|t| t.get("name")?.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// An index of `entries` (sorted by name, then version), dated now.
pub fn index(mut entries: Vec<Entry>, berth_version: &str) -> Index {
    entries.sort_by(|a, b| (&a.name, &a.version, &a.image).cmp(&(&b.name, &b.version, &b.image)));
    Index {
        format: INDEX_FORMAT.to_owned(),
        generated_by: format!("berth {berth_version}"),
        generated_at: jiff::Timestamp::now().to_string(),
        tools: entries,
    }
}

/// Writes `index` to `path` through a temporary file and a rename.
pub fn write_index(index: &Index, path: &Path) -> Result<(), CatalogError> {
    let io = |action, source| CatalogError::Io { action, path: path.to_owned(), source };
    let text = serde_json::to_string_pretty(index).map_err(|e| io("write", std::io::Error::other(e)))? + "\n";
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io("write", e))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, text).map_err(|e| io("write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("write", e))
}

/// Reads an index from an `http://` or `https://` URL, a `file://` URL or a path.
pub async fn fetch_index(client: &RegistryClient, location: &str) -> Result<Index, CatalogError> {
    let bytes = if location.starts_with("http://") || location.starts_with("https://") {
        client.fetch_document(location, MAX_INDEX_BYTES).await?
    } else {
        let path = Path::new(location.strip_prefix("file://").unwrap_or(location));
        std::fs::read(path).map_err(|source| CatalogError::Io { action: "read", path: path.to_owned(), source })?
    };
    parse_index(&bytes, location)
}

/// Parses an index, checking its format.
pub fn parse_index(bytes: &[u8], location: &str) -> Result<Index, CatalogError> {
    let bad = |reason: String| CatalogError::BadIndex { location: location.to_owned(), reason };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON ({e})")))?;
    match value.get("format").and_then(serde_json::Value::as_str) {
        Some(INDEX_FORMAT) => {}
        Some(other) => return Err(bad(format!("its format is `{other}`; this berth reads `{INDEX_FORMAT}`"))),
        None => return Err(bad("it has no `format`".into())),
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// The entries whose name or description contains `word` (any case); all of them for `""`.
pub fn search<'a>(index: &'a Index, word: &str) -> Vec<&'a Entry> {
    let word = word.to_lowercase();
    index
        .tools
        .iter()
        .filter(|e| {
            word.is_empty() || e.name.to_lowercase().contains(&word) || e.description.to_lowercase().contains(&word)
        })
        .collect()
}

/// The entry `wanted` (`NAME` or `NAME@VERSION`) names.
pub fn find<'a>(index: &'a Index, wanted: &str, location: &str) -> Result<&'a Entry, CatalogError> {
    let (name, version) = match wanted.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (wanted, None),
    };
    let same: Vec<&Entry> = index.tools.iter().filter(|e| e.name == name).collect();
    let not_found = |known: Vec<String>| CatalogError::NotInIndex {
        wanted: wanted.to_owned(),
        location: location.to_owned(),
        known,
    };
    if same.is_empty() {
        let lower = name.to_lowercase();
        let mut close: Vec<String> = index
            .tools
            .iter()
            .filter(|e| e.name.to_lowercase().contains(&lower) || lower.contains(&e.name.to_lowercase()))
            .map(|e| e.name.clone())
            .collect();
        close.dedup();
        return Err(not_found(close));
    }
    match version {
        Some(v) => same
            .iter()
            .find(|e| e.version == v)
            .copied()
            .ok_or_else(|| not_found(same.iter().map(|e| format!("{}@{}", e.name, e.version)).collect())),
        None if same.len() == 1 => Ok(same[0]),
        None => Err(CatalogError::WhichVersion {
            name: name.to_owned(),
            location: location.to_owned(),
            versions: same.iter().map(|e| e.version.clone()).collect(),
        }),
    }
}

/// What [`install`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    /// The entry installed.
    pub entry: Entry,
    /// The image as pulled (`REPOSITORY@DIGEST`).
    pub pulled: String,
    /// The local tag given to it (the image the descriptor runs), if any.
    pub tagged: Option<String>,
    /// What the store did.
    pub registered: ToolAdded,
    /// Remarks (a tag gone from the registry while its digest is still there).
    pub warnings: Vec<String>,
}

/// Installs `entry` of the index at `location`: checks the registry's tag against the index's
/// digest, pulls the image by digest (with the stored credentials), checks its image ID and the
/// descriptor in its label against the index, tags it as the image the descriptor names, and
/// registers the tool. Nothing is registered or tagged when a check fails.
pub async fn install(
    engine: &Arc<dyn Engine>,
    client: &RegistryClient,
    credentials: &CredentialStore,
    store: &Store,
    entry: &Entry,
    location: &str,
    replace: bool,
) -> Result<Installed, CatalogError> {
    let reference = Reference::parse(&entry.image)?;
    let credential = berth_registry::images::credential_for(credentials, &reference.registry)?;
    let mut warnings = Vec::new();
    match client.manifest_digest(&reference, credential.as_ref()).await? {
        Some(remote) if remote.digest != entry.digest => {
            return Err(CatalogError::TagMoved {
                image: entry.image.clone(),
                index_digest: entry.digest.clone(),
                registry_digest: remote.digest,
            });
        }
        Some(_) => {}
        None => warnings.push(format!(
            "the tag `{}` is no longer in the registry; installing the catalog's digest {}",
            entry.image, entry.digest
        )),
    }
    let pulled = format!("{}@{}", reference.familiar_name(), entry.digest);
    berth_registry::images::pull(engine.as_ref(), credentials, &pulled, &NoProgress).await?;
    let info = engine.inspect_image(&pulled).await?.ok_or_else(|| CatalogError::NoImage { image: pulled.clone() })?;
    if info.id != entry.image_id {
        return Err(CatalogError::ImageIdMismatch { image: pulled, expected: entry.image_id.clone(), found: info.id });
    }
    let wanted = format!("{}@{}", entry.name, entry.version);
    let tools = tool::tools_from_labels(&pulled, &info.labels)?;
    let tool = tools
        .iter()
        .find(|t| t.name() == entry.name && t.version() == entry.version)
        .ok_or_else(|| CatalogError::ToolMissing { tool: wanted.clone(), image: pulled.clone() })?;
    let found = tool.sha256();
    if found != entry.descriptor_sha256 {
        return Err(CatalogError::DescriptorMismatch {
            tool: wanted,
            image: pulled,
            expected: entry.descriptor_sha256.clone(),
            found,
        });
    }
    let tagged = match tool.image() {
        Some(tag) if !tag.contains('@') => {
            if let Some(other) = engine.inspect_image(&tag).await?
                && other.id != info.id
                && !replace
            {
                return Err(CatalogError::TagInUse { tag, other: other.id });
            }
            engine.tag_image(&pulled, &tag).await?;
            Some(tag)
        }
        _ => None,
    };
    let new: NewTool = tool.to_new_tool(&format!("catalog {location}, image {pulled}"));
    let registered = store.add_tool(&new, replace)?;
    Ok(Installed { entry: entry.clone(), pulled, tagged, registered, warnings })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(name: &str, version: &str, description: &str) -> Entry {
        Entry {
            name: name.into(),
            version: version.into(),
            kind: "boutiques".into(),
            description: description.into(),
            image: format!("127.0.0.1:5000/tools/{name}:{version}"),
            digest: "sha256:00".into(),
            image_id: "sha256:11".into(),
            descriptor_image: None,
            descriptor_sha256: "22".into(),
            tests: vec![],
            sbom: None,
        }
    }

    #[test]
    fn an_index_round_trips_and_a_foreign_file_is_refused_by_name() {
        let idx = index(
            vec![entry("mrtrix3", "3.0.4", "diffusion MRI"), entry("dcm2niix", "1.0", "DICOM to NIfTI")],
            "0.1.0",
        );
        assert_eq!(idx.tools[0].name, "dcm2niix");
        let text = serde_json::to_vec(&idx).unwrap();
        assert_eq!(parse_index(&text, "x").unwrap(), idx);
        let e = parse_index(br#"{"format": "other/2", "tools": []}"#, "http://h/i.json").unwrap_err().to_string();
        assert!(e.contains("http://h/i.json") && e.contains("other/2"), "{e}");
        assert!(parse_index(b"<html>", "u").unwrap_err().to_string().contains("not JSON"));
    }

    #[test]
    fn search_and_find() {
        let idx = index(
            vec![
                entry("dcm2niix", "1.0", "DICOM to NIfTI"),
                entry("dcm2niix", "1.1", "DICOM to NIfTI"),
                entry("elastix", "5", "registration"),
            ],
            "0.1.0",
        );
        assert_eq!(search(&idx, "nifti").len(), 2);
        assert_eq!(search(&idx, "REGISTRATION").len(), 1);
        assert_eq!(search(&idx, "").len(), 3);
        assert_eq!(find(&idx, "elastix", "i").unwrap().version, "5");
        assert_eq!(find(&idx, "dcm2niix@1.1", "i").unwrap().version, "1.1");
        let which = find(&idx, "dcm2niix", "i").unwrap_err();
        assert!(which.hint().unwrap().contains("dcm2niix@1.1"), "{which}");
        let missing = find(&idx, "elastix@4", "i").unwrap_err();
        assert!(missing.hint().unwrap().contains("elastix@5"), "{missing}");
        let none = find(&idx, "dcm2", "i").unwrap_err();
        assert!(none.hint().unwrap().contains("dcm2niix"), "{none}");
    }
}
