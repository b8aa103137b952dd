//! `berth sbom`, `berth scan`, `berth scan compare`, `berth db update|status`, and the scan
//! policy `berth run` applies before starting a container.
//!
//! Exit codes: 0 when all went well; 1 for errors (2 for usage errors, from clap); `berth scan
//! --fail-on SEVERITY` exits with [`FAIL_ON_EXIT`] (3) when a finding is at least that severe.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use berth_advisory::Severity;
use berth_config::Config;
use berth_engine::Engine;
use berth_inventory::{Inventory, SbomOptions, Target, TargetKind};
use berth_scan::{ScanOptions, ScanReport};

use crate::cli::{CompareArgs, DbCommand, DbStatusArgs, DbUpdateArgs, SbomArgs, ScanArgs, ScanCommand};
use crate::context::{open_engine_for, runtime};
use crate::diag::{Hinted, hinted};
use crate::printer::print_json;

/// The exit code of `berth scan --fail-on SEVERITY` when a finding reaches SEVERITY.
pub const FAIL_ON_EXIT: u8 = 3;

fn with_hint(message: String, hint: Option<String>, source: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Hinted { message, hint, source: Some(source.into()) })
}

/// The advisory database: `--db`, then `BERTH_ADVISORY_DB`, then `[scan] db`, then
/// `$BERTH_HOME/advisories.sqlite`.
pub(crate) fn db_path(explicit: Option<&Path>, config: &Config) -> anyhow::Result<PathBuf> {
    config.advisory_db(explicit).map_err(|e| {
        let hint = e.hint();
        crate::diag::library(e, hint)
    })
}

fn max_age(config: &Config) -> Duration {
    config.max_db_age()
}

fn describe(target: &Target) -> String {
    match target {
        Target::Image(r) => format!(
            "`{r}`: not a file or directory, so an image of the container engine (exported, no container started)"
        ),
        Target::DockerArchive(p) => format!("{}: a file, so an image archive (docker save or OCI)", p.display()),
        Target::OciArchive(p) => format!("{}: an OCI archive", p.display()),
        Target::OciDir(p) => format!("{}: an OCI image layout directory", p.display()),
        Target::Rootfs(p) => format!("{}: a directory without `oci-layout`, so a root filesystem", p.display()),
    }
}

fn kind_name(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Image => "an image of the container engine",
        TargetKind::DockerArchive => "a docker-archive (docker save)",
        TargetKind::OciArchive => "an OCI archive",
        TargetKind::OciDir => "an OCI layout directory",
        TargetKind::Rootfs => "a root filesystem",
    }
}

/// Takes the inventory of TARGET, saying on stderr what it was taken to be.
fn inventory(target_arg: &str, engine: Option<&str>, config: &Config) -> anyhow::Result<Inventory> {
    let limits = crate::context::inventory_limits(config)?;
    let target = Target::parse(target_arg);
    eprintln!("berth: reading {}", describe(&target));
    let source_err = |e: berth_inventory::SourceError| {
        let hint = e.hint();
        with_hint(format!("cannot read {target_arg}"), hint, e)
    };
    let inventory = if matches!(target, Target::Image(_)) {
        let rt = runtime()?;
        rt.block_on(async {
            let (engine, _) = open_engine_for(engine).await?;
            let options = SbomOptions { engine: Some(engine as Arc<dyn Engine>), temp_dir: None };
            berth_inventory::sbom_with_limits(&target, &options, &limits).await.map_err(source_err)
        })?
    } else {
        berth_inventory::sbom_local_with_limits(&target, &limits).map_err(source_err)?
    };
    let os = inventory.os.as_ref().map_or_else(
        || "no operating system detected".to_owned(),
        |o| o.pretty_name.clone().unwrap_or_else(|| format!("{} {}", o.id, o.version)),
    );
    eprintln!(
        "berth: read {} as {}: {os}, {} packages in {} layer(s)",
        inventory.target.name,
        kind_name(inventory.target.kind),
        inventory.packages.len(),
        inventory.layers.len()
    );
    for w in &inventory.warnings {
        eprintln!("berth: warning: {}", berth_config::text::terminal_safe(w));
    }
    Ok(inventory)
}

fn write_output(text: &str, output: Option<&Path>) -> anyhow::Result<()> {
    match output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}

fn parse_format<T: std::str::FromStr<Err = String>>(s: &str, choices: &str) -> anyhow::Result<T> {
    s.parse::<T>().map_err(|e| hinted(format!("--format: {e}"), Some(format!("use one of {choices}"))))
}

fn parse_severity(s: &str, what: &str) -> anyhow::Result<Severity> {
    s.parse::<Severity>()
        .map_err(|e| hinted(format!("{what}: {e}"), Some("severities: negligible, low, medium, high, critical".into())))
}

/// `berth sbom`.
pub fn sbom(args: &SbomArgs) -> anyhow::Result<ExitCode> {
    let format: berth_inventory::report::Format = parse_format(&args.format, "table, json, cyclonedx, spdx")?;
    let config = Config::load()?;
    let inventory = inventory(&args.target.target, args.target.engine.as_deref(), &config)?;
    let text = berth_inventory::report::render(&inventory, format, &berth_inventory::report::DocumentMeta::now());
    write_output(&text, args.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

fn open_db(path: &Path) -> anyhow::Result<berth_advisory::Database> {
    berth_advisory::Database::open(path).map_err(|e| {
        let hint = e.hint();
        with_hint(format!("cannot use the advisory database {}", path.display()), hint, e)
    })
}

fn scan_report(inventory: Inventory, db: &Path, options: &ScanOptions) -> anyhow::Result<ScanReport> {
    let db = open_db(db)?;
    berth_scan::scan_inventory(inventory, &db, options).map_err(|e| {
        let hint = e.hint();
        with_hint("the scan failed".into(), hint, e)
    })
}

/// The statements of every `--vex` document, in order.
fn load_vex(paths: &[PathBuf]) -> anyhow::Result<Vec<berth_scan::vex::VexStatement>> {
    let mut out = Vec::new();
    for p in paths {
        let statements = berth_scan::vex::load(p).map_err(|e| {
            let hint = e.hint();
            with_hint("cannot use the VEX document".into(), hint, e)
        })?;
        out.extend(statements);
    }
    Ok(out)
}

/// `berth scan` (and `berth scan compare`).
pub fn scan(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    if let Some(ScanCommand::Compare(c)) = &args.command {
        return compare(c);
    }
    let target = args.target.as_deref().ok_or_else(|| hinted("no target to scan", None))?;
    let format: berth_scan::report::Format = parse_format(&args.format, "table, json, sarif, cyclonedx")?;
    let fail_on = args.fail_on.as_deref().map(|s| parse_severity(s, "--fail-on")).transpose()?;
    let config = Config::load()?;
    let db = db_path(args.db.as_deref(), &config)?;
    // Fail before reading a large image when the database is missing.
    open_db(&db)?;
    let options =
        ScanOptions { ignore_unfixed: args.ignore_unfixed, max_db_age: max_age(&config), vex: load_vex(&args.vex)? };
    let mut report = scan_report(inventory(target, args.engine.as_deref(), &config)?, &db, &options)?;
    if args.reachability {
        let store = crate::context::open_store()?;
        berth_session::reachability(&store, &mut report).map_err(|e| {
            let hint = e.hint();
            with_hint("cannot read the traced runs".into(), hint, e)
        })?;
        if let Some(r) = &report.reachability
            && r.runs.is_empty()
        {
            eprintln!(
                "berth: warning: no complete trace of a run of {} in the store: nothing is marked (`berth run --trace` a tool on this image first)",
                if r.image_id.is_empty() { "this target (it has no image ID)" } else { r.image_id.as_str() }
            );
        }
    }
    for w in &report.warnings {
        eprintln!("berth: warning: {}", berth_config::text::terminal_safe(w));
    }
    let text = berth_scan::report::render(&report, format, &berth_scan::report::DocumentMeta::now());
    write_output(&text, args.output.as_deref())?;
    if let Some(path) = &args.vex_out {
        let vex_format: berth_scan::reach::VexFormat = args
            .vex_format
            .parse()
            .map_err(|e| hinted(format!("--vex-format: {e}"), Some("use openvex or cyclonedx".into())))?;
        let text = berth_scan::reach::vex_document(&report, vex_format, &berth_scan::report::DocumentMeta::now());
        // Through a temporary file renamed into place: never half a document.
        berth_run::run::write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write the VEX document {}", path.display()))?;
        let n = report.reachability.as_ref().map_or(0, |r| r.not_reached);
        eprintln!("berth: {n} not_affected statement(s) written to {} ({})", path.display(), args.vex_format);
    }
    if let Some(r) = &report.reachability
        && !r.runs.is_empty()
    {
        eprintln!(
            "berth: reachability from {} traced run(s): {} reached, {} not reached, {} unknown",
            r.runs.len(),
            r.reached,
            r.not_reached,
            r.unknown
        );
    }
    let c = &report.counts;
    eprintln!(
        "berth: {} findings{}: {} critical, {} high, {} medium, {} low, {} negligible, {} unknown (database snapshot {})",
        report.findings.len(),
        if report.suppressed.is_empty() {
            String::new()
        } else {
            format!(" ({} more suppressed by VEX)", report.suppressed.len())
        },
        c.critical,
        c.high,
        c.medium,
        c.low,
        c.negligible,
        c.unknown,
        report.database.snapshot
    );
    for s in &report.suppressed {
        let v = &s.vex;
        eprintln!(
            "berth: suppressed by VEX: {} in {} {}: {}{}{} ({})",
            s.finding.id,
            s.finding.package,
            s.finding.installed_version,
            v.status.as_str(),
            v.justification.as_deref().map(|j| format!(", {j}")).unwrap_or_default(),
            v.statement.as_deref().map(|t| format!(": {t}")).unwrap_or_default(),
            v.document
        );
    }
    if berth_scan::exit_code_counting(&report, fail_on, args.reached_only) != 0 {
        if let Some(s) = fail_on {
            let which = if args.reached_only { "reached findings" } else { "findings" };
            eprintln!("berth: {which} at or above {s}: exit code {FAIL_ON_EXIT}");
        }
        return Ok(ExitCode::from(FAIL_ON_EXIT));
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let read = |p: &Path| {
        berth_scan::compare::read(p).map_err(|e| {
            with_hint(
                format!("cannot compare {}", p.display()),
                Some("give JSON results: `berth scan -f json`, `trivy image -f json`, `grype -o json`".into()),
                e,
            )
        })
    };
    let comparison = berth_scan::compare::compare(&read(&args.a)?, &read(&args.b)?);
    if args.json {
        print_json(&comparison)?;
    } else {
        print!("{comparison}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth db ...`.
pub fn db(command: &DbCommand) -> anyhow::Result<ExitCode> {
    match command {
        DbCommand::Update(args) => db_update(args),
        DbCommand::Status(args) => db_status(args),
    }
}

fn db_update(args: &DbUpdateArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load()?;
    let path = db_path(args.db.as_deref(), &config)?;
    let sources: Vec<String> = if !args.sources.is_empty() {
        args.sources.clone()
    } else if let Some(s) = &config.scan.sources {
        s.clone()
    } else {
        berth_advisory::update::DEFAULT_SOURCES.iter().map(|s| (*s).to_owned()).collect()
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    eprintln!("berth: building {} from {} source(s)", path.display(), sources.len());
    let options = berth_advisory::UpdateOptions::new(path.clone());
    let mut show = |p: berth_advisory::update::Progress<'_>| match p {
        berth_advisory::update::Progress::Reading { index, total, location } => {
            eprintln!("berth: [{index}/{total}] reading {location}");
        }
        berth_advisory::update::Progress::Loaded { index, total, info } => {
            eprintln!("berth: [{index}/{total}] {} record(s) from {} ({})", info.records, info.location, info.kind);
        }
    };
    let summary = berth_advisory::update::update_with_progress(&sources, &options, &mut show).map_err(|e| {
        let hint = e.hint();
        with_hint(format!("cannot update the advisory database {}", path.display()), hint, e)
    })?;
    if args.json {
        print_json(&summary)?;
    } else {
        let status = berth_advisory::status(&path, max_age(&config))
            .with_context(|| format!("cannot read back {}", path.display()))?;
        print!("{status}");
        if summary.skipped > 0 {
            eprintln!("berth: warning: {} record(s) skipped", summary.skipped);
            for p in &summary.problems {
                eprintln!("berth:   {p}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn db_status(args: &DbStatusArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load()?;
    let path = db_path(args.db.as_deref(), &config)?;
    let status = berth_advisory::status(&path, max_age(&config)).map_err(|e| {
        let hint = e.hint();
        with_hint(format!("cannot read the advisory database {}", path.display()), hint, e)
    })?;
    if args.json {
        print_json(&status)?;
    } else {
        print!("{status}");
        if status.stale {
            eprintln!("berth: warning: the database is older than allowed; run `berth db update`");
        }
    }
    Ok(ExitCode::SUCCESS)
}
