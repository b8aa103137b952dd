//! Golden files for every scan report format, on the neuro test root filesystem.
//!
//! Update after an intended change: `INSTA_UPDATE=always cargo test -p berth-scan --test golden`
//! (or `cargo insta review`), then read the diff.

mod common;

use berth_advisory::Database;
use berth_scan::report::{DocumentMeta, Format, render};
use berth_scan::{ScanOptions, ScanReport, scan_inventory};

/// The report with what differs between runs (database path, build time) fixed.
fn report(fixture: &str) -> ScanReport {
    let db = Database::open(common::database()).expect("db");
    let mut r = scan_inventory(common::inventory(fixture), &db, &ScanOptions::default()).expect("scan");
    r.database.path = "adv.sqlite".into();
    r.database.built_at = "2024-01-01T00:00:00Z".into();
    let snapshot = "0123456789abcdef@2024-01-01T00:00:00Z".to_owned();
    r.database.snapshot = snapshot.clone();
    for f in &mut r.findings {
        f.snapshot = snapshot.clone();
    }
    r
}

fn meta() -> DocumentMeta {
    DocumentMeta { timestamp: "2024-01-01T00:00:00Z".into(), tool_version: "0.0.0-test".into() }
}

#[test]
fn neuro_table() {
    if !common::fixtures_present() {
        return;
    }
    insta::assert_snapshot!(render(&report("neuro"), Format::Table, &meta()));
}

#[test]
fn neuro_json() {
    if !common::fixtures_present() {
        return;
    }
    insta::assert_snapshot!(render(&report("neuro"), Format::Json, &meta()));
}

#[test]
fn neuro_sarif() {
    if !common::fixtures_present() {
        return;
    }
    insta::assert_snapshot!(render(&report("neuro"), Format::Sarif, &meta()));
}

#[test]
fn alpine_cyclonedx_with_vulnerabilities() {
    if !common::fixtures_present() {
        return;
    }
    insta::assert_snapshot!(render(&report("alpine"), Format::CycloneDx, &meta()));
}
