//! Errors of reading a target: finding it, opening its archive or directory, reading layers.
//!
//! Analyzers do not fail the inventory: a package database that cannot be parsed becomes a
//! warning in [`Inventory::warnings`](crate::Inventory), so one odd file does not hide the rest.

use std::path::PathBuf;

use crate::fs::EscapeError;

/// Why a target could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file or directory could not be read.
    #[error("cannot read `{}`", path.display())]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The target names nothing berth can read.
    #[error("`{target}` is not an image the engine has, an image archive, an OCI layout or a directory")]
    NotFound {
        /// The target as given.
        target: String,
    },

    /// A tarball that is neither a `docker save` archive nor an OCI layout.
    #[error("`{}` is not an image archive: it has neither `manifest.json` nor `index.json`", path.display())]
    UnknownArchive {
        /// The tarball.
        path: PathBuf,
    },

    /// An image manifest, index or config that cannot be understood.
    #[error("`{}`: {what} is not valid: {problem}", path.display())]
    Manifest {
        /// The archive or layout.
        path: PathBuf,
        /// Which document (`manifest.json`, `index.json`, a config blob).
        what: String,
        /// What is wrong.
        problem: String,
    },

    /// The manifest names a blob the archive does not contain.
    #[error("`{}` has no `{name}`, which its manifest lists", path.display())]
    MissingBlob {
        /// The archive or layout.
        path: PathBuf,
        /// The missing member.
        name: String,
    },

    /// A file of an OCI layout directory is, or is reached through, a link, or is not a
    /// regular file.
    #[error("`{}`: refusing `{name}` of the layout", path.display())]
    Layout {
        /// The layout directory.
        path: PathBuf,
        /// The member.
        name: String,
        /// What was found.
        #[source]
        source: berth_hostpath::HostPathError,
    },

    /// An entry or link in an archive leads outside the image root.
    #[error("`{}`: refusing an archive entry that leads outside the image root", path.display())]
    Escape {
        /// The archive.
        path: PathBuf,
        /// The entry.
        #[source]
        source: EscapeError,
    },

    /// A tar stream (an archive or a layer) is corrupt.
    #[error("`{}`: {what} is not a readable tar stream", path.display())]
    Tar {
        /// The archive.
        path: PathBuf,
        /// Which layer or member.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },

    /// The scan read more than `[inventory] max_read_bytes` (a decompression bomb, or an image
    /// larger than the limit).
    #[error("`{}`: stopped reading {what}: the scan has decompressed and read {limit} bytes, the most `[inventory] max_read_bytes` allows", path.display())]
    ReadLimit {
        /// The archive or directory.
        path: PathBuf,
        /// Which layer or member was being read.
        what: String,
        /// The limit.
        limit: u64,
    },

    /// A tar header record (GNU long name or link name, PAX extended header) larger than berth
    /// reads.
    #[error("`{}`: {what} has a tar header record (long name or PAX extended header) larger than {limit} bytes", path.display())]
    HeaderTooLarge {
        /// The archive.
        path: PathBuf,
        /// Which layer or member.
        what: String,
        /// The limit.
        limit: u64,
    },

    /// The names of a layer's entries alone would pass `[inventory] max_held_bytes`.
    #[error("`{}`: {what} has more entries than berth keeps track of: their names pass `[inventory] max_held_bytes` ({limit} bytes)", path.display())]
    HeldLimit {
        /// The archive or directory.
        path: PathBuf,
        /// Which layer.
        what: String,
        /// The limit.
        limit: u64,
    },

    /// An archive with more members than any image archive has.
    #[error("`{}` has more than {limit} members, more than any image archive has", path.display())]
    TooManyMembers {
        /// The archive.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },

    /// A manifest, index or image config larger than `[inventory] max_document_bytes`.
    #[error("`{}`: `{name}` is larger than {limit} bytes, the most `[inventory] max_document_bytes` allows", path.display())]
    DocumentTooLarge {
        /// The archive or layout.
        path: PathBuf,
        /// The member.
        name: String,
        /// The limit.
        limit: u64,
    },

    /// The configuration's `[inventory]` limits are not valid.
    #[error("the `[inventory]` limits in the configuration are not valid")]
    Config(#[from] berth_config::ConfigError),

    /// The container engine could not export the image.
    #[error("the container engine could not export image `{reference}`")]
    Engine {
        /// The image reference.
        reference: String,
        /// The engine's error.
        #[source]
        source: berth_engine::EngineError,
    },

    /// No engine was given for an image reference.
    #[error("`{reference}` looks like an image reference, but no container engine is available")]
    NoEngine {
        /// The reference.
        reference: String,
    },
}

impl SourceError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NotFound { .. } => Some(
                "name an image the engine has (`docker images`), or prefix the target with its kind: \
                 `docker-archive:FILE`, `oci-archive:FILE`, `oci-dir:DIR`, `dir:ROOTFS`"
                    .to_owned(),
            ),
            Self::UnknownArchive { .. } => {
                Some("make one with `docker save IMAGE -o FILE` or `skopeo copy ... oci-archive:FILE`".to_owned())
            }
            Self::Layout { .. } => Some(
                "an OCI layout's files must be regular files inside it, not links; copy the layout without links (`cp -rL` of a layout you trust)"
                    .to_owned(),
            ),
            Self::Escape { .. } => {
                Some("the archive is malformed or malicious; do not load it into an engine".to_owned())
            }
            Self::Engine { source, .. } => source.hint(),
            Self::ReadLimit { .. } => Some(
                "the archive may be a decompression bomb; if the image really is this large, raise `max_read_bytes` in the `[inventory]` table of the configuration file (docs/configuration.md)"
                    .to_owned(),
            ),
            Self::HeaderTooLarge { .. } | Self::TooManyMembers { .. } => {
                Some("the archive is malformed or malicious; do not load it into an engine".to_owned())
            }
            Self::HeldLimit { .. } => Some(
                "raise `max_held_bytes` in the `[inventory]` table of the configuration file (docs/configuration.md) if the image is genuine"
                    .to_owned(),
            ),
            Self::DocumentTooLarge { .. } => Some(
                "image manifests and configs are kilobytes; raise `max_document_bytes` in the `[inventory]` table of the configuration file only for an archive you trust"
                    .to_owned(),
            ),
            Self::Config(e) => e.hint(),
            Self::NoEngine { .. } => {
                Some("start a container engine, or save the image with `docker save` and scan the file".to_owned())
            }
            _ => None,
        }
    }
}
