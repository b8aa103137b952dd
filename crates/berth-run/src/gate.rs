//! What a site allows a run: the registry credentials its pulls use and the decision about
//! the image it runs (the scan policy, `[scan] run_policy`).
//!
//! Every [`Runner`](crate::Runner) holds a gate and consults it on every path that records a
//! run (a local run, a Slurm submission, a pipeline task, a server launch, a verification), so
//! no front end can forget the site's policy: it is not theirs to apply. berth-session builds
//! the gate from the site's configuration; [`OPEN`] (no policy, no credentials) and [`Fixed`]
//! are for tests.

use std::sync::Arc;

use async_trait::async_trait;
use berth_engine::{Engine, RegistryAuth};

use crate::run::{ImageCheck, OutputSink};

/// Why the gate could not decide. The run is not started (and, when its record exists, it is
/// failed with this message).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct GateError {
    /// What failed, naming the setting or the image.
    pub message: String,
    /// What the user can do.
    pub hint: Option<String>,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The site's rules for a run, consulted by the runner.
#[async_trait]
pub trait RunGate: Send + Sync {
    /// The stored credentials for `image`'s registry, for a pull. An unreadable credential
    /// store is an error, not "no credentials": a pull without them fails later with a
    /// misleading "unauthorized".
    fn pull_auth(&self, image: &str) -> Result<Option<RegistryAuth>, GateError>;

    /// The decision about the resolved image (`image_id`), made before any container exists,
    /// or `None` when the site has no policy. Notes go to `sink`.
    async fn check_image(
        &self,
        engine: Arc<dyn Engine>,
        image_id: &str,
        sink: &dyn OutputSink,
    ) -> Result<Option<ImageCheck>, GateError>;
}

/// No policy and no stored credentials.
pub static OPEN: Fixed = Fixed { auth: None, check: None };

/// A fixed answer: these credentials for every image and this decision for every image. For
/// tests of the runner and of the backends that use it.
#[derive(Debug, Default, Clone)]
pub struct Fixed {
    /// Returned by `pull_auth`.
    pub auth: Option<RegistryAuth>,
    /// Returned by `check_image`.
    pub check: Option<ImageCheck>,
}

#[async_trait]
impl RunGate for Fixed {
    fn pull_auth(&self, _image: &str) -> Result<Option<RegistryAuth>, GateError> {
        Ok(self.auth.clone())
    }

    async fn check_image(
        &self,
        _engine: Arc<dyn Engine>,
        _image_id: &str,
        _sink: &dyn OutputSink,
    ) -> Result<Option<ImageCheck>, GateError> {
        Ok(self.check.clone())
    }
}
