//! `dicom-phantom`: a deterministic synthetic MR head slice written as a DICOM file, used
//! as berth's sample input (`examples/dicom-normalize/data/phantom-mr.dcm`).
//!
//! [`image`] renders the pixels from a seeded [`rng`]; [`dataset`] wraps them in an MR
//! Image Storage instance. The same seed gives the same bytes on every machine.

pub mod dataset;
pub mod image;
pub mod rng;

/// The seed of the committed sample.
pub const DEFAULT_SEED: u64 = 1;

/// Why a phantom could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum PhantomError {
    /// The data set could not be assembled.
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    /// The file could not be encoded.
    #[error("cannot encode the phantom as DICOM")]
    Encode(#[source] Box<dicom_object::WriteError>),
}

/// The complete Part 10 file (preamble, meta group, data set) for `seed`.
pub fn generate(seed: u64) -> Result<Vec<u8>, PhantomError> {
    let file = dataset::build(image::render(seed), seed)?;
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).map_err(|e| PhantomError::Encode(Box::new(e)))?;
    Ok(bytes)
}
