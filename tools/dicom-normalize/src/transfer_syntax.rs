//! Which transfer syntaxes `dicom-normalize` accepts, and the refusal for the others.
//!
//! Native (uncompressed) pixel data is handled, and RLE Lossless, which scanners write and
//! which takes a page of code to decode ([`crate::rle`]). JPEG, JPEG 2000 or deflate would pull
//! image codecs (and for some, C libraries) into a binary that must link statically for a
//! `FROM scratch` image: users decompress those first with a tool made for it (dcmtk's
//! `dcmdjpeg`, in berth's catalog).

use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};

/// Implicit VR Little Endian (PS3.5 A.1).
pub const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian (PS3.5 A.2).
pub const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
/// Explicit VR Big Endian (PS3.5 A.3, retired but still met in archives).
pub const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// The byte order of native pixel data in an accepted transfer syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// Little endian (implicit or explicit VR).
    Little,
    /// Big endian (explicit VR).
    Big,
    /// RLE Lossless: decoded into native little endian before it is read.
    Rle,
}

/// Why a transfer syntax was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransferSyntaxError {
    /// The pixel data is compressed or otherwise encapsulated.
    #[error(
        "transfer syntax `{uid}` ({name}) is not supported: only native (uncompressed) and RLE Lossless pixel data \
         can be normalized"
    )]
    Unsupported {
        /// The transfer syntax UID from the file meta group.
        uid: String,
        /// Its name in the DICOM standard, or a note that it is unknown.
        name: String,
    },
}

impl TransferSyntaxError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        "decompress the file first, for example with `gdcmconv --raw IN OUT` (GDCM) or \
         `dcmdjpeg IN OUT` / `dcmconv +te IN OUT` (DCMTK)"
            .to_string()
    }
}

/// Accepts the three native transfer syntaxes and names the byte order of their pixel data.
///
/// The UID may carry the trailing NUL or space padding of the file meta group.
pub fn check(uid: &str) -> Result<ByteOrder, TransferSyntaxError> {
    let uid = uid.trim_end_matches(['\0', ' ']);
    match uid {
        IMPLICIT_VR_LITTLE_ENDIAN | EXPLICIT_VR_LITTLE_ENDIAN => Ok(ByteOrder::Little),
        EXPLICIT_VR_BIG_ENDIAN => Ok(ByteOrder::Big),
        crate::rle::RLE_LOSSLESS => Ok(ByteOrder::Rle),
        other => Err(TransferSyntaxError::Unsupported {
            uid: other.to_string(),
            name: TransferSyntaxRegistry
                .get(other)
                .map(|ts| ts.name().to_string())
                .unwrap_or_else(|| "unknown transfer syntax".to_string()),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    #[test]
    fn native_syntaxes_are_accepted_with_their_byte_order() {
        assert_eq!(check(IMPLICIT_VR_LITTLE_ENDIAN), Ok(ByteOrder::Little));
        assert_eq!(check("1.2.840.10008.1.2.1\0"), Ok(ByteOrder::Little));
        assert_eq!(check(EXPLICIT_VR_BIG_ENDIAN), Ok(ByteOrder::Big));
    }

    #[test]
    fn compressed_syntax_is_refused_with_its_name() {
        let err = check("1.2.840.10008.1.2.4.50").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("1.2.840.10008.1.2.4.50"), "{msg}");
        assert!(msg.contains("JPEG Baseline"), "{msg}");
        assert!(err.hint().contains("gdcmconv"));
    }

    #[test]
    fn deflated_syntax_is_refused_because_no_inflater_is_linked() {
        let msg = check("1.2.840.10008.1.2.1.99").unwrap_err().to_string();
        assert!(msg.contains("Deflated Explicit VR Little Endian"), "{msg}");
    }

    #[test]
    fn unknown_syntax_is_named_unknown() {
        let msg = check("1.2.3.4").unwrap_err().to_string();
        assert!(msg.contains("unknown transfer syntax"), "{msg}");
    }
}
