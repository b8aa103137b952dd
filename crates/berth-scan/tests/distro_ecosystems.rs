//! OSV's ecosystems as their records spell them: `Ubuntu:22.04:LTS`, Ubuntu Pro
//! (`Ubuntu:Pro:22.04:LTS`, matched only on images with Pro updates installed), Red Hat's
//! `Red Hat:enterprise_linux:9::baseos`, each matched against an image of that release; and
//! CRAN, matched against the R packages of an image's R libraries in R's version order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use berth_scan::{ScanOptions, ScanReport};

fn database() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("adv.sqlite");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = ["testdata/osv-ubuntu-redhat.json", "testdata/osv-cran.json"]
        .map(|f| here.join(f).to_string_lossy().into_owned());
    berth_advisory::update(&sources, &berth_advisory::UpdateOptions::new(path.clone())).expect("database");
    (dir, path)
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn scan(root: &Path) -> ScanReport {
    let (_dir, db) = database();
    let inventory = berth_inventory::sbom_local(&berth_inventory::Target::Rootfs(root.to_owned())).expect("inventory");
    let db = berth_advisory::Database::open(&db).expect("open");
    berth_scan::scan_inventory(inventory, &db, &ScanOptions::default()).expect("scan")
}

fn ids(r: &ScanReport) -> BTreeSet<(String, String)> {
    r.findings.iter().map(|f| (f.id.clone(), f.package.clone())).collect()
}

fn ubuntu(root: &Path, extra: &str) {
    write(root, "etc/os-release", "NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n");
    write(
        root,
        "var/lib/dpkg/status",
        &format!(
            "Package: curl\nStatus: install ok installed\nVersion: 7.81.0-1ubuntu1.15\nArchitecture: amd64\n\n\
             Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.2-0ubuntu1.10\nArchitecture: amd64\n\n{extra}"
        ),
    );
}

#[test]
fn ubuntu_lts_records_match_and_pro_records_only_with_pro_updates_installed() {
    let dir = tempfile::tempdir().expect("tmp");
    ubuntu(dir.path(), "");
    let report = scan(dir.path());
    assert_eq!(ids(&report), [("UBUNTU-CVE-2099-0101".to_owned(), "curl".to_owned())].into());
    let curl = &report.findings[0];
    assert_eq!(curl.fixed_version.as_deref(), Some("7.81.0-1ubuntu1.16"), "the 22.04 range, not 20.04's");

    let pro = tempfile::tempdir().expect("tmp");
    ubuntu(
        pro.path(),
        "Package: libexample1\nStatus: install ok installed\nVersion: 1.0-1ubuntu0.1+esm1\nArchitecture: amd64\n\n",
    );
    let report = scan(pro.path());
    assert_eq!(
        ids(&report),
        [
            ("UBUNTU-CVE-2099-0101".to_owned(), "curl".to_owned()),
            ("UBUNTU-CVE-2099-0102".to_owned(), "libssl3".to_owned())
        ]
        .into()
    );
    let openssl = report.findings.iter().find(|f| f.package == "libssl3").expect("libssl3");
    assert_eq!(openssl.fixed_version.as_deref(), Some("3.0.2-0ubuntu1.10+esm1"));
}

#[test]
fn red_hat_records_keyed_by_product_and_stream_match_a_rhel_image() {
    let dir = tempfile::tempdir().expect("tmp");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../berth-inventory/testdata/rootfs/rocky9");
    std::fs::create_dir_all(dir.path().join("var/lib/rpm")).expect("mkdir");
    std::fs::copy(fixture.join("var/lib/rpm/rpmdb.sqlite"), dir.path().join("var/lib/rpm/rpmdb.sqlite")).expect("copy");
    write(dir.path(), "etc/os-release", "NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.3\"\n");
    let report = scan(dir.path());
    assert_eq!(ids(&report), [("RHSA-2099:0103".to_owned(), "bash".to_owned())].into(), "{:?}", report.warnings);
}

#[test]
fn r_packages_in_r_libraries_match_cran_records_in_r_version_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    write(root, "etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
    write(root, "etc/debian_version", "12.8\n");
    let built = "Built: R 4.2.2; ; 2023-01-10 10:00:00 UTC; unix\n";
    // From CRAN into the site library: 3.4.9 is below 3.4.10 (a string comparison says otherwise).
    write(
        root,
        "usr/local/lib/R/site-library/ggplot2/DESCRIPTION",
        &format!("Package: ggplot2\nVersion: 3.4.9\nLicense: MIT + file LICENSE\nRepository: CRAN\n{built}"),
    );
    write(root, "usr/local/lib/R/site-library/readr/DESCRIPTION", &format!("Package: readr\nVersion: 2.1.10\n{built}"));
    // Debian's r-cran-jsonlite: dpkg owns its DESCRIPTION, so it is the deb only.
    write(root, "usr/lib/R/site-library/jsonlite/DESCRIPTION", &format!("Package: jsonlite\nVersion: 1.8.4\n{built}"));
    write(
        root,
        "var/lib/dpkg/status",
        "Package: r-cran-jsonlite\nStatus: install ok installed\nVersion: 1.8.4+dfsg-1\nArchitecture: amd64\n\n",
    );
    write(root, "var/lib/dpkg/info/r-cran-jsonlite.list", "/usr/lib/R/site-library/jsonlite/DESCRIPTION\n");
    // A package's source tree is not an installed package.
    write(root, "home/u/library-src/mypkg/DESCRIPTION", "Package: mypkg\nVersion: 0.1\n");
    let report = scan(root);
    let r: Vec<(String, String, String)> = report
        .inventory
        .packages
        .iter()
        .filter(|p| p.kind == berth_inventory::PackageKind::R)
        .map(|p| (p.name.clone(), p.version.clone(), p.purl.clone()))
        .collect();
    assert_eq!(
        r,
        [("ggplot2", "3.4.9", "pkg:cran/ggplot2@3.4.9"), ("readr", "2.1.10", "pkg:cran/readr@2.1.10")]
            .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
            .to_vec()
    );
    assert_eq!(ids(&report), [("RSEC-2099-0001".to_owned(), "ggplot2".to_owned())].into(), "{:?}", report.warnings);
    assert_eq!(report.findings[0].fixed_version.as_deref(), Some("3.4.10"));
}
