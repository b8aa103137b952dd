//! The plan: which packages stay (each with a reason), which go, which files are deleted,
//! and which files no package owns and the run never touched.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::closure::closure;
use crate::db::alternatives::{self, LINK_DIR};
use crate::db::{self, Database, Diversion, Manager};
use crate::error::MinifyError;
use crate::rootfs::Root;
use crate::trace::Trace;

/// The package managers themselves, kept so that the image can still be repaired and
/// extended (their dependencies follow through the closure).
const PACKAGE_MANAGERS: [(Manager, &[&str]); 3] = [
    (Manager::Dpkg, &["dpkg", "apt"]),
    (Manager::Apk, &["apk-tools"]),
    (Manager::Rpm, &["rpm", "dnf", "dnf5", "microdnf", "yum", "tdnf", "zypper"]),
];

/// The package managers that fetch and install from repositories (a subset of
/// [`PACKAGE_MANAGERS`]): one of them kept makes an image repairable.
const INSTALLERS: [&str; 8] = ["apt", "apk-tools", "dnf", "dnf5", "microdnf", "yum", "tdnf", "zypper"];

/// Where files no package owns are state the system needs (accounts, generated
/// configuration, package databases, debconf answers): never reported or pruned as unowned.
pub const UNOWNED_EXEMPT: [&str; 5] = ["/etc", "/var/lib", "/var/cache/debconf", "/lib/apk", "/usr/lib/sysimage"];

/// What the caller asks of a minification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinifyOptions {
    /// Also keep these: an absolute path (its owners, through symlinks, are kept; for a
    /// directory, the owners of every file under it) or a package name.
    pub keep: Vec<String>,
    /// Delete files no package owns that the run never accessed (outside `/etc` and `/var/lib`,
    /// which hold state maintainer scripts wrote). Off: they are only reported.
    pub prune_unowned: bool,
    /// Absolute paths never touched: runtime mounts (`/proc`, `/sys`, `/dev`, berth's own
    /// `/berth`) and anything else the caller mounts over the image.
    pub protect: Vec<PathBuf>,
    /// Keep only what the traced runs need: the distribution's Essential set and the package
    /// manager are not kept for their own sake (only when traced or depended on). The image
    /// can then no longer be repaired or extended with its package manager.
    pub minimal: bool,
}

impl Default for MinifyOptions {
    /// Nothing kept beyond what the run needs, unowned files reported only, the kernel's
    /// mounts and `/berth` protected.
    fn default() -> Self {
        Self {
            keep: Vec::new(),
            prune_unowned: false,
            protect: ["/proc", "/sys", "/dev", "/run", "/berth"].iter().map(PathBuf::from).collect(),
            minimal: false,
        }
    }
}

/// Why a package stays.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum KeepReason {
    /// The run accessed one of its files (this is one example).
    Accessed {
        /// An accessed path it owns.
        path: String,
    },
    /// The user asked for it, by name or by one of its paths.
    UserKeep {
        /// The `keep` entry.
        entry: String,
    },
    /// The distribution marks it essential (dpkg `Essential: yes`), or it is the package
    /// manager: a system without them cannot be repaired or extended.
    Essential,
    /// The package manager (dpkg, apt, apk-tools, rpm, dnf, ...).
    PackageManager,
    /// A kept package depends on it.
    DependencyOf {
        /// The package that needs it.
        package: String,
    },
}

/// One kept package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptPackage {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Why it stays (the first reason found, in the order of [`KeepReason`]).
    pub reason: KeepReason,
}

/// What [`apply`](crate::apply()) will do; serialisable for a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The root filesystem planned for.
    pub root: PathBuf,
    /// The package database format.
    pub manager: Manager,
    /// Installed packages before, by name.
    pub packages_before: Vec<String>,
    /// Packages that stay, by name, with why.
    pub kept: Vec<KeptPackage>,
    /// Packages removed, by name.
    pub removed: Vec<String>,
    /// Absolute paths (inside the root) of files and links to delete: owned only by removed
    /// packages, Python bytecode compiled in their own directories (`__pycache__`), or alternative
    /// links left pointing at nothing.
    pub delete: Vec<String>,
    /// Directories owned only by removed packages, deepest first: deleted if empty once
    /// `delete` is done (a directory still holding anything stays).
    pub delete_dirs: Vec<String>,
    /// dpkg diversions made by removed packages: the diverted file moves back.
    pub undivert: Vec<Diversion>,
    /// Alternatives whose chosen file goes while another stays: the links are pointed at it.
    pub repoint: Vec<Repoint>,
    /// Files and links no package owns and the run never accessed (outside
    /// [`UNOWNED_EXEMPT`] and the protected paths).
    pub unowned_unaccessed: Vec<String>,
    /// Directories no package owns holding `unowned_unaccessed` files, deepest first: deleted
    /// when pruning leaves them empty.
    pub unowned_dirs: Vec<String>,
    /// Whether `unowned_unaccessed` is deleted too.
    pub prune_unowned: bool,
    /// Paths never touched.
    pub protect: Vec<PathBuf>,
}

/// An alternative link group pointed at another choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repoint {
    /// The group (`/etc/alternatives/<name>`).
    pub name: String,
    /// The new choice.
    pub choice: alternatives::Choice,
    /// The group's slave names, in the order of `choice.slaves`.
    pub slave_names: Vec<String>,
    /// The group's slave links, in the same order.
    pub slave_links: Vec<String>,
}

/// Who owns each key: `(package index, whether the package lists it as a directory)`.
struct Owners(HashMap<String, Vec<(usize, bool)>>);

impl Owners {
    fn build(db: &Database, fs: &Root) -> Self {
        // A package's file at a path another package diverted is installed elsewhere.
        let diverted: HashMap<&str, &Diversion> = db.diversions.iter().map(|d| (d.from.as_str(), d)).collect();
        // dpkg lists every parent directory of a package's files: an entry under which any
        // package lists something is a directory, even where it is now a link (`/bin` on a
        // merged-/usr system, listed bare by base-files). A link a single package ships to a
        // directory (`/usr/lib/jvm/default-java`) has nothing listed under it and stays a file.
        let parents: HashSet<&str> = db
            .packages
            .iter()
            .flat_map(|p| &p.files)
            .flat_map(|f| f.match_indices('/').map(move |(at, _)| &f[..at.max(1)]))
            .collect();
        let mut map: HashMap<String, Vec<(usize, bool)>> = HashMap::new();
        for (i, p) in db.packages.iter().enumerate() {
            for file in &p.files {
                let path = match diverted.get(file.as_str()) {
                    Some(d) if d.by.as_deref() != Some(p.name.as_str()) => d.to.as_str(),
                    _ => file.as_str(),
                };
                let key = fs.key(path);
                let is_dir = file == "/"
                    || parents.contains(file.as_str())
                    || fs.lstat(&key).is_some_and(|m| m.file_type().is_dir());
                map.entry(key).or_default().push((i, is_dir));
            }
        }
        Self(map)
    }

    /// Packages owning `key` as a file or link (not as a directory).
    fn files(&self, key: &str) -> impl Iterator<Item = usize> + '_ {
        self.0.get(key).into_iter().flatten().filter(|(_, dir)| !dir).map(|(i, _)| *i)
    }

    /// Packages owning `key` at all.
    fn any(&self, key: &str) -> impl Iterator<Item = usize> + '_ {
        self.0.get(key).into_iter().flatten().map(|(i, _)| *i)
    }
}

impl Plan {
    /// Whether a package manager that installs from repositories stays (apt for dpkg, apk-tools,
    /// one of dnf/yum/… for rpm), so that the image can still be repaired and extended. dpkg or
    /// rpm alone is not enough: a minimal image keeps dpkg whenever a kept package depends on it
    /// (bookworm's `dash` does), yet without apt nothing can be fetched and installed.
    pub fn repairable(&self) -> bool {
        self.kept.iter().any(|k| INSTALLERS.contains(&k.name.as_str()))
    }
}

/// Decide what to keep and what to remove in `root` (an extracted image root filesystem) for
/// a run that accessed `trace`. Reads only; nothing in `root` changes. A trace without a single
/// successful access is refused ([`MinifyError::EmptyTrace`]).
pub fn plan(root: &Path, trace: &Trace, opts: &MinifyOptions) -> Result<Plan, MinifyError> {
    if trace.succeeded().next().is_none() {
        return Err(MinifyError::EmptyTrace);
    }
    let db = db::read(root)?;
    let fs = Root::new(root);
    let owners = Owners::build(&db, &fs);
    let protect: Vec<String> = opts.protect.iter().map(|p| fs.key(&p.to_string_lossy())).collect();
    let is_protected = |key: &str| under_any(key, &protect);

    let mut seeds = Vec::new();
    // Keys the run touched (paths, the links on the way, their targets): never "unowned, unused".
    let mut touched: HashSet<String> = HashSet::new();
    for access in &trace.accesses {
        let lookup = fs.lookup(&access.path);
        // A failed lookup of a path that exists in the image (permission denied, say) still
        // shows the run wanted it; one that does not exist says nothing about any package.
        if !access.ok && fs.lstat(&lookup.target).is_none() {
            continue;
        }
        for key in lookup.links.iter().chain(&lookup.dir_links).chain([&lookup.target]) {
            for owner in owners.files(key) {
                seeds.push((owner, KeepReason::Accessed { path: access.path.clone() }));
            }
            touched.insert(key.clone());
        }
    }
    let by_name: HashMap<&str, usize> =
        db.packages.iter().enumerate().filter(|(_, p)| p.installed).map(|(i, p)| (p.name.as_str(), i)).collect();
    let mut keep_dirs = Vec::new();
    for entry in &opts.keep {
        if entry.starts_with('/') {
            let lookup = fs.lookup(entry);
            let Some(meta) = fs.lstat(&lookup.target) else {
                return Err(MinifyError::UnknownKeep { entry: entry.clone() });
            };
            let reason = KeepReason::UserKeep { entry: entry.clone() };
            for key in lookup.links.iter().chain(&lookup.dir_links).chain([&lookup.target]) {
                seeds.extend(owners.files(key).map(|o| (o, reason.clone())));
                touched.insert(key.clone());
            }
            if meta.is_dir() {
                let prefix = format!("{}/", lookup.target.trim_end_matches('/'));
                for (key, list) in &owners.0 {
                    if key.starts_with(&prefix) {
                        seeds.extend(list.iter().filter(|(_, dir)| !dir).map(|(o, _)| (*o, reason.clone())));
                    }
                }
                keep_dirs.push(lookup.target.clone());
            }
        } else {
            let i = by_name.get(entry.as_str()).ok_or_else(|| MinifyError::UnknownKeep { entry: entry.clone() })?;
            seeds.push((*i, KeepReason::UserKeep { entry: entry.clone() }));
        }
    }
    let managers = PACKAGE_MANAGERS.iter().find(|(m, _)| *m == db.manager).map_or(&[][..], |(_, names)| *names);
    for (i, p) in db.packages.iter().enumerate().filter(|(_, p)| p.installed && !opts.minimal) {
        if p.essential {
            seeds.push((i, KeepReason::Essential));
        }
        if managers.contains(&p.name.as_str()) {
            seeds.push((i, KeepReason::PackageManager));
        }
    }
    // Packages not fully installed (dpkg `config-files`) are never removed: they are not in the
    // closure, but their files count as kept.
    let kept = closure(&db, seeds.into_iter().filter(|(i, _)| db.packages[*i].installed));
    let stays = |i: usize| kept.contains_key(&i) || !db.packages[i].installed;

    let mut delete = BTreeSet::new();
    let mut delete_dirs = BTreeSet::new();
    for (key, list) in &owners.0 {
        if list.iter().any(|(i, _)| stays(*i)) || is_protected(key) || key == "/" {
            continue;
        }
        if list.iter().any(|(_, dir)| *dir) {
            delete_dirs.insert(key.clone());
        } else if fs.lstat(key).is_some() {
            delete.insert(key.clone());
        }
    }
    let removed: BTreeSet<&str> = db
        .packages
        .iter()
        .enumerate()
        .filter(|(i, p)| p.installed && !stays(*i))
        .map(|(_, p)| p.name.as_str())
        .collect();
    let undivert: Vec<Diversion> =
        db.diversions.iter().filter(|d| d.by.as_deref().is_some_and(|by| removed.contains(by))).cloned().collect();

    let mut repoint = Vec::new();
    if db.manager == Manager::Dpkg {
        for group in alternatives::read(root)? {
            let gone = |path: &str| {
                let lookup = fs.lookup(path);
                lookup.links.iter().chain([&lookup.target]).any(|k| delete.contains(k))
                    || fs.lstat(&lookup.target).is_none()
            };
            let master = format!("{LINK_DIR}/{}", group.name);
            if fs.lstat(&master).is_none() || !gone(&master) {
                continue;
            }
            let best = group.choices.iter().filter(|c| !gone(&c.path)).max_by_key(|c| c.priority);
            match best {
                Some(choice) => repoint.push(Repoint {
                    name: group.name.clone(),
                    choice: choice.clone(),
                    slave_names: group.slaves.iter().map(|(n, _)| n.clone()).collect(),
                    slave_links: group.slaves.iter().map(|(_, l)| l.clone()).collect(),
                }),
                None => {
                    // Nothing left to point at: the links and what update-alternatives knows go.
                    let mut links = vec![master, group.link.clone()];
                    for (name, link) in &group.slaves {
                        links.push(format!("{LINK_DIR}/{name}"));
                        links.push(link.clone());
                    }
                    links.push(format!("/{}/{}", alternatives::ADMIN_DIR, group.name));
                    for link in links {
                        let key = fs.key(&link);
                        if fs.lstat(&key).is_some() && !owners.any(&key).any(stays) && !is_protected(&key) {
                            delete.insert(key);
                        }
                    }
                }
            }
        }
    }

    let mut exempt: Vec<String> = UNOWNED_EXEMPT.iter().map(|p| fs.key(p)).collect();
    exempt.extend(protect.iter().cloned());
    exempt.extend(keep_dirs);
    let mut unowned_unaccessed = Vec::new();
    let mut generated = Vec::new();
    walk(&fs, "/", &exempt, &mut |path| {
        // A link to a directory (`/bin -> usr/bin` where no package lists `/bin`) is structure,
        // not content: pruning it would cut off everything under it.
        // (Resolved inside the root: an absolute link target must not reach the host's files.)
        let dir_link = || fs.lstat(&fs.lookup(path).target).is_some_and(|m| m.is_dir());
        if owners.0.contains_key(path) || touched.contains(path) || delete.contains(path) || dir_link() {
            return;
        }
        // Python bytecode a removed package's maintainer scripts compiled in its own
        // directories (py3compile's `__pycache__`) is derived from its files and goes with
        // it: the nearest directory any package lists is listed only by removed packages.
        // Any other unowned file is the user's, pruned only when asked.
        let bytecode = path.contains("/__pycache__/") || path.ends_with(".pyc") || path.ends_with(".pyo");
        let nearest_owned =
            std::iter::successors(path.rsplit_once('/').map(|(p, _)| p), |d| d.rsplit_once('/').map(|(p, _)| p))
                .map(|d| if d.is_empty() { "/" } else { d })
                .find_map(|d| owners.0.get(d));
        if bytecode && nearest_owned.is_some_and(|list| !list.iter().any(|(i, _)| stays(*i))) {
            generated.push(path.to_owned());
        } else {
            unowned_unaccessed.push(path.to_owned());
        }
    })?;
    delete.extend(generated);
    // rpm lists few directories and apk only its own, and generated files sit in unlisted ones
    // (`__pycache__`): the directories above a deleted file that no staying package owns go
    // too, when nothing else is left in them.
    for key in &delete {
        let mut dir = key.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if parent.is_empty() || owners.any(parent).any(stays) || is_protected(parent) {
                break;
            }
            delete_dirs.insert(parent.to_owned());
            dir = parent;
        }
    }
    unowned_unaccessed.sort();
    let unowned_unaccessed = keep_language_metadata(&fs, unowned_unaccessed);
    // Directories holding only pruned files go with them (checked empty at apply time).
    let mut unowned_dirs = BTreeSet::new();
    for path in &unowned_unaccessed {
        let mut dir = path.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if parent.is_empty() || owners.0.contains_key(parent) || under_any(parent, &exempt) {
                break;
            }
            unowned_dirs.insert(parent.to_owned());
            dir = parent;
        }
    }

    let delete_dirs = deepest_first(delete_dirs);
    let unowned_dirs = deepest_first(unowned_dirs);
    // Sorted by name for the report.
    let kept_list = kept
        .iter()
        .map(|(i, reason)| {
            let p = &db.packages[*i];
            (p.name.clone(), KeptPackage { name: p.name.clone(), version: p.version.clone(), reason: reason.clone() })
        })
        .collect::<BTreeMap<_, _>>();
    Ok(Plan {
        root: root.to_owned(),
        manager: db.manager,
        packages_before: installed_names(&db),
        kept: kept_list.into_values().collect(),
        removed: removed.iter().map(|s| (*s).to_owned()).collect(),
        delete: delete.into_iter().collect(),
        delete_dirs,
        undivert,
        repoint,
        unowned_unaccessed,
        unowned_dirs,
        prune_unowned: opts.prune_unowned,
        protect: opts.protect.clone(),
    })
}

/// `paths` sorted deepest first, so that children go before their parents.
fn deepest_first(paths: BTreeSet<String>) -> Vec<String> {
    let mut paths: Vec<String> = paths.into_iter().collect();
    paths.sort_by(|a, b| b.matches('/').count().cmp(&a.matches('/').count()).then_with(|| b.cmp(a)));
    paths
}

/// `unowned` without the metadata of Python distributions that stay in part: a scanner finds
/// a pip-installed package by its `*.dist-info` (`METADATA`, `RECORD`), which the run itself
/// rarely opens. A distribution whose `RECORD` lists a file that stays keeps its whole
/// `.dist-info`; `.egg-info` (no reliable file list) is always kept.
fn keep_language_metadata(fs: &Root, unowned: Vec<String>) -> Vec<String> {
    let pruned: HashSet<&str> = unowned.iter().map(String::as_str).collect();
    let mut keep_dirs: Vec<String> = Vec::new();
    for path in &unowned {
        let Some(info_dir) = path.strip_suffix("/RECORD").filter(|d| d.ends_with(".dist-info")) else {
            continue;
        };
        let site = info_dir.rsplit_once('/').map_or("/", |(s, _)| s);
        let Ok(record) = std::fs::read_to_string(fs.host(path)) else {
            continue;
        };
        let stays = record.lines().filter_map(|l| l.split(',').next()).filter(|f| !f.is_empty()).any(|f| {
            let file = lexical(&format!("{site}/{f}"));
            !file.starts_with(&format!("{info_dir}/")) && !pruned.contains(file.as_str()) && fs.lstat(&file).is_some()
        });
        if stays {
            keep_dirs.push(info_dir.to_owned());
        }
    }
    unowned.into_iter().filter(|p| !p.contains(".egg-info") && !under_any(p, &keep_dirs)).collect()
}

/// `path` with `.` and `..` resolved lexically (RECORD paths such as `../../../bin/tqdm`).
fn lexical(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The installed packages' names, sorted.
pub(crate) fn installed_names(db: &Database) -> Vec<String> {
    let names: BTreeSet<&str> = db.packages.iter().filter(|p| p.installed).map(|p| p.name.as_str()).collect();
    names.into_iter().map(str::to_owned).collect()
}

/// Whether `key` is one of `prefixes` or under one.
pub(crate) fn under_any(key: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| p == "/" || key == p || key.strip_prefix(p.as_str()).is_some_and(|r| r.starts_with('/')))
}

/// Call `found` with every file and link under `dir` (absolute inside the root), not entering
/// links or `skip`.
fn walk(fs: &Root, dir: &str, skip: &[String], found: &mut dyn FnMut(&str)) -> Result<(), MinifyError> {
    let host = fs.host(dir);
    let entries = std::fs::read_dir(&host).map_err(MinifyError::io("list", &host))?;
    let mut names: Vec<_> = entries.filter_map(Result::ok).collect();
    names.sort_by_key(std::fs::DirEntry::file_name);
    for entry in names {
        let path = format!("{}/{}", dir.trim_end_matches('/'), entry.file_name().to_string_lossy());
        if under_any(&path, skip) {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(fs, &path, skip, found)?;
        } else {
            found(&path);
        }
    }
    Ok(())
}
