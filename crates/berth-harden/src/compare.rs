//! Before and after: what hardening changed in an image's packages, size and findings, as the
//! seed paper's figure 1B tabulates them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use berth_engine::Engine;
use berth_inventory::{Inventory, SbomOptions, Target};
use berth_scan::{Counts, ScanOptions};

/// One side of the comparison.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Facts {
    /// The image.
    pub reference: String,
    /// Packages of every kind in the inventory.
    pub packages: usize,
    /// The image's size in bytes, as the engine reports it.
    pub size: Option<i64>,
    /// Findings by severity; `None` without an advisory database.
    pub findings: Option<Counts>,
    /// The inventory itself, for [`package_changes`].
    #[serde(skip)]
    pub inventory: Inventory,
}

/// How the package lists differ.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PackageChanges {
    /// `(name, version before, version after)`.
    pub upgraded: Vec<(String, String, String)>,
    /// `(name, version)` present only after.
    pub added: Vec<(String, String)>,
    /// `(name, version)` present only before.
    pub removed: Vec<(String, String)>,
}

/// Why the facts could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// Reading the image's packages failed.
    #[error("cannot take the inventory of `{reference}`")]
    Inventory {
        /// The image.
        reference: String,
        /// The cause.
        #[source]
        source: berth_inventory::SourceError,
    },
    /// Scanning failed.
    #[error("cannot scan `{reference}`")]
    Scan {
        /// The image.
        reference: String,
        /// The cause.
        #[source]
        source: berth_scan::ScanError,
    },
    /// The engine failed.
    #[error("the container engine failed while inspecting `{reference}`")]
    Engine {
        /// The image.
        reference: String,
        /// The cause.
        #[source]
        source: berth_engine::EngineError,
    },
}

/// Inventory `reference` on `engine`, and scan it when `db` (an advisory database) is given.
pub async fn facts(engine: Arc<dyn Engine>, reference: &str, db: Option<&Path>) -> Result<Facts, FactsError> {
    let size = engine
        .inspect_image(reference)
        .await
        .map_err(|source| FactsError::Engine { reference: reference.to_owned(), source })?
        .and_then(|i| i.size);
    let options = SbomOptions { engine: Some(engine), temp_dir: None };
    let inventory = berth_inventory::sbom(&Target::Image(reference.to_owned()), &options)
        .await
        .map_err(|source| FactsError::Inventory { reference: reference.to_owned(), source })?;
    let findings = match db {
        Some(path) => {
            let database = berth_advisory::db::Database::open(path).map_err(|e| FactsError::Scan {
                reference: reference.to_owned(),
                source: berth_scan::ScanError::from(e),
            })?;
            let report = berth_scan::scan_inventory(inventory.clone(), &database, &ScanOptions::default())
                .map_err(|source| FactsError::Scan { reference: reference.to_owned(), source })?;
            Some(report.counts)
        }
        None => None,
    };
    Ok(Facts { reference: reference.to_owned(), packages: inventory.packages.len(), size, findings, inventory })
}

/// How `after`'s packages differ from `before`'s (by kind and name; a name installed in several
/// versions counts as its sorted version list).
pub fn package_changes(before: &Inventory, after: &Inventory) -> PackageChanges {
    let index = |inv: &Inventory| {
        let mut m: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for p in &inv.packages {
            m.entry((format!("{:?}", p.kind), p.name.clone())).or_default().push(p.version.clone());
        }
        for v in m.values_mut() {
            v.sort();
            v.dedup();
        }
        m
    };
    let (a, b) = (index(before), index(after));
    let mut changes = PackageChanges::default();
    for ((kind, name), va) in &a {
        match b.get(&(kind.clone(), name.clone())) {
            None => changes.removed.push((name.clone(), va.join(", "))),
            Some(vb) if vb != va => changes.upgraded.push((name.clone(), va.join(", "), vb.join(", "))),
            Some(_) => {}
        }
    }
    for ((kind, name), vb) in &b {
        if !a.contains_key(&(kind.clone(), name.clone())) {
            changes.added.push((name.clone(), vb.join(", ")));
        }
    }
    changes
}
