//! A root filesystem directory as one layer: walked without following links, so a link in it
//! never leads berth to read a file of the host.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::layer::MAX_FILE;
use crate::error::SourceError;
use crate::fs::{Entry, LayerFiles};

/// Walk `root` and return what analyzers need: the contents of required files, and every
/// symbolic link. Other file systems mounted inside it (a `proc` in a chroot) are not entered.
pub fn walk(root: &Path, required: &dyn Fn(&str) -> bool) -> Result<LayerFiles, SourceError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SourceError::Io { path, source }
    };
    let device = fs::metadata(root).map_err(io(root))?.dev();
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
                files.entries.insert(path, Entry::Symlink(target.to_string_lossy().into_owned()));
            } else if kind.is_file() && required(&path) {
                let full = entry.path();
                let size = entry.metadata().map_err(io(&full))?.len();
                if size > MAX_FILE {
                    return Err(SourceError::TooLarge { entry: path, size, limit: MAX_FILE });
                }
                let content = fs::read(&full).map_err(io(&full))?;
                files.entries.insert(path, Entry::File { content: Some(Arc::from(content)) });
            }
        }
    }
    Ok(files)
}
