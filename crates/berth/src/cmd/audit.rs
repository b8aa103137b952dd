//! `berth audit`: list, check, export and prune the audit trail; and the entry every
//! command-line run that reads or changes data leaves in it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use berth_config::text::terminal_safe as safe;
use berth_store::audit::{self, AuditFilter, NewAuditEntry, Outcome, action};

use crate::cli::{
    AuditCommand, AuditExportArgs, AuditLsArgs, AuditPruneArgs, AuditVerifyArgs, Command, DicomCommand, ImageCommand,
    PipelineCommand, ProjectCommand, SessionCommand, ToolCommand, UserCommand,
};
use crate::context::open_store;
use crate::diag::hinted;
use crate::printer::{print_json, time};

pub fn audit(command: &AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Ls(args) => ls(args),
        AuditCommand::Verify(args) => verify(args),
        AuditCommand::Export(args) => export(args),
        AuditCommand::Prune(args) => prune(args),
    }
}

fn ls(args: &AuditLsArgs) -> anyhow::Result<ExitCode> {
    if let Some(o) = &args.outcome
        && audit::parse_outcome(o).is_none()
    {
        return Err(hinted(
            format!("--outcome: `{o}` is not an outcome"),
            Some("use ok, denied, not-found, refused or failed".into()),
        ));
    }
    if let Some(a) = &args.action
        && !action::ALL.contains(&a.as_str())
    {
        return Err(hinted(
            format!("--action: `{a}` is not an action"),
            Some(format!("use one of: {}", action::ALL.join(", "))),
        ));
    }
    let store = open_store()?;
    let entries = store.audit_entries(&AuditFilter {
        actor: args.actor.clone(),
        action: args.action.clone(),
        object_prefix: args.object.clone(),
        outcome: args.outcome.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        after_seq: None,
        limit: Some(args.limit),
        oldest_first: false,
    })?;
    if args.json {
        print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:>6}  {:19}  {:16}  {:13}  {:14}  {:30}  OUTCOME",
        "SEQ", "WHEN (UTC)", "WHO", "FROM", "ACTION", "OBJECT"
    )?;
    for e in &entries {
        writeln!(
            out,
            "{:>6}  {:19}  {:16}  {:13}  {:14}  {:30}  {}",
            e.seq,
            time(&e.at),
            // A user name tried at sign-in, a path, a tool: shown as text, never as terminal
            // control sequences.
            safe(&e.actor),
            safe(e.address.as_deref().unwrap_or("-")),
            safe(&e.action),
            safe(e.object.as_deref().unwrap_or("-")),
            e.outcome
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(args: &AuditVerifyArgs) -> anyhow::Result<ExitCode> {
    let mut checkpoints = Vec::new();
    for path in &args.checkpoints {
        checkpoints.extend(audit::read_checkpoint(path).map_err(|e| {
            hinted(
                format!("--checkpoint: {e}"),
                Some("give a file written by `berth audit export`, or a copy of audit-head.json".into()),
            )
        })?);
    }
    let store = open_store()?;
    let v = store.verify_audit(&checkpoints)?;
    if args.json {
        print_json(&v)?;
    } else if v.intact() {
        let last = v.last.as_ref().map_or("no entries yet".to_owned(), |l| format!("newest #{} {}", l.seq, l.hash));
        let kept = match v.first_seq {
            Some(f) if f > 1 => format!("; entries before #{f} removed by retention (recorded)"),
            _ => String::new(),
        };
        let cps = if checkpoints.is_empty() {
            String::new()
        } else {
            format!("; {} checkpoint entries match", checkpoints.len())
        };
        println!("audit trail intact: {} entries checked, {last}{kept}{cps}", v.entries);
    } else {
        eprintln!("berth: error: the audit trail has been tampered with ({} problem(s)):", v.problems.len());
        for p in &v.problems {
            eprintln!("  - {}", safe(&p.to_string()));
        }
        eprintln!(
            "hint: compare with an export kept elsewhere (`berth audit verify --checkpoint FILE`), and restore the store from a backup"
        );
    }
    Ok(if v.intact() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn export(args: &AuditExportArgs) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let entries =
        store.audit_entries(&AuditFilter { since: args.since.clone(), oldest_first: true, ..Default::default() })?;
    let mut text = String::new();
    for e in &entries {
        text.push_str(&serde_json::to_string(e)?);
        text.push('\n');
    }
    match &args.out {
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
        Some(path) => {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, &text).with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
            eprintln!("berth: wrote {} entries to {}", entries.len(), path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn prune(args: &AuditPruneArgs) -> anyhow::Result<ExitCode> {
    let config = berth_config::Config::load()?;
    let days = args.older_than.or(config.audit.retention_days);
    let Some(days) = days.filter(|d| *d > 0) else {
        return Err(hinted(
            "no retention is set: the audit trail keeps every entry",
            Some("give `--older-than DAYS`, or set `[audit] retention_days` in the configuration".into()),
        ));
    };
    let cfg = berth_config::AuditConfig { retention_days: Some(days) };
    let before = cfg.prune_before(std::time::SystemTime::now()).map(berth_store::time::format).unwrap_or_default();
    let store = open_store()?;
    let (actor, _) = audit::cli_actor();
    let pruned = store.prune_audit(&before, &actor, "cli")?;
    match pruned.first_seq {
        Some(f) => {
            println!("removed {} entries recorded before {before}; the trail now starts at #{f}", pruned.removed)
        }
        None => println!("nothing recorded before {before}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// What a command line is, for the trail: its action and object, or `None` when it reads and
/// changes no data (validating a descriptor, listing, scanning an image).
pub fn classify(command: &Command) -> Option<(&'static str, Option<String>)> {
    let obj = |kind: &str, id: &str| Some(format!("{kind}:{id}"));
    Some(match command {
        Command::Run(a) => (action::CLI, obj("tool", &a.descriptor)),
        Command::Show(a) => (action::VIEW, obj("run", &a.run)),
        Command::Logs(a) => (action::LOG_VIEW, obj("run", &a.run)),
        Command::Verify(a) => (action::CLI, obj("run", &a.run)),
        Command::Cancel(_) => (action::KILL, None),
        Command::Pipeline { command: PipelineCommand::Run(_) } => (action::PIPELINE, None),
        Command::Test(_) | Command::Harden { .. } => (action::CLI, None),
        Command::Tool { command } => match command {
            ToolCommand::Add(a) => (action::TOOL_CHANGE, obj("descriptor", &a.file)),
            ToolCommand::Rm(a) => (action::TOOL_CHANGE, obj("tool", &a.tool)),
            ToolCommand::Import(a) => (action::TOOL_CHANGE, obj("image", &a.image)),
            ToolCommand::Install(a) => (action::TOOL_CHANGE, obj("tool", &a.tool)),
            ToolCommand::Enable { name } | ToolCommand::Disable { name } => (action::TOOL_CHANGE, obj("tool", name)),
            _ => return None,
        },
        Command::User { command } => match command {
            UserCommand::Add { name, .. }
            | UserCommand::Token { name, .. }
            | UserCommand::Revoke { name, .. }
            | UserCommand::Tokens { name } => (action::USER_CHANGE, obj("user", name)),
            UserCommand::Ls { .. } => return None,
        },
        Command::Project { command } => match command {
            ProjectCommand::Ls { .. } => return None,
            ProjectCommand::Add { id, .. } => (action::PROJECT_CHANGE, obj("project", id)),
            ProjectCommand::Member { project, .. }
            | ProjectCommand::Roots { project, .. }
            | ProjectCommand::Enable { project, .. }
            | ProjectCommand::Disable { project, .. } => (action::PROJECT_CHANGE, obj("project", project)),
        },
        Command::Image {
            command:
                ImageCommand::Pull { .. }
                | ImageCommand::Push { .. }
                | ImageCommand::Import(_)
                | ImageCommand::Tag { .. }
                | ImageCommand::Rm { .. },
        } => (action::IMAGE_CHANGE, None),
        Command::Session { command } => match command {
            SessionCommand::Start(a) => (action::CLI, obj("tool", &a.tool)),
            SessionCommand::Exec(a) => (action::CLI, obj("session", &a.id)),
            SessionCommand::Stop { id, .. } => (action::KILL, obj("session", id)),
            SessionCommand::Logs { id, .. } => (action::LOG_VIEW, obj("session", id)),
            SessionCommand::Show { id, .. } => (action::VIEW, obj("session", id)),
            SessionCommand::Ls { .. } => return None,
        },
        Command::Dicom { command: DicomCommand::Send(a) } => (action::CLI, obj("dicom", &a.to)),
        Command::Dicom { command: DicomCommand::Ls(a) } => {
            (action::VIEW, obj("dicom", a.project.as_deref().unwrap_or("*")))
        }
        Command::Audit { command: AuditCommand::Ls(_) | AuditCommand::Export(_) | AuditCommand::Verify(_) } => {
            (action::VIEW, Some("audit".to_owned()))
        }
        _ => return None,
    })
}

/// Appends the entry of a finished command line: who (`cli:<login>`, and the `sudo` user),
/// the host, the action and object, the arguments, and the outcome. A store that cannot be
/// written is said on stderr; the command's own result stands.
pub fn record(what: (&'static str, Option<String>), result: &anyhow::Result<ExitCode>) {
    let (actor, sudo) = audit::cli_actor();
    let outcome = match result {
        Ok(code) if *code == ExitCode::SUCCESS => Outcome::Ok,
        _ => Outcome::Failed,
    };
    let argv: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let mut detail = serde_json::json!({"argv": argv, "cwd": std::env::current_dir().ok()});
    if let Some(s) = sudo {
        detail["sudo_user"] = s.into();
    }
    let mut entry = NewAuditEntry::new(actor, "cli", what.0, outcome).detail(detail);
    if let Some(o) = what.1 {
        entry = entry.object(o);
    }
    if let Some(h) = audit::host_name() {
        entry = entry.address(h);
    }
    let written = open_store().and_then(|s| s.audit(&entry).map_err(anyhow::Error::from));
    if let Err(e) = written {
        eprintln!("berth: warning: this command is not in the audit trail: {e:#}");
    }
}
