//! Findings as a table, grouped by severity, most severe first.

use std::fmt::Write as _;

use berth_advisory::Severity;
use berth_config::text::terminal_safe as safe;

use crate::ScanReport;

/// Render the table. Every string read from the target or the advisory database is shown
/// through [`safe`] (an image's package database can hold terminal escape sequences).
pub fn render(report: &ScanReport) -> String {
    let mut out = String::new();
    let inv = &report.inventory;
    let _ = writeln!(out, "target:   {}", safe(&inv.target.name));
    if let Some(os) = &inv.os {
        let _ = writeln!(out, "os:       {} {}", safe(&os.id), safe(&os.version));
    }
    let _ = writeln!(
        out,
        "database: snapshot {} (built {}){}",
        report.database.snapshot,
        report.database.built_at,
        if report.database.stale { ", STALE" } else { "" }
    );
    let c = &report.counts;
    let _ = writeln!(
        out,
        "findings: {} (critical {}, high {}, medium {}, low {}, negligible {}, unknown {}) in {} packages",
        report.findings.len(),
        c.critical,
        c.high,
        c.medium,
        c.low,
        c.negligible,
        c.unknown,
        inv.packages.len()
    );
    if let Some(r) = &report.reachability {
        let _ = writeln!(
            out,
            "reach:    {} traced run(s) of {} ({} paths used): {} reached, {} not reached, {} unknown{}",
            r.runs.len(),
            r.image_id,
            r.paths,
            r.reached,
            r.not_reached,
            r.unknown,
            if r.incomplete_runs.is_empty() {
                String::new()
            } else {
                format!("; {} incomplete trace(s) not used", r.incomplete_runs.len())
            }
        );
    }
    let reach_col = report.reachability.as_ref().is_some_and(|r| !r.runs.is_empty());
    for severity in
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Negligible, Severity::Unknown]
    {
        let rows: Vec<Vec<String>> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| {
                let mut row = vec![
                    safe(&f.id).into_owned(),
                    safe(&f.package).into_owned(),
                    safe(&f.installed_version).into_owned(),
                    f.fixed_version.as_deref().map_or_else(|| "-".to_owned(), |v| safe(v).into_owned()),
                    f.status.as_str().to_owned(),
                    safe(&f.severity_source).into_owned(),
                ];
                if reach_col {
                    row.push(f.reach.as_ref().map_or("-", |r| r.state.as_str()).to_owned());
                }
                row.push(f.layer.map(|l| l.to_string()).unwrap_or_default());
                row
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{} ({})", severity.as_str().to_ascii_uppercase(), rows.len());
        let mut header: Vec<String> =
            ["ID", "PACKAGE", "INSTALLED", "FIXED", "STATUS", "RATED BY"].map(str::to_owned).to_vec();
        if reach_col {
            header.push("REACH".to_owned());
        }
        header.push("LAYER".to_owned());
        let mut widths: Vec<usize> = header.iter().map(String::len).collect();
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        for r in std::iter::once(&header).chain(&rows) {
            let mut line = String::from("  ");
            for (i, (cell, w)) in r.iter().zip(widths.iter().copied()).enumerate() {
                if i + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    if !report.unowned.is_empty() {
        let opaque = report.unowned.iter().filter(|u| u.accounted == 0).count();
        let _ = writeln!(
            out,
            "\nUNOWNED BINARIES ({}, {opaque} with nothing known of their contents)",
            report.unowned.len()
        );
        for u in &report.unowned {
            let sha = u.sha256.as_deref().map_or("not read", |s| &s[..s.len().min(16)]);
            let _ = writeln!(out, "  /{}  {}  sha256:{sha}  {}", safe(&u.path), u.kind, safe(&u.note));
        }
    }
    if !report.warnings.is_empty() {
        out.push('\n');
        for w in &report.warnings {
            let _ = writeln!(out, "warning: {}", safe(w));
        }
    }
    out
}
