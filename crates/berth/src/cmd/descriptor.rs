//! `berth validate`, `berth invocation` and `berth simulate`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use berth_descriptor::{Descriptor, Document, Mode, PlanError, Problems, invocation, load_object};

use crate::cli::{InvocationArgs, SimulateArgs, ValidateArgs};
use crate::diag::{self, hinted};

/// Loads a JSON object argument, turning load errors into hinted errors naming `what`.
pub(crate) fn load(arg: &str, what: &str) -> anyhow::Result<Document> {
    load_object(arg).map_err(|e| {
        let hint = e.hint();
        anyhow::Error::new(diag::Hinted { message: format!("cannot load the {what}"), hint, source: Some(e.into()) })
    })
}

/// Loads and validates a descriptor; prints its problems; fails when it is not usable.
pub(crate) fn valid_descriptor(arg: &str, strict: bool) -> anyhow::Result<(Descriptor, Document)> {
    let doc = load(arg, "descriptor")?;
    let validation = berth_descriptor::validate(doc.value.clone());
    diag::print_problems(&validation.problems, strict);
    match validation.into_result(strict) {
        Ok((d, _)) => Ok((d, doc)),
        Err(problems) => {
            let n = problems.blocking(strict).count();
            Err(hinted(
                format!("the descriptor {} is not valid ({n} problem{})", doc.origin, if n == 1 { "" } else { "s" }),
                Some("fix the problems listed above; `berth validate` lists them again".to_string()),
            ))
        }
    }
}

pub(crate) fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn exit(ok: bool) -> ExitCode {
    if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// `berth validate`.
pub fn validate(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let doc = load(&args.descriptor, "descriptor")?;
    let validation = berth_descriptor::validate(doc.value);
    let ok = validation.is_ok(args.strict);
    if args.json {
        print_json(&serde_json::json!({"ok": ok, "problems": validation.problems}))?;
    } else {
        diag::print_problems(&validation.problems, args.strict);
        if ok {
            println!("OK");
        }
    }
    Ok(exit(ok))
}

/// `berth invocation`.
pub fn invocation(args: &InvocationArgs) -> anyhow::Result<ExitCode> {
    let (d, _) = valid_descriptor(&args.descriptor, false)?;
    if args.schema {
        let schema = match d.invocation_schema.as_ref().filter(|s| s.truthy()) {
            Some(embedded) => embedded.to_serde(),
            None => invocation::invocation_schema(&d),
        };
        print_json(&schema)?;
    }
    let Some(inv_arg) = &args.invocation else { return Ok(ExitCode::SUCCESS) };
    let inv = load(inv_arg, "invocation")?;
    // `berth invocation` is the place to learn everything that is wrong, so it also enforces
    // the rules bosh documents but does not check.
    let checked = invocation::check(&d, &inv.value, Mode::Strict);
    let ok = !checked.problems.has_errors(false);
    if args.json {
        print_json(&serde_json::json!({"ok": ok, "invocation": checked.values, "problems": checked.problems}))?;
    } else {
        diag::print_problems(&checked.problems, false);
        if ok && !args.schema {
            println!("OK");
        }
    }
    Ok(exit(ok))
}

/// Writes `content` to `path` through a temporary file in the same directory, so a reader
/// never sees half a file.
fn write_atomic(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.berth-{}.tmp", std::process::id()));
    std::fs::write(&tmp, content).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// `berth simulate`.
pub fn simulate(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let (d, _) = valid_descriptor(&args.descriptor, false)?;
    let inv = load(&args.invocation, "invocation")?;
    let mode = if args.strict { Mode::Strict } else { Mode::Bosh };
    let cwd = std::env::current_dir().context("cannot determine the working directory")?;
    let plan = match berth_descriptor::plan(&d, &inv.value, mode, &cwd.to_string_lossy()) {
        Ok(plan) => plan,
        Err(PlanError::Invalid(problems)) => {
            diag::print_problems(&problems, false);
            return Err(invalid_invocation(&problems, &inv));
        }
        Err(PlanError::Render(e)) => {
            let hint = e.hint().to_string();
            return Err(hinted(format!("cannot render the command line: {e}"), Some(hint)));
        }
    };
    diag::print_problems(&plan.warnings, false);
    if !args.no_write {
        for f in &plan.config_files {
            write_atomic(Path::new(&f.path), &f.content)
                .with_context(|| format!("cannot write the configuration file of output \"{}\"", f.id))?;
        }
    }
    if args.json {
        print_json(&plan)?;
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(plan.command_line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn invalid_invocation(problems: &Problems, inv: &Document) -> anyhow::Error {
    let n = problems.blocking(false).count();
    hinted(
        format!("the invocation {} is not valid ({n} problem{})", inv.origin, if n == 1 { "" } else { "s" }),
        Some("fix the values listed above; `berth invocation DESCRIPTOR -i INVOCATION` checks them".to_string()),
    )
}
