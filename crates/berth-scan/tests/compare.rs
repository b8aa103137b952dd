//! `berth scan compare`: berth's report against Trivy and Grype results (written for these
//! tests in `testdata/`, in the tools' JSON formats), each difference with its cause.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use berth_advisory::Database;
use berth_scan::compare::{self, Cause};
use berth_scan::{ScanOptions, scan_inventory};

fn berth_side() -> compare::Side {
    let db = Database::open(common::database()).expect("db");
    let report = scan_inventory(common::inventory("neuro"), &db, &ScanOptions::default()).expect("scan");
    compare::parse(&serde_json::to_value(&report).expect("json"), "berth.json").expect("berth")
}

fn read(name: &str) -> compare::Side {
    compare::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)).expect("read")
}

fn causes(c: &compare::Comparison) -> BTreeMap<(String, String, String), Cause> {
    c.differences.iter().map(|d| ((d.only_in.clone(), d.item.id.clone(), d.item.package.clone()), d.cause)).collect()
}

#[test]
fn berth_and_trivy_differ_for_reasons_that_are_named() {
    if !common::fixtures_present() {
        return;
    }
    let c = compare::compare(&berth_side(), &read("trivy-neuro.json"));
    let got = causes(&c);
    let key = |side: &str, id: &str, pkg: &str| (side.to_owned(), id.to_owned(), pkg.to_owned());
    // Trivy names CVE-2099-1003 by a DSA: the same vulnerability under another id.
    assert_eq!(got[&key("b", "DSA-9999-1", "libc6")], Cause::IdAliasing);
    assert_eq!(got[&key("a", "CVE-2099-1003", "libc6")], Cause::IdAliasing);
    // Trivy reports a fix older than the installed version: a version comparison mistake.
    assert_eq!(got[&key("b", "CVE-2099-2000", "libc6")], Cause::VersionComparison);
    // berth's unfixed, unimportant and NeuroDebian findings: filtered by status elsewhere.
    assert_eq!(got[&key("a", "CVE-2099-1005", "bash")], Cause::StatusFilter);
    // fsl-core is not in Trivy's package list at all.
    assert_eq!(got[&key("a", "CVE-2099-1007", "fsl-core")], Cause::Inventory);
    // Trivy has bash at the same version but another advisory: the databases differ.
    assert_eq!(got[&key("b", "CVE-2099-2001", "bash")], Cause::AdvisoryData);
    assert_eq!(c.common, 1);
    assert!(c.jaccard > 0.0 && c.jaccard < 1.0);
    let text = c.to_string();
    assert!(text.contains("Jaccard"), "{text}");
    // Sorted by cause.
    let order: Vec<Cause> = c.differences.iter().map(|d| d.cause).collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn grype_results_are_read_and_a_different_installed_version_is_an_inventory_difference() {
    if !common::fixtures_present() {
        return;
    }
    let c = compare::compare(&berth_side(), &read("grype-neuro.json"));
    let got = causes(&c);
    assert_eq!(got[&("b".to_owned(), "CVE-2099-2002".to_owned(), "dmsetup".to_owned())], Cause::Inventory);
    assert_eq!(c.common, 2, "CVE-2099-1001 in libc6 and CVE-2099-1004 in dmsetup");
}

#[test]
fn identical_results_have_jaccard_one() {
    if !common::fixtures_present() {
        return;
    }
    let a = berth_side();
    let c = compare::compare(&a, &a);
    assert_eq!((c.jaccard, c.differences.len()), (1.0, 0));
}

#[test]
fn other_files_are_refused() {
    if !common::fixtures_present() {
        return;
    }
    let err = compare::parse(&serde_json::json!({"hello": 1}), "x.json").expect_err("not a result");
    assert!(err.to_string().contains("not a berth, Trivy or Grype"));
}
