//! Reachability: which packages traced runs of an image used.
//!
//! A traced run (`berth run --trace`) records every path its processes opened, executed or had
//! the kernel load as an interpreter, as they named it. Those paths are resolved inside the
//! image as the kernel resolved them (every symbolic link on the way, [`crate::fs::Links`]);
//! a package is **reached** when one of its files is such a path, the end of one, or a link
//! followed on the way (`/usr/bin/python3` reaches both the package of the link and the one of
//! `python3.11`). Only successful opens, executions and interpreter loads count: a `stat` or a
//! failed lookup along a search path loads no code.
//!
//! A package is **not reached** only when its file list is known and no file of it was
//! accessed; a package whose files are unknown (a database without file lists) is
//! **unknown**, never "not reached".

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::fs::{Links, parent};
use crate::model::{Package, PackageKind};

/// What the traced runs did with a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    /// One of its files was opened, executed or loaded.
    Reached,
    /// Its files are known and none was.
    NotReached,
    /// Its files are not known.
    Unknown,
}

impl Reach {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reached => "reached",
            Self::NotReached => "not-reached",
            Self::Unknown => "unknown",
        }
    }
}

/// Every path of the image the traced runs used, resolved, plus the links followed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accessed {
    paths: HashSet<String>,
}

impl Accessed {
    /// The paths of `accessed` (absolute, as the traced processes named them) resolved through
    /// `links`.
    pub fn resolve<'a>(links: &Links, accessed: impl IntoIterator<Item = &'a str>) -> Self {
        let mut paths = HashSet::new();
        for raw in accessed {
            let Ok(path) = crate::fs::clean(raw) else { continue };
            let mut followed = Vec::new();
            let end = links.resolve_each(&path, &mut |l| followed.push(l.to_owned()));
            paths.extend(followed);
            if let Some(end) = end {
                paths.insert(end);
            }
            paths.insert(path);
        }
        Self { paths }
    }

    /// How many paths.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether none.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Whether `path` (cleaned, no leading `/`) was used.
    pub fn contains(&self, path: &str) -> bool {
        self.paths.contains(path)
    }
}

/// Whether `package` was reached, with up to `max_evidence` of its files that were.
pub fn reach(package: &Package, links: &Links, accessed: &Accessed, max_evidence: usize) -> (Reach, Vec<String>) {
    let mut evidence = Vec::new();
    if package.files.is_empty() {
        // A package that owns its whole directory (npm, R): anything beneath it.
        let dir = match package.kind {
            PackageKind::Npm | PackageKind::R => parent(&package.location),
            _ => return (Reach::Unknown, evidence),
        };
        let dirs: Vec<String> = [Some(dir.to_owned()), links.resolve(dir)].into_iter().flatten().collect();
        let mut hits: Vec<&String> =
            accessed.paths.iter().filter(|p| dirs.iter().any(|d| p.starts_with(&format!("{d}/")))).collect();
        if hits.is_empty() {
            return (Reach::NotReached, evidence);
        }
        hits.sort();
        evidence.extend(hits.into_iter().take(max_evidence).map(|p| format!("/{p}")));
        return (Reach::Reached, evidence);
    }
    // Directories a package lists (dpkg lists every directory it creates files in) are shared
    // with other packages, and listing one loads nothing: only the package's leaves count.
    let cleaned: Vec<String> = package.files.iter().filter_map(|f| crate::fs::clean(f).ok()).collect();
    let dirs: HashSet<&str> = cleaned.iter().map(|f| parent(f)).collect();
    for clean in cleaned.iter().filter(|f| !dirs.contains(f.as_str())) {
        // The directory resolved (merged /usr: `/bin/dash` is `usr/bin/dash`), the name not:
        // a package's link to another package's file (a -dev package's `libx.so`) is reached
        // only when the link itself was followed.
        let dir = parent(clean);
        let hit = accessed.contains(clean)
            || (!dir.is_empty()
                && links
                    .resolve(dir)
                    .is_some_and(|d| d != dir && accessed.contains(&format!("{d}/{}", crate::fs::file_name(clean)))));
        if hit {
            evidence.push(format!("/{clean}"));
            if evidence.len() >= max_evidence {
                break;
            }
        }
    }
    if evidence.is_empty() { (Reach::NotReached, evidence) } else { (Reach::Reached, evidence) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{Entry, LayerFiles, View};

    fn links(pairs: &[(&str, &str)]) -> Links {
        let mut layer = LayerFiles::default();
        for (p, t) in pairs {
            layer.entries.insert((*p).into(), Entry::Symlink((*t).into()));
        }
        let mut view = View::default();
        view.apply(0, layer);
        view.into_links()
    }

    fn package(name: &str, files: &[&str]) -> Package {
        Package {
            files: files.iter().map(|f| (*f).to_owned()).collect(),
            ..Package::language(PackageKind::Deb, name.into(), "1".into(), "var/lib/dpkg/status")
        }
    }

    #[test]
    fn links_on_the_way_and_at_the_end_reach_their_packages() {
        // Merged /usr, an alternative-style link, a versioned interpreter.
        let l = links(&[("bin", "usr/bin"), ("usr/bin/python3", "python3.11"), ("lib64/ld.so", "/lib/x/ld.so")]);
        let a = Accessed::resolve(&l, ["/bin/python3", "/lib64/ld.so"]);
        let minimal = package("python3-minimal", &["/usr/bin/python3"]);
        let interpreter = package("python3.11-minimal", &["/usr/bin/python3.11"]);
        let libc = package("libc6", &["/lib/x/ld.so", "/lib64/ld.so"]);
        let unused = package("perl-base", &["/usr/bin/perl"]);
        assert_eq!(reach(&minimal, &l, &a, 3).0, Reach::Reached);
        assert_eq!(reach(&interpreter, &l, &a, 3), (Reach::Reached, vec!["/usr/bin/python3.11".to_owned()]));
        assert_eq!(reach(&libc, &l, &a, 3).0, Reach::Reached);
        assert_eq!(reach(&unused, &l, &a, 3), (Reach::NotReached, Vec::new()));
        // A package file listed through a linked directory (`/bin/dash`) matches the path it
        // resolves to.
        let dash = package("dash", &["/bin", "/bin/dash"]);
        let a = Accessed::resolve(&l, ["/usr/bin/dash"]);
        assert_eq!(reach(&dash, &l, &a, 3).0, Reach::Reached);
    }

    #[test]
    fn shared_directories_and_links_to_other_packages_files_reach_nothing() {
        let l = links(&[("usr/lib/gcc/12/libgcc_s.so", "/lib/x/libgcc_s.so.1")]);
        let a = Accessed::resolve(&l, ["/lib/x/libgcc_s.so.1", "/usr/lib/python3.11"]);
        // libgcc-12-dev's development link points at libgcc-s1's library, which was loaded.
        let dev = package("libgcc-12-dev", &["/usr/lib/gcc/12", "/usr/lib/gcc/12/libgcc_s.so"]);
        assert_eq!(reach(&dev, &l, &a, 3).0, Reach::NotReached);
        assert_eq!(reach(&package("libgcc-s1", &["/lib/x/libgcc_s.so.1"]), &l, &a, 3).0, Reach::Reached);
        // A directory the interpreter listed is shared by every package with files in it.
        let venv = package("python3.11-venv", &["/usr/lib/python3.11", "/usr/lib/python3.11/ensurepip.py"]);
        assert_eq!(reach(&venv, &l, &a, 3).0, Reach::NotReached);
    }

    #[test]
    fn unknown_files_are_never_not_reached() {
        let l = Links::default();
        let a = Accessed::resolve(&l, ["/usr/bin/x"]);
        assert_eq!(reach(&package("nolist", &[]), &l, &a, 3).0, Reach::Unknown);
        let npm = Package::language(
            PackageKind::Npm,
            "left-pad".into(),
            "1".into(),
            "app/node_modules/left-pad/package.json",
        );
        assert_eq!(reach(&npm, &l, &a, 3).0, Reach::NotReached);
        let a = Accessed::resolve(&l, ["/app/node_modules/left-pad/index.js"]);
        assert_eq!(reach(&npm, &l, &a, 3).0, Reach::Reached);
    }
}
