//! dpkg: `var/lib/dpkg/status` (stanzas with `Depends`, `Pre-Depends`, `Provides`,
//! `Essential`, `Conffiles`), `var/lib/dpkg/info/<pkg>[:arch].list` (owned paths) and
//! `var/lib/dpkg/diversions`.
//!
//! berth-inventory's dpkg analyzer lists packages for an SBOM and skips what minify needs
//! (dependencies, provides, essential flags, diversions, non-installed states), and depends on
//! the container engine; this reader stays small and self-contained instead.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Database, Dep, Diversion, Manager, Package, Provide, Relation};
use crate::error::MinifyError;

/// The status file, relative to the root.
pub const STATUS: &str = "var/lib/dpkg/status";
/// The per-package files (`<pkg>[:arch].<ext>`), relative to the root.
pub const INFO: &str = "var/lib/dpkg/info";
/// The diversions, relative to the root.
pub const DIVERSIONS: &str = "var/lib/dpkg/diversions";
/// File trigger interests (`<path> <package>[/noawait]` lines), relative to the root.
const TRIGGERS_FILE: &str = "var/lib/dpkg/triggers/File";
/// The per-package files dpkg writes in `info/`: the control files a `.deb` may carry and the
/// lists dpkg makes. Only these are deleted with a package, so `python3.list` never takes
/// `python3.11.list` with it.
const INFO_EXTENSIONS: [&str; 12] = [
    "list",
    "md5sums",
    "conffiles",
    "config",
    "postinst",
    "postrm",
    "preinst",
    "prerm",
    "shlibs",
    "symbols",
    "templates",
    "triggers",
];

/// Read the dpkg database of `root`.
pub fn read(root: &Path) -> Result<Database, MinifyError> {
    let status_path = root.join(STATUS);
    let text = std::fs::read_to_string(&status_path).map_err(MinifyError::io("read", &status_path))?;
    let mut packages: Vec<Package> = Vec::new();
    for stanza in stanzas(&text) {
        let fields = fields(stanza);
        let get = |key: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str());
        let Some(name) = get("Package") else {
            return Err(MinifyError::Database {
                path: status_path.clone(),
                message: format!("a stanza has no `Package:` field: {:?}", stanza.lines().next().unwrap_or("")),
            });
        };
        let installed = get("Status").is_some_and(|s| s.split_whitespace().nth(2) == Some("installed"));
        let arch = get("Architecture").map(str::to_owned);
        let mut depends = parse_depends(get("Pre-Depends").unwrap_or(""));
        depends.extend(parse_depends(get("Depends").unwrap_or("")));
        let provides = parse_depends(get("Provides").unwrap_or(""))
            .into_iter()
            .flatten()
            .map(|d| Provide { name: d.name, version: d.constraint.map(|(_, v)| v) })
            .collect();
        let mut files = list_files(root, name, arch.as_deref())?;
        // Conffiles are in the list too; a list that lost them must not make them unowned.
        for line in get("Conffiles").unwrap_or("").lines() {
            if let Some(path) = line.split_whitespace().next().filter(|p| p.starts_with('/')) {
                files.push(path.to_owned());
            }
        }
        let package = Package {
            name: name.to_owned(),
            version: get("Version").unwrap_or("").to_owned(),
            arch,
            depends,
            provides,
            essential: get("Essential").is_some_and(|e| e.eq_ignore_ascii_case("yes")),
            files,
            installed,
        };
        // Multi-Arch: same packages installed for two architectures are one package here:
        // minify keeps or removes a name, never half of it.
        if let Some(existing) = packages.iter_mut().find(|p| p.name == package.name) {
            existing.files.extend(package.files);
            existing.installed |= package.installed;
            existing.essential |= package.essential;
        } else {
            packages.push(package);
        }
    }
    for p in &mut packages {
        let unique: BTreeSet<String> = p.files.drain(..).collect();
        p.files = unique.into_iter().collect();
    }
    Ok(Database { manager: Manager::Dpkg, packages, diversions: read_diversions(root)? })
}

/// The paths in `info/<name>:<arch>.list` or `info/<name>.list` (none if neither exists:
/// packages in `config-files` state may have no list).
fn list_files(root: &Path, name: &str, arch: Option<&str>) -> Result<Vec<String>, MinifyError> {
    let mut candidates = Vec::new();
    if let Some(arch) = arch {
        candidates.push(root.join(INFO).join(format!("{name}:{arch}.list")));
    }
    candidates.push(root.join(INFO).join(format!("{name}.list")));
    for path in candidates {
        match std::fs::read(&path) {
            Ok(bytes) => {
                return Ok(String::from_utf8_lossy(&bytes)
                    .lines()
                    .filter(|l| l.starts_with('/'))
                    // `/.` is how dpkg lists the root directory.
                    .map(|l| if l == "/." { "/".to_owned() } else { l.to_owned() })
                    .collect());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(MinifyError::io("read", path)(e)),
        }
    }
    Ok(Vec::new())
}

/// `var/lib/dpkg/diversions`: three lines per diversion (from, to, package or `:`).
fn read_diversions(root: &Path) -> Result<Vec<Diversion>, MinifyError> {
    let path = root.join(DIVERSIONS);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MinifyError::io("read", path)(e)),
    };
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines
        .chunks(3)
        .filter(|c| c.len() == 3)
        .map(|c| Diversion { from: c[0].to_owned(), to: c[1].to_owned(), by: (c[2] != ":").then(|| c[2].to_owned()) })
        .collect())
}

/// Drop `packages` from `status`, delete their `info/<pkg>.*` files, their file-trigger
/// interests, and the diversions they made.
pub fn forget(root: &Path, packages: &[String]) -> Result<(), MinifyError> {
    let gone: BTreeSet<&str> = packages.iter().map(String::as_str).collect();
    let status_path = root.join(STATUS);
    let text = std::fs::read_to_string(&status_path).map_err(MinifyError::io("read", &status_path))?;
    let kept: Vec<&str> = stanzas(&text)
        .filter(|s| {
            let fields = fields(s);
            !fields.iter().any(|(k, v)| k.eq_ignore_ascii_case("Package") && gone.contains(v.as_str()))
        })
        .collect();
    let mut out = kept.join("\n\n");
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    write_atomically(&status_path, out.as_bytes())?;

    let info = root.join(INFO);
    let entries = std::fs::read_dir(&info).map_err(MinifyError::io("list", &info))?;
    for entry in entries {
        let entry = entry.map_err(MinifyError::io("list", &info))?;
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some((stem, ext)) = file_name.rsplit_once('.') else {
            continue;
        };
        let owner = stem.split_once(':').map_or(stem, |(n, _)| n);
        if INFO_EXTENSIONS.contains(&ext) && gone.contains(owner) {
            std::fs::remove_file(entry.path()).map_err(MinifyError::io("remove", entry.path()))?;
        }
    }

    let triggers = root.join(TRIGGERS_FILE);
    if let Ok(text) = std::fs::read_to_string(&triggers) {
        let kept: String = text
            .lines()
            .filter(|l| {
                let package = l.split_whitespace().nth(1).unwrap_or("");
                let package = package.split(['/', ':']).next().unwrap_or("");
                !gone.contains(package)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        write_atomically(&triggers, kept.as_bytes())?;
    }

    let diversions = root.join(DIVERSIONS);
    if diversions.exists() {
        let kept: String = read_diversions(root)?
            .into_iter()
            .filter(|d| d.by.as_deref().is_none_or(|by| !gone.contains(by)))
            .map(|d| format!("{}\n{}\n{}\n", d.from, d.to, d.by.as_deref().unwrap_or(":")))
            .collect();
        write_atomically(&diversions, kept.as_bytes())?;
    }
    Ok(())
}

/// Replace `path` by `bytes` through a temporary file and a rename, keeping its permissions.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), MinifyError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".berth-minify");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(MinifyError::io("write", &tmp))?;
    // Never through a link: the root is an image's, its links may point anywhere on the host.
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.is_symlink()
    {
        std::fs::set_permissions(&tmp, meta.permissions()).map_err(MinifyError::io("set permissions of", &tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(MinifyError::io("replace", path))
}

pub(crate) use berth_package::control::{fields, stanzas};

/// A `Depends`-style field: `a (>= 1) | b:any, c [amd64] <!nocheck>` into groups of
/// alternatives. Architecture qualifiers (`:any`, `:amd64`) are dropped: one architecture's
/// packages are installed side by side, and `Multi-Arch` packages are one package here.
pub fn parse_depends(field: &str) -> Vec<Vec<Dep>> {
    field
        .split(',')
        .map(|group| group.split('|').filter_map(parse_dep).collect::<Vec<_>>())
        .filter(|group| !group.is_empty())
        .collect()
}

fn parse_dep(text: &str) -> Option<Dep> {
    // Architecture restrictions `[...]` and build profiles `<...>` only matter to builds.
    // (`<<` inside the parentheses is a relation, not a profile.)
    let text = text.split('[').next().unwrap_or("");
    let after_relation = text.find(')').map_or(0, |i| i + 1);
    let text = text[after_relation..].find('<').map_or(text, |i| &text[..after_relation + i]).trim();
    let (name, constraint) = match text.split_once('(') {
        Some((name, rest)) => {
            let rest = rest.trim_end().trim_end_matches(')').trim();
            let ops: [(&str, Relation); 7] = [
                (">=", Relation::GreaterEqual),
                ("<=", Relation::LessEqual),
                (">>", Relation::Greater),
                ("<<", Relation::Less),
                ("=", Relation::Equal),
                (">", Relation::GreaterEqual),
                ("<", Relation::LessEqual),
            ];
            let constraint = ops
                .iter()
                .find_map(|(op, rel)| rest.strip_prefix(op).map(|v| (*rel, v.trim().to_owned())))
                .filter(|(_, v)| !v.is_empty());
            (name.trim(), constraint)
        }
        None => (text, None),
    };
    let name = name.split(':').next().unwrap_or("").trim();
    (!name.is_empty()).then(|| Dep { name: name.to_owned(), constraint })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_fields_parse_into_groups_of_alternatives() {
        let groups = parse_depends("libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, perl:any, foo [amd64] <!nocheck>");
        let names: Vec<Vec<&str>> = groups.iter().map(|g| g.iter().map(|d| d.name.as_str()).collect()).collect();
        assert_eq!(names, [vec!["libc6"], vec!["debconf", "debconf-2.0"], vec!["perl"], vec!["foo"]]);
        assert_eq!(groups[0][0].constraint, Some((Relation::GreaterEqual, "2.34".to_owned())));
        assert_eq!(groups[1][1].constraint, None);
        assert_eq!(parse_depends("a (<< 3)")[0][0].constraint, Some((Relation::Less, "3".to_owned())));
        assert!(parse_depends("").is_empty());
    }
}
