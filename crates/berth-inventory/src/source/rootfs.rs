//! A root filesystem directory as one layer: walked without following links, so a link in it
//! never leads berth to read a file of the host.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::budget::{ENTRY_COST, Meter, SkipReason, Skipped};
use crate::error::SourceError;
use crate::fs::{Entry, LayerFiles};

/// Walk `root` and return what analyzers need: the contents of required files, and every
/// symbolic link. Other file systems mounted inside it (a `proc` in a chroot) are not entered.
/// What is kept and read is bounded by `meter`'s limits, as for a layer.
pub fn walk(root: &Path, required: &dyn Fn(&str) -> bool, meter: &Meter) -> Result<LayerFiles, SourceError> {
    let limits = meter.limits;
    let mut held = 0u64;
    let held_err = || SourceError::HeldLimit {
        path: root.to_owned(),
        what: "the root filesystem".to_owned(),
        limit: limits.max_held_bytes,
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SourceError::Io { path, source }
    };
    let device = fs::metadata(root).map_err(io(root))?.dev();
    // Files are opened beneath the root without following links, so that a file swapped for
    // a link during the walk is refused rather than read from the host.
    let beneath = berth_hostpath::Root::open(root).map_err(|e| SourceError::Layout {
        path: root.to_owned(),
        name: ".".to_owned(),
        source: e,
    })?;
    let mut files = LayerFiles::default();
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_owned(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            // An unreadable directory deep inside (permissions) is not fatal for the root.
            Err(_) if !rel.is_empty() => continue,
            Err(e) => return Err(SourceError::Io { path: dir, source: e }),
        };
        for entry in entries {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = if rel.is_empty() { name.into_owned() } else { format!("{rel}/{name}") };
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            if kind.is_dir() {
                let full = entry.path();
                if entry.metadata().is_ok_and(|m| m.dev() == device) {
                    stack.push((full, path));
                }
            } else if kind.is_symlink() {
                let target = fs::read_link(entry.path()).map_err(io(&entry.path()))?;
                let target = target.to_string_lossy().into_owned();
                held = held.saturating_add((path.len() + target.len()) as u64 + ENTRY_COST);
                if held > limits.max_held_bytes {
                    return Err(held_err());
                }
                files.entries.insert(path, Entry::Symlink(target));
            } else if kind.is_file() && !required(&path) {
                // Not stated here: the unowned-binary pass looks at the few no package claims.
                held = held.saturating_add(path.len() as u64);
                if held > limits.max_held_bytes {
                    return Err(held_err());
                }
                files.unchecked.push(path);
            } else if kind.is_file() {
                let full = entry.path();
                let metadata = entry.metadata().map_err(io(&full))?;
                let binary = metadata.mode() & 0o111 != 0 || crate::binary::is_library_name(&path);
                let size = metadata.len();
                held = held.saturating_add(path.len() as u64 + ENTRY_COST);
                if held > limits.max_held_bytes {
                    return Err(held_err());
                }
                let reason = if size > limits.max_file_bytes {
                    Some(SkipReason::FileLimit)
                } else if held.saturating_add(size) > limits.max_held_bytes {
                    Some(SkipReason::HeldLimit)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    files.skipped.push(Skipped { path: path.clone(), size, reason });
                    files.entries.insert(path, Entry::File { content: None, binary });
                    continue;
                }
                // The file may grow after the stat: read no more than was allowed for.
                let mut content = Vec::with_capacity(size as usize);
                let file = beneath.open_file(Path::new(&path)).map_err(|e| SourceError::Layout {
                    path: root.to_owned(),
                    name: path.clone(),
                    source: e,
                })?;
                file.take(size).read_to_end(&mut content).map_err(io(&full))?;
                held += content.len() as u64;
                meter.consume(content.len() as u64).map_err(|_| SourceError::ReadLimit {
                    path: root.to_owned(),
                    what: format!("`{path}`"),
                    limit: limits.max_read_bytes,
                })?;
                let binary = binary && crate::binary::is_elf(&content);
                files.entries.insert(path, Entry::File { content: Some(Arc::from(content)), binary });
            }
        }
    }
    Ok(files)
}
