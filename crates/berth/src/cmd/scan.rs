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
use berth_scan::policy::{Action, Policy, Rule, Verdict};
use berth_scan::{ScanOptions, ScanReport};

use crate::cli::{CompareArgs, DbCommand, DbStatusArgs, DbUpdateArgs, SbomArgs, ScanArgs, ScanCommand};
use crate::cmd::descriptor::print_json;
use crate::cmd::run::{open_engine_for, runtime};
use crate::diag::{Hinted, hinted};

/// The exit code of `berth scan --fail-on SEVERITY` when a finding reaches SEVERITY.
pub const FAIL_ON_EXIT: u8 = 3;

/// The advisory database's file name under `BERTH_HOME`.
pub const DB_FILE: &str = "advisories.sqlite";

/// Scans warn when the database is older than this, unless `[scan] max_db_age_hours` says.
const DEFAULT_MAX_AGE_HOURS: u64 = 24;

fn with_hint(message: String, hint: Option<String>, source: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Hinted { message, hint, source: Some(source.into()) })
}

/// The advisory database: `--db`, then `BERTH_ADVISORY_DB`, then `[scan] db`, then
/// `$BERTH_HOME/advisories.sqlite`.
pub(crate) fn db_path(explicit: Option<&Path>, config: &Config) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    if let Some(p) = std::env::var_os(berth_advisory::update::DB_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = &config.scan.db {
        return Ok(p.clone());
    }
    let home = berth_config::berth_home().map_err(|e| {
        let hint = e.hint();
        anyhow::Error::new(Hinted { message: e.to_string(), hint, source: None })
    })?;
    Ok(home.join(DB_FILE))
}

fn max_age(config: &Config) -> Duration {
    Duration::from_secs(config.scan.max_db_age_hours.unwrap_or(DEFAULT_MAX_AGE_HOURS) * 3600)
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

/// What one inventory may read of an image: the `[inventory]` table.
pub(crate) fn inventory_limits(config: &Config) -> anyhow::Result<berth_inventory::Limits> {
    config.inventory.limits().map_err(|e| {
        let hint = e.hint();
        anyhow::Error::new(Hinted { message: e.to_string(), hint, source: None })
    })
}

/// Takes the inventory of TARGET, saying on stderr what it was taken to be.
fn inventory(target_arg: &str, engine: Option<&str>, config: &Config) -> anyhow::Result<Inventory> {
    let limits = inventory_limits(config)?;
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
        eprintln!("berth: warning: {w}");
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
    let options = ScanOptions { ignore_unfixed: args.ignore_unfixed, max_db_age: max_age(&config) };
    let report = scan_report(inventory(target, args.engine.as_deref(), &config)?, &db, &options)?;
    for w in &report.warnings {
        eprintln!("berth: warning: {w}");
    }
    let text = berth_scan::report::render(&report, format, &berth_scan::report::DocumentMeta::now());
    write_output(&text, args.output.as_deref())?;
    let c = &report.counts;
    eprintln!(
        "berth: {} findings: {} critical, {} high, {} medium, {} low, {} negligible, {} unknown (database snapshot {})",
        report.findings.len(),
        c.critical,
        c.high,
        c.medium,
        c.low,
        c.negligible,
        c.unknown,
        report.database.snapshot
    );
    if berth_scan::exit_code(&report, fail_on) != 0 {
        if let Some(s) = fail_on {
            eprintln!("berth: findings at or above {s}: exit code {FAIL_ON_EXIT}");
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
    let options = berth_advisory::UpdateOptions { db_path: path.clone(), ..Default::default() };
    let summary = berth_advisory::update(&sources, &options).map_err(|e| {
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

/// What `[scan] run_policy` asks `berth run` to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PolicyMode {
    Off,
    Warn,
    Enforce,
}

/// The policy `[scan]` configures: refuse (in `enforce` mode) images with fixable findings at
/// least `refuse` (default critical); warn about findings at least `warn` (default high).
fn configured_policy(config: &Config) -> anyhow::Result<(PolicyMode, Policy)> {
    let mode = match config.scan.run_policy.as_deref().unwrap_or("off") {
        "off" => PolicyMode::Off,
        "warn" => PolicyMode::Warn,
        "enforce" => PolicyMode::Enforce,
        other => {
            return Err(hinted(
                format!("configuration `[scan] run_policy`: unknown value `{other}`"),
                Some("use `off`, `warn` or `enforce` (docs/security-scanning.md)".into()),
            ));
        }
    };
    let refuse = parse_severity(config.scan.refuse.as_deref().unwrap_or("critical"), "configuration `[scan] refuse`")?;
    let warn = parse_severity(config.scan.warn.as_deref().unwrap_or("high"), "configuration `[scan] warn`")?;
    let policy = Policy {
        rules: vec![
            Rule {
                action: if mode == PolicyMode::Enforce { Action::Refuse } else { Action::Warn },
                min_severity: refuse,
                fixable_only: true,
                skip_third_party: false,
            },
            Rule { action: Action::Warn, min_severity: warn, fixable_only: false, skip_third_party: false },
        ],
        accept: config.scan.accept.clone(),
    };
    Ok((mode, policy))
}

/// The scan policy for `berth run`: scan the resolved image (through the engine's export, no
/// container started) and decide. `None` when `[scan] run_policy` is off.
pub(crate) async fn run_policy_check(
    config: &Config,
    engine: Arc<dyn Engine>,
    image_id: &str,
    note: &dyn Fn(&str),
) -> anyhow::Result<Option<berth_run::ImageCheck>> {
    let (mode, policy) = configured_policy(config)?;
    if mode == PolicyMode::Off {
        return Ok(None);
    }
    let mode_name = if mode == PolicyMode::Enforce { "enforce" } else { "warn" };
    let db = db_path(None, config)?;
    let options = ScanOptions { ignore_unfixed: false, max_db_age: max_age(config) };
    let target = Target::Image(image_id.to_owned());
    let sbom = SbomOptions { engine: Some(engine), temp_dir: None };
    let limits = inventory_limits(config)?;
    let report = match berth_scan::scan_with_limits(&target, &db, &sbom, &limits, &options).await {
        Ok(r) => r,
        Err(e) => {
            let hint = e.hint();
            return Err(with_hint(
                format!("the scan policy (`[scan] run_policy = \"{mode_name}\"`) could not scan the image {image_id}"),
                hint,
                e,
            ));
        }
    };
    // What the inventory could not read (a file over a limit) is said too: it is not "no packages".
    for w in report.inventory.warnings.iter().chain(&report.warnings) {
        note(&format!("scan policy: warning: {w}"));
    }
    let decision = berth_scan::policy::evaluate(&report, &policy);
    let c = &report.counts;
    let summary = format!(
        "{}: {} findings ({} critical, {} high, {} medium, {} low) in {} packages; {} rule match(es)",
        match decision.verdict {
            Verdict::Allow => "allow",
            Verdict::Warn => "warn",
            Verdict::Refuse => "refuse",
        },
        report.findings.len(),
        c.critical,
        c.high,
        c.medium,
        c.low,
        report.inventory.packages.len(),
        decision.reasons.len()
    );
    note(&format!("scan policy ({mode_name}): {summary}"));
    for r in decision.reasons.iter().take(10) {
        note(&format!("  {r}"));
    }
    if decision.reasons.len() > 10 {
        note(&format!("  ... and {} more (`berth scan {image_id}`)", decision.reasons.len() - 10));
    }
    let mut record = serde_json::to_value(&decision)?;
    if let Some(o) = record.as_object_mut() {
        o.insert("mode".into(), mode_name.into());
        o.insert("counts".into(), serde_json::to_value(&report.counts)?);
        o.insert("packages".into(), report.inventory.packages.len().into());
        o.insert("database".into(), serde_json::to_value(&report.database)?);
    }
    Ok(Some(berth_run::ImageCheck {
        refuse: decision.verdict == Verdict::Refuse,
        summary,
        record_json: serde_json::to_string(&record)?,
    }))
}
