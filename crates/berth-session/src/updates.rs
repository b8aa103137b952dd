//! `--security-updates`: a run on its image with the distribution's updates applied (berth
//! harden update, made once per base image and day). The rule — pull as asked, update, run
//! the updated image, record the base in the run's labels — is the site's, whichever front end
//! asks for it.

use berth_run::{PreparedJob, RunError, Runner};

/// Why the updates could not be applied; nothing ran.
#[derive(Debug, thiserror::Error)]
pub enum UpdatesError {
    /// The image could not be found or pulled.
    #[error(transparent)]
    Image(#[from] RunError),
    /// The update failed.
    #[error("cannot apply security updates to `{image}`")]
    Update {
        /// The image.
        image: String,
        /// What failed.
        #[source]
        source: berth_harden::UpdateError,
    },
}

impl UpdatesError {
    /// What the user can do.
    pub fn hint(&self) -> Option<String> {
        match self {
            UpdatesError::Image(e) => e.hint(),
            UpdatesError::Update { source, .. } => source.hint(),
        }
    }
}

/// Applies the distribution's security updates to `job`'s image (pulled first as the runner's
/// pull policy says) and points `job` at the updated image; the runner records the base and
/// the date in its labels. Notes go to the runner's sink.
pub async fn apply_security_updates(runner: &mut Runner<'_>, job: &mut PreparedJob) -> Result<(), UpdatesError> {
    runner.resolve_image(&job.image).await?;
    runner.sink.note(&format!("applying security updates to {}", job.image));
    let log = |line: &str| tracing::debug!(target: "berth::harden", "{line}");
    let updated = berth_harden::update(runner.engine.clone(), &job.image, &berth_harden::UpdateOptions::today(), &log)
        .await
        .map_err(|source| UpdatesError::Update { image: job.image.clone(), source })?;
    runner.sink.note(&format!(
        "running on {} ({}; {})",
        updated.reference,
        if updated.reused { "updated earlier today" } else { "updated now" },
        updated.image_id
    ));
    runner.labels.extend(updated.run_labels());
    job.image = updated.reference;
    Ok(())
}
