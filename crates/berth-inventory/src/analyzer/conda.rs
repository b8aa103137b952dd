//! conda packages: `conda-meta/<name>-<version>-<build>.json` in every environment, with the
//! files each installed (so the Python distributions conda installed are not counted twice).

use serde::Deserialize;

use super::{Analyzer, Found, Input, is_language_metadata};
use crate::model::{Origin, Package, PackageKind};

/// The conda analyzer.
pub struct Conda;

#[derive(Deserialize)]
struct Meta {
    name: String,
    version: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    subdir: Option<String>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    files: Vec<String>,
}

impl Analyzer for Conda {
    fn name(&self) -> &'static str {
        "conda"
    }

    fn version(&self) -> u32 {
        2
    }

    fn required(&self, path: &str) -> bool {
        path.ends_with(".json") && super::super::fs::parent(path).ends_with("conda-meta")
    }

    fn analyze(&self, input: &Input<'_>) -> Found {
        let mut found = Found::default();
        for path in &input.paths {
            let Some(bytes) = input.view.read(path) else {
                continue;
            };
            let meta: Meta = match serde_json::from_slice(bytes) {
                Ok(m) => m,
                Err(e) => {
                    found.warnings.push(format!("`{path}`: not conda metadata: {e}"));
                    continue;
                }
            };
            // Paths in `files` are relative to the environment, the parent of conda-meta.
            let env = super::super::fs::parent(super::super::fs::parent(path));
            let mut files = Vec::with_capacity(meta.files.len());
            for f in &meta.files {
                let f = if env.is_empty() { f.clone() } else { format!("{env}/{f}") };
                if is_language_metadata(&f) {
                    found.owned.push(f.clone());
                }
                files.push(f);
            }
            // `https://conda.anaconda.org/conda-forge/linux-64`: the channel is the segment
            // before the platform subdirectory.
            let channel = meta.channel.as_deref().map(|c| {
                let mut segments: Vec<&str> = c.trim_end_matches('/').split('/').collect();
                if segments.len() > 1
                    && (Some(*segments.last().unwrap_or(&"")) == meta.subdir.as_deref()
                        || segments.last() == Some(&"noarch"))
                {
                    segments.pop();
                }
                segments.last().copied().unwrap_or(c)
            });
            let origin = match channel {
                Some(c) if !matches!(c, "conda-forge" | "main" | "free" | "r" | "msys2" | "defaults" | "pkgs") => {
                    Origin::ThirdParty { repository: c.to_owned(), evidence: format!("conda channel `{c}`") }
                }
                _ => Origin::Distribution,
            };
            found.packages.push(Package {
                arch: meta.subdir.clone(),
                licenses: meta.license.map(|l| vec![l]).unwrap_or_default(),
                origin,
                files,
                ..Package::language(PackageKind::Conda, meta.name, meta.version, path)
            });
        }
        found
    }
}
