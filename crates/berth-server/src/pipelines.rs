//! Starting pipeline runs from the API (admins): the pipeline file comes from the configured
//! pipeline directories only ([`load_from_dirs`], through berth-hostpath), and is checked and planned at
//! once (a bad file is a 400 with each problem and its path), then executed by the same
//! executor as `berth pipeline run`, on its own thread, while the request returns. Its runs,
//! status and report are read back through `/api/v1/pipelines` and `/ui/pipelines/{id}`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};

use berth_pipeline::exec::Backend;
use berth_pipeline::{ExecOptions, Plan, PlanOptions, Progress, TaskEvent};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// A pipeline run to start.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineRequest {
    /// The pipeline file (YAML): a path inside one of the server's pipeline directories
    /// (`[serve] pipeline_dirs`), absolute or relative to them.
    pub file: String,
    /// Where outputs are published: inside the server's output root, absolute or relative to
    /// `<output root>/pipelines/` (default `<output root>/pipelines/<name>`).
    #[serde(default)]
    pub output_dir: Option<String>,
    /// `--bids DIR`.
    #[serde(default)]
    pub bids: Option<String>,
    /// `--participant-label`.
    #[serde(default)]
    pub participant_label: Vec<String>,
    /// `--session-label`.
    #[serde(default)]
    pub session_label: Vec<String>,
    /// `--analysis-level`: `participant`, `group` or `all` (the default).
    #[serde(default)]
    pub analysis_level: Option<String>,
    /// `--param NAME=VALUE`.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Containers at once (default: the server's worker count).
    #[serde(default)]
    pub jobs: Option<usize>,
    /// Let independent tasks finish after a failure.
    #[serde(default)]
    pub keep_going: bool,
    /// Run every task, whatever the cache holds.
    #[serde(default)]
    pub no_cache: bool,
}

/// A pipeline run that was started.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PipelineStarted {
    /// The pipeline run's id (`GET /api/v1/pipelines/{id}` follows it).
    pub id: String,
    /// The pipeline's name.
    pub name: String,
    /// Its tasks.
    pub tasks: usize,
    /// Where its outputs are published.
    pub output_dir: String,
    /// `started`: follow it with `GET /api/v1/pipelines/{id}`.
    pub status: &'static str,
}

/// Logs notes, and hands the pipeline run's id to the request that started it.
struct Quiet {
    recorded: Mutex<Option<mpsc::Sender<Result<String, String>>>>,
}

impl Progress for Quiet {
    fn event(&self, _plan: &Plan, event: &TaskEvent) {
        match event {
            TaskEvent::Note(n) => tracing::info!(note = %n, "pipeline"),
            TaskEvent::Recorded(id) => {
                if let Some(tx) = self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
                    let _ = tx.send(Ok(id.clone()));
                }
            }
            _ => {}
        }
    }
}

/// How long a start waits for the pipeline run to be recorded (recovery of earlier runs and the
/// output directories come first).
const RECORD_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

fn pipeline_error(e: berth_pipeline::PipelineError) -> ApiError {
    let problems = e
        .problems()
        .map(|p| {
            p.iter()
                .map(|p| Problem { at: p.pointer.clone(), message: p.message.clone(), hint: p.hint.clone() })
                .collect()
        })
        .unwrap_or_default();
    ApiError::bad_request(e.to_string()).problems(problems).maybe_hint(e.hint())
}

/// The most bytes a pipeline file may have.
const MAX_PIPELINE_BYTES: u64 = 4 << 20;

/// Reads the pipeline file `file` from one of the configured pipeline directories: an absolute
/// path inside one of them, or a path relative to them (the first that has it). It is opened
/// beneath its directory without following links (berth-hostpath), must be a regular
/// `.yaml`/`.yml` file, and only then is it read: an error about any other path names the path
/// as requested and quotes nothing of any file.
pub fn load_from_dirs(dirs: &[PathBuf], file: &str) -> ApiResult<berth_pipeline::Pipeline> {
    use std::io::Read as _;
    if dirs.is_empty() {
        return Err(ApiError::forbidden("file: this server reads no pipeline files (no pipeline directory is set)")
            .hint("an admin sets `[serve] pipeline_dirs` in the configuration (docs/configuration.md)"));
    }
    let listed = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
    let outside = |why: &str| {
        ApiError::bad_request(format!("file: `{file}` {why}"))
            .hint(format!("give a .yaml file inside a pipeline directory ({listed}), or a path relative to one"))
    };
    if !(file.ends_with(".yaml") || file.ends_with(".yml")) {
        return Err(outside("is not a pipeline file (`.yaml` or `.yml`)"));
    }
    let candidates: Vec<(&PathBuf, PathBuf)> = if file.starts_with('/') {
        dirs.iter()
            .filter_map(|d| berth_hostpath::strip_root(d, std::path::Path::new(file)).ok().map(|rel| (d, rel)))
            .filter(|(_, rel)| !rel.as_os_str().is_empty())
            .take(1)
            .collect()
    } else {
        let rel = berth_hostpath::relative(file).map_err(|e| outside(&format!("is refused: {e}")))?;
        dirs.iter().map(|d| (d, rel.clone())).collect()
    };
    if candidates.is_empty() {
        return Err(outside("is not inside a pipeline directory"));
    }
    let mut last = None;
    for (dir, rel) in candidates {
        let opened = berth_hostpath::Root::open(dir).and_then(|root| root.open_file(&rel));
        let mut f = match opened {
            Ok(f) => f,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let mut bytes = Vec::new();
        f.by_ref()
            .take(MAX_PIPELINE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ApiError::bad_request(format!("file: cannot read `{file}`: {e}")))?;
        if bytes.len() as u64 > MAX_PIPELINE_BYTES {
            return Err(outside("is larger than 4 MiB"));
        }
        let path = dir.join(&rel);
        let text = String::from_utf8(bytes).map_err(|_| outside("is not UTF-8 text"))?;
        let spec = berth_pipeline::parse(&text).map_err(|problems| {
            pipeline_error(berth_pipeline::PipelineError::Invalid { path: path.clone(), problems })
        })?;
        return Ok(berth_pipeline::Pipeline {
            dir: path.parent().map_or_else(|| dir.clone(), std::path::Path::to_path_buf),
            sha256: berth_store::hash::sha256_hex(text.as_bytes()),
            file: path,
            text,
            spec,
        });
    }
    Err(match last {
        Some(e @ berth_hostpath::HostPathError::Link { .. }) => outside(&format!("is refused: {e}")),
        Some(berth_hostpath::HostPathError::WrongKind { .. }) => outside("is not a regular file"),
        _ => outside("cannot be opened in a pipeline directory (missing or unreadable)"),
    })
}

/// Where a pipeline run publishes: beneath the server's output root only — `output_dir`
/// absolute inside it, or relative to `<output root>/pipelines/` (default: the pipeline's
/// name there). The directories are created beneath the root without following links (a
/// tool's output there may hold links), so a request cannot make the server write elsewhere.
pub fn output_dir(output_root: &std::path::Path, requested: Option<&str>, name: &str) -> ApiResult<PathBuf> {
    let refuse = |what: &str, e: &dyn std::fmt::Display| {
        ApiError::bad_request(format!("output_dir: `{what}` is refused: {e}"))
            .hint(format!("give a path inside {} or relative to its `pipelines/` directory", output_root.display()))
    };
    let rel = match requested {
        Some(d) if d.starts_with('/') => {
            berth_hostpath::strip_root(output_root, std::path::Path::new(d)).map_err(|e| refuse(d, &e))?
        }
        Some(d) => PathBuf::from("pipelines").join(berth_hostpath::relative(d).map_err(|e| refuse(d, &e))?),
        None => PathBuf::from("pipelines").join(berth_hostpath::component(name).map_err(|e| refuse(name, &e))?),
    };
    if rel.as_os_str().is_empty() {
        return Err(refuse(requested.unwrap_or_default(), &"it is the output root itself"));
    }
    let shown = requested.unwrap_or(name);
    let opened = berth_hostpath::Root::open(output_root)
        .and_then(|root| root.create_dir_all(&rel, 0o755))
        .map_err(|e| refuse(shown, &e))?;
    Ok(opened.path)
}

/// Checks, plans and starts a pipeline run.
pub fn start(state: &Arc<AppState>, req: PipelineRequest) -> ApiResult<PipelineStarted> {
    let pipeline = load_from_dirs(&state.opts.security.pipeline_dirs, &req.file)?;
    let options = PlanOptions {
        bids: req.bids.as_ref().map(PathBuf::from),
        participant_labels: req
            .participant_label
            .iter()
            .flat_map(|l| l.split_whitespace().map(str::to_owned))
            .collect(),
        session_labels: req.session_label.iter().flat_map(|l| l.split_whitespace().map(str::to_owned)).collect(),
        analysis_level: req
            .analysis_level
            .as_deref()
            .unwrap_or("all")
            .parse()
            .map_err(|e: String| ApiError::bad_request(format!("analysis_level: {e}")))?,
        params: req.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        strict: false,
    };
    let plan = berth_pipeline::plan(pipeline, &options, Some(&state.store)).map_err(pipeline_error)?;
    let output_dir = output_dir(&state.opts.output_root, req.output_dir.as_deref(), &plan.pipeline.spec.name)?;
    let jobs = req.jobs.unwrap_or(state.opts.workers).max(1);
    let host = state.host.clone();
    let opts = ExecOptions {
        work_dir: output_dir.join(".berth-work"),
        output_dir: output_dir.clone(),
        jobs,
        cpus: f64::from(host.cpus.max(1)),
        memory: host.memory_bytes,
        keep_going: req.keep_going,
        no_cache: req.no_cache,
        pull: state.opts.pull,
        log_max_bytes: state.opts.site.log_cap(),
        base: berth_run::PrepareOptions::with_defaults(
            output_dir.join(".berth-work"),
            plan.pipeline.dir.clone(),
            state.opts.site.config().run.clone(),
            crate::launch::host_facts(&host),
        ),
        record: serde_json::json!({
            "jobs": jobs, "keep_going": req.keep_going, "no_cache": req.no_cache, "participant_label": req.participant_label,
            "param": req.params, "bids": req.bids, "started_by": "berth serve",
        }),
    };
    let (tx, rx) = mpsc::channel();
    let failed = tx.clone();
    let progress = Quiet { recorded: Mutex::new(Some(tx)) };
    let mut started = PipelineStarted {
        id: String::new(),
        name: plan.pipeline.spec.name.clone(),
        tasks: plan.tasks.len(),
        output_dir: output_dir.to_string_lossy().into_owned(),
        status: "started",
    };
    let backend = Backend {
        engine: state.engine.clone(),
        engine_info: state.engine_info.clone(),
        host,
        gate: state.opts.site.gate(),
        execution: Arc::new(berth_run::Local),
    };
    let store = state.store.clone();
    let cancel = CancellationToken::new();
    std::thread::Builder::new()
        .name("berth-pipeline".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return tracing::error!(error = %e, "cannot start a pipeline runtime"),
            };
            match rt.block_on(berth_pipeline::execute(&plan, &store, &backend, &opts, &progress, cancel)) {
                Ok(o) => tracing::info!(pipeline = %o.id, status = %o.status, "pipeline run ended"),
                Err(e) => {
                    tracing::error!(error = %e, "pipeline run failed");
                    // Heard only when it failed before it was recorded.
                    let _ = failed.send(Err(e.to_string()));
                }
            }
        })
        .map_err(|e| ApiError::internal(format!("cannot start the pipeline thread: {e}")))?;
    match rx.recv_timeout(RECORD_WAIT) {
        Ok(Ok(id)) => started.id = id,
        Ok(Err(e)) => return Err(ApiError::internal(format!("the pipeline run could not start: {e}"))),
        Err(_) => {
            return Err(ApiError::unavailable("the pipeline run was not recorded in time")
                .hint("it may still start: see GET /api/v1/pipelines"));
        }
    }
    Ok(started)
}
