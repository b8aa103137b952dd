//! `berth pipeline validate|run|ls|status|show`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use berth_pipeline::exec::{Backend, ExecOptions, PipelineOutcome, Progress, TaskEvent};
use berth_pipeline::{AnalysisLevel, PipelineError, Plan, PlanOptions};
use berth_run::HostInfo;
use berth_store::{RunStatus, TaskStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::cli::{AnalysisLevelArg, PipelineCommand, PipelinePlanArgs, PipelineRunArgs, PipelineValidateArgs};
use crate::context::{host_facts, log_cap, open_engine_for, open_store, runtime};
use crate::diag::{self, hinted};
use crate::printer::print_json;

/// Runs a `berth pipeline` subcommand.
pub fn run(command: &PipelineCommand) -> anyhow::Result<ExitCode> {
    match command {
        PipelineCommand::Validate(args) => validate(args),
        PipelineCommand::Run(args) => run_pipeline(args),
        PipelineCommand::Ls { limit, json } => ls(*limit, *json),
        PipelineCommand::Status { run, json } => status(run, *json),
        PipelineCommand::Show { run, json } => show(run, *json),
        PipelineCommand::Report { run, output } => report(run, output.as_deref()),
        PipelineCommand::Export { run, ro_crate, allow_changed } => export(run, ro_crate, *allow_changed),
    }
}

fn pipeline_err(e: PipelineError) -> anyhow::Error {
    if let Some(problems) = e.problems() {
        diag::print_problems(problems, false);
    }
    let hint = e.hint();
    diag::library(e, hint)
}

fn plan_options(args: &PipelinePlanArgs) -> anyhow::Result<PlanOptions> {
    let params = args
        .param
        .iter()
        .map(|p| {
            p.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.to_owned())).ok_or_else(|| {
                hinted(format!("--param {p}: expected NAME=VALUE"), Some("e.g. `--param low=0`".to_string()))
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(PlanOptions {
        bids: args.bids.clone(),
        participant_labels: args
            .participant_label
            .iter()
            .flat_map(|l| l.split_whitespace().map(str::to_owned))
            .collect(),
        session_labels: args.session_label.iter().flat_map(|l| l.split_whitespace().map(str::to_owned)).collect(),
        analysis_level: match args.analysis_level {
            AnalysisLevelArg::Participant => AnalysisLevel::Participant,
            AnalysisLevelArg::Group => AnalysisLevel::Group,
            AnalysisLevelArg::All => AnalysisLevel::All,
        },
        params,
        strict: args.strict,
    })
}

fn make_plan(args: &PipelinePlanArgs) -> anyhow::Result<Plan> {
    let pipeline = berth_pipeline::load(&args.file).map_err(pipeline_err)?;
    // The store is needed only for registered tools; a missing store is not an error here.
    let store = open_store().ok();
    let plan = berth_pipeline::plan(pipeline, &plan_options(args)?, store.as_ref()).map_err(pipeline_err)?;
    diag::print_problems(&plan.warnings, false);
    Ok(plan)
}

fn plan_summary(plan: &Plan) -> serde_json::Value {
    let steps: Vec<_> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let tasks = plan.tasks.iter().filter(|t| t.step == i).count();
            let skipped = plan.tasks.iter().filter(|t| t.step == i && t.skip.is_some()).count();
            serde_json::json!({
                "step": s.name,
                "tool": format!("{}@{}", s.tool.name(), s.tool.version()),
                "image": s.image,
                "fan_out": match &s.fan {
                    berth_pipeline::plan::Fan::Group => "group".to_string(),
                    berth_pipeline::plan::Fan::Participants => "participants".into(),
                    berth_pipeline::plan::Fan::Sessions => "sessions".into(),
                    berth_pipeline::plan::Fan::List(l) => format!("list of {}", l.len()),
                },
                "tasks": tasks,
                "skipped": skipped,
                "depends_on": s.depends_on.iter().map(|&d| plan.steps[d].name.clone()).collect::<Vec<_>>(),
                "cpus": s.cpus,
                "memory": s.memory,
                "retries": s.retries,
                "timeout_seconds": s.timeout.map(|t| t.as_secs_f64()),
            })
        })
        .collect();
    serde_json::json!({
        "valid": true,
        "name": plan.pipeline.spec.name,
        "file": plan.pipeline.file,
        "dataset": plan.dataset.as_ref().map(|d| d.root.clone()),
        "participants": plan.dataset.as_ref().map(|d| d.participants.iter().map(|p| p.label.clone()).collect::<Vec<_>>()),
        "tasks": plan.tasks.len(),
        "steps": steps,
        // Tasks that will not run, and why (`if-missing: skip`, a skipped dependency, the level).
        "skipped": plan
            .tasks
            .iter()
            .filter_map(|t| t.skip.as_ref().map(|why| serde_json::json!({"task": t.key, "reason": why})))
            .collect::<Vec<_>>(),
    })
}

fn validate(args: &PipelineValidateArgs) -> anyhow::Result<ExitCode> {
    let plan = make_plan(&args.plan)?;
    let summary = plan_summary(&plan);
    if args.json {
        print_json(&summary)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} is valid: {} step(s), {} task(s)", args.plan.file.display(), plan.steps.len(), plan.tasks.len());
    if let Some(ds) = &plan.dataset {
        println!("dataset {} ({} participant(s))", ds.root.display(), ds.participants.len());
    }
    println!("{:<16} {:<32} {:<14} {:>6} {:>8}  needs", "STEP", "TOOL", "FAN-OUT", "TASKS", "SKIPPED");
    for s in summary["steps"].as_array().into_iter().flatten() {
        println!(
            "{:<16} {:<32} {:<14} {:>6} {:>8}  {}",
            s["step"].as_str().unwrap_or_default(),
            s["tool"].as_str().unwrap_or_default(),
            s["fan_out"].as_str().unwrap_or_default(),
            s["tasks"].as_u64().unwrap_or_default(),
            s["skipped"].as_u64().unwrap_or_default(),
            s["depends_on"]
                .as_array()
                .map(|d| d.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        );
    }
    for t in summary["skipped"].as_array().into_iter().flatten() {
        println!(
            "skipped {}: {}",
            t["task"].as_str().unwrap_or_default(),
            t["reason"].as_str().unwrap_or_default().trim_start_matches("skipped: ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Progress on standard error: an overall bar and one line per step on a terminal; plain
/// lines for starts of retries, failures and skips otherwise.
struct Display {
    multi: MultiProgress,
    overall: ProgressBar,
    steps: Vec<ProgressBar>,
    counts: Mutex<Vec<BTreeMap<&'static str, usize>>>,
    totals: Vec<usize>,
    interactive: bool,
}

impl Display {
    fn new(plan: &Plan) -> Display {
        let interactive = std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let overall = multi.add(ProgressBar::new(plan.tasks.len() as u64));
        overall.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{elapsed_precise}] {bar:30} {pos}/{len} tasks {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        overall.set_prefix(plan.pipeline.spec.name.clone());
        let width = plan.steps.iter().map(|s| s.name.len()).max().unwrap_or(4);
        let totals: Vec<usize> =
            (0..plan.steps.len()).map(|i| plan.tasks.iter().filter(|t| t.step == i).count()).collect();
        let steps = plan
            .steps
            .iter()
            .map(|s| {
                let b = multi.add(ProgressBar::new(0));
                b.set_style(
                    ProgressStyle::with_template("  {prefix} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_prefix(format!("{:<width$}", s.name));
                b
            })
            .collect();
        let d = Display {
            multi,
            overall,
            steps,
            counts: Mutex::new(vec![BTreeMap::new(); plan.steps.len()]),
            totals,
            interactive,
        };
        for i in 0..plan.steps.len() {
            d.redraw(i);
        }
        d
    }

    fn redraw(&self, step: usize) {
        let counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = &counts[step];
        let get = |k: &str| c.get(k).copied().unwrap_or(0);
        let finished: usize = ["succeeded", "cached", "failed", "skipped", "cancelled"].iter().map(|k| get(k)).sum();
        let mut msg = format!("{finished}/{} done", self.totals[step]);
        for k in ["running", "succeeded", "cached", "failed", "skipped", "retrying"] {
            if get(k) > 0 {
                msg.push_str(&format!(" · {} {k}", get(k)));
            }
        }
        self.steps[step].set_message(msg);
    }

    fn line(&self, text: String) {
        if self.interactive {
            self.multi.suspend(|| eprintln!("{text}"));
        } else {
            eprintln!("{text}");
        }
    }

    fn finish(&self) {
        self.overall.finish();
        for s in &self.steps {
            s.finish();
        }
    }
}

impl Progress for Display {
    fn event(&self, plan: &Plan, event: &TaskEvent) {
        let bump = |step: usize, key: &'static str, delta: isize| {
            let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let e = counts[step].entry(key).or_insert(0);
            *e = e.saturating_add_signed(delta);
        };
        match event {
            TaskEvent::Started { task, attempt } => {
                let step = plan.tasks[*task].step;
                if *attempt > 1 {
                    bump(step, "retrying", -1);
                }
                bump(step, "running", 1);
                self.redraw(step);
            }
            TaskEvent::Retrying { task, attempt, reason, wait } => {
                let step = plan.tasks[*task].step;
                bump(step, "running", -1);
                bump(step, "retrying", 1);
                self.redraw(step);
                self.line(format!(
                    "berth: {} attempt {attempt} failed ({reason}); retrying in {:.1}s",
                    plan.tasks[*task].key,
                    wait.as_secs_f64()
                ));
            }
            TaskEvent::Finished { task, status, message } => {
                let step = plan.tasks[*task].step;
                if matches!(status, TaskStatus::Succeeded | TaskStatus::Failed)
                    || (*status == TaskStatus::Cancelled && message.as_deref().is_some_and(|m| m.contains("stopped")))
                {
                    bump(step, "running", -1);
                }
                bump(step, status.as_str(), 1);
                self.overall.inc(1);
                self.redraw(step);
                if *status == TaskStatus::Failed {
                    self.line(format!("berth: FAILED {}", message.clone().unwrap_or_default()));
                    self.overall.set_message("(failures)");
                } else if *status == TaskStatus::Skipped && !self.interactive {
                    self.line(format!("berth: {} {}", plan.tasks[*task].key, message.clone().unwrap_or_default()));
                } else if !self.interactive {
                    self.line(format!("berth: {} {status}", plan.tasks[*task].key));
                }
            }
            TaskEvent::Note(n) => self.line(format!("berth: {n}")),
            TaskEvent::Recorded(_) => {}
        }
    }
}

fn parse_size(s: &str, what: &str) -> anyhow::Result<i64> {
    berth_pipeline::model::parse_memory(&serde_json::Value::String(s.to_owned()))
        .ok_or_else(|| hinted(format!("{what}: `{s}` is not a size"), Some("use e.g. `8g` or `512MiB`".to_string())))
}

fn run_pipeline(args: &PipelineRunArgs) -> anyhow::Result<ExitCode> {
    let plan = make_plan(&args.plan)?;
    let site = crate::context::site()?;
    let config = site.config().clone();
    let host = HostInfo::current();
    let cwd = std::env::current_dir().context("cannot determine the working directory")?;
    let output_dir = std::path::absolute(&args.output_dir).context("cannot resolve --output-dir")?;
    let work_dir = args.work_dir.as_ref().map_or_else(|| output_dir.join(".berth-work"), |w| cwd.join(w));
    let memory = match &args.memory {
        Some(m) => parse_size(m, "--memory")?,
        None => host.memory_bytes,
    };
    let jobs = args.jobs.unwrap_or(host.cpus.max(1) as usize);
    if jobs == 0 {
        return Err(hinted("--jobs must be at least 1", None));
    }
    let cpus = args.cpus.unwrap_or(f64::from(host.cpus.max(1)));
    let base = berth_run::PrepareOptions {
        output_dir: work_dir.clone(),
        cwd: plan.pipeline.dir.clone(),
        mode: if args.plan.strict { berth_descriptor::Mode::Strict } else { berth_descriptor::Mode::Bosh },
        memory: None,
        cpus: None,
        pids_limit: None,
        gpus: Default::default(),
        network: None,
        user: None,
        cap_add: Vec::new(),
        config: config.run.clone(),
        host: host_facts(&host),
    };
    let record = serde_json::json!({
        "jobs": jobs, "cpus": cpus, "memory": memory, "keep_going": args.keep_going, "no_cache": args.no_cache,
        "participant_label": args.plan.participant_label, "param": args.plan.param, "bids": args.plan.bids,
    });
    let mut opts = ExecOptions {
        output_dir,
        work_dir,
        jobs,
        cpus,
        memory,
        keep_going: args.keep_going,
        no_cache: args.no_cache,
        pull: args.pull.into(),
        log_max_bytes: log_cap(&config),
        base,
        record,
    };
    let store = open_store()?;
    let rt = runtime()?;
    let (engine, engine_info) = rt.block_on(open_engine_for(args.engine.as_deref()))?;
    let request = berth_session::BackendRequest { no_arrays: args.no_arrays, ..args.backend.request() };
    let slurm = crate::context::slurm_backend(&site, &request, &engine_info, true)?;
    let execution: Arc<dyn berth_run::ExecutionBackend> = match slurm.clone() {
        Some(slurm) => {
            // The cluster schedules: every ready task is submitted (gathered into job
            // arrays), whatever this machine's CPUs and memory.
            opts.jobs = args.jobs.unwrap_or(plan.tasks.len().max(1));
            opts.cpus = args.cpus.unwrap_or(f64::MAX);
            if args.memory.is_none() {
                opts.memory = i64::MAX;
            }
            opts.record["backend"] = "slurm".into();
            slurm
        }
        None => Arc::new(berth_run::Local),
    };
    let backend = Backend { engine, engine_info, host, gate: site.gate(), execution };
    let cancel = CancellationToken::new();
    {
        let cancel = cancel.clone();
        rt.spawn(async move {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else { return };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("berth: stopping the pipeline (running containers are stopped and removed; run the same command again to resume)");
            cancel.cancel();
        });
    }
    let display = Display::new(&plan);
    let outcome = rt.block_on(berth_pipeline::execute(&plan, &store, &backend, &opts, &display, cancel));
    display.finish();
    let outcome = outcome.map_err(pipeline_err)?;
    if let Some(b) = &slurm {
        let (calls, seconds) = b.submit_stats();
        eprintln!("berth: Slurm: {calls} sbatch call(s), {seconds:.2}s submitting");
    }
    let report_path = opts.output_dir.join("reports").join(format!("{}.html", outcome.id));
    if let Err(e) = write_report(&store, &outcome.id, &report_path) {
        eprintln!("berth: warning: the HTML report could not be written: {e:#}");
    }
    if args.json {
        print_json(&outcome)?;
    } else {
        summary(&plan, &outcome, &opts);
    }
    Ok(match outcome.status {
        RunStatus::Succeeded => ExitCode::SUCCESS,
        RunStatus::Cancelled => ExitCode::from(130),
        _ => ExitCode::from(1),
    })
}

fn summary(plan: &Plan, outcome: &PipelineOutcome, opts: &ExecOptions) {
    eprintln!();
    eprintln!(
        "{:<16} {:>6} {:>10} {:>7} {:>7} {:>8} {:>10} {:>9}",
        "STEP", "TASKS", "SUCCEEDED", "CACHED", "FAILED", "SKIPPED", "CANCELLED", "WALL"
    );
    for s in &plan.steps {
        let mine: Vec<_> = outcome.tasks.iter().filter(|t| t.step == s.name).collect();
        let count = |st: TaskStatus| mine.iter().filter(|t| t.status == st).count();
        let wall = mine.iter().map(|t| t.seconds).fold(0.0f64, f64::max);
        eprintln!(
            "{:<16} {:>6} {:>10} {:>7} {:>7} {:>8} {:>10} {:>8.1}s",
            s.name,
            mine.len(),
            count(TaskStatus::Succeeded),
            count(TaskStatus::Cached),
            count(TaskStatus::Failed),
            count(TaskStatus::Skipped),
            count(TaskStatus::Cancelled),
            wall
        );
    }
    let word = match outcome.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Cancelled => "was cancelled",
        _ => "failed",
    };
    eprintln!("\nberth: pipeline run {} {word} in {:.1}s", outcome.id, outcome.seconds);
    if let Some(m) = &outcome.message {
        eprintln!("berth:   {m}");
    }
    eprintln!("berth:   outputs: {}", opts.output_dir.display());
    eprintln!("berth:   report:  {}", opts.output_dir.join("reports").join(format!("{}.html", outcome.id)).display());
    eprintln!("berth:   details: `berth pipeline show {}`", &outcome.id);
}

fn ls(limit: usize, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let runs = store.list_pipeline_runs(limit)?;
    if json {
        print_json(&runs)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<38} {:<20} {:<10} {:>6} {:>6} {:>6}  CREATED", "ID", "NAME", "STATUS", "TASKS", "DONE", "FAILED");
    for r in runs {
        println!(
            "{:<38} {:<20} {:<10} {:>6} {:>6} {:>6}  {}",
            r.id,
            r.name,
            r.status.as_str(),
            r.tasks,
            r.done,
            r.failed,
            crate::printer::time(&r.created_at)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn status(run: &str, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let rec = store.get_pipeline_run(run)?;
    let mut by_step: Vec<(String, BTreeMap<&'static str, usize>)> = Vec::new();
    for t in &rec.tasks {
        if by_step.last().is_none_or(|(s, _)| s != &t.step) && !by_step.iter().any(|(s, _)| s == &t.step) {
            by_step.push((t.step.clone(), BTreeMap::new()));
        }
        if let Some((_, m)) = by_step.iter_mut().find(|(s, _)| s == &t.step) {
            *m.entry(t.status.as_str()).or_insert(0) += 1;
        }
    }
    if json {
        let steps: Vec<_> = by_step.iter().map(|(s, m)| serde_json::json!({"step": s, "counts": m})).collect();
        print_json(&serde_json::json!({
            "id": rec.id, "name": rec.new.name, "status": rec.status.as_str(), "message": rec.status_message,
            "created_at": rec.created_at, "finished_at": rec.finished_at, "steps": steps,
            "running": rec.tasks.iter().filter(|t| t.status == TaskStatus::Running).map(|t| &t.key).collect::<Vec<_>>(),
            "failed": rec.tasks.iter().filter(|t| t.status == TaskStatus::Failed).map(|t| serde_json::json!({"key": t.key, "message": t.message})).collect::<Vec<_>>(),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("pipeline run {} ({}): {}", rec.id, rec.new.name, rec.status.as_str());
    if let Some(m) = &rec.status_message {
        println!("  {m}");
    }
    println!(
        "  started {}  finished {}",
        rec.started_at.as_deref().map_or_else(|| "-".to_owned(), crate::printer::time),
        rec.finished_at.as_deref().map_or_else(|| "-".to_owned(), crate::printer::time)
    );
    println!("  output {}", rec.new.output_dir);
    for (step, counts) in &by_step {
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!("  {step:<16} {}", parts.join(", "));
    }
    for t in rec.tasks.iter().filter(|t| t.status == TaskStatus::Running) {
        println!("  running: {} (attempt {}, run {})", t.key, t.attempts, t.run_id.as_deref().unwrap_or("-"));
    }
    for t in rec.tasks.iter().filter(|t| t.status == TaskStatus::Failed) {
        println!("  failed:  {}", t.message.as_deref().unwrap_or(&t.key));
    }
    Ok(ExitCode::SUCCESS)
}

fn seconds_between(a: Option<&str>, b: Option<&str>) -> Option<f64> {
    let a: jiff::Timestamp = a?.parse().ok()?;
    let b: jiff::Timestamp = b?.parse().ok()?;
    Some((b.as_millisecond() - a.as_millisecond()) as f64 / 1000.0)
}

fn show(run: &str, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let rec = store.get_pipeline_run(run)?;
    if json {
        let mut v = serde_json::to_value(&rec)?;
        // The logs of each task's current run, for scripts.
        if let Some(tasks) = v.get_mut("tasks").and_then(|t| t.as_array_mut()) {
            for (t, r) in tasks.iter_mut().zip(&rec.tasks) {
                if let Some(id) = r.run_id.as_deref().and_then(|id| store.resolve_run_id(id).ok()) {
                    let (o, e) = store.log_paths(&id);
                    t["stdout_log"] = serde_json::json!(o);
                    t["stderr_log"] = serde_json::json!(e);
                }
            }
        }
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("pipeline run {} ({}): {}", rec.id, rec.new.name, rec.status.as_str());
    if let Some(m) = &rec.status_message {
        println!("  {m}");
    }
    println!("  file {} (sha256 {})", rec.new.file_path, &rec.new.file_sha256[..12.min(rec.new.file_sha256.len())]);
    println!("  output {}  work {}", rec.new.output_dir, rec.new.work_dir);
    println!("{:<32} {:<10} {:>8} {:>9}  {:<36}  LOG", "TASK", "STATUS", "ATTEMPTS", "SECONDS", "RUN");
    for t in &rec.tasks {
        let secs = seconds_between(t.started_at.as_deref(), t.finished_at.as_deref())
            .map_or_else(|| "-".to_string(), |s| format!("{s:.1}"));
        let log = t
            .run_id
            .as_deref()
            .and_then(|id| store.resolve_run_id(id).ok())
            .map(|id| store.log_paths(&id).1.display().to_string())
            .unwrap_or_default();
        println!(
            "{:<32} {:<10} {:>8} {:>9}  {:<36}  {log}",
            t.key,
            t.status.as_str(),
            t.attempts,
            secs,
            t.run_id.as_deref().unwrap_or("-"),
        );
        if let Some(m) = &t.message
            && t.status != TaskStatus::Succeeded
        {
            println!("    {m}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The pipeline run and its task runs (every attempt, and the runs cached tasks reused).
fn records(
    store: &berth_store::Store,
    run: &str,
) -> anyhow::Result<(berth_store::PipelineRunRecord, BTreeMap<String, berth_store::RunRecord>)> {
    let rec = store.get_pipeline_run(run)?;
    let mut runs = BTreeMap::new();
    for t in &rec.tasks {
        for id in t.runs.iter().map(|(_, r)| r).chain(t.run_id.iter()) {
            if !runs.contains_key(id) {
                runs.insert(id.clone(), store.get_run(id)?);
            }
        }
    }
    Ok((rec, runs))
}

fn write_report(store: &berth_store::Store, run: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let (rec, runs) = records(store, run)?;
    berth_report::write_atomic(path, berth_report::render_html(&rec, &runs).as_bytes())?;
    Ok(())
}

fn report(run: &str, output: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let rec = store.get_pipeline_run(run)?;
    let path = output.map_or_else(
        || std::path::Path::new(&rec.new.output_dir).join("reports").join(format!("{}.html", rec.id)),
        std::path::Path::to_path_buf,
    );
    write_report(&store, &rec.id, &path)?;
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn export(run: &str, dir: &std::path::Path, allow_changed: bool) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let (rec, runs) = records(&store, run)?;
    let hash = |p: &std::path::Path| store.hash_path(p).map(|h| h.sha256).map_err(|e| e.to_string());
    let opts = berth_report::ExportOptions { hash: &hash, allow_changed };
    let summary = berth_report::write_ro_crate(&rec, &runs, env!("CARGO_PKG_VERSION"), dir, &opts).map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })?;
    for c in &summary.changed {
        eprintln!("warning: left out of the crate, changed since the run: {}: {}", c.path.display(), c.reason);
    }
    println!(
        "wrote the Workflow Run RO-Crate of pipeline run {} to {}: {} entities, {} files copied, {} referenced by file:// URI",
        rec.id,
        summary.dir.display(),
        summary.entities,
        summary.files_copied,
        summary.files_referenced
    );
    Ok(ExitCode::SUCCESS)
}
