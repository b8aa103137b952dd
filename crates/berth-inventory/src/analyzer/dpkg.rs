//! Debian packages: `var/lib/dpkg/status` (and the one-file-per-package `status.d/` of
//! distroless images), with the files each package owns from `info/*.list` (`status.d/*.md5sums`).
//!
//! Only packages whose state is `installed` are listed (dpkg keeps removed-but-configured
//! packages in the status file too). The source package is the `Source:` field, whose
//! `(version)` is given only when it differs from the binary's (binNMUs, binary-only epochs);
//! otherwise the source version is the binary version.

use super::{Analyzer, Found, Input, field, is_language_metadata, stanza_fields, stanzas};
use crate::model::{Origin, Package, PackageKind};

/// The dpkg analyzer.
pub struct Dpkg;

const STATUS: &str = "var/lib/dpkg/status";
const STATUS_D: &str = "var/lib/dpkg/status.d/";
const INFO: &str = "var/lib/dpkg/info/";
const DIVERSIONS: &str = "var/lib/dpkg/diversions";

impl Analyzer for Dpkg {
    fn name(&self) -> &'static str {
        "dpkg"
    }

    fn version(&self) -> u32 {
        2
    }

    fn required(&self, path: &str) -> bool {
        path == STATUS
            || path == DIVERSIONS
            || path.strip_prefix(STATUS_D).is_some_and(|rest| !rest.contains('/'))
            || path.strip_prefix(INFO).is_some_and(|rest| !rest.contains('/') && rest.ends_with(".list"))
    }

    fn analyze(&self, input: &Input<'_>) -> Found {
        let mut found = Found::default();
        // `<package>[:<arch>]` → the files its `.list` or `.md5sums` names.
        let mut lists: Vec<(&str, Vec<String>)> = Vec::new();
        for path in &input.paths {
            let is_status_d = path.starts_with(STATUS_D);
            if *path != STATUS && !is_status_d {
                continue;
            }
            let Some(bytes) = input.view.read(path) else {
                continue;
            };
            if is_status_d && path.ends_with(".md5sums") {
                // `<package>.md5sums`: "<md5>  <path>" lines, paths without a leading `/`.
                let text = String::from_utf8_lossy(bytes);
                let listed: Vec<String> = text
                    .lines()
                    .filter_map(|l| l.split_once("  ").map(|(_, p)| p.trim_start_matches('/').to_owned()))
                    .collect();
                found.owned.extend(listed.iter().filter(|p| is_language_metadata(p)).cloned());
                lists
                    .push((path.strip_prefix(STATUS_D).and_then(|n| n.strip_suffix(".md5sums")).unwrap_or(""), listed));
                continue;
            }
            let text = String::from_utf8_lossy(bytes);
            for stanza in stanzas(&text) {
                if let Some(package) = parse_stanza(stanza, path) {
                    found.packages.push(package);
                } else if !stanza.trim().is_empty() && field(&stanza_fields(stanza), "Package").is_none() {
                    found.warnings.push(format!("`{path}`: a stanza without `Package:` was skipped"));
                }
            }
        }
        for path in input.paths.iter().filter(|p| p.starts_with(INFO)) {
            if let Some(bytes) = input.view.read(path) {
                let text = String::from_utf8_lossy(bytes);
                let mut listed = Vec::new();
                for line in text.lines().map(|l| l.trim_start_matches('/')).filter(|l| !l.is_empty()) {
                    if is_language_metadata(line) {
                        found.owned.push(line.to_owned());
                    }
                    listed.push(line.to_owned());
                }
                lists.push((path.strip_prefix(INFO).and_then(|n| n.strip_suffix(".list")).unwrap_or(""), listed));
            }
        }
        // Each list to its package (`name`, or `name:arch` for Multi-Arch: same packages);
        // a list of no installed package still claims its files.
        let index: std::collections::HashMap<(&str, Option<&str>), usize> = found
            .packages
            .iter()
            .enumerate()
            .flat_map(|(i, p)| [((p.name.as_str(), None), i), ((p.name.as_str(), p.arch.as_deref()), i)])
            .collect();
        let mut files = Vec::new();
        let mut attached: Vec<(usize, Vec<String>)> = Vec::new();
        for (stem, listed) in lists {
            let key = match stem.split_once(':') {
                Some((name, arch)) => (name, Some(arch)),
                None => (stem, None),
            };
            match index.get(&key) {
                Some(&i) => attached.push((i, listed)),
                None => files.extend(listed),
            }
        }
        for (i, listed) in attached {
            found.packages[i].files.extend(listed);
        }
        if let Some(bytes) = input.view.read(DIVERSIONS) {
            apply_diversions(&mut found.packages, &String::from_utf8_lossy(bytes));
        }
        found.files = files;
        found
    }
}

/// `var/lib/dpkg/diversions` (triples of lines: the path, where it was diverted to, the
/// diverting package or `:` for a local diversion): a package other than the diverting one
/// that lists the path has its file at the diverted-to path. Reachability must see that file
/// as that package's, or a tool using it would leave the package "not reached".
fn apply_diversions(packages: &mut [Package], text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    for triple in lines.chunks_exact(3) {
        let (from, to, by) = (triple[0].trim_start_matches('/'), triple[1].trim_start_matches('/'), triple[2]);
        for p in packages.iter_mut().filter(|p| p.name != by) {
            for f in p.files.iter_mut().filter(|f| f.trim_start_matches('/') == from) {
                *f = to.to_owned();
            }
        }
    }
}

/// One installed package from a status stanza; `None` for stanzas of packages not installed.
fn parse_stanza(stanza: &str, location: &str) -> Option<Package> {
    let fields = stanza_fields(stanza);
    let name = field(&fields, "Package")?.to_owned();
    // "want flag state": only `installed` packages have their files on disk as a whole.
    if let Some(status) = field(&fields, "Status")
        && status.split_whitespace().nth(2) != Some("installed")
    {
        return None;
    }
    let version = field(&fields, "Version")?.to_owned();
    let (source_name, source_version) = match field(&fields, "Source") {
        Some(source) => match source.split_once(' ') {
            Some((n, v)) => (n.to_owned(), v.trim().trim_start_matches('(').trim_end_matches(')').to_owned()),
            None => (source.to_owned(), version.clone()),
        },
        None => (name.clone(), version.clone()),
    };
    let origin = origin(&version);
    Some(Package {
        kind: PackageKind::Deb,
        name,
        version,
        source_name: Some(source_name),
        source_version: Some(source_version),
        arch: field(&fields, "Architecture").map(str::to_owned),
        licenses: Vec::new(),
        purl: String::new(),
        layer: None,
        location: location.to_owned(),
        origin,
        files: Vec::new(),
    })
}

/// Where a Debian package comes from, judged by marks repositories leave in versions.
///
/// NeuroDebian rebuilds carry `~nd<release>+<n>` (`1.0-1~nd120+1`) or `+nd<n>`; Launchpad PPAs
/// `~ppa`; NodeSource `nodesource`. Such packages are not in the distribution's archive, so the
/// distribution's security tracker may not describe them.
pub fn origin(version: &str) -> Origin {
    let revision = version.rsplit_once('-').map_or(version, |(_, r)| r);
    let nd = |marker: &str| {
        revision
            .match_indices(marker)
            .any(|(i, _)| revision[i + marker.len()..].chars().next().is_some_and(|c| c.is_ascii_digit()))
    };
    // Not the maintainer: the NeuroDebian team also maintains packages inside Debian proper
    // (python3-nibabel, ...), which the Debian tracker covers.
    if nd("~nd") || nd("+nd") {
        return Origin::ThirdParty {
            repository: "NeuroDebian".to_owned(),
            evidence: format!("version `{version}` carries NeuroDebian's `nd` suffix"),
        };
    }
    if version.contains("~ppa") {
        return Origin::ThirdParty {
            repository: "Launchpad PPA".to_owned(),
            evidence: format!("version `{version}` carries a PPA's `~ppa` suffix"),
        };
    }
    if version.contains("nodesource") {
        return Origin::ThirdParty {
            repository: "NodeSource".to_owned(),
            evidence: format!("version `{version}` is a NodeSource build"),
        };
    }
    Origin::Distribution
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_name_and_version_map_as_dpkg_records_them() {
        let plain = parse_stanza(
            "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\nSource: bash\nArchitecture: amd64\n",
            STATUS,
        )
        .expect("bash");
        assert_eq!(
            (plain.source_name.as_deref(), plain.source_version.as_deref()),
            (Some("bash"), Some("5.2.15-2+b2"))
        );
        let binnmu = parse_stanza("Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4+b1\nSource: glibc (2.36-9+deb12u4)\n", STATUS).expect("libc6");
        assert_eq!(
            (binnmu.source_name.as_deref(), binnmu.source_version.as_deref()),
            (Some("glibc"), Some("2.36-9+deb12u4"))
        );
        let epoch = parse_stanza(
            "Package: dmsetup\nStatus: install ok installed\nVersion: 2:1.02.185-2\nSource: lvm2 (2.03.16-2)\n",
            STATUS,
        )
        .expect("dmsetup");
        assert_eq!(epoch.source_version.as_deref(), Some("2.03.16-2"));
        let nosource =
            parse_stanza("Package: tzdata\nStatus: install ok installed\nVersion: 2024a-0+deb12u1\n", STATUS)
                .expect("tzdata");
        assert_eq!(
            (nosource.source_name.as_deref(), nosource.source_version.as_deref()),
            (Some("tzdata"), Some("2024a-0+deb12u1"))
        );
    }

    #[test]
    fn a_diverted_file_belongs_to_its_package_at_the_diverted_path() {
        let mut packages = vec![
            Package {
                files: vec!["/bin/sh".into(), "/bin/x".into()],
                ..Package::language(PackageKind::Deb, "bash".into(), "1".into(), STATUS)
            },
            Package {
                files: vec!["/bin/sh".into()],
                ..Package::language(PackageKind::Deb, "dash".into(), "1".into(), STATUS)
            },
        ];
        apply_diversions(&mut packages, "/bin/sh\n/bin/sh.distrib\ndash\n/usr/bin/y\n/usr/bin/y.real\n:\n");
        assert_eq!(packages[0].files, ["bin/sh.distrib", "/bin/x"]);
        assert_eq!(packages[1].files, ["/bin/sh"], "the diverting package keeps the path");
    }

    #[test]
    fn packages_not_installed_are_skipped() {
        assert!(parse_stanza("Package: old\nStatus: deinstall ok config-files\nVersion: 1\n", STATUS).is_none());
        assert!(parse_stanza("Package: half\nStatus: install ok half-installed\nVersion: 1\n", STATUS).is_none());
    }

    #[test]
    fn neurodebian_and_vendor_builds_are_flagged() {
        assert!(origin("3.0.1-1~nd120+1").is_third_party());
        assert!(origin("6.0.5-1+nd1").is_third_party());
        assert!(origin("20.11.0-1nodesource1").is_third_party());
        assert!(!origin("2.36-9+deb12u4").is_third_party());
        // `~nd` must be followed by a digit: not every `nd` is NeuroDebian.
        assert!(!origin("1.0-1~ndebug").is_third_party());
    }
}
