//! Reading an established association's PDUs straight off its stream (PS3.8 §9.3). A P-DATA-TF
//! PDU is read value by value: each presentation data value's bytes go from the socket into
//! one buffer reused for the whole association, which the SCP writes to the instance's file —
//! one copy in user space. dicom-ul's `receive` reads 8 KiB at a time into its own buffer,
//! then copies each PDU and each value again into new vectors (measured: the largest cost of
//! receiving large instances). Other PDUs (release, abort, anything unexpected) are read whole
//! and decoded by dicom-ul.
//!
//! Used only after A-ASSOCIATE: the requestor may send nothing but the A-ASSOCIATE-RQ before
//! it reads our A-ASSOCIATE-AC (PS3.8 §9.2, state Sta5), so dicom-ul has nothing of the
//! association's data left in its buffer when this takes over.

use std::io::Read;

use dicom_ul::Pdu;

/// The PDU type of P-DATA-TF.
const P_DATA_TF: u8 = 0x04;

/// What [`PduReader::next`] read.
#[derive(Debug)]
pub enum Item<'b> {
    /// One presentation data value of a P-DATA-TF PDU.
    Value {
        /// Its presentation context.
        context: u8,
        /// A command fragment (else a data set fragment).
        command: bool,
        /// The last fragment of its command or data set.
        last: bool,
        /// Its bytes.
        data: &'b [u8],
    },
    /// Any other PDU, decoded.
    Other(Pdu),
}

/// Why the stream could not be read as PDUs.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The connection failed, timed out or was closed.
    #[error("reading from the peer failed")]
    Read {
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A PDU longer than the maximum we announced.
    #[error("a PDU of {length} bytes is longer than the {max} announced")]
    TooLong {
        /// Its length field.
        length: u32,
        /// Our maximum.
        max: u32,
    },
    /// A P-DATA-TF PDU whose values do not add up.
    #[error("a malformed P-DATA-TF PDU: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// Another PDU that dicom-ul cannot decode.
    #[error("an undecodable PDU")]
    Decode {
        /// dicom-ul's error.
        #[source]
        source: Box<dicom_ul::pdu::reader::Error>,
    },
}

/// Reads PDUs from a stream; one per association.
#[derive(Debug)]
pub struct PduReader {
    max_pdu: u32,
    /// Bytes of the current P-DATA-TF PDU not read yet (0: at a PDU boundary).
    left_in_pdu: u64,
    buf: Vec<u8>,
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), WireError> {
    r.read_exact(buf).map_err(|source| WireError::Read { source })
}

impl PduReader {
    /// A reader accepting PDUs up to `max_pdu` bytes long (the maximum length we announced in
    /// A-ASSOCIATE-AC).
    pub fn new(max_pdu: u32) -> Self {
        Self { max_pdu, left_in_pdu: 0, buf: Vec::new() }
    }

    /// The next presentation data value, or the next other PDU.
    pub fn next(&mut self, r: &mut impl Read) -> Result<Item<'_>, WireError> {
        while self.left_in_pdu == 0 {
            let mut head = [0_u8; 6];
            read_exact(r, &mut head)?;
            let length = u32::from_be_bytes([head[2], head[3], head[4], head[5]]);
            if length > self.max_pdu {
                return Err(WireError::TooLong { length, max: self.max_pdu });
            }
            if head[0] != P_DATA_TF {
                let mut whole = Vec::with_capacity(6 + length as usize);
                whole.extend_from_slice(&head);
                whole.resize(6 + length as usize, 0);
                read_exact(r, &mut whole[6..])?;
                let pdu = dicom_ul::pdu::read_pdu(&whole[..], self.max_pdu.max(dicom_ul::pdu::MINIMUM_PDU_SIZE), true)
                    .map_err(|e| WireError::Decode { source: Box::new(e) })?
                    .ok_or(WireError::Malformed { reason: "a PDU shorter than its length" })?;
                return Ok(Item::Other(pdu));
            }
            if length == 0 {
                return Err(WireError::Malformed { reason: "no presentation data value" });
            }
            self.left_in_pdu = u64::from(length);
        }
        // Item length (4), presentation context ID (1), message control header (1), data.
        let mut head = [0_u8; 6];
        if self.left_in_pdu < 6 {
            return Err(WireError::Malformed { reason: "a value shorter than its header" });
        }
        read_exact(r, &mut head)?;
        let item = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        if item < 2 || item + 4 > self.left_in_pdu {
            return Err(WireError::Malformed { reason: "a value's length does not fit its PDU" });
        }
        self.left_in_pdu -= item + 4;
        let len = (item - 2) as usize;
        self.buf.resize(len, 0);
        read_exact(r, &mut self.buf)?;
        Ok(Item::Value { context: head[4], command: head[5] & 1 != 0, last: head[5] & 2 != 0, data: &self.buf })
    }
}

#[cfg(test)]
mod tests {
    use dicom_ul::pdu::{PDataValue, PDataValueType};

    use super::*;

    fn encode(pdu: &Pdu) -> Vec<u8> {
        let mut out = Vec::new();
        dicom_ul::write_pdu(&mut out, pdu).expect("encode");
        out
    }

    fn value(context: u8, value_type: PDataValueType, is_last: bool, data: &[u8]) -> PDataValue {
        PDataValue { presentation_context_id: context, value_type, is_last, data: data.to_vec() }
    }

    /// What dicom-ul writes, this reads back: values in order, then the other PDUs.
    #[test]
    fn reads_what_dicom_ul_writes() {
        let mut wire = encode(&Pdu::PData {
            data: vec![
                value(1, PDataValueType::Command, true, b"cmd"),
                value(1, PDataValueType::Data, false, b"first"),
            ],
        });
        wire.extend(encode(&Pdu::PData { data: vec![value(3, PDataValueType::Data, true, &[7; 5000])] }));
        wire.extend(encode(&Pdu::ReleaseRQ));
        let mut r = &wire[..];
        let mut reader = PduReader::new(16384);
        let mut got = Vec::new();
        loop {
            match reader.next(&mut r).expect("read") {
                Item::Value { context, command, last, data } => {
                    got.push(format!("{context} {command} {last} {}", data.len()))
                }
                Item::Other(pdu) => {
                    assert_eq!(pdu, Pdu::ReleaseRQ);
                    break;
                }
            }
        }
        assert_eq!(got, ["1 true true 3", "1 false false 5", "3 false true 5000"]);
        assert!(matches!(reader.next(&mut r), Err(WireError::Read { .. })), "the end of the stream");
    }

    #[test]
    fn refuses_malformed_and_oversized_pdus() {
        let long = encode(&Pdu::PData { data: vec![value(1, PDataValueType::Data, true, &[0; 9000])] });
        assert!(matches!(PduReader::new(8192).next(&mut &long[..]), Err(WireError::TooLong { .. })));
        // A value claiming more than its PDU holds.
        let mut bad = encode(&Pdu::PData { data: vec![value(1, PDataValueType::Data, true, b"abcd")] });
        bad[9] = 0xff;
        assert!(matches!(PduReader::new(8192).next(&mut &bad[..]), Err(WireError::Malformed { .. })));
        // An empty P-DATA-TF.
        let empty = [P_DATA_TF, 0, 0, 0, 0, 0];
        assert!(matches!(PduReader::new(8192).next(&mut &empty[..]), Err(WireError::Malformed { .. })));
        // A PDU of no known type is never taken for data.
        let garbage = [0x09, 0, 0, 0, 0, 2, 1, 2];
        assert!(!matches!(PduReader::new(8192).next(&mut &garbage[..]), Ok(Item::Value { .. })));
    }
}
