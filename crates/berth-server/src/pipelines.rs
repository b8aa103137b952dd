//! Starting pipeline runs from the API (admins): the pipeline file is checked and planned at
//! once (a bad file is a 400 with each problem and its path), then executed by the same
//! executor as `berth pipeline run`, on its own thread, while the request returns. Its runs,
//! status and report are read back through `/api/v1/pipelines` and `/ui/pipelines/{id}`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// The pipeline file (YAML) on the server.
    pub file: String,
    /// Where outputs are published (default `<output root>/pipelines/<name>`).
    #[serde(default)]
    pub output_dir: Option<String>,
    /// `--bids DIR`.
    #[serde(default)]
    pub bids: Option<String>,
    /// `--participant-label`.
    #[serde(default)]
    pub participant_label: Vec<String>,
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
    /// The pipeline's name.
    pub name: String,
    /// Its tasks.
    pub tasks: usize,
    /// Where its outputs are published.
    pub output_dir: String,
    /// `started`: follow it with `GET /api/v1/pipelines`.
    pub status: &'static str,
}

struct Quiet;

impl Progress for Quiet {
    fn event(&self, _plan: &Plan, event: &TaskEvent) {
        if let TaskEvent::Note(n) = event {
            tracing::info!(note = %n, "pipeline");
        }
    }
}

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

/// Checks, plans and starts a pipeline run.
pub fn start(state: &Arc<AppState>, req: PipelineRequest) -> ApiResult<PipelineStarted> {
    let file = PathBuf::from(&req.file);
    if !file.is_absolute() {
        return Err(ApiError::bad_request(format!("file: `{}` is not an absolute path on the server", req.file)));
    }
    let pipeline = berth_pipeline::load(&file).map_err(pipeline_error)?;
    let options = PlanOptions {
        bids: req.bids.as_ref().map(PathBuf::from),
        participant_labels: req
            .participant_label
            .iter()
            .flat_map(|l| l.split_whitespace().map(str::to_owned))
            .collect(),
        params: req.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        strict: false,
    };
    let plan = berth_pipeline::plan(pipeline, &options, Some(&state.store)).map_err(pipeline_error)?;
    let output_dir = match &req.output_dir {
        Some(d) if PathBuf::from(d).is_absolute() => PathBuf::from(d),
        Some(d) => return Err(ApiError::bad_request(format!("output_dir: `{d}` is not an absolute path"))),
        None => state.opts.output_root.join("pipelines").join(&plan.pipeline.spec.name),
    };
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
        log_max_bytes: state.opts.log_max_bytes,
        base: berth_run::PrepareOptions::with_defaults(
            output_dir.join(".berth-work"),
            plan.pipeline.dir.clone(),
            state.opts.run_config.clone(),
            crate::launch::host_facts(&host),
        ),
        record: serde_json::json!({
            "jobs": jobs, "keep_going": req.keep_going, "no_cache": req.no_cache, "participant_label": req.participant_label,
            "param": req.params, "bids": req.bids, "started_by": "berth serve",
        }),
    };
    let started = PipelineStarted {
        name: plan.pipeline.spec.name.clone(),
        tasks: plan.tasks.len(),
        output_dir: output_dir.to_string_lossy().into_owned(),
        status: "started",
    };
    let backend = Backend {
        engine: state.engine.clone(),
        engine_info: state.engine_info.clone(),
        host,
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
            match rt.block_on(berth_pipeline::execute(&plan, &store, &backend, &opts, &Quiet, cancel)) {
                Ok(o) => tracing::info!(pipeline = %o.id, status = %o.status, "pipeline run ended"),
                Err(e) => tracing::error!(error = %e, "pipeline run failed"),
            }
        })
        .map_err(|e| ApiError::internal(format!("cannot start the pipeline thread: {e}")))?;
    Ok(started)
}
