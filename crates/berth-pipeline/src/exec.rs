//! Running a plan: a scheduler that starts each task as soon as the tasks it needs are done
//! and the CPU and memory budget allows, with `jobs` containers at most; retries with
//! doubling backoff; per-attempt timeouts; the step cache; atomic publishing.
//!
//! Each attempt is an ordinary run (`berth_run::Runner::run`) with its own provenance record,
//! labelled with the pipeline run, the task and its cache key.
//!
//! The step cache: a task's key is the SHA-256 of the image ID, the descriptor's SHA-256, the
//! command line rendered with container paths, the environment and configuration files, and
//! the content hashes of its inputs. A succeeded run with the same key (an indexed lookup of
//! the `berth.cache-key` label) is reused once every output it recorded still has its recorded
//! hash (the store's hash cache makes that a `stat` per file). Resuming after a crash is the
//! same mechanism: what succeeded is found in the cache.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_engine::{Engine, EngineInfo, LabelFilter};
use berth_run::{ExecutionBackend, HostInfo, PrepareOptions, PullPolicy, RunOutcome, Runner, Silent};
use berth_store::{
    CACHE_KEY_LABEL, FileKind, FileRole, NewPipelineRun, NewTask, PIPELINE_RUN_LABEL, PIPELINE_TASK_LABEL, RunId,
    RunStatus, Store, TaskStatus, TaskUpdate,
};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::PipelineError;
use crate::plan::{Ctx, Plan, TaskOutputs};

/// How to run a plan.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Where final outputs are published.
    pub output_dir: PathBuf,
    /// Where tasks' runs write (default `<output_dir>/.berth-work`).
    pub work_dir: PathBuf,
    /// Containers at most at once.
    pub jobs: usize,
    /// CPUs the running tasks may claim together.
    pub cpus: f64,
    /// Memory (bytes) the running tasks may claim together.
    pub memory: i64,
    /// Let independent tasks finish after a failure.
    pub keep_going: bool,
    /// Run every task, whatever the cache holds.
    pub no_cache: bool,
    /// When to pull images.
    pub pull: PullPolicy,
    /// Cap on each stored log stream.
    pub log_max_bytes: u64,
    /// The run options every task starts from (mode, configuration, user, network, host).
    pub base: PrepareOptions,
    /// Options as recorded with the pipeline run.
    pub record: serde_json::Value,
}

/// What happened to one task, for the progress display.
#[derive(Debug, Clone)]
pub enum TaskEvent {
    /// An attempt started.
    Started {
        /// The task's index in the plan.
        task: usize,
        /// Attempt number (1-based).
        attempt: u32,
    },
    /// An attempt failed and will be retried after `wait`.
    Retrying {
        /// The task.
        task: usize,
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        reason: String,
        /// The wait before the next attempt.
        wait: Duration,
    },
    /// The task ended.
    Finished {
        /// The task.
        task: usize,
        /// How.
        status: TaskStatus,
        /// Why it failed or was skipped.
        message: Option<String>,
    },
    /// Something worth saying.
    Note(String),
    /// The pipeline run was recorded in the store, with this id (before any task starts).
    Recorded(String),
}

/// Receives task events (the CLI draws progress from them).
pub trait Progress: Send + Sync {
    /// Called for every event, in order.
    fn event(&self, plan: &Plan, event: &TaskEvent);
}

/// One task's result.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    /// Its key.
    pub key: String,
    /// Its step.
    pub step: String,
    /// Its participant.
    pub participant: Option<String>,
    /// How it ended.
    pub status: TaskStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The run of the last attempt, or the reused run.
    pub run_id: Option<String>,
    /// Why it failed or was skipped.
    pub message: Option<String>,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Published outputs.
    pub published: Vec<PathBuf>,
}

/// The result of a pipeline run.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineOutcome {
    /// The pipeline run's id.
    pub id: String,
    /// How it ended.
    pub status: RunStatus,
    /// The first failure, as a sentence naming step, participant and log.
    pub message: Option<String>,
    /// Every task.
    pub tasks: Vec<TaskResult>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// The engine, host and execution backend every task's run shares.
pub struct Backend {
    /// The engine.
    pub engine: Arc<dyn Engine>,
    /// Its identity.
    pub engine_info: EngineInfo,
    /// The host.
    pub host: HostInfo,
    /// The site's rules (berth-session's `Site`): every task's pull uses its credentials and
    /// every task's image passes its scan policy, as a `berth run` does.
    pub gate: Arc<dyn berth_run::RunGate>,
    /// Where each task's container runs: this machine ([`berth_run::Local`]) or a scheduler
    /// (berth-slurm, which submits the tasks that become ready together as one job array).
    pub execution: Arc<dyn ExecutionBackend>,
}

struct Shared<'a> {
    plan: &'a Plan,
    store: &'a Store,
    backend: &'a Backend,
    opts: &'a ExecOptions,
    pipeline_id: String,
    image_ids: HashMap<String, String>,
    progress: &'a dyn Progress,
}

/// What a finished task future reports back to the scheduler.
struct Done {
    task: usize,
    status: TaskStatus,
    attempts: u32,
    run_id: Option<String>,
    message: Option<String>,
    outputs: TaskOutputs,
    published: Vec<PathBuf>,
    started: Instant,
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |source| PipelineError::Write { path: path.to_owned(), source }
}

/// Stops what an earlier, dead berth process left of its pipeline runs: their step runs'
/// containers are stopped and collected (`berth_run::reconcile`), or their Slurm jobs
/// cancelled (`ExecutionBackend::abandon`), and the pipeline runs are marked failed. Half-published output directories are removed.
pub async fn recover(
    store: &Store,
    backend: &Backend,
    output_dir: &Path,
    log_max_bytes: u64,
) -> Result<Vec<String>, PipelineError> {
    let mut notes = Vec::new();
    for owner in store.unfinished_pipeline_runs()? {
        let id = owner.id;
        if berth_run::host::owner_alive(&owner.host, owner.pid, owner.started_at.as_deref()) {
            continue;
        }
        // Its step runs whose owner is gone: stop their containers so that reconcile collects them.
        for run in store.runs_with_status(&[RunStatus::Queued, RunStatus::Running])? {
            if berth_run::host::owner_alive(&run.owner_host, run.owner_pid, run.owner_started_at.as_deref()) {
                continue;
            }
            let record = store.get_run(run.id.as_str())?;
            if record.new.labels.get(PIPELINE_RUN_LABEL) != Some(&id) {
                continue;
            }
            backend.execution.abandon(store, &run.id);
            let filter = [LabelFilter::equals(berth_run::run::RUN_ID_LABEL, run.id.as_str())];
            for c in backend.engine.list_containers(&filter).await.unwrap_or_default() {
                let _ = backend.engine.stop_container(&c.id, Duration::from_secs(2)).await;
            }
        }
        store
            .abandon_pipeline_run(&id, "berth stopped while the pipeline ran; run the same command again to resume")?;
        notes.push(format!("pipeline run {id} was left by a berth process that is gone; marked failed"));
    }
    for r in berth_run::reconcile(store, &*backend.engine, log_max_bytes).await.unwrap_or_default() {
        notes.push(format!("run {} was {}; now {} ({})", r.run_id.as_str(), r.from.as_str(), r.to.as_str(), r.note));
    }
    if let Ok(entries) = std::fs::read_dir(output_dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".berth-publish-") || name.starts_with(".berth-old-") {
                let _ = std::fs::remove_dir_all(e.path());
                notes.push(format!("removed the half-published {}", e.path().display()));
            }
        }
    }
    Ok(notes)
}

/// Runs the plan to the end (or to the first failure without `keep_going`, or to `cancel`).
pub async fn execute(
    plan: &Plan,
    store: &Store,
    backend: &Backend,
    opts: &ExecOptions,
    progress: &dyn Progress,
    cancel: CancellationToken,
) -> Result<PipelineOutcome, PipelineError> {
    let t0 = Instant::now();
    for note in recover(store, backend, &opts.output_dir, opts.log_max_bytes).await? {
        progress.event(plan, &TaskEvent::Note(note));
    }
    std::fs::create_dir_all(&opts.output_dir).map_err(write_err(&opts.output_dir))?;
    std::fs::create_dir_all(&opts.work_dir).map_err(write_err(&opts.work_dir))?;

    let pid = std::process::id();
    let new = NewPipelineRun {
        name: plan.pipeline.spec.name.clone(),
        file_path: plan.pipeline.file.to_string_lossy().into_owned(),
        file_sha256: plan.pipeline.sha256.clone(),
        file_text: plan.pipeline.text.clone(),
        params_json: serde_json::to_string(&plan.params).unwrap_or_default(),
        dataset: plan.dataset.as_ref().map(|d| d.root.to_string_lossy().into_owned()),
        options_json: opts.record.to_string(),
        output_dir: opts.output_dir.to_string_lossy().into_owned(),
        work_dir: opts.work_dir.to_string_lossy().into_owned(),
        owner_pid: pid,
        owner_host: backend.host.hostname.clone(),
        owner_started_at: berth_run::host::process_identity(pid),
    };
    let tasks: Vec<NewTask> = plan
        .tasks
        .iter()
        .map(|t| NewTask {
            key: t.key.clone(),
            step: plan.steps[t.step].name.clone(),
            participant: t.participant.clone(),
            session: t.session.clone(),
            item_json: t.item.as_ref().map(|i| i.1.to_string()),
        })
        .collect();
    let pipeline_id = store.create_pipeline_run(&new, &tasks)?;
    progress.event(plan, &TaskEvent::Recorded(pipeline_id.clone()));

    // Each image once: its ID is part of every cache key.
    let mut image_ids = HashMap::new();
    {
        let runner = runner(store, backend, opts, BTreeMap::new());
        for s in &plan.steps {
            if image_ids.contains_key(&s.image) {
                continue;
            }
            match runner.resolve_image(&s.image).await {
                Ok(img) => {
                    image_ids.insert(s.image.clone(), img.id);
                }
                Err(e) => {
                    let msg = format!("step `{}`: {e}", s.name);
                    store.set_pipeline_status(&pipeline_id, RunStatus::Failed, Some(&msg))?;
                    return Err(e.into());
                }
            }
        }
    }
    let shared = Shared { plan, store, backend, opts, pipeline_id: pipeline_id.clone(), image_ids, progress };

    let n = plan.tasks.len();
    let mut status = vec![TaskStatus::Queued; n];
    let mut results: Vec<Option<TaskResult>> = vec![None; n];
    let mut outputs: HashMap<usize, TaskOutputs> = HashMap::new();
    // Tasks the plan leaves out (a missing input with `if-missing: skip`, the analysis level):
    // reported as skipped, with the reason, and never counted as failures.
    let mut planned = Vec::new();
    for (i, t) in plan.tasks.iter().enumerate() {
        let Some(why) = &t.skip else { continue };
        status[i] = TaskStatus::Skipped;
        progress.event(plan, &TaskEvent::Finished { task: i, status: TaskStatus::Skipped, message: Some(why.clone()) });
        planned.push((
            t.key.clone(),
            TaskUpdate { status: Some(TaskStatus::Skipped), message: Some(why.clone()), ..Default::default() },
        ));
        results[i] = Some(TaskResult {
            key: t.key.clone(),
            step: plan.steps[t.step].name.clone(),
            participant: t.participant.clone(),
            status: TaskStatus::Skipped,
            attempts: 0,
            run_id: None,
            message: Some(why.clone()),
            seconds: 0.0,
            published: Vec::new(),
        });
    }
    store.update_tasks(&pipeline_id, &planned)?;
    let settled = |status: &[TaskStatus], d: usize| status[d].is_done() || plan.tasks[d].skip.is_some();
    let mut running = FuturesUnordered::new();
    let (mut cpus_used, mut mem_used) = (0.0f64, 0i64);
    let mut stop_starting = false;
    let mut first_failure: Option<String> = None;
    let jobs = opts.jobs.max(1);
    // Each step's CPUs and memory, resolved once: the scheduling loop reads them per task.
    let step_limits: Vec<(f64, i64)> = plan.steps.iter().map(|s| limits(s, opts)).collect();

    loop {
        // Start what is ready and fits.
        if !stop_starting && !cancel.is_cancelled() {
            for i in 0..n {
                if running.len() >= jobs {
                    break;
                }
                if status[i] != TaskStatus::Queued || !plan.tasks[i].deps.iter().all(|&d| settled(&status, d)) {
                    continue;
                }
                let (step_cpus, step_memory) = step_limits[plan.tasks[i].step];
                let fits = running.is_empty()
                    || (cpus_used + step_cpus <= opts.cpus + 1e-9 && mem_used + step_memory <= opts.memory);
                if !fits {
                    continue;
                }
                let ctx = Ctx { plan, task: &plan.tasks[i], outputs: Some(&outputs) };
                let invocation = ctx.invocation();
                status[i] = TaskStatus::Running;
                cpus_used += step_cpus;
                mem_used += step_memory;
                running.push(run_task(&shared, i, invocation, cancel.clone()));
            }
        }
        let Some(done) = running.next().await else { break };
        let step = &plan.steps[plan.tasks[done.task].step];
        let (step_cpus, step_memory) = step_limits[plan.tasks[done.task].step];
        cpus_used -= step_cpus;
        mem_used -= step_memory;
        status[done.task] = done.status;
        if done.status.is_done() {
            outputs.insert(done.task, done.outputs.clone());
        }
        if done.status == TaskStatus::Failed {
            if first_failure.is_none() {
                first_failure = done.message.clone();
            }
            if opts.keep_going {
                skip_dependents(&shared, &mut status, &mut results)?;
            } else {
                stop_starting = true;
            }
        }
        if done.status == TaskStatus::Cancelled {
            stop_starting = true;
        }
        let t = &plan.tasks[done.task];
        results[done.task] = Some(TaskResult {
            key: t.key.clone(),
            step: step.name.clone(),
            participant: t.participant.clone(),
            status: done.status,
            attempts: done.attempts,
            run_id: done.run_id,
            message: done.message,
            seconds: done.started.elapsed().as_secs_f64(),
            published: done.published,
        });
    }

    // Whatever never started.
    let mut updates = Vec::new();
    let why = if cancel.is_cancelled() {
        "not started: the pipeline was stopped"
    } else {
        "not started: an earlier task failed"
    };
    for i in 0..n {
        if status[i] == TaskStatus::Queued {
            status[i] = TaskStatus::Cancelled;
            updates.push((
                plan.tasks[i].key.clone(),
                TaskUpdate { status: Some(TaskStatus::Cancelled), message: Some(why.into()), ..Default::default() },
            ));
            let t = &plan.tasks[i];
            results[i] = Some(TaskResult {
                key: t.key.clone(),
                step: plan.steps[t.step].name.clone(),
                participant: t.participant.clone(),
                status: TaskStatus::Cancelled,
                attempts: 0,
                run_id: None,
                message: Some(why.into()),
                seconds: 0.0,
                published: Vec::new(),
            });
        }
    }
    store.update_tasks(&pipeline_id, &updates)?;
    describe_derivatives(&shared, &status)?;
    let final_status = if cancel.is_cancelled() {
        RunStatus::Cancelled
    } else if (0..n).all(|d| settled(&status, d)) {
        RunStatus::Succeeded
    } else {
        RunStatus::Failed
    };
    let message = match final_status {
        RunStatus::Cancelled => Some("stopped by the user; run the same command again to resume".to_string()),
        RunStatus::Failed => first_failure.clone(),
        _ => None,
    };
    store.set_pipeline_status(&pipeline_id, final_status, message.as_deref())?;
    Ok(PipelineOutcome {
        id: pipeline_id,
        status: final_status,
        message,
        tasks: results.into_iter().flatten().collect(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Writes `OUTPUT/<step>/dataset_description.json` for each publishing step that fans out over
/// a BIDS dataset's participants and produced something: its published tree is then a BIDS
/// derivatives dataset (`sub-<label>/[ses-<label>/]…`), and `GeneratedBy` names berth, the
/// pipeline run, and the tool, version and image of this step and of every step it depends on.
fn describe_derivatives(shared: &Shared<'_>, status: &[TaskStatus]) -> Result<(), PipelineError> {
    use crate::plan::Fan;
    let plan = shared.plan;
    let Some(dataset) = &plan.dataset else { return Ok(()) };
    for (si, step) in plan.steps.iter().enumerate() {
        let produced = plan.tasks.iter().enumerate().any(|(i, t)| t.step == si && status[i].is_done());
        if !step.publish || !matches!(step.fan, Fan::Participants | Fan::Sessions) || !produced {
            continue;
        }
        // This step and what it depends on, upstream first.
        let mut chain = vec![si];
        let mut k = 0;
        while k < chain.len() {
            for &d in &plan.steps[chain[k]].depends_on {
                if !chain.contains(&d) {
                    chain.push(d);
                }
            }
            k += 1;
        }
        chain.reverse();
        let mut generated_by = vec![serde_json::json!({
            "Name": "berth",
            "Version": env!("CARGO_PKG_VERSION"),
            "Description": format!("pipeline `{}` (run {}), step `{}`", plan.pipeline.spec.name, shared.pipeline_id, step.name),
        })];
        for &c in &chain {
            let s = &plan.steps[c];
            let image_id = shared.image_ids.get(&s.image).cloned().unwrap_or_default();
            generated_by.push(serde_json::json!({
                "Name": s.descriptor.name,
                "Version": s.descriptor.tool_version,
                "Description": format!("step `{}`", s.name),
                "Container": {"Type": "docker", "Tag": s.image, "URI": format!("docker-image://{image_id}")},
            }));
        }
        let doc = serde_json::json!({
            "Name": format!("{} — {}", plan.pipeline.spec.name, step.name),
            "BIDSVersion": "1.10.0",
            "DatasetType": "derivative",
            "GeneratedBy": generated_by,
            "SourceDatasets": [{"URL": format!("file://{}", dataset.root.display())}],
        });
        let dir = shared.opts.output_dir.join(&step.name);
        std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
        let path = dir.join("dataset_description.json");
        let tmp = dir.join(format!(".dataset_description.json.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        std::fs::write(&tmp, text).map_err(write_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(write_err(&path))?;
    }
    Ok(())
}

fn skip_dependents(
    shared: &Shared<'_>,
    status: &mut [TaskStatus],
    results: &mut [Option<TaskResult>],
) -> Result<(), PipelineError> {
    let plan = shared.plan;
    let mut updates = Vec::new();
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..plan.tasks.len() {
            if status[i] != TaskStatus::Queued {
                continue;
            }
            // A task the plan left out is not a failure: its group dependents gather the rest.
            let failed = |d: usize| {
                status[d] == TaskStatus::Failed || (status[d] == TaskStatus::Skipped && plan.tasks[d].skip.is_none())
            };
            if let Some(&d) = plan.tasks[i].deps.iter().find(|&&d| failed(d)) {
                status[i] = TaskStatus::Skipped;
                changed = true;
                let why = format!("skipped: `{}` did not succeed", plan.tasks[d].key);
                let t = &plan.tasks[i];
                shared.progress.event(
                    plan,
                    &TaskEvent::Finished { task: i, status: TaskStatus::Skipped, message: Some(why.clone()) },
                );
                updates.push((
                    t.key.clone(),
                    TaskUpdate { status: Some(TaskStatus::Skipped), message: Some(why.clone()), ..Default::default() },
                ));
                results[i] = Some(TaskResult {
                    key: t.key.clone(),
                    step: plan.steps[t.step].name.clone(),
                    participant: t.participant.clone(),
                    status: TaskStatus::Skipped,
                    attempts: 0,
                    run_id: None,
                    message: Some(why),
                    seconds: 0.0,
                    published: Vec::new(),
                });
            }
        }
    }
    shared.store.update_tasks(&shared.pipeline_id, &updates)?;
    Ok(())
}

fn runner<'a>(
    store: &'a Store,
    backend: &'a Backend,
    opts: &ExecOptions,
    labels: BTreeMap<String, String>,
) -> Runner<'a> {
    static SILENT: Silent = Silent;
    static NO_PULL_PROGRESS: berth_engine::pull::NoProgress = berth_engine::pull::NoProgress;
    Runner {
        store,
        engine: backend.engine.clone(),
        engine_info: backend.engine_info.clone(),
        host: backend.host.clone(),
        sink: &SILENT,
        pull_reporter: &NO_PULL_PROGRESS,
        pull: opts.pull,
        gate: &*backend.gate,
        log_max_bytes: opts.log_max_bytes,
        labels,
    }
}

/// A task's CPUs and memory: the step's or its descriptor's when they say, else the site's
/// `[run] cpus` / `[run] memory` (as `berth run` applies them), else the pipeline's defaults.
/// The same numbers are given to the container and counted against the budget.
fn limits(step: &crate::plan::StepPlan, opts: &ExecOptions) -> (f64, i64) {
    let site = &opts.base.config;
    let cpus = match site.cpus.filter(|c| *c > 0.0) {
        Some(c) if step.cpus_default => c,
        _ => step.cpus,
    };
    let site_memory = site.memory.as_deref().and_then(|m| berth_config::parse_size(m).ok()).filter(|m| *m > 0);
    let memory = match site_memory {
        Some(m) if step.memory_default => m,
        _ => step.memory,
    };
    (cpus, memory)
}

/// The step-cache key of a prepared job (see the module documentation).
pub fn cache_key(store: &Store, job: &berth_run::PreparedJob, image_id: &str) -> Result<String, PipelineError> {
    let mut inputs = Vec::new();
    for m in job.inputs() {
        let h = store.hash_path(&m.host)?;
        inputs.push((m.key.clone(), m.container.clone(), h.sha256));
    }
    inputs.sort();
    let key = serde_json::json!({
        "v": 1,
        "image_id": image_id,
        "descriptor_sha256": job.descriptor_sha256,
        "command_line": job.command_line,
        "exec": job.exec,
        "env": job.env,
        "workdir": job.workdir,
        "config_files": job.config_files,
        "inputs": inputs,
    });
    Ok(hex::encode(Sha256::digest(key.to_string().as_bytes())))
}

/// The outputs a cached run recorded, if every one still has its recorded hash.
fn verified_outputs(store: &Store, run_id: &RunId) -> Result<Option<(TaskOutputs, PathBuf)>, PipelineError> {
    let record = store.get_run(run_id.as_str())?;
    let mut out = TaskOutputs::new();
    for f in record.files.iter().filter(|f| f.role == FileRole::Output) {
        if f.kind == FileKind::Missing {
            continue;
        }
        let path = PathBuf::from(&f.path);
        match store.hash_path(&path) {
            Ok(h) if Some(&h.sha256) == f.sha256.as_ref() => out.entry(f.key.clone()).or_default().push(path),
            _ => return Ok(None),
        }
    }
    Ok(Some((out, PathBuf::from(record.new.output_dir))))
}

fn who(shared: &Shared<'_>, task: usize) -> String {
    let t = &shared.plan.tasks[task];
    let step = &shared.plan.steps[t.step].name;
    match (&t.participant, &t.session) {
        (Some(p), Some(s)) => format!("step `{step}`, participant {p}, session {s}"),
        (Some(p), None) => format!("step `{step}`, participant {p}"),
        _ => match &t.item {
            Some((i, v)) => format!("step `{step}`, item {i} ({v})"),
            None => format!("step `{step}`"),
        },
    }
}

async fn run_task(
    shared: &Shared<'_>,
    task: usize,
    invocation: Result<serde_json::Map<String, serde_json::Value>, berth_descriptor::Problem>,
    cancel: CancellationToken,
) -> Done {
    let started = Instant::now();
    let now = berth_store::time::now();
    let key = shared.plan.tasks[task].key.clone();
    let mut done = Done {
        task,
        status: TaskStatus::Failed,
        attempts: 0,
        run_id: None,
        message: None,
        outputs: TaskOutputs::new(),
        published: Vec::new(),
        started,
    };
    let result = run_task_inner(shared, task, invocation, cancel, &mut done).await;
    if let Err(e) = result {
        done.status = TaskStatus::Failed;
        done.message = Some(format!("{}: {e}", who(shared, task)));
    }
    let update = TaskUpdate {
        status: Some(done.status),
        attempts: Some(done.attempts),
        run_id: done.run_id.clone(),
        cached_from: (done.status == TaskStatus::Cached).then(|| done.run_id.clone()).flatten(),
        started_at: Some(now),
        finished_at: Some(berth_store::time::now()),
        message: done.message.clone(),
    };
    if let Err(e) = shared.store.update_tasks(&shared.pipeline_id, &[(key, update)]) {
        done.status = TaskStatus::Failed;
        done.message = Some(format!("{}: recording the task failed: {e}", who(shared, task)));
    }
    shared
        .progress
        .event(shared.plan, &TaskEvent::Finished { task, status: done.status, message: done.message.clone() });
    done
}

async fn run_task_inner(
    shared: &Shared<'_>,
    task: usize,
    invocation: Result<serde_json::Map<String, serde_json::Value>, berth_descriptor::Problem>,
    cancel: CancellationToken,
    done: &mut Done,
) -> Result<(), PipelineError> {
    let plan = shared.plan;
    let t = &plan.tasks[task];
    let step = &plan.steps[t.step];
    let invocation = match invocation {
        Ok(i) => i,
        Err(p) => {
            done.message = Some(format!("{}: {}", who(shared, task), p.message));
            return Ok(());
        }
    };
    let inv_text = serde_json::to_string(&invocation).unwrap_or_default();
    let inv = berth_descriptor::Value::parse(&inv_text).map_err(|e| PipelineError::Write {
        path: plan.pipeline.file.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    // Each pipeline run has its own work directories: a later run (a participant subset, a
    // changed parameter) never rewrites the files an earlier run recorded, so its provenance and
    // its step-cache entries stay true.
    let run_work = shared.opts.work_dir.join(&shared.pipeline_id);
    let task_dir = match t.dir_name() {
        d if d.is_empty() => run_work.join(&step.name),
        d => run_work.join(&step.name).join(d),
    };
    let mut popts = shared.opts.base.clone();
    popts.output_dir = task_dir.clone();
    popts.cwd = plan.pipeline.dir.clone();
    let (cpus, memory) = limits(step, shared.opts);
    popts.cpus = Some(cpus);
    popts.memory = Some(Some(memory));
    let mut job = match berth_run::prepare(&step.descriptor, &step.tool.text, &inv, &popts) {
        Ok(j) => j,
        Err(e) => {
            let detail = match &e {
                berth_run::PrepareError::Invalid(problems) => {
                    problems.blocking(false).map(ToString::to_string).collect::<Vec<_>>().join("; ")
                }
                other => other.to_string(),
            };
            done.message = Some(format!("{}: the invocation is not valid: {detail}", who(shared, task)));
            return Ok(());
        }
    };
    job.image = step.image.clone();
    let image_id = shared.image_ids.get(&step.image).cloned().unwrap_or_default();
    let key = cache_key(shared.store, &job, &image_id)?;

    // The cache.
    if !shared.opts.no_cache
        && let Some(hit) = shared.store.find_cached_run(&key)?
        && let Some((outputs, base)) = verified_outputs(shared.store, &hit)?
    {
        done.status = TaskStatus::Cached;
        done.run_id = Some(hit.as_str().to_owned());
        if step.publish {
            done.published = publish(shared, task, &outputs, &base)?;
        }
        done.outputs = outputs;
        return Ok(());
    }

    // The group level gathers what the participant level produced; it runs no participant.
    if plan.level == crate::plan::AnalysisLevel::Group
        && matches!(step.fan, crate::plan::Fan::Participants | crate::plan::Fan::Sessions)
    {
        done.message = Some(format!(
            "{}: not processed at the participant level yet (nothing in the step cache); run `--analysis-level \
             participant` for it first",
            who(shared, task)
        ));
        return Ok(());
    }

    let labels: BTreeMap<String, String> = [
        (PIPELINE_RUN_LABEL.to_string(), shared.pipeline_id.clone()),
        (PIPELINE_TASK_LABEL.to_string(), t.key.clone()),
        (CACHE_KEY_LABEL.to_string(), key),
    ]
    .into();
    let runner = runner(shared.store, shared.backend, shared.opts, labels);
    let attempts = step.retries + 1;
    for attempt in 1..=attempts {
        done.attempts = attempt;
        // A fresh directory each attempt: nothing a failed attempt wrote can pass for an output.
        if task_dir.exists() {
            std::fs::remove_dir_all(&task_dir).map_err(write_err(&task_dir))?;
        }
        std::fs::create_dir_all(&task_dir).map_err(write_err(&task_dir))?;
        shared.progress.event(plan, &TaskEvent::Started { task, attempt });
        let child = cancel.child_token();
        let (outcome, timed_out) =
            run_with_timeout(&*shared.backend.execution, &runner, &job, child, step.timeout).await?;
        shared.store.add_task_run(&shared.pipeline_id, &t.key, attempt, &outcome.run_id)?;
        done.run_id = Some(outcome.run_id.as_str().to_owned());
        match outcome.status {
            RunStatus::Succeeded => {
                let mut outputs = TaskOutputs::new();
                for (id, path) in &outcome.outputs {
                    outputs.entry(id.clone()).or_default().push(path.clone());
                }
                if step.publish {
                    done.published = publish(shared, task, &outputs, &task_dir)?;
                }
                done.outputs = outputs;
                done.status = TaskStatus::Succeeded;
                return Ok(());
            }
            RunStatus::Cancelled if !timed_out => {
                done.status = TaskStatus::Cancelled;
                done.message = Some(format!("{}: stopped by the user", who(shared, task)));
                return Ok(());
            }
            _ => {}
        }
        let reason = if timed_out {
            format!("timed out after {}", humanize(step.timeout.unwrap_or_default()))
        } else {
            match (outcome.exit_code, &outcome.error) {
                (Some(c), Some(e)) if c != 0 => e.clone(),
                (Some(c), None) if c != 0 => format!("exit code {c}"),
                _ if !outcome.missing_outputs.is_empty() => {
                    format!("missing outputs {}", outcome.missing_outputs.join(", "))
                }
                (_, Some(e)) => e.clone(),
                _ => "failed".into(),
            }
        };
        if attempt < attempts {
            let wait = step.backoff.saturating_mul(1 << (attempt - 1).min(16));
            shared.progress.event(plan, &TaskEvent::Retrying { task, attempt, reason, wait });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => {
                    done.status = TaskStatus::Cancelled;
                    done.message = Some(format!("{}: stopped by the user", who(shared, task)));
                    return Ok(());
                }
            }
            continue;
        }
        let (out_log, err_log) = shared.store.log_paths(&outcome.run_id);
        done.message = Some(format!(
            "{} failed after {attempt} attempt{}: {reason} (run {}; log {} and {})",
            who(shared, task),
            if attempt == 1 { "" } else { "s" },
            outcome.run_id.as_str(),
            err_log.display(),
            out_log.display(),
        ));
    }
    Ok(())
}

async fn run_with_timeout(
    execution: &dyn ExecutionBackend,
    runner: &Runner<'_>,
    job: &berth_run::PreparedJob,
    cancel: CancellationToken,
    timeout: Option<Duration>,
) -> Result<(RunOutcome, bool), PipelineError> {
    let fut = execution.run(runner, job, cancel.clone());
    tokio::pin!(fut);
    let Some(limit) = timeout else { return Ok((fut.await?, false)) };
    tokio::select! {
        r = &mut fut => Ok((r?, false)),
        _ = tokio::time::sleep(limit) => {
            cancel.cancel();
            Ok((fut.await?, true))
        }
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{}ms", d.as_millis())
    } else if s < 120.0 {
        format!("{s:.0}s")
    } else {
        format!("{:.0}m", s / 60.0)
    }
}

/// Publishes a task's outputs to `OUTPUT/<step>/<task-dir>/` (see [`crate::publish`]: nothing
/// the tool left is followed, and the final directory is never seen half-written).
fn publish(
    shared: &Shared<'_>,
    task: usize,
    outputs: &TaskOutputs,
    base: &Path,
) -> Result<Vec<PathBuf>, PipelineError> {
    let plan = shared.plan;
    let t = &plan.tasks[task];
    let step = &plan.steps[t.step];
    let final_rel = match t.dir_name() {
        d if d.is_empty() => PathBuf::from(&step.name),
        d => Path::new(&step.name).join(d),
    };
    let paths: Vec<PathBuf> = outputs.values().flatten().cloned().collect();
    Ok(crate::publish::publish(&shared.opts.output_dir, &final_rel, base, &paths)?)
}
