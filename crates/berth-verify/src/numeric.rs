//! Numeric comparison of two images whose bytes differ: DICOM (native pixel data, after
//! Rescale Slope/Intercept) and NIfTI-1 (`.nii`, `.nii.gz`, after scl_slope/scl_inter).
//!
//! Why by hand: the question is only "how far apart are these two voxel arrays", which needs
//! the voxel values and nothing else. The values are decoded by berth-data (the same decoding
//! the service's previews use); dicom-object gives the DICOM attributes compared besides.

use std::io::Read;
use std::path::Path;

use dicom_dictionary_std::tags;
use serde::Serialize;

/// How two images' values compare.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NumericDiff {
    /// `dicom` or `nifti`.
    pub format: &'static str,
    /// Voxels compared.
    pub voxels: u64,
    /// Voxels whose values differ.
    pub differing: u64,
    /// The largest absolute difference.
    pub max_abs_diff: f64,
    /// Attributes that differ besides the pixels (DICOM: keyword or tag; NIfTI: header fields).
    pub other_differences: Vec<String>,
}

/// Why two images cannot be compared value by value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Incomparable {
    /// Shapes differ.
    #[error("the images have different shapes: {0} and {1}")]
    Shape(String, String),
    /// A file could not be decoded.
    #[error("{0}")]
    Decode(String),
}

/// Values and shape of an image, with the attributes compared besides.
struct Decoded {
    shape: String,
    values: Vec<f64>,
    attributes: Vec<(String, String)>,
}

/// Whether the bytes look like a DICOM Part 10 file.
pub fn is_dicom(bytes: &[u8]) -> bool {
    bytes.len() > 132 && &bytes[128..132] == b"DICM"
}

/// Whether the path and bytes look like NIfTI-1 (`.nii` or `.nii.gz`).
pub fn is_nifti(path: &Path, bytes: &[u8]) -> bool {
    let name = path.to_string_lossy();
    if name.ends_with(".nii.gz") {
        return bytes.starts_with(&[0x1f, 0x8b]);
    }
    name.ends_with(".nii") && bytes.len() >= 348 && (&bytes[344..348] == b"n+1\0")
}

/// Compares two images value by value, when both are DICOM or both NIfTI; `None` otherwise.
pub fn compare(a_path: &Path, a: &[u8], b_path: &Path, b: &[u8]) -> Option<Result<NumericDiff, Incomparable>> {
    let (format, da, db) = if is_dicom(a) && is_dicom(b) {
        ("dicom", decode_dicom(a), decode_dicom(b))
    } else if is_nifti(a_path, a) && is_nifti(b_path, b) {
        ("nifti", decode_nifti(a_path, a), decode_nifti(b_path, b))
    } else {
        return None;
    };
    Some(diff(format, da, db))
}

fn diff(
    format: &'static str,
    a: Result<Decoded, String>,
    b: Result<Decoded, String>,
) -> Result<NumericDiff, Incomparable> {
    let a = a.map_err(Incomparable::Decode)?;
    let b = b.map_err(Incomparable::Decode)?;
    if a.shape != b.shape || a.values.len() != b.values.len() {
        return Err(Incomparable::Shape(a.shape, b.shape));
    }
    let (mut differing, mut max) = (0u64, 0f64);
    for (x, y) in a.values.iter().zip(&b.values) {
        let d = (x - y).abs();
        if d > 0.0 || x.is_nan() != y.is_nan() {
            differing += 1;
            max = max.max(if d.is_nan() { f64::INFINITY } else { d });
        }
    }
    let other_differences = a
        .attributes
        .iter()
        .filter(|(k, v)| b.attributes.iter().find(|(k2, _)| k2 == k).is_none_or(|(_, v2)| v2 != v))
        .map(|(k, _)| k.clone())
        .chain(b.attributes.iter().filter(|(k, _)| !a.attributes.iter().any(|(k2, _)| k2 == k)).map(|(k, _)| k.clone()))
        .collect();
    Ok(NumericDiff { format, voxels: a.values.len() as u64, differing, max_abs_diff: max, other_differences })
}

fn decode_dicom(bytes: &[u8]) -> Result<Decoded, String> {
    use dicom_core::header::Header;
    let obj = dicom_object::from_reader(&bytes[128..]).map_err(|e| format!("not readable as DICOM: {e}"))?;
    let px = berth_data::dicom_pixels(&obj)?;
    let mut attributes = Vec::new();
    for e in obj.iter() {
        let tag = e.tag();
        if tag == tags::PIXEL_DATA {
            continue;
        }
        let name = dicom_dictionary_std::StandardDataDictionary
            .by_tag(tag)
            .map_or_else(|| format!("{tag}"), |entry| entry.alias.to_string());
        let value = e.to_str().map(|s| s.into_owned()).unwrap_or_else(|_| format!("{:?}", e.value()));
        attributes.push((name, value));
    }
    Ok(Decoded {
        shape: format!("{}×{}×{}×{} ({}-bit)", px.frames, px.rows, px.cols, px.samples, px.bits),
        values: px.values,
        attributes,
    })
}

use dicom_core::dictionary::DataDictionary;

fn decode_nifti(path: &Path, bytes: &[u8]) -> Result<Decoded, String> {
    let data: Vec<u8> = if path.to_string_lossy().ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).map_err(|e| format!("not gzip: {e}"))?;
        out
    } else {
        bytes.to_vec()
    };
    let h = berth_data::NiftiHeader::parse(&data)?;
    let Some(size) = h.voxel_bytes() else {
        return Err(format!("NIfTI datatype {} is not compared", h.datatype));
    };
    let n = usize::try_from(h.voxels()).map_err(|_| "too many voxels".to_string())?;
    let need = h.offset + n * size;
    if data.len() < need {
        return Err(format!("the file holds {} bytes; its header describes {need}", data.len()));
    }
    let values = data[h.offset..need].chunks_exact(size).map(|c| h.slope * h.sample(c) + h.inter).collect();
    let attributes = vec![
        ("datatype".to_string(), h.datatype.to_string()),
        ("pixdim".to_string(), h.pixdim.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")),
        ("scl_slope".to_string(), h.raw_scaling.0.to_string()),
        ("scl_inter".to_string(), h.raw_scaling.1.to_string()),
    ];
    Ok(Decoded { shape: h.dims.iter().map(ToString::to_string).collect::<Vec<_>>().join("×"), values, attributes })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A NIfTI-1 file: int16 data, little endian.
    fn nifti(dims: &[i16], values: &[i16], slope: f32) -> Vec<u8> {
        let mut h = vec![0u8; 352];
        h[0..4].copy_from_slice(&348i32.to_le_bytes());
        h[40..42].copy_from_slice(&(dims.len() as i16).to_le_bytes());
        for (i, d) in dims.iter().enumerate() {
            h[42 + 2 * i..44 + 2 * i].copy_from_slice(&d.to_le_bytes());
        }
        h[70..72].copy_from_slice(&4i16.to_le_bytes());
        h[72..74].copy_from_slice(&16i16.to_le_bytes());
        h[108..112].copy_from_slice(&352f32.to_le_bytes());
        h[112..116].copy_from_slice(&slope.to_le_bytes());
        h[344..348].copy_from_slice(b"n+1\0");
        for v in values {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h
    }

    #[test]
    fn nifti_differences_are_counted_and_scaled() {
        let a = nifti(&[2, 2], &[1, 2, 3, 4], 2.0);
        let b = nifti(&[2, 2], &[1, 2, 5, 3], 2.0);
        let d = compare(Path::new("a.nii"), &a, Path::new("b.nii"), &b).unwrap().unwrap();
        assert_eq!((d.format, d.voxels, d.differing, d.max_abs_diff), ("nifti", 4, 2, 4.0));
        assert!(d.other_differences.is_empty());
        // Gzipped, a different shape.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &nifti(&[4, 1], &[1, 2, 3, 4], 2.0)).unwrap();
        let gz = gz.finish().unwrap();
        let e = compare(Path::new("a.nii"), &a, Path::new("c.nii.gz"), &gz).unwrap().unwrap_err();
        assert_eq!(e, Incomparable::Shape("2×2".into(), "4×1".into()));
        let e = compare(Path::new("c.nii.gz"), &gz, Path::new("d.nii.gz"), &gz).unwrap().unwrap();
        assert_eq!(e.differing, 0);
    }

    #[test]
    fn nifti_shapes_must_match() {
        let a = nifti(&[2, 2], &[1, 2, 3, 4], 1.0);
        let b = nifti(&[4, 1], &[1, 2, 3, 4], 1.0);
        let e = compare(Path::new("a.nii"), &a, Path::new("b.nii"), &b).unwrap().unwrap_err();
        assert!(matches!(e, Incomparable::Shape(..)), "{e}");
    }

    #[test]
    fn dicom_differences_in_modality_values() {
        let a = dicom_phantom::generate(dicom_phantom::DEFAULT_SEED).unwrap();
        let mut b = a.clone();
        // Native 16-bit little-endian pixel data ends the file: add 5 to the last three samples.
        let n = b.len();
        for i in 1..=3 {
            let at = n - 2 * i;
            let v = u16::from_le_bytes([b[at], b[at + 1]]) + 5;
            b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        }
        let d = compare(Path::new("a.dcm"), &a, Path::new("b.dcm"), &b).unwrap().unwrap();
        assert_eq!((d.format, d.voxels, d.differing), ("dicom", 256 * 256, 3));
        assert!((d.max_abs_diff - 5.0).abs() < 1e-9, "{d:?}");
        assert!(d.other_differences.is_empty(), "{d:?}");
        let same = compare(Path::new("a.dcm"), &a, Path::new("a.dcm"), &a).unwrap().unwrap();
        assert_eq!(same.differing, 0);
        let other = dicom_phantom::generate(dicom_phantom::DEFAULT_SEED + 1).unwrap();
        let d = compare(Path::new("a.dcm"), &a, Path::new("c.dcm"), &other).unwrap().unwrap();
        assert!(d.differing > 0 && d.other_differences.iter().any(|k| k == "SOPInstanceUID"), "{d:?}");
    }

    #[test]
    fn other_files_are_not_compared() {
        assert!(compare(Path::new("a.txt"), b"1", Path::new("b.txt"), b"2").is_none());
    }
}
