//! The applier: read the layers bottom up, run the analyzers on the merged file system after
//! every layer that changed what they read, and turn their findings into one [`Inventory`].
//!
//! Layer attribution: a package belongs to the lowest layer from which it stayed installed,
//! unchanged (same name, version, architecture and database), up to the top. A package
//! upgraded in a later layer belongs to that later layer; one removed and installed again,
//! to the layer that installed it again.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use berth_engine::Engine;

use crate::analyzer::{self, Analyzer, Found, Input};
use crate::budget::{Limits, Skipped};
use crate::error::SourceError;
use crate::fs::View;
use crate::model::{AnalyzerInfo, FORMAT_VERSION, Inventory, Package, PackageKind};
use crate::source::{self, Opened, Target};

/// How to take an inventory.
#[derive(Debug, Clone, Default)]
pub struct SbomOptions {
    /// The engine that holds images (needed for [`Target::Image`] only).
    pub engine: Option<Arc<dyn Engine>>,
    /// Where to put an engine's image export while it is read (default: the system's
    /// temporary directory). The export is removed afterwards.
    pub temp_dir: Option<PathBuf>,
}

/// List the packages in `target` (the `berth sbom` command) within the default [`Limits`].
pub async fn sbom(target: &Target, options: &SbomOptions) -> Result<Inventory, SourceError> {
    sbom_with_limits(target, options, &Limits::DEFAULT).await
}

/// [`sbom`] within `limits` (the `[inventory]` table of the configuration).
pub async fn sbom_with_limits(
    target: &Target,
    options: &SbomOptions,
    limits: &Limits,
) -> Result<Inventory, SourceError> {
    let opened = source::open(target, options.engine.as_deref(), options.temp_dir.as_deref(), limits).await?;
    inventory_of(&opened)
}

/// [`sbom`] for targets that need no engine (archives, layouts, directories), without async.
pub fn sbom_local(target: &Target) -> Result<Inventory, SourceError> {
    sbom_local_with_limits(target, &Limits::DEFAULT)
}

/// [`sbom_local`] within `limits`.
pub fn sbom_local_with_limits(target: &Target, limits: &Limits) -> Result<Inventory, SourceError> {
    inventory_of(&source::open_local(target, limits)?)
}

/// The identity of a package across layers.
type Key = (PackageKind, String, String, Option<String>, String);

fn key(p: &Package) -> Key {
    (p.kind, p.name.clone(), p.version.clone(), p.arch.clone(), p.location.clone())
}

struct Tracked {
    last: Found,
    first_seen: HashMap<Key, usize>,
}

/// Take the inventory of an opened target.
pub fn inventory_of(opened: &Opened) -> Result<Inventory, SourceError> {
    let analyzers = analyzer::all();
    let required = |p: &str| analyzers.iter().any(|a| a.required(p));
    let mut view = View::default();
    let mut tracked: Vec<Tracked> =
        analyzers.iter().map(|_| Tracked { last: Found::default(), first_seen: HashMap::new() }).collect();
    let mut skipped: Vec<(usize, Skipped)> = Vec::new();
    // Only a root filesystem (one layer, nothing to shadow) leaves files unchecked.
    let mut unchecked: Vec<(String, usize)> = Vec::new();
    for index in 0..opened.layers.len() {
        let mut files = opened.read_layer(index, &required, view.held())?;
        skipped.extend(std::mem::take(&mut files.skipped).into_iter().map(|s| (index, s)));
        unchecked.extend(std::mem::take(&mut files.unchecked).into_iter().map(|p| (p, index)));
        let changes = view.apply(index, files);
        for (a, t) in analyzers.iter().zip(tracked.iter_mut()) {
            if !changes.paths.iter().any(|p| a.required(p)) {
                continue;
            }
            let found = run(a.as_ref(), &view);
            let now: HashSet<Key> = found.packages.iter().map(key).collect();
            t.first_seen.retain(|k, _| now.contains(k));
            for k in now {
                t.first_seen.entry(k).or_insert(index);
            }
            t.last = found;
        }
    }

    tracing::debug!(layers = opened.layers.len(), unchecked = unchecked.len(), "layers read and analyzed");
    let os = tracked.iter().find_map(|t| t.last.os.clone());
    // What no package claims (every package's files, and the lists of none): read only after
    // the analyzers, and only those files.
    let mut by_layer: std::collections::BTreeMap<usize, Vec<String>> = std::collections::BTreeMap::new();
    for (path, layer) in crate::binary::unclaimed(
        &view,
        &unchecked,
        tracked
            .iter()
            .flat_map(|t| t.last.packages.iter().flat_map(|p| p.files.iter()).chain(&t.last.files).map(String::as_str)),
        tracked.iter().flat_map(|t| t.last.dirs.iter().map(String::as_str)),
    ) {
        by_layer.entry(layer).or_default().push(path);
    }
    tracing::debug!(candidates = by_layer.values().map(Vec::len).sum::<usize>(), "unclaimed files found");
    let owned: HashSet<String> = tracked.iter_mut().flat_map(|t| std::mem::take(&mut t.last.owned)).collect();
    let mut warnings = Vec::new();
    let mut packages = Vec::new();
    for (a, t) in analyzers.iter().zip(tracked) {
        warnings.extend(t.last.warnings.iter().map(|w| format!("{}: {w}", a.name())));
        for mut p in t.last.packages {
            if matches!(p.kind, PackageKind::Python | PackageKind::Npm | PackageKind::R) {
                let record = analyzer::python::record_of(&p.location);
                if owned.contains(record) || owned.contains(p.location.as_str()) {
                    continue;
                }
            }
            p.layer = t.first_seen.get(&key(&p)).copied();
            p.purl = crate::purl::purl(&p, os.as_ref());
            packages.push(p);
        }
    }
    let mut unowned = Vec::new();
    for (layer, paths) in &by_layer {
        let mut binary_warnings = Vec::new();
        let examined = opened.examine_files(*layer, paths, &mut binary_warnings)?;
        for (record, attributed) in examined {
            for mut p in attributed {
                p.purl = crate::purl::purl(&p, os.as_ref());
                packages.push(p);
            }
            unowned.push(record);
        }
        warnings.extend(binary_warnings.into_iter().map(|w| format!("{}: {w}", crate::binary::NAME)));
    }
    tracing::debug!(unowned = unowned.len(), "unclaimed files examined");
    unowned.sort_by(|a, b| a.path.cmp(&b.path));
    packages.sort_by(|a, b| {
        (a.kind, a.normalized_name(), &a.version, &a.arch, &a.location).cmp(&(
            b.kind,
            b.normalized_name(),
            &b.version,
            &b.arch,
            &b.location,
        ))
    });
    // A file that was not read must never pass for "no packages": say which, and why. Files a
    // later layer replaced or deleted are no loss.
    let several = opened.layers.len() > 1;
    for (layer, s) in &skipped {
        if view.layer_of(&s.path) == Some(*layer) {
            warnings.push(s.warning(several.then_some(*layer), &opened.meter.limits));
        }
    }
    if os.is_none() && packages.iter().any(|p| p.kind.is_os()) {
        warnings.push("os-release: no operating system release file found; OS packages cannot be matched against a distribution's advisories".to_owned());
    }
    Ok(Inventory {
        format_version: FORMAT_VERSION,
        target: opened.info.clone(),
        os,
        layers: opened.layers.clone(),
        packages,
        unowned,
        warnings,
        analyzers: analyzers
            .iter()
            .map(|a| AnalyzerInfo { name: a.name().to_owned(), version: a.version() })
            .chain(std::iter::once(AnalyzerInfo {
                name: crate::binary::NAME.to_owned(),
                version: crate::binary::VERSION,
            }))
            .collect(),
        links: view.into_links(),
    })
}

fn run(analyzer: &dyn Analyzer, view: &View) -> Found {
    let paths: Vec<&str> = view.paths().map(|(p, _)| p).filter(|p| analyzer.required(p)).collect();
    analyzer.analyze(&Input { view, paths })
}
