//! `berth harden update` (and the before/after table hardening commands print).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use berth_engine::{Engine, Network};
use berth_harden::{Facts, PackageChanges, UpdateOptions};

use crate::cli::{HardenCommand, HardenMinifyArgs, HardenUpdateArgs};
use crate::context::{open_engine_for, runtime};
use crate::diag::Hinted;
use crate::printer::human_size;
use crate::printer::print_json;

/// `berth harden ...`.
pub fn harden(command: &HardenCommand) -> anyhow::Result<ExitCode> {
    match command {
        HardenCommand::Update(args) => update(args),
        HardenCommand::Minify(args) => minify(args),
    }
}

fn hinted_err(message: String, hint: Option<String>, source: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Hinted { message, hint, source: Some(source.into()) })
}

/// The advisory database for before/after findings: the one `berth scan` uses, if it exists.
fn advisory_db(explicit: Option<&std::path::Path>) -> anyhow::Result<Option<std::path::PathBuf>> {
    let path = crate::context::site()?.advisory_db(explicit);
    if path.is_file() {
        return Ok(Some(path));
    }
    if explicit.is_some() {
        anyhow::bail!("--db {}: no such file (build one with `berth db update`)", path.display());
    }
    eprintln!("berth: no advisory database at {}: findings are not compared (run `berth db update`)", path.display());
    Ok(None)
}

async fn gather(engine: Arc<dyn Engine>, reference: &str, db: Option<&std::path::Path>) -> anyhow::Result<Facts> {
    berth_harden::facts(engine, reference, db).await.with_context(|| format!("cannot compare `{reference}`"))
}

/// Prints the before/after table and the package changes on stdout.
pub(crate) fn print_comparison(before: &Facts, after: &Facts, changes: &PackageChanges) {
    println!("{:<12} {:>14} {:>14}", "", "before", "after");
    println!("{:<12} {:>14} {:>14}", "packages", before.packages, after.packages);
    println!("{:<12} {:>14} {:>14}", "size", human_size(before.size), human_size(after.size));
    if let (Some(a), Some(b)) = (&before.findings, &after.findings) {
        for (name, x, y) in [
            ("critical", a.critical, b.critical),
            ("high", a.high, b.high),
            ("medium", a.medium, b.medium),
            ("low", a.low, b.low),
            ("negligible", a.negligible, b.negligible),
            ("unknown", a.unknown, b.unknown),
        ] {
            println!("{name:<12} {x:>14} {y:>14}");
        }
        let (x, y) = (total(a), total(b));
        println!("{:<12} {x:>14} {y:>14}", "findings");
    }
    println!(
        "packages: {} upgraded, {} added, {} removed",
        changes.upgraded.len(),
        changes.added.len(),
        changes.removed.len()
    );
    for (name, from, to) in &changes.upgraded {
        println!("  upgraded {name} {from} → {to}");
    }
    for (name, version) in &changes.added {
        println!("  added    {name} {version}");
    }
    for (name, version) in &changes.removed {
        println!("  removed  {name} {version}");
    }
}

fn total(c: &berth_scan::Counts) -> usize {
    c.critical + c.high + c.medium + c.low + c.negligible + c.unknown
}

fn update(args: &HardenUpdateArgs) -> anyhow::Result<ExitCode> {
    let mut options = UpdateOptions::today();
    options.tag = args.tag.clone();
    options.reuse = !args.force;
    options.network = if args.network == "default" { Network::EngineDefault } else { Network::Host };
    if let Some(path) = &args.source {
        options.sources =
            Some(std::fs::read_to_string(path).with_context(|| format!("--source: cannot read {}", path.display()))?);
    }
    let db = if args.no_compare { None } else { advisory_db(args.db.as_deref())? };
    let rt = runtime()?;
    rt.block_on(async {
        let (engine, _) = open_engine_for(args.engine.as_deref()).await?;
        let before =
            if args.no_compare { None } else { Some(gather(engine.clone(), &args.image, db.as_deref()).await?) };
        eprintln!("berth: updating {}", args.image);
        let quiet = args.json;
        let log = move |line: &str| {
            if !quiet {
                eprintln!("  | {line}");
            }
        };
        let outcome = berth_harden::update(engine.clone(), &args.image, &options, &log).await.map_err(|e| {
            let hint = e.hint();
            hinted_err(format!("cannot update `{}`", args.image), hint, e)
        })?;
        if outcome.reused {
            eprintln!(
                "berth: {} was already updated from this image today: {} (use --force to update again)",
                args.image, outcome.reference
            );
        } else {
            eprintln!(
                "berth: {} updated with {} → {} ({})",
                args.image, outcome.manager, outcome.reference, outcome.image_id
            );
        }
        let after =
            if args.no_compare { None } else { Some(gather(engine.clone(), &outcome.image_id, db.as_deref()).await?) };
        let changes = match (&before, &after) {
            (Some(b), Some(a)) => Some(berth_harden::package_changes(&b.inventory, &a.inventory)),
            _ => None,
        };
        if args.json {
            print_json(&serde_json::json!({
                "update": outcome,
                "before": before,
                "after": after,
                "changes": changes,
            }))?;
        } else {
            println!("{}", outcome.reference);
            if let (Some(b), Some(a), Some(c)) = (&before, &after, &changes) {
                print_comparison(b, a, c);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The tracer: `--tracer`/`BERTH_TRACE`, else `berth-trace` beside the `berth` executable.
fn tracer_path(explicit: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    let path = berth_config::tracer(explicit)?;
    if !path.is_file() {
        return Err(crate::diag::hinted(
            format!("the file-access tracer {} is missing", path.display()),
            Some("build it with `tools/berth-trace/build.sh` and pass `--tracer PATH` (or set BERTH_TRACE)".into()),
        ));
    }
    Ok(path)
}

/// The Boutiques descriptor of a loaded tool; minify cannot trace an XNAT Command.
fn boutiques(tool: &berth_run::LoadedTool) -> anyhow::Result<&berth_descriptor::Descriptor> {
    match &tool.spec {
        berth_run::ToolSpec::Boutiques(d) => Ok(d),
        _ => Err(crate::diag::hinted(
            format!("{} is an XNAT Command: minify runs Boutiques descriptors", tool.origin),
            Some("trace a Boutiques descriptor of the same image".into()),
        )),
    }
}

fn minify(args: &HardenMinifyArgs) -> anyhow::Result<ExitCode> {
    use berth_run::{HostInfo, PrepareOptions, Runner};

    use crate::context::{default_output_dir, host_facts, open_store};
    use crate::loader::load;
    use crate::loader::load_tool_arg;

    let tool = load_tool_arg(&args.descriptor, false)?;
    let d = boutiques(&tool)?;
    // `--with DESCRIPTOR INVOCATION`: other tools of the same image, traced too.
    let mut others = Vec::new();
    for pair in args.with.chunks_exact(2) {
        others.push((load_tool_arg(&pair[0], false)?, pair[1].clone()));
    }
    let mut invocations = Vec::new();
    for arg in &args.invocations {
        invocations.push(berth_harden::Traced {
            name: arg.clone(),
            descriptor: d,
            descriptor_text: &tool.text,
            invocation: load(arg, "invocation")?.value,
        });
    }
    for (other, arg) in &others {
        let od = boutiques(other)?;
        invocations.push(berth_harden::Traced {
            name: format!("{} ({})", arg, od.name),
            descriptor: od,
            descriptor_text: &other.text,
            invocation: load(arg, "invocation")?.value,
        });
    }
    let tracer = tracer_path(args.tracer.as_deref())?;
    let site = crate::context::site()?;
    let config = site.config().clone();
    let host = HostInfo::current();
    let cwd = std::env::current_dir().context("cannot determine the working directory")?;
    let work_dir =
        std::path::absolute(args.work_dir.clone().unwrap_or_else(|| default_output_dir("berth-minify", &d.name)))?;
    let facts_host = host_facts(&host);
    let run_config = config.run.clone();
    let prepare = move |out: std::path::PathBuf| {
        PrepareOptions::with_defaults(out, cwd.clone(), run_config.clone(), facts_host.clone())
    };
    let db = advisory_db(args.db.as_deref())?;
    let store = open_store()?;
    let rt = runtime()?;
    rt.block_on(async {
        let (engine, info) = open_engine_for(args.engine.as_deref()).await?;
        static SILENT: berth_run::Silent = berth_run::Silent;
        let pull = crate::progress::TerminalPull::new();
        let runner = Runner {
            store: &store,
            engine: engine.clone(),
            engine_info: info,
            host,
            sink: &SILENT,
            pull_reporter: &pull,
            pull: berth_run::PullPolicy::Missing,
            gate: &*site,
            log_max_bytes: site.log_cap(),
            labels: [("berth.harden".to_owned(), "minify".to_owned())].into(),
        };
        // Pulled if missing, so that the comparison and the trace see the same image.
        runner.resolve_image(&args.image).await.map_err(|e| {
            let hint = e.hint();
            hinted_err(format!("cannot find `{}`", args.image), hint, e)
        })?;
        let before = gather(engine.clone(), &args.image, db.as_deref()).await?;
        let request = berth_harden::MinifyRequest {
            runner: &runner,
            invocations,
            image: args.image.clone(),
            tracer,
            work_dir,
            prepare: &prepare,
            options: berth_minify::MinifyOptions {
                keep: args.keep.clone(),
                prune_unowned: args.prune_unowned || args.minimal,
                minimal: args.minimal,
                ..Default::default()
            },
            tag: args.tag.clone(),
        };
        let quiet = args.json;
        let log = move |line: &str| {
            if !quiet {
                eprintln!("berth: {line}");
            }
        };
        let outcome = berth_harden::minify(&request, &log).await.map_err(|e| {
            let hint = e.hint();
            hinted_err(format!("cannot minify `{}`", args.image), hint, e)
        })?;
        let after = gather(engine.clone(), &outcome.image_id, db.as_deref()).await?;
        let changes = berth_harden::package_changes(&before.inventory, &after.inventory);
        if args.json {
            print_json(&serde_json::json!({
                "minify": outcome,
                "before": before,
                "after": after,
                "changes": changes,
            }))?;
        } else {
            println!("{}", outcome.reference);
            eprintln!(
                "berth: {} paths accessed; {} packages kept, {} removed, {} bytes freed; {} unowned files never accessed{}",
                outcome.accessed_paths,
                outcome.report.kept.len(),
                outcome.report.removed_packages.len(),
                outcome.report.bytes_freed,
                outcome.report.unowned_unaccessed.len(),
                if outcome.report.unowned_pruned { " (removed)" } else { " (kept; --prune-unowned removes them)" }
            );
            for c in &outcome.checks {
                eprintln!(
                    "berth: invocation {}: {} output(s) identical (runs {} and {})",
                    c.invocation,
                    c.outputs.len(),
                    c.original_run,
                    c.minified_run
                );
            }
            print_comparison(&before, &after, &changes);
        }
        Ok(ExitCode::SUCCESS)
    })
}
