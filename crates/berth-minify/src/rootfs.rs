//! Paths resolved inside the root filesystem, never on the host: an absolute link target
//! (`/bin -> usr/bin`, `/etc/alternatives/awk -> /usr/bin/mawk`) is taken relative to the
//! root, and `..` never climbs out of it.
//!
//! Files are compared under one canonical form, the *key*: every directory component
//! resolved, the last component kept as it is (a link stays a link). On a merged-/usr system
//! `/bin/sh` (what a dpkg list says) and `/usr/bin/sh` (what a trace says) have the same key,
//! `/usr/bin/sh`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};

/// Links followed in one lookup before giving up, as the kernel's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// A root filesystem directory.
#[derive(Debug)]
pub struct Root {
    dir: PathBuf,
    /// Resolved directories by key, so ten thousand files in `/usr/lib` resolve it once.
    dirs: RefCell<HashMap<String, String>>,
}

/// What a lookup of a path went through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lookup {
    /// The key of every link followed as the last component, in order (the accessed path
    /// itself first when it is a link). Links followed as directory components (`/bin`,
    /// `/lib64`) are in `dir_links`.
    pub links: Vec<String>,
    /// The keys of links followed as directory components.
    pub dir_links: Vec<String>,
    /// The fully resolved path.
    pub target: String,
}

impl Root {
    /// The root filesystem at `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned(), dirs: RefCell::new(HashMap::new()) }
    }

    /// Where `path` (absolute inside the root) is on the host.
    pub fn host(&self, path: &str) -> PathBuf {
        self.dir.join(path.trim_start_matches('/'))
    }

    /// `lstat` of `path` inside the root.
    pub fn lstat(&self, path: &str) -> Option<Metadata> {
        std::fs::symlink_metadata(self.host(path)).ok()
    }

    /// The key of `path`: its directory resolved, its last component kept.
    pub fn key(&self, path: &str) -> String {
        let (parent, name) = split_last(path);
        match name {
            None => "/".to_owned(),
            // `dir/..` is a directory: resolve it whole.
            Some("..") => self.resolve_dir(path),
            Some(name) => join(&self.resolve_dir(parent), name),
        }
    }

    /// Resolve `path` completely, following every link (a lookup as `open` does it).
    pub fn lookup(&self, path: &str) -> Lookup {
        let mut lookup = Lookup::default();
        let mut current = self.key(path);
        for _ in 0..MAX_LINKS {
            let Some(target) = self.read_link(&current) else {
                break;
            };
            lookup.links.push(current.clone());
            let (parent, _) = split_last(&current);
            let next = if target.starts_with('/') { target } else { format!("{parent}/{target}") };
            self.collect_dir_links(&next, &mut lookup.dir_links);
            current = self.key(&next);
        }
        self.collect_dir_links(path, &mut lookup.dir_links);
        lookup.target = current;
        lookup
    }

    /// The target of `path` if it is a link inside the root.
    fn read_link(&self, path: &str) -> Option<String> {
        let meta = self.lstat(path)?;
        if !meta.file_type().is_symlink() {
            return None;
        }
        Some(std::fs::read_link(self.host(path)).ok()?.to_string_lossy().into_owned())
    }

    /// The keys of the links among `path`'s directory components.
    fn collect_dir_links(&self, path: &str, out: &mut Vec<String>) {
        let (parent, _) = split_last(path);
        let mut prefix = String::new();
        for component in components(parent) {
            if component == ".." {
                prefix = split_last(&prefix).0.to_owned();
                continue;
            }
            let candidate = self.key(&join(&prefix, component));
            if self.read_link(&candidate).is_some() {
                out.push(candidate.clone());
            }
            prefix = self.resolve_dir(&candidate);
        }
    }

    /// A directory path with every component resolved.
    fn resolve_dir(&self, path: &str) -> String {
        if let Some(done) = self.dirs.borrow().get(path) {
            return done.clone();
        }
        let resolved = self.resolve_dir_uncached(path, 0);
        self.dirs.borrow_mut().insert(path.to_owned(), resolved.clone());
        resolved
    }

    fn resolve_dir_uncached(&self, path: &str, depth: usize) -> String {
        let mut resolved = String::from("/");
        let mut pending: Vec<String> = components(path).map(str::to_owned).collect();
        pending.reverse();
        let mut hops = depth;
        while let Some(component) = pending.pop() {
            if component == ".." {
                resolved = split_last(&resolved).0.to_owned();
                continue;
            }
            let candidate = join(&resolved, &component);
            match self.read_link(&candidate) {
                Some(target) if hops < MAX_LINKS => {
                    hops += 1;
                    if target.starts_with('/') {
                        resolved = "/".to_owned();
                    }
                    pending.extend(components(&target).rev().map(str::to_owned));
                }
                _ => resolved = candidate,
            }
        }
        resolved
    }
}

/// The non-empty, non-`.` components of `path`.
fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// `(parent, last component)`; the root has no last component.
fn split_last(path: &str) -> (&str, Option<&str>) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((parent, name)) if !name.is_empty() && name != "." => {
            (if parent.is_empty() { "/" } else { parent }, Some(name))
        }
        _ => ("/", None),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') { format!("{dir}{name}") } else { format!("{dir}/{name}") }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn merged_usr() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        for d in ["usr/bin", "usr/lib", "etc/alternatives"] {
            std::fs::create_dir_all(r.join(d)).expect("mkdir");
        }
        symlink("usr/bin", r.join("bin")).expect("link");
        symlink("usr/lib", r.join("lib")).expect("link");
        std::fs::write(r.join("usr/bin/mawk"), "").expect("write");
        symlink("/etc/alternatives/awk", r.join("usr/bin/awk")).expect("link");
        symlink("/usr/bin/mawk", r.join("etc/alternatives/awk")).expect("link");
        symlink("../../../../../../etc", r.join("usr/lib/up")).expect("link");
        dir
    }

    #[test]
    fn keys_resolve_directories_not_the_last_component() {
        let dir = merged_usr();
        let root = Root::new(dir.path());
        assert_eq!(root.key("/bin/awk"), "/usr/bin/awk");
        assert_eq!(root.key("/usr/bin/awk"), "/usr/bin/awk");
        assert_eq!(root.key("/bin"), "/bin");
        assert_eq!(root.key("/"), "/");
        // `..` and absolute targets stay inside the root.
        assert_eq!(root.key("/lib/up/alternatives/awk"), "/etc/alternatives/awk");
        assert_eq!(root.key("/../../bin/x"), "/usr/bin/x");
    }

    #[test]
    fn lookups_record_every_link_on_the_way() {
        let dir = merged_usr();
        let root = Root::new(dir.path());
        let lookup = root.lookup("/bin/awk");
        assert_eq!(lookup.links, ["/usr/bin/awk", "/etc/alternatives/awk"]);
        assert_eq!(lookup.dir_links, ["/bin"]);
        assert_eq!(lookup.target, "/usr/bin/mawk");
    }
}
