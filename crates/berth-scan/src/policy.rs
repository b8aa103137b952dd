//! The policy `berth run` applies before starting a container: rules on a scan report that
//! refuse or warn, and a [`Decision`] that is recorded in the run's provenance.
//!
//! The default refuses images with critical vulnerabilities that have a fix (updating the
//! image removes them, as the seed paper found for about two thirds of them) and warns about
//! every other finding of high severity or more.

use berth_advisory::Severity;
use serde::{Deserialize, Serialize};

use crate::ScanReport;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let the run go ahead, saying why.
    Warn,
    /// Do not start the container.
    Refuse,
}

/// One rule: findings at least `min_severity` (and, with `fixable_only`, having a fix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// What to do.
    pub action: Action,
    /// The least severity that matches.
    pub min_severity: Severity,
    /// Only findings that have a fixed version.
    #[serde(default)]
    pub fixable_only: bool,
    /// Ignore packages from outside the distribution (NeuroDebian, vendors).
    #[serde(default)]
    pub skip_third_party: bool,
}

/// A policy: rules, and vulnerability ids accepted by a person (with a reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Rules, all applied.
    pub rules: Vec<Rule>,
    /// Ids (or aliases) never counted.
    #[serde(default)]
    pub accept: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            rules: vec![
                Rule {
                    action: Action::Refuse,
                    min_severity: Severity::Critical,
                    fixable_only: true,
                    skip_third_party: false,
                },
                Rule {
                    action: Action::Warn,
                    min_severity: Severity::High,
                    fixable_only: false,
                    skip_third_party: false,
                },
            ],
            accept: Vec::new(),
        }
    }
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing matched.
    Allow,
    /// Only warning rules matched.
    Warn,
    /// A refusing rule matched.
    Refuse,
}

/// What the policy decided, and why, for the provenance record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The outcome.
    pub verdict: Verdict,
    /// One line per matched finding: `refuse: CVE-... in libssl3 3.0.11-1 (critical, fixed in ...)`.
    pub reasons: Vec<String>,
    /// The policy applied.
    pub policy: Policy,
    /// The image (image ID when known).
    pub image: String,
    /// The advisory database snapshot.
    pub snapshot: String,
}

/// Apply `policy` to `report`.
pub fn evaluate(report: &ScanReport, policy: &Policy) -> Decision {
    let mut verdict = Verdict::Allow;
    let mut reasons = Vec::new();
    for f in &report.findings {
        if policy.accept.iter().any(|a| *a == f.id || f.aliases.contains(a)) {
            continue;
        }
        let matched = policy.rules.iter().filter(|r| {
            f.severity >= r.min_severity
                && (!r.fixable_only || f.status.has_fix())
                && !(r.skip_third_party && f.third_party)
        });
        let Some(action) = matched.map(|r| r.action).max() else { continue };
        verdict = verdict.max(match action {
            Action::Refuse => Verdict::Refuse,
            Action::Warn => Verdict::Warn,
        });
        reasons.push(format!(
            "{}: {} in {} {} ({}, {})",
            match action {
                Action::Refuse => "refuse",
                Action::Warn => "warn",
            },
            f.id,
            f.package,
            f.installed_version,
            f.severity,
            f.fixed_version
                .as_ref()
                .map_or_else(|| format!("status {}", f.status.as_str()), |v| format!("fixed in {v}")),
        ));
    }
    reasons.sort();
    Decision {
        verdict,
        reasons,
        policy: policy.clone(),
        image: report.inventory.target.image_id.clone().unwrap_or_else(|| report.inventory.target.name.clone()),
        snapshot: report.database.snapshot.clone(),
    }
}
