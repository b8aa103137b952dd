//! `dicom-normalize`: linearly remap the pixel values of a DICOM image so that its
//! modality-value range becomes a requested `[MIN, MAX]`, keeping every other attribute.
//!
//! The data flow is: read the file ([`transfer_syntax`] decides whether it can be read),
//! decode the stored values ([`pixel`]), build and apply the map ([`mapping`]), rewrite the
//! attributes of a derived instance ([`attributes`], [`uid`]), encode and write the file.
//! The binary in `main.rs` only parses arguments and renders errors.

pub mod attributes;
pub mod mapping;
pub mod pixel;
pub mod rle;
pub mod transfer_syntax;
pub mod uid;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use dicom_object::meta::FileMetaTable;

pub use mapping::TargetRange;

/// Offset of the `DICM` magic code in a DICOM Part 10 file (after the 128-byte preamble).
const PREAMBLE_LEN: usize = 128;

/// Why a file could not be normalized. Every variant names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    /// The input could not be read from disk.
    #[error("cannot read `{path}`")]
    ReadInput {
        /// The input path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The input has no `DICM` magic code at offset 128.
    #[error("`{path}` is not a DICOM Part 10 file (no `DICM` magic code after the 128-byte preamble)")]
    NotPart10 {
        /// The input path.
        path: PathBuf,
    },
    /// The file meta group could not be parsed.
    #[error("cannot read the file meta group of `{path}`")]
    Meta {
        /// The input path.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: Box<dicom_object::meta::Error>,
    },
    /// The transfer syntax is not native.
    #[error("cannot normalize `{path}`")]
    TransferSyntax {
        /// The input path.
        path: PathBuf,
        /// Which syntax and why.
        #[source]
        source: transfer_syntax::TransferSyntaxError,
    },
    /// The data set could not be parsed.
    #[error("cannot parse the data set of `{path}`")]
    Parse {
        /// The input path.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: Box<dicom_object::ReadError>,
    },
    /// The pixel data or its describing attributes are unusable.
    #[error("cannot read the pixel data of `{path}`")]
    Pixels {
        /// The input path.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: pixel::PixelError,
    },
    /// An attribute rules out a plain linear remap.
    #[error("cannot normalize `{path}`")]
    Attributes {
        /// The input path.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: attributes::AttributeError,
    },
    /// The requested range does not fit the image's representation.
    #[error("cannot normalize `{path}` to the requested range")]
    Mapping {
        /// The input path.
        path: PathBuf,
        /// What does not fit.
        #[source]
        source: mapping::MappingError,
    },
    /// The normalized object could not be encoded.
    #[error("cannot encode the normalized object for `{path}`")]
    Encode {
        /// The output path.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: Box<dicom_object::WriteError>,
    },
    /// The output could not be written to disk.
    #[error("cannot write `{path}`")]
    WriteOutput {
        /// The output path (or directory).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl NormalizeError {
    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            NormalizeError::TransferSyntax { source, .. } => Some(source.hint()),
            NormalizeError::Mapping { source, .. } => source.hint(),
            NormalizeError::Attributes { source, .. } => source.hint(),
            _ => None,
        }
    }
}

/// What a successful run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Path of the written file.
    pub output: PathBuf,
    /// The new SOP Instance UID.
    pub instance_uid: String,
    /// The input's modality range `[lo, hi]`.
    pub input_range: (f64, f64),
    /// The output's smallest and largest stored value.
    pub output_extent: (i32, i32),
}

/// The extensions dropped from an input's name to name its output, exactly as written (the
/// descriptor's `path-template-stripped-extensions` is the same list, so berth and bosh predict
/// the name the tool writes). Any other name is kept whole: UID-named files (`1.3.12.2.1107…`)
/// and extension-less scanner files (`IM0001`) keep every character.
pub const STRIPPED_EXTENSIONS: [&str; 6] = [".dcm", ".DCM", ".dicom", ".DICOM", ".ima", ".IMA"];

/// The output file name for an input path: `<input name without a DICOM extension>-normalized.dcm`.
pub fn output_name(input: &Path) -> PathBuf {
    let name = input.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "output".to_string());
    let stem =
        STRIPPED_EXTENSIONS.iter().find_map(|ext| name.strip_suffix(ext).filter(|s| !s.is_empty())).unwrap_or(&name);
    PathBuf::from(format!("{stem}-normalized.dcm"))
}

/// Normalizes `input` into `output_dir/<input-stem>-normalized.dcm`.
///
/// The output directory is created if missing; an existing output file is replaced. The
/// file is written under a temporary name and renamed, so a failed run leaves no partial
/// output behind.
pub fn normalize_file(input: &Path, output_dir: &Path, target: TargetRange) -> Result<Outcome, NormalizeError> {
    let bytes = fs::read(input).map_err(|source| NormalizeError::ReadInput { path: input.to_path_buf(), source })?;
    let output = output_dir.join(output_name(input));
    let (encoded, outcome) = normalize_bytes(&bytes, input, &output, target)?;

    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NormalizeError::WriteOutput { path, source }
    };
    fs::create_dir_all(output_dir).map_err(write_err(output_dir))?;
    let partial = output_dir.join(format!(".{}.partial-{}", output_name(input).display(), std::process::id()));
    fs::write(&partial, &encoded).map_err(write_err(&partial))?;
    fs::rename(&partial, &output).map_err(|source| {
        // Best effort: the rename error is the one worth reporting.
        let _ = fs::remove_file(&partial);
        NormalizeError::WriteOutput { path: output.clone(), source }
    })?;
    Ok(outcome)
}

/// The modality values (stored values after Rescale Slope/Intercept) of an in-memory Part 10
/// file, frame after frame, with the parsed object; `input` names the file in errors. The same
/// checks as [`normalize_bytes`] apply (native, monochrome, 8 or 16 bits).
pub fn modality_values(
    bytes: &[u8],
    input: &Path,
) -> Result<(dicom_object::FileDicomObject<dicom_object::InMemDicomObject>, Vec<f64>), NormalizeError> {
    let path = || input.to_path_buf();
    if bytes.len() < PREAMBLE_LEN + 4 || &bytes[PREAMBLE_LEN..PREAMBLE_LEN + 4] != b"DICM" {
        return Err(NormalizeError::NotPart10 { path: path() });
    }
    let meta = FileMetaTable::from_reader(&bytes[PREAMBLE_LEN..])
        .map_err(|source| NormalizeError::Meta { path: path(), source: Box::new(source) })?;
    let order = transfer_syntax::check(meta.transfer_syntax())
        .map_err(|source| NormalizeError::TransferSyntax { path: path(), source })?;
    let file = dicom_object::from_reader(&bytes[PREAMBLE_LEN..])
        .map_err(|source| NormalizeError::Parse { path: path(), source: Box::new(source) })?;
    let layout =
        pixel::PixelLayout::from_object(&file).map_err(|source| NormalizeError::Pixels { path: path(), source })?;
    let mut file = file;
    let order =
        decode_rle(&mut file, &layout, order).map_err(|source| NormalizeError::Pixels { path: path(), source })?;
    let rescale =
        attributes::read_rescale(&file).map_err(|source| NormalizeError::Attributes { path: path(), source })?;
    let pixels = pixel::StoredPixels::read(&file, &layout, order)
        .map_err(|source| NormalizeError::Pixels { path: path(), source })?;
    let values = pixels.values.iter().map(|&v| rescale.modality(v)).collect();
    Ok((file, values))
}

/// RLE Lossless pixel data decoded into native little endian (the object becomes Explicit VR
/// Little Endian, and so does the output); the byte order to read the pixels with.
fn decode_rle(
    file: &mut dicom_object::FileDicomObject<dicom_object::InMemDicomObject>,
    layout: &pixel::PixelLayout,
    order: transfer_syntax::ByteOrder,
) -> Result<transfer_syntax::ByteOrder, pixel::PixelError> {
    if order != transfer_syntax::ByteOrder::Rle {
        return Ok(order);
    }
    rle::to_native(file, layout)?;
    Ok(transfer_syntax::ByteOrder::Little)
}

/// Normalizes an in-memory Part 10 file; `input` and `output` only name files in errors
/// and in the returned [`Outcome`].
pub fn normalize_bytes(
    bytes: &[u8],
    input: &Path,
    output: &Path,
    target: TargetRange,
) -> Result<(Vec<u8>, Outcome), NormalizeError> {
    let path = || input.to_path_buf();
    if bytes.len() < PREAMBLE_LEN + 4 || &bytes[PREAMBLE_LEN..PREAMBLE_LEN + 4] != b"DICM" {
        return Err(NormalizeError::NotPart10 { path: path() });
    }
    // The transfer syntax is checked from the meta group alone, before the data set is
    // parsed: parsing a deflated data set would fail with a less helpful error.
    let meta = FileMetaTable::from_reader(&bytes[PREAMBLE_LEN..])
        .map_err(|source| NormalizeError::Meta { path: path(), source: Box::new(source) })?;
    let order = transfer_syntax::check(meta.transfer_syntax())
        .map_err(|source| NormalizeError::TransferSyntax { path: path(), source })?;

    let mut file = dicom_object::from_reader(&bytes[PREAMBLE_LEN..])
        .map_err(|source| NormalizeError::Parse { path: path(), source: Box::new(source) })?;

    let layout =
        pixel::PixelLayout::from_object(&file).map_err(|source| NormalizeError::Pixels { path: path(), source })?;
    let order =
        decode_rle(&mut file, &layout, order).map_err(|source| NormalizeError::Pixels { path: path(), source })?;
    let rescale =
        attributes::read_rescale(&file).map_err(|source| NormalizeError::Attributes { path: path(), source })?;
    let mut pixels = pixel::StoredPixels::read(&file, &layout, order)
        .map_err(|source| NormalizeError::Pixels { path: path(), source })?;
    // Padding (the air around a CT's field of view, say) is not image: it neither shapes the
    // map nor is remapped, and keeps a stored value the normalized pixels do not use.
    let padding = attributes::read_padding(&file, layout.signed);
    let is_image = |v: &i32| padding.is_none_or(|p| !p.contains(*v));
    let extent = |values: &[i32]| {
        let mut it = values.iter().copied().filter(is_image);
        let first = it.next()?;
        Some(it.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v))))
    };
    let (stored_min, stored_max) = extent(&pixels.values)
        .ok_or(NormalizeError::Attributes { path: path(), source: attributes::AttributeError::AllPadding })?;

    let (repr_min, repr_max) = layout.representable();
    let map = mapping::LinearMap::new(
        stored_min,
        stored_max,
        rescale,
        target,
        mapping::Representation {
            bits_stored: layout.bits_stored,
            signed: layout.signed,
            min: repr_min,
            max: repr_max,
        },
    )
    .map_err(|source| NormalizeError::Mapping { path: path(), source })?;

    let was_padding: Vec<bool> = pixels.values.iter().map(|v| !is_image(v)).collect();
    for (v, pad) in pixels.values.iter_mut().zip(&was_padding) {
        if !pad {
            *v = map.apply(*v);
        }
    }
    let output_extent = extent(&pixels.values).unwrap_or((stored_min, stored_max));
    let output_padding = match padding {
        Some(p) => {
            let out = attributes::output_padding(p.low, output_extent, (repr_min, repr_max))
                .map_err(|source| NormalizeError::Attributes { path: path(), source })?;
            for (v, pad) in pixels.values.iter_mut().zip(&was_padding) {
                if *pad {
                    *v = out;
                }
            }
            Some(out)
        }
        None => None,
    };
    file.put(pixels.to_element(&layout));

    let source_series = file
        .get(dicom_dictionary_std::tags::SERIES_INSTANCE_UID)
        .and_then(|e| e.value().to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default();
    let derivation = attributes::Derivation {
        instance_uid: uid::derived_instance_uid(bytes, target),
        target,
        input_range: map.input_range(),
        output_extent,
        signed: layout.signed,
        series_uid: uid::derived_series_uid(&source_series, target),
        padding: output_padding,
    };
    attributes::apply(&mut file, &derivation);

    let mut encoded = Vec::with_capacity(bytes.len() + 1024);
    file.write_all(&mut encoded)
        .map_err(|source| NormalizeError::Encode { path: output.to_path_buf(), source: Box::new(source) })?;
    Ok((
        encoded,
        Outcome {
            output: output.to_path_buf(),
            instance_uid: derivation.instance_uid,
            input_range: derivation.input_range,
            output_extent,
        },
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    #[test]
    fn output_name_replaces_the_extension() {
        assert_eq!(output_name(Path::new("/in/phantom-mr.dcm")), PathBuf::from("phantom-mr-normalized.dcm"));
        assert_eq!(output_name(Path::new("IM0001")), PathBuf::from("IM0001-normalized.dcm"));
        assert_eq!(output_name(Path::new("a.b.dcm")), PathBuf::from("a.b-normalized.dcm"));
        assert_eq!(output_name(Path::new("MR.DCM")), PathBuf::from("MR-normalized.dcm"));
        // UID names keep every component: two instances of a series never share an output.
        assert_eq!(
            output_name(Path::new("1.3.12.2.1107.5.2.32.35162.2012")),
            PathBuf::from("1.3.12.2.1107.5.2.32.35162.2012-normalized.dcm")
        );
        assert_eq!(output_name(Path::new(".dcm")), PathBuf::from(".dcm-normalized.dcm"));
    }

    #[test]
    fn the_descriptor_strips_exactly_the_extensions_the_tool_does() {
        let text = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dicom-normalize/dicom-normalize.json"),
        )
        .unwrap();
        let d: serde_json::Value = serde_json::from_str(&text).unwrap();
        let listed: Vec<&str> = d["output-files"][0]["path-template-stripped-extensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(listed, STRIPPED_EXTENSIONS);
    }

    #[test]
    fn non_part10_input_is_refused() {
        let t = TargetRange::new(0.0, 1.0).unwrap();
        let err = normalize_bytes(b"short", Path::new("x.dcm"), Path::new("o.dcm"), t).unwrap_err();
        assert!(matches!(err, NormalizeError::NotPart10 { .. }));
        assert!(err.to_string().contains("`x.dcm`"));
    }
}
