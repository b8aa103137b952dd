//! The committed sample `examples/dicom-normalize/data/phantom-mr.dcm` must be exactly what
//! the generator produces: the example's documented results depend on those bytes.
//!
//! If this fails after an intended change to the phantom, bump
//! `dataset::GENERATOR_REVISION` and regenerate the sample with
//! `cargo run -p dicom-phantom -- examples/dicom-normalize/data/phantom-mr.dcm`.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use std::path::PathBuf;

use assert_cmd::Command;

fn committed_sample() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dicom-normalize/data/phantom-mr.dcm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[test]
fn generator_reproduces_the_committed_sample_byte_for_byte() {
    let generated = dicom_phantom::generate(dicom_phantom::DEFAULT_SEED).unwrap();
    let committed = committed_sample();
    assert_eq!(generated.len(), committed.len(), "sample size differs");
    if let Some(i) = generated.iter().zip(&committed).position(|(a, b)| a != b) {
        panic!("sample differs from the generator's output first at byte {i}");
    }
}

#[test]
fn cli_writes_the_same_bytes() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = dir.path().join("p.dcm");
    Command::cargo_bin("dicom-phantom").unwrap().arg(&out).assert().success();
    assert!(std::fs::read(&out).unwrap() == committed_sample());
}

#[test]
fn another_seed_gives_another_image() {
    assert!(dicom_phantom::generate(2).unwrap() != committed_sample());
}
