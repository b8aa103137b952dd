//! Property tests of the archive entry-name normaliser ([`berth_inventory::fs::clean`]) and of
//! link resolution inside an image ([`berth_inventory::fs::View::resolve`]): whatever an archive
//! names, the result is a path inside the image root or a refusal. CI runs these on stable;
//! `fuzz/fuzz_targets/archive_names.rs` explores the same on nightly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_inventory::fs::{Entry, LayerFiles, View, clean};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("./".to_owned()),
        Just("../".to_owned()),
        Just("\0".to_owned()),
        "[a-c]{1,3}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..10).prop_map(|v| v.concat())
}

/// Depth of a cleaned path against a lexical walk: `None` when `..` climbs above the root.
fn lexical(raw: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    for p in raw.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn clean_names_stay_inside_the_root(raw in name()) {
        match clean(&raw) {
            Ok(c) => {
                prop_assert!(!c.starts_with('/'));
                prop_assert!(c.is_empty() || c.split('/').all(|p| !p.is_empty() && p != "." && p != ".."));
                prop_assert_eq!(Some(c.split('/').filter(|p| !p.is_empty()).collect::<Vec<_>>()), lexical(&raw));
                // Idempotent.
                prop_assert_eq!(clean(&c).unwrap(), c);
            }
            Err(e) => {
                prop_assert_eq!(lexical(&raw), None);
                prop_assert_eq!(e.path, raw);
            }
        }
    }

    #[test]
    fn links_resolve_inside_the_image_or_not_at_all(target in name(), path in name()) {
        let mut layer = LayerFiles::default();
        layer.entries.insert("etc/passwd".into(), Entry::File { content: Some(b"image".to_vec().into()), binary: false });
        layer.entries.insert("a/link".into(), Entry::Symlink(target.clone()));
        let mut view = View::default();
        view.apply(0, layer);
        for p in [format!("a/link/{path}"), "a/link".to_owned(), path.clone()] {
            if let Some(resolved) = view.resolve(&p) {
                prop_assert!(!resolved.starts_with('/'), "{p:?} → {resolved:?}");
                prop_assert!(resolved.split('/').all(|c| c != ".." && c != "."), "{p:?} → {resolved:?}");
            }
        }
    }
}
