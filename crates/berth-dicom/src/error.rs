//! What can go wrong setting up or running the DICOM node, with a `hint()` for the user.
//! Faults of one association (a peer that disconnects, a malformed PDU) are not errors of the
//! node: they end that association, are counted and logged, and the listener carries on.

use std::path::PathBuf;

/// Setting up or running the DICOM node failed.
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    /// A setting (flag or `[dicom]` key) has a value that cannot be used.
    #[error("`{key}`: `{value}` {reason}")]
    Setting {
        /// The flag or key (`--ae-title`, `[dicom] duplicates`).
        key: String,
        /// The value given.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// No project was named.
    #[error("no project to receive DICOM instances for")]
    NoProject,
    /// The project is unknown to the store or has no usable data root.
    #[error("project \"{project}\": {reason}")]
    Project {
        /// The project.
        project: String,
        /// What is wrong.
        reason: String,
    },
    /// The data root cannot be opened or swept.
    #[error("cannot use the data root `{}`", path.display())]
    DataRoot {
        /// The data root.
        path: PathBuf,
        /// Why.
        #[source]
        source: berth_hostpath::HostPathError,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {address}")]
    Bind {
        /// The address and port.
        address: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Accepting connections failed.
    #[error("accepting a DICOM connection failed")]
    Accept {
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
}

impl DicomError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            DicomError::Setting { .. } => {
                Some("fix the flag, or the key in the `[dicom]` table (docs/dicom.md)".into())
            }
            DicomError::NoProject => Some("give `--project`, or set `[dicom] project` in the configuration".into()),
            DicomError::Project { .. } => {
                Some("create the project with `berth project add ID --data-root DIR`, or fix its data roots".into())
            }
            DicomError::DataRoot { .. } => Some("the data root must be a directory berth may write to".into()),
            DicomError::Bind { .. } => Some(
                "another program may hold the port (`ss -ltnp`); ports below 1024 need privileges; \
                 `--port 0` picks a free one"
                    .into(),
            ),
            DicomError::Accept { .. } => None,
            DicomError::Store(e) => e.hint(),
        }
    }
}
