//! dpkg: `var/lib/dpkg/status` (stanzas with `Depends`, `Pre-Depends`, `Provides`,
//! `Essential`), `var/lib/dpkg/info/<pkg>[:arch].list` (owned paths) and
//! `var/lib/dpkg/diversions`.

use std::path::Path;

use super::Database;
use crate::error::MinifyError;

/// The status file, relative to the root.
pub const STATUS: &str = "var/lib/dpkg/status";

/// Read the dpkg database of `root`.
pub fn read(root: &Path) -> Result<Database, MinifyError> {
    Err(MinifyError::NoPackageDatabase { root: root.to_owned() })
}

/// Drop `packages` from `status` and delete their `info/<pkg>.*` files.
pub fn forget(root: &Path, _packages: &[String]) -> Result<(), MinifyError> {
    Err(MinifyError::NoPackageDatabase { root: root.to_owned() })
}
