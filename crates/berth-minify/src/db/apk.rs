//! apk: `lib/apk/db/installed`.

use std::path::Path;

use super::Database;
use crate::error::MinifyError;

/// The installed database, relative to the root.
pub const INSTALLED: &str = "lib/apk/db/installed";

/// Read the apk database of `root`.
pub fn read(root: &Path) -> Result<Database, MinifyError> {
    Err(MinifyError::NoPackageDatabase { root: root.to_owned() })
}

/// Drop `packages` from `installed`.
pub fn forget(root: &Path, _packages: &[String]) -> Result<(), MinifyError> {
    Err(MinifyError::NoPackageDatabase { root: root.to_owned() })
}
