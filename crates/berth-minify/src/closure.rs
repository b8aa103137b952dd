//! Which packages stay: the seeds (accessed, user-kept, essential, the package manager) and
//! everything they depend on, each with the first reason found.
//!
//! A dependency group `a | b` is satisfied by any installed package named or providing one of
//! its alternatives at a matching version. When no member of a group is kept yet, a group with
//! a single candidate is settled first; only then does a group with a choice take its first
//! installed candidate, so `a | b` keeps `b` when `b` is needed anyway. A version constraint
//! no installed package meets is relaxed rather than dropped: keeping too much is safe, keeping
//! too little breaks the image.

use std::collections::{BTreeMap, HashMap};

use crate::db::version::{satisfies, scheme};
use crate::db::{Database, Dep};
use crate::plan::KeepReason;

/// The kept packages (indexes into `db.packages`) with why, from `seeds`.
pub fn closure(db: &Database, seeds: impl IntoIterator<Item = (usize, KeepReason)>) -> BTreeMap<usize, KeepReason> {
    let mut kept: BTreeMap<usize, KeepReason> = BTreeMap::new();
    for (i, reason) in seeds {
        let slot = kept.entry(i).or_insert_with(|| reason.clone());
        if reason < *slot {
            *slot = reason;
        }
    }
    let providers = providers(db);
    let mut done: Vec<bool> = vec![false; db.packages.len()];
    loop {
        // Settle everything forced (groups with one candidate), to a fixed point.
        let mut deferred: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut changed = true;
        while changed {
            changed = false;
            deferred.clear();
            let order: Vec<usize> = kept.keys().copied().collect();
            for i in order {
                if done[i] {
                    continue;
                }
                let mut open = false;
                for group in &db.packages[i].depends {
                    let candidates = candidates(&providers, scheme(db.manager), group);
                    if candidates.is_empty() || candidates.iter().any(|c| kept.contains_key(c)) {
                        continue;
                    }
                    if let [only] = candidates[..] {
                        kept.insert(only, KeepReason::DependencyOf { package: db.packages[i].name.clone() });
                        changed = true;
                    } else {
                        open = true;
                        deferred.push((i, candidates));
                    }
                }
                done[i] = !open;
            }
        }
        // Then make one choice, and settle again.
        let Some((i, candidates)) = deferred.into_iter().find(|(_, c)| !c.iter().any(|c| kept.contains_key(c))) else {
            return kept;
        };
        kept.insert(candidates[0], KeepReason::DependencyOf { package: db.packages[i].name.clone() });
    }
}

/// Name → installed packages that are or provide it, with the version they offer.
fn providers(db: &Database) -> HashMap<&str, Vec<(usize, Option<&str>)>> {
    let mut map: HashMap<&str, Vec<(usize, Option<&str>)>> = HashMap::new();
    for (i, p) in db.packages.iter().enumerate().filter(|(_, p)| p.installed) {
        map.entry(p.name.as_str()).or_default().push((i, Some(p.version.as_str())));
        for provide in &p.provides {
            map.entry(provide.name.as_str()).or_default().push((i, provide.version.as_deref()));
        }
    }
    map
}

/// The installed packages satisfying any alternative of `group`, in the group's order.
fn candidates(
    providers: &HashMap<&str, Vec<(usize, Option<&str>)>>,
    scheme: berth_package::version::Scheme,
    group: &[Dep],
) -> Vec<usize> {
    let mut matching = Vec::new();
    let mut relaxed = Vec::new();
    for dep in group {
        for (i, version) in providers.get(dep.name.as_str()).into_iter().flatten() {
            let ok = match (&dep.constraint, version) {
                (None, _) => true,
                (Some((relation, target)), Some(v)) => satisfies(scheme, v, *relation, target),
                // An unversioned Provides does not satisfy a versioned dependency (Debian policy 7.5).
                (Some(_), None) => false,
            };
            let list = if ok { &mut matching } else { &mut relaxed };
            if !list.contains(i) {
                list.push(*i);
            }
        }
    }
    if matching.is_empty() { relaxed } else { matching }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::dpkg::parse_depends;
    use crate::db::{Manager, Package, Provide};

    fn pkg(name: &str, depends: &str, provides: &[&str]) -> Package {
        Package {
            name: name.to_owned(),
            version: "1.0".to_owned(),
            depends: parse_depends(depends),
            provides: provides.iter().map(|p| Provide { name: (*p).to_owned(), version: None }).collect(),
            installed: true,
            ..Package::default()
        }
    }

    fn kept_names(db: &Database, seeds: &[&str]) -> Vec<String> {
        let seeds = seeds.iter().map(|s| {
            (db.packages.iter().position(|p| p.name == *s).expect("seed"), KeepReason::Accessed { path: "/x".into() })
        });
        closure(db, seeds).keys().map(|i| db.packages[*i].name.clone()).collect()
    }

    #[test]
    fn depends_pre_depends_virtuals_and_alternatives() {
        let db = Database {
            manager: Manager::Dpkg,
            packages: vec![
                pkg("app", "libc6 (>= 0.5), awk, mail-transport-agent | postfix, zlib1g | libz-ng", &[]),
                pkg("libc6", "", &[]),
                pkg("mawk", "", &["awk"]),
                pkg("exim", "libc6", &["mail-transport-agent"]),
                pkg("postfix", "", &[]),
                pkg("libz-ng", "", &[]),
                pkg("unrelated", "", &[]),
                Package { installed: false, ..pkg("zlib1g", "", &[]) },
            ],
            diversions: Vec::new(),
        };
        // awk → mawk (virtual); the first installed alternative of each choice; `zlib1g` is not
        // installed, so `libz-ng` it is.
        assert_eq!(kept_names(&db, &["app"]), ["app", "libc6", "mawk", "exim", "libz-ng"]);
    }

    #[test]
    fn a_choice_already_needed_is_not_doubled() {
        let db = Database {
            manager: Manager::Dpkg,
            packages: vec![pkg("app", "a | b, b", &[]), pkg("a", "", &[]), pkg("b", "", &[])],
            diversions: Vec::new(),
        };
        assert_eq!(kept_names(&db, &["app"]), ["app", "b"]);
    }

    #[test]
    fn reasons_name_the_dependent_and_seeds_keep_the_strongest_reason() {
        let db = Database {
            manager: Manager::Dpkg,
            packages: vec![pkg("app", "lib", &[]), pkg("lib", "", &[])],
            diversions: Vec::new(),
        };
        let kept = closure(&db, [(0, KeepReason::Essential), (0, KeepReason::Accessed { path: "/a".into() })]);
        assert_eq!(kept[&0], KeepReason::Accessed { path: "/a".into() });
        assert_eq!(kept[&1], KeepReason::DependencyOf { package: "app".into() });
    }
}
