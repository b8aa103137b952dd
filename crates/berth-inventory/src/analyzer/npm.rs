//! npm packages: the `package.json` at the root of each package under `node_modules/`
//! (`node_modules/<name>/package.json`, `node_modules/@scope/<name>/package.json`), at any depth.

use serde::Deserialize;

use super::{Analyzer, Found, Input};
use crate::model::{Package, PackageKind};

/// The npm analyzer.
pub struct Npm;

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    license: Option<serde_json::Value>,
}

/// Whether `path` is a package root's `package.json` inside `node_modules`.
fn is_package_root(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let n = parts.len();
    if n < 3 || parts[n - 1] != "package.json" {
        return false;
    }
    if parts[n - 3] == "node_modules" {
        return !parts[n - 2].starts_with('@');
    }
    n >= 4 && parts[n - 4] == "node_modules" && parts[n - 3].starts_with('@')
}

impl Analyzer for Npm {
    fn name(&self) -> &'static str {
        "npm"
    }

    fn version(&self) -> u32 {
        2
    }

    fn required(&self, path: &str) -> bool {
        path.ends_with("/package.json") && path.contains("node_modules/") && is_package_root(path)
    }

    fn analyze(&self, input: &Input<'_>) -> Found {
        let mut found = Found::default();
        for path in &input.paths {
            let Some(bytes) = input.view.read(path) else {
                continue;
            };
            let Ok(manifest) = serde_json::from_slice::<Manifest>(bytes) else {
                found.warnings.push(format!("`{path}`: not a package.json"));
                continue;
            };
            let (Some(name), Some(version)) = (manifest.name, manifest.version) else {
                continue;
            };
            let licenses = match manifest.license {
                Some(serde_json::Value::String(s)) => vec![s],
                Some(serde_json::Value::Object(o)) => {
                    o.get("type").and_then(|t| t.as_str()).map(|t| vec![t.to_owned()]).unwrap_or_default()
                }
                _ => Vec::new(),
            };
            found.dirs.push(crate::fs::parent(path).to_owned());
            found.packages.push(Package { licenses, ..Package::language(PackageKind::Npm, name, version, path) });
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_package_roots_count() {
        assert!(is_package_root("usr/lib/node_modules/npm/package.json"));
        assert!(is_package_root("app/node_modules/@babel/core/package.json"));
        assert!(is_package_root("a/node_modules/x/node_modules/y/package.json"));
        assert!(!is_package_root("app/node_modules/x/lib/package.json"));
        assert!(!is_package_root("app/package.json"));
    }
}
