//! Property tests of the path boundary (issue 14: "fuzz the path-handling functions"). CI runs
//! these on stable; the cargo-fuzz targets in `fuzz/` (`hostpath`, `archive_names`) explore the
//! same properties without bounds on nightly.
//!
//! Whatever text comes in, [`component`], [`relative`] and [`strip_root`] either refuse it or
//! return something that stays beneath its root, and [`Root`] never opens a file through a link.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Component, Path, PathBuf};

use berth_hostpath::{HostPathError, NAME_MAX, Root, component, relative, strip_root};
use proptest::prelude::*;

/// Text made of the pieces that matter to paths: separators, dots, NUL, newlines, a long name,
/// plain letters and some Unicode.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("\0".to_owned()),
        Just("\n".to_owned()),
        Just("\\".to_owned()),
        Just("~".to_owned()),
        Just("-".to_owned()),
        Just(" ".to_owned()),
        Just("é".to_owned()),
        Just("x".repeat(NAME_MAX + 1)),
        "[a-z]{1,4}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn a_component_is_exactly_one_normal_name(s in hostile()) {
        if let Ok(name) = component(&s) {
            prop_assert_eq!(name, s.as_str());
            let parts: Vec<Component<'_>> = Path::new(name).components().collect();
            prop_assert_eq!(parts.len(), 1);
            prop_assert!(matches!(parts[0], Component::Normal(n) if n == name));
            prop_assert!(name.len() <= NAME_MAX);
            prop_assert!(!name.chars().any(|c| c.is_ascii_control()));
            let root = Path::new("/srv/root");
            let joined = berth_hostpath::join_component(root, name).unwrap();
            prop_assert_eq!(joined.parent(), Some(root));
        }
    }

    #[test]
    fn a_relative_path_stays_beneath_any_root(s in hostile()) {
        match relative(&s) {
            Ok(rel) => {
                prop_assert!(!rel.as_os_str().is_empty());
                prop_assert!(rel.is_relative());
                for c in rel.components() {
                    let Component::Normal(n) = c else {
                        return Err(TestCaseError::fail(format!("{s:?} gave {c:?}")));
                    };
                    prop_assert!(component(n.to_str().unwrap()).is_ok());
                }
                let root = Path::new("/srv/root");
                let joined = root.join(&rel);
                prop_assert!(joined.starts_with(root));
                prop_assert_eq!(strip_root(root, &joined).unwrap(), rel);
            }
            Err(HostPathError::NotRelative { path, .. }) => prop_assert_eq!(&path, &s),
            Err(e) => return Err(TestCaseError::fail(format!("{s:?}: unexpected {e:?}"))),
        }
        // Any `..` segment, any leading `/`: always refused.
        if s.starts_with('/') || s.split('/').any(|p| p == "..") {
            prop_assert!(relative(&s).is_err());
        }
    }

    #[test]
    fn strip_root_returns_only_what_lies_beneath(root in hostile(), path in hostile()) {
        let (root, path) = (PathBuf::from(format!("/{root}")), PathBuf::from(format!("/{path}")));
        if let Ok(rest) = strip_root(&root, &path) {
            prop_assert!(rest.components().all(|c| matches!(c, Component::Normal(_))));
            let joined = root.join(&rest);
            prop_assert_eq!(joined.components().collect::<Vec<_>>(), path.components().collect::<Vec<_>>());
            prop_assert!(!path.components().any(|c| matches!(c, Component::ParentDir)));
        }
    }

}

proptest! {
    // Each case builds a directory tree: fewer cases keep the suite fast.
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn root_never_opens_through_a_link(s in hostile()) {
        // A root with a link to `/` and a link to a file outside: no relative path the
        // boundary accepts reaches either target.
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"secret").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("/", dir.path().join("sub/up")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("secret")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        for candidate in [s.clone(), format!("sub/up/{s}"), format!("secret{s}"), "secret".to_owned()] {
            let Ok(rel) = relative(&candidate) else { continue };
            if let Ok(mut f) = root.open_file(&rel) {
                use std::io::Read;
                let mut text = String::new();
                let _ = f.read_to_string(&mut text);
                prop_assert_ne!(text, "secret", "{:?} read a file outside the root", candidate);
            }
            if let Ok(opened) = root.open_beneath(&rel) {
                prop_assert!(opened.path.starts_with(dir.path()));
                prop_assert!(!rel.starts_with("sub/up") && !rel.starts_with("secret"), "{:?} opened through a link", rel);
            }
        }
    }
}
