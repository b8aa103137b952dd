//! Debian and Ubuntu: deb packages matched by source package and source version.
//!
//! - The ecosystem is `Debian:<major>` (from `/etc/debian_version`) or `Ubuntu:<version>`
//!   (OSV's `Ubuntu:22.04:LTS` is the same key); an Ubuntu image with an Ubuntu Pro (`+esm`)
//!   version installed is matched against `Ubuntu:Pro:<version>` records as well.
//! - The source version is the `Source: name (version)` version when dpkg recorded one (binNMUs,
//!   binary-only epochs), else the binary's version with any binNMU `+bN` suffix removed: the
//!   tracker and the distributions' OSV records only know source versions.

use std::collections::BTreeMap;

use berth_advisory::Database;
use berth_advisory::version::{Scheme, dpkg};
use berth_inventory::{Inventory, OsFamily, PackageKind};

use super::{Candidate, match_rows};
use crate::finding::Finding;

/// The source version used to match `package`.
pub fn source_version(package: &berth_inventory::Package) -> String {
    let v = package.source_version.as_deref().unwrap_or(&package.version);
    dpkg::strip_binnmu(v).to_owned()
}

/// Match every deb package of a Debian or Ubuntu inventory.
pub fn detect(inventory: &Inventory, db: &Database, snapshot: &str, warnings: &mut Vec<String>) -> Vec<Finding> {
    let Some(os) = &inventory.os else { return Vec::new() };
    // Ubuntu Pro (ESM) fixes are versions no public archive has (`+esm1`): an image that has
    // one installed has Pro updates enabled, and Pro's records apply to it as well.
    let pro = os.family == OsFamily::Ubuntu
        && inventory.packages.iter().any(|p| p.kind == PackageKind::Deb && p.version.contains("+esm"));
    let (ecosystem, distribution) = match os.family {
        OsFamily::Debian => {
            let release = os.release();
            // testing/sid carry a codename, not a number.
            let release = if release.chars().all(|c| c.is_ascii_digit()) { release } else { "sid".to_owned() };
            (format!("Debian:{release}"), "debian")
        }
        OsFamily::Ubuntu => (format!("Ubuntu:{}", os.version), "ubuntu"),
        _ => return Vec::new(),
    };
    // One query per source package.
    let mut by_source: BTreeMap<String, Vec<&berth_inventory::Package>> = BTreeMap::new();
    for p in inventory.packages.iter().filter(|p| p.kind == PackageKind::Deb) {
        by_source.entry(p.source_name.clone().unwrap_or_else(|| p.name.clone())).or_default().push(p);
    }
    let mut findings = Vec::new();
    for (source, packages) in by_source {
        let mut rows = match db.affected(&ecosystem, &source) {
            Ok(r) => r,
            Err(e) => {
                warnings.push(format!("{source}: {e}"));
                continue;
            }
        };
        if pro {
            match db.affected(&format!("Ubuntu:Pro:{}", os.version), &source) {
                Ok(r) => rows.extend(r),
                Err(e) => warnings.push(format!("{source}: {e}")),
            }
        }
        if rows.is_empty() {
            continue;
        }
        for p in packages {
            let candidate =
                Candidate { package: p, advisory_name: source.clone(), compared_version: source_version(p) };
            findings.extend(match_rows(&candidate, &rows, Scheme::Dpkg, distribution, snapshot, warnings));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use berth_inventory::{Origin, Package};

    use super::*;

    fn deb(version: &str, source_version: Option<&str>) -> Package {
        Package {
            kind: PackageKind::Deb,
            name: "x".into(),
            version: version.into(),
            source_name: Some("x".into()),
            source_version: source_version.map(str::to_owned),
            arch: None,
            licenses: vec![],
            purl: String::new(),
            layer: None,
            location: String::new(),
            origin: Origin::Distribution,
            files: Vec::new(),
        }
    }

    #[test]
    fn binnmus_and_binary_only_epochs_compare_as_their_source() {
        assert_eq!(source_version(&deb("5.2.15-2+b2", Some("5.2.15-2+b2"))), "5.2.15-2");
        assert_eq!(source_version(&deb("2:1.02.185-2", Some("2.03.16-2"))), "2.03.16-2");
        assert_eq!(source_version(&deb("1:2.38.1-5", None)), "1:2.38.1-5");
    }
}
