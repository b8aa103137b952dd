//! Apply a plan in place: delete the files and links, move diverted files back, re-point or
//! drop alternative links, delete directories left empty, then make the package database
//! match what is left.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Serialize;

use crate::db::alternatives::{self, LINK_DIR};
use crate::db::{self, Manager};
use crate::error::MinifyError;
use crate::plan::{KeptPackage, Plan, installed_names, under_any};
use crate::rootfs::Root;

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// The package database format.
    pub manager: Manager,
    /// Installed packages before, by name.
    pub packages_before: Vec<String>,
    /// Installed packages after, by name (read back from the edited database).
    pub packages_after: Vec<String>,
    /// Kept packages with why.
    pub kept: Vec<KeptPackage>,
    /// Removed packages, by name.
    pub removed_packages: Vec<String>,
    /// Paths deleted (files and links, then directories), absolute inside the root.
    pub files_removed: Vec<String>,
    /// Bytes of regular files deleted (apparent sizes), counting a hard-linked file once and
    /// only when its last link went.
    pub bytes_freed: u64,
    /// Files and links no package owns and the run never accessed.
    pub unowned_unaccessed: Vec<String>,
    /// Whether those were deleted too (and are in `files_removed`).
    pub unowned_pruned: bool,
}

/// Apply `plan` to `root`, in place. `root` must be the directory the plan was made for.
pub fn apply(root: &Path, plan: &Plan) -> Result<ApplyReport, MinifyError> {
    if root != plan.root {
        return Err(MinifyError::RootMismatch { planned: plan.root.clone(), root: root.to_owned() });
    }
    let fs = Root::new(root);
    let protect: Vec<String> = plan.protect.iter().map(|p| fs.key(&p.to_string_lossy())).collect();
    let mut removed = Vec::new();
    // Removed links per inode: a file's bytes are freed when its last link goes.
    let mut inodes: HashMap<(u64, u64), (u64, u64, u64)> = HashMap::new();
    let unowned: &[String] = if plan.prune_unowned { &plan.unowned_unaccessed } else { &[] };
    for path in plan.delete.iter().chain(unowned) {
        // The plan was made on this directory, but never trust it across protected paths.
        if under_any(path, &protect) {
            continue;
        }
        let Some(meta) = fs.lstat(path) else {
            continue;
        };
        if meta.is_dir() {
            continue;
        }
        let host = fs.host(path);
        std::fs::remove_file(&host).map_err(MinifyError::io("remove", &host))?;
        if meta.is_file() {
            inodes.entry((meta.dev(), meta.ino())).or_insert((0, meta.nlink(), meta.len())).0 += 1;
        }
        removed.push(path.clone());
    }
    let bytes_freed = inodes.values().filter(|(removed, links, _)| removed >= links).map(|(_, _, len)| len).sum();
    for diversion in &plan.undivert {
        // Keys, not the paths as written: an absolute directory link must resolve in the root.
        let (to_key, from_key) = (fs.key(&diversion.to), fs.key(&diversion.from));
        let (to, from) = (fs.host(&to_key), fs.host(&from_key));
        if fs.lstat(&to_key).is_some() && fs.lstat(&from_key).is_none() {
            std::fs::rename(&to, &from).map_err(MinifyError::io("move back a diverted file to", &from))?;
        }
    }
    for repoint in &plan.repoint {
        relink(&fs, &format!("{LINK_DIR}/{}", repoint.name), Some(&repoint.choice.path), &mut removed)?;
        for ((name, link), target) in repoint.slave_names.iter().zip(&repoint.slave_links).zip(&repoint.choice.slaves) {
            relink(&fs, &format!("{LINK_DIR}/{name}"), target.as_deref(), &mut removed)?;
            if target.is_none() {
                relink(&fs, link, None, &mut removed)?;
            }
        }
    }
    let unowned_dirs: &[String] = if plan.prune_unowned { &plan.unowned_dirs } else { &[] };
    // Deepest first across both lists: a pruned directory may sit in a removed package's.
    let mut dirs: Vec<&String> = plan.delete_dirs.iter().chain(unowned_dirs).collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    for dir in dirs {
        if !under_any(dir, &protect) && remove_empty_dir(&fs, dir)? {
            removed.push(dir.clone());
        }
    }
    db::forget(root, plan.manager, &plan.removed)?;
    if plan.manager == Manager::Dpkg {
        alternatives::forget_missing(root, |path| fs.lstat(&fs.lookup(path).target).is_some())?;
    }
    let after = db::read(root)?;
    Ok(ApplyReport {
        manager: plan.manager,
        packages_before: plan.packages_before.clone(),
        packages_after: installed_names(&after),
        kept: plan.kept.clone(),
        removed_packages: plan.removed.clone(),
        files_removed: removed,
        bytes_freed,
        unowned_unaccessed: plan.unowned_unaccessed.clone(),
        unowned_pruned: plan.prune_unowned,
    })
}

/// Remove `dir` if it is a directory (not a link to one) and empty; whether it was.
fn remove_empty_dir(fs: &Root, dir: &str) -> Result<bool, MinifyError> {
    let host = fs.host(dir);
    let is_real_dir = fs.lstat(dir).is_some_and(|m| m.is_dir());
    if !is_real_dir || !std::fs::read_dir(&host).is_ok_and(|mut d| d.next().is_none()) {
        return Ok(false);
    }
    std::fs::remove_dir(&host).map_err(MinifyError::io("remove", &host))?;
    Ok(true)
}

/// Point the link `link` at `target`, or remove it when there is no target; only links are
/// touched.
fn relink(fs: &Root, link: &str, target: Option<&str>, removed: &mut Vec<String>) -> Result<(), MinifyError> {
    let link = fs.key(link);
    let link = link.as_str();
    let host = fs.host(link);
    match fs.lstat(link) {
        Some(meta) if meta.file_type().is_symlink() => {
            std::fs::remove_file(&host).map_err(MinifyError::io("remove", &host))?;
            if target.is_none() {
                removed.push(link.to_owned());
            }
        }
        Some(_) => return Ok(()),
        None => {}
    }
    if let Some(target) = target {
        std::os::unix::fs::symlink(target, &host).map_err(MinifyError::io("create the link", &host))?;
    }
    Ok(())
}
