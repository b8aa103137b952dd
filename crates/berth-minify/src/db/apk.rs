//! apk: `lib/apk/db/installed`, one block per package: `P:` name, `V:` version, `A:` arch,
//! `D:` dependencies, `p:` provides, `F:` directory and `R:` file lines.
//!
//! apk has no `Essential` flag; the packages a working Alpine system cannot lose (the C
//! library, the base layout, busybox's shell and the package manager) are marked essential
//! here instead.

use std::collections::BTreeSet;
use std::path::Path;

use super::dpkg::{stanzas, write_atomically};
use super::{Database, Dep, Manager, Package, Provide, Relation};
use crate::error::MinifyError;

/// The installed database, relative to the root.
pub const INSTALLED: &str = "lib/apk/db/installed";
/// The packages the user asked for, relative to the root.
const WORLD: &str = "etc/apk/world";
/// What an Alpine system needs to run a shell and verify packages (apk-tools itself is kept
/// as the package manager).
const ESSENTIAL: [&str; 5] = ["musl", "busybox", "alpine-baselayout", "alpine-baselayout-data", "alpine-keys"];

/// Read the apk database of `root`.
pub fn read(root: &Path) -> Result<Database, MinifyError> {
    let path = root.join(INSTALLED);
    let text = std::fs::read_to_string(&path).map_err(MinifyError::io("read", &path))?;
    let mut packages = Vec::new();
    for block in stanzas(&text) {
        let mut p = Package { installed: true, ..Package::default() };
        let mut folder = String::new();
        for line in block.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key {
                "P" => p.name = value.to_owned(),
                "V" => p.version = value.to_owned(),
                "A" => p.arch = Some(value.to_owned()),
                "D" => p.depends.extend(value.split_whitespace().filter_map(parse_dep).map(|d| vec![d])),
                "p" => p.provides.extend(
                    value
                        .split_whitespace()
                        .filter_map(parse_dep)
                        .map(|d| Provide { name: d.name, version: d.constraint.map(|(_, v)| v) }),
                ),
                "F" => {
                    folder = value.to_owned();
                    p.files.push(format!("/{folder}"));
                }
                "R" => p.files.push(if folder.is_empty() { format!("/{value}") } else { format!("/{folder}/{value}") }),
                _ => {}
            }
        }
        if p.name.is_empty() {
            return Err(MinifyError::Database { path, message: "a block has no `P:` line".to_owned() });
        }
        p.essential = ESSENTIAL.contains(&p.name.as_str());
        packages.push(p);
    }
    Ok(Database { manager: Manager::Apk, packages, diversions: Vec::new() })
}

/// One `D:`/`p:` token: `name`, `name>=1.2`, `so:libc.musl-x86_64.so.1`; conflicts (`!name`)
/// are not dependencies.
fn parse_dep(token: &str) -> Option<Dep> {
    if token.starts_with('!') {
        return None;
    }
    let ops: [(&str, Relation); 6] = [
        (">=", Relation::GreaterEqual),
        ("<=", Relation::LessEqual),
        ("~", Relation::GreaterEqual),
        ("=", Relation::Equal),
        (">", Relation::Greater),
        ("<", Relation::Less),
    ];
    for (op, relation) in ops {
        if let Some((name, version)) = token.split_once(op) {
            return Some(Dep { name: name.to_owned(), constraint: Some((relation, version.to_owned())) });
        }
    }
    Some(Dep { name: token.to_owned(), constraint: None })
}

/// Drop `packages` from `installed` and from `etc/apk/world`.
pub fn forget(root: &Path, packages: &[String]) -> Result<(), MinifyError> {
    let gone: BTreeSet<&str> = packages.iter().map(String::as_str).collect();
    let path = root.join(INSTALLED);
    let text = std::fs::read_to_string(&path).map_err(MinifyError::io("read", &path))?;
    let kept: Vec<&str> =
        stanzas(&text).filter(|b| !b.lines().any(|l| l.strip_prefix("P:").is_some_and(|n| gone.contains(n)))).collect();
    let mut out = kept.join("\n\n");
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    write_atomically(&path, out.as_bytes())?;
    let world = root.join(WORLD);
    if let Ok(text) = std::fs::read_to_string(&world) {
        let kept: String = text
            .split_whitespace()
            .filter(|w| parse_dep(w).is_none_or(|d| !gone.contains(d.name.as_str())))
            .map(|w| format!("{w}\n"))
            .collect();
        write_atomically(&world, kept.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_with_their_constraints() {
        assert_eq!(parse_dep("so:libc.musl-x86_64.so.1").map(|d| d.name), Some("so:libc.musl-x86_64.so.1".to_owned()));
        let d = parse_dep("busybox>=1.36").expect("dep");
        assert_eq!((d.name.as_str(), d.constraint), ("busybox", Some((Relation::GreaterEqual, "1.36".to_owned()))));
        assert_eq!(parse_dep("cmd:ls=1.36.1-r15").map(|d| d.name), Some("cmd:ls".to_owned()));
        assert_eq!(parse_dep("!conflict"), None);
    }
}
