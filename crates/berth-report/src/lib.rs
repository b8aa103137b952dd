//! What a pipeline run leaves for people and archives: a self-contained HTML report (a
//! timeline of tasks, statuses, durations, links to logs and provenance) and a Workflow Run
//! RO-Crate (<https://w3id.org/ro/wfrun/workflow/0.5>) of its provenance.
//!
//! Both read the store's records only: the pipeline run with its tasks
//! ([`berth_store::PipelineRunRecord`]) and each task's run ([`berth_store::RunRecord`]).

pub mod html;
pub mod rocrate;

use std::path::{Path, PathBuf};

pub use html::render_html;
pub use rocrate::{Changed, CrateSummary, ExportOptions, write_ro_crate};

/// Why a report or crate could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("cannot write {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The destination exists and is not empty.
    #[error("{} exists and is not empty", path.display())]
    NotEmpty {
        /// The path.
        path: PathBuf,
    },
    /// Files the run recorded are no longer what it produced or read.
    #[error(
        "{} file{} of this pipeline run changed since it ran:\n{}",
        changed.len(),
        if changed.len() == 1 { "" } else { "s" },
        rocrate::list_changed(changed)
    )]
    Changed {
        /// What changed, and how.
        changed: Vec<Changed>,
    },
}

impl ReportError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ReportError::NotEmpty { .. } => Some("choose a new directory for the crate".into()),
            ReportError::Changed { .. } => Some(
                "a later run or a person changed them; re-run the pipeline to export what it produces now, or \
                 export with `--allow-changed` to leave the changed files out of the crate, each marked with \
                 its recorded and current hash"
                    .into(),
            ),
            ReportError::Io { .. } => None,
        }
    }
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io { path: path.to_owned(), source }
}

/// Writes `content` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), ReportError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, content).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub(crate) fn millis(t: Option<&str>) -> Option<i64> {
    t?.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}
