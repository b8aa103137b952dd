//! Where a prepared job's container runs: an execution backend beside the engine choice.
//!
//! [`Local`] runs it on this machine's engine ([`Runner::run`], the default). berth-slurm's
//! backend hands it to a Slurm cluster as a batch job whose script runs the same container with
//! the engine on the compute node. Both record the run the same way (inputs hashed before,
//! outputs hashed after, logs, exit code), so pipelines, `berth show` and `berth verify` do not
//! care which one ran it.

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::prepare::PreparedJob;
use crate::run::{RunError, RunOutcome, Runner};

/// Runs prepared jobs somewhere and records them through the runner's store.
#[async_trait]
pub trait ExecutionBackend: Send + Sync {
    /// The backend's name as recorded and shown (`local`, `slurm`).
    fn name(&self) -> &'static str;

    /// Runs `job` to its end (or until `cancel` fires) and records it, like [`Runner::run`]:
    /// `runner` gives the store, the engine (to resolve the image), the host, the output sink
    /// and the run's labels.
    async fn run(
        &self,
        runner: &Runner<'_>,
        job: &PreparedJob,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, RunError>;

    /// Stops what a dead berth process left running for `run` (a pipeline being recovered).
    /// The local backend's containers are stopped by the caller through the engine; a
    /// scheduler cancels the run's job.
    fn abandon(&self, _store: &berth_store::Store, _run: &berth_store::RunId) {}
}

/// This machine's engine: [`Runner::run`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Local;

#[async_trait]
impl ExecutionBackend for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn run(
        &self,
        runner: &Runner<'_>,
        job: &PreparedJob,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, RunError> {
        runner.run(job, cancel).await
    }
}
