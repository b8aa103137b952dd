//! `berth session`: start, exec, ls, show, logs, stop (berth-run's `session` does the work).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use berth_engine::LogStreamKind;
use berth_run::session::{self, ExecRequest, SessionError, StartOptions};
use berth_run::{HostInfo, PrepareError, PrepareOptions, Runner, ToolSpec};
use berth_store::{Store, ToolSessionRecord};

use crate::cli::{SessionCommand, SessionExecArgs, SessionStartArgs};
use crate::context::{default_output_dir, engine_choice, host_facts, open_engine, open_store, runtime, site};
use crate::diag::{self, hinted};
use crate::loader::{load, load_tool_arg};
use crate::printer::{print_json, time};

pub fn session(command: &SessionCommand) -> anyhow::Result<ExitCode> {
    match command {
        SessionCommand::Start(args) => start(args),
        SessionCommand::Exec(args) => exec(args),
        SessionCommand::Ls { all, json } => ls(*all, *json),
        SessionCommand::Show { id, json } => show(id, *json),
        SessionCommand::Logs { id, step } => logs(id, *step),
        SessionCommand::Stop { id, json } => stop(id, *json),
    }
}

fn session_err(e: SessionError) -> anyhow::Error {
    let hint = e.hint();
    diag::library(e, hint)
}

/// The engine a session's commands use: the configured one (sessions live on the engine that
/// started them; `berth session start --engine` chooses it).
fn engine_for(
    explicit: Option<&str>,
) -> anyhow::Result<(tokio::runtime::Runtime, std::sync::Arc<dyn berth_engine::Engine>, berth_engine::EngineInfo)> {
    let config = berth_config::Config::load()?;
    let (explicit, configured) = engine_choice(explicit, &config)?;
    let rt = runtime()?;
    let (engine, info) = rt.block_on(open_engine(explicit, configured))?;
    Ok((rt, engine, info))
}

/// Sessions that ended since the last command (idle, killed) are recorded first.
fn reconcile(rt: &tokio::runtime::Runtime, engine: &dyn berth_engine::Engine, store: &Store) {
    match rt.block_on(session::reconcile(engine, store)) {
        Ok(ended) => {
            for e in ended {
                eprintln!("berth: session {} {}: {}", short(&e.id), e.status.as_str(), e.message);
            }
        }
        Err(e) => eprintln!("berth: warning: checking sessions failed: {e}"),
    }
}

fn short(id: &str) -> &str {
    id.get(..13).unwrap_or(id)
}

fn prepare_options(output_dir: std::path::PathBuf, config: &berth_config::Config) -> anyhow::Result<PrepareOptions> {
    let cwd = std::env::current_dir().context("cannot determine the working directory")?;
    Ok(PrepareOptions::with_defaults(output_dir, cwd, config.run.clone(), host_facts(&HostInfo::current())))
}

fn prepare(
    tool: &berth_run::LoadedTool,
    inv: &berth_descriptor::Value,
    opts: &PrepareOptions,
    origin: &dyn std::fmt::Display,
) -> anyhow::Result<berth_run::PreparedJob> {
    let prepared = match &tool.spec {
        ToolSpec::Boutiques(d) => berth_run::prepare(d, &tool.text, inv, opts),
        ToolSpec::Xnat(c) => berth_run::tool::prepare_xnat(c, &tool.text, inv, &Default::default(), opts),
    };
    match prepared {
        Ok(job) => {
            diag::print_problems(&job.warnings, false);
            Ok(job)
        }
        Err(PrepareError::Invalid(problems)) => {
            diag::print_problems(&problems, false);
            Err(hinted(format!("the invocation {origin} is not valid"), Some("fix the values listed above".into())))
        }
        Err(e) => {
            let hint = e.hint();
            Err(diag::library(e, hint))
        }
    }
}

fn start(args: &SessionStartArgs) -> anyhow::Result<ExitCode> {
    let idle =
        berth_config::parse_duration(&args.idle_timeout).map_err(|e| hinted(format!("--idle-timeout: {e}"), None))?;
    let tool = load_tool_arg(&args.tool, false)?;
    let inv = load(args.invocation.as_deref().unwrap_or("{}"), "invocation")?;
    let site = site()?;
    let config = site.config().clone();
    let output_dir = args.output_dir.clone().unwrap_or_else(|| default_output_dir("berth-session-out", tool.name()));
    let job = prepare(&tool, &inv.value, &prepare_options(output_dir, &config)?, &inv.origin)?;
    let store = open_store()?;
    let (rt, engine, info) = engine_for(args.engine.as_deref())?;
    reconcile(&rt, &*engine, &store);
    let sink = berth_run::Silent;
    let pull = crate::progress::TerminalPull::new();
    let runner = Runner {
        store: &store,
        engine,
        engine_info: info,
        host: HostInfo::current(),
        sink: &sink,
        pull_reporter: &pull,
        pull: args.pull.into(),
        gate: &*site,
        log_max_bytes: site.log_cap(),
        labels: Default::default(),
    };
    let (actor, _) = berth_store::audit::cli_actor();
    let opts = StartOptions { idle_timeout: idle, mounts: args.mount.clone(), created_by: actor, project: None };
    let s = rt.block_on(session::start(&runner, &job, &opts)).map_err(session_err)?;
    if args.json {
        print_json(&s)?;
    } else {
        println!("{}", s.id);
        eprintln!(
            "berth: session {} of {} {} is running (ends after {} idle); `berth session exec {} -- COMMAND…`",
            short(&s.id),
            s.new.tool_name,
            s.new.tool_version,
            args.idle_timeout,
            short(&s.id)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The argv of the tool's own command for `invocation`, rendered as `berth run` would, in a
/// session whose mounts already hold its inputs.
fn tool_argv(s: &ToolSessionRecord, invocation: &str) -> anyhow::Result<(Vec<String>, String)> {
    let tool = berth_run::tool::load_text(s.new.descriptor_json.clone(), "the session's descriptor").map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })?;
    let inv = load(invocation, "invocation")?;
    let config = berth_config::Config::load()?;
    let job = prepare(&tool, &inv.value, &prepare_options(s.new.output_dir.clone().into(), &config)?, &inv.origin)?;
    let argv = session::tool_command(s, &job).map_err(session_err)?;
    Ok((argv, inv.value.to_json()))
}

fn exec(args: &SessionExecArgs) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let s = store.get_tool_session(&args.id)?;
    let (argv, invocation_json) = match &args.invocation {
        Some(inv) => {
            let (argv, json) = tool_argv(&s, inv)?;
            (argv, Some(json))
        }
        None if args.command.is_empty() => {
            return Err(hinted(
                "no command to run",
                Some("berth session exec ID -- COMMAND ARGS…, or -i INVOCATION".into()),
            ));
        }
        None => (args.command.clone(), None),
    };
    let (rt, engine, _) = engine_for(None)?;
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let step = rt
        .block_on(session::exec(&*engine, &store, &s, &ExecRequest { argv, invocation_json }, &mut |c| {
            // With `--json`, stdout carries only the step (the command's stdout goes to stderr,
            // as `berth run --json` does with a tool's).
            let _ = if c.stream == LogStreamKind::Stderr || args.json {
                stderr.write_all(&c.bytes)
            } else {
                stdout.write_all(&c.bytes)
            };
        }))
        .map_err(session_err)?;
    let _ = stdout.flush();
    if args.json {
        print_json(&step)?;
    }
    let code = step.exit_code.unwrap_or(1);
    Ok(if code == 0 { ExitCode::SUCCESS } else { ExitCode::from(u8::try_from(code.clamp(1, 255)).unwrap_or(1)) })
}

fn ls(all: bool, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    if let Ok((rt, engine, _)) = engine_for(None) {
        reconcile(&rt, &*engine, &store);
    }
    let list = store.list_tool_sessions(!all, 500)?;
    if json {
        print_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:13}  {:8}  {:24}  {:>5}  {:19}  {:19}",
        "SESSION", "STATUS", "TOOL", "STEPS", "STARTED (UTC)", "LAST USED (UTC)"
    )?;
    for s in &list {
        writeln!(
            out,
            "{:13}  {:8}  {:24}  {:>5}  {:19}  {:19}",
            short(&s.id),
            s.status.as_str(),
            format!("{} {}", s.new.tool_name, s.new.tool_version),
            s.steps,
            time(&s.created_at),
            time(&s.last_used_at)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn show(id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let s = store.get_tool_session(id)?;
    let steps = store.session_steps(&s.id)?;
    if json {
        print_json(&serde_json::json!({"session": s, "steps": steps}))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("session    {}", s.id);
    println!("tool       {} {}", s.new.tool_name, s.new.tool_version);
    println!(
        "status     {}{}",
        s.status.as_str(),
        s.status_message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
    );
    println!("image      {} {}", s.new.image_ref, s.image_id.as_deref().unwrap_or(""));
    println!("container  {}", s.container_id.as_deref().unwrap_or("-"));
    println!("outputs    {}", s.new.output_dir);
    println!("idle       {} s", s.new.idle_timeout_secs);
    println!("started    {} by {}", time(&s.created_at), s.new.created_by);
    println!("last used  {}", time(&s.last_used_at));
    for st in &steps {
        let changes = st.changes.iter().map(|c| format!("{} {}", c.change, c.path)).collect::<Vec<_>>().join(", ");
        println!(
            "step {:>3}  exit {:>4}  {:>7} ms  {}{}",
            st.seq,
            st.exit_code.map_or("-".to_owned(), |c| c.to_string()),
            st.duration_ms.unwrap_or(0),
            st.argv.join(" "),
            if changes.is_empty() { String::new() } else { format!("  [{changes}]") }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn logs(id: &str, step: Option<u32>) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let s = store.get_tool_session(id)?;
    let steps = store.session_steps(&s.id)?;
    let chosen = match step {
        Some(n) => steps.iter().find(|x| x.seq == n),
        None => steps.last(),
    };
    let Some(st) = chosen else {
        return Err(hinted(
            format!("session {} has no step {}", short(&s.id), step.map_or("yet".into(), |n| n.to_string())),
            None,
        ));
    };
    print!("{}", st.stdout);
    eprint!("{}", st.stderr);
    Ok(ExitCode::SUCCESS)
}

fn stop(id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let s = store.get_tool_session(id)?;
    if s.status.is_terminal() {
        eprintln!("berth: session {} has already ended ({})", short(&s.id), s.status.as_str());
    } else {
        let (rt, engine, _) = engine_for(None)?;
        let (actor, _) = berth_store::audit::cli_actor();
        rt.block_on(session::stop(&*engine, &store, &s, &actor)).map_err(session_err)?;
        eprintln!("berth: session {} stopped", short(&s.id));
    }
    if json {
        print_json(&store.get_tool_session(&s.id)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth verify SESSION`: its steps again, in order, in a fresh session (the descriptor and
/// invocation prepared again with a new output directory), each compared by exit code and
/// output changes. Exit status: 0 identical, 1 a step differs, 2 not verifiable.
pub(super) fn verify(
    args: &crate::cli::VerifyArgs,
    base: &std::path::Path,
    store: &Store,
    s: &ToolSessionRecord,
) -> anyhow::Result<ExitCode> {
    let tool = berth_run::tool::load_text(s.new.descriptor_json.clone(), "the session's descriptor").map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })?;
    let inv = load(&s.new.invocation_json, "the session's invocation")?;
    let dir = std::path::absolute(base.join(format!("session-{}", short(&s.id))))?;
    let config = berth_config::Config::load()?;
    let job = prepare(&tool, &inv.value, &prepare_options(dir, &config)?, &inv.origin)?;
    let site = site()?;
    let (rt, engine, info) = engine_for(args.engine.as_deref())?;
    let pull = crate::progress::TerminalPull::new();
    let runner = Runner {
        store,
        engine,
        engine_info: info,
        host: HostInfo::current(),
        sink: &berth_run::Silent,
        pull_reporter: &pull,
        pull: berth_run::PullPolicy::Missing,
        gate: &*site,
        log_max_bytes: site.log_cap(),
        labels: Default::default(),
    };
    let v = match rt.block_on(session::verify(&runner, s, &job)) {
        Ok(v) => v,
        Err(e) => {
            let hint = e.hint();
            diag::print_error(&anyhow::Error::new(diag::Hinted {
                message: format!("cannot verify session {}: {e}", short(&s.id)),
                hint,
                source: None,
            }));
            return Ok(ExitCode::from(2));
        }
    };
    if args.json {
        print_json(&v)?;
    } else {
        println!(
            "session {} → its {} step(s) again in session {} ({})",
            short(&v.session_id),
            v.steps.len(),
            short(&v.verification_session_id),
            v.output_dir
        );
        for i in &v.changed_inputs {
            println!("  input changed since the session started: {i}");
        }
        for st in &v.steps {
            let (was, now) = st.exit_code;
            let fmt = |c: Option<i64>| c.map_or("-".to_owned(), |c| c.to_string());
            println!(
                "  step {:>3}  {:<9}  exit {} → {}  {} output(s) identical{}  {}",
                st.seq,
                if st.same() { "identical" } else { "DIFFERS" },
                fmt(was),
                fmt(now),
                st.identical,
                if st.differences.is_empty() { String::new() } else { format!("; {}", st.differences.join("; ")) },
                st.argv.join(" ")
            );
        }
        println!(
            "berth: session {}: {}",
            short(&v.session_id),
            if v.identical() { "every step identical" } else { "STEPS DIFFER" }
        );
    }
    Ok(if !v.changed_inputs.is_empty() {
        ExitCode::from(2)
    } else if v.identical() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
