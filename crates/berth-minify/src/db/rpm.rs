//! rpm: read and edited with the host's `rpm --root`, because rpm's database formats
//! (sqlite, BerkeleyDB, NDB) are rpm's to write: editing them by hand would leave a database
//! only berth can read. Needs the `rpm` command on the host.
//!
//! `Requires` are capabilities (`libc.so.6()(64bit)`, `/bin/sh`, `config(bash)`) resolved
//! against every package's `Provides` and, for paths, its files. `rpmlib(...)` requirements
//! are rpm's own features and name no package. rpm has no `Essential` flag: the base
//! packages and the package manager are marked essential here.

use std::path::Path;
use std::process::Command;

use super::{Database, Dep, Manager, Package, Provide};
use crate::error::MinifyError;

/// Where rpm databases live, relative to the root (newest layout first).
const DB_PATHS: [&str; 2] = ["usr/lib/sysimage/rpm", "var/lib/rpm"];
/// The base of an rpm-based system (the package manager itself is kept as such).
const ESSENTIAL: [&str; 3] = ["setup", "filesystem", "basesystem"];
/// One record per package: a header line, then requires, provides and files.
const QUERY_FORMAT: &str = "@@%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n[R\\t%{REQUIRENAME}\\n][P\\t%{PROVIDENAME}\\n][F\\t%{FILENAMES}\\n]";

/// Whether `root` has an rpm database.
pub fn present(root: &Path) -> bool {
    db_path(root).is_some()
}

/// The database directory, as rpm's `--dbpath` (absolute inside the root).
fn db_path(root: &Path) -> Option<String> {
    DB_PATHS
        .iter()
        .find(|d| {
            let dir = root.join(d);
            ["rpmdb.sqlite", "Packages", "Packages.db"].iter().any(|f| dir.join(f).is_file())
        })
        .map(|d| format!("/{d}"))
}

fn rpm(root: &Path, args: &[&str]) -> Result<String, MinifyError> {
    let dbpath = db_path(root).ok_or_else(|| MinifyError::NoPackageDatabase { root: root.to_owned() })?;
    let mut cmd = Command::new("rpm");
    cmd.arg("--root").arg(root).args(["--dbpath", &dbpath]).args(args);
    let shown = args.join(" ");
    let out = cmd.output().map_err(|e| MinifyError::Rpm { args: shown.clone(), message: e.to_string() })?;
    if !out.status.success() {
        return Err(MinifyError::Rpm { args: shown, message: String::from_utf8_lossy(&out.stderr).trim().to_owned() });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Read the rpm database of `root`.
pub fn read(root: &Path) -> Result<Database, MinifyError> {
    let text = rpm(root, &["-qa", "--qf", QUERY_FORMAT])?;
    Ok(Database { manager: Manager::Rpm, packages: parse_query(&text), diversions: Vec::new() })
}

/// Packages from the output of [`QUERY_FORMAT`].
fn parse_query(text: &str) -> Vec<Package> {
    let mut packages: Vec<Package> = Vec::new();
    for line in text.lines() {
        if let Some(header) = line.strip_prefix("@@") {
            let mut parts = header.split('\t');
            let name = parts.next().unwrap_or("").to_owned();
            // rpm prints no epoch as `0:`; dependency checks compare versions without it.
            let version = parts.next().unwrap_or("").trim_start_matches("0:").to_owned();
            let arch = parts.next().map(str::to_owned);
            let essential = ESSENTIAL.contains(&name.as_str());
            packages.push(Package { name, version, arch, essential, installed: true, ..Package::default() });
            continue;
        }
        let (Some(p), Some((kind, value))) = (packages.last_mut(), line.split_once('\t')) else {
            continue;
        };
        match kind {
            "R" if !value.starts_with("rpmlib(") => {
                p.depends.push(vec![Dep { name: value.to_owned(), constraint: None }]);
            }
            "P" => p.provides.push(Provide { name: value.to_owned(), version: None }),
            "F" => {
                // A file is a capability too (`Requires: /bin/sh`).
                p.provides.push(Provide { name: value.to_owned(), version: None });
                p.files.push(value.to_owned());
            }
            _ => {}
        }
    }
    packages
}

/// `rpm --root ROOT -e --justdb --nodeps --noscripts PACKAGES`: the records go, the files
/// (already deleted by [`crate::apply()`]) are not touched again.
pub fn forget(root: &Path, packages: &[String]) -> Result<(), MinifyError> {
    if packages.is_empty() {
        return Ok(());
    }
    let mut args = vec!["-e", "--justdb", "--nodeps", "--noscripts", "--notriggers", "--allmatches"];
    args.extend(packages.iter().map(String::as_str));
    rpm(root, &args).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_output_parses_into_packages() {
        let text = "@@bash\t0:5.2.26-3.fc40\tx86_64\nR\t/bin/sh\nR\trpmlib(BuiltinLuaScripts)\nR\tlibc.so.6()(64bit)\n\
                    P\tbash\nP\t/bin/sh\nF\t/usr/bin/bash\n@@glibc\t0:2.39-1\tx86_64\nP\tlibc.so.6()(64bit)\n";
        let packages = parse_query(text);
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].version, "5.2.26-3.fc40");
        let deps: Vec<&str> = packages[0].depends.iter().map(|g| g[0].name.as_str()).collect();
        assert_eq!(deps, ["/bin/sh", "libc.so.6()(64bit)"]);
        assert_eq!(packages[0].files, ["/usr/bin/bash"]);
        assert!(packages[0].provides.iter().any(|p| p.name == "/usr/bin/bash"));
    }
}
