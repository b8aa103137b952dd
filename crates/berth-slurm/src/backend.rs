//! [`SlurmBackend`]: berth-run's [`ExecutionBackend`] that runs each job as a Slurm batch job.
//!
//! A run goes: image resolved on the submit host → inputs hashed → run record (`queued`, label
//! `berth.backend=slurm`) → configuration files, `command.sh` and the job script written into
//! the run's job directory on the shared file system → `sbatch` (alone, or gathered with the
//! runs submitted in the same moment into one job array) → `slurm_jobs` row → `squeue`
//! polled (one call for every job this process waits on) while the tool's output files are
//! streamed → on the end: the tool's exit code from `exit-code`, logs from the output files,
//! outputs hashed, `sacct` accounting when the cluster keeps it → succeeded, failed or
//! cancelled, as for a local run. `--detach` stops after the submission; [`refresh`] (`berth
//! status`) finishes the record later.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use berth_run::outputs;
use berth_run::prepare::{Exec, PathMapping, map_path};
use berth_run::run::{conclude, container_spec, hash_inputs};
use berth_run::{ExecutionBackend, PreparedJob, RunError, RunOutcome, Runner};
use berth_store::{FileRecord, NewRun, RunId, RunStatus, RunUpdate, SlurmJobUpdate, Store};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::scheduler::{JobState, Scheduler, SchedulerError};
use crate::script::{ClusterOptions, JobFiles, NodeEngine, job_script, resource_args};

/// The run label that marks a run executed by Slurm.
pub const BACKEND_LABEL: &str = "berth.backend";

/// How the backend submits and waits.
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    /// Partition, account, QOS, time, extra `sbatch` options.
    pub cluster: ClusterOptions,
    /// Where job directories go (on the shared file system); default `$BERTH_HOME/slurm`.
    pub work_dir: PathBuf,
    /// Host paths as the compute nodes see them (longest prefix wins).
    pub path_map: Vec<PathMapping>,
    /// Gather runs submitted together into job arrays (one array task each).
    pub arrays: bool,
    /// How long to wait for more runs before submitting an array.
    pub array_window: Duration,
    /// How often `squeue` is asked.
    pub poll: Duration,
    /// The engine command line on the nodes.
    pub engine: NodeEngine,
}

impl SlurmOptions {
    /// Defaults: arrays on (gathered for 500 ms), `squeue` every 2 s, jobs under `work_dir`.
    pub fn new(engine: NodeEngine, work_dir: PathBuf) -> SlurmOptions {
        SlurmOptions {
            cluster: ClusterOptions::default(),
            work_dir,
            path_map: Vec::new(),
            arrays: true,
            array_window: Duration::from_millis(500),
            poll: Duration::from_secs(2),
            engine,
        }
    }
}

/// A run waiting to be submitted with others of the same resources.
struct Pending {
    script: PathBuf,
    reply: oneshot::Sender<Result<(String, Option<String>), String>>,
}

#[derive(Default)]
struct Batches {
    /// Resource options (joined) → runs waiting, and whether one of them is gathering.
    waiting: HashMap<String, (Vec<String>, Vec<Pending>, bool)>,
}

/// The last `squeue` answer for every job this process waits on.
#[derive(Default)]
struct StateCache {
    tracked: BTreeSet<String>,
    at: Option<Instant>,
    states: HashMap<String, JobState>,
}

/// Slurm as the execution backend.
pub struct SlurmBackend {
    scheduler: Arc<dyn Scheduler>,
    opts: SlurmOptions,
    batches: Mutex<Batches>,
    cache: Mutex<StateCache>,
    /// (image ID, shell) → whether the image has that shell.
    shells: Mutex<HashMap<(String, String), bool>>,
    /// Submission-time measurements: (sbatch calls, seconds spent in sbatch).
    submit_stats: Mutex<(u64, f64)>,
}

impl std::fmt::Debug for SlurmBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlurmBackend").field("opts", &self.opts).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sched_err(e: SchedulerError) -> RunError {
    RunError::Backend { backend: "slurm", hint: e.hint(), message: e.to_string() }
}

fn backend_err(message: String, hint: Option<&str>) -> RunError {
    RunError::Backend { backend: "slurm", message, hint: hint.map(str::to_string) }
}

fn work_dir_err(e: crate::workdir::WorkDirError) -> RunError {
    RunError::Backend { backend: "slurm", hint: e.hint(), message: e.to_string() }
}

fn script_err(e: crate::script::ScriptError) -> RunError {
    let message = match &e {
        crate::script::ScriptError::Engine(inner) => format!("{e}: {inner}"),
        other => other.to_string(),
    };
    RunError::Backend { backend: "slurm", hint: e.hint(), message }
}

impl SlurmBackend {
    /// A backend submitting through `scheduler`.
    pub fn new(scheduler: Arc<dyn Scheduler>, opts: SlurmOptions) -> SlurmBackend {
        SlurmBackend {
            scheduler,
            opts,
            batches: Mutex::default(),
            cache: Mutex::default(),
            shells: Mutex::default(),
            submit_stats: Mutex::default(),
        }
    }

    /// How many `sbatch` calls were made and the seconds they took together.
    pub fn submit_stats(&self) -> (u64, f64) {
        *lock(&self.submit_stats)
    }

    fn node(&self, p: &Path) -> PathBuf {
        map_path(&self.opts.path_map, p)
    }

    fn sbatch(&self, args: &[String], script: &Path) -> Result<String, SchedulerError> {
        let t = Instant::now();
        let r = self.scheduler.submit(args, script);
        let mut s = lock(&self.submit_stats);
        s.0 += 1;
        s.1 += t.elapsed().as_secs_f64();
        r
    }

    /// Records `job` and submits it; returns the run id and its job id. Nothing waits.
    ///
    /// The site's gate is asked about the image first, as for a local run: a refusal by the
    /// scan policy is recorded as the run's failure and nothing reaches the scheduler
    /// ([`RunError::Refused`] carries the run id).
    pub async fn submit(&self, runner: &Runner<'_>, job: &PreparedJob) -> Result<RunId, RunError> {
        if job.trace.is_some() {
            return Err(RunError::Trace {
                message: "a run on Slurm cannot be traced: the trace socket lives on this host".into(),
                hint: Some("trace the tool with a local run (`berth run --trace`) on the same image".into()),
            });
        }
        let store = runner.store;
        let berth_run::Admitted { image, check } = runner.admit(&job.image).await?;
        let inputs = hash_inputs(store, job)?;
        let mut labels = runner.labels.clone();
        labels.insert(BACKEND_LABEL.into(), "slurm".into());
        let run_id = store.create_run(&NewRun {
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
            owner_host: runner.host.hostname.clone(),
            owner_started_at: berth_run::host::process_identity(std::process::id()),
            labels,
        })?;
        if let Some(check) = check.as_ref() {
            store.update_run(
                &run_id,
                &RunUpdate { scan_policy_json: Some(check.record_json.clone()), ..Default::default() },
            )?;
            if check.refuse {
                let msg = check.refusal();
                store.update_run(
                    &run_id,
                    &RunUpdate {
                        image_id: Some(image.id.clone()),
                        image_digest: image.repo_digest.clone(),
                        error: Some(msg.clone()),
                        ..Default::default()
                    },
                )?;
                store.add_files(&run_id, &inputs)?;
                store.set_status(&run_id, RunStatus::Failed, Some(&msg))?;
                return Err(RunError::Refused { run_id, message: msg });
            }
        }
        if let Err(e) = self.submit_recorded(runner, job, &run_id, &image, inputs).await {
            let msg = e.to_string();
            let _ = store.update_run(&run_id, &RunUpdate { error: Some(msg.clone()), ..Default::default() });
            let _ = store.set_status(&run_id, RunStatus::Failed, Some(&msg));
            return Err(e);
        }
        Ok(run_id)
    }

    async fn submit_recorded(
        &self,
        runner: &Runner<'_>,
        job: &PreparedJob,
        run_id: &RunId,
        image: &berth_run::run::ResolvedImage,
        inputs: Vec<FileRecord>,
    ) -> Result<(), RunError> {
        let store = runner.store;
        store.update_run(
            run_id,
            &RunUpdate {
                image_id: Some(image.id.clone()),
                image_digest: image.repo_digest.clone(),
                engine_kind: Some(runner.engine_info.kind.as_str().to_string()),
                engine_version: Some(runner.engine_info.server_version.clone()),
                engine_api_version: Some(runner.engine_info.api_version.clone()),
                host_json: Some(serde_json::to_string(&runner.host).unwrap_or_default()),
                relaxations_json: Some(serde_json::to_string(&job.security.relaxations).unwrap_or_default()),
                ..Default::default()
            },
        )?;
        store.add_files(run_id, &inputs)?;
        crate::script::check_sbatch_args(&self.opts.cluster.extra).map_err(script_err)?;
        // Whatever is in the work directory runs as the submitter on the nodes: it must be
        // ours alone (finding 11), and the job's directory private.
        let work_dir = &self.opts.work_dir;
        crate::workdir::check(work_dir).map_err(work_dir_err)?;
        let dir = crate::workdir::private_dir(work_dir, work_dir, run_id.as_str()).map_err(work_dir_err)?;
        let script = berth_run::run::write_run_files(store, run_id, job, &dir)?;

        // The node's view: every host path through the path map.
        let mut node_job = job.clone();
        if node_job.engine_paths.is_empty() {
            node_job.engine_paths = self.opts.path_map.clone();
        }
        // The image ID names exactly what was resolved; nodes without it pull the digest.
        let node_image = match (&self.opts.engine, &image.repo_digest) {
            (NodeEngine::Apptainer { .. }, _) => job.image.clone(),
            (_, Some(d)) => d.clone(),
            (_, None) => image.id.clone(),
        };
        // As on the local path: an image without the shell runs the command's words directly
        // when the shell would only have split them; otherwise the run is refused here.
        let mut argv = None;
        if let Exec::Shell { shell, argv_fallback, needs_shell, .. } = &job.exec
            && !self.has_shell(runner, job, run_id, &image.id, shell).await?
        {
            match argv_fallback {
                Some(words) => {
                    runner.sink.note(&format!("the image has no {shell}; running the command as an argument vector"));
                    argv = Some(words.clone());
                }
                None => {
                    return Err(backend_err(
                        format!(
                            "the command needs a shell ({}) but image `{}` has no {shell}",
                            needs_shell.clone().unwrap_or_default(),
                            job.image
                        ),
                        Some("use an image with a shell or a command without shell features"),
                    ));
                }
            }
        }
        let spec = container_spec(&node_job, run_id, &node_image, &script, argv.as_ref());
        let files = JobFiles::in_dir(&self.node(&dir));
        let from = crate::script::FromAllocation::of(job);
        let text =
            job_script(run_id.as_str(), &self.opts.engine, &spec, &node_image, &files, from).map_err(script_err)?;
        let job_sh = dir.join("job.sh");
        crate::workdir::write_private(&job_sh, text.as_bytes(), 0o700).map_err(work_dir_err)?;
        let resources = resource_args(job, &self.opts.cluster);
        let (job_id, array_job_id) = if self.opts.arrays {
            self.submit_gathered(resources.clone(), &job_sh).await.map_err(|e| {
                backend_err(
                    format!("submitting {} failed: {e}", job_sh.display()),
                    Some("check that the cluster answers (`sinfo`) and the partition, account and QOS given"),
                )
            })?
        } else {
            let mut args = resources.clone();
            args.push(format!("--output={}", self.node(&dir).join("slurm-%j.out").display()));
            args.push(format!("--chdir={}", self.node(&dir).display()));
            (self.sbatch(&args, &self.node(&job_sh)).map_err(sched_err)?, None)
        };
        let submit_json = serde_json::json!({ "resources": resources, "array_job_id": array_job_id }).to_string();
        store.record_slurm_job(
            run_id,
            &job_id,
            array_job_id.as_deref(),
            &job_sh.to_string_lossy(),
            &dir.to_string_lossy(),
            &submit_json,
        )?;
        lock(&self.cache).tracked.insert(array_job_id.unwrap_or(job_id));
        Ok(())
    }

    /// Whether `image_id` has `shell`, asked of the submit host's engine once per image.
    async fn has_shell(
        &self,
        runner: &Runner<'_>,
        job: &PreparedJob,
        run_id: &RunId,
        image_id: &str,
        shell: &str,
    ) -> Result<bool, RunError> {
        let key = (image_id.to_string(), shell.to_string());
        if let Some(known) = lock(&self.shells).get(&key) {
            return Ok(*known);
        }
        let script = self.opts.work_dir.join(run_id.as_str()).join("command.sh");
        let mut spec = container_spec(job, run_id, image_id, &script, None);
        spec.name = Some(format!("berth-shell-check-{}", run_id.as_str()));
        let created = runner.engine.create_container(&spec).await?;
        let found = runner.engine.path_exists(&created.id, shell).await;
        let _ = runner.engine.remove_container(&created.id, true).await;
        let found = found?;
        lock(&self.shells).insert(key, found);
        Ok(found)
    }

    /// Waits `array_window` for other runs with the same resources, then submits them all as
    /// one array (or one job when alone). Returns this run's job id (`A_i` in an array) and
    /// the array's id.
    async fn submit_gathered(&self, resources: Vec<String>, script: &Path) -> Result<(String, Option<String>), String> {
        let key = resources.join("\u{1f}");
        let (tx, rx) = oneshot::channel();
        let leader = {
            let mut b = lock(&self.batches);
            let entry = b.waiting.entry(key.clone()).or_insert_with(|| (resources.clone(), Vec::new(), false));
            entry.1.push(Pending { script: script.to_path_buf(), reply: tx });
            !std::mem::replace(&mut entry.2, true)
        };
        if leader {
            tokio::time::sleep(self.opts.array_window).await;
            let (resources, batch) = {
                let mut b = lock(&self.batches);
                let (r, p, _) = b.waiting.remove(&key).unwrap_or_default();
                (r, p)
            };
            self.submit_batch(&resources, batch);
        }
        rx.await.map_err(|_| "the submission was dropped".to_string())?
    }

    fn submit_batch(&self, resources: &[String], batch: Vec<Pending>) {
        if batch.is_empty() {
            return;
        }
        if batch.len() == 1 {
            let p = batch.into_iter().next().map(|p| (p.script, p.reply));
            if let Some((script, reply)) = p {
                let dir = script.parent().map(Path::to_path_buf).unwrap_or_default();
                let mut args = resources.to_vec();
                args.push(format!("--output={}", self.node(&dir).join("slurm-%j.out").display()));
                args.push(format!("--chdir={}", self.node(&dir).display()));
                let r = self.sbatch(&args, &self.node(&script)).map(|id| (id, None)).map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            return;
        }
        // The array's directory: its wrapper script and the list of task scripts, private to
        // the submitter (each task runs the script its line names).
        let work_dir = &self.opts.work_dir;
        let name = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        );
        let dir = crate::workdir::check(work_dir)
            .and_then(|_| crate::workdir::private_dir(work_dir, work_dir, "arrays"))
            .and_then(|arrays| crate::workdir::private_dir(work_dir, &arrays, &name));
        let dir = match dir {
            Ok(d) => d,
            Err(e) => {
                let msg = format!("{e}{}", e.hint().map(|h| format!(" (hint: {h})")).unwrap_or_default());
                for p in batch {
                    let _ = p.reply.send(Err(msg.clone()));
                }
                return;
            }
        };
        let list: String = batch.iter().map(|p| format!("{}\n", self.node(&p.script).display())).collect();
        let wrapper = format!(
            "#!/bin/bash\n# Generated by berth: a job array of {n} runs; task i runs the job script on line i+1 of `tasks`.\n\
             script=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {tasks})\n\
             [ -n \"$script\" ] || {{ echo \"berth: no task $SLURM_ARRAY_TASK_ID in {tasks}\" >&2; exit 1; }}\n\
             cd \"$(dirname \"$script\")\" && exec /bin/bash \"$script\"\n",
            n = batch.len(),
            tasks = crate::script::quote(&self.node(&dir.join("tasks")).to_string_lossy()),
        );
        let written = crate::workdir::write_private(&dir.join("tasks"), list.as_bytes(), 0o600)
            .and_then(|()| crate::workdir::write_private(&dir.join("array.sh"), wrapper.as_bytes(), 0o700));
        let result = written.map_err(|e| e.to_string()).and_then(|()| {
            let mut args = resources.to_vec();
            args.push(format!("--array=0-{}", batch.len() - 1));
            args.push(format!("--output={}", self.node(&dir).join("slurm-%A_%a.out").display()));
            args.push(format!("--chdir={}", self.node(&dir).display()));
            self.sbatch(&args, &self.node(&dir.join("array.sh"))).map_err(|e| e.to_string())
        });
        for (i, p) in batch.into_iter().enumerate() {
            let _ = p.reply.send(result.clone().map(|a| (format!("{a}_{i}"), Some(a))));
        }
    }

    /// The state of `job_id`, from an `squeue` answer at most `poll` old (one call for all).
    fn state(&self, job_id: &str, array_job_id: Option<&str>) -> Result<Option<JobState>, SchedulerError> {
        let mut c = lock(&self.cache);
        let new = c.tracked.insert(array_job_id.unwrap_or(job_id).to_string());
        let stale = new || c.at.is_none_or(|t| t.elapsed() >= self.opts.poll);
        if stale {
            let ids: Vec<String> = c.tracked.iter().cloned().collect();
            let states = self.scheduler.states(&ids)?;
            c.states.clear();
            for s in states {
                if let Some(a) = &s.array_job_id
                    && s.job_id.contains('[')
                {
                    for t in &s.array_tasks {
                        c.states.insert(format!("{a}_{t}"), s.clone());
                    }
                } else {
                    c.states.insert(s.job_id.clone(), s);
                }
            }
            c.at = Some(Instant::now());
        }
        Ok(c.states.get(job_id).cloned())
    }

    /// Waits for a submitted run to end, streaming its output, and finishes its record.
    pub async fn wait(
        &self,
        store: &Store,
        sink: &dyn berth_run::OutputSink,
        run_id: &RunId,
        log_max_bytes: u64,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, RunError> {
        let Some(rec) = store.slurm_job(run_id)? else {
            return Err(backend_err(format!("run \"{}\" was not submitted to Slurm", run_id.as_str()), None));
        };
        let dir = PathBuf::from(&rec.work_dir);
        let files = JobFiles::in_dir(&dir);
        let mut shown = (0u64, 0u64);
        let mut cancelled_at: Option<Instant> = None;
        let mut missing_since: Option<Instant> = None;
        let mut failing_since: Option<Instant> = None;
        let mut running = false;
        loop {
            if cancel.is_cancelled() && cancelled_at.is_none() {
                sink.note(&format!("cancelling Slurm job {} (scancel)", rec.job_id));
                let _ = self.scheduler.cancel(&rec.job_id);
                cancelled_at = Some(Instant::now());
                lock(&self.cache).at = None;
            }
            // squeue may fail for a moment (a busy or restarting controller): keep asking for a minute.
            let state = match self.state(&rec.job_id, rec.array_job_id.as_deref()) {
                Ok(s) => {
                    failing_since = None;
                    s
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(60) {
                        return Err(sched_err(e));
                    }
                    tracing::debug!(error = %e, "squeue failed; asking again");
                    lock(&self.cache).at = None;
                    tokio::time::sleep(self.opts.poll).await;
                    continue;
                }
            };
            stream_new(&files.stdout, &mut shown.0, |b| sink.stdout(b));
            stream_new(&files.stderr, &mut shown.1, |b| sink.stderr(b));
            match state {
                Some(s) if s.is_terminal() => {
                    return finish(store, &*self.scheduler, run_id, &s, log_max_bytes, cancelled_at.is_some());
                }
                Some(s) => {
                    missing_since = None;
                    if s.state == "RUNNING" && !running {
                        running = true;
                        let _ = store.set_status(run_id, RunStatus::Running, None);
                        store.update_slurm_job(
                            run_id,
                            &SlurmJobUpdate {
                                state: Some(s.state.clone()),
                                node: s.node.clone(),
                                ..Default::default()
                            },
                        )?;
                    }
                }
                None => {
                    // Gone from squeue (MinJobAge passed, or not there yet): a few polls, then give up.
                    let since = *missing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > (self.opts.poll * 5).max(Duration::from_secs(10)) {
                        let lost = JobState {
                            job_id: rec.job_id.clone(),
                            array_job_id: rec.array_job_id.clone(),
                            array_tasks: Vec::new(),
                            state: "UNKNOWN".into(),
                            node: None,
                            elapsed_seconds: None,
                            exit_code: None,
                            reason: Some("the job is no longer known to squeue".into()),
                        };
                        return finish(store, &*self.scheduler, run_id, &lost, log_max_bytes, cancelled_at.is_some());
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.opts.poll.min(Duration::from_millis(500)).max(Duration::from_millis(100))) => {}
                () = cancel.cancelled(), if cancelled_at.is_none() => {}
            }
        }
    }
}

/// Shows what `path` has gained since `shown` bytes.
fn stream_new(path: &Path, shown: &mut u64, mut show: impl FnMut(&[u8])) {
    let Ok(mut f) = std::fs::File::open(path) else { return };
    if f.seek(SeekFrom::Start(*shown)).is_err() {
        return;
    }
    let mut buf = Vec::new();
    if f.take(256 * 1024).read_to_end(&mut buf).is_ok() && !buf.is_empty() {
        *shown += buf.len() as u64;
        show(&buf);
    }
}

/// Finishes the record of a run whose job has ended: accounting, logs, exit code, outputs.
pub fn finish(
    store: &Store,
    scheduler: &dyn Scheduler,
    run_id: &RunId,
    state: &JobState,
    log_max_bytes: u64,
    cancel_requested: bool,
) -> Result<RunOutcome, RunError> {
    let rec = store
        .slurm_job(run_id)?
        .ok_or_else(|| backend_err(format!("run \"{}\" was not submitted to Slurm", run_id.as_str()), None))?;
    let accounting = scheduler.accounting(&rec.job_id).unwrap_or_else(|e| {
        tracing::debug!(error = %e, "sacct failed");
        None
    });
    store.update_slurm_job(
        run_id,
        &SlurmJobUpdate {
            state: Some(accounting.as_ref().and_then(|a| a.state.clone()).unwrap_or_else(|| state.state.clone())),
            node: accounting.as_ref().and_then(|a| a.node.clone()).or_else(|| state.node.clone()),
            slurm_exit_code: accounting.as_ref().and_then(|a| a.exit_code.clone()).or_else(|| state.exit_code.clone()),
            elapsed_seconds: accounting.as_ref().and_then(|a| a.elapsed_seconds).or(state.elapsed_seconds),
            max_rss_bytes: accounting.as_ref().and_then(|a| a.max_rss_bytes),
            accounting_json: accounting.as_ref().map(|a| serde_json::to_string(&a.raw).unwrap_or_default()),
        },
    )?;
    let dir = PathBuf::from(&rec.work_dir);
    let files = JobFiles::in_dir(&dir);
    // Logs: the job's output files into the store's capped logs.
    let (mut out, mut err) = store.open_logs(run_id, log_max_bytes)?;
    for (src, w) in [(&files.stdout, &mut out), (&files.stderr, &mut err)] {
        if let Ok(mut f) = std::fs::File::open(src) {
            let _ = std::io::copy(&mut f, w);
        }
        let _ = w.flush();
    }
    store.record_logs(run_id, out.summary(), err.summary())?;

    let exit_code = std::fs::read_to_string(&files.exit_code).ok().and_then(|s| s.trim().parse::<i64>().ok());
    let current = store.get_run(run_id.as_str())?;
    if current.status.is_terminal() {
        // Finished by another process meanwhile.
        return Ok(RunOutcome {
            run_id: run_id.clone(),
            status: current.status,
            exit_code: current.update.exit_code,
            error: current.update.error.clone().or(current.status_message.clone()),
            missing_outputs: Vec::new(),
            outputs: Vec::new(),
        });
    }
    if current.status == RunStatus::Queued && exit_code.is_some() {
        let _ = store.set_status(run_id, RunStatus::Running, Some("seen ended by Slurm"));
    }
    let cancelled = state.state.starts_with("CANCELLED") || cancel_requested;
    if cancelled {
        if let Some(c) = exit_code {
            store.update_run(run_id, &RunUpdate { exit_code: Some(c), ..Default::default() })?;
        }
        let msg = format!("Slurm job {} was cancelled (scancel)", rec.job_id);
        store.set_status(run_id, RunStatus::Cancelled, Some(&msg))?;
        return Ok(RunOutcome {
            run_id: run_id.clone(),
            status: RunStatus::Cancelled,
            exit_code,
            error: Some("cancelled".into()),
            missing_outputs: Vec::new(),
            outputs: Vec::new(),
        });
    }
    let job: Option<PreparedJob> = serde_json::from_str(&current.new.plan_json).ok();
    match (exit_code, job) {
        (Some(code), Some(job)) if !matches!(state.state.as_str(), "TIMEOUT" | "NODE_FAIL" | "OUT_OF_MEMORY") => {
            store.update_run(run_id, &RunUpdate { exit_code: Some(code), ..Default::default() })?;
            let found = outputs::collect(store, &job)?;
            store.add_files(run_id, &found.records)?;
            Ok(conclude(store, run_id, code, false, found)?)
        }
        (code, _) => {
            let why = match state.state.as_str() {
                "TIMEOUT" => "it reached its time limit (`--time`)".to_string(),
                "OUT_OF_MEMORY" => "it exceeded its memory (`--mem`)".to_string(),
                "NODE_FAIL" => "its node failed".to_string(),
                s => format!("it ended {s}{}", state.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()),
            };
            let msg = format!("Slurm job {} did not run the tool to the end: {why}", rec.job_id);
            store.update_run(run_id, &RunUpdate { error: Some(msg.clone()), exit_code: code, ..Default::default() })?;
            store.set_status(run_id, RunStatus::Failed, Some(&msg))?;
            Ok(RunOutcome {
                run_id: run_id.clone(),
                status: RunStatus::Failed,
                exit_code: code,
                error: Some(msg),
                missing_outputs: Vec::new(),
                outputs: Vec::new(),
            })
        }
    }
}

/// What [`refresh`] found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Refreshed {
    /// The run's status now.
    pub status: RunStatus,
    /// The job as recorded now.
    pub job: berth_store::SlurmJobRecord,
}

/// Asks Slurm about a run's job once (for `berth status`): records the state, and when the
/// job has ended finishes the run's record as waiting would have.
pub fn refresh(
    store: &Store,
    scheduler: &dyn Scheduler,
    run_id: &RunId,
    log_max_bytes: u64,
) -> Result<Option<Refreshed>, RunError> {
    let Some(rec) = store.slurm_job(run_id)? else { return Ok(None) };
    let run = store.get_run(run_id.as_str())?;
    if !run.status.is_terminal() {
        let ids = [rec.array_job_id.clone().unwrap_or_else(|| rec.job_id.clone())];
        let states = scheduler.states(&ids).map_err(sched_err)?;
        let s = states.iter().find(|s| s.job_id == rec.job_id).cloned().or_else(|| {
            let task = rec.job_id.rsplit_once('_').and_then(|(_, t)| t.parse::<u32>().ok())?;
            states.iter().find(|s| s.job_id.contains('[') && s.array_tasks.contains(&task)).cloned()
        });
        match s {
            Some(s) if s.is_terminal() => {
                finish(store, scheduler, run_id, &s, log_max_bytes, false)?;
            }
            Some(s) => {
                if s.state == "RUNNING" && run.status == RunStatus::Queued {
                    let _ = store.set_status(run_id, RunStatus::Running, None);
                }
                store.update_slurm_job(
                    run_id,
                    &SlurmJobUpdate {
                        state: Some(s.state.clone()),
                        node: s.node.clone(),
                        elapsed_seconds: s.elapsed_seconds,
                        ..Default::default()
                    },
                )?;
            }
            None => {
                // squeue forgot it: sacct may still know how it ended.
                if let Ok(Some(a)) = scheduler.accounting(&rec.job_id) {
                    let s = JobState {
                        job_id: rec.job_id.clone(),
                        array_job_id: rec.array_job_id.clone(),
                        array_tasks: Vec::new(),
                        state: a.state.clone().unwrap_or_else(|| "UNKNOWN".into()),
                        node: a.node.clone(),
                        elapsed_seconds: a.elapsed_seconds,
                        exit_code: a.exit_code.clone(),
                        reason: None,
                    };
                    if s.is_terminal() {
                        finish(store, scheduler, run_id, &s, log_max_bytes, false)?;
                    }
                }
            }
        }
    }
    let status = store.get_run(run_id.as_str())?.status;
    Ok(store.slurm_job(run_id)?.map(|job| Refreshed { status, job }))
}

/// Cancels a run's job (`scancel`); the record is finished by the next [`refresh`] or by the
/// process waiting on it.
pub fn cancel(store: &Store, scheduler: &dyn Scheduler, run_id: &RunId) -> Result<Option<String>, RunError> {
    let Some(rec) = store.slurm_job(run_id)? else { return Ok(None) };
    scheduler.cancel(&rec.job_id).map_err(sched_err)?;
    Ok(Some(rec.job_id))
}

#[async_trait]
impl ExecutionBackend for SlurmBackend {
    fn name(&self) -> &'static str {
        "slurm"
    }

    async fn run(
        &self,
        runner: &Runner<'_>,
        job: &PreparedJob,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, RunError> {
        let run_id = match self.submit(runner, job).await {
            Ok(id) => id,
            // Refused by the site's policy: recorded as failed, as a local run is.
            Err(RunError::Refused { run_id, message }) => {
                return Ok(RunOutcome {
                    run_id,
                    status: RunStatus::Failed,
                    exit_code: None,
                    error: Some(message),
                    missing_outputs: Vec::new(),
                    outputs: Vec::new(),
                });
            }
            Err(e) => return Err(e),
        };
        runner.sink.note(&format!(
            "submitted to Slurm as job {}",
            runner.store.slurm_job(&run_id)?.map(|r| r.job_id).unwrap_or_default()
        ));
        self.wait(runner.store, runner.sink, &run_id, runner.log_max_bytes, cancel).await
    }

    fn abandon(&self, store: &Store, run: &RunId) {
        if let Ok(Some(job)) = cancel(store, &*self.scheduler, run) {
            let msg = format!("berth stopped while the pipeline ran; its Slurm job {job} was cancelled");
            let _ = store.set_status(run, RunStatus::Cancelled, Some(&msg));
        }
    }
}
