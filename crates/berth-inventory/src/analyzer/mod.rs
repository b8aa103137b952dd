//! Analyzers: one per package format (and one for the operating system), each a small type
//! with the same four parts — its name, its version, the paths it needs, and `analyze`.
//!
//! An analyzer sees the merged file system of the layers applied so far ([`View`]) and the
//! paths in it that it required; it returns packages without purl or layer (the applier in
//! [`crate::inventory`] adds those) and, for package managers, the language-package metadata
//! files they own, so that a Python distribution installed by dpkg is not counted twice.
//!
//! Bump an analyzer's [`Analyzer::version`] whenever what it parses or reports changes.

pub mod apk;
pub mod conda;
pub mod dpkg;
pub mod npm;
pub mod os;
pub mod python;
pub mod r;
pub mod rpm;

use crate::fs::View;
use crate::model::{Os, Package};

/// What an analyzer is given.
pub struct Input<'a> {
    /// The merged file system.
    pub view: &'a View,
    /// The paths in `view` that this analyzer requires, sorted.
    pub paths: Vec<&'a str>,
}

/// What an analyzer found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Found {
    /// The operating system (only the os analyzer sets it).
    pub os: Option<Os>,
    /// Packages, without purl and layer.
    pub packages: Vec<Package>,
    /// Language-package metadata paths (see [`is_language_metadata`]) this package manager
    /// installed, without a leading `/`.
    pub owned: Vec<String>,
    /// What could not be read.
    pub warnings: Vec<String>,
    /// Every path the packages install (as their databases list them, with or without a
    /// leading `/`), for the unowned-binary pass ([`crate::binary`]).
    pub files: Vec<String>,
    /// Directories a package owns whole (an npm package's directory).
    pub dirs: Vec<String>,
}

/// One analyzer.
pub trait Analyzer: Send + Sync {
    /// A short name (`dpkg`).
    fn name(&self) -> &'static str;
    /// Bumped whenever parsing changes.
    fn version(&self) -> u32;
    /// Whether this analyzer needs the content of `path` (relative to the root).
    fn required(&self, path: &str) -> bool;
    /// Analyze the merged file system.
    fn analyze(&self, input: &Input<'_>) -> Found;
}

/// Every analyzer berth has, the operating system first.
pub fn all() -> Vec<Box<dyn Analyzer>> {
    vec![
        Box::new(os::OsRelease),
        Box::new(dpkg::Dpkg),
        Box::new(apk::Apk),
        Box::new(rpm::Rpm),
        Box::new(python::Python),
        Box::new(conda::Conda),
        Box::new(npm::Npm),
        Box::new(r::R),
    ]
}

/// Whether `path` is where a language package records itself: the part of an OS package's
/// file list that the language analyzers also read.
pub fn is_language_metadata(path: &str) -> bool {
    path.contains(".dist-info")
        || path.contains(".egg-info")
        || path.contains("node_modules/")
        || r::is_description(path)
}

/// The fields of one RFC 822-style stanza (dpkg status, Python `METADATA`), in order, with
/// continuation lines joined by newlines (berth-package's control-file reader).
pub use berth_package::control::{field, fields as stanza_fields, stanzas};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanza_fields_join_continuation_lines() {
        let fields = stanza_fields("Package: a\nDescription: one\n two\n .\nVersion: 1\n");
        assert_eq!(field(&fields, "package"), Some("a"));
        assert_eq!(field(&fields, "Description"), Some("one\ntwo\n."));
        assert_eq!(field(&fields, "Version"), Some("1"));
    }
}
