//! Apply a plan in place: delete the files, then make the package database match.

use std::path::Path;

use serde::Serialize;

use crate::db::Manager;
use crate::error::MinifyError;
use crate::plan::{KeptPackage, Plan};

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// The package database format.
    pub manager: Manager,
    /// Installed packages before, by name.
    pub packages_before: Vec<String>,
    /// Installed packages after, by name.
    pub packages_after: Vec<String>,
    /// Kept packages with why.
    pub kept: Vec<KeptPackage>,
    /// Removed packages, by name.
    pub removed_packages: Vec<String>,
    /// Paths deleted (files, links, then empty directories).
    pub files_removed: Vec<String>,
    /// Bytes of regular files deleted (apparent sizes; hard links counted once).
    pub bytes_freed: u64,
    /// Files and links no package owns and the run never accessed.
    pub unowned_unaccessed: Vec<String>,
    /// Whether those were deleted too (and are in `files_removed`).
    pub unowned_pruned: bool,
}

/// Apply `plan` to `root`, in place.
pub fn apply(root: &Path, plan: &Plan) -> Result<ApplyReport, MinifyError> {
    if root != plan.root {
        return Err(MinifyError::RootMismatch { planned: plan.root.clone(), root: root.to_owned() });
    }
    Err(MinifyError::NoPackageDatabase { root: root.to_owned() })
}
