//! Whether an installed version satisfies a dependency's constraint, ordered as the package
//! manager orders it (berth-package, the same code the advisory matcher uses): dpkg's
//! algorithm for dpkg databases, apk's for apk, `rpmvercmp` for rpm. A version its scheme
//! cannot read satisfies every constraint, so that minify keeps more, never less.

use std::cmp::Ordering;

use berth_package::version::Scheme;

use super::{Manager, Relation};

/// The version scheme of a package manager's database.
pub fn scheme(manager: Manager) -> Scheme {
    match manager {
        Manager::Dpkg => Scheme::Dpkg,
        Manager::Apk => Scheme::Apk,
        Manager::Rpm => Scheme::Rpm,
    }
}

/// Whether `version` satisfies `relation target` under `scheme`.
pub fn satisfies(scheme: Scheme, version: &str, relation: Relation, target: &str) -> bool {
    let Ok(ord) = scheme.compare(version, target) else { return true };
    match relation {
        Relation::Less => ord == Ordering::Less,
        Relation::LessEqual => ord != Ordering::Greater,
        Relation::Equal => ord == Ordering::Equal,
        Relation::GreaterEqual => ord != Ordering::Less,
        Relation::Greater => ord == Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_database_orders_versions_as_its_manager_does() {
        let dpkg = scheme(Manager::Dpkg);
        assert!(satisfies(dpkg, "2.36-9+deb12u4", Relation::GreaterEqual, "2.36"));
        assert!(!satisfies(dpkg, "2.36", Relation::Greater, "2.36"));
        assert!(satisfies(dpkg, "1.0~rc1", Relation::Less, "1.0"));
        // apk: `_rc` is a pre-release, below the release; dpkg's rules would put it above.
        let apk = scheme(Manager::Apk);
        assert!(satisfies(apk, "1.36.1-r15", Relation::GreaterEqual, "1.36.1-r2"));
        assert!(satisfies(apk, "1.2_rc1", Relation::Less, "1.2"));
        assert!(!satisfies(dpkg, "1.2_rc1", Relation::Less, "1.2"));
        // rpm: a tilde sorts before the release, and letters below digits in a segment.
        let rpm = scheme(Manager::Rpm);
        assert!(satisfies(rpm, "1.0~rc1-1", Relation::Less, "1.0-1"));
        assert!(satisfies(rpm, "1.0a-1", Relation::Less, "1.0.1-1"));
        // Unreadable versions keep the package.
        assert!(satisfies(apk, "not a version!", Relation::Greater, "1.0"));
    }
}
