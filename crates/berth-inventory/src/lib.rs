//! Read a container image or root filesystem, layer by layer, and list the packages inside it
//! (`berth sbom`).
//!
//! The flow, as the modules are laid out:
//!
//! ```text
//! Target ──source──▶ layers (engine export │ docker/OCI archive │ OCI dir │ rootfs)
//!          fs        ──▶ merged view, whiteouts applied, links resolved inside the image
//!          analyzer  ──▶ os-release, dpkg, apk, rpm (sqlite, BerkeleyDB), python, conda, npm
//!          inventory ──▶ Inventory (packages, source packages, layers, origins, purls)
//!          report    ──▶ table │ berth JSON │ CycloneDX 1.5 │ SPDX 2.3
//! ```
//!
//! [`sbom`] is the whole command; [`sbom_local`] the same without an engine or async.
//! Untrusted archives are never extracted: they are indexed and read in place, and the only
//! file written is an engine's image export, into a private temporary directory.

pub mod analyzer;
pub mod binary;
pub mod budget;
pub mod error;
pub mod fs;
pub mod inventory;
pub mod model;
pub mod purl;
pub mod reach;
pub mod report;
pub mod source;

pub use budget::Limits;
pub use error::SourceError;
pub use inventory::{SbomOptions, inventory_of, sbom, sbom_local, sbom_local_with_limits, sbom_with_limits};
pub use model::*;
pub use source::Target;
