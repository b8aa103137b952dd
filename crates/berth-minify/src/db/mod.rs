//! Package databases, one reader per format, all read into one model: the installed packages,
//! what each depends on and provides, and the files each owns.

pub mod alternatives;
pub mod apk;
pub mod dpkg;
pub mod rpm;
pub mod version;

use std::path::Path;

use serde::Serialize;

use crate::error::MinifyError;

/// A package manager whose database minify reads and edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Manager {
    /// Debian, Ubuntu: `var/lib/dpkg/status` and `var/lib/dpkg/info/*.list`.
    Dpkg,
    /// Alpine: `lib/apk/db/installed`.
    Apk,
    /// Red Hat, Fedora, SUSE: read and edited with the host's `rpm --root`.
    Rpm,
}

/// A version relation in a dependency (`>=`, `<<`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Relation {
    /// `<<` (dpkg), `<` (apk, rpm).
    Less,
    /// `<=`.
    LessEqual,
    /// `=`.
    Equal,
    /// `>=`.
    GreaterEqual,
    /// `>>` (dpkg), `>` (apk, rpm).
    Greater,
}

/// One alternative of a dependency: a name (package or virtual), maybe with a constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dep {
    /// The package, virtual package or capability named.
    pub name: String,
    /// The version it must have, if constrained.
    pub constraint: Option<(Relation, String)>,
}

/// Something a package provides besides its own name (a virtual package, an apk `so:` or
/// `cmd:` name, an rpm capability), maybe at a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provide {
    /// The name provided.
    pub name: String,
    /// Its version, if the package states one.
    pub version: Option<String>,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Package {
    /// Its name (dpkg: without the `:arch` qualifier).
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its architecture, if recorded.
    pub arch: Option<String>,
    /// What it needs before it can be used: each inner list is a group of alternatives
    /// (`a | b`), any one of which satisfies it. dpkg: `Depends` and `Pre-Depends`.
    pub depends: Vec<Vec<Dep>>,
    /// What it provides besides its own name.
    pub provides: Vec<Provide>,
    /// dpkg `Essential: yes`, or its equivalent for the format (see the readers).
    pub essential: bool,
    /// The absolute paths it owns (files, links and directories), as the database lists them.
    pub files: Vec<String>,
    /// Whether its files are all on disk (dpkg: state `installed`). Packages that are not
    /// (dpkg's `config-files`) are never removed, and their files are never deleted.
    pub installed: bool,
}

/// A dpkg diversion: the file a package ships at `from` is installed at `to` instead, and
/// `from` belongs to `by` (or to the local administrator when `by` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diversion {
    /// The path packages ship.
    pub from: String,
    /// Where the diverted file is installed.
    pub to: String,
    /// The diverting package.
    pub by: Option<String>,
}

/// A package database as read from a root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// Which format.
    pub manager: Manager,
    /// The packages, in database order.
    pub packages: Vec<Package>,
    /// dpkg diversions (empty for other formats).
    pub diversions: Vec<Diversion>,
}

/// Read the package database of `root`, whichever format it has (dpkg, then apk, then rpm).
pub fn read(root: &Path) -> Result<Database, MinifyError> {
    if root.join(dpkg::STATUS).is_file() {
        return dpkg::read(root);
    }
    if root.join(apk::INSTALLED).is_file() {
        return apk::read(root);
    }
    if rpm::present(root) {
        return rpm::read(root);
    }
    Err(MinifyError::NoPackageDatabase { root: root.to_owned() })
}

/// Remove `packages` from the database of `root` (not their files: [`crate::apply()`] does that).
pub fn forget(root: &Path, manager: Manager, packages: &[String]) -> Result<(), MinifyError> {
    match manager {
        Manager::Dpkg => dpkg::forget(root, packages),
        Manager::Apk => apk::forget(root, packages),
        Manager::Rpm => rpm::forget(root, packages),
    }
}
