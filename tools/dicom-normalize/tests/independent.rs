//! Runs `tests/independent_check.py` (pydicom + numpy, installed from PyPI into a venv)
//! over the tool's output for every supported pixel layout, so the pixel values are
//! checked by a reader that shares no code with dicom-rs.
//!
//! It needs `python3` and access to PyPI (the package registries are reachable wherever berth
//! is built and tested); without them it fails with the script's message. Set
//! `BERTH_PYDICOM_VENV` to a directory to reuse the venv between runs.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Spec;
use tempfile::TempDir;

/// A deterministic spread of values in `[lo, hi]` (a 64-bit LCG; no `rand` needed).
fn spread(n: usize, lo: i32, hi: i32, seed: u64) -> Vec<i32> {
    let mut x = seed;
    let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (i64::from(lo) + ((x >> 33) % span) as i64) as i32
        })
        .collect()
}

fn cases() -> Vec<(&'static str, Spec, &'static str, &'static str)> {
    let n = 64 * 64;
    let mut garbage = Spec::new(64, 64, &spread(n, 3, 4000, 1));
    for (i, w) in garbage.raw.iter_mut().enumerate() {
        if i % 7 == 0 {
            *w |= 0xA000; // bits above High Bit that must be ignored
        }
    }
    let mut mono1 = Spec::new(16, 16, &spread(256, 0, 1000, 9));
    mono1.photometric = "MONOCHROME1";
    vec![
        ("u16-bs12-garbage", garbage, "0", "1000"),
        ("s16-bs12", Spec::new(64, 64, &[]).bits(16, 12, true, &spread(n, -2048, 2047, 2)), "-500", "500"),
        (
            "s16-ct-rescale",
            Spec::new(64, 64, &[]).bits(16, 16, true, &spread(n, -1024, 3071, 3)).rescale("1", "-1024"),
            "-1000",
            "1000",
        ),
        (
            "s16-fractional-rescale",
            Spec::new(64, 64, &[]).bits(16, 16, true, &spread(n, -8000, 8000, 4)).rescale("0.25", "-3.5"),
            "-17.3",
            "1234.56",
        ),
        (
            "u16-slope-half-ties",
            Spec::new(1, 5, &[]).bits(16, 16, false, &[0, 1, 2, 3, 4]).rescale("0.5", "0"),
            "0",
            "3",
        ),
        ("u8-explicit", Spec::new(32, 32, &[]).bits(8, 8, false, &spread(1024, 17, 230, 5)), "0", "255"),
        (
            "s8-implicit-odd",
            Spec::new(5, 5, &[]).bits(8, 8, true, &spread(25, -128, 127, 6)).ts(common::IMPLICIT_LE),
            "-100",
            "100",
        ),
        ("u16-implicit", Spec::new(32, 32, &spread(1024, 0, 4095, 7)).ts(common::IMPLICIT_LE), "10", "4000"),
        (
            "s16-big-endian",
            Spec::new(32, 32, &[]).bits(16, 16, true, &spread(1024, -30000, 30000, 8)).ts(common::EXPLICIT_BE),
            "-1",
            "1",
        ),
        ("u16-multiframe", Spec::new(16, 16, &spread(3 * 256, 0, 4095, 10)).frames(3), "0", "100"),
        ("mono1", mono1, "0", "4095"),
        ("constant", Spec::new(8, 8, &[1234; 64]), "7", "9"),
        ("u16-rle", Spec::new(64, 64, &spread(n, 0, 4095, 11)).ts(common::RLE_LOSSLESS), "0", "1000"),
        (
            "s16-rle-multiframe-runs",
            Spec::new(16, 16, &[])
                .bits(16, 16, true, &(0..3 * 256).map(|i| if i % 50 < 20 { -7 } else { i - 300 }).collect::<Vec<_>>())
                .frames(3)
                .ts(common::RLE_LOSSLESS),
            "-1",
            "1",
        ),
        (
            "u8-rle-odd",
            Spec::new(5, 5, &[]).bits(8, 8, false, &spread(25, 0, 3, 12)).ts(common::RLE_LOSSLESS),
            "0",
            "255",
        ),
    ]
}

fn run_tool(input: &Path, out: &Path, min: &str, max: &str) -> PathBuf {
    let status = Command::new(env!("CARGO_BIN_EXE_dicom-normalize"))
        .arg(input)
        .arg(out)
        .args(["--min", min, "--max", max])
        .status()
        .unwrap();
    assert!(status.success(), "dicom-normalize failed on {}", input.display());
    out.join(dicom_normalize::output_name(input))
}

#[test]
fn pydicom_and_numpy_agree_with_every_output_pixel() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    let mut pairs = Vec::new();
    for (name, spec, min, max) in cases() {
        let input = spec.write(dir.path(), &format!("{name}.dcm"));
        let output = run_tool(&input, &out, min, max);
        pairs.push(entry(&input, &output, min, max));
    }
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dicom-normalize/data/phantom-mr.dcm");
    assert!(sample.exists(), "the committed sample {} is missing", sample.display());
    let output = run_tool(&sample, &out, "0", "1000");
    pairs.push(entry(&sample, &output, "0", "1000"));

    let manifest = dir.path().join("manifest.json");
    std::fs::write(&manifest, serde_json::to_vec(&pairs).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/independent_check.py");
    let result = Command::new("python3")
        .arg(&script)
        .arg("manifest")
        .arg(&manifest)
        .output()
        .expect("python3 must be installed to run the independent check");
    let stdout = String::from_utf8_lossy(&result.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&result.stderr));
    assert!(result.status.success(), "independent check failed ({})", result.status);
    assert!(stdout.contains(&format!("{} passed, 0 failed", pairs.len())), "{stdout}");
}

fn entry(input: &Path, output: &Path, min: &str, max: &str) -> serde_json::Value {
    serde_json::json!({
        "input": input,
        "output": output,
        "min": min.parse::<f64>().unwrap(),
        "max": max.parse::<f64>().unwrap(),
    })
}
