//! Fuzz target: archive entry names and link targets, as an image archive would give them,
//! through berth-inventory's normaliser (`fs::clean`), link resolution inside an image
//! (`fs::View::resolve`) and berth-registry's member-name and link checks. Nothing accepted may
//! lead outside the image or archive root. Stable twin:
//! `crates/berth-inventory/tests/entry_name_properties.rs`.
#![no_main]

use berth_inventory::fs::{Entry, LayerFiles, View, clean};
use berth_registry::archive::{link_inside, normalize_member};
use libfuzzer_sys::fuzz_target;

fn inside(p: &str) -> bool {
    !p.starts_with('/') && p.split('/').all(|c| c != ".." && c != ".")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (name, target) = text.split_once('\0').unwrap_or((text, "x"));
    if let Ok(c) = clean(name) {
        assert!(inside(&c), "{name:?} → {c:?}");
        assert_eq!(clean(&c).as_deref(), Ok(c.as_str()));
    }
    if let Some(m) = normalize_member(name) {
        assert!(inside(&m), "{name:?} → {m:?}");
        if let Some(l) = link_inside(&m, target) {
            assert!(inside(&l), "{m:?} -> {target:?} → {l:?}");
        }
    }
    let mut layer = LayerFiles::default();
    layer.entries.insert("a/link".into(), Entry::Symlink(target.to_owned()));
    let mut view = View::default();
    view.apply(0, layer);
    if let Some(r) = view.resolve(&format!("a/link/{name}")) {
        assert!(inside(&r), "{name:?} via {target:?} → {r:?}");
    }
});
