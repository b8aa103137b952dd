//! The scan policy (`[scan] run_policy`, `refuse`, `warn`, `accept`): parsed and checked once,
//! applied to the image a run resolved, before any container exists.

use std::path::Path;
use std::sync::Arc;

use berth_advisory::Severity;
use berth_config::ScanConfig;
use berth_engine::Engine;
use berth_inventory::{SbomOptions, Target};
use berth_run::gate::GateError;
use berth_run::{ImageCheck, OutputSink};
use berth_scan::policy::{Action, Policy, Rule, Verdict};

use crate::SiteError;

/// What the policy does with its decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyMode {
    /// No scan before runs (the default).
    Off,
    /// Scan, record the decision and say it; never refuse.
    Warn,
    /// Scan, record, and refuse an image the rules refuse.
    Enforce,
}

impl std::fmt::Display for PolicyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PolicyMode::Off => "off",
            PolicyMode::Warn => "warn",
            PolicyMode::Enforce => "enforce",
        })
    }
}

/// The site's scan policy.
#[derive(Debug, Clone)]
pub struct ScanPolicy {
    mode: PolicyMode,
    policy: Policy,
}

fn severity(value: Option<&str>, default: &str, setting: &'static str) -> Result<Severity, SiteError> {
    let value = value.unwrap_or(default);
    value.parse::<Severity>().map_err(|e| SiteError::Setting {
        setting,
        reason: format!("`{value}`: {e}"),
        hint: "severities: negligible, low, medium, high, critical".into(),
    })
}

impl ScanPolicy {
    /// The policy of the `[scan]` table; an unknown mode or severity is refused, naming it.
    pub fn from_config(scan: &ScanConfig) -> Result<ScanPolicy, SiteError> {
        let mode = match scan.run_policy.as_deref().unwrap_or("off") {
            "off" => PolicyMode::Off,
            "warn" => PolicyMode::Warn,
            "enforce" => PolicyMode::Enforce,
            other => {
                return Err(SiteError::Setting {
                    setting: "[scan] run_policy",
                    reason: format!("unknown value `{other}`"),
                    hint: "use `off`, `warn` or `enforce` (docs/security-scanning.md)".into(),
                });
            }
        };
        let refuse = severity(scan.refuse.as_deref(), "critical", "[scan] refuse")?;
        let warn = severity(scan.warn.as_deref(), "high", "[scan] warn")?;
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
            accept: scan.accept.clone(),
        };
        Ok(ScanPolicy { mode, policy })
    }

    /// What the policy does.
    pub fn mode(&self) -> PolicyMode {
        self.mode
    }

    /// The rules.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Scans `image_id` (through the engine's export; no container is started) against `db`
    /// and decides. Notes (the summary, the first reasons, what the inventory could not read)
    /// go to `sink`.
    pub async fn check(
        &self,
        engine: Arc<dyn Engine>,
        image_id: &str,
        db: &Path,
        limits: &berth_inventory::Limits,
        options: &berth_scan::ScanOptions,
        sink: &dyn OutputSink,
    ) -> Result<ImageCheck, GateError> {
        let mode = self.mode;
        let target = Target::Image(image_id.to_owned());
        let sbom = SbomOptions { engine: Some(engine), temp_dir: None };
        let report =
            berth_scan::scan_with_limits(&target, db, &sbom, limits, options).await.map_err(|e| GateError {
                message: format!(
                    "the scan policy (`[scan] run_policy = \"{mode}\"`) could not scan the image {image_id}"
                ),
                hint: e.hint(),
                source: Some(Box::new(e)),
            })?;
        // What the inventory could not read (a file over a limit) is said too: it is not "no packages".
        for w in report.inventory.warnings.iter().chain(&report.warnings) {
            sink.note(&format!("scan policy: warning: {w}"));
        }
        let decision = berth_scan::policy::evaluate(&report, &self.policy);
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
        sink.note(&format!("scan policy ({mode}): {summary}"));
        for r in decision.reasons.iter().take(10) {
            sink.note(&format!("  {r}"));
        }
        if decision.reasons.len() > 10 {
            sink.note(&format!("  ... and {} more (`berth scan {image_id}`)", decision.reasons.len() - 10));
        }
        let record = serde_json::json!({
            "verdict": decision.verdict,
            "reasons": decision.reasons,
            "policy": decision.policy,
            "image": decision.image,
            "snapshot": decision.snapshot,
            "mode": mode.to_string(),
            "counts": report.counts,
            "packages": report.inventory.packages.len(),
            "database": report.database,
        });
        Ok(ImageCheck {
            refuse: mode == PolicyMode::Enforce && decision.verdict == Verdict::Refuse,
            summary,
            record_json: record.to_string(),
        })
    }
}
