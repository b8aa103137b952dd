//! Alpine, the Red Hat family, PyPI, npm, Go, crates.io and CRAN: packages matched by name (apk origin and rpm
//! source name for distributions) in the ecosystem's OSV data, in its version order.

use berth_advisory::Database;
use berth_advisory::version::Scheme;
use berth_inventory::{Inventory, OsFamily, PackageKind};

use super::{Candidate, match_rows};
use crate::finding::Finding;

/// Where the packages of `kind` find their advisories on `inventory`'s OS: (ecosystem, scheme,
/// rating source, name to use). `None` when berth has no advisory source for them.
fn route(kind: PackageKind, inventory: &Inventory) -> Option<(String, Scheme, &'static str)> {
    match kind {
        PackageKind::Python => Some(("PyPI".to_owned(), Scheme::Pep440, "pypi")),
        PackageKind::Npm => Some(("npm".to_owned(), Scheme::Semver, "npm")),
        // Modules and crates a binary no package owns was built from (berth-inventory's
        // `binary` pass); OSV's Go records use versions without the `v`.
        PackageKind::Go => Some(("Go".to_owned(), Scheme::Semver, "go")),
        PackageKind::Rust => Some(("crates.io".to_owned(), Scheme::Semver, "crates.io")),
        PackageKind::R => Some(("CRAN".to_owned(), Scheme::Cran, "cran")),
        PackageKind::Apk => {
            let os = inventory.os.as_ref().filter(|o| o.family == OsFamily::Alpine)?;
            Some((format!("Alpine:v{}", os.release()), Scheme::Apk, "alpine"))
        }
        PackageKind::Rpm => {
            let os = inventory.os.as_ref()?;
            let release = os.release();
            let eco = match os.id.as_str() {
                "rocky" => format!("Rocky Linux:{release}"),
                "almalinux" => format!("AlmaLinux:{release}"),
                "rhel" => format!("Red Hat:{release}"),
                _ => return None,
            };
            Some((eco, Scheme::Rpm, "redhat"))
        }
        PackageKind::Deb | PackageKind::Conda => None,
    }
}

/// Match every non-deb package.
pub fn detect(inventory: &Inventory, db: &Database, snapshot: &str, warnings: &mut Vec<String>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut unrouted: Vec<String> = Vec::new();
    for p in inventory.packages.iter().filter(|p| p.kind != PackageKind::Deb) {
        let Some((ecosystem, scheme, distribution)) = route(p.kind, inventory) else {
            let what = format!(
                "{} packages{}",
                p.kind,
                inventory.os.as_ref().map(|o| format!(" on {}", o.id)).unwrap_or_default()
            );
            if !unrouted.contains(&what) {
                unrouted.push(what);
            }
            continue;
        };
        let name =
            if p.kind.is_os() { p.source_name.clone().unwrap_or_else(|| p.name.clone()) } else { p.name.clone() };
        let rows = match db.affected(&ecosystem, &name) {
            Ok(r) => r,
            Err(e) => {
                warnings.push(format!("{name}: {e}"));
                continue;
            }
        };
        if rows.is_empty() {
            continue;
        }
        let compared = p.version.clone();
        let candidate = Candidate { package: p, advisory_name: name, compared_version: compared };
        findings.extend(match_rows(&candidate, &rows, scheme, distribution, snapshot, warnings));
    }
    for what in unrouted {
        warnings.push(format!("no advisory source for {what}: not matched"));
    }
    findings
}
