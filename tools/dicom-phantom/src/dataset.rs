//! The DICOM file around the phantom pixels: an MR Image Storage instance in Explicit VR
//! Little Endian with the Patient, General Study, General Series, Frame of Reference,
//! General Equipment, General Image, Image Plane, Image Pixel, MR Image, VOI LUT and
//! SOP Common modules filled in with obviously synthetic values.
//!
//! UIDs are `2.25.<UUID as integer>` (PS3.5 B.2, no registered root needed) with name-based
//! (version 5) UUIDs under [`UID_NAMESPACE`], so the same seed always gives the same UIDs.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use uuid::Uuid;

use crate::image::{BITS_STORED, SIZE};

/// The UUID namespace of every phantom UID (`b462915d-6520-4277-a803-e53682c499bd`, drawn
/// at random once and fixed forever).
pub const UID_NAMESPACE: Uuid = Uuid::from_u128(0xb462_915d_6520_4277_a803_e536_82c4_99bd);

/// Revision of the generated content. Bump it whenever the output bytes change on purpose
/// (it is written into Software Versions and the Implementation Version Name), and
/// regenerate the committed sample.
pub const GENERATOR_REVISION: u32 = 1;

/// Field of view in millimetres; with [`SIZE`] pixels this gives 0.9375 mm pixel spacing.
const FOV_MM: f64 = 240.0;

/// Why the data set could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file meta group builder refused the values.
    #[error("cannot build the file meta group")]
    Meta(#[source] Box<dicom_object::WithMetaError>),
}

/// A deterministic `2.25` UID for one role (`study`, `series`, ...) and seed.
pub fn uid(role: &str, seed: u64) -> String {
    let uuid = Uuid::new_v5(&UID_NAMESPACE, format!("{role}/seed={seed}").as_bytes());
    format!("2.25.{}", uuid.as_u128())
}

fn text(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

fn strs(tag: Tag, vr: VR, values: &[&str]) -> DataElement<InMemDicomObject> {
    let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
    DataElement::new(tag, vr, PrimitiveValue::Strs(values.into()))
}

fn us(tag: Tag, value: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(value))
}

/// Builds the complete file object for the given pixels (row-major, [`SIZE`]²).
pub fn build(pixels: Vec<u16>, seed: u64) -> Result<DefaultDicomObject, DatasetError> {
    let min = pixels.iter().copied().min().unwrap_or(0);
    let max = pixels.iter().copied().max().unwrap_or(0);
    let spacing = FOV_MM / SIZE as f64;
    // Image Position is the centre of the first (top left) pixel.
    let corner = -FOV_MM / 2.0 + spacing / 2.0;
    let instance_uid = uid("instance", seed);
    let software = format!("berth dicom-phantom revision {GENERATOR_REVISION}");

    let obj = InMemDicomObject::from_element_iter([
        // SOP Common
        text(tags::SOP_CLASS_UID, VR::UI, uids::MR_IMAGE_STORAGE),
        text(tags::SOP_INSTANCE_UID, VR::UI, &instance_uid),
        // General Study
        text(tags::STUDY_INSTANCE_UID, VR::UI, &uid("study", seed)),
        text(tags::STUDY_DATE, VR::DA, "20000101"),
        text(tags::STUDY_TIME, VR::TM, "120000"),
        text(tags::REFERRING_PHYSICIAN_NAME, VR::PN, ""),
        text(tags::STUDY_ID, VR::SH, "PHANTOM"),
        text(tags::ACCESSION_NUMBER, VR::SH, ""),
        text(tags::STUDY_DESCRIPTION, VR::LO, "Synthetic MR head phantom"),
        // Patient
        text(tags::PATIENT_NAME, VR::PN, "PHANTOM^SYNTHETIC"),
        text(tags::PATIENT_ID, VR::LO, "BERTH-PHANTOM-0001"),
        text(tags::PATIENT_BIRTH_DATE, VR::DA, ""),
        text(tags::PATIENT_SEX, VR::CS, "O"),
        // General Series
        text(tags::MODALITY, VR::CS, "MR"),
        text(tags::SERIES_INSTANCE_UID, VR::UI, &uid("series", seed)),
        text(tags::SERIES_NUMBER, VR::IS, "1"),
        text(tags::SERIES_DESCRIPTION, VR::LO, "T1-weighted-like Shepp-Logan slice"),
        text(tags::BODY_PART_EXAMINED, VR::CS, "HEAD"),
        text(tags::PATIENT_POSITION, VR::CS, "HFS"),
        text(tags::PROTOCOL_NAME, VR::LO, "PHANTOM T1 SE"),
        // Frame of Reference
        text(tags::FRAME_OF_REFERENCE_UID, VR::UI, &uid("frame-of-reference", seed)),
        text(tags::POSITION_REFERENCE_INDICATOR, VR::LO, ""),
        // General Equipment
        text(tags::MANUFACTURER, VR::LO, "berth (synthetic)"),
        text(tags::MANUFACTURER_MODEL_NAME, VR::LO, "dicom-phantom"),
        text(tags::SOFTWARE_VERSIONS, VR::LO, &software),
        // General Image
        text(tags::INSTANCE_NUMBER, VR::IS, "1"),
        text(tags::CONTENT_DATE, VR::DA, "20000101"),
        text(tags::CONTENT_TIME, VR::TM, "120000"),
        text(tags::ACQUISITION_NUMBER, VR::IS, "1"),
        strs(tags::IMAGE_TYPE, VR::CS, &["ORIGINAL", "PRIMARY", "OTHER"]),
        text(tags::BURNED_IN_ANNOTATION, VR::CS, "NO"),
        // Image Plane: axial, 0.9375 mm pixels, 5 mm slice through the isocentre.
        strs(tags::PIXEL_SPACING, VR::DS, &[&spacing.to_string(), &spacing.to_string()]),
        strs(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, &["1", "0", "0", "0", "1", "0"]),
        strs(tags::IMAGE_POSITION_PATIENT, VR::DS, &[&corner.to_string(), &corner.to_string(), "0"]),
        text(tags::SLICE_THICKNESS, VR::DS, "5"),
        text(tags::SLICE_LOCATION, VR::DS, "0"),
        // MR Image
        text(tags::SCANNING_SEQUENCE, VR::CS, "SE"),
        text(tags::SEQUENCE_VARIANT, VR::CS, "NONE"),
        text(tags::SCAN_OPTIONS, VR::CS, ""),
        text(tags::MR_ACQUISITION_TYPE, VR::CS, "2D"),
        text(tags::REPETITION_TIME, VR::DS, "500"),
        text(tags::ECHO_TIME, VR::DS, "15"),
        text(tags::ECHO_TRAIN_LENGTH, VR::IS, "1"),
        text(tags::NUMBER_OF_AVERAGES, VR::DS, "1"),
        text(tags::IMAGED_NUCLEUS, VR::SH, "1H"),
        text(tags::IMAGING_FREQUENCY, VR::DS, "63.87"),
        text(tags::MAGNETIC_FIELD_STRENGTH, VR::DS, "1.5"),
        text(tags::FLIP_ANGLE, VR::DS, "90"),
        DataElement::new(
            tags::ACQUISITION_MATRIX,
            VR::US,
            PrimitiveValue::U16([0, SIZE as u16, SIZE as u16, 0].as_slice().into()),
        ),
        text(tags::IN_PLANE_PHASE_ENCODING_DIRECTION, VR::CS, "ROW"),
        // Image Pixel
        us(tags::SAMPLES_PER_PIXEL, 1),
        text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        us(tags::ROWS, SIZE as u16),
        us(tags::COLUMNS, SIZE as u16),
        us(tags::BITS_ALLOCATED, 16),
        us(tags::BITS_STORED, BITS_STORED as u16),
        us(tags::HIGH_BIT, BITS_STORED as u16 - 1),
        us(tags::PIXEL_REPRESENTATION, 0),
        us(tags::SMALLEST_IMAGE_PIXEL_VALUE, min),
        us(tags::LARGEST_IMAGE_PIXEL_VALUE, max),
        // Modality LUT (identity) and VOI LUT (a T1 brain window).
        text(tags::RESCALE_INTERCEPT, VR::DS, "0"),
        text(tags::RESCALE_SLOPE, VR::DS, "1"),
        text(tags::WINDOW_CENTER, VR::DS, "1000"),
        text(tags::WINDOW_WIDTH, VR::DS, "2000"),
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())),
    ]);
    obj.with_meta(
        FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(uids::MR_IMAGE_STORAGE)
            .media_storage_sop_instance_uid(instance_uid)
            .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .implementation_class_uid(uid("implementation-class", 0))
            .implementation_version_name(format!("BERTH_PHANTOM_{GENERATOR_REVISION}")),
    )
    .map_err(|e| DatasetError::Meta(Box::new(e)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    #[test]
    fn uids_are_valid_deterministic_and_distinct_per_role_and_seed() {
        let study = uid("study", 1);
        assert!(study.starts_with("2.25.") && study.len() <= 64, "{study}");
        assert_eq!(study, uid("study", 1));
        assert_ne!(study, uid("series", 1));
        assert_ne!(study, uid("study", 2));
    }

    #[test]
    fn implementation_version_name_fits_sh() {
        assert!(format!("BERTH_PHANTOM_{GENERATOR_REVISION}").len() <= 16);
    }

    #[test]
    fn geometry_is_centred() {
        let file = build(vec![0; SIZE * SIZE], 1).unwrap();
        let position = file.get(tags::IMAGE_POSITION_PATIENT).unwrap().value().to_multi_float64().unwrap();
        let spacing = file.get(tags::PIXEL_SPACING).unwrap().value().to_multi_float64().unwrap();
        assert_eq!(spacing, vec![0.9375, 0.9375]);
        // First and last pixel centres are symmetric around the isocentre.
        assert_eq!(position[0] + (SIZE - 1) as f64 * spacing[0], -position[0]);
    }
}
