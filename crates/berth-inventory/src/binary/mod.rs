//! What no package owns: executables and shared libraries that no package database claims
//! (the seed paper's advice is to install packages, not files, because nothing sees the rest).
//!
//! The pass runs after the analyzers, so that only files no package claims are ever read:
//! 1. candidates are regular files with an execute bit, or named like a shared library
//!    (`libx.so`, `libx.so.1.2`), outside the package managers' own databases;
//! 2. a candidate that a package manager (dpkg `.list`, apk `R:`, rpm file list, conda
//!    `files`) or a language package (a wheel's `RECORD`, an egg's `installed-files.txt`,
//!    everything under an npm package's directory) claims is owned; claimed paths are resolved
//!    inside the image (dpkg says `/bin/ls`, the file is at `usr/bin/ls` on merged-/usr
//!    systems), their final component left as it is;
//! 3. the rest are read once: files that are not ELF (scripts) are left out; ELF files are
//!    hashed (SHA-256), and their build metadata is read — Go build info ([`go`]) and Rust
//!    `cargo auditable` dependency lists ([`rust`]) — to attribute the modules and crates they
//!    were built from, as Syft's and Trivy's binary catalogers do.

pub mod go;
pub mod rust;

use object::{Object, ObjectSection};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fs::{View, file_name, parent};
use crate::model::{Package, PackageKind};

/// The pass as it is named among the analyzers of an inventory; bump [`VERSION`] whenever what
/// it reads or reports changes.
pub const NAME: &str = "binaries";
/// See [`NAME`].
pub const VERSION: u32 = 1;

/// Whether `path` is named like a shared library: `*.so` or `*.so.<version>`.
pub fn is_library_name(path: &str) -> bool {
    let name = file_name(path);
    name.ends_with(".so")
        || name.match_indices(".so.").any(|(i, _)| name[i + 4..].starts_with(|c: char| c.is_ascii_digit()))
}

/// Directories that hold a package manager's own records (maintainer scripts are executable,
/// but they are the database, not installed files).
const DATABASES: &[&str] = &["var/lib/dpkg/", "lib/apk/db/", "var/lib/rpm/", "usr/lib/sysimage/rpm/"];

/// What kind of ELF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BinaryKind {
    /// A program (`ET_EXEC`, or a position-independent `ET_DYN` with an interpreter).
    Executable,
    /// A shared library (`ET_DYN` without an interpreter).
    SharedLibrary,
    /// Another ELF file with an execute bit (a relocatable object, a core file).
    Other,
}

impl BinaryKind {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Executable => "executable",
            Self::SharedLibrary => "shared-library",
            Self::Other => "other",
        }
    }
}

/// An ELF file that no package claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnownedFile {
    /// Where it is, relative to the image root.
    pub path: String,
    /// Its kind.
    pub kind: BinaryKind,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its content, hex (absent when the file was over a limit and not read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The SHA-1 of its content, hex (SPDX requires it for every file), when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// The layer that wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// The toolchain that built it, when the binary says (`go1.22.1`, `rust`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toolchain: Option<String>,
    /// The main module or crate it was built from, when the binary says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<String>,
    /// How many packages (Go modules, Rust crates) its build metadata attributes to it.
    #[serde(default)]
    pub attributed: usize,
}

/// Whether `path` is already clean (no leading `/`, no empty, `.` or `..` component), the case
/// of nearly every line of a package database: then it is used as it is, without a copy.
fn is_clean(path: &str) -> bool {
    // One pass over the bytes (called for every path every package lists).
    let b = path.as_bytes();
    let mut start = 0;
    for i in 0..=b.len() {
        if i == b.len() || b[i] == b'/' {
            if matches!(&b[start..i], b"" | b"." | b"..") {
                return false;
            }
            start = i + 1;
        }
    }
    true
}

/// The candidates of the pass, with the layer that wrote them, sorted: the files of the view
/// that may be binaries and the `unchecked` files (a root filesystem's, not stated yet; see
/// [`crate::fs::LayerFiles::unchecked`]), outside the package databases, that none of `files`
/// (paths packages install) and `dirs` (directories a package owns whole) claims.
///
/// Claimed paths are resolved inside the image (dpkg says `/bin/ls`, the file is at
/// `usr/bin/ls` on a merged-/usr system), their directory only: a claimed link does not claim
/// what it points to. Only the candidates are kept in a set; the claims are looked up in it.
pub fn unclaimed<'a>(
    view: &View,
    unchecked: &[(String, usize)],
    files: impl Iterator<Item = &'a str>,
    dirs: impl Iterator<Item = &'a str>,
) -> Vec<(String, usize)> {
    let outside_databases = |p: &str| !DATABASES.iter().any(|d| p.starts_with(d));
    let mut open: foldhash::HashMap<&str, usize> = view
        .files()
        .filter(|(_, _, binary)| *binary)
        .map(|(p, l, _)| (p, l))
        .chain(unchecked.iter().map(|(p, l)| (p.as_str(), *l)))
        .filter(|(p, _)| outside_databases(p))
        .collect();
    if open.is_empty() {
        return Vec::new();
    }
    // Directory → where it really is, when a link on the way makes that differ. A package's
    // files come directory by directory: the last directory is remembered, not looked up again.
    let mut moved: foldhash::HashMap<&'a str, Option<String>> = foldhash::HashMap::default();
    let mut last: Option<(&'a str, Option<String>)> = None;
    let mut moved_to = String::new();
    for f in files {
        if is_clean(f) {
            open.remove(f);
            let dir = parent(f);
            if dir.is_empty() {
                continue;
            }
            if last.as_ref().is_none_or(|(d, _)| *d != dir) {
                let r = moved.entry(dir).or_insert_with(|| view.resolve(dir).filter(|r| r != dir)).clone();
                last = Some((dir, r));
            }
            if let Some((_, Some(r))) = &last {
                moved_to.clear();
                if !r.is_empty() {
                    moved_to.push_str(r);
                    moved_to.push('/');
                }
                moved_to.push_str(file_name(f));
                open.remove(moved_to.as_str());
            }
        } else if let Ok(c) = crate::fs::clean(f) {
            open.remove(c.as_str());
            let dir = parent(&c);
            if let Some(r) = view.resolve(dir).filter(|r| !dir.is_empty() && r != dir) {
                let path = if r.is_empty() { file_name(&c).to_owned() } else { format!("{r}/{}", file_name(&c)) };
                open.remove(path.as_str());
            }
        }
    }
    for d in dirs.filter_map(|d| crate::fs::clean(d).ok()) {
        for d in [view.resolve(&d), Some(d)].into_iter().flatten() {
            let prefix = format!("{d}/");
            open.retain(|p, _| !p.starts_with(&prefix));
        }
    }
    let mut found: Vec<(String, usize)> = open.into_iter().map(|(p, l)| (p.to_owned(), l)).collect();
    found.sort();
    found
}

/// Whether `head` starts an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// Examine an unowned ELF file held in memory.
pub fn examine_bytes(path: &str, layer: Option<usize>, bytes: &[u8], warnings: &mut Vec<String>) -> Examined {
    let digests = (hex::encode(Sha256::digest(bytes)), hex::encode(sha1::Sha1::digest(bytes)));
    examine(path, layer, bytes.len() as u64, Some(digests), bytes, warnings)
}

/// Examine an unowned ELF file on disk: hashed as it streams by (no more than the `size` it
/// was stated at, should it grow meanwhile), then its sections read on demand (a 170 MB Go
/// binary is not held in memory).
pub fn examine_file(
    path: &str,
    layer: Option<usize>,
    mut file: std::fs::File,
    size_stated: u64,
    warnings: &mut Vec<String>,
) -> std::io::Result<Examined> {
    use std::io::{Read, Seek};
    let mut hasher = Sha256::new();
    let mut sha1 = sha1::Sha1::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    let mut limited = (&mut file).take(size_stated);
    loop {
        let n = limited.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        sha1.update(&buffer[..n]);
        size += n as u64;
    }
    file.rewind()?;
    let cache = object::ReadCache::new(file);
    let digests = (hex::encode(hasher.finalize()), hex::encode(sha1.finalize()));
    Ok(examine(path, layer, size, Some(digests), &cache, warnings))
}

/// An unowned file that was not read (over a limit): listed by path and size only.
pub fn unread(path: &str, layer: Option<usize>, size: u64) -> UnownedFile {
    UnownedFile {
        path: path.to_owned(),
        kind: BinaryKind::Other,
        size,
        sha256: None,
        sha1: None,
        layer,
        toolchain: None,
        main: None,
        attributed: 0,
    }
}

/// An unowned file and the packages its build metadata names.
pub type Examined = (UnownedFile, Vec<Package>);

fn examine<'d, R: object::ReadRef<'d>>(
    path: &str,
    layer: Option<usize>,
    size: u64,
    digests: Option<(String, String)>,
    data: R,
    warnings: &mut Vec<String>,
) -> Examined {
    let (sha256, sha1) = digests.unzip();
    let mut record = UnownedFile { sha256, sha1, ..unread(path, layer, size) };
    let mut packages = Vec::new();
    let file = match object::File::parse(data) {
        Ok(f) => f,
        Err(e) => {
            warnings.push(format!("`{path}`: an ELF file that cannot be parsed ({e}); listed by hash only"));
            return (record, packages);
        }
    };
    record.kind = match file.kind() {
        object::ObjectKind::Executable => BinaryKind::Executable,
        object::ObjectKind::Dynamic => {
            if file.section_by_name(".interp").is_some() {
                BinaryKind::Executable
            } else {
                BinaryKind::SharedLibrary
            }
        }
        _ => BinaryKind::Other,
    };
    // A module or crate linked into the binary lives in that file.
    let package = |kind, name: String, version: String| Package {
        layer,
        files: vec![path.to_owned()],
        ..Package::language(kind, name, version, path)
    };
    match go::build_info(&file) {
        Ok(Some(info)) => {
            record.toolchain = Some(info.go_version.clone());
            record.main = info.main.as_ref().map(|m| m.path.clone()).or(info.path.clone());
            if let Some(v) = stdlib_version(&info.go_version) {
                packages.push(package(PackageKind::Go, "stdlib".to_owned(), v));
            }
            // A main module built from a checkout says `(devel)`; its release version is then
            // often stamped through the linker (`-ldflags -X main.version=1.2.3`), as Syft reads it.
            let main = info.main.clone().map(|mut m| {
                if m.version == "(devel)" || m.version.is_empty() {
                    m.version = go::ldflags_version(&info.settings).unwrap_or_default();
                }
                m
            });
            for m in main.iter().filter(|m| !m.version.is_empty()).chain(&info.deps) {
                packages.push(package(PackageKind::Go, m.path.clone(), m.version.trim_start_matches('v').to_owned()));
            }
        }
        Ok(None) => {}
        Err(e) => warnings.push(format!("`{path}`: Go build info not read: {e}")),
    }
    match rust::dependencies(&file) {
        Ok(Some(crates)) => {
            record.toolchain.get_or_insert_with(|| "rust".to_owned());
            record.main = crates.iter().find(|c| c.root).map(|c| format!("{} {}", c.name, c.version));
            for c in crates.iter().filter(|c| c.source == "crates.io") {
                packages.push(package(PackageKind::Rust, c.name.clone(), c.version.clone()));
            }
        }
        Ok(None) => {}
        Err(e) => warnings.push(format!("`{path}`: the `cargo auditable` section is not readable: {e}")),
    }
    record.attributed = packages.len();
    (record, packages)
}

/// The standard library's version as OSV's Go ecosystem writes it: `go1.21.5` → `1.21.5`, a
/// first release `go1.20` → `1.20.0`, a pre-release `go1.21rc2` → `1.21.0-rc.2`; build suffixes
/// (`go1.22.1 X:boringcrypto`, `-bigcorp`) are dropped. `None` for a development toolchain.
pub fn stdlib_version(go_version: &str) -> Option<String> {
    let v = go_version.strip_prefix("go")?;
    let v = v.split([' ', '-']).next().unwrap_or(v);
    let (release, pre) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => {
            let (r, p) = v.split_at(i);
            let digits = p.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            let word = &p[..p.len() - digits.len()];
            (r, Some(format!("{word}.{digits}")))
        }
        None => (v, None),
    };
    let parts: Vec<&str> = release.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut numbers = parts.join(".");
    if parts.len() == 2 {
        numbers.push_str(".0");
    }
    Some(match pre {
        Some(p) => format!("{numbers}-{p}"),
        None => numbers,
    })
}

/// The data of the section `name`, if the file has one with contents.
fn section<'d, R: object::ReadRef<'d>>(file: &object::File<'d, R>, name: &str) -> Option<&'d [u8]> {
    file.section_by_name(name).and_then(|s| s.data().ok()).filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::Entry;

    #[test]
    fn go_toolchain_versions_as_osv_writes_them() {
        assert_eq!(stdlib_version("go1.21.5").as_deref(), Some("1.21.5"));
        assert_eq!(stdlib_version("go1.20").as_deref(), Some("1.20.0"));
        assert_eq!(stdlib_version("go1.21rc2").as_deref(), Some("1.21.0-rc.2"));
        assert_eq!(stdlib_version("go1.22.1 X:boringcrypto").as_deref(), Some("1.22.1"));
        assert_eq!(stdlib_version("devel go1.23-abc"), None);
        assert_eq!(stdlib_version("go1.x"), None);
    }

    #[test]
    fn library_names_and_elf_magic() {
        assert!(is_library_name("usr/lib/libz.so.1.2.13"));
        assert!(is_library_name("opt/x/libfoo.so"));
        assert!(!is_library_name("usr/share/doc/so.txt"));
        assert!(!is_library_name("usr/lib/python3/x.solution"));
        assert!(!is_library_name("etc/ld.so.cache"));
        assert!(!is_library_name("etc/ld.so.conf"));
        assert!(is_elf(b"\x7fELF\x02\x01"));
        assert!(!is_elf(b"#!/bin/sh\n"));
    }

    #[test]
    fn claimed_paths_resolve_their_directories_not_their_names() {
        let mut view = View::default();
        let mut layer = crate::fs::LayerFiles::default();
        layer.entries.insert("bin".into(), Entry::Symlink("usr/bin".into()));
        layer.entries.insert("usr/bin/ls".into(), Entry::File { content: None, binary: true });
        layer.entries.insert("usr/bin/editor".into(), Entry::Symlink("/opt/ed/ed".into()));
        layer.entries.insert("opt/ed/ed".into(), Entry::File { content: None, binary: true });
        layer.entries.insert("opt/node_modules/x/bin/x".into(), Entry::File { content: None, binary: true });
        layer.entries.insert("var/lib/dpkg/info/ls.postinst".into(), Entry::File { content: None, binary: true });
        layer.entries.insert("usr/lib/libq.so.1".into(), Entry::File { content: None, binary: false });
        layer.entries.insert("usr/lib/libr.so.1".into(), Entry::File { content: None, binary: true });
        view.apply(0, layer);
        let unchecked = vec![("opt/plain/tool".to_owned(), 0), ("bin/ls".to_owned(), 0)];
        let found: Vec<String> = unclaimed(
            &view,
            &unchecked,
            ["/bin/ls", "/usr/bin/editor", "./opt/../bin/ls"].into_iter(),
            ["opt/node_modules/x"].into_iter(),
        )
        .into_iter()
        .map(|(p, _)| p)
        .collect();
        // A claimed link does not claim what it points to (opt/ed/ed).
        assert_eq!(found, ["opt/ed/ed", "opt/plain/tool", "usr/lib/libr.so.1"].map(String::from).to_vec());
    }
    #[test]
    fn clean_paths_have_no_empty_dot_or_dot_dot_component() {
        for clean in ["usr/bin/ls", "a", "a/.b/..c/c.", "usr/lib/x86_64-linux-gnu/libc.so.6"] {
            assert!(is_clean(clean), "{clean}");
        }
        for unclean in ["", ".", "..", "/usr/bin", "usr//bin", "usr/bin/", "./usr", "usr/./bin", "usr/../bin", "a/.."] {
            assert!(!is_clean(unclean), "{unclean}");
        }
    }

    /// The same answer as the plain definition: every candidate path in one set, each claim and
    /// its resolved twin removed, everything under a claimed directory removed.
    fn unclaimed_plainly(
        view: &View,
        unchecked: &[(String, usize)],
        files: &[&str],
        dirs: &[&str],
    ) -> Vec<(String, usize)> {
        let mut open: std::collections::BTreeMap<String, usize> = unchecked
            .iter()
            .cloned()
            .chain(view.files().filter(|f| f.2).map(|(p, l, _)| (p.to_owned(), l)))
            .filter(|(p, _)| !DATABASES.iter().any(|d| p.starts_with(d)))
            .collect();
        for f in files {
            let Ok(c) = crate::fs::clean(f) else { continue };
            open.remove(&c);
            let dir = parent(&c);
            if let Some(r) = view.resolve(dir).filter(|r| !dir.is_empty() && r != dir) {
                open.remove(&if r.is_empty() { file_name(&c).to_owned() } else { format!("{r}/{}", file_name(&c)) });
            }
        }
        for d in dirs.iter().filter_map(|d| crate::fs::clean(d).ok()) {
            for d in [view.resolve(&d), Some(d)].into_iter().flatten() {
                open.retain(|p, _| !p.starts_with(&format!("{d}/")));
            }
        }
        open.into_iter().collect()
    }

    proptest::proptest! {
        #[test]
        fn unclaimed_is_the_plain_set_difference(
            candidates in proptest::collection::vec("(bin|usr|usr/bin|usr/lib|opt|opt/x|var/lib/dpkg)/[a-c]{1,2}", 0..40),
            claims in proptest::collection::vec("/?(\\./)?(bin|usr|usr/bin|usr/lib|opt|opt/x|lib)/(\\.\\./)?[a-c]{1,2}", 0..40),
            owned in proptest::collection::vec("(opt|opt/x|usr|bin|usr/lib)", 0..3),
        ) {
            let mut view = View::default();
            let mut layer = crate::fs::LayerFiles::default();
            layer.entries.insert("bin".into(), Entry::Symlink("usr/bin".into()));
            layer.entries.insert("lib".into(), Entry::Symlink("usr/lib".into()));
            view.apply(0, layer);
            let unchecked: Vec<(String, usize)> = candidates.iter().map(|p| (p.clone(), 0)).collect();
            let files: Vec<&str> = claims.iter().map(String::as_str).collect();
            let dirs: Vec<&str> = owned.iter().map(String::as_str).collect();
            let fast = unclaimed(&view, &unchecked, files.iter().copied(), dirs.iter().copied());
            proptest::prop_assert_eq!(fast, unclaimed_plainly(&view, &unchecked, &files, &dirs));
        }
    }
}
