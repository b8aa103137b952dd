//! The image operations behind `berth image ...` and `berth login`: each combines the engine
//! (local images), the registry client and the credential store, so that the binary only
//! parses arguments and renders results.

use std::path::{Path, PathBuf};

use berth_engine::{Engine, EngineError, PullOutcome, PullReporter};

use crate::archive::{self, ArchiveKind};
use crate::client::{RegistryClient, RemoteManifest};
use crate::credentials::{Credential, CredentialSource, CredentialStore};
use crate::download::{self, DownloadReporter, Downloaded};
use crate::error::RegistryError;
use crate::reference::Reference;

/// One row of `berth image ls`: a tag (or an untagged image).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageRow {
    /// `name:tag`; none for an untagged image.
    pub reference: Option<String>,
    /// The image ID (`sha256:...`).
    pub id: String,
    /// The registry digest of this name (`name@sha256:...`), when it came from or went to a registry.
    pub repo_digest: Option<String>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// Creation time, RFC 3339 (UTC).
    pub created: Option<String>,
    /// The tool-descriptor labels it carries (`org.berth.boutiques.descriptor`, `org.nrg.commands`).
    pub descriptor_labels: Vec<String>,
}

/// The repo digest in `digests` for the repository of `reference` (for an untagged image, the
/// first): a digest belongs to one repository, so another tag's is not shown.
fn digest_for(reference: Option<&str>, digests: &[String]) -> Option<String> {
    let Some(wanted) = reference.and_then(|r| Reference::parse(r).ok()) else {
        return digests.first().cloned();
    };
    digests
        .iter()
        .find(|d| Reference::parse(d.split('@').next().unwrap_or(d)).is_ok_and(|n| n.same_repository(&wanted)))
        .cloned()
}

/// Every local image, one row per tag, sorted by reference (untagged last); `descriptor_labels`
/// are the label keys that mark a tool descriptor.
pub async fn list(engine: &dyn Engine, descriptor_labels: &[&str]) -> Result<Vec<ImageRow>, RegistryError> {
    let mut rows = Vec::new();
    for image in engine.list_images().await? {
        let labels: Vec<String> =
            descriptor_labels.iter().filter(|l| image.labels.contains_key(**l)).map(|l| (*l).to_owned()).collect();
        let created = image
            .created
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let tags: Vec<Option<String>> =
            if image.repo_tags.is_empty() { vec![None] } else { image.repo_tags.iter().cloned().map(Some).collect() };
        for tag in tags {
            rows.push(ImageRow {
                repo_digest: digest_for(tag.as_deref(), &image.repo_digests),
                reference: tag,
                id: image.id.clone(),
                size: image.size,
                created: created.clone(),
                descriptor_labels: labels.clone(),
            });
        }
    }
    rows.sort_by(|a, b| {
        (a.reference.is_none(), &a.reference, &a.id).cmp(&(b.reference.is_none(), &b.reference, &b.id))
    });
    Ok(rows)
}

/// How a local image compares with its registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// The local image has the digest the tag points at now.
    Current,
    /// The tag points at another manifest than the local image's (or the local image has no
    /// digest from this registry, e.g. it was built or loaded here).
    Stale,
    /// The registry has the tag; the engine does not have the image.
    MissingLocally,
    /// The registry has no such tag (or repository).
    TagMissingInRegistry,
}

impl CheckStatus {
    /// The exit code of `berth image check` (documented in `docs/images.md`).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Current => 0,
            Self::Stale => 3,
            Self::MissingLocally => 4,
            Self::TagMissingInRegistry => 5,
        }
    }
}

/// The answer of `berth image check`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// The reference, normalized (`127.0.0.1:5000/tools/x:1`).
    pub reference: String,
    /// The registry asked.
    pub registry: String,
    /// The repository in that registry.
    pub repository: String,
    /// The tag (or digest) asked about.
    pub tag: String,
    /// The verdict.
    pub status: CheckStatus,
    /// What the registry has under the tag.
    pub remote: Option<RemoteManifest>,
    /// The local image's ID.
    pub local_id: Option<String>,
    /// The local image's digests from this repository (`name@sha256:...`).
    pub local_digests: Vec<String>,
}

/// The stored credential for `registry`, if any.
pub fn credential_for(store: &CredentialStore, registry: &str) -> Result<Option<Credential>, RegistryError> {
    Ok(store.lookup(registry)?.map(|(c, _)| c))
}

/// The stored credentials for `image`'s registry, in the engine's form (what a run passes with
/// a pull); none for a reference that does not parse or a registry without credentials.
pub fn engine_auth(store: &CredentialStore, image: &str) -> Result<Option<berth_engine::RegistryAuth>, RegistryError> {
    let Ok(reference) = Reference::parse(image) else { return Ok(None) };
    Ok(credential_for(store, &reference.registry)?.map(|c| c.to_engine_auth(&reference.registry)))
}

/// Ask the registry for the tag's current manifest digest (without pulling) and compare it
/// with the local image's repo digests.
pub async fn check(
    engine: &dyn Engine,
    client: &RegistryClient,
    store: &CredentialStore,
    reference: &str,
) -> Result<CheckReport, RegistryError> {
    let parsed = Reference::parse(reference)?;
    let credential = credential_for(store, &parsed.registry)?;
    let remote = client.manifest_digest(&parsed, credential.as_ref()).await?;
    let local = engine.inspect_image(&berth_engine::normalize_reference(reference)).await?;
    let local_digests: Vec<String> = local
        .as_ref()
        .map(|i| {
            i.repo_digests
                .iter()
                .filter(|d| {
                    Reference::parse(d.split('@').next().unwrap_or(d)).is_ok_and(|n| n.same_repository(&parsed))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let status = match (&remote, &local) {
        (None, _) => CheckStatus::TagMissingInRegistry,
        (Some(_), None) => CheckStatus::MissingLocally,
        (Some(r), Some(_)) if local_digests.iter().any(|d| d.ends_with(&format!("@{}", r.digest))) => {
            CheckStatus::Current
        }
        (Some(_), Some(_)) => CheckStatus::Stale,
    };
    Ok(CheckReport {
        reference: parsed.to_string(),
        registry: parsed.registry.clone(),
        repository: parsed.repository.clone(),
        tag: parsed.manifest_ref().to_owned(),
        status,
        remote,
        local_id: local.map(|i| i.id),
        local_digests,
    })
}

/// Turn an engine's pull/push refusal that is about credentials into the registry error that
/// says so (with `berth login` as the hint); anything else stays the engine's error.
fn auth_error(e: EngineError, registry: &str, credential: Option<&Credential>) -> RegistryError {
    let message = match &e {
        EngineError::Pull { message, .. } | EngineError::Push { message, .. } => message.clone(),
        _ => return e.into(),
    };
    let lower = message.to_ascii_lowercase();
    let about_auth = ["unauthorized", "authentication required", "no basic auth credentials", "401"]
        .iter()
        .any(|w| lower.contains(w));
    match (about_auth, credential) {
        (false, _) => e.into(),
        (true, Some(c)) => {
            RegistryError::BadCredentials { registry: registry.to_owned(), username: c.username.clone(), message }
        }
        (true, None) => RegistryError::NoCredentials { registry: registry.to_owned(), message },
    }
}

/// The registry of `reference`, its stored credential, and that credential as the engine takes it.
fn stored_auth(
    store: &CredentialStore,
    reference: &str,
) -> Result<(String, Option<Credential>, Option<berth_engine::RegistryAuth>), RegistryError> {
    let registry = Reference::parse(reference)?.registry;
    let credential = credential_for(store, &registry)?;
    let auth = credential.as_ref().map(|c| c.to_engine_auth(&registry));
    Ok((registry, credential, auth))
}

/// Pull `reference` through the engine with the stored credentials for its registry.
pub async fn pull(
    engine: &dyn Engine,
    store: &CredentialStore,
    reference: &str,
    reporter: &dyn PullReporter,
) -> Result<PullOutcome, RegistryError> {
    let (registry, credential, auth) = stored_auth(store, reference)?;
    engine
        .pull_image(reference, auth.as_ref(), reporter)
        .await
        .map_err(|e| auth_error(e, &registry, credential.as_ref()))
}

/// Push the local `reference` through the engine with the stored credentials for its registry.
pub async fn push(
    engine: &dyn Engine,
    store: &CredentialStore,
    reference: &str,
    reporter: &dyn PullReporter,
) -> Result<PullOutcome, RegistryError> {
    let (registry, credential, auth) = stored_auth(store, reference)?;
    engine
        .push_image(reference, auth.as_ref(), reporter)
        .await
        .map_err(|e| auth_error(e, &registry, credential.as_ref()))
}

/// Check `credential` against `registry`, then store it in berth's credentials file.
pub async fn login(
    client: &RegistryClient,
    store: &CredentialStore,
    registry: &str,
    credential: &Credential,
) -> Result<CredentialSource, RegistryError> {
    client.login(registry, credential).await?;
    store.save(registry, credential)?;
    Ok(CredentialSource::Berth(store.berth_file.clone()))
}

/// Where an image archive comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ImportSource {
    /// A local file.
    File {
        /// Its path.
        path: PathBuf,
        /// Its expected sha256 (hex), if given.
        sha256: Option<String>,
    },
    /// An `http(s)://` URL.
    Url {
        /// The URL without any `#sha256=` fragment.
        url: String,
        /// Its expected sha256 (hex), from `--sha256` or `URL#sha256=HEX`.
        sha256: Option<String>,
    },
}

/// A digest that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a sha256 digest (64 hex digits, optionally after `sha256:`)")]
pub struct BadDigest {
    /// What was given.
    pub given: String,
}

fn hex_digest(s: &str) -> Result<String, BadDigest> {
    let h = s.strip_prefix("sha256:").unwrap_or(s);
    if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(h.to_ascii_lowercase())
    } else {
        Err(BadDigest { given: s.to_owned() })
    }
}

impl ImportSource {
    /// `SOURCE` as given on the command line, with `--sha256` if given. A URL may carry its
    /// digest as `#sha256=HEX`; given both ways, they must agree.
    pub fn parse(source: &str, sha256: Option<&str>) -> Result<ImportSource, BadDigest> {
        let flag = sha256.map(hex_digest).transpose()?;
        if source.starts_with("http://") || source.starts_with("https://") {
            let (url, fragment) = match source.split_once("#sha256=") {
                Some((u, d)) => (u, Some(hex_digest(d)?)),
                None => (source, None),
            };
            if let (Some(a), Some(b)) = (&flag, &fragment)
                && a != b
            {
                return Err(BadDigest { given: format!("{a} (--sha256) vs {b} (#sha256=)") });
            }
            Ok(ImportSource::Url { url: url.to_owned(), sha256: flag.or(fragment) })
        } else {
            Ok(ImportSource::File { path: PathBuf::from(source), sha256: flag })
        }
    }
}

/// What `berth image import` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportOutcome {
    /// The archive's kind.
    pub kind: ArchiveKind,
    /// What the engine loaded (`name:tag`, or an image ID when untagged).
    pub loaded: Vec<String>,
    /// The tag given with `--tag`, now pointing at the image.
    pub tagged: Option<String>,
    /// The download, for a URL.
    pub download: Option<Downloaded>,
}

/// Import an image archive (file or URL) into the engine, tagging it `tag` if given.
///
/// URLs are downloaded into `downloads/` (resumable; see [`download`](mod@crate::download));
/// the archive is removed once loaded. OCI archives are converted to docker-archives on the
/// way (see [`archive`](mod@crate::archive)).
pub async fn import(
    engine: &dyn Engine,
    client: &RegistryClient,
    downloads: &Path,
    source: &ImportSource,
    tag: Option<&str>,
    reporter: &dyn DownloadReporter,
) -> Result<ImportOutcome, RegistryError> {
    if let Some(t) = tag {
        Reference::parse(t)?;
    }
    let (path, downloaded) = match source {
        ImportSource::File { path, sha256 } => {
            if let Some(expected) = sha256 {
                let actual = download::sha256_file(path)?;
                if &actual != expected {
                    return Err(RegistryError::DigestMismatch {
                        url: path.display().to_string(),
                        expected: expected.clone(),
                        actual,
                    });
                }
            }
            (path.clone(), None)
        }
        ImportSource::Url { url, sha256 } => {
            use sha2::Digest as _;
            let name = hex::encode(sha2::Sha256::digest(url.as_bytes()));
            let dest = downloads.join(format!("{}.tar", &name[..24]));
            if !client.allows_private_addresses() {
                let host =
                    reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
                crate::netguard::check_literal(&host)
                    .map_err(|refused| RegistryError::PrivateAddress { url: url.clone(), refused })?;
            }
            let done =
                download::download(client.downloads(), url, &dest, sha256.as_deref(), reporter).await.map_err(|e| {
                    match &e {
                        RegistryError::Download { source: Some(s), .. } => match crate::netguard::find_in(&**s) {
                            Some(refused) => RegistryError::PrivateAddress { url: url.clone(), refused },
                            None => e,
                        },
                        _ => e,
                    }
                })?;
            (dest, Some(done))
        }
    };
    let kind = archive::detect(&path)?;
    let (loaded, tagged) = match kind {
        ArchiveKind::OciArchive => {
            let converted = downloads.join(format!("oci-{}.docker.tar", std::process::id()));
            if let Some(dir) = converted.parent() {
                std::fs::create_dir_all(dir).map_err(|e| RegistryError::Io {
                    action: "create",
                    path: dir.to_owned(),
                    source: e,
                })?;
            }
            let tags = archive::oci_to_docker_archive(&path, &converted, tag);
            let loaded = match tags {
                Ok(_) => engine.load_image(&converted).await.map_err(RegistryError::from),
                Err(e) => Err(e),
            };
            let _ = std::fs::remove_file(&converted);
            (loaded?, tag.map(berth_engine::normalize_reference))
        }
        ArchiveKind::DockerArchive | ArchiveKind::Compressed => {
            let loaded = engine.load_image(&path).await?;
            let tagged = match (tag, loaded.first()) {
                (Some(t), Some(first)) => {
                    engine.tag_image(first, t).await?;
                    Some(berth_engine::normalize_reference(t))
                }
                (Some(_), None) => {
                    return Err(RegistryError::Archive {
                        path: path.clone(),
                        problem: "the engine loaded it but named no image to tag".to_owned(),
                        source: None,
                    });
                }
                (None, _) => None,
            };
            (loaded, tagged)
        }
    };
    if downloaded.is_some() {
        let _ = std::fs::remove_file(&path);
    }
    Ok(ImportOutcome { kind, loaded, tagged, download: downloaded })
}

#[cfg(test)]
mod tests {
    use berth_engine::{Call, FakeEngine, NoProgress, fake::fake_image};

    use super::*;

    #[test]
    fn import_sources_take_their_digest_from_the_flag_or_the_fragment() {
        let h = "ab".repeat(32);
        assert_eq!(
            ImportSource::parse(&format!("http://127.0.0.1:8/x.tar#sha256={h}"), None).unwrap(),
            ImportSource::Url { url: "http://127.0.0.1:8/x.tar".into(), sha256: Some(h.clone()) }
        );
        assert_eq!(
            ImportSource::parse("x.tar", Some(&format!("sha256:{}", h.to_uppercase()))).unwrap(),
            ImportSource::File { path: "x.tar".into(), sha256: Some(h.clone()) }
        );
        assert!(ImportSource::parse("x.tar", Some("abc")).is_err());
        let other = "cd".repeat(32);
        assert!(ImportSource::parse(&format!("https://h/x#sha256={h}"), Some(&other)).is_err());
    }

    #[tokio::test]
    async fn check_compares_the_registry_digest_with_the_local_repo_digests() {
        // The registry side is exercised against a real registry in crates/berth/tests/images.rs;
        // here, the comparison of what the engine holds.
        assert_eq!(
            digest_for(Some("127.0.0.1:5000/a:1"), &["other/b@sha256:1".into(), "127.0.0.1:5000/a@sha256:2".into()]),
            Some("127.0.0.1:5000/a@sha256:2".into())
        );
        assert_eq!(digest_for(Some("busybox:latest"), &["127.0.0.1:5000/a@sha256:2".into()]), None);
        assert_eq!(digest_for(None, &["x@sha256:1".into()]), Some("x@sha256:1".into()));
    }

    #[tokio::test]
    async fn ls_marks_images_that_carry_a_descriptor_and_lists_every_tag() {
        let fake = FakeEngine::new();
        let mut tool = fake_image("lab/tool:1");
        tool.labels.insert("org.nrg.commands".into(), "[]".into());
        tool.repo_digests = vec!["127.0.0.1:5000/lab/tool@sha256:00".into()];
        fake.add_image("lab/tool:1", tool);
        fake.add_image("busybox", fake_image("busybox"));
        fake.tag_image("lab/tool:1", "127.0.0.1:5000/lab/tool:1").await.unwrap();
        let rows = list(&fake, &["org.berth.boutiques.descriptor", "org.nrg.commands"]).await.unwrap();
        let refs: Vec<_> = rows.iter().map(|r| r.reference.clone().unwrap()).collect();
        assert_eq!(refs, ["127.0.0.1:5000/lab/tool:1", "busybox:latest", "lab/tool:1"]);
        assert_eq!(rows[0].descriptor_labels, ["org.nrg.commands"]);
        assert_eq!(rows[0].repo_digest.as_deref(), Some("127.0.0.1:5000/lab/tool@sha256:00"));
        assert!(rows[1].descriptor_labels.is_empty());
        assert_eq!(rows[1].created.as_deref(), Some("2024-01-01T00:00:00Z"));
    }

    #[tokio::test]
    async fn pulls_carry_the_stored_credentials_and_refusals_name_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore { berth_file: dir.path().join("c.json"), docker_config: None };
        let fake = FakeEngine::new();
        fake.add_registry_image("127.0.0.1:5000/a:1", fake_image("127.0.0.1:5000/a:1"), vec![]);
        pull(&fake, &store, "127.0.0.1:5000/a:1", &NoProgress).await.unwrap();
        assert!(matches!(&fake.calls()[0], Call::PullImage { auth: None, .. }));

        store.save("127.0.0.1:5000", &Credential { username: "ana".into(), secret: "pw".into() }).unwrap();
        fake.fail_next(
            berth_engine::Operation::PullImage,
            EngineError::Pull {
                reference: "127.0.0.1:5000/a:1".into(),
                status_code: Some(500),
                message: "Head \"http://127.0.0.1:5000/v2/a/manifests/1\": unauthorized: authentication required"
                    .into(),
            },
        );
        let e = pull(&fake, &store, "127.0.0.1:5000/a:1", &NoProgress).await.unwrap_err();
        assert!(
            matches!(&e, RegistryError::BadCredentials { registry, username, .. } if registry == "127.0.0.1:5000" && username == "ana"),
            "{e:?}"
        );
        assert!(e.hint().unwrap().contains("berth login 127.0.0.1:5000"));
        match &fake.calls()[1] {
            Call::PullImage { auth: Some(a), .. } => {
                assert_eq!((a.username.as_deref(), a.server_address.as_deref()), (Some("ana"), Some("127.0.0.1:5000")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn importing_a_docker_archive_with_a_tag_loads_then_tags_the_loaded_image() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "manifest.json", &b"[]"[..]).unwrap();
        b.finish().unwrap();
        let fake = FakeEngine::new();
        fake.add_archive(&path, "saved/x:1", fake_image("saved/x:1"));
        let client = RegistryClient::new(Default::default()).unwrap();
        let source = ImportSource::File { path: path.clone(), sha256: None };
        let out =
            import(&fake, &client, dir.path(), &source, Some("mine/x"), &download::NoDownloadProgress).await.unwrap();
        assert_eq!(out.loaded, ["saved/x:1"]);
        assert_eq!(out.tagged.as_deref(), Some("mine/x:latest"));
        assert!(fake.calls().contains(&Call::TagImage { source: "saved/x:1".into(), target: "mine/x".into() }));

        let wrong = ImportSource::File { path, sha256: Some("0".repeat(64)) };
        let e = import(&fake, &client, dir.path(), &wrong, None, &download::NoDownloadProgress).await.unwrap_err();
        assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e:?}");
    }
}
