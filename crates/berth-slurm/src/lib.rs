//! Slurm as an execution backend: berth hands each run (and every pipeline task) to the
//! cluster's scheduler instead of running the container itself.
//!
//! The layers, in the order a run uses them:
//!
//! - [`script`]: the `sbatch` options from the job's resources and the cluster settings
//!   ([`script::resource_args`]), and the job script that runs the prepared job's container with
//!   the engine on the compute node ([`script::job_script`], [`script::NodeEngine`]).
//! - [`scheduler`]: `sbatch`, `squeue`, `sacct` and `scancel` behind the [`Scheduler`] trait;
//!   [`SlurmCli`] runs the real commands, [`FakeScheduler`] records for unit tests.
//! - [`backend`]: [`SlurmBackend`], berth-run's `ExecutionBackend` for Slurm: record, submit
//!   (runs submitted together become one job array), wait and stream, finish the record
//!   (exit code, logs, outputs, accounting); [`backend::refresh`] and [`backend::cancel`] for
//!   `berth status` and `berth cancel` on detached runs.
//!
//! - [`workdir`]: the work directory on the shared file system, refused unless only the
//!   submitter can change it; private directories and atomic private files in it.
//!
//! See `docs/slurm.md` for the shared-file-system assumptions and the choices made.

pub mod backend;
pub mod fake;
pub mod scheduler;
pub mod script;
pub mod workdir;

pub use backend::{BACKEND_LABEL, Refreshed, SlurmBackend, SlurmOptions};
pub use fake::FakeScheduler;
pub use scheduler::{Accounting, JobState, Scheduler, SchedulerError, SlurmCli};
pub use script::{ClusterOptions, NodeEngine};
