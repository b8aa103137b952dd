//! Which declared outputs a run produced, and their hashes.
//!
//! Output path templates may hold globs (`results/*_brain.nii.gz`), as in bosh, which takes
//! the matches of `glob(path)`. Only the part below the output directory is a pattern: the
//! directory's own name is escaped, so a `[` in it matches itself.

use std::path::{Path, PathBuf};

use berth_store::{FileRecord, FileRole, Store, StoreError};

use crate::prepare::PreparedJob;

/// The outputs found after a run.
#[derive(Debug, Default)]
pub struct Found {
    /// A record (with hash) for every file or directory found.
    pub records: Vec<FileRecord>,
    /// Output ids (with their expected paths) that are required but absent.
    pub missing: Vec<String>,
    /// Output id and host path of everything found.
    pub present: Vec<(String, PathBuf)>,
}

/// Hashes `host` (file or directory manifest, through the store's hash cache) into a record.
pub fn record(
    store: &Store,
    role: FileRole,
    key: &str,
    host: &Path,
    container: Option<&str>,
) -> Result<FileRecord, StoreError> {
    let hash = store.hash_path(host)?;
    Ok(FileRecord::from_hash(role, key, host.to_string_lossy(), container.map(str::to_string), hash))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The container path of a host path inside one of the job's mounts.
fn container_path(job: &PreparedJob, host: &Path) -> Option<String> {
    job.mounts.iter().find_map(|m| {
        let rel = host.strip_prefix(&m.host).ok()?;
        Some(if rel.as_os_str().is_empty() {
            m.container.clone()
        } else {
            format!("{}/{}", m.container, rel.display())
        })
    })
}

/// Finds each expected output of `job` in the output mounts and hashes it.
pub fn collect(store: &Store, job: &PreparedJob) -> Result<Found, StoreError> {
    let mut found = Found::default();
    for o in &job.outputs {
        // The mount holding the output: the glob applies below it only.
        let base =
            job.output_mounts().map(|m| m.host.as_path()).find(|b| o.host.starts_with(b)).unwrap_or(&job.output_dir);
        let rel = o.host.strip_prefix(base).unwrap_or(&o.host).to_string_lossy().into_owned();
        let matches: Vec<PathBuf> = if has_glob(&rel) {
            let pattern = format!("{}/{rel}", glob::Pattern::escape(&base.to_string_lossy()));
            glob::glob(&pattern).map(|paths| paths.filter_map(Result::ok).collect()).unwrap_or_default()
        } else if std::fs::symlink_metadata(&o.host).is_ok() {
            vec![o.host.clone()]
        } else {
            Vec::new()
        };
        if matches.is_empty() {
            // Like bosh's `missing-files`, only required outputs are recorded as missing.
            if !o.optional {
                found.missing.push(format!("\"{}\" ({})", o.key, o.container));
                found.records.push(FileRecord::missing(
                    FileRole::Output,
                    &o.key,
                    o.host.to_string_lossy(),
                    Some(o.container.clone()),
                ));
            }
            continue;
        }
        for m in matches {
            // A link out of the output mount is reported, never followed.
            let inside = m.canonicalize().map(|c| c.starts_with(base)).unwrap_or(false);
            if !inside {
                found.missing.push(format!("\"{}\" ({} points outside the output directory)", o.key, m.display()));
                continue;
            }
            let container = container_path(job, &m).unwrap_or_else(|| o.container.clone());
            found.records.push(record(store, FileRole::Output, &o.key, &m, Some(&container))?);
            found.present.push((o.key.clone(), m));
        }
    }
    Ok(found)
}
