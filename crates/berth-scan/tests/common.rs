//! Shared by the scan tests: a database built from the advisory fixtures and the test records.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository's shared advisory fixtures.
pub fn shared() -> PathBuf {
    match std::env::var_os("BERTH_SHARED_FIXTURES") {
        Some(dir) => PathBuf::from(dir).join("advisories"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/advisories"),
    }
}

/// Whether the shared advisory fixtures are here. A fresh clone outside the project's
/// workspace has no `../shared`; the tests that read it say "skipped" then, as the XNAT
/// fixture tests do.
#[allow(dead_code)]
pub fn fixtures_present() -> bool {
    let here = shared().is_dir();
    if !here {
        use std::io::Write as _;
        // Written to the real stderr, so that it shows even when the harness captures output.
        let _ = writeln!(std::io::stderr(), "skipped: {} not present", shared().display());
    }
    here
}

/// A database from the real PyPA records, the Debian tracker excerpt, berth's OSV test records
/// and `testdata/tracker-bookworm.json`, built once per test process.
pub fn database() -> &'static Path {
    static DB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("adv.sqlite");
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let sources = [
            shared().join("osv-pypi/vulns"),
            shared().join("debian-tracker/debian_security_tracker_mock.json"),
            here.join("../berth-advisory/testdata/osv-distro.json"),
            here.join("testdata/tracker-bookworm.json"),
        ]
        .map(|p| p.to_string_lossy().into_owned());
        berth_advisory::update(&sources, &berth_advisory::UpdateOptions::new(path.clone()))
            .expect("build the test database");
        (dir, path)
    })
    .1
}

/// An inventory of one of berth-inventory's test root filesystems.
pub fn inventory(fixture: &str) -> berth_inventory::Inventory {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../berth-inventory/testdata/rootfs").join(fixture);
    let mut inv = berth_inventory::sbom_local(&berth_inventory::Target::Rootfs(root)).expect("inventory");
    inv.target.name = format!("dir:testdata/rootfs/{fixture}");
    inv
}
