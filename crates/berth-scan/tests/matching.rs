//! Matching on the test root filesystems with the fixture database: Debian by source package
//! and source version (binNMUs, binary-only epochs), every tracker status, severities and their
//! sources, Alpine and PyPI ranges, `--ignore-unfixed`, `--fail-on`, and the policy.

mod common;

use berth_advisory::{Database, Severity};
use berth_scan::policy::{self, Policy, Verdict};
use berth_scan::{ScanOptions, ScanReport, Status, exit_code, scan_inventory};

fn scan(fixture: &str, options: &ScanOptions) -> ScanReport {
    let db = Database::open(common::database()).expect("db");
    scan_inventory(common::inventory(fixture), &db, options).expect("scan")
}

fn find<'a>(r: &'a ScanReport, id: &str, package: &str) -> Option<&'a berth_scan::Finding> {
    r.findings.iter().find(|f| f.id == id && f.package == package)
}

#[test]
fn debian_packages_match_by_source_package_and_source_version() {
    if !common::fixtures_present() {
        return;
    }
    let r = scan("neuro", &ScanOptions::default());
    let glibc = find(&r, "CVE-2099-1001", "libc6").expect("libc6 is below the fix");
    assert_eq!(
        (glibc.status, glibc.fixed_version.as_deref(), glibc.source_package.as_deref(), glibc.ecosystem.as_str()),
        (Status::Fixed, Some("2.36-9+deb12u5"), Some("glibc"), "debian:12")
    );
    assert_eq!((glibc.severity, glibc.severity_source.as_str()), (Severity::High, "debian"));
    assert!(glibc.explanation.contains("2.36-9+deb12u4 < fixed 2.36-9+deb12u5"), "{}", glibc.explanation);
    assert!(glibc.snapshot == r.database.snapshot && !glibc.snapshot.is_empty());
    assert!(find(&r, "CVE-2099-1002", "libc6").is_none(), "fixed before the installed version");
    // dmsetup 2:1.02.185-2 is built from lvm2 2.03.16-2: compared as 2.03.16-2 < 2.03.16-3. Its
    // binary-only epoch would hide the finding if the binary version were compared (the seed
    // paper's "epoch bug").
    let dm = find(&r, "CVE-2099-1004", "dmsetup").expect("binary-only epoch");
    assert_eq!((dm.installed_version.as_str(), dm.compared_version.as_str()), ("2:1.02.185-2", "2.03.16-2"));
    // bash 5.2.15-2+b2 is a binNMU of 5.2.15-2, which is the fixed version: not affected.
    assert!(find(&r, "CVE-2099-1006", "bash").is_none());
    // fixed_version 0: never affected.
    assert!(find(&r, "CVE-2099-1008", "python3-nibabel").is_none());
}

#[test]
fn tracker_statuses_become_findings_without_a_fix() {
    if !common::fixtures_present() {
        return;
    }
    let r = scan("neuro", &ScanOptions::default());
    let nodsa = find(&r, "CVE-2099-1003", "libc6").expect("no-dsa");
    assert_eq!((nodsa.status, nodsa.fixed_version.as_deref(), nodsa.severity), (Status::NoDsa, None, Severity::Low));
    let unimportant = find(&r, "CVE-2099-1005", "bash").expect("unimportant");
    assert_eq!((unimportant.status, unimportant.severity), (Status::Unfixed, Severity::Negligible));
    let fsl = find(&r, "CVE-2099-1007", "fsl-core").expect("fsl");
    assert!(fsl.third_party, "NeuroDebian's build: the Debian tracker may not describe it");
    assert_eq!(
        (fsl.severity, fsl.severity_source.as_str(), fsl.distribution_rating.as_deref()),
        (Severity::Unknown, "none", Some("not yet assigned"))
    );

    let fixable = scan("neuro", &ScanOptions { ignore_unfixed: true, ..ScanOptions::default() });
    assert!(fixable.findings.iter().all(|f| f.status == Status::Fixed));
    assert_eq!(fixable.findings.len(), 2, "{:#?}", fixable.findings);
}

#[test]
fn alpine_matches_by_origin_in_apk_order_and_cvss_v4_rates_it() {
    if !common::fixtures_present() {
        return;
    }
    let r = scan("alpine", &ScanOptions::default());
    let f = find(&r, "ALPINE-CVE-2099-0003", "libcrypto3").expect("libcrypto3 from openssl");
    assert_eq!(
        (f.fixed_version.as_deref(), f.severity, f.severity_source.as_str()),
        (Some("3.1.4-r6"), Severity::Critical, "cvss-v4")
    );
    assert_eq!(f.cvss[0].score, Some(9.3));
}

#[test]
fn rpm_systems_without_an_advisory_source_say_so() {
    if !common::fixtures_present() {
        return;
    }
    let r = scan("centos7", &ScanOptions::default());
    assert!(r.findings.is_empty());
    assert!(r.warnings.iter().any(|w| w.contains("no advisory source for rpm packages on centos")), "{:?}", r.warnings);
}

#[test]
fn fail_on_sets_the_exit_code_and_the_policy_refuses_fixable_criticals() {
    if !common::fixtures_present() {
        return;
    }
    let alpine = scan("alpine", &ScanOptions::default());
    assert_eq!(exit_code(&alpine, Some(Severity::Critical)), 1);
    assert_eq!(exit_code(&alpine, None), 0);
    let decision = policy::evaluate(&alpine, &Policy::default());
    assert_eq!(decision.verdict, Verdict::Refuse);
    assert!(decision.reasons[0].starts_with("refuse: ALPINE-CVE-2099-0003 in libcrypto3"), "{:?}", decision.reasons);
    assert_eq!(decision.snapshot, alpine.database.snapshot);

    let neuro = scan("neuro", &ScanOptions::default());
    assert_eq!(exit_code(&neuro, Some(Severity::Critical)), 0);
    assert_eq!(exit_code(&neuro, Some(Severity::High)), 1);
    let decision = policy::evaluate(&neuro, &Policy::default());
    assert_eq!(decision.verdict, Verdict::Warn, "{:?}", decision.reasons);
    let accepting = Policy { accept: vec!["CVE-2099-1001".into()], ..Policy::default() };
    assert_eq!(policy::evaluate(&neuro, &accepting).verdict, Verdict::Allow);
    // The decision serializes for the provenance record.
    let json = serde_json::to_value(&decision).expect("json");
    assert_eq!(json["verdict"], "warn");
}

#[test]
fn a_stale_database_is_reported() {
    if !common::fixtures_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let old = dir.path().join("old.sqlite");
    std::fs::copy(common::database(), &old).expect("copy");
    let conn = rusqlite::Connection::open(&old).expect("open");
    conn.execute("UPDATE meta SET value = '2020-01-01T00:00:00Z' WHERE key = 'built_at'", []).expect("age it");
    drop(conn);
    let db = Database::open(&old).expect("db");
    let r = scan_inventory(common::inventory("alpine"), &db, &ScanOptions::default()).expect("scan");
    assert!(r.database.stale);
    assert!(r.warnings.iter().any(|w| w.contains("run `berth db update`")), "{:?}", r.warnings);
    let fresh = scan("alpine", &ScanOptions::default());
    assert!(!fresh.database.stale && fresh.warnings.iter().all(|w| !w.contains("berth db update")));
}
