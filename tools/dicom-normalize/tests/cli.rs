//! End-to-end tests of the `dicom-normalize` binary on generated files: pixel values for
//! every supported layout, rewritten attributes, refusals and exit codes.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{Spec, attr, expected, read_stored};
use dicom_dictionary_std::tags;
use predicates::str::contains;
use tempfile::TempDir;

fn normalize(input: &Path, out: &Path, min: &str, max: &str) -> assert_cmd::assert::Assert {
    Command::cargo_bin("dicom-normalize").unwrap().arg(input).arg(out).args(["--min", min, "--max", max]).assert()
}

fn output_of(input: &Path, out: &Path) -> PathBuf {
    out.join(format!("{}-normalized.dcm", input.file_stem().unwrap().to_string_lossy()))
}

/// Runs the tool and checks every output stored value against the documented formula.
fn check_values(spec: &Spec, min: f64, max: f64) -> (Vec<i32>, Vec<u16>, dicom_object::DefaultDicomObject) {
    let dir = TempDir::new().unwrap();
    let input = spec.write(dir.path(), "in.dcm");
    let (in_values, _, _) = read_stored(&input);
    let out_dir = dir.path().join("out");
    normalize(&input, &out_dir, &min.to_string(), &max.to_string()).success().stdout(contains("in-normalized.dcm"));
    let result = read_stored(&output_of(&input, &out_dir));
    let slope = spec.slope.map_or(1.0, |s| s.parse().unwrap());
    let intercept = spec.intercept.map_or(0.0, |s| s.parse().unwrap());
    assert_eq!(result.0, expected(&in_values, slope, intercept, min, max));
    assert_eq!(attr(&result.2, tags::PIXEL_REPRESENTATION), u16::from(spec.signed).to_string());
    assert_eq!(result.2.meta().transfer_syntax(), spec.transfer_syntax);
    result
}

#[test]
fn unsigned_12_bit_masks_garbage_above_high_bit_and_zero_fills_it() {
    let mut spec = Spec::new(2, 3, &[]);
    // Old overlay bits (12-15) set in some words must not count as pixel value.
    spec.raw = vec![0xF000 | 100, 200, 0x8000 | 300, 4000, 0x1000, 2048];
    let (values, raw, _) = check_values(&spec, 0.0, 1000.0);
    assert_eq!(values, vec![25, 50, 75, 1000, 0, 512]);
    assert!(raw.iter().all(|w| w >> 12 == 0), "{raw:x?}");
}

#[test]
fn signed_12_bit_sign_extends_in_and_out() {
    let spec = Spec::new(1, 4, &[]).bits(16, 12, true, &[-2048, -1, 0, 2047]);
    let (values, raw, _) = check_values(&spec, -100.0, 100.0);
    assert_eq!(values, vec![-100, 0, 0, 100]);
    assert_eq!(raw[0], (-100_i16) as u16, "bits above High Bit carry the sign");
}

#[test]
fn signed_16_bit_with_ct_rescale_is_normalized_in_modality_values() {
    let spec = Spec::new(2, 2, &[]).bits(16, 16, true, &[-1024, 0, 1000, 3071]).rescale("1", "-1024");
    let (values, _, file) = check_values(&spec, -1000.0, 1000.0);
    // Modality -1000 and 1000 are stored 24 and 2024.
    assert_eq!(values.first(), Some(&24));
    assert_eq!(values.last(), Some(&2024));
    assert_eq!(attr(&file, tags::WINDOW_CENTER), "0.5");
    assert_eq!(attr(&file, tags::WINDOW_WIDTH), "2001");
}

#[test]
fn fractional_slope_rounds_half_away_from_zero() {
    let spec = Spec::new(1, 5, &[]).bits(16, 16, false, &[0, 1, 2, 3, 4]).rescale("0.5", "0");
    check_values(&spec, 0.0, 3.0);
}

#[test]
fn unsigned_8_bit_explicit_le() {
    let spec = Spec::new(3, 3, &[]).bits(8, 8, false, &[10, 20, 30, 40, 50, 60, 70, 80, 90]);
    let (values, _, _) = check_values(&spec, 0.0, 255.0);
    assert_eq!(values[0], 0);
    assert_eq!(values[8], 255);
}

#[test]
fn signed_8_bit_implicit_le_odd_sample_count() {
    // Implicit VR reads 8-bit Pixel Data as OW words; 5 samples also need a padding byte.
    let spec = Spec::new(1, 5, &[]).bits(8, 8, true, &[-128, -5, 0, 5, 127]).ts(common::IMPLICIT_LE);
    let (values, _, _) = check_values(&spec, -50.0, 50.0);
    assert_eq!(values, vec![-50, -2, 0, 2, 50]);
}

#[test]
fn sixteen_bit_implicit_le() {
    let spec = Spec::new(2, 2, &[1, 2, 3, 5]).ts(common::IMPLICIT_LE);
    check_values(&spec, 100.0, 500.0);
}

#[test]
fn explicit_big_endian_round_trips() {
    let spec = Spec::new(2, 2, &[]).bits(16, 16, true, &[-300, 7, 256, 1000]).ts(common::EXPLICIT_BE);
    let (values, _, _) = check_values(&spec, -1.0, 1.0);
    assert_eq!(values, vec![-1, -1, 0, 1]);
}

#[test]
fn multi_frame_range_spans_all_frames() {
    // Frame 1 holds only the low values, frame 2 only the high ones: a per-frame range
    // would map both to [MIN, MAX]; the global range must not.
    let spec = Spec::new(1, 2, &[]).bits(16, 12, false, &[0, 10, 90, 100]).frames(2);
    let (values, _, file) = check_values(&spec, 0.0, 1000.0);
    assert_eq!(values, vec![0, 100, 900, 1000]);
    assert_eq!(attr(&file, tags::NUMBER_OF_FRAMES), "2");
}

#[test]
fn monochrome1_is_remapped_the_same_way() {
    let mut spec = Spec::new(1, 3, &[0, 50, 100]);
    spec.photometric = "MONOCHROME1";
    let (values, _, file) = check_values(&spec, 0.0, 10.0);
    assert_eq!(values, vec![0, 5, 10]);
    assert_eq!(attr(&file, tags::PHOTOMETRIC_INTERPRETATION), "MONOCHROME1");
}

#[test]
fn constant_image_maps_everything_to_min() {
    let spec = Spec::new(2, 2, &[777, 777, 777, 777]);
    let (values, _, file) = check_values(&spec, 12.0, 900.0);
    assert_eq!(values, vec![12; 4]);
    assert!(attr(&file, tags::DERIVATION_DESCRIPTION).contains("[777, 777] to [12, 900]"));
}

#[test]
fn derived_attributes_are_rewritten_and_the_rest_kept() {
    let dir = TempDir::new().unwrap();
    let spec = Spec::new(2, 2, &[0, 100, 200, 300])
        .with(dicom_core::DataElement::new(
            tags::SMALLEST_IMAGE_PIXEL_VALUE,
            dicom_core::VR::US,
            dicom_core::PrimitiveValue::from(0_u16),
        ))
        .with(dicom_core::DataElement::new(
            tags::LARGEST_IMAGE_PIXEL_VALUE,
            dicom_core::VR::US,
            dicom_core::PrimitiveValue::from(300_u16),
        ));
    let input = spec.write(dir.path(), "img.dcm");
    normalize(&input, dir.path(), "10", "40").success();
    let (_, _, before) = read_stored(&input);
    let (_, _, after) = read_stored(&output_of(&input, dir.path()));

    let new_uid = attr(&after, tags::SOP_INSTANCE_UID);
    assert!(new_uid.starts_with("2.25."), "{new_uid}");
    assert_ne!(new_uid, attr(&before, tags::SOP_INSTANCE_UID));
    assert_eq!(after.meta().media_storage_sop_instance_uid(), new_uid);
    assert_eq!(attr(&after, tags::WINDOW_CENTER), "25.5");
    assert_eq!(attr(&after, tags::WINDOW_WIDTH), "31");
    assert_eq!(attr(&after, tags::SMALLEST_IMAGE_PIXEL_VALUE), "10");
    assert_eq!(attr(&after, tags::LARGEST_IMAGE_PIXEL_VALUE), "40");
    assert_eq!(attr(&after, tags::IMAGE_TYPE), "DERIVED\\SECONDARY");
    // A derived image starts a new series.
    assert!(attr(&after, tags::SERIES_INSTANCE_UID).starts_with("2.25."));
    assert_ne!(attr(&after, tags::SERIES_INSTANCE_UID), attr(&before, tags::SERIES_INSTANCE_UID));
    assert_eq!(attr(&after, tags::SERIES_DESCRIPTION), "normalized");
    let source = &after.get(tags::SOURCE_IMAGE_SEQUENCE).unwrap().items().unwrap()[0];
    assert_eq!(
        source.get(tags::REFERENCED_SOP_INSTANCE_UID).unwrap().value().to_str().unwrap(),
        attr(&before, tags::SOP_INSTANCE_UID)
    );

    let changed = [
        tags::SOP_INSTANCE_UID,
        tags::WINDOW_CENTER,
        tags::WINDOW_WIDTH,
        tags::SMALLEST_IMAGE_PIXEL_VALUE,
        tags::LARGEST_IMAGE_PIXEL_VALUE,
        tags::IMAGE_TYPE,
        tags::DERIVATION_DESCRIPTION,
        tags::SOURCE_IMAGE_SEQUENCE,
        tags::PIXEL_DATA,
        tags::SERIES_INSTANCE_UID,
        tags::SERIES_NUMBER,
        tags::SERIES_DESCRIPTION,
        tags::RESCALE_TYPE,
    ];
    for element in before.iter() {
        let tag = element.header().tag;
        if !changed.contains(&tag) {
            assert_eq!(after.get(tag).map(|e| e.value()), Some(element.value()), "{tag} changed");
        }
    }
    let added: Vec<_> = after
        .iter()
        .map(|e| e.header().tag)
        .filter(|t| before.get(*t).is_none() && !changed[changed.len() - 4..].contains(t))
        .collect();
    assert_eq!(added, vec![tags::DERIVATION_DESCRIPTION, tags::SOURCE_IMAGE_SEQUENCE]);
}

#[test]
fn output_is_byte_reproducible() {
    let dir = TempDir::new().unwrap();
    let input = Spec::new(2, 2, &[5, 6, 7, 8]).write(dir.path(), "r.dcm");
    normalize(&input, &dir.path().join("a"), "0", "9").success();
    normalize(&input, &dir.path().join("b"), "0", "9").success();
    let a = std::fs::read(dir.path().join("a/r-normalized.dcm")).unwrap();
    let b = std::fs::read(dir.path().join("b/r-normalized.dcm")).unwrap();
    assert!(a == b, "two runs on the same input differ");
    normalize(&input, &dir.path().join("c"), "0", "10").success();
    let (_, _, c) = read_stored(&dir.path().join("c/r-normalized.dcm"));
    let (_, _, a) = read_stored(&dir.path().join("a/r-normalized.dcm"));
    assert_ne!(attr(&a, tags::SOP_INSTANCE_UID), attr(&c, tags::SOP_INSTANCE_UID));
}

#[test]
fn compressed_transfer_syntax_is_refused_with_its_name_and_a_hint() {
    let dir = TempDir::new().unwrap();
    let input = common::write_jpeg_baseline(dir.path(), "jpeg.dcm");
    normalize(&input, dir.path(), "0", "1")
        .code(1)
        .stderr(contains("jpeg.dcm"))
        .stderr(contains("1.2.840.10008.1.2.4.50"))
        .stderr(contains("JPEG Baseline"))
        .stderr(contains("hint:"))
        .stderr(contains("dcmdjpeg"));
    assert!(!dir.path().join("jpeg-normalized.dcm").exists());
}

#[test]
fn unrepresentable_bound_is_a_data_error_naming_file_and_bound() {
    let dir = TempDir::new().unwrap();
    let input = Spec::new(1, 2, &[0, 1]).write(dir.path(), "u12.dcm");
    normalize(&input, dir.path(), "-5", "10")
        .code(1)
        .stderr(contains("u12.dcm"))
        .stderr(contains("--min -5 cannot be represented"))
        .stderr(contains("[0, 4095]"));
    normalize(&input, dir.path(), "0", "4096").code(1).stderr(contains("--max 4096"));
}

#[test]
fn unsupported_images_are_data_errors() {
    let dir = TempDir::new().unwrap();
    let mut rgb = Spec::new(1, 1, &[0]);
    rgb.photometric = "RGB";
    let input = rgb.write(dir.path(), "rgb.dcm");
    normalize(&input, dir.path(), "0", "1").code(1).stderr(contains("MONOCHROME2"));

    let padded = Spec::new(1, 2, &[0, 0]).with(dicom_core::DataElement::new(
        tags::PIXEL_PADDING_VALUE,
        dicom_core::VR::US,
        dicom_core::PrimitiveValue::from(0_u16),
    ));
    let input = padded.write(dir.path(), "pad.dcm");
    normalize(&input, dir.path(), "0", "1").code(1).stderr(contains("every pixel is padding"));

    let lut = Spec::new(1, 2, &[0, 1]).with(common::empty_sequence(tags::MODALITY_LUT_SEQUENCE));
    let input = lut.write(dir.path(), "lut.dcm");
    normalize(&input, dir.path(), "0", "1").code(1).stderr(contains("Modality LUT"));
}

/// A CT with the air outside its field of view marked as padding (-2000): the padding neither
/// stretches the range nor is remapped into it, and stays padding in the output.
#[test]
fn padding_pixels_are_left_out_of_the_range_and_stay_padding() {
    let dir = TempDir::new().unwrap();
    let values = [-2000, -1000, 0, 1000];
    let ct = Spec::new(2, 2, &values).bits(16, 16, true, &values).with(dicom_core::DataElement::new(
        tags::PIXEL_PADDING_VALUE,
        dicom_core::VR::SS,
        dicom_core::PrimitiveValue::from(-2000_i16),
    ));
    let input = ct.write(dir.path(), "CT.DCM");
    normalize(&input, dir.path(), "0", "100").success();
    let (values, _, after) = read_stored(&dir.path().join("CT-normalized.dcm"));
    assert_eq!(values, [-2000, 0, 50, 100], "padding kept, the rest spans [0, 100]");
    assert_eq!(attr(&after, tags::PIXEL_PADDING_VALUE), "-2000");
}

#[test]
fn missing_and_non_dicom_inputs_are_data_errors() {
    let dir = TempDir::new().unwrap();
    normalize(&dir.path().join("nope.dcm"), dir.path(), "0", "1")
        .code(1)
        .stderr(contains("cannot read"))
        .stderr(contains("nope.dcm"));
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not an image").unwrap();
    normalize(&text, dir.path(), "0", "1").code(1).stderr(contains("not a DICOM Part 10 file"));
}

#[test]
fn usage_errors_exit_with_2() {
    let mut cmd = Command::cargo_bin("dicom-normalize").unwrap();
    cmd.arg("only-one-arg").assert().code(2).stderr(contains("Usage"));
    let dir = TempDir::new().unwrap();
    let input = Spec::new(1, 2, &[0, 1]).write(dir.path(), "x.dcm");
    normalize(&input, dir.path(), "10", "0").code(2).stderr(contains("MIN <= MAX"));
    normalize(&input, dir.path(), "nan", "1").code(2);
    normalize(&input, dir.path(), "zero", "1").code(2);
    assert!(!dir.path().join("x-normalized.dcm").exists());
}

#[test]
fn help_and_version_succeed() {
    Command::cargo_bin("dicom-normalize")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("--min <MIN>"))
        .stdout(contains("OUTPUT_DIR"));
    Command::cargo_bin("dicom-normalize")
        .unwrap()
        .arg("--version")
        .assert()
        .success()
        .stdout(contains(env!("CARGO_PKG_VERSION")));
}

/// RLE Lossless input (as scanners and PACS export) gives the same pixels as the same image
/// stored natively; the output is Explicit VR Little Endian. A damaged RLE stream is refused.
#[test]
fn rle_lossless_input_is_decoded_and_written_natively() {
    let dir = TempDir::new().unwrap();
    let values: Vec<i32> = (0..3 * 64).map(|i| if i % 40 < 9 { -20 } else { (i * 37) % 3000 - 1000 }).collect();
    let native = Spec::new(8, 8, &[]).bits(16, 12, true, &values).frames(3).rescale("2", "-5");
    let rle = native.clone().ts(common::RLE_LOSSLESS);
    let a = native.write(dir.path(), "native.dcm");
    let b = rle.write(dir.path(), "rle.dcm");
    normalize(&a, &dir.path().join("out"), "-100", "100").success();
    normalize(&b, &dir.path().join("out"), "-100", "100").success();
    let (from_native, _, _) = read_stored(&output_of(&a, &dir.path().join("out")));
    let (from_rle, _, file) = read_stored(&output_of(&b, &dir.path().join("out")));
    assert_eq!(from_rle, from_native);
    assert_eq!(from_rle, expected(&values, 2.0, -5.0, -100.0, 100.0));
    assert_eq!(file.meta().transfer_syntax(), common::EXPLICIT_LE);

    // cut the first frame's stream short: the file is named and nothing is written
    let mut damaged = rle.object();
    let pixel = damaged.get(tags::PIXEL_DATA).unwrap();
    let mut fragments = pixel.value().fragments().unwrap().to_vec();
    fragments[0].truncate(70);
    damaged.put(dicom_core::DataElement::new(
        tags::PIXEL_DATA,
        dicom_core::VR::OB,
        dicom_core::value::Value::PixelSequence(dicom_core::value::PixelFragmentSequence::new(vec![], fragments)),
    ));
    let path = dir.path().join("damaged.dcm");
    damaged.write_to_file(&path).unwrap();
    normalize(&path, &dir.path().join("bad"), "0", "1").code(1).stderr(contains("damaged.dcm")).stderr(contains("RLE"));
    assert!(!output_of(&path, &dir.path().join("bad")).exists());
}
