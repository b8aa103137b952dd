//! Numeric comparison of two images whose bytes differ: DICOM (native pixel data, after
//! Rescale Slope/Intercept) and NIfTI-1 (`.nii`, `.nii.gz`, after scl_slope/scl_inter).
//!
//! Why by hand: the question is only "how far apart are these two voxel arrays", which needs
//! the voxel values and nothing else. dicom-object (already used by the example tools) gives
//! the DICOM attributes; for NIfTI-1 the 348-byte header is read directly — the `nifti` crate
//! would bring ndarray and a full I/O stack for six header fields.

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
    let uint = |tag, name: &str| -> Result<u32, String> {
        obj.element(tag).map_err(|_| format!("no {name}"))?.to_int::<u32>().map_err(|e| format!("{name}: {e}"))
    };
    let float = |tag, default: f64| obj.element(tag).ok().and_then(|e| e.to_float64().ok()).unwrap_or(default);
    let rows = uint(tags::ROWS, "Rows")?;
    let cols = uint(tags::COLUMNS, "Columns")?;
    let frames = obj.element(tags::NUMBER_OF_FRAMES).ok().and_then(|e| e.to_int::<u32>().ok()).unwrap_or(1);
    let samples = obj.element(tags::SAMPLES_PER_PIXEL).ok().and_then(|e| e.to_int::<u32>().ok()).unwrap_or(1);
    let bits = uint(tags::BITS_ALLOCATED, "BitsAllocated")?;
    let signed = obj.element(tags::PIXEL_REPRESENTATION).ok().and_then(|e| e.to_int::<u32>().ok()).unwrap_or(0) == 1;
    let (slope, intercept) = (float(tags::RESCALE_SLOPE, 1.0), float(tags::RESCALE_INTERCEPT, 0.0));
    let n = (rows * cols * frames * samples) as usize;
    let pixel = obj.element(tags::PIXEL_DATA).map_err(|_| "no Pixel Data".to_string())?;
    let raw = pixel.to_bytes().map_err(|_| "encapsulated (compressed) pixel data is not compared".to_string())?;
    let big_endian = obj.meta().transfer_syntax() == "1.2.840.10008.1.2.2";
    let values: Vec<f64> = match bits {
        8 => raw.iter().take(n).map(|&v| if signed { f64::from(v as i8) } else { f64::from(v) }).collect(),
        16 => raw
            .chunks_exact(2)
            .take(n)
            .map(|c| {
                let w = if big_endian { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) };
                if signed { f64::from(w as i16) } else { f64::from(w) }
            })
            .collect(),
        32 => raw
            .chunks_exact(4)
            .take(n)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3]];
                let w = if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) };
                if signed { f64::from(w as i32) } else { f64::from(w) }
            })
            .collect(),
        other => return Err(format!("Bits Allocated {other} is not compared")),
    };
    if values.len() != n {
        return Err(format!("Pixel Data holds {} values, {n} expected", values.len()));
    }
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
        shape: format!("{frames}×{rows}×{cols}×{samples} ({bits}-bit)"),
        values: values.into_iter().map(|v| slope * v + intercept).collect(),
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
    if data.len() < 348 {
        return Err("shorter than a NIfTI-1 header".into());
    }
    let le = i32::from_le_bytes([data[0], data[1], data[2], data[3]]) == 348;
    let be = i32::from_be_bytes([data[0], data[1], data[2], data[3]]) == 348;
    if !le && !be {
        return Err("not NIfTI-1 (sizeof_hdr is not 348; NIfTI-2 is not compared)".into());
    }
    let i16_at = |o: usize| {
        if le { i16::from_le_bytes([data[o], data[o + 1]]) } else { i16::from_be_bytes([data[o], data[o + 1]]) }
    };
    let f32_at = |o: usize| {
        let b = [data[o], data[o + 1], data[o + 2], data[o + 3]];
        if le { f32::from_le_bytes(b) } else { f32::from_be_bytes(b) }
    };
    let ndim = i16_at(40).clamp(0, 7) as usize;
    let dims: Vec<i64> = (1..=ndim).map(|i| i64::from(i16_at(40 + 2 * i)).max(1)).collect();
    let n: i64 = dims.iter().product();
    let datatype = i16_at(70);
    let offset = f32_at(108).max(352.0) as usize;
    let (mut slope, inter) = (f64::from(f32_at(112)), f64::from(f32_at(116)));
    if slope == 0.0 || !slope.is_finite() {
        slope = 1.0;
    }
    let Some(size) = nifti_size(datatype) else {
        return Err(format!("NIfTI datatype {datatype} is not compared"));
    };
    let need = offset + n as usize * size;
    if data.len() < need {
        return Err(format!("the file holds {} bytes; its header describes {need}", data.len()));
    }
    let values = data[offset..need].chunks_exact(size).map(|c| slope * nifti_sample(datatype, le, c) + inter).collect();
    let attributes = vec![
        ("datatype".to_string(), datatype.to_string()),
        ("pixdim".to_string(), (1..=ndim).map(|i| f32_at(76 + 4 * i).to_string()).collect::<Vec<_>>().join(",")),
        ("scl_slope".to_string(), f32_at(112).to_string()),
        ("scl_inter".to_string(), f32_at(116).to_string()),
    ];
    Ok(Decoded { shape: dims.iter().map(ToString::to_string).collect::<Vec<_>>().join("×"), values, attributes })
}

/// Bytes per voxel of the NIfTI datatypes compared.
fn nifti_size(datatype: i16) -> Option<usize> {
    match datatype {
        2 | 256 => Some(1),
        4 | 512 => Some(2),
        8 | 16 => Some(4),
        64 => Some(8),
        _ => None,
    }
}

/// One voxel's value; `c` holds exactly [`nifti_size`] bytes.
fn nifti_sample(datatype: i16, le: bool, c: &[u8]) -> f64 {
    let b2 = || [c[0], c[1]];
    let b4 = || [c[0], c[1], c[2], c[3]];
    match datatype {
        2 => f64::from(c[0]),
        256 => f64::from(c[0] as i8),
        4 => f64::from(if le { i16::from_le_bytes(b2()) } else { i16::from_be_bytes(b2()) }),
        512 => f64::from(if le { u16::from_le_bytes(b2()) } else { u16::from_be_bytes(b2()) }),
        8 => f64::from(if le { i32::from_le_bytes(b4()) } else { i32::from_be_bytes(b4()) }),
        16 => f64::from(if le { f32::from_le_bytes(b4()) } else { f32::from_be_bytes(b4()) }),
        _ => {
            let b = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
            if le { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) }
        }
    }
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
