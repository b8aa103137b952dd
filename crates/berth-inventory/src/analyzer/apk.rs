//! Alpine packages: `lib/apk/db/installed`, one block per package (`P:` name, `V:` version,
//! `A:` architecture, `o:` origin, which is the source package, `L:` licence, `F:`/`R:` files).

use super::{Analyzer, Found, Input, is_language_metadata, stanzas};
use crate::model::{Origin, Package, PackageKind};

/// The apk analyzer.
pub struct Apk;

const INSTALLED: &str = "lib/apk/db/installed";

impl Analyzer for Apk {
    fn name(&self) -> &'static str {
        "apk"
    }

    fn version(&self) -> u32 {
        2
    }

    fn required(&self, path: &str) -> bool {
        path == INSTALLED
    }

    fn analyze(&self, input: &Input<'_>) -> Found {
        let mut found = Found::default();
        let Some(bytes) = input.view.read(INSTALLED) else {
            return found;
        };
        let text = String::from_utf8_lossy(bytes);
        for block in stanzas(&text) {
            let get = |key: char| {
                block.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':'))).map(str::to_owned)
            };
            let (Some(name), Some(version)) = (get('P'), get('V')) else {
                found.warnings.push(format!("`{INSTALLED}`: a block without `P:` or `V:` was skipped"));
                continue;
            };
            let mut folder = String::new();
            let mut files = Vec::new();
            for line in block.lines() {
                if let Some(f) = line.strip_prefix("F:") {
                    folder = f.to_owned();
                } else if let Some(r) = line.strip_prefix("R:") {
                    let path = if folder.is_empty() { r.to_owned() } else { format!("{folder}/{r}") };
                    if is_language_metadata(&path) {
                        found.owned.push(path.clone());
                    }
                    files.push(path);
                }
            }
            found.packages.push(Package {
                kind: PackageKind::Apk,
                source_name: Some(get('o').unwrap_or_else(|| name.clone())),
                source_version: Some(version.clone()),
                arch: get('A'),
                licenses: get('L').map(|l| vec![l]).unwrap_or_default(),
                purl: String::new(),
                layer: None,
                location: INSTALLED.to_owned(),
                origin: Origin::Distribution,
                name,
                version,
                files,
            });
        }
        found
    }
}
