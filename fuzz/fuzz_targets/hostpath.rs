//! Fuzz target: arbitrary text through berth-hostpath's `component`, `relative` and
//! `strip_root` (the boundary every untrusted name crosses to become a host path). Whatever is
//! accepted must stay beneath its root; any panic or escape is a bug. The same properties run
//! on stable in `crates/berth-hostpath/tests/path_properties.rs`.
#![no_main]

use std::path::{Component, Path, PathBuf};

use berth_hostpath::{component, relative, strip_root};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (a, b) = text.split_once('\0').unwrap_or((text, ""));
    if let Ok(name) = component(a) {
        let parts: Vec<Component<'_>> = Path::new(name).components().collect();
        assert!(matches!(parts.as_slice(), [Component::Normal(n)] if *n == name), "{a:?}");
    }
    if let Ok(rel) = relative(a) {
        assert!(rel.components().all(|c| matches!(c, Component::Normal(_))), "{a:?} → {rel:?}");
        let root = Path::new("/srv/root");
        assert!(root.join(&rel).starts_with(root));
        assert_eq!(strip_root(root, &root.join(&rel)).expect("beneath"), rel);
    }
    let (root, path) = (PathBuf::from(format!("/{a}")), PathBuf::from(format!("/{b}")));
    if let Ok(rest) = strip_root(&root, &path) {
        assert!(rest.components().all(|c| matches!(c, Component::Normal(_))), "{a:?} {b:?} → {rest:?}");
        assert!(path.starts_with(&root));
    }
});
