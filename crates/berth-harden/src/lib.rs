//! Hardening tool images, as the seed paper on container security recommends: apply the
//! distribution's updates ([`update`]) and remove what an analysis never touches (minify), then
//! show what changed ([`compare`]): packages, size and findings by severity.
//!
//! Both operations produce a new image and leave the original alone; the new image's labels
//! (`berth.harden.*`) say what it was made from and when.

pub mod compare;
pub mod minify;
pub mod update;

pub use compare::{Facts, PackageChanges, facts, package_changes};
pub use minify::{MinifyOutcome, MinifyRequest, MinifyRunError, Traced, minified_reference, minify};
pub use update::{UpdateError, UpdateOptions, UpdateOutcome, update, updated_reference};

/// Label: the image ID the hardened image was made from.
pub const LABEL_BASE_ID: &str = "berth.harden.base-id";
/// Label: the reference the hardened image was made from, as given.
pub const LABEL_BASE_REFERENCE: &str = "berth.harden.base-reference";
/// Label: the registry digest of the base image, when it came from a registry.
pub const LABEL_BASE_DIGEST: &str = "berth.harden.base-digest";
/// Label: what was done (`update`, `minify`).
pub const LABEL_KIND: &str = "berth.harden.kind";
/// Label: how a minified image was made: `standard` (the Essential set and the package manager
/// kept, so it can be repaired) or `minimal` (only what the traced runs need).
pub const LABEL_MINIFY_MODE: &str = "berth.harden.minify-mode";
/// Label: whether the image's package manager can still repair or extend it (`yes`/`no`).
pub const LABEL_REPAIRABLE: &str = "berth.harden.repairable";
/// Label: the UTC date of the update (`YYYY-MM-DD`); with the base ID, the cache key of
/// `berth run --security-updates`.
pub const LABEL_UPDATED: &str = "berth.harden.updated";
/// Label: the package manager that applied the updates (`apt`, `apk`, `dnf`, `yum`).
pub const LABEL_MANAGER: &str = "berth.harden.manager";
