//! Package URLs (purl spec: `pkg:type/namespace/name@version?qualifiers`) for every package,
//! with the `packageurl` crate doing the encoding.
//!
//! Conventions follow the purl type definitions and what Syft and Trivy write, so that purls
//! can be compared across tools: `pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12.5`,
//! `pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=3.19.1`,
//! `pkg:rpm/centos/bash@4.2.46-34.el7?arch=x86_64&epoch=1&distro=centos-7.9.2009`,
//! `pkg:pypi/pyyaml@6.0.1`, `pkg:npm/%40babel/core@7.0.0`, `pkg:conda/numpy@1.26.4`.

use packageurl::PackageUrl;

use crate::model::{Os, Package, PackageKind};

/// The purl of `package`, found on a system running `os`.
pub fn purl(package: &Package, os: Option<&Os>) -> String {
    build(package, os).unwrap_or_else(|e| format!("pkg:generic/{}@{}#invalid-purl:{e}", package.name, package.version))
}

fn build(package: &Package, os: Option<&Os>) -> Result<String, packageurl::Error> {
    let distro = os.map(|o| match package.kind {
        PackageKind::Apk => o.version.clone(),
        _ => format!("{}-{}", o.id, o.version),
    });
    let p = match package.kind {
        PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm => {
            let mut p = PackageUrl::new(package.kind.as_str(), package.name.as_str())?;
            let namespace = os.map_or_else(
                || match package.kind {
                    PackageKind::Deb => "debian".to_owned(),
                    PackageKind::Apk => "alpine".to_owned(),
                    _ => "redhat".to_owned(),
                },
                |o| o.id.clone(),
            );
            p.with_namespace(namespace)?;
            let version = match package.kind {
                // rpm puts the epoch in a qualifier, not the version.
                PackageKind::Rpm => match package.version.split_once(':') {
                    Some((epoch, rest)) => {
                        p.add_qualifier("epoch", epoch.to_owned())?;
                        rest.to_owned()
                    }
                    None => package.version.clone(),
                },
                _ => package.version.clone(),
            };
            p.with_version(version)?;
            if let Some(arch) = &package.arch {
                p.add_qualifier("arch", arch.clone())?;
            }
            if let Some(distro) = distro {
                p.add_qualifier("distro", distro)?;
            }
            p
        }
        PackageKind::Python => {
            let name = package.normalized_name();
            let mut p = PackageUrl::new("pypi", name)?;
            p.with_version(package.version.clone())?;
            p
        }
        PackageKind::Conda => {
            let mut p = PackageUrl::new("conda", package.name.to_ascii_lowercase())?;
            p.with_version(package.version.clone())?;
            if let Some(subdir) = &package.arch {
                p.add_qualifier("subdir", subdir.clone())?;
            }
            p
        }
        PackageKind::Npm => {
            let (namespace, name) = match package.name.split_once('/') {
                Some((scope, name)) if scope.starts_with('@') => (Some(scope.to_owned()), name.to_owned()),
                _ => (None, package.name.clone()),
            };
            let mut p = PackageUrl::new("npm", name)?;
            if let Some(ns) = namespace {
                p.with_namespace(ns)?;
            }
            p.with_version(package.version.clone())?;
            p
        }
        PackageKind::Go => {
            // `pkg:golang/github.com/x/y@v1.2.3`: the last segment is the name, the rest the
            // namespace; Go versions keep their `v` in purls (the standard library has none).
            let (namespace, name) = match package.name.rsplit_once('/') {
                Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
                None => (None, package.name.clone()),
            };
            let mut p = PackageUrl::new("golang", name)?;
            if let Some(ns) = namespace {
                p.with_namespace(ns)?;
            }
            let version =
                if package.name == "stdlib" { package.version.clone() } else { format!("v{}", package.version) };
            p.with_version(version)?;
            p
        }
        PackageKind::R => {
            let mut p = PackageUrl::new("cran", package.name.clone())?;
            p.with_version(package.version.clone())?;
            p
        }
        PackageKind::Rust => {
            let mut p = PackageUrl::new("cargo", package.name.clone())?;
            p.with_version(package.version.clone())?;
            p
        }
    };
    Ok(p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Origin, OsFamily};

    fn pkg(kind: PackageKind, name: &str, version: &str, arch: Option<&str>) -> Package {
        Package {
            kind,
            name: name.into(),
            version: version.into(),
            source_name: None,
            source_version: None,
            arch: arch.map(str::to_owned),
            licenses: Vec::new(),
            purl: String::new(),
            layer: None,
            location: String::new(),
            origin: Origin::Distribution,
            files: Vec::new(),
        }
    }

    fn os(id: &str, family: OsFamily, version: &str) -> Os {
        Os { family, id: id.into(), version: version.into(), codename: None, pretty_name: None, source: String::new() }
    }

    #[test]
    fn purls_follow_the_type_definitions() {
        let debian = os("debian", OsFamily::Debian, "12.5");
        assert_eq!(
            purl(&pkg(PackageKind::Deb, "libc6", "2.36-9+deb12u4", Some("amd64")), Some(&debian)),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12.5"
        );
        let centos = os("centos", OsFamily::Redhat, "7.9.2009");
        assert_eq!(
            purl(&pkg(PackageKind::Rpm, "bash", "1:4.2.46-34.el7", Some("x86_64")), Some(&centos)),
            "pkg:rpm/centos/bash@4.2.46-34.el7?arch=x86_64&distro=centos-7.9.2009&epoch=1"
        );
        assert_eq!(purl(&pkg(PackageKind::Python, "PyYAML", "6.0.1", None), None), "pkg:pypi/pyyaml@6.0.1");
        assert_eq!(purl(&pkg(PackageKind::Npm, "@babel/core", "7.0.0", None), None), "pkg:npm/%40babel/core@7.0.0");
    }
}
