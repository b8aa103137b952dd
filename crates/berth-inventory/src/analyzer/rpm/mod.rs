//! RPM packages: the rpm database in either of its on-disk forms — `rpmdb.sqlite` (Fedora 33+,
//! RHEL 9, Rocky and Alma 9) or the BerkeleyDB hash file `Packages` (CentOS 7 and 8, RHEL 7 and
//! 8) — each record an rpm header blob ([`header`]).
//!
//! The NDB form (`Packages.db`, SUSE) is reported as a warning: berth does not read it.

pub mod bdb;
pub mod header;

use std::io::Write;

use super::{Analyzer, Found, Input, is_language_metadata};
use crate::model::{Origin, Package, PackageKind};

/// The rpm analyzer.
pub struct Rpm;

/// The header blobs of a database, or why they could not be read.
type Blobs = Result<Vec<Vec<u8>>, String>;

const SQLITE: [&str; 2] = ["var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"];
const BDB: [&str; 2] = ["var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages"];
const NDB: [&str; 2] = ["var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages.db"];

impl Analyzer for Rpm {
    fn name(&self) -> &'static str {
        "rpm"
    }

    fn version(&self) -> u32 {
        2
    }

    fn required(&self, path: &str) -> bool {
        SQLITE.contains(&path)
            || BDB.contains(&path)
            || NDB.contains(&path)
            || SQLITE.iter().any(|s| path.strip_prefix(s).is_some_and(|rest| rest == "-wal"))
    }

    fn analyze(&self, input: &Input<'_>) -> Found {
        let mut found = Found::default();
        let mut blobs: Option<(String, Blobs)> = None;
        for path in SQLITE {
            if let Some(db) = input.view.read(path) {
                let wal = input.view.read(&format!("{path}-wal"));
                blobs = Some((path.to_owned(), sqlite_blobs(db, wal)));
                break;
            }
        }
        if blobs.is_none() {
            for path in BDB {
                if let Some(db) = input.view.read(path) {
                    blobs = Some((path.to_owned(), bdb::values(db).map_err(|e| e.to_string())));
                    break;
                }
            }
        }
        let Some((location, blobs)) = blobs else {
            for path in NDB {
                if input.view.read(path).is_some() {
                    found.warnings.push(format!("`{path}`: the rpm NDB database format is not supported"));
                }
            }
            return found;
        };
        let blobs = match blobs {
            Ok(b) => b,
            Err(e) => {
                found.warnings.push(format!("`{location}`: cannot read the rpm database: {e}"));
                return found;
            }
        };
        for blob in blobs {
            match header::Header::parse(&blob) {
                Ok(h) => {
                    let Some(mut package) = to_package(&h, &location) else {
                        continue;
                    };
                    package.files = h.files();
                    found.owned.extend(package.files.iter().filter(|f| is_language_metadata(f)).cloned());
                    found.packages.push(package);
                }
                Err(e) => found.warnings.push(format!("`{location}`: a record is not an rpm header: {e}")),
            }
        }
        found
    }
}

/// The header blobs of an `rpmdb.sqlite` (table `Packages(hnum, blob)`). rusqlite opens files
/// only, so the database (and its write-ahead log, which may hold the latest transactions) is
/// copied into a private temporary directory first.
fn sqlite_blobs(db: &[u8], wal: Option<&[u8]>) -> Blobs {
    let dir = tempfile::Builder::new().prefix("berth-rpmdb-").tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("rpmdb.sqlite");
    std::fs::File::create(&path).and_then(|mut f| f.write_all(db)).map_err(|e| e.to_string())?;
    if let Some(wal) = wal {
        std::fs::File::create(dir.path().join("rpmdb.sqlite-wal"))
            .and_then(|mut f| f.write_all(wal))
            .map_err(|e| e.to_string())?;
    }
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| e.to_string())?;
    let mut stmt = conn.prepare("SELECT blob FROM Packages ORDER BY hnum").map_err(|e| e.to_string())?;
    let rows = stmt.query_map([], |row| row.get::<_, Vec<u8>>(0)).map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
}

/// `name-version-release.src.rpm` → (name, version-release).
fn split_source_rpm(source: &str) -> Option<(String, String)> {
    let stem = source.strip_suffix(".rpm")?;
    let stem = stem.rsplit_once('.').map_or(stem, |(s, _arch)| s);
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    Some((name.to_owned(), format!("{version}-{release}")))
}

fn to_package(h: &header::Header, location: &str) -> Option<Package> {
    let name = h.string(header::NAME)?;
    // The `gpg-pubkey` pseudo-packages are imported keys, not software.
    if name == "gpg-pubkey" {
        return None;
    }
    let version = h.string(header::VERSION)?;
    let release = h.string(header::RELEASE).unwrap_or_default();
    let epoch = h.int(header::EPOCH).filter(|e| *e != 0);
    let evr = match epoch {
        Some(e) => format!("{e}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    let (source_name, source_version) = h
        .string(header::SOURCERPM)
        .and_then(|s| split_source_rpm(&s))
        .map(|(n, v)| {
            (
                n,
                match epoch {
                    Some(e) => format!("{e}:{v}"),
                    None => v,
                },
            )
        })
        .unwrap_or_else(|| (name.clone(), evr.clone()));
    let vendor = h.string(header::VENDOR);
    Some(Package {
        kind: PackageKind::Rpm,
        name,
        version: evr,
        source_name: Some(source_name),
        source_version: Some(source_version),
        arch: h.string(header::ARCH),
        licenses: h.string(header::LICENSE).map(|l| vec![l]).unwrap_or_default(),
        purl: String::new(),
        layer: None,
        location: location.to_owned(),
        origin: origin(vendor.as_deref(), &release),
        files: Vec::new(),
    })
}

/// Packages whose vendor is not a distribution's own: EPEL (built by Fedora for RHEL and its
/// rebuilds, release `.el*`), NeuroFedora is Fedora itself, vendors' repositories (NVIDIA, ...).
fn origin(vendor: Option<&str>, release: &str) -> Origin {
    let Some(vendor) = vendor else {
        return Origin::Distribution;
    };
    let lower = vendor.to_ascii_lowercase();
    let distribution = ["centos", "red hat", "rocky", "almalinux", "cloudlinux", "oracle"];
    if distribution.iter().any(|d| lower.contains(d)) {
        return Origin::Distribution;
    }
    if lower.contains("fedora") {
        // Fedora's own packages on Fedora; on Enterprise Linux (`el` releases), EPEL.
        return if release.contains(".el") {
            Origin::ThirdParty {
                repository: "EPEL".to_owned(),
                evidence: format!("vendor `{vendor}` on an `.el` release"),
            }
        } else {
            Origin::Distribution
        };
    }
    Origin::ThirdParty { repository: vendor.to_owned(), evidence: format!("rpm vendor `{vendor}`") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_rpm_names_split_at_the_last_two_dashes() {
        assert_eq!(split_source_rpm("bash-4.2.46-34.el7.src.rpm"), Some(("bash".into(), "4.2.46-34.el7".into())));
        assert_eq!(
            split_source_rpm("python-six-1.9.0-2.el7.src.rpm"),
            Some(("python-six".into(), "1.9.0-2.el7".into()))
        );
        assert_eq!(split_source_rpm("nonsense"), None);
    }

    #[test]
    fn epel_and_vendor_packages_are_flagged() {
        assert!(origin(Some("Fedora Project"), "1.el7").is_third_party());
        assert!(!origin(Some("Fedora Project"), "1.fc39").is_third_party());
        assert!(!origin(Some("CentOS"), "1.el7").is_third_party());
        assert!(origin(Some("NVIDIA Corporation"), "1").is_third_party());
        assert!(!origin(None, "1").is_third_party());
    }
}
