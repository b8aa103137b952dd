//! `berth engine`, `berth run`, `berth runs`, `berth show` and `berth logs`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use berth_config::Config;
use berth_config::text::terminal_safe as safe;
use berth_run::{HostInfo, OutputSink, PrepareError, PrepareOptions, RunOutcome, Runner};
use berth_store::{RunFilter, RunStatus, Store};
use tokio_util::sync::CancellationToken;

use crate::cli::{EngineArgs, LogsArgs, RunArgs, RunsArgs, ShowArgs};
use crate::context::{default_output_dir, engine_choice, host_facts, log_cap, open_engine, open_store, runtime, site};
use crate::diag::{self, hinted};
use crate::loader::load;
use crate::loader::load_tool_arg;
use crate::loader::mount_bindings;
use crate::printer::print_json;
use crate::progress::TerminalPull;
use berth_run::ToolSpec;

/// `berth engine`.
pub fn engine(args: &EngineArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load()?;
    let (explicit, configured) = engine_choice(args.engine.as_deref(), &config)?;
    let report = runtime()?.block_on(berth_engine::report::report(explicit, configured));
    if args.json {
        print_json(&report)?;
    } else {
        print!("{report}");
    }
    Ok(if report.is_usable() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Streams the tool's output to the terminal and berth's notes to stderr.
struct Terminal {
    json: bool,
}

impl OutputSink for Terminal {
    fn stdout(&self, bytes: &[u8]) {
        // With `--json`, stdout carries only the result.
        if self.json {
            let _ = std::io::stderr().write_all(bytes);
        } else {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
        }
    }
    fn stderr(&self, bytes: &[u8]) {
        let _ = std::io::stderr().write_all(bytes);
    }
    fn note(&self, message: &str) {
        eprintln!("berth: {message}");
    }
}

fn parse_limit(s: &str, what: &str) -> anyhow::Result<Option<i64>> {
    if s == "none" {
        return Ok(None);
    }
    berth_config::parse_size(s)
        .map(Some)
        .map_err(|e| hinted(format!("{what}: {e}"), Some("use e.g. `4g`, `512m`, or `none`".into())))
}

fn parse_user(s: &str) -> anyhow::Result<(u32, u32)> {
    if s == "root" {
        return Ok((0, 0));
    }
    let parse = |p: &str| p.parse::<u32>().ok();
    match s.split_once(':') {
        Some((u, g)) => parse(u).zip(parse(g)),
        None => parse(s).map(|u| (u, u)),
    }
    .ok_or_else(|| {
        hinted(
            format!("--user: `{s}` is not UID:GID"),
            Some("use numeric ids, e.g. `--user 1000:1000`, or `root`".into()),
        )
    })
}

fn parse_gpus(s: &str) -> anyhow::Result<berth_run::prepare::GpuRequest> {
    use berth_run::prepare::GpuRequest;
    match s {
        "all" => Ok(GpuRequest::All),
        n => n.parse::<u32>().ok().filter(|n| *n > 0).map(GpuRequest::Count).ok_or_else(|| {
            hinted(format!("--gpus: `{s}` is not `all` or a number"), Some("use `--gpus all` or `--gpus 2`".into()))
        }),
    }
}

/// `berth run`.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let tool = load_tool_arg(&args.descriptor, false)?;
    let inv = load(args.invocation.as_deref().unwrap_or("{}"), "invocation")?;
    let site = site()?;
    let config = site.config().clone();
    let host = HostInfo::current();
    let memory = args.memory.as_deref().map(|m| parse_limit(m, "--memory")).transpose()?;
    let pids_limit = args
        .pids_limit
        .as_deref()
        .map(|p| {
            if p == "none" {
                Ok(None)
            } else {
                p.parse::<i64>().map(Some).map_err(|_| {
                    hinted(format!("--pids-limit: `{p}` is not a number"), Some("use a number or `none`".into()))
                })
            }
        })
        .transpose()?;
    let opts = PrepareOptions {
        output_dir: args.output_dir.clone().unwrap_or_else(|| default_output_dir("berth-out", tool.name())),
        cwd: std::env::current_dir().context("cannot determine the working directory")?,
        mode: if args.strict { berth_descriptor::Mode::Strict } else { berth_descriptor::Mode::Bosh },
        memory,
        cpus: args.cpus,
        pids_limit,
        gpus: args.gpus.as_deref().map(parse_gpus).transpose()?.unwrap_or_default(),
        network: args.network.clone(),
        user: args.user.as_deref().map(parse_user).transpose()?,
        cap_add: args.cap_add.clone(),
        config: config.run.clone(),
        host: host_facts(&host),
    };
    if !args.mount.is_empty() && matches!(tool.spec, ToolSpec::Boutiques(_)) {
        return Err(hinted(
            "--mount binds XNAT Command mounts; this is a Boutiques descriptor".to_string(),
            Some("Boutiques File inputs are mounted read-only automatically from the invocation's paths".into()),
        ));
    }
    let prepared = match &tool.spec {
        ToolSpec::Boutiques(d) => berth_run::prepare(d, &tool.text, &inv.value, &opts),
        ToolSpec::Xnat(c) => {
            berth_run::tool::prepare_xnat(c, &tool.text, &inv.value, &mount_bindings(&args.mount)?, &opts)
        }
    };
    let mut job = match prepared {
        Ok(job) => job,
        Err(PrepareError::Invalid(problems)) => {
            diag::print_problems(&problems, false);
            return Err(hinted(
                format!("the invocation {} is not valid", inv.origin),
                Some("fix the values listed above; `berth invocation` checks them".into()),
            ));
        }
        Err(e) => {
            let hint = e.hint();
            return Err(diag::library(e, hint));
        }
    };
    diag::print_problems(&job.warnings, false);

    tracing::debug!("job prepared");
    let store = open_store()?;
    tracing::debug!("store opened");
    let (explicit, configured) = engine_choice(args.engine.as_deref(), &config)?;
    let rt = runtime()?;
    let (engine, info) = rt.block_on(open_engine(explicit, configured))?;
    let sink = Terminal { json: args.json };
    for r in rt.block_on(berth_run::reconcile(&store, &*engine, log_cap(&config))).unwrap_or_default() {
        sink.note(&format!("run {} was {}; now {} ({})", r.run_id.as_str(), r.from.as_str(), r.to.as_str(), r.note));
    }
    tracing::debug!("orphans reconciled");
    let cancel = CancellationToken::new();
    {
        let cancel = cancel.clone();
        rt.spawn(async move {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!(
                "berth: stopping (the container is stopped and removed; this takes up to {}s)",
                berth_run::run::STOP_GRACE.as_secs()
            );
            cancel.cancel();
        });
    }
    let pull = TerminalPull::new();
    let mut runner = Runner {
        store: &store,
        engine,
        engine_info: info,
        host,
        sink: &sink,
        pull_reporter: &pull,
        pull: args.pull.into(),
        gate: &*site,
        log_max_bytes: site.log_cap(),
        labels: Default::default(),
    };
    // `--security-updates`: run on the base image with its distribution's updates applied,
    // made once per base and day; the base goes into the record.
    if args.security_updates {
        rt.block_on(berth_session::apply_security_updates(&mut runner, &mut job)).map_err(|e| {
            let hint = e.hint();
            diag::library(e, hint)
        })?;
    }
    // The scan policy (`[scan] run_policy`) is the site's: the runner asks it about the image
    // the run will use, before any container exists, on the local and the Slurm path alike.
    let to_hinted = |e: berth_run::RunError| {
        let hint = e.hint();
        diag::library(e, hint)
    };
    if args.trace {
        job.trace = Some(berth_config::tracer(args.tracer.as_deref())?);
    }
    let slurm = crate::context::slurm_backend(&site, &args.backend.request(), &runner.engine_info, false)?;
    if args.detach && slurm.is_none() {
        return Err(hinted("--detach needs `--backend slurm`", Some("a local run ends with berth".into())));
    }
    let outcome = match slurm {
        Some(b) if args.detach => {
            let id = rt.block_on(b.submit(&runner, &job)).map_err(to_hinted)?;
            let job_id = store.slurm_job(&id)?.map(|j| j.job_id).unwrap_or_default();
            if args.json {
                print_json(&serde_json::json!({ "run_id": id.as_str(), "job_id": job_id, "status": "queued" }))?;
            } else {
                println!("{}", id.as_str());
                eprintln!("berth: run {} submitted as Slurm job {job_id}", id.as_str());
                eprintln!("berth:   `berth status {}` asks Slurm; `berth cancel {}` cancels", id.as_str(), id.as_str());
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(b) => {
            use berth_run::ExecutionBackend;
            rt.block_on(b.run(&runner, &job, cancel)).map_err(to_hinted)?
        }
        None => rt.block_on(runner.run(&job, cancel)).map_err(to_hinted)?,
    };
    report(&outcome, &store, args.json)?;
    Ok(exit_code(&outcome))
}

fn exit_code(o: &RunOutcome) -> ExitCode {
    match o.status {
        RunStatus::Succeeded => ExitCode::SUCCESS,
        RunStatus::Cancelled => ExitCode::from(130),
        _ => match o.exit_code {
            Some(c) if c != 0 => ExitCode::from(u8::try_from(c.clamp(1, 255)).unwrap_or(1)),
            _ => ExitCode::from(1),
        },
    }
}

fn report(o: &RunOutcome, store: &Store, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(o);
    }
    let id = o.run_id.as_str();
    match o.status {
        RunStatus::Succeeded => eprintln!("berth: run {id} succeeded"),
        RunStatus::Cancelled => eprintln!("berth: run {id} was cancelled"),
        _ => {
            let why = o.error.clone().unwrap_or_default();
            eprintln!("berth: run {id} failed: {why}");
        }
    }
    for (key, path) in &o.outputs {
        eprintln!("berth:   output {key}: {}", path.display());
    }
    let (out, err) = store.log_paths(&o.run_id);
    eprintln!("berth:   logs: {} and {}", out.display(), err.display());
    eprintln!("berth:   record: `berth show {id}` (`--json` for the provenance record)");
    Ok(())
}

fn short(id: &str) -> &str {
    &id[..id.len().min(13)]
}

/// Reconciles orphaned runs when an engine is reachable; silent otherwise.
fn reconcile_quietly(store: &Store, config: &Config) {
    let Ok(rt) = runtime() else { return };
    let Ok((explicit, configured)) = engine_choice(None, config) else { return };
    let done = rt.block_on(async {
        let Ok(Ok((engine, _))) = tokio::time::timeout(Duration::from_secs(5), open_engine(explicit, configured)).await
        else {
            return Vec::new();
        };
        berth_run::reconcile(store, &*engine, log_cap(config)).await.unwrap_or_default()
    });
    for r in done {
        eprintln!("berth: run {} was {}; now {} ({})", r.run_id.as_str(), r.from.as_str(), r.to.as_str(), r.note);
    }
}

/// `berth runs`.
pub fn runs(args: &RunsArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load()?;
    let store = open_store()?;
    reconcile_quietly(&store, &config);
    // One more than shown, to tell whether there are more.
    let filter = RunFilter {
        status: args.status,
        tool: args.tool.clone(),
        limit: Some(args.limit.saturating_add(1)),
        ..Default::default()
    };
    let mut runs = store.list_runs(&filter)?;
    if runs.len() > args.limit as usize {
        runs.truncate(args.limit as usize);
        eprintln!(
            "berth: only the newest {} shown; more are recorded (`--limit N` shows more, `--status` and `--tool` filter)",
            if args.limit == 1 { "run is".to_owned() } else { format!("{} runs are", args.limit) }
        );
    }
    if args.json {
        return print_json(&runs).map(|()| ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<13}  {:<10}  {:<24}  {:<20}  {:>4}", "RUN", "STATUS", "TOOL", "CREATED", "EXIT")?;
    for r in &runs {
        let exit = r.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
        let created = crate::printer::time(&r.created_at);
        writeln!(
            out,
            "{:<13}  {:<10}  {:<24}  {:<20}  {:>4}",
            short(r.id.as_str()),
            r.status.as_str(),
            safe(&format!("{} {}", r.tool_name, r.tool_version)),
            created,
            exit
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth show`.
pub fn show(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load()?;
    let store = open_store()?;
    reconcile_quietly(&store, &config);
    let run = store.get_run(&args.run)?;
    // Runs executed by Slurm also carry their job: id, state, node, accounting.
    let slurm_job = store.slurm_job(&run.id)?;
    // Traced runs (`--trace`) carry what they accessed.
    let trace = store.trace(&run.id)?;
    if args.json {
        let mut record = serde_json::to_value(run.to_execution_record())?;
        if let (Some(job), Some(obj)) = (&slurm_job, record.as_object_mut()) {
            obj.insert("berth-slurm-job".into(), serde_json::to_value(job)?);
        }
        if let (Some(t), Some(obj)) = (&trace, record.as_object_mut()) {
            obj.insert("berth-trace".into(), serde_json::to_value(t)?);
        }
        return print_json(&record).map(|()| ExitCode::SUCCESS);
    }
    // Values, file names a container wrote and messages are shown as text, never as
    // terminal control sequences.
    let mut o = std::io::stdout().lock();
    writeln!(o, "run        {}", run.id.as_str())?;
    let (n, u) = (&run.new, &run.update);
    writeln!(
        o,
        "tool       {} {} (descriptor sha256 {})",
        safe(&n.tool_name),
        safe(&n.tool_version),
        n.descriptor_sha256
    )?;
    writeln!(
        o,
        "status     {}{}",
        run.status.as_str(),
        u.error.as_deref().map(|e| format!(" ({})", safe(e))).unwrap_or_default()
    )?;
    writeln!(o, "exit code  {}", u.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into()))?;
    writeln!(
        o,
        "image      {} ({}{})",
        safe(n.image_ref.as_deref().unwrap_or("-")),
        u.image_id.as_deref().unwrap_or("-"),
        u.image_digest.as_deref().map(|d| format!(", {d}")).unwrap_or_default()
    )?;
    writeln!(
        o,
        "engine     {} {}",
        u.engine_kind.as_deref().unwrap_or("-"),
        u.engine_version.as_deref().unwrap_or("")
    )?;
    writeln!(o, "command    {}", safe(&n.command_line))?;
    writeln!(o, "output dir {}", safe(&n.output_dir))?;
    if let Some(j) = &slurm_job {
        writeln!(
            o,
            "slurm      job {} {} on {} (exit {}, elapsed {}, MaxRSS {})",
            j.job_id,
            j.state.as_deref().unwrap_or("-"),
            j.node.as_deref().unwrap_or("-"),
            j.slurm_exit_code.as_deref().unwrap_or("-"),
            j.elapsed_seconds.map_or_else(|| "-".into(), |s| format!("{s}s")),
            j.max_rss_bytes.map_or_else(|| "-".into(), |b| format!("{b} B")),
        )?;
    }
    if let Some(t) = &trace {
        writeln!(
            o,
            "trace      {} paths accessed, {} (sha256 {})",
            t.accesses,
            if t.complete { "complete" } else { "incomplete: shows what was reached, never what was not" },
            t.sha256
        )?;
    }
    for e in &run.events {
        let line = format!(
            "  {}  {:<10} {}",
            crate::printer::time(&e.at),
            e.status.as_str(),
            safe(e.message.as_deref().unwrap_or(""))
        );
        writeln!(o, "{}", line.trim_end())?;
    }
    for f in &run.files {
        let digest = f.sha256.as_deref().map(|h| &h[..12.min(h.len())]).unwrap_or(f.kind.as_str());
        writeln!(o, "  {:<6} {:<16} {digest} {}", f.role.as_str(), safe(&f.key), safe(&f.path))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth logs`.
pub fn logs(args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let run = store.get_run(&args.run)?;
    let (out_path, err_path) = store.log_paths(&run.id);
    let mut offsets = (0u64, 0u64);
    loop {
        let terminal = store.get_run(run.id.as_str())?.status.is_terminal();
        offsets.0 = copy_from(&out_path, offsets.0, &mut std::io::stdout())?;
        offsets.1 = copy_from(&err_path, offsets.1, &mut std::io::stderr())?;
        if !args.follow || terminal {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(ExitCode::SUCCESS)
}

/// Copies `path` from byte `offset` to `out`; returns the new offset.
fn copy_from(path: &std::path::Path, offset: u64, out: &mut dyn Write) -> anyhow::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else { return Ok(offset) };
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    out.write_all(&buf)?;
    out.flush()?;
    Ok(offset + buf.len() as u64)
}
