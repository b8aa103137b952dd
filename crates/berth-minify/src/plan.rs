//! The plan: which packages stay (each with a reason), which go, which files are deleted,
//! and which files no package owns and the run never touched.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::db::Manager;
use crate::error::MinifyError;
use crate::trace::Trace;

/// What the caller asks of a minification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinifyOptions {
    /// Also keep these: an absolute path (its owners, through symlinks, are kept; for a
    /// directory, the owners of every file under it) or a package name.
    pub keep: Vec<String>,
    /// Delete files no package owns that the run never accessed (outside `/etc` and `/var/lib`,
    /// which hold state maintainer scripts wrote). Off: they are only reported.
    pub prune_unowned: bool,
    /// Absolute paths never touched: runtime mounts (`/proc`, `/sys`, `/dev`, berth's own
    /// `/berth`) and anything else the caller mounts over the image.
    pub protect: Vec<PathBuf>,
}

impl Default for MinifyOptions {
    /// Nothing kept beyond what the run needs, unowned files reported only, the kernel's
    /// mounts and `/berth` protected.
    fn default() -> Self {
        Self {
            keep: Vec::new(),
            prune_unowned: false,
            protect: ["/proc", "/sys", "/dev", "/run", "/berth"].iter().map(PathBuf::from).collect(),
        }
    }
}

/// Why a package stays.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum KeepReason {
    /// The run accessed one of its files (this is one example).
    Accessed {
        /// An accessed path it owns.
        path: String,
    },
    /// The user asked for it, by name or by one of its paths.
    UserKeep {
        /// The `keep` entry.
        entry: String,
    },
    /// The distribution marks it essential (dpkg `Essential: yes`), or it is the package
    /// manager: a system without them cannot be repaired or extended.
    Essential,
    /// The package manager (dpkg, apt, apk-tools, rpm, dnf, ...).
    PackageManager,
    /// A kept package depends on it.
    DependencyOf {
        /// The package that needs it.
        package: String,
    },
}

/// One kept package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptPackage {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Why it stays (the first reason found, in the order of [`KeepReason`]).
    pub reason: KeepReason,
}

/// What [`apply`](crate::apply()) will do; serialisable for a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The root filesystem planned for.
    pub root: PathBuf,
    /// The package database format.
    pub manager: Manager,
    /// Installed packages before, by name.
    pub packages_before: Vec<String>,
    /// Packages that stay, by name, with why.
    pub kept: Vec<KeptPackage>,
    /// Packages removed, by name.
    pub removed: Vec<String>,
    /// Absolute paths (inside the root) to delete: files and links owned only by removed
    /// packages, then their directories that end up empty, deepest first.
    pub delete: Vec<String>,
    /// Directories owned only by removed packages: deleted if empty after `delete`.
    pub delete_dirs: Vec<String>,
    /// Files and links no package owns and the run never accessed.
    pub unowned_unaccessed: Vec<String>,
    /// Whether `unowned_unaccessed` is deleted too.
    pub prune_unowned: bool,
    /// Paths never touched.
    pub protect: Vec<PathBuf>,
}

/// Decide what to keep and what to remove in `root` (an extracted image root filesystem) for
/// a run that accessed `trace`. Reads only; nothing in `root` changes.
pub fn plan(root: &Path, trace: &Trace, opts: &MinifyOptions) -> Result<Plan, MinifyError> {
    let _ = (trace, opts);
    Err(MinifyError::NoPackageDatabase { root: root.to_owned() })
}
