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

    /// A file an analyzer needs is larger than berth reads into memory.
    #[error("`{entry}` is {size} bytes, more than the {limit} bytes berth reads of one file")]
    TooLarge {
        /// The entry.
        entry: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },

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
            Self::Escape { .. } => {
                Some("the archive is malformed or malicious; do not load it into an engine".to_owned())
            }
            Self::Engine { source, .. } => source.hint(),
            Self::NoEngine { .. } => {
                Some("start a container engine, or save the image with `docker save` and scan the file".to_owned())
            }
            _ => None,
        }
    }
}
