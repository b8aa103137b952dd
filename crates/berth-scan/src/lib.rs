//! Match an image's inventory against berth's advisory database, explain every finding, and
//! report, compare and gate on the results.
//!
//! ```text
//! Inventory (berth-inventory) ──detect──▶ findings (one detector per distribution/ecosystem)
//!                                         │  Database (berth-advisory), version orders
//!                                         ▼
//!                                    ScanReport ──report──▶ table │ JSON │ SARIF 2.1.0 │ CycloneDX
//!                                         ├──compare──▶ Jaccard and differences by cause
//!                                         └──policy───▶ Decision (allow / warn / refuse)
//! ```
//!
//! The functions the CLI and the server call: [`scan`] (target → report), [`scan_inventory`],
//! [`compare::compare`], [`policy::evaluate`], [`exit_code`].

pub mod compare;
pub mod detect;
pub mod finding;
pub mod policy;
pub mod reach;
pub mod report;
pub mod vex;

use std::path::Path;
use std::time::Duration;

use berth_advisory::{Database, DbError, Severity};
use berth_inventory::{Inventory, SbomOptions, SourceError, Target};

pub use finding::{Counts, DbInfo, Finding, ScanReport, Status, UnownedBinary};

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Leave out findings without a fixed version (`--ignore-unfixed`).
    pub ignore_unfixed: bool,
    /// Warn when the database is older than this.
    pub max_db_age: Duration,
    /// Triage statements (`--vex`): `not_affected` and `fixed` suppress findings, the others
    /// annotate them ([`vex`]).
    pub vex: Vec<vex::VexStatement>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self { ignore_unfixed: false, max_db_age: Duration::from_secs(24 * 3600), vex: Vec::new() }
    }
}

/// Why a scan failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The target could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The advisory database could not be used.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ScanError {
    /// What the user can do.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Source(e) => e.hint(),
            Self::Db(e) => e.hint(),
        }
    }
}

/// Scan `target` with the database at `db_path` (the `berth scan` command), reading the
/// image within the default [`berth_inventory::Limits`].
pub async fn scan(
    target: &Target,
    db_path: &Path,
    sbom: &SbomOptions,
    options: &ScanOptions,
) -> Result<ScanReport, ScanError> {
    scan_with_limits(target, db_path, sbom, &berth_inventory::Limits::DEFAULT, options).await
}

/// [`scan`] reading the image within `limits` (the `[inventory]` table of the configuration).
pub async fn scan_with_limits(
    target: &Target,
    db_path: &Path,
    sbom: &SbomOptions,
    limits: &berth_inventory::Limits,
    options: &ScanOptions,
) -> Result<ScanReport, ScanError> {
    let db = Database::open(db_path)?;
    let inventory = berth_inventory::sbom_with_limits(target, sbom, limits).await?;
    scan_inventory(inventory, &db, options)
}

/// Match an inventory already taken.
pub fn scan_inventory(inventory: Inventory, db: &Database, options: &ScanOptions) -> Result<ScanReport, ScanError> {
    let status = berth_advisory::status(db.path(), options.max_db_age)?;
    let mut warnings = Vec::new();
    if status.stale {
        warnings.push(format!(
            "the advisory database was built {} h ago, more than the {} h allowed: run `berth db update`",
            status.age_seconds / 3600,
            options.max_db_age.as_secs() / 3600
        ));
    }
    if let Some(os) = &inventory.os
        && !matches!(os.family, berth_inventory::OsFamily::Debian | berth_inventory::OsFamily::Ubuntu)
        && inventory.packages.iter().any(|p| p.kind == berth_inventory::PackageKind::Deb)
    {
        warnings.push(format!("deb packages on {}: not matched", os.id));
    }
    let mut findings = detect::debian::detect(&inventory, db, &status.snapshot, &mut warnings);
    findings.extend(detect::ecosystem::detect(&inventory, db, &status.snapshot, &mut warnings));
    if options.ignore_unfixed {
        findings.retain(|f| f.status.has_fix());
    }
    let (kept, suppressed) = vex::apply(findings, &options.vex);
    let mut findings: Vec<Finding> = kept
        .into_iter()
        .map(|(mut f, s)| {
            f.vex = s;
            f
        })
        .collect();
    findings.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| a.package.cmp(&b.package)).then_with(|| a.id.cmp(&b.id))
    });
    warnings.sort();
    warnings.dedup();
    let unowned = inventory.unowned.iter().map(UnownedBinary::of).collect();
    Ok(ScanReport {
        format_version: finding::FORMAT_VERSION,
        unowned,
        counts: Counts::of(&findings),
        inventory,
        database: DbInfo {
            path: db.path().display().to_string(),
            snapshot: status.snapshot,
            built_at: status.built_at,
            stale: status.stale,
        },
        findings,
        warnings,
        suppressed,
        reachability: None,
    })
}

/// The exit code for CI (`--fail-on SEVERITY`): 1 when a finding is at least that severe.
pub fn exit_code(report: &ScanReport, fail_on: Option<Severity>) -> i32 {
    exit_code_counting(report, fail_on, false)
}

/// [`exit_code`], counting only findings traced runs reached (or whose reach is unknown)
/// when `reached_only` (`--fail-on-reached`).
pub fn exit_code_counting(report: &ScanReport, fail_on: Option<Severity>, reached_only: bool) -> i32 {
    let counts = |f: &&Finding| !reached_only || reach::counts_when_reached_only(f);
    match fail_on {
        Some(threshold) if report.findings.iter().filter(counts).any(|f| f.severity >= threshold) => 1,
        _ => 0,
    }
}
