//! Pipelines: a YAML file of named steps (registered tools or Boutiques descriptors), fanned
//! out over the participants and sessions of a BIDS dataset or over a list, expanded into a
//! DAG of tasks, each task an ordinary berth run.
//!
//! - [`model`]: the file, its JSON Schema, parsing with problems named by path.
//! - [`bids`]: participants and sessions of a dataset; `--participant-label`.
//! - [`plan`]: tools, bindings checked against descriptors, `${...}` references, tasks and
//!   their dependencies.
//! - [`exec`]: the scheduler (jobs, CPU and memory budget), retries, timeouts, the step cache,
//!   resume after a crash.
//! - [`publish`]: atomic publishing of final outputs, following nothing the tool left.

use std::path::PathBuf;

use berth_descriptor::Problems;

pub mod bids;
pub mod exec;
pub mod model;
pub mod plan;
pub mod publish;

pub use bids::{Dataset, Participant};
pub use exec::{ExecOptions, PipelineOutcome, Progress, TaskEvent, execute};
pub use model::{Pipeline, PipelineSpec, load, parse};
pub use plan::{AnalysisLevel, Plan, PlanOptions, Task, plan};

/// Why a pipeline could not be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The pipeline file is not UTF-8.
    #[error("{} is not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// The pipeline file has problems (listed).
    #[error("the pipeline {} is not valid", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problems: Problems,
    },
    /// The dataset directory does not exist.
    #[error("the dataset {} does not exist or is not a directory", path.display())]
    NoDataset {
        /// The path.
        path: PathBuf,
    },
    /// The dataset has no `sub-*` directories.
    #[error("the dataset {} has no participants (no `sub-<label>` directories)", path.display())]
    NoParticipants {
        /// The path.
        path: PathBuf,
    },
    /// `--participant-label` named participants the dataset does not have.
    #[error("participant(s) {} not found in {}; it has: {}", unknown.join(", "), root.display(), known.join(", "))]
    UnknownParticipants {
        /// Labels not found.
        unknown: Vec<String>,
        /// Labels there are.
        known: Vec<String>,
        /// The dataset.
        root: PathBuf,
    },
    /// `--session-label` named sessions no participant has.
    #[error(
        "session(s) {} not found in {}; it has: {}",
        unknown.iter().map(|u| format!("ses-{u}")).collect::<Vec<_>>().join(", "),
        root.display(),
        if known.is_empty() { "no sessions".to_string() } else { known.iter().map(|k| format!("ses-{k}")).collect::<Vec<_>>().join(", ") }
    )]
    UnknownSessions {
        /// Labels not found.
        unknown: Vec<String>,
        /// Labels there are.
        known: Vec<String>,
        /// The dataset.
        root: PathBuf,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    /// A run could not be made.
    #[error(transparent)]
    Run(#[from] berth_run::RunError),
    /// Outputs could not be published.
    #[error(transparent)]
    Publish(#[from] publish::PublishError),
    /// Files could not be written (work or output directory).
    #[error("cannot write {}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl PipelineError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            PipelineError::Invalid { .. } => {
                Some("fix the problems listed above; `berth pipeline validate FILE` checks them".into())
            }
            PipelineError::NoDataset { .. } => {
                Some("pass `--bids DIR` or set `dataset: {bids: DIR}` (relative to the pipeline file)".into())
            }
            PipelineError::NoParticipants { .. } => {
                Some("a BIDS dataset has one `sub-<label>` directory per participant".into())
            }
            PipelineError::UnknownParticipants { .. } => Some("labels are given with or without `sub-`".into()),
            PipelineError::UnknownSessions { .. } => Some("labels are given with or without `ses-`".into()),
            PipelineError::Store(e) => e.hint(),
            PipelineError::Run(e) => e.hint(),
            PipelineError::Publish(e) => e.hint(),
            _ => None,
        }
    }

    /// The problems, when the file is invalid.
    pub fn problems(&self) -> Option<&Problems> {
        match self {
            PipelineError::Invalid { problems, .. } => Some(problems),
            _ => None,
        }
    }
}
