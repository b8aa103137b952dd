//! R packages: the `DESCRIPTION` file of each installed package, in an R library
//! (`usr/lib/R/library/stats/`, `usr/local/lib/R/site-library/ggplot2/`, an renv or conda
//! library). Installed packages carry a `Built:` field, which source trees do not: only those
//! are listed. Packages Debian installed (`r-cran-*`, whose DESCRIPTION dpkg's lists own) are
//! dropped by the applier and counted once, as the deb.

use super::{Analyzer, Found, Input, field, stanza_fields};
use crate::model::{Origin, Package, PackageKind};

/// The R analyzer.
pub struct R;

/// Whether `path` is where an installed R package records itself: `<library>/<pkg>/DESCRIPTION`
/// under a directory whose name says it is a library.
pub fn is_description(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("/DESCRIPTION") else { return false };
    let mut ancestors = dir.rsplit('/').skip(1);
    ancestors.any(|c| c.ends_with("library"))
}

impl Analyzer for R {
    fn name(&self) -> &'static str {
        "r"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        is_description(path)
    }

    fn analyze(&self, input: &Input<'_>) -> Found {
        let mut found = Found::default();
        for path in &input.paths {
            let Some(bytes) = input.view.read(path) else { continue };
            let text = String::from_utf8_lossy(bytes);
            let fields = stanza_fields(&text);
            let (Some(name), Some(version)) = (field(&fields, "Package"), field(&fields, "Version")) else {
                found.warnings.push(format!("`{path}`: no `Package` and `Version` in the DESCRIPTION"));
                continue;
            };
            if field(&fields, "Built").is_none() {
                // A package's source tree, not an installed package.
                continue;
            }
            let licenses =
                field(&fields, "License").filter(|l| !l.contains('\n')).map(|l| vec![l.to_owned()]).unwrap_or_default();
            // Base R's own packages (stats, utils) say `Priority: base` and come with R itself.
            let origin = match field(&fields, "Repository") {
                Some(repo) if !matches!(repo, "CRAN" | "RSPM") && !repo.starts_with("https://") => Origin::ThirdParty {
                    repository: repo.to_owned(),
                    evidence: format!("`Repository: {repo}` in the DESCRIPTION"),
                },
                _ => Origin::Distribution,
            };
            found.dirs.push(crate::fs::parent(path).to_owned());
            found.packages.push(Package {
                licenses,
                origin,
                ..Package::language(PackageKind::R, name.trim().to_owned(), version.trim().to_owned(), path)
            });
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_in_libraries_only() {
        assert!(is_description("usr/lib/R/site-library/ggplot2/DESCRIPTION"));
        assert!(is_description("usr/lib/R/library/stats/DESCRIPTION"));
        assert!(is_description("opt/conda/lib/R/library/Matrix/DESCRIPTION"));
        assert!(is_description("srv/app/renv/library/R-4.3/x86_64-pc-linux-gnu/dplyr/DESCRIPTION"));
        assert!(!is_description("home/u/src/mypkg/DESCRIPTION"));
        assert!(!is_description("usr/lib/R/site-library/ggplot2/doc/DESCRIPTION.txt"));
    }
}
