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

/// The output file name for an input path: `<input-stem>-normalized.dcm`.
pub fn output_name(input: &Path) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "output".to_string());
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
    let rescale =
        attributes::read_rescale(&file).map_err(|source| NormalizeError::Attributes { path: path(), source })?;
    let pixels = pixel::StoredPixels::read(&file, &layout, order)
        .map_err(|source| NormalizeError::Pixels { path: path(), source })?;
    let values = pixels.values.iter().map(|&v| rescale.modality(v)).collect();
    Ok((file, values))
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
    let rescale =
        attributes::read_rescale(&file).map_err(|source| NormalizeError::Attributes { path: path(), source })?;
    let mut pixels = pixel::StoredPixels::read(&file, &layout, order)
        .map_err(|source| NormalizeError::Pixels { path: path(), source })?;
    let (stored_min, stored_max) = pixels.extent().expect("a checked layout has at least one sample");

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

    for v in &mut pixels.values {
        *v = map.apply(*v);
    }
    let output_extent = pixels.extent().expect("same sample count as the input");
    file.put(pixels.to_element(&layout));

    let derivation = attributes::Derivation {
        instance_uid: uid::derived_instance_uid(bytes, target),
        target,
        input_range: map.input_range(),
        output_extent,
        signed: layout.signed,
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
    }

    #[test]
    fn non_part10_input_is_refused() {
        let t = TargetRange::new(0.0, 1.0).unwrap();
        let err = normalize_bytes(b"short", Path::new("x.dcm"), Path::new("o.dcm"), t).unwrap_err();
        assert!(matches!(err, NormalizeError::NotPart10 { .. }));
        assert!(err.to_string().contains("`x.dcm`"));
    }
}
