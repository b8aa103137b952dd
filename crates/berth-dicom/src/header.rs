//! The attributes berth needs from a received data set — where it goes (Study, Series and SOP
//! Instance UIDs) and what it is (SOP Class, Modality, Series Description and Number, Patient
//! ID, Study Date) — read with dicom-rs's collector up to the first attribute after them, so
//! pixel data (native or encapsulated) is never parsed nor decoded.

use std::io::{BufReader, Read, Seek};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_object::collector::DicomCollector;

use crate::uid::trim;

/// The attributes read from a data set. Text is trimmed of its padding; nothing is checked
/// here (see [`crate::uid`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// SOP Class UID (0008,0016).
    pub sop_class_uid: Option<String>,
    /// SOP Instance UID (0008,0018).
    pub sop_instance_uid: Option<String>,
    /// Study Date (0008,0020).
    pub study_date: Option<String>,
    /// Modality (0008,0060).
    pub modality: Option<String>,
    /// Series Description (0008,103E).
    pub series_description: Option<String>,
    /// Patient ID (0010,0020).
    pub patient_id: Option<String>,
    /// Study Instance UID (0020,000D).
    pub study_uid: Option<String>,
    /// Series Instance UID (0020,000E).
    pub series_uid: Option<String>,
    /// Series Number (0020,0011).
    pub series_number: Option<i64>,
}

/// Why a data set could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the data set cannot be read in transfer syntax {transfer_syntax}")]
pub struct HeaderError {
    /// The transfer syntax it was read in.
    pub transfer_syntax: String,
    /// The parser's error.
    #[source]
    pub source: Box<dicom_object::collector::Error>,
}

/// The first tag after every attribute [`Header`] holds: reading stops before it.
const STOP: Tag = Tag(0x0020, 0x0012);

/// Reads the [`Header`] of the data set `reader` holds from its start, encoded in
/// `transfer_syntax` (the SCP gives it the data set inside the instance's temporary file).
pub fn read_from<R: Read + Seek>(reader: R, transfer_syntax: &str) -> Result<Header, HeaderError> {
    let reader = BufReader::new(reader);
    let mut collector = DicomCollector::new_with_ts(reader, transfer_syntax.to_owned());
    let mut obj = InMemDicomObject::new_empty();
    collector
        .read_dataset_up_to(STOP, &mut obj)
        .map_err(|e| HeaderError { transfer_syntax: transfer_syntax.to_owned(), source: Box::new(e) })?;
    let text = |tag: Tag| {
        obj.element(tag).ok().and_then(|e| e.to_str().ok()).map(|s| trim(&s).to_owned()).filter(|s| !s.is_empty())
    };
    Ok(Header {
        sop_class_uid: text(tags::SOP_CLASS_UID),
        sop_instance_uid: text(tags::SOP_INSTANCE_UID),
        study_date: text(tags::STUDY_DATE),
        modality: text(tags::MODALITY),
        series_description: text(tags::SERIES_DESCRIPTION),
        patient_id: text(tags::PATIENT_ID),
        study_uid: text(tags::STUDY_INSTANCE_UID),
        series_uid: text(tags::SERIES_INSTANCE_UID),
        series_number: obj.element(tags::SERIES_NUMBER).ok().and_then(|e| e.to_int::<i64>().ok()),
    })
}
