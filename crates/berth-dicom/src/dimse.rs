//! DIMSE commands (PS3.7 §9, §E): reading a C-ECHO-RQ or C-STORE-RQ command set, and writing
//! the responses. Command sets are always Implicit VR Little Endian.

use dicom_core::{DataElement, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;

use crate::uid::trim;

/// C-STORE-RQ's Command Field.
pub const C_STORE_RQ: u16 = 0x0001;
/// C-ECHO-RQ's Command Field.
pub const C_ECHO_RQ: u16 = 0x0030;
/// Command Data Set Type: no data set follows.
pub const NO_DATA_SET: u16 = 0x0101;

/// Statuses berth answers (PS3.7 Annex C, PS3.4 §B.2.3).
pub mod status {
    /// Success.
    pub const SUCCESS: u16 = 0x0000;
    /// Failure: Duplicate SOP Instance (PS3.7 §C.5.6).
    pub const DUPLICATE: u16 = 0x0111;
    /// Failure: Processing Failure (PS3.7 §C.5.7): the data root could not be written.
    pub const PROCESSING_FAILURE: u16 = 0x0110;
    /// Failure: Unrecognized Operation (PS3.7 §C.5.8): a command berth does not serve.
    pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
    /// Refused: Out of Resources (PS3.4 §B.2.3): too large, or the disk is full.
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Error: Data Set does not match SOP Class (PS3.4 §B.2.3).
    pub const DATA_SET_MISMATCH: u16 = 0xA900;
    /// Error: Cannot understand (PS3.4 §B.2.3).
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
}

/// A command received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// C-ECHO-RQ.
    Echo {
        /// Message ID.
        message_id: u16,
    },
    /// C-STORE-RQ; its data set follows.
    Store {
        /// Message ID.
        message_id: u16,
        /// Affected SOP Class UID (untrimmed text from the wire, checked later).
        sop_class_uid: String,
        /// Affected SOP Instance UID.
        sop_instance_uid: String,
    },
    /// Anything else (C-FIND, N-*): answered with Unrecognized Operation.
    Other {
        /// Command Field.
        command_field: u16,
        /// Message ID, when present.
        message_id: u16,
        /// Whether a data set follows it.
        has_data_set: bool,
    },
}

/// Why a command set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DimseError {
    /// Not a readable Implicit VR Little Endian data set.
    #[error("the command set cannot be read")]
    Parse {
        /// The parser's error.
        #[source]
        source: Box<dicom_object::ReadError>,
    },
    /// A required command element is missing or not of its type.
    #[error("the command set has no usable {element}")]
    Missing {
        /// The element's keyword.
        element: &'static str,
    },
    /// A response could not be encoded (not expected: its values are ours).
    #[error("the response cannot be encoded")]
    Encode {
        /// The writer's error.
        #[source]
        source: Box<dicom_object::WriteError>,
    },
}

fn u16_of(obj: &InMemDicomObject, tag: dicom_core::Tag, element: &'static str) -> Result<u16, DimseError> {
    obj.element(tag).ok().and_then(|e| e.to_int::<u16>().ok()).ok_or(DimseError::Missing { element })
}

fn str_of(obj: &InMemDicomObject, tag: dicom_core::Tag, element: &'static str) -> Result<String, DimseError> {
    obj.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| trim(&s).to_owned())
        .ok_or(DimseError::Missing { element })
}

/// Reads a command set.
pub fn parse(bytes: &[u8]) -> Result<Command, DimseError> {
    let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let obj =
        InMemDicomObject::read_dataset_with_ts(bytes, &ts).map_err(|e| DimseError::Parse { source: Box::new(e) })?;
    let field = u16_of(&obj, tags::COMMAND_FIELD, "CommandField")?;
    let message_id = u16_of(&obj, tags::MESSAGE_ID, "MessageID").unwrap_or(0);
    match field {
        C_ECHO_RQ => Ok(Command::Echo { message_id }),
        C_STORE_RQ => Ok(Command::Store {
            message_id: u16_of(&obj, tags::MESSAGE_ID, "MessageID")?,
            sop_class_uid: str_of(&obj, tags::AFFECTED_SOP_CLASS_UID, "AffectedSOPClassUID")?,
            sop_instance_uid: str_of(&obj, tags::AFFECTED_SOP_INSTANCE_UID, "AffectedSOPInstanceUID")?,
        }),
        command_field => Ok(Command::Other {
            command_field,
            message_id,
            has_data_set: u16_of(&obj, tags::COMMAND_DATA_SET_TYPE, "CommandDataSetType")
                .is_ok_and(|t| t != NO_DATA_SET),
        }),
    }
}

fn encode(obj: &InMemDicomObject) -> Result<Vec<u8>, DimseError> {
    let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let mut out = Vec::with_capacity(160);
    obj.write_dataset_with_ts(&mut out, &ts).map_err(|e| DimseError::Encode { source: Box::new(e) })?;
    Ok(out)
}

/// C-ECHO-RSP (Success) to `message_id`.
pub fn echo_response(message_id: u16) -> Result<Vec<u8>, DimseError> {
    encode(&InMemDicomObject::command_from_element_iter([
        DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, dicom_value!(Str, "1.2.840.10008.1.1")),
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [0x8030])),
        DataElement::new(tags::MESSAGE_ID_BEING_RESPONDED_TO, VR::US, dicom_value!(U16, [message_id])),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, dicom_value!(U16, [NO_DATA_SET])),
        DataElement::new(tags::STATUS, VR::US, dicom_value!(U16, [status::SUCCESS])),
    ]))
}

/// The response to a command berth does not serve: its Command Field with the response bit,
/// status Unrecognized Operation.
pub fn unrecognized_response(command_field: u16, message_id: u16) -> Result<Vec<u8>, DimseError> {
    encode(&InMemDicomObject::command_from_element_iter([
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [command_field | 0x8000])),
        DataElement::new(tags::MESSAGE_ID_BEING_RESPONDED_TO, VR::US, dicom_value!(U16, [message_id])),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, dicom_value!(U16, [NO_DATA_SET])),
        DataElement::new(tags::STATUS, VR::US, dicom_value!(U16, [status::UNRECOGNIZED_OPERATION])),
    ]))
}

/// C-STORE-RSP with `status`. A UID is padded to even length with NUL by the writer.
pub fn store_response(
    message_id: u16,
    sop_class_uid: &str,
    sop_instance_uid: &str,
    status: u16,
) -> Result<Vec<u8>, DimseError> {
    encode(&InMemDicomObject::command_from_element_iter([
        DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, dicom_value!(Str, sop_class_uid)),
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [0x8001])),
        DataElement::new(tags::MESSAGE_ID_BEING_RESPONDED_TO, VR::US, dicom_value!(U16, [message_id])),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, dicom_value!(U16, [NO_DATA_SET])),
        DataElement::new(tags::STATUS, VR::US, dicom_value!(U16, [status])),
        DataElement::new(tags::AFFECTED_SOP_INSTANCE_UID, VR::UI, dicom_value!(Str, sop_instance_uid)),
    ]))
}

/// C-STORE-RQ for one instance; its data set follows on the same presentation context.
pub fn store_request(message_id: u16, sop_class_uid: &str, sop_instance_uid: &str) -> Result<Vec<u8>, DimseError> {
    encode(&InMemDicomObject::command_from_element_iter([
        DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, dicom_value!(Str, sop_class_uid)),
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [C_STORE_RQ])),
        DataElement::new(tags::MESSAGE_ID, VR::US, dicom_value!(U16, [message_id])),
        DataElement::new(tags::PRIORITY, VR::US, dicom_value!(U16, [0])),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, dicom_value!(U16, [0x0000])),
        DataElement::new(tags::AFFECTED_SOP_INSTANCE_UID, VR::UI, dicom_value!(Str, sop_instance_uid)),
    ]))
}

/// The Message ID Being Responded To and the Status of a response command set.
pub fn parse_response(bytes: &[u8]) -> Result<(u16, u16), DimseError> {
    let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let obj =
        InMemDicomObject::read_dataset_with_ts(bytes, &ts).map_err(|e| DimseError::Parse { source: Box::new(e) })?;
    Ok((
        u16_of(&obj, tags::MESSAGE_ID_BEING_RESPONDED_TO, "MessageIDBeingRespondedTo")?,
        u16_of(&obj, tags::STATUS, "Status")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_read_back() {
        let rsp = store_response(7, "1.2.840.10008.5.1.4.1.1.4", "1.2.3", status::DUPLICATE).expect("encode");
        let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
        let obj = InMemDicomObject::read_dataset_with_ts(rsp.as_slice(), &ts).expect("read");
        assert_eq!(obj.element(tags::STATUS).expect("status").to_int::<u16>().expect("u16"), 0x0111);
        assert_eq!(obj.element(tags::MESSAGE_ID_BEING_RESPONDED_TO).expect("id").to_int::<u16>().expect("u16"), 7);
        let group_length = obj.element(tags::COMMAND_GROUP_LENGTH).expect("length").to_int::<u32>().expect("u32");
        assert_eq!(group_length as usize, rsp.len() - 12, "the group length counts what follows it");
    }

    #[test]
    fn requests_parse_as_stores_and_responses_give_their_status() {
        let rq = store_request(9, "1.2.3", "4.5.6").expect("encode");
        assert_eq!(
            parse(&rq).expect("parse"),
            Command::Store { message_id: 9, sop_class_uid: "1.2.3".into(), sop_instance_uid: "4.5.6".into() }
        );
        let rsp = store_response(9, "1.2.3", "4.5.6", status::OUT_OF_RESOURCES).expect("encode");
        assert_eq!(parse_response(&rsp).expect("parse"), (9, 0xA700));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b""[..], b"\x00\x00\x00\x00\xff\xff\xff\xff", b"\x01\x02\x03", &[0xff; 64]] {
            assert!(parse(bytes).is_err(), "{bytes:?}");
        }
    }
}
