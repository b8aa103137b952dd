//! Running a prepared job: image → record → container → logs → outputs → record.
//!
//! The order matters for crash safety: the run record exists before the container, the
//! container carries the run id in a label, and the record says `running` only once the
//! container has started. If berth dies at any point, [`crate::reconcile`] can finish the
//! record from what the engine still knows.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_engine::{
    BindMount, ContainerSpec, Engine, EngineError, EngineInfo, Gpus, LogChunk, LogStreamKind, Network, PullReporter,
    Tmpfs, UserId,
};
use berth_store::{FileRecord, FileRole, LogWriter, NewRun, RunId, RunStatus, RunUpdate, Store};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::host::HostInfo;
use crate::prepare::{Exec, GpuRequest, PreparedJob, SCRIPT_PATH};
use crate::{inputs, outputs};

/// Label carrying the run id on every container berth creates.
pub const RUN_ID_LABEL: &str = "berth.run-id";
/// How long a container gets to stop after Ctrl+C or SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How long the followed log stream may stay open after the container has ended.
const LOG_DRAIN_GRACE: Duration = Duration::from_secs(5);

/// The run's two log files, stdout then stderr.
type LogWriters = Mutex<(LogWriter<std::fs::File>, LogWriter<std::fs::File>)>;

/// When to pull the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    /// Pull when the engine does not have it (like `docker run`).
    #[default]
    Missing,
    /// Always pull, to get the tag's current image.
    Always,
    /// Never pull; a missing image is an error.
    Never,
}

/// Where a run's output goes while it happens (the terminal, or nothing).
pub trait OutputSink: Send + Sync {
    /// Bytes the tool wrote to stdout.
    fn stdout(&self, bytes: &[u8]);
    /// Bytes the tool wrote to stderr.
    fn stderr(&self, bytes: &[u8]);
    /// A progress message from berth itself.
    fn note(&self, message: &str);
}

/// An `OutputSink` that drops everything.
#[derive(Debug, Default)]
pub struct Silent;

impl OutputSink for Silent {
    fn stdout(&self, _: &[u8]) {}
    fn stderr(&self, _: &[u8]) {}
    fn note(&self, _: &str) {}
}

/// Why a run could not be started (nothing was recorded).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The image is not on the engine and may not (or could not) be pulled.
    #[error("image `{image}` is not available")]
    ImageUnavailable {
        /// The reference.
        image: String,
        /// What the engine said.
        #[source]
        source: EngineError,
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    /// The site refused the run (its scan policy); the run is recorded as failed with this
    /// message and nothing was started or submitted.
    #[error("run {}: {message}", run_id.as_str())]
    Refused {
        /// The failed run's record.
        run_id: RunId,
        /// Why (the policy's summary).
        message: String,
    },
    /// The site's gate could not decide (credentials unreadable, the image could not be scanned).
    #[error(transparent)]
    Gate(#[from] crate::gate::GateError),
    /// The execution backend (a cluster's scheduler) refused or failed.
    #[error("{backend}: {message}")]
    Backend {
        /// The backend (`slurm`).
        backend: &'static str,
        /// What failed, with the scheduler's own words.
        message: String,
        /// What the user can do.
        hint: Option<String>,
    },
    /// An input cannot be used (outside its data roots, a link, changed since it was checked).
    #[error(transparent)]
    Input(#[from] inputs::InputError),
    /// The run cannot be traced as asked (`--trace`).
    #[error("{message}")]
    Trace {
        /// Why.
        message: String,
        /// What the user can do.
        hint: Option<String>,
    },
    /// Writing a file the run needs failed.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A configuration file or a directory berth gives to the tool could not be reached
    /// beneath the output directory without following a link (a reused output directory may
    /// hold links the previous tool left there).
    #[error("{}", output_dir_message(path, error))]
    OutputDir {
        /// The file or directory berth was writing or giving to the tool.
        path: PathBuf,
        /// What berth-hostpath refused (its message is part of ours: a run that fails after
        /// its record exists keeps only the message).
        error: berth_hostpath::HostPathError,
    },
}

/// The message of [`RunError::OutputDir`]: what was refused and, for a link, what to do (the
/// run's record keeps the message, not the hint).
fn output_dir_message(path: &Path, error: &berth_hostpath::HostPathError) -> String {
    let mut m = format!("cannot prepare {} in the output directory: {error}", path.display());
    if let Some(h) = link_hint(error) {
        m.push_str("; ");
        m.push_str(&h);
    }
    m
}

fn link_hint(error: &berth_hostpath::HostPathError) -> Option<String> {
    let berth_hostpath::HostPathError::Link { path } = error else { return None };
    Some(format!(
        "{} may have been left by the tool of an earlier run in this output directory: remove it, or use a \
         fresh output directory (`--output-dir`)",
        path.display()
    ))
}

impl RunError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            RunError::ImageUnavailable { image, .. } => Some(format!(
                "pull or load it first (`docker pull {image}` / `docker load`), or run with `--pull missing`"
            )),
            RunError::Engine(e) => e.hint(),
            RunError::Backend { hint, .. } | RunError::Trace { hint, .. } => hint.clone(),
            RunError::Gate(e) => e.hint.clone(),
            RunError::Refused { run_id, .. } => Some(format!(
                "`berth show {}` has the decision; `berth scan IMAGE` the findings; a finding a person has judged goes into `[scan] accept`",
                run_id.as_str()
            )),
            RunError::Input(e) => e.hint(),
            RunError::OutputDir { error, .. } => link_hint(error).or_else(|| error.hint()),
            _ => None,
        }
    }
}

/// The result of a run that was recorded.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// The run's id.
    pub run_id: RunId,
    /// Its final status.
    pub status: RunStatus,
    /// The tool's exit code, when it ran to the end.
    pub exit_code: Option<i64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Required outputs that are missing.
    pub missing_outputs: Vec<String>,
    /// Outputs found: id and host path.
    pub outputs: Vec<(String, PathBuf)>,
}

/// The image as resolved on the engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolvedImage {
    /// The reference asked for.
    pub reference: String,
    /// The image ID (`sha256:…`).
    pub id: String,
    /// The registry digest (`name@sha256:…`), when the image came from a registry.
    pub repo_digest: Option<String>,
}

/// A decision about the image made before the run: the scan policy (`[scan] run_policy`,
/// applied through the runner's [`RunGate`](crate::gate::RunGate) on every path). It is recorded in the run's provenance record
/// (`berth.scan-policy`); a refusal fails the run before any container is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCheck {
    /// Do not create the container.
    pub refuse: bool,
    /// One line: what was decided and why (the run's error when refused).
    pub summary: String,
    /// The whole decision as JSON, for the record.
    pub record_json: String,
}

impl ImageCheck {
    /// The run's error when the check refuses the image.
    pub fn refusal(&self) -> String {
        format!("refused by the scan policy: {}", self.summary)
    }
}

/// The image a run will use and the site's decision about it ([`Runner::admit`]).
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The image as resolved on the engine.
    pub image: ResolvedImage,
    /// The scan policy's decision, when the site has a policy.
    pub check: Option<ImageCheck>,
}

/// What the runner needs around a job.
pub struct Runner<'a> {
    /// The provenance store.
    pub store: &'a Store,
    /// The engine.
    pub engine: Arc<dyn Engine>,
    /// The engine's identity, recorded with each run.
    pub engine_info: EngineInfo,
    /// The host's facts, recorded with each run.
    pub host: HostInfo,
    /// Terminal output.
    pub sink: &'a dyn OutputSink,
    /// Pull progress.
    pub pull_reporter: &'a dyn PullReporter,
    /// When to pull.
    pub pull: PullPolicy,
    /// The site's rules: the credentials a pull uses and the decision about the image,
    /// consulted by [`Runner::admit`] on every path that records a run.
    pub gate: &'a dyn crate::gate::RunGate,
    /// Cap on each stored log stream.
    pub log_max_bytes: u64,
    /// Labels recorded with the run (pipelines link their step runs with these).
    pub labels: BTreeMap<String, String>,
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("engine", &self.engine_info.kind).field("pull", &self.pull).finish()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io { path: path.to_path_buf(), source }
}

/// Writes `content` through a temporary file in the same directory, then renames it. For
/// berth's own directories (the store, a Slurm work directory); files in an output directory go
/// through [`write_config_file`]. The directory is trusted; the file and its temporary are
/// not followed if they are links (berth-hostpath's `Root::write_file`): the temporary's name
/// is predictable, and a link planted under it was written through.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), RunError> {
    let hostpath_err = |e: berth_hostpath::HostPathError| match e {
        berth_hostpath::HostPathError::Io { path, source } => RunError::Io { path, source },
        e => RunError::Io { path: path.to_path_buf(), source: std::io::Error::other(e) },
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io_err(path)(std::io::ErrorKind::InvalidInput.into()))?;
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    berth_hostpath::Root::open(dir)
        .and_then(|r| r.write_file(Path::new(name), content, 0o777))
        .map_err(hostpath_err)?;
    Ok(())
}

/// Writes a configuration file at `host`, which must lie beneath `output_dir`, without
/// following links: its parents are created beneath the output directory and the file is
/// renamed into place within the opened directory (berth-hostpath's [`Root::write_file`]).
/// A reused output directory may hold links left by the previous run's tool
/// (`sub -> /etc`); berth, often root, would otherwise write through them.
///
/// [`Root::write_file`]: berth_hostpath::Root::write_file
pub fn write_config_file(output_dir: &Path, host: &Path, content: &[u8]) -> Result<(), RunError> {
    let refused = |error| RunError::OutputDir { path: host.to_path_buf(), error };
    let rel = berth_hostpath::strip_root(output_dir, host).map_err(refused)?;
    let root = berth_hostpath::Root::open(output_dir).map_err(refused)?;
    root.write_file(&rel, content, 0o777).map_err(refused)?;
    Ok(())
}

/// The repo digest of `reference`'s repository among an image's `digests`: an image pushed to
/// or pulled from several repositories has one digest per repository, and the one the run
/// used is the one to record. Docker lists familiar names (`busybox@…`), Podman qualified
/// ones (`docker.io/library/busybox@…`). Falls back to the first when none matches.
pub fn repo_digest_for(reference: &str, digests: &[String]) -> Option<String> {
    let normalized = berth_engine::normalize_reference(reference);
    let name = berth_engine::split_tag(&normalized).0;
    let name = name.split('@').next().unwrap_or(name);
    let candidates = [
        name.to_owned(),
        format!("docker.io/{name}"),
        format!("docker.io/library/{name}"),
        format!("localhost/{name}"),
    ];
    digests
        .iter()
        .find(|d| d.split_once('@').is_some_and(|(n, _)| candidates.iter().any(|c| c == n)))
        .or_else(|| digests.first())
        .cloned()
}

impl Runner<'_> {
    /// Finds the image on the engine, pulling it as the policy allows.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn resolve_image(&self, reference: &str) -> Result<ResolvedImage, RunError> {
        let found = match self.pull {
            PullPolicy::Always => None,
            _ => self.engine.inspect_image(reference).await?,
        };
        let image = match found {
            Some(i) => i,
            None if self.pull == PullPolicy::Never => {
                return Err(RunError::ImageUnavailable {
                    image: reference.to_string(),
                    source: EngineError::ImageNotFound { reference: reference.to_string() },
                });
            }
            None => {
                self.sink.note(&format!("pulling {reference}"));
                let auth = self.gate.pull_auth(reference)?;
                if let Err(source) = self.engine.pull_image(reference, auth.as_ref(), self.pull_reporter).await {
                    // A local image still runs when the registry cannot be reached (`--pull always`).
                    match self.engine.inspect_image(reference).await? {
                        Some(i) if self.pull == PullPolicy::Always => {
                            self.sink.note(&format!("could not pull {reference} ({source}); using the local image"));
                            i
                        }
                        _ => return Err(RunError::ImageUnavailable { image: reference.to_string(), source }),
                    }
                } else {
                    self.engine.inspect_image(reference).await?.ok_or_else(|| RunError::ImageUnavailable {
                        image: reference.to_string(),
                        source: EngineError::ImageNotFound { reference: reference.to_string() },
                    })?
                }
            }
        };
        Ok(ResolvedImage {
            reference: reference.to_string(),
            repo_digest: repo_digest_for(reference, &image.repo_digests),
            id: image.id,
        })
    }

    /// Resolves the image a run will use and asks the site's gate about it: what every path
    /// that records a run calls first (local runs, Slurm submissions, and through them
    /// pipelines, server launches and verifications).
    pub async fn admit(&self, reference: &str) -> Result<Admitted, RunError> {
        let image = self.resolve_image(reference).await?;
        let check = self.gate.check_image(self.engine.clone(), &image.id, self.sink).await?;
        Ok(Admitted { image, check })
    }

    /// Starts a long-lived container for `job` with exactly the confinement of a run (the same
    /// image check by the site's gate, inputs pinned and hashed, read-only input mounts, one
    /// writable output directory, the user, limits, no network, capabilities dropped), but
    /// running `argv` (a keep-alive command) instead of the tool, named `name` and labelled
    /// `labels` instead of with a run id, with `extra` mounts added (read-only by the caller's
    /// choice). Nothing is recorded as a run: the caller records the session.
    pub async fn start_long_lived(
        &self,
        job: &PreparedJob,
        name: &str,
        labels: BTreeMap<String, String>,
        argv: &[String],
        extra: &[BindMount],
    ) -> Result<LongLived, RunError> {
        if job.trace.is_some() {
            return Err(RunError::Trace {
                message: "a session cannot be traced".into(),
                hint: Some("trace single runs with `berth run --trace`".into()),
            });
        }
        let admitted = self.admit(&job.image).await?;
        if let Some(check) = admitted.check.as_ref().filter(|c| c.refuse) {
            return Err(RunError::Gate(crate::gate::GateError {
                message: check.refusal(),
                hint: Some("the site's `[scan] run_policy` refuses this image; update it (`berth harden update`) or ask the site".into()),
                source: None,
            }));
        }
        let pinned = inputs::pin(job)?;
        let inputs = pinned.hash(self.store)?;
        // The output directory as a run gets it: configuration files written beneath it, and
        // given to the tool's user when berth runs as root.
        for f in &job.config_files {
            write_config_file(&job.output_dir, &f.host, f.content.as_bytes())?;
        }
        give_output_dir_to(job)?;
        let staged = self.stage_inputs(job, &pinned)?;
        let argv = argv.to_vec();
        let mut spec = container_spec(job, &RunId::generate(), &admitted.image.id, Path::new("/"), Some(&argv));
        spec.name = Some(name.to_owned());
        spec.labels = labels;
        spec.mounts.extend(extra.iter().cloned());
        if let Some(staged) = &staged {
            staged.apply(&mut spec);
        }
        let created = self.engine.create_container(&spec).await?;
        if let Err(e) = self.engine.start_container(&created.id).await {
            let _ = self.engine.remove_container(&created.id, true).await;
            return Err(e.into());
        }
        drop(staged);
        drop(pinned);
        Ok(LongLived { admitted, inputs, container_id: created.id, warnings: created.warnings })
    }

    /// Runs `job` to its end (or until `cancel` fires) and records everything.
    #[tracing::instrument(level = "debug", skip_all, fields(tool = %job.tool))]
    pub async fn run(&self, job: &PreparedJob, cancel: CancellationToken) -> Result<RunOutcome, RunError> {
        crate::trace::check(job)?;
        let admitted = self.admit(&job.image).await?;
        // Opened once, beneath their roots, without following links; hashed from the open
        // descriptors and handed to the engine as those same inodes (`crate::inputs`).
        let pinned = inputs::pin(job)?;
        let inputs = pinned.hash(self.store)?;
        tracing::debug!(inputs = inputs.len(), "inputs opened and hashed");

        let host = self.host.hostname.clone();
        let run_id = self.store.create_run(&NewRun {
            tool_name: job.tool.clone(),
            tool_version: job.tool_version.clone(),
            descriptor_json: job.descriptor_json.clone(),
            descriptor_sha256: job.descriptor_sha256.clone(),
            invocation_json: serde_json::to_string(&job.invocation).unwrap_or_default(),
            command_line: job.command_line.clone(),
            plan_json: serde_json::to_string(job).unwrap_or_default(),
            image_ref: Some(job.image.clone()),
            output_dir: job.output_dir.to_string_lossy().into_owned(),
            owner_pid: std::process::id(),
            owner_host: host,
            owner_started_at: crate::host::process_identity(std::process::id()),
            labels: self.labels.clone(),
        })?;
        let recorded = self.run_recorded(job, &run_id, &admitted, inputs, pinned, cancel).await;
        match recorded {
            Ok(outcome) => Ok(outcome),
            Err(e) => {
                // The record exists: it must not stay queued or running.
                let msg = e.to_string();
                let _ = self.store.update_run(&run_id, &RunUpdate { error: Some(msg.clone()), ..Default::default() });
                let _ = self.store.set_status(&run_id, RunStatus::Failed, Some(&msg));
                Ok(RunOutcome {
                    run_id,
                    status: RunStatus::Failed,
                    exit_code: None,
                    error: Some(msg),
                    missing_outputs: Vec::new(),
                    outputs: Vec::new(),
                })
            }
        }
    }

    async fn run_recorded(
        &self,
        job: &PreparedJob,
        run_id: &RunId,
        admitted: &Admitted,
        inputs: Vec<FileRecord>,
        pinned: inputs::Pinned,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, RunError> {
        let (image, check) = (&admitted.image, admitted.check.as_ref());
        self.store.update_run(
            run_id,
            &RunUpdate {
                image_id: Some(image.id.clone()),
                image_digest: image.repo_digest.clone(),
                engine_kind: Some(self.engine_info.kind.as_str().to_string()),
                engine_version: Some(self.engine_info.server_version.clone()),
                engine_api_version: Some(self.engine_info.api_version.clone()),
                host_json: Some(serde_json::to_string(&self.host).unwrap_or_default()),
                relaxations_json: Some(serde_json::to_string(&job.security.relaxations).unwrap_or_default()),
                scan_policy_json: check.map(|c| c.record_json.clone()),
                ..Default::default()
            },
        )?;
        self.store.add_files(run_id, &inputs)?;
        tracing::debug!("run recorded");
        if let Some(check) = check.filter(|c| c.refuse) {
            // Refused by the scan policy: recorded, nothing created.
            let msg = check.refusal();
            self.store.update_run(run_id, &RunUpdate { error: Some(msg.clone()), ..Default::default() })?;
            self.store.set_status(run_id, RunStatus::Failed, Some(&msg))?;
            return Ok(RunOutcome {
                run_id: run_id.clone(),
                status: RunStatus::Failed,
                exit_code: None,
                error: Some(msg),
                missing_outputs: Vec::new(),
                outputs: Vec::new(),
            });
        }

        let script = write_run_files(self.store, run_id, job, &run_dir(self.store, run_id))?;

        if cancel.is_cancelled() {
            return self.finish_cancelled(run_id, None).await;
        }
        inputs::test_pause().await;
        let staged = self.stage_inputs(job, &pinned)?;
        let listening = if job.trace.is_some() { Some(crate::trace::Listening::start(job)?) } else { None };
        let mut spec = container_spec(job, run_id, &image.id, &script, None);
        if let Some(staged) = &staged {
            staged.apply(&mut spec);
        }
        if let Some(l) = &listening {
            l.apply(&mut spec);
        }
        let mut created = self.engine.create_container(&spec).await?;
        if let Exec::Shell { shell, argv_fallback, needs_shell, .. } = &job.exec
            && !self.engine.path_exists(&created.id, shell).await?
        {
            // No shell in the image (`FROM scratch`): run the words directly when the shell
            // would only have split them, else refuse before anything starts.
            self.engine.remove_container(&created.id, true).await?;
            match argv_fallback {
                Some(words) => {
                    self.sink.note(&format!("the image has no {shell}; running the command as an argument vector"));
                    spec = container_spec(job, run_id, &image.id, &script, Some(words));
                    if let Some(staged) = &staged {
                        staged.apply(&mut spec);
                    }
                    if let Some(l) = &listening {
                        l.apply(&mut spec);
                    }
                    created = self.engine.create_container(&spec).await?;
                }
                None => {
                    let why = needs_shell.clone().unwrap_or_default();
                    let msg = format!(
                        "the command needs a shell ({why}) but image `{}` has no {shell}; use an image with a shell or a command without shell features",
                        job.image
                    );
                    self.store.set_status(run_id, RunStatus::Failed, Some(&msg))?;
                    return Ok(RunOutcome {
                        run_id: run_id.clone(),
                        status: RunStatus::Failed,
                        exit_code: None,
                        error: Some(msg),
                        missing_outputs: Vec::new(),
                        outputs: Vec::new(),
                    });
                }
            }
        }
        let container_id = created.id.clone();
        tracing::debug!("container created and checked");
        for w in &created.warnings {
            self.sink.note(&format!("engine warning: {w}"));
        }
        self.store.update_run(run_id, &RunUpdate { container_id: Some(container_id.clone()), ..Default::default() })?;

        if cancel.is_cancelled() {
            return self.finish_cancelled(run_id, Some(&container_id)).await;
        }
        self.engine.start_container(&container_id).await?;
        // The container holds its own copy of every input mount now.
        drop(staged);
        drop(pinned);
        self.store.set_status(run_id, RunStatus::Running, None)?;
        tracing::debug!("container started");

        let writers = Arc::new(Mutex::new(self.store.open_logs(run_id, self.log_max_bytes)?));
        // Bytes shown to the user so far, per stream (stdout, stderr).
        let shown = Arc::new(Mutex::new((0u64, 0u64)));
        let mut logs = self.engine.container_logs(&container_id, true);
        let pump = {
            let writers = Arc::clone(&writers);
            let shown = Arc::clone(&shown);
            async move {
                while let Some(chunk) = logs.next().await {
                    let Ok(chunk) = chunk else { break };
                    self.write_log_chunk(&writers, &shown, &chunk);
                }
            }
        };
        let wait = async {
            tokio::select! {
                outcome = self.engine.wait_container(&container_id) => (outcome, false),
                () = cancel.cancelled() => {
                    self.sink.note("stopping the container");
                    let _ = self.engine.stop_container(&container_id, STOP_GRACE).await;
                    (self.engine.wait_container(&container_id).await, true)
                }
            }
        };
        let mut pump = std::pin::pin!(pump);
        let mut wait = std::pin::pin!(wait);
        let (waited, cancelled, drained) = tokio::select! {
            (waited, cancelled) = &mut wait => (waited, cancelled, false),
            () = &mut pump => {
                let (waited, cancelled) = (&mut wait).await;
                (waited, cancelled, true)
            }
        };
        // A followed log stream ends when the container does, but Podman's compatible API
        // sometimes keeps it open after the exit when several containers end at once. The
        // container has ended, so its logs are complete in the engine: after a grace period
        // berth stops following and reads them again in one piece.
        if !drained && tokio::time::timeout(LOG_DRAIN_GRACE, &mut pump).await.is_err() {
            tracing::debug!("log stream still open after the container ended; reading the logs again");
            self.reread_logs(run_id, &container_id, &writers, &shown).await?;
        }
        let waited = waited?;
        tracing::debug!("container ended, logs drained");

        let summaries = {
            let mut w = writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = w.0.flush();
            let _ = w.1.flush();
            (w.0.summary(), w.1.summary())
        };
        self.store.record_logs(run_id, summaries.0, summaries.1)?;

        let info = self.engine.inspect_container(&container_id).await?;
        self.store.update_run(
            run_id,
            &RunUpdate {
                container_json: Some(serde_json::to_string(&info.applied).unwrap_or_default()),
                exit_code: Some(waited.exit_code),
                oom_killed: Some(waited.oom_killed || info.state.oom_killed),
                started_at: info.state.started_at.clone(),
                finished_at: info.state.finished_at.clone(),
                ..Default::default()
            },
        )?;
        let _ = self.engine.remove_container(&container_id, true).await;
        tracing::debug!("container inspected and removed");
        if let Some(l) = listening {
            let t = l.finish(self.store, run_id).await?;
            self.sink.note(&if t.complete {
                format!("traced: {} paths accessed, kept with the run", t.accesses)
            } else {
                format!(
                    "the trace is incomplete ({} paths received): it is kept, but cannot show what was not reached",
                    t.accesses
                )
            });
        }

        if cancelled {
            self.store.set_status(run_id, RunStatus::Cancelled, Some("stopped on request (Ctrl+C or SIGTERM)"))?;
            return Ok(RunOutcome {
                run_id: run_id.clone(),
                status: RunStatus::Cancelled,
                exit_code: Some(waited.exit_code),
                error: Some("cancelled".into()),
                missing_outputs: Vec::new(),
                outputs: Vec::new(),
            });
        }
        let found = outputs::collect(self.store, job)?;
        self.store.add_files(run_id, &found.records)?;
        tracing::debug!(outputs = found.present.len(), "outputs hashed");
        Ok(conclude(self.store, run_id, waited.exit_code, waited.oom_killed || info.state.oom_killed, found)?)
    }

    /// Binds the pinned inputs for the engine (`crate::inputs`), or, where berth may not mount
    /// or the engine sees paths through a path map, checks once more that every input path
    /// still names the inode that was hashed and lets the engine resolve it.
    fn stage_inputs(&self, job: &PreparedJob, pinned: &inputs::Pinned) -> Result<Option<inputs::Staged>, RunError> {
        if job.engine_paths.is_empty()
            && let Some(staged) = pinned.stage(&self.store.home().join("stage"))?
        {
            return Ok(Some(staged));
        }
        pinned.verify_unchanged()?;
        if !job.input_roots.is_empty() && !pinned.inputs().is_empty() {
            tracing::warn!(
                "inputs are not pinned for the engine (berth may not mount, or a path map is set): they were re-checked just before the container was created"
            );
        }
        Ok(None)
    }

    /// Shows one chunk of the container's output and appends it to its log file.
    fn write_log_chunk(&self, writers: &LogWriters, shown: &Mutex<(u64, u64)>, chunk: &LogChunk) {
        let mut w = writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut shown = shown.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let len = chunk.bytes.len() as u64;
        if chunk.stream == LogStreamKind::Stderr {
            self.sink.stderr(&chunk.bytes);
            let _ = w.1.write_all(&chunk.bytes);
            shown.1 += len;
        } else {
            self.sink.stdout(&chunk.bytes);
            let _ = w.0.write_all(&chunk.bytes);
            shown.0 += len;
        }
    }

    /// Reads an ended container's whole logs again (no follow), rewrites the log files from
    /// them and shows the user what the followed stream had not delivered yet.
    async fn reread_logs(
        &self,
        run_id: &RunId,
        container_id: &str,
        writers: &LogWriters,
        shown: &Mutex<(u64, u64)>,
    ) -> Result<(), RunError> {
        let fresh = self.store.open_logs(run_id, self.log_max_bytes)?;
        *writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        let already = *shown.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut seen = (0u64, 0u64);
        let mut stream = self.engine.container_logs(container_id, false);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            let mut w = writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let stderr = chunk.stream == LogStreamKind::Stderr;
            let (file, seen, already) =
                if stderr { (&mut w.1, &mut seen.1, already.1) } else { (&mut w.0, &mut seen.0, already.0) };
            let _ = file.write_all(&chunk.bytes);
            let len = chunk.bytes.len() as u64;
            // The part of this chunk past what the user has already seen.
            let skip = usize::try_from(already.saturating_sub(*seen).min(len)).unwrap_or(chunk.bytes.len());
            if skip < chunk.bytes.len() {
                if stderr {
                    self.sink.stderr(&chunk.bytes[skip..]);
                } else {
                    self.sink.stdout(&chunk.bytes[skip..]);
                }
            }
            *seen += len;
        }
        Ok(())
    }

    async fn finish_cancelled(&self, run_id: &RunId, container: Option<&str>) -> Result<RunOutcome, RunError> {
        if let Some(id) = container {
            let _ = self.engine.remove_container(id, true).await;
        }
        self.store.set_status(run_id, RunStatus::Cancelled, Some("stopped on request before the tool started"))?;
        Ok(RunOutcome {
            run_id: run_id.clone(),
            status: RunStatus::Cancelled,
            exit_code: None,
            error: Some("cancelled".into()),
            missing_outputs: Vec::new(),
            outputs: Vec::new(),
        })
    }
}

/// Records the final status from the exit code and the outputs found.
pub fn conclude(
    store: &Store,
    run_id: &RunId,
    exit_code: i64,
    oom_killed: bool,
    found: outputs::Found,
) -> Result<RunOutcome, berth_store::StoreError> {
    let (status, mut error) = if exit_code != 0 {
        let why = if oom_killed {
            format!("the tool was killed for exceeding its memory limit (exit code {exit_code})")
        } else {
            format!("the tool exited with code {exit_code}")
        };
        (RunStatus::Failed, Some(why))
    } else if !found.missing.is_empty() {
        (
            RunStatus::Failed,
            Some(format!(
                "required output{} missing: {}",
                if found.missing.len() == 1 { "" } else { "s" },
                found.missing.join(", ")
            )),
        )
    } else {
        (RunStatus::Succeeded, None)
    };
    // The reason is usually in what the tool said last; the record carries it, so that
    // `berth show`, the API and the web UI tell why without opening the log.
    if let Some(e) = &mut error
        && let Some(tail) = stderr_tail(&store.log_paths(run_id).1)
    {
        // The tool names files by their paths in the container; the user knows them by theirs.
        let files = store.run_files(run_id).unwrap_or_default();
        let mut pairs: Vec<(&str, &str)> = files
            .iter()
            .filter_map(|f| Some((f.container_path.as_deref()?, f.path.as_str())))
            .filter(|(c, h)| c.len() > 1 && c != h)
            .collect();
        // Longest first, so that `/in/a.dcm` wins over `/in`.
        pairs.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
        e.push_str("; its stderr ends with:\n");
        e.push_str(&host_paths(&tail, &pairs));
    }
    if let Some(e) = &error {
        store.update_run(run_id, &RunUpdate { error: Some(e.clone()), ..Default::default() })?;
    }
    store.set_status(run_id, status, error.as_deref())?;
    Ok(RunOutcome {
        run_id: run_id.clone(),
        status,
        exit_code: Some(exit_code),
        error,
        missing_outputs: found.missing,
        outputs: found.present,
    })
}

/// How much of a failed tool's stderr its record keeps: the last lines, at most this many…
const STDERR_TAIL_LINES: usize = 5;
/// …and at most this many bytes of them.
const STDERR_TAIL_BYTES: usize = 600;

/// The last non-blank lines of a log file, without control characters (a terminal's colour
/// codes, carriage-return progress bars), or `None` when the file is missing or has none.
pub fn stderr_tail(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(4 * STDERR_TAIL_BYTES as u64);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    f.take(4 * STDERR_TAIL_BYTES as u64).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    // Reading from the middle of the file, the first line may have been cut: drop it, unless
    // it is all there is (one enormous line, whose end is then what counts).
    let text = match text.find(['\n', '\r']) {
        Some(i) if start > 0 => &text[i + 1..],
        _ => &text[..],
    };
    let mut lines: Vec<String> = text
        .split(['\n', '\r'])
        .map(|l| strip_terminal_codes(l).trim_end().to_string())
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines = lines.split_off(lines.len().saturating_sub(STDERR_TAIL_LINES));
    let mut tail = lines.join("\n");
    if tail.len() > STDERR_TAIL_BYTES {
        let mut cut = tail.len() - STDERR_TAIL_BYTES;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = format!("…{}", &tail[cut..]);
    }
    (!tail.is_empty()).then_some(tail)
}

/// `text` with each container path of `pairs` (longest first) replaced by its host path, where
/// it stands as a whole path: followed by the end, a `/` (a file inside a mounted directory),
/// or a character that cannot continue a file name in a message (quote, space, colon, …).
fn host_paths(text: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for (container, host) in pairs {
            if let Some(after) = rest.strip_prefix(container)
                && after.chars().next().is_none_or(|c| c == '/' || !(c.is_alphanumeric() || "._-".contains(c)))
                && out.chars().last().is_none_or(|c| !(c.is_alphanumeric() || "._-/".contains(c)))
            {
                out.push_str(host);
                rest = after;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// `line` without ANSI escape sequences and other control characters (a tab becomes a space).
fn strip_terminal_codes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters… final byte in @..~; other escapes: ESC and one more.
                if chars.next_if_eq(&'[').is_some() {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes the files a run's container needs: the configuration files (in the output directory)
/// and, for shell jobs, `DIR/command.sh`; gives the output directory to the job's user; records
/// the configuration files. Returns the script's path. Every backend does this before starting.
pub fn write_run_files(store: &Store, run_id: &RunId, job: &PreparedJob, dir: &Path) -> Result<PathBuf, RunError> {
    for f in &job.config_files {
        write_config_file(&job.output_dir, &f.host, f.content.as_bytes())?;
    }
    let script = dir.join("command.sh");
    if let Exec::Shell { script: text, .. } = &job.exec {
        write_atomic(&script, text.as_bytes())?;
    }
    give_output_dir_to(job)?;
    let config_records: Vec<FileRecord> = job
        .config_files
        .iter()
        .map(|f| outputs::record(store, FileRole::Config, &f.key, &f.host, None))
        .collect::<Result<_, _>>()?;
    store.add_files(run_id, &config_records)?;
    Ok(script)
}

/// The run's own directory in the store (beside its logs): the command script lives there.
pub fn run_dir(store: &Store, run_id: &RunId) -> PathBuf {
    let (out, _) = store.log_paths(run_id);
    out.parent().map_or_else(|| store.home().join(run_id.as_str()), Path::to_path_buf)
}

/// Opens the job's inputs beneath their roots without following links (`crate::inputs::pin`)
/// and hashes them from the open descriptors (through the store's hash cache) for its record.
/// For backends that cannot hand the engine the opened inputs (a cluster node mounts them
/// later): the check and the hash still happen on this host.
pub fn hash_inputs(store: &Store, job: &PreparedJob) -> Result<Vec<FileRecord>, RunError> {
    Ok(inputs::pin(job)?.hash(store)?)
}

/// When berth runs as root and the tool does not, the tool still needs to write the output
/// directory (and the directories berth made for configuration files).
///
/// Everything below the output directory is given by descriptor (opened beneath it without
/// following links), so a link the previous run's tool left in a reused output directory
/// (`sub -> /etc`) is refused by name instead of handing its target to the tool. A writable
/// mount bound elsewhere (`--mount NAME=PATH`, a relaxation the user chose) is opened by its
/// path as given and changed by descriptor too.
pub fn give_output_dir_to(job: &PreparedJob) -> Result<(), RunError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(me) = std::fs::metadata("/proc/self") else { return Ok(()) };
    if me.uid() != 0 || job.security.uid == 0 {
        return Ok(());
    }
    let (uid, gid) = (job.security.uid, job.security.gid);
    let mut beneath: Vec<PathBuf> = Vec::new();
    let mut elsewhere: Vec<PathBuf> = Vec::new();
    for m in job.output_mounts() {
        match berth_hostpath::strip_root(&job.output_dir, &m.host) {
            Ok(rel) => beneath.push(rel),
            Err(_) => elsewhere.push(m.host.clone()),
        }
    }
    for f in &job.config_files {
        let Ok(rel) = berth_hostpath::strip_root(&job.output_dir, &f.host) else { continue };
        beneath.extend(rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()).map(Path::to_path_buf));
    }
    beneath.sort();
    beneath.dedup();
    let root = berth_hostpath::Root::open(&job.output_dir)
        .map_err(|error| RunError::OutputDir { path: job.output_dir.clone(), error })?;
    for rel in &beneath {
        root.chown_beneath(rel, uid, gid)
            .map_err(|error| RunError::OutputDir { path: job.output_dir.join(rel), error })?;
    }
    for dir in elsewhere {
        berth_hostpath::Root::open(&dir)
            .and_then(|r| r.chown_beneath(Path::new(""), uid, gid))
            .map_err(|error| RunError::OutputDir { path: dir.clone(), error })?;
    }
    Ok(())
}

/// A container [`Runner::start_long_lived`] started.
#[derive(Debug)]
pub struct LongLived {
    /// The image, as resolved and checked by the site's gate.
    pub admitted: Admitted,
    /// The inputs, opened and hashed.
    pub inputs: Vec<FileRecord>,
    /// The container.
    pub container_id: String,
    /// What the engine warned about.
    pub warnings: Vec<String>,
}

/// The container spec for a job: secure defaults, the fixed layout, the run id label.
pub fn container_spec(
    job: &PreparedJob,
    run_id: &RunId,
    image_id: &str,
    script: &Path,
    argv: Option<&Vec<String>>,
) -> ContainerSpec {
    let (entrypoint, cmd) = match (&job.exec, argv) {
        (_, Some(words)) => (Some(vec![words[0].clone()]), words[1..].to_vec()),
        (Exec::Shell { shell, .. }, None) => (Some(vec![shell.clone()]), vec![SCRIPT_PATH.to_string()]),
        (Exec::Entrypoint { args }, None) => (None, args.clone()),
        (Exec::Explicit { entrypoint, cmd }, None) => (Some(entrypoint.clone()), cmd.clone()),
    };
    let mut mounts: Vec<BindMount> = job
        .mounts
        .iter()
        .map(|m| BindMount { source: job.engine_path(&m.host), target: m.container.clone(), read_only: m.read_only })
        .collect();
    if matches!(job.exec, Exec::Shell { .. }) && argv.is_none() {
        mounts.push(BindMount { source: job.engine_path(script), target: SCRIPT_PATH.into(), read_only: true });
    }
    let mut labels = BTreeMap::new();
    labels.insert(RUN_ID_LABEL.to_string(), run_id.as_str().to_string());
    labels.insert("berth.tool".to_string(), job.tool.clone());
    labels.insert("berth.tool-version".to_string(), job.tool_version.clone());
    ContainerSpec {
        name: Some(format!("berth-{}", run_id.as_str())),
        // The image ID, not the tag: what was resolved and recorded is what runs.
        image: image_id.to_string(),
        entrypoint,
        cmd,
        env: job.env.clone(),
        working_dir: job.workdir.clone(),
        user: Some(UserId { uid: job.security.uid, gid: job.security.gid }),
        mounts,
        network: if job.security.network == "none" { Network::Disabled } else { Network::EngineDefault },
        cap_drop: vec!["ALL".into()],
        cap_add: job.security.cap_add.clone(),
        security_opt: vec!["no-new-privileges".into()],
        pids_limit: job.limits.pids_limit,
        memory_bytes: job.limits.memory_bytes,
        nano_cpus: job.limits.nano_cpus,
        gpus: match job.limits.gpus {
            GpuRequest::None => Gpus::None,
            GpuRequest::All => Gpus::All,
            GpuRequest::Count(n) => Gpus::Count(n),
        },
        labels,
        read_only_rootfs: false,
        tmpfs: vec![Tmpfs { target: "/tmp".into(), options: "rw,nosuid,nodev,exec,mode=1777".into() }],
        init: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn container_paths_in_a_message_become_the_users_paths() {
        let pairs = [("/berth/inputs/0/MR.DCM", "/home/ana/study/MR.DCM"), ("/berth/inputs/0", "/home/ana/study")];
        assert_eq!(
            host_paths("error: `/berth/inputs/0/MR.DCM` is not DICOM; see /berth/inputs/0/other", &pairs),
            "error: `/home/ana/study/MR.DCM` is not DICOM; see /home/ana/study/other"
        );
        // Only whole paths: a longer name or a path inside another is left alone.
        assert_eq!(host_paths("/berth/inputs/00 x/berth/inputs/0", &pairs), "/berth/inputs/00 x/berth/inputs/0");
    }

    #[test]
    fn a_failed_tool_is_explained_by_the_end_of_its_stderr() {
        let t = tempfile::tempdir().expect("tempdir");
        let log = t.path().join("stderr");
        assert_eq!(stderr_tail(&log), None, "no log, no tail");
        std::fs::write(&log, "\n \n").expect("write");
        assert_eq!(stderr_tail(&log), None, "blank lines say nothing");
        let mut text = String::new();
        for i in 0..2000 {
            text.push_str(&format!("progress {i}\r"));
        }
        text.push_str("line one\n\u{1b}[31mERROR:\u{1b}[0m cannot read\tinput.dcm\r\n\n");
        std::fs::write(&log, &text).expect("write");
        let tail = stderr_tail(&log).expect("a tail");
        assert_eq!(tail, "progress 1997\nprogress 1998\nprogress 1999\nline one\nERROR: cannot read input.dcm");
        // One enormous line is cut from the front, on a character boundary.
        std::fs::write(&log, "é".repeat(5000) + "end").expect("write");
        let tail = stderr_tail(&log).expect("a tail");
        assert!(tail.starts_with('…') && tail.ends_with("end") && tail.len() <= STDERR_TAIL_BYTES + 3, "{tail}");
    }

    /// A job with one configuration file at `path` in `out`, prepared as root runs it (the tool
    /// runs as nobody, so berth gives it the directories it made).
    fn job_with_config(t: &Path, path: &str) -> PreparedJob {
        let text = format!(
            r#"{{"name": "tool", "tool-version": "1", "description": "d", "schema-version": "0.5",
                "command-line": "cat [CONF]",
                "container-image": {{"type": "docker", "image": "example/tool:1"}},
                "inputs": [{{"id": "n", "name": "N", "type": "Number", "value-key": "[N]", "optional": true}}],
                "output-files": [{{"id": "conf", "name": "Conf", "value-key": "[CONF]",
                    "path-template": "{path}", "file-template": ["written by berth"]}}]}}"#
        );
        let v = berth_descriptor::validate(berth_descriptor::Value::parse(&text).expect("json"));
        let d = v.descriptor.unwrap_or_else(|| panic!("invalid test descriptor: {:?}", v.problems));
        let host = crate::prepare::HostFacts { uid: 0, gid: 0, sudo: None, memory_bytes: 8 << 30, cpus: 2 };
        let opts =
            crate::prepare::PrepareOptions::with_defaults(t.join("out"), t.to_path_buf(), Default::default(), host);
        crate::prepare::prepare(&d, &text, &berth_descriptor::Value::parse("{}").expect("json"), &opts)
            .expect("prepared")
    }

    /// Issue 14, beyond the numbered findings: a reused output directory holding a link the
    /// previous run's tool left (`out/sub -> victim`) redirected the configuration file berth
    /// writes (and, as root, the `chown` of its parent) to the link's target. On the base commit
    /// `victim/config.json` was written and `victim` given to nobody.
    #[test]
    fn extra_config_files_are_not_written_or_chowned_through_a_link_in_the_output_dir() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().expect("tmp");
        let victim = t.path().join("victim");
        std::fs::create_dir(&victim).expect("mk");
        let owner = std::fs::metadata(&victim).expect("md").uid();
        std::fs::create_dir(t.path().join("out")).expect("mk");
        symlink(&victim, t.path().join("out/sub")).expect("ln");
        let job = job_with_config(t.path(), "sub/config.json");
        let store = Store::open(&t.path().join("home")).expect("store");
        let err = write_run_files(&store, &RunId::generate(), &job, &t.path().join("rundir"))
            .expect_err("a link in the output directory is refused");
        assert!(!victim.join("config.json").exists(), "written through the link");
        assert_eq!(std::fs::metadata(&victim).expect("md").uid(), owner, "chowned through the link");
        let out = std::fs::canonicalize(t.path().join("out")).expect("out");
        assert!(
            matches!(&err, RunError::OutputDir { error: berth_hostpath::HostPathError::Link { path }, .. }
                if *path == out.join("sub")),
            "{err:?}"
        );
        let hint = err.hint().expect("a hint");
        assert!(hint.contains("remove it, or use a fresh output directory"), "{hint}");
        // Without the link, the file is written and its parent given to the tool.
        std::fs::remove_file(t.path().join("out/sub")).expect("rm");
        let job = job_with_config(t.path(), "sub/config.json");
        let _ = write_run_files(&store, &RunId::generate(), &job, &t.path().join("rundir"));
        assert_eq!(std::fs::read_to_string(out.join("sub/config.json")).expect("read"), "written by berth");
        if std::fs::metadata("/proc/self").expect("md").uid() == 0 {
            assert_eq!(std::fs::metadata(out.join("sub")).expect("md").uid(), crate::prepare::NOBODY.0);
        }
    }

    /// The temporary file beside a file berth writes had a predictable name
    /// (`.NAME.berth-PID.tmp`) and was opened following links: a link planted under that name
    /// made berth write its content to the link's target (on the base commit `victim` held
    /// `script`).
    #[test]
    fn extra_write_atomic_does_not_write_through_a_planted_temporary_link() {
        let t = tempfile::tempdir().expect("tmp");
        let victim = t.path().join("victim");
        std::fs::write(&victim, b"precious").expect("w");
        let tmp = t.path().join(format!(".command.sh.berth-{}.tmp", std::process::id()));
        symlink(&victim, &tmp).expect("ln");
        write_atomic(&t.path().join("command.sh"), b"script").expect("write");
        assert_eq!(std::fs::read(&victim).expect("read"), b"precious");
        assert_eq!(std::fs::read(t.path().join("command.sh")).expect("read"), b"script");
    }
}
