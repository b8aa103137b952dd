//! `berth validate`, `berth invocation` and `berth simulate`, for Boutiques descriptors and
//! XNAT Commands (and registered tools by `NAME[@VERSION]`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use berth_descriptor::{Document, Mode, PlanError, Problems, invocation};
use berth_run::tool::{self, ToolSpec};

use crate::cli::{InvocationArgs, SimulateArgs, ValidateArgs};
use crate::diag::{self, hinted};
use crate::loader::{load, load_tool_arg, mount_bindings};
use crate::printer::print_json;

fn exit(ok: bool) -> ExitCode {
    if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// `berth validate`.
pub fn validate(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let doc = load(&args.descriptor, "descriptor")?;
    let validated = tool::validate_value(&doc.value);
    let ok = validated.tool.is_some() && !validated.problems.has_errors(args.strict);
    if args.json {
        print_json(&serde_json::json!({"ok": ok, "kind": validated.kind, "problems": validated.problems}))?;
    } else {
        diag::print_problems(&validated.problems, args.strict);
        if ok {
            println!("OK");
        }
    }
    Ok(exit(ok))
}

/// `berth invocation`.
pub fn invocation(args: &InvocationArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_tool_arg(&args.descriptor, false)?;
    let d = match loaded.spec {
        ToolSpec::Boutiques(d) => *d,
        ToolSpec::Xnat(c) => return xnat_invocation(&c, args),
    };
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

/// `berth invocation` for an XNAT Command: the values are checked by planning with every
/// mount bound to a placeholder (mounts are not part of an invocation).
fn xnat_invocation(c: &berth_xnat::Command, args: &InvocationArgs) -> anyhow::Result<ExitCode> {
    if args.schema {
        return Err(hinted(
            "XNAT Commands have no invocation schema".to_string(),
            Some("`berth simulate COMMAND -i VALUES --mount NAME=PATH` shows what the values produce".into()),
        ));
    }
    let Some(inv_arg) = &args.invocation else { return Ok(ExitCode::SUCCESS) };
    let inv = load(inv_arg, "input values")?;
    match tool::check_xnat_inputs(c, &inv.value) {
        Ok(plan) => {
            diag::print_problems(&plan.warnings, false);
            if args.json {
                print_json(&serde_json::json!({"ok": true, "inputs": plan.redacted().inputs}))?;
            } else {
                println!("OK");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if let berth_xnat::XnatError::Inputs { problems, .. } = &e {
                diag::print_problems(problems, false);
            }
            let hint = e.hint();
            Err(diag::library(e, hint))
        }
    }
}

/// Writes the configuration file of output `id` at the descriptor's rendered `path`, beneath the
/// working directory `cwd` only: bosh writes wherever the path points (absolute, `..`), so an
/// untrusted descriptor could write any file the user can. The path must be relative without
/// `..` (or absolute inside `cwd`), and is written through berth-hostpath without following
/// links, through a temporary file renamed in place so a reader never sees half a file.
fn write_config_file(cwd: &Path, id: &str, path: &str, content: &str) -> anyhow::Result<()> {
    let refused = |why: String| {
        hinted(
            format!("the configuration file of output \"{id}\" would be written at `{path}`, {why}"),
            Some(
                "`berth simulate` writes configuration files only beneath the working directory, \
                 through no link: give the output a relative `path-template` without `..`, run from \
                 another directory, or pass `--no-write`"
                    .into(),
            ),
        )
    };
    let rel = if Path::new(path).is_absolute() {
        berth_hostpath::strip_root(cwd, Path::new(path))
            .ok()
            .and_then(|r| r.to_str().and_then(|r| berth_hostpath::relative(r).ok()))
            .ok_or_else(|| refused("outside the working directory".into()))?
    } else {
        berth_hostpath::relative(path)
            .map_err(|e| refused(format!("which is not inside the working directory ({e})")))?
    };
    let root = berth_hostpath::Root::open(cwd).context("cannot open the working directory")?;
    root.write_file(&rel, content.as_bytes(), 0o777).map_err(|e| match e {
        berth_hostpath::HostPathError::Link { path: link } => {
            refused(format!("but {} is a symbolic link, which berth does not follow", link.display()))
        }
        e => {
            let hint = e.hint();
            anyhow::Error::new(diag::Hinted {
                message: format!("cannot write the configuration file of output \"{id}\""),
                hint,
                source: Some(e.into()),
            })
        }
    })?;
    Ok(())
}

/// `berth simulate`.
pub fn simulate(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_tool_arg(&args.descriptor, false)?;
    let inv = load(args.invocation.as_deref().unwrap_or("{}"), "invocation")?;
    let d = match loaded.spec {
        ToolSpec::Boutiques(d) => *d,
        ToolSpec::Xnat(c) => return xnat_simulate(&c, &inv, args),
    };
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
            write_config_file(&cwd, &f.id, &f.path, &f.content)?;
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

/// `berth simulate` for an XNAT Command: the command line by XNAT's rules (mounts bound with
/// `--mount`; unbound mounts and required inputs without a value become flagged placeholders).
/// When the image's entrypoint is kept, XNAT splits the line into arguments (quotes removed,
/// `''` gone): the plain output shows them too.
fn xnat_simulate(c: &berth_xnat::Command, inv: &Document, args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let mounts = mount_bindings(&args.mount)?;
    match berth_xnat::preview(c, &inv.value, &mounts) {
        Ok(plan) => {
            diag::print_problems(&plan.warnings, false);
            let plan = plan.redacted();
            if args.json {
                print_json(&plan)?;
            } else {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", plan.command_line)?;
                if !plan.execution.override_entrypoint {
                    let words = serde_json::to_string(&plan.execution.cmd)?;
                    let to = if plan.execution.cmd.is_empty() {
                        "no arguments: the image's own CMD runs".to_string()
                    } else {
                        format!("arguments: {words}")
                    };
                    writeln!(out, "# the image's entrypoint runs with {to}")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if let berth_xnat::XnatError::Inputs { problems, .. }
            | berth_xnat::XnatError::InvalidCommand { problems, .. } = &e
            {
                diag::print_problems(problems, false);
            }
            let hint = e.hint();
            Err(diag::library(e, hint))
        }
    }
}

fn invalid_invocation(problems: &Problems, inv: &Document) -> anyhow::Error {
    let n = problems.blocking(false).count();
    hinted(
        format!("the invocation {} is not valid ({n} problem{})", inv.origin, if n == 1 { "" } else { "s" }),
        Some("fix the values listed above; `berth invocation DESCRIPTOR -i INVOCATION` checks them".to_string()),
    )
}
