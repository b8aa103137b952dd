//! Pulling images: registry credentials, per-layer progress events and the reporter trait.
//!
//! Libraries report progress through [`PullReporter`]; only the binary draws progress bars,
//! and tests pass [`NoProgress`] or a recording reporter.

use std::fmt;

/// Credentials for one registry, passed to the engine with a pull.
///
/// `Debug` never shows the secrets.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RegistryAuth {
    /// The registry's address as the engine knows it (`registry.example.org`,
    /// `https://index.docker.io/v1/`).
    pub server_address: Option<String>,
    /// User name, for password logins.
    pub username: Option<String>,
    /// Password or personal access token, for password logins.
    pub password: Option<String>,
    /// An OAuth identity (refresh) token, instead of a password.
    pub identity_token: Option<String>,
    /// A bearer token for the registry, used as is.
    pub registry_token: Option<String>,
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("RegistryAuth")
            .field("server_address", &self.server_address)
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("identity_token", &redact(&self.identity_token))
            .field("registry_token", &redact(&self.registry_token))
            .finish()
    }
}

/// Where a layer is in its pull, from the engine's progress messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerPhase {
    /// Queued behind other downloads.
    Waiting,
    /// About to download.
    PullingFsLayer,
    /// Downloading; `current`/`total` give bytes.
    Downloading,
    /// Checking the digest.
    VerifyingChecksum,
    /// Downloaded.
    DownloadComplete,
    /// Unpacking; `current`/`total` give bytes.
    Extracting,
    /// Done.
    PullComplete,
    /// Present locally already.
    AlreadyExists,
    /// Anything else, verbatim (`Retrying in 5 seconds`, engine-specific words).
    Other(String),
}

impl LayerPhase {
    fn from_status(status: &str) -> Self {
        match status {
            "Waiting" => Self::Waiting,
            "Pulling fs layer" => Self::PullingFsLayer,
            "Downloading" => Self::Downloading,
            "Verifying Checksum" => Self::VerifyingChecksum,
            "Download complete" => Self::DownloadComplete,
            "Extracting" => Self::Extracting,
            "Pull complete" => Self::PullComplete,
            "Already exists" => Self::AlreadyExists,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One progress event of a pull.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum PullEvent {
    /// Progress of one layer.
    Layer {
        /// The layer's short ID as the engine names it.
        id: String,
        /// Its phase.
        phase: LayerPhase,
        /// Bytes done in this phase, when the engine says.
        current: Option<u64>,
        /// Bytes in all for this phase, when the engine says.
        total: Option<u64>,
    },
    /// A message about the whole pull (`Pulling from library/debian`, `Digest: sha256:...`,
    /// `Status: Downloaded newer image for debian:12`).
    Message {
        /// The text, verbatim.
        text: String,
    },
}

impl PullEvent {
    /// Turn one progress record of the engine (`status`, `id`, `progressDetail`) into an event.
    ///
    /// Records about a layer carry the layer's ID; the first record (`Pulling from ...`) carries
    /// the tag as its ID and is a message, not a layer.
    pub fn from_progress(status: &str, id: Option<&str>, current: Option<i64>, total: Option<i64>) -> Self {
        let positive = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).filter(|v| *v > 0);
        match id {
            Some(id) if !id.is_empty() && !status.starts_with("Pulling from") => Self::Layer {
                id: id.to_owned(),
                phase: LayerPhase::from_status(status),
                current: positive(current),
                total: positive(total),
            },
            _ => Self::Message { text: status.to_owned() },
        }
    }

    /// The manifest digest, if this is the engine's `Digest: sha256:...` message.
    pub fn digest(&self) -> Option<&str> {
        match self {
            Self::Message { text } => text.strip_prefix("Digest: ").map(str::trim),
            Self::Layer { .. } => None,
        }
    }
}

/// Receives pull progress. Implemented by the binary (progress bars) and by tests.
pub trait PullReporter: Send + Sync {
    /// Called for every progress event, in the engine's order.
    fn on_event(&self, event: &PullEvent);
}

/// A reporter that ignores progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl PullReporter for NoProgress {
    fn on_event(&self, _event: &PullEvent) {}
}

/// The result of a successful pull.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PullOutcome {
    /// The reference as pulled (with `:latest` added when it had neither tag nor digest).
    pub reference: String,
    /// The manifest digest the engine reported, if it did.
    pub digest: Option<String>,
}

/// The reference to ask the engine for: `reference` itself when it has a tag or a digest,
/// else `reference:latest`.
///
/// The pull endpoint pulls *every* tag of a repository when given neither (unlike the `docker`
/// client, which adds `:latest` itself), so berth must add it.
pub fn normalize_reference(reference: &str) -> String {
    if reference.contains('@') {
        return reference.to_owned();
    }
    // A colon before the last slash belongs to a registry port (`localhost:5000/x`), not a tag.
    let last_component = reference.rsplit('/').next().unwrap_or(reference);
    if last_component.contains(':') { reference.to_owned() } else { format!("{reference}:latest") }
}

/// `reference` split into its repository and its tag (none when it has no tag); a digest
/// (`name@sha256:...`) stays in the repository part.
pub fn split_tag(reference: &str) -> (&str, Option<&str>) {
    if reference.contains('@') {
        return (reference, None);
    }
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => (&reference[..slash + i], Some(&reference[slash + i + 1..])),
        None => (reference, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_without_tag_get_latest() {
        assert_eq!(normalize_reference("debian"), "debian:latest");
        assert_eq!(normalize_reference("debian:12"), "debian:12");
        assert_eq!(normalize_reference("localhost:5000/tools/fsl"), "localhost:5000/tools/fsl:latest");
        assert_eq!(normalize_reference("localhost:5000/tools/fsl:6.0"), "localhost:5000/tools/fsl:6.0");
        let pinned = "debian@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(normalize_reference(pinned), pinned);
    }

    #[test]
    fn tags_split_after_the_last_slash_only() {
        assert_eq!(split_tag("debian:12"), ("debian", Some("12")));
        assert_eq!(split_tag("localhost:5000/tools/fsl"), ("localhost:5000/tools/fsl", None));
        assert_eq!(split_tag("localhost:5000/tools/fsl:6.0"), ("localhost:5000/tools/fsl", Some("6.0")));
        assert_eq!(split_tag("a@sha256:00"), ("a@sha256:00", None));
    }

    #[test]
    fn progress_records_become_layer_events_or_messages() {
        assert_eq!(
            PullEvent::from_progress("Pulling from library/debian", Some("12"), None, None),
            PullEvent::Message { text: "Pulling from library/debian".into() }
        );
        assert_eq!(
            PullEvent::from_progress("Downloading", Some("a1b2c3"), Some(1024), Some(4096)),
            PullEvent::Layer {
                id: "a1b2c3".into(),
                phase: LayerPhase::Downloading,
                current: Some(1024),
                total: Some(4096),
            }
        );
        assert_eq!(
            PullEvent::from_progress("Pull complete", Some("a1b2c3"), Some(0), Some(0)),
            PullEvent::Layer { id: "a1b2c3".into(), phase: LayerPhase::PullComplete, current: None, total: None }
        );
        let digest = PullEvent::from_progress("Digest: sha256:abc", None, None, None);
        assert_eq!(digest.digest(), Some("sha256:abc"));
    }

    #[test]
    fn registry_auth_debug_hides_secrets() {
        let auth = RegistryAuth {
            server_address: Some("registry.example.org".into()),
            username: Some("ana".into()),
            password: Some("hunter2".into()),
            ..RegistryAuth::default()
        };
        let shown = format!("{auth:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("ana"), "{shown}");
    }
}
