//! Telling XNAT Commands from Boutiques descriptors on every descriptor this repository holds:
//! the 105 Boutiques cases of the bosh differential harness, berth-descriptor's test
//! descriptor, the example tool, and berth-xnat's own Commands.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use berth_xnat::{DocumentKind, Value, detect};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kind(path: &Path) -> DocumentKind {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    detect(&Value::parse(&text).unwrap()).kind
}

#[test]
fn boutiques_descriptors_are_boutiques() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/bosh/cases"))
        .unwrap()
        .map(|e| e.unwrap().path().join("descriptor.json"))
        .filter(|p| p.is_file())
        .collect();
    assert!(paths.len() >= 100, "the bosh cases moved? found {}", paths.len());
    paths.push(repo().join("crates/berth-descriptor/testdata/rich.json"));
    paths.push(repo().join("examples/dicom-normalize/dicom-normalize.json"));
    for p in &paths {
        assert_eq!(kind(p), DocumentKind::Boutiques, "{}", p.display());
    }
}

#[test]
fn xnat_commands_are_xnat_commands() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    for name in ["edge-cases.json", "shell.json"] {
        assert_eq!(kind(&testdata.join(name)), DocumentKind::XnatCommand, "{name}");
    }
    // The label form: an array of Commands.
    let label = format!(
        "[{}, {}]",
        std::fs::read_to_string(testdata.join("edge-cases.json")).unwrap(),
        std::fs::read_to_string(testdata.join("shell.json")).unwrap()
    );
    let d = detect(&Value::parse(&label).unwrap());
    assert_eq!(d.kind, DocumentKind::XnatCommandList);
    assert_eq!(berth_xnat::parse_commands_label(&label).unwrap().len(), 2);
}
