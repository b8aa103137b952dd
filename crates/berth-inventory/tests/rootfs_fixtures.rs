//! The analyzers on the committed test root filesystems (`testdata/rootfs/`): what each package
//! database yields, and the rules around them (installed state, ownership, origins, links).

use berth_inventory::{Origin, OsFamily, PackageKind, Target, sbom_local};

fn inventory(fixture: &str) -> berth_inventory::Inventory {
    sbom_local(&Target::Rootfs(format!("testdata/rootfs/{fixture}").into())).expect("inventory")
}

fn names(inv: &berth_inventory::Inventory, kind: PackageKind) -> Vec<String> {
    inv.packages.iter().filter(|p| p.kind == kind).map(|p| format!("{} {}", p.name, p.version)).collect()
}

#[test]
fn dpkg_lists_installed_packages_with_their_source_packages() {
    let inv = inventory("neuro");
    assert_eq!(inv.os.as_ref().map(|o| (o.family, o.version.as_str())), Some((OsFamily::Debian, "12.5")));
    let debs = names(&inv, PackageKind::Deb);
    assert!(!debs.iter().any(|d| d.starts_with("oldpkg")), "config-files-only packages are not installed: {debs:?}");
    let bash = inv.packages.iter().find(|p| p.name == "bash").expect("bash");
    assert_eq!((bash.source_name.as_deref(), bash.source_version.as_deref()), (Some("bash"), Some("5.2.15-2")));
    assert_eq!(bash.purl, "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12.5");
}

#[test]
fn neurodebian_builds_are_flagged_but_debian_packages_by_the_same_team_are_not() {
    let inv = inventory("neuro");
    let fsl = inv.packages.iter().find(|p| p.name == "fsl-core").expect("fsl-core");
    assert!(matches!(&fsl.origin, Origin::ThirdParty { repository, .. } if repository == "NeuroDebian"));
    let nibabel = inv.packages.iter().find(|p| p.name == "python3-nibabel").expect("nibabel deb");
    assert_eq!(nibabel.origin, Origin::Distribution);
}

#[test]
fn python_distributions_owned_by_os_or_conda_packages_are_not_counted_twice() {
    let inv = inventory("neuro");
    // nibabel: dpkg's python3-nibabel.list owns its dist-info; numpy: conda's files list owns it.
    assert_eq!(names(&inv, PackageKind::Python), vec!["nipype 1.8.6".to_owned()]);
    assert_eq!(names(&inv, PackageKind::Conda), vec!["ants 2.4.4".to_owned(), "numpy 1.26.4".to_owned()]);
    let ants = inv.packages.iter().find(|p| p.name == "ants").expect("ants");
    assert!(matches!(&ants.origin, Origin::ThirdParty { repository, .. } if repository == "aramislab"));
    let alpine = inventory("alpine");
    assert_eq!(names(&alpine, PackageKind::Python), vec!["requests 2.31.0".to_owned()], "py3-six owns six");
}

#[test]
fn npm_packages_are_package_roots_under_node_modules() {
    let inv = inventory("neuro");
    assert_eq!(
        names(&inv, PackageKind::Npm),
        vec!["@babel/code-frame 7.23.5".to_owned(), "bids-validator 1.14.0".to_owned()]
    );
}

#[test]
fn a_link_out_of_the_root_is_not_followed() {
    // var/lib/dpkg/status-old points at ../../../../../../../../etc/shadow; nothing of the host
    // may be read through it.
    let inv = inventory("neuro");
    assert!(inv.packages.iter().all(|p| !p.location.contains("status-old")));
}

#[test]
fn apk_records_origin_as_the_source_package() {
    let inv = inventory("alpine");
    assert_eq!(inv.os.as_ref().map(|o| o.release()), Some("3.19".to_owned()));
    let crypto = inv.packages.iter().find(|p| p.name == "libcrypto3").expect("libcrypto3");
    assert_eq!(crypto.source_name.as_deref(), Some("openssl"));
    assert_eq!(crypto.purl, "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=3.19.1");
}

#[test]
fn the_berkeleydb_and_sqlite_rpm_databases_list_the_same_packages() {
    let bdb = inventory("centos7");
    let sqlite = inventory("rocky9");
    assert_eq!(names(&bdb, PackageKind::Rpm), names(&sqlite, PackageKind::Rpm));
    assert_eq!(names(&bdb, PackageKind::Rpm).len(), 4);
    let ssl = bdb.packages.iter().find(|p| p.name == "openssl-libs").expect("openssl-libs");
    assert_eq!(
        (ssl.version.as_str(), ssl.source_name.as_deref(), ssl.source_version.as_deref()),
        ("1:1.0.2k-26.el7_9", Some("openssl"), Some("1:1.0.2k-26.el7_9"))
    );
    assert_eq!(bdb.os.as_ref().map(|o| (o.id.as_str(), o.version.as_str())), Some(("centos", "7.9.2009")));
    let htop = bdb.packages.iter().find(|p| p.name == "htop").expect("htop");
    assert!(htop.origin.is_third_party(), "EPEL is not CentOS");
}

#[test]
fn distroless_status_d_is_read_one_file_per_package() {
    let inv = inventory("distroless");
    assert_eq!(
        names(&inv, PackageKind::Deb),
        vec!["libssl3 3.0.11-1~deb12u2".to_owned(), "tzdata 2024a-0+deb12u1".to_owned()]
    );
}
