//! Python distributions: `*.dist-info/METADATA` (wheels, pip), `*.egg-info/PKG-INFO` and
//! single-file `*.egg-info` (setuptools, distutils, Debian's python3-* packages).
//!
//! Names are kept as the metadata spells them; [`Package::normalized_name`] gives the PEP 503
//! form used to match advisories and to compare with other tools. Distributions that an OS
//! package installed are dropped later by the applier, from the OS analyzers' owned files.

use super::{Analyzer, Found, Input, field, stanza_fields};
use crate::model::{Package, PackageKind};

/// The Python analyzer.
pub struct Python;

impl Analyzer for Python {
    fn name(&self) -> &'static str {
        "python"
    }

    fn version(&self) -> u32 {
        2
    }

    fn required(&self, path: &str) -> bool {
        path.ends_with(".dist-info/METADATA")
            || path.ends_with(".egg-info/PKG-INFO")
            || path.ends_with(".egg-info")
            || path.ends_with(".dist-info/RECORD")
            || path.ends_with(".egg-info/installed-files.txt")
    }

    fn analyze(&self, input: &Input<'_>) -> Found {
        let mut found = Found::default();
        // The `.dist-info` or `.egg-info` directory → the files its list names.
        let mut lists: std::collections::HashMap<&str, Vec<String>> = std::collections::HashMap::new();
        for path in &input.paths {
            if let Some(record) = path.strip_suffix("/RECORD") {
                // Paths relative to the directory that holds the `.dist-info`.
                if let Some(bytes) = input.view.read(path) {
                    let base = crate::fs::parent(record);
                    lists
                        .entry(record)
                        .or_default()
                        .extend(String::from_utf8_lossy(bytes).lines().filter_map(|l| installed(base, record_path(l))));
                }
                continue;
            }
            if let Some(egg) = path.strip_suffix("/installed-files.txt") {
                // Paths relative to the `.egg-info` directory itself.
                if let Some(bytes) = input.view.read(path) {
                    lists
                        .entry(egg)
                        .or_default()
                        .extend(String::from_utf8_lossy(bytes).lines().filter_map(|l| installed(egg, l)));
                }
                continue;
            }
            // A directory named `x.egg-info` is recorded only through its PKG-INFO.
            let Some(bytes) = input.view.read(path) else {
                continue;
            };
            let text = String::from_utf8_lossy(bytes);
            match parse(&text, path) {
                Some(p) => found.packages.push(p),
                None => found.warnings.push(format!("`{path}`: no `Name` and `Version` in the metadata")),
            }
        }
        for p in &mut found.packages {
            if let Some(files) = lists.remove(record_of(&p.location)) {
                p.files = files;
            }
        }
        // Lists of no distribution read (a RECORD without METADATA) still claim their files.
        found.files = lists.into_values().flatten().collect();
        found
    }
}

/// The path field of a `RECORD` line (CSV: `path,hash,size`, the path quoted when it holds a
/// comma or a quote).
fn record_path(line: &str) -> &str {
    match line.strip_prefix('"') {
        // A doubled quote inside is rare enough that the path is only used to claim a file.
        Some(rest) => rest.split_once("\",").map_or(rest, |(p, _)| p),
        None => line.rsplitn(3, ',').last().unwrap_or(line),
    }
}

/// `rel` (relative to `base`, possibly climbing out of it with `..`) as a path of the image.
fn installed(base: &str, rel: &str) -> Option<String> {
    if rel.is_empty() {
        return None;
    }
    let joined = if rel.starts_with('/') || base.is_empty() { rel.to_owned() } else { format!("{base}/{rel}") };
    crate::fs::clean(&joined).ok()
}

/// The directory (or single file) that records a distribution, which OS packages list when
/// they install it.
pub fn record_of(location: &str) -> &str {
    location.strip_suffix("/METADATA").or_else(|| location.strip_suffix("/PKG-INFO")).unwrap_or(location)
}

fn parse(text: &str, location: &str) -> Option<Package> {
    // The headers end at the first blank line; the description follows.
    let headers = text.split("\n\n").next().unwrap_or_default();
    let fields = stanza_fields(headers);
    let name = field(&fields, "Name")?.trim().to_owned();
    let version = field(&fields, "Version")?.trim().to_owned();
    if name.is_empty() || version.is_empty() {
        return None;
    }
    let licenses = field(&fields, "License-Expression")
        .or_else(|| field(&fields, "License"))
        .filter(|l| !l.is_empty() && *l != "UNKNOWN" && !l.contains('\n'))
        .map(|l| vec![l.to_owned()])
        .unwrap_or_default();
    Some(Package { licenses, ..Package::language(PackageKind::Python, name, version, location) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_headers_give_name_version_and_licence() {
        let p = parse(
            "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.1\nLicense: MIT\n\nLicense: not a header\n",
            "usr/lib/x/PyYAML-6.0.1.dist-info/METADATA",
        )
        .expect("pyyaml");
        assert_eq!((p.name.as_str(), p.version.as_str()), ("PyYAML", "6.0.1"));
        assert_eq!(p.normalized_name(), "pyyaml");
        assert_eq!(p.licenses, vec!["MIT".to_owned()]);
        assert!(parse("Metadata-Version: 2.1\nName: x\n", "m").is_none());
    }

    #[test]
    fn record_lines_name_files_relative_to_site_packages() {
        assert_eq!(
            record_path("numpy/core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so,sha256=x,123"),
            "numpy/core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so"
        );
        assert_eq!(record_path("\"a,b.py\",sha256=x,1"), "a,b.py");
        assert_eq!(record_path("x.dist-info/RECORD,,"), "x.dist-info/RECORD");
        assert_eq!(installed("usr/lib/python3/site-packages", "../../../bin/f2py").as_deref(), Some("usr/bin/f2py"));
        assert_eq!(installed("a", "../../../../x"), None);
    }

    #[test]
    fn the_record_is_the_directory_or_the_single_file() {
        assert_eq!(record_of("a/numpy-1.24.2.egg-info/PKG-INFO"), "a/numpy-1.24.2.egg-info");
        assert_eq!(record_of("a/six-1.16.0.dist-info/METADATA"), "a/six-1.16.0.dist-info");
        assert_eq!(record_of("a/distro-1.0.egg-info"), "a/distro-1.0.egg-info");
    }
}
