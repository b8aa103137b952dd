//! The image's file system as analyzers see it: layers applied in order with whiteouts, and
//! paths resolved inside the image root, never outside it.
//!
//! Nothing here writes to disk. A layer keeps the contents of only the files some analyzer
//! requires, plus every symbolic and hard link (to resolve those files); everything else is
//! only walked past. Paths are kept relative to the image root, without a leading `/`.
//!
//! Safety rules, for untrusted archives (and root filesystems made by someone else):
//! - an entry whose name climbs out of the root (`../x`, `a/../../x`) is refused, and so is a
//!   hard link whose target does;
//! - a symbolic link is resolved inside the image: an absolute target starts again at the image
//!   root (that is what it means inside the container), and a relative target that climbs out
//!   of the root is not followed (its lookup fails), never resolved on the host.

use std::collections::BTreeMap;
use std::sync::Arc;

/// An archive entry name or link target that leaves the image root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` leads outside the image root")]
pub struct EscapeError {
    /// The offending path, as found.
    pub path: String,
}

/// Normalize `raw` to a path relative to the image root: no leading `/` or `./`, no `.`
/// components, `..` applied. Fails if `..` would climb above the root.
pub fn clean(raw: &str) -> Result<String, EscapeError> {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(EscapeError { path: raw.to_owned() });
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The parent of a cleaned path (`""` for top-level entries).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// The last component of a cleaned path.
pub fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, n)| n)
}

/// Join a cleaned directory and a relative path.
fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() { rel.to_owned() } else { format!("{dir}/{rel}") }
}

/// One entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file; `content` is kept only when an analyzer requires the path.
    File {
        /// The bytes, if kept.
        content: Option<Arc<[u8]>>,
        /// Whether it may be a binary for the unowned-binary pass ([`crate::binary`]): an
        /// execute bit or a shared-library name, and, in layers (whose bytes stream by
        /// anyway), an ELF header.
        binary: bool,
    },
    /// A symbolic link and its target, verbatim.
    Symlink(String),
    /// A hard link to another (cleaned) path of the image.
    Hardlink(String),
    /// A directory (recorded so that it shadows a link of a lower layer at the same path).
    Dir,
}

/// What one layer adds and removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerFiles {
    /// Files and links the layer adds or replaces.
    pub entries: BTreeMap<String, Entry>,
    /// Paths the layer deletes from the layers below (`.wh.NAME` files).
    pub whiteouts: Vec<String>,
    /// Directories whose contents from the layers below the layer hides (`.wh..wh..opq`).
    pub opaque_dirs: Vec<String>,
    /// Regular files of a root filesystem that no analyzer required, by path: neither stated
    /// nor read during the walk; the unowned-binary pass looks at those no package claims.
    /// In no particular order (the pass sorts what it finds).
    pub unchecked: Vec<String>,
    /// Files an analyzer required whose contents were not kept (over a limit): recorded as
    /// [`Entry::File`] without content, and reported as warnings.
    pub skipped: Vec<crate::budget::Skipped>,
}

/// The OCI whiteout prefix (image-spec `layer.md`, "Whiteouts").
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The OCI opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

impl LayerFiles {
    /// Record the whiteout markers among entries: returns `None` for a marker (recorded as a
    /// deletion, nothing to read), the path otherwise.
    pub fn classify(&mut self, path: &str) -> Option<String> {
        let name = file_name(path);
        if name == OPAQUE_MARKER {
            self.opaque_dirs.push(parent(path).to_owned());
            None
        } else if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            self.whiteouts.push(join(parent(path), hidden));
            None
        } else {
            Some(path.to_owned())
        }
    }
}

/// The merged view of the layers applied so far.
#[derive(Debug, Default, Clone)]
pub struct View {
    entries: BTreeMap<String, (usize, Entry)>,
}

/// What applying one layer changed, for deciding which analyzers to run again.
#[derive(Debug, Default)]
pub struct Changes {
    /// Paths added, replaced or removed.
    pub paths: Vec<String>,
}

/// The greatest number of symbolic links followed while resolving one path, as Linux's
/// `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

impl View {
    /// Apply `layer` (number `index`) on top: its whiteouts and opaque directories hide what
    /// the layers below had, then its own entries are added.
    pub fn apply(&mut self, index: usize, layer: LayerFiles) -> Changes {
        let mut changes = Changes::default();
        for gone in &layer.whiteouts {
            if self.entries.remove(gone).is_some() {
                changes.paths.push(gone.clone());
            }
            self.remove_under(gone, usize::MAX, &mut changes);
        }
        for dir in &layer.opaque_dirs {
            self.remove_under(dir, index, &mut changes);
        }
        for (path, entry) in layer.entries {
            changes.paths.push(path.clone());
            self.entries.insert(path, (index, entry));
        }
        changes
    }

    /// Remove every entry strictly under `dir` that came from a layer below `below`.
    fn remove_under(&mut self, dir: &str, below: usize, changes: &mut Changes) {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(_, (layer, _))| *layer < below)
            .map(|(p, _)| p.clone())
            .collect();
        for p in doomed {
            self.entries.remove(&p);
            changes.paths.push(p);
        }
    }

    /// The bytes this view keeps in memory: names (at [`ENTRY_COST`](crate::budget::ENTRY_COST)
    /// each besides their bytes), link targets and file contents.
    pub fn held(&self) -> u64 {
        self.entries
            .iter()
            .map(|(p, (_, e))| {
                let own = match e {
                    Entry::File { content: Some(c), .. } => c.len(),
                    Entry::Symlink(t) | Entry::Hardlink(t) => t.len(),
                    _ => 0,
                };
                (p.len() + own) as u64 + crate::budget::ENTRY_COST
            })
            .sum()
    }

    /// Every path in the view, with the layer that last wrote it.
    pub fn paths(&self) -> impl Iterator<Item = (&str, usize)> {
        self.entries.iter().map(|(p, (l, _))| (p.as_str(), *l))
    }

    /// Every regular file in the view: its path, the layer that last wrote it, and whether it
    /// may be a binary (see [`Entry::File`]).
    pub fn files(&self) -> impl Iterator<Item = (&str, usize, bool)> {
        self.entries.iter().filter_map(|(p, (l, e))| match e {
            Entry::File { binary, .. } => Some((p.as_str(), *l, *binary)),
            _ => None,
        })
    }

    /// The entry stored at exactly `path` (no link resolution).
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path).map(|(_, e)| e)
    }

    /// The layer that last wrote `path` itself.
    pub fn layer_of(&self, path: &str) -> Option<usize> {
        self.entries.get(path).map(|(l, _)| *l)
    }

    /// Resolve `path` inside the image: every symbolic link on the way is followed (see the
    /// module documentation), and hard links lead to their target. Returns the final path, or
    /// `None` if a link climbs out of the root or links loop.
    pub fn resolve(&self, path: &str) -> Option<String> {
        resolve_with(path, |p| self.entry(p), &mut |_| {})
    }

    /// The view's symbolic and hard links, to resolve paths once the view is gone (moved out,
    /// not copied: the view ends here).
    pub fn into_links(self) -> Links {
        Links(
            self.entries
                .into_iter()
                .filter(|(_, (_, e))| matches!(e, Entry::Symlink(_) | Entry::Hardlink(_)))
                .map(|(p, (_, e))| (p, e))
                .collect(),
        )
    }

    /// The kept content of the file at `path`, following links.
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        let resolved = self.resolve(path)?;
        match self.entry(&resolved)? {
            Entry::File { content: Some(c), .. } => Some(c),
            _ => None,
        }
    }
}

/// Resolve `path` through the links `entry` finds (see [`View::resolve`]), telling `on_link`
/// the path of every link followed on the way.
fn resolve_with<'a>(
    path: &str,
    entry: impl Fn(&str) -> Option<&'a Entry>,
    on_link: &mut dyn FnMut(&str),
) -> Option<String> {
    let mut pending: Vec<String> = path.split('/').filter(|p| !p.is_empty()).rev().map(str::to_owned).collect();
    let mut done = String::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                if done.is_empty() {
                    // A relative link (or path) climbing out of the root: refused.
                    return None;
                }
                done = parent(&done).to_owned();
                continue;
            }
            _ => {}
        }
        let candidate = join(&done, &part);
        match entry(&candidate) {
            Some(Entry::Symlink(target)) => {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                on_link(&candidate);
                if target.starts_with('/') {
                    done.clear();
                }
                pending.extend(target.split('/').filter(|p| !p.is_empty()).rev().map(str::to_owned));
            }
            Some(Entry::Hardlink(target)) if pending.is_empty() => {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                on_link(&candidate);
                done.clear();
                pending.extend(target.split('/').filter(|p| !p.is_empty()).rev().map(str::to_owned));
            }
            _ => done = candidate,
        }
    }
    Some(done)
}

/// The symbolic and hard links of an image (path → link entry), kept with an inventory so that
/// paths a traced run named can be resolved as the kernel did (reachability).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links(std::collections::HashMap<String, Entry>);

impl Links {
    /// Resolve `path` (cleaned, without a leading `/`) inside the image; `None` if a link
    /// climbs out of the root or links loop.
    pub fn resolve(&self, path: &str) -> Option<String> {
        resolve_with(path, |p| self.0.get(p), &mut |_| {})
    }

    /// [`Links::resolve`], also telling `on_link` every link followed on the way.
    pub fn resolve_each(&self, path: &str, on_link: &mut dyn FnMut(&str)) -> Option<String> {
        resolve_with(path, |p| self.0.get(p), on_link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(s: &str) -> Entry {
        Entry::File { content: Some(Arc::from(s.as_bytes())), binary: false }
    }

    fn layer(entries: &[(&str, Entry)]) -> LayerFiles {
        LayerFiles {
            entries: entries.iter().map(|(p, e)| ((*p).to_owned(), e.clone())).collect(),
            ..LayerFiles::default()
        }
    }

    #[test]
    fn clean_refuses_paths_that_climb_out_of_the_root() {
        assert_eq!(clean("./etc//os-release").as_deref(), Ok("etc/os-release"));
        assert_eq!(clean("/a/b/../c").as_deref(), Ok("a/c"));
        assert!(clean("../etc/passwd").is_err());
        assert!(clean("a/../../etc/passwd").is_err());
    }

    #[test]
    fn whiteouts_hide_files_and_directories_of_lower_layers() {
        let mut view = View::default();
        view.apply(0, layer(&[("a/x", file("1")), ("a/sub/y", file("2")), ("b", file("3"))]));
        let mut top = layer(&[("c", file("4"))]);
        assert_eq!(top.classify("a/.wh.sub"), None);
        assert_eq!(top.classify(".wh.b"), None);
        view.apply(1, top);
        let paths: Vec<_> = view.paths().collect();
        assert_eq!(paths, vec![("a/x", 0), ("c", 1)]);
    }

    #[test]
    fn opaque_directories_hide_lower_contents_but_keep_their_own() {
        let mut view = View::default();
        view.apply(0, layer(&[("d/old", file("1")), ("e", file("2"))]));
        let mut top = layer(&[("d/new", file("3"))]);
        assert_eq!(top.classify("d/.wh..wh..opq"), None);
        view.apply(1, top);
        let paths: Vec<_> = view.paths().map(|(p, _)| p).collect();
        assert_eq!(paths, vec!["d/new", "e"]);
    }

    #[test]
    fn links_resolve_inside_the_image_and_never_climb_out() {
        let mut view = View::default();
        view.apply(
            0,
            layer(&[
                ("usr/lib/os-release", file("ID=debian")),
                ("etc/os-release", Entry::Symlink("../usr/lib/os-release".into())),
                ("lib", Entry::Symlink("usr/lib".into())),
                ("abs", Entry::Symlink("/usr/lib/os-release".into())),
                ("hard", Entry::Hardlink("usr/lib/os-release".into())),
                ("evil", Entry::Symlink("../../../../etc/shadow".into())),
                ("loop", Entry::Symlink("loop".into())),
            ]),
        );
        assert_eq!(view.read("etc/os-release"), Some(&b"ID=debian"[..]));
        assert_eq!(view.read("lib/os-release"), Some(&b"ID=debian"[..]));
        assert_eq!(view.read("abs"), Some(&b"ID=debian"[..]));
        assert_eq!(view.read("hard"), Some(&b"ID=debian"[..]));
        assert_eq!(view.resolve("evil"), None);
        assert_eq!(view.resolve("loop"), None);
    }
}
