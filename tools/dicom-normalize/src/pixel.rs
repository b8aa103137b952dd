//! Native pixel data: the Image Pixel module attributes that describe its layout, and the
//! conversion between the Pixel Data element and signed stored values.
//!
//! Stored values are read from the low `Bits Stored` bits of each sample (PS3.5 8.1.1 with
//! High Bit = Bits Stored - 1); when Pixel Representation is 1 they are sign-extended
//! from bit `Bits Stored - 1`. On write, the bits above High Bit are the sign extension for
//! signed data and zero for unsigned data, so readers that ignore Bits Stored still see the
//! right value.

use dicom_core::value::{DicomValueType, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::transfer_syntax::ByteOrder;

/// Why the pixel data cannot be read or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PixelError {
    /// A required Image Pixel attribute is absent.
    #[error("required attribute {name} {tag} is missing")]
    MissingAttribute {
        /// Attribute keyword.
        name: &'static str,
        /// Attribute tag.
        tag: Tag,
    },
    /// An attribute is present but its value cannot be used.
    #[error("attribute {name} {tag} has value `{value}`, expected {expected}")]
    InvalidAttribute {
        /// Attribute keyword.
        name: &'static str,
        /// Attribute tag.
        tag: Tag,
        /// The value found, as text.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The Pixel Data element is absent (for example Float Pixel Data only).
    #[error("the data set has no Pixel Data (7FE0,0010) element")]
    MissingPixelData,
    /// The Pixel Data element holds fragments although the transfer syntax is native.
    #[error("Pixel Data is encapsulated although the transfer syntax is native")]
    EncapsulatedPixelData,
    /// Pixel Data holds fewer samples than Rows × Columns × Number of Frames.
    #[error("Pixel Data holds {actual} bytes, expected at least {expected} for the declared image size")]
    PixelDataTooShort {
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// 8-bit samples packed in 16-bit words under a big-endian transfer syntax: the sample
    /// order inside each word is not defined consistently across writers.
    #[error("8-bit Pixel Data encoded as OW in Explicit VR Big Endian is not supported")]
    EightBitWordsBigEndian,
    /// RLE Lossless pixel data that cannot be decoded.
    #[error("cannot decode the RLE Lossless pixel data")]
    Rle(#[source] crate::rle::RleError),
}

/// The photometric interpretations that a linear remap of one sample keeps meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Photometric {
    /// Minimum value is displayed black.
    Monochrome2,
    /// Minimum value is displayed white; the remap is the same, only display inverts.
    Monochrome1,
}

/// The layout of native, single-sample pixel data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelLayout {
    /// Rows (0028,0010).
    pub rows: u32,
    /// Columns (0028,0011).
    pub columns: u32,
    /// Number of Frames (0028,0008); 1 when absent.
    pub frames: u32,
    /// Bits Allocated (0028,0100): 8 or 16.
    pub bits_allocated: u16,
    /// Bits Stored (0028,0101): 1..=Bits Allocated.
    pub bits_stored: u16,
    /// Pixel Representation (0028,0103) is 1 (two's complement).
    pub signed: bool,
    /// Photometric Interpretation (0028,0004).
    pub photometric: Photometric,
}

impl PixelLayout {
    /// Reads and checks the Image Pixel module attributes.
    pub fn from_object(obj: &InMemDicomObject) -> Result<Self, PixelError> {
        let samples = read_uint(obj, tags::SAMPLES_PER_PIXEL, "SamplesPerPixel")?;
        if samples != 1 {
            return Err(invalid(
                "SamplesPerPixel",
                tags::SAMPLES_PER_PIXEL,
                samples,
                "1 (colour images are not supported)",
            ));
        }
        let photometric = match read_str(obj, tags::PHOTOMETRIC_INTERPRETATION)?.as_deref() {
            Some("MONOCHROME2") => Photometric::Monochrome2,
            Some("MONOCHROME1") => Photometric::Monochrome1,
            Some(other) => {
                return Err(invalid(
                    "PhotometricInterpretation",
                    tags::PHOTOMETRIC_INTERPRETATION,
                    other,
                    "MONOCHROME2 or MONOCHROME1",
                ));
            }
            None => {
                return Err(PixelError::MissingAttribute {
                    name: "PhotometricInterpretation",
                    tag: tags::PHOTOMETRIC_INTERPRETATION,
                });
            }
        };
        let rows = read_uint(obj, tags::ROWS, "Rows")?;
        let columns = read_uint(obj, tags::COLUMNS, "Columns")?;
        if rows == 0 || columns == 0 {
            return Err(invalid("Rows/Columns", tags::ROWS, format!("{rows}x{columns}"), "a non-empty image"));
        }
        let frames = match obj.get(tags::NUMBER_OF_FRAMES) {
            None => 1,
            Some(e) => {
                let text = e.value().to_str().map(|s| s.trim().to_string()).unwrap_or_default();
                match text.parse::<u32>() {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        return Err(invalid("NumberOfFrames", tags::NUMBER_OF_FRAMES, text, "a positive integer"));
                    }
                }
            }
        };
        let bits_allocated = read_uint(obj, tags::BITS_ALLOCATED, "BitsAllocated")?;
        if bits_allocated != 8 && bits_allocated != 16 {
            return Err(invalid("BitsAllocated", tags::BITS_ALLOCATED, bits_allocated, "8 or 16"));
        }
        let bits_stored = read_uint(obj, tags::BITS_STORED, "BitsStored")?;
        if bits_stored < 2 || bits_stored > bits_allocated {
            return Err(invalid("BitsStored", tags::BITS_STORED, bits_stored, "between 2 and Bits Allocated"));
        }
        let high_bit = read_uint(obj, tags::HIGH_BIT, "HighBit")?;
        if high_bit + 1 != bits_stored {
            // PS3.5 8.1.1 allows other placements only for retired encodings; they are rare
            // enough that refusing is safer than guessing.
            return Err(invalid("HighBit", tags::HIGH_BIT, high_bit, "Bits Stored - 1"));
        }
        let signed = match read_uint(obj, tags::PIXEL_REPRESENTATION, "PixelRepresentation")? {
            0 => false,
            1 => true,
            other => {
                return Err(invalid(
                    "PixelRepresentation",
                    tags::PIXEL_REPRESENTATION,
                    other,
                    "0 (unsigned) or 1 (two's complement)",
                ));
            }
        };
        Ok(Self {
            rows,
            columns,
            frames,
            bits_allocated: bits_allocated as u16,
            bits_stored: bits_stored as u16,
            signed,
            photometric,
        })
    }

    /// Samples in all frames.
    pub fn sample_count(&self) -> usize {
        self.rows as usize * self.columns as usize * self.frames as usize
    }

    /// The smallest and largest stored value that Bits Stored and Pixel Representation allow.
    pub fn representable(&self) -> (i32, i32) {
        let bits = u32::from(self.bits_stored);
        if self.signed { (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) } else { (0, (1 << bits) - 1) }
    }

    /// Interprets one raw sample word: keep the low Bits Stored bits, sign-extend if signed.
    pub fn decode(&self, raw: u16) -> i32 {
        let bits = u32::from(self.bits_stored);
        let value = u32::from(raw) & ((1u32 << bits) - 1);
        if self.signed && value & (1 << (bits - 1)) != 0 { value as i32 - (1i32 << bits) } else { value as i32 }
    }

    /// Encodes one stored value into a raw sample word of Bits Allocated bits.
    ///
    /// The value must be representable (see [`PixelLayout::representable`]).
    pub fn encode(&self, value: i32) -> u16 {
        let allocated_mask = (1u32 << self.bits_allocated) - 1;
        // Two's complement truncated to Bits Allocated is the sign extension above High Bit.
        (value as u32 & allocated_mask) as u16
    }
}

/// How the samples sat in the Pixel Data value, so they can be put back the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Container {
    /// One byte per sample (OB, or 8-bit data read as bytes).
    Bytes8,
    /// 16-bit samples given as bytes (OB with Bits Allocated 16) in this byte order.
    Bytes16(ByteOrder),
    /// 16-bit samples given as words (OW decoded to native by the parser).
    Words16,
    /// 8-bit samples packed two per little-endian word (OW in implicit VR).
    Words8,
}

/// The stored values of every frame, with what is needed to write them back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPixels {
    /// Stored values, frame after frame, row after row.
    pub values: Vec<i32>,
    container: Container,
    vr: VR,
    /// The raw value as read, whose trailing padding is kept on write.
    raw: PrimitiveValue,
}

impl StoredPixels {
    /// Reads every sample of the Pixel Data element.
    pub fn read(obj: &InMemDicomObject, layout: &PixelLayout, order: ByteOrder) -> Result<Self, PixelError> {
        let element = obj.get(tags::PIXEL_DATA).ok_or(PixelError::MissingPixelData)?;
        let raw = match element.value() {
            Value::Primitive(p) => p.clone(),
            _ => return Err(PixelError::EncapsulatedPixelData),
        };
        let n = layout.sample_count();
        let bytes_needed = n * usize::from(layout.bits_allocated / 8);
        let (container, words): (Container, Vec<u16>) = match (&raw, layout.bits_allocated) {
            (PrimitiveValue::U16(w), 16) => {
                check_len(w.len() * 2, bytes_needed)?;
                (Container::Words16, w[..n].to_vec())
            }
            (PrimitiveValue::U16(w), _) => {
                if order == ByteOrder::Big {
                    return Err(PixelError::EightBitWordsBigEndian);
                }
                check_len(w.len() * 2, bytes_needed)?;
                let bytes = w.iter().flat_map(|x| x.to_le_bytes());
                (Container::Words8, bytes.take(n).map(u16::from).collect())
            }
            (PrimitiveValue::U8(b), 16) => {
                check_len(b.len(), bytes_needed)?;
                let words = b[..bytes_needed]
                    .chunks_exact(2)
                    .map(|c| match order {
                        // RLE is decoded into native little endian before pixels are read
                        ByteOrder::Little | ByteOrder::Rle => u16::from_le_bytes([c[0], c[1]]),
                        ByteOrder::Big => u16::from_be_bytes([c[0], c[1]]),
                    })
                    .collect();
                (Container::Bytes16(order), words)
            }
            (PrimitiveValue::U8(b), _) => {
                check_len(b.len(), bytes_needed)?;
                (Container::Bytes8, b[..n].iter().map(|&x| u16::from(x)).collect())
            }
            (PrimitiveValue::Empty, _) => {
                return Err(PixelError::PixelDataTooShort { expected: bytes_needed, actual: 0 });
            }
            (other, _) => {
                // Any other in-memory form means the parser did not take this as OB/OW.
                return Err(PixelError::InvalidAttribute {
                    name: "PixelData",
                    tag: tags::PIXEL_DATA,
                    value: format!("a {:?} value", other.value_type()),
                    expected: "OB or OW",
                });
            }
        };
        Ok(Self { values: words.into_iter().map(|w| layout.decode(w)).collect(), container, vr: element.vr(), raw })
    }

    /// Smallest and largest stored value, or `None` for an empty image.
    pub fn extent(&self) -> Option<(i32, i32)> {
        let min = self.values.iter().copied().min()?;
        let max = self.values.iter().copied().max()?;
        Some((min, max))
    }

    /// Builds the Pixel Data element holding `self.values`, in the same form (VR, bytes or
    /// words, byte order, trailing padding) as the element that was read.
    pub fn to_element(&self, layout: &PixelLayout) -> DataElement<InMemDicomObject> {
        let encoded = self.values.iter().map(|&v| layout.encode(v));
        let value = match (&self.container, &self.raw) {
            (Container::Words16, PrimitiveValue::U16(old)) => {
                let mut words: Vec<u16> = encoded.collect();
                words.extend_from_slice(&old[words.len()..]);
                PrimitiveValue::U16(words.into())
            }
            (Container::Words8, PrimitiveValue::U16(old)) => {
                let mut bytes: Vec<u8> = old.iter().flat_map(|x| x.to_le_bytes()).collect();
                for (slot, v) in bytes.iter_mut().zip(encoded) {
                    *slot = v as u8;
                }
                let words: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                PrimitiveValue::U16(words.into())
            }
            (Container::Bytes16(order), PrimitiveValue::U8(old)) => {
                let mut bytes: Vec<u8> = encoded
                    .flat_map(|v| match order {
                        ByteOrder::Little | ByteOrder::Rle => v.to_le_bytes(),
                        ByteOrder::Big => v.to_be_bytes(),
                    })
                    .collect();
                bytes.extend_from_slice(&old[bytes.len()..]);
                PrimitiveValue::U8(bytes.into())
            }
            (Container::Bytes8, PrimitiveValue::U8(old)) => {
                let mut bytes: Vec<u8> = encoded.map(|v| v as u8).collect();
                bytes.extend_from_slice(&old[bytes.len()..]);
                PrimitiveValue::U8(bytes.into())
            }
            // `read` only ever pairs each container with the raw form it came from.
            _ => unreachable!("pixel container does not match its raw value"),
        };
        DataElement::new(tags::PIXEL_DATA, self.vr, value)
    }
}

fn check_len(actual: usize, expected: usize) -> Result<(), PixelError> {
    if actual < expected { Err(PixelError::PixelDataTooShort { expected, actual }) } else { Ok(()) }
}

fn invalid(name: &'static str, tag: Tag, value: impl ToString, expected: &'static str) -> PixelError {
    PixelError::InvalidAttribute { name, tag, value: value.to_string(), expected }
}

fn read_uint(obj: &InMemDicomObject, tag: Tag, name: &'static str) -> Result<u32, PixelError> {
    let element = obj.get(tag).ok_or(PixelError::MissingAttribute { name, tag })?;
    element.value().to_int::<u32>().map_err(|_| PixelError::InvalidAttribute {
        name,
        tag,
        value: element.value().to_str().map(|s| s.into_owned()).unwrap_or_default(),
        expected: "an unsigned integer",
    })
}

fn read_str(obj: &InMemDicomObject, tag: Tag) -> Result<Option<String>, PixelError> {
    Ok(obj
        .get(tag)
        .and_then(|e| e.value().to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).trim_start().to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    fn layout(bits_allocated: u16, bits_stored: u16, signed: bool) -> PixelLayout {
        PixelLayout {
            rows: 1,
            columns: 4,
            frames: 1,
            bits_allocated,
            bits_stored,
            signed,
            photometric: Photometric::Monochrome2,
        }
    }

    #[test]
    fn representable_ranges_follow_bits_stored_and_sign() {
        assert_eq!(layout(8, 8, false).representable(), (0, 255));
        assert_eq!(layout(8, 8, true).representable(), (-128, 127));
        assert_eq!(layout(16, 12, false).representable(), (0, 4095));
        assert_eq!(layout(16, 12, true).representable(), (-2048, 2047));
        assert_eq!(layout(16, 16, true).representable(), (-32768, 32767));
        assert_eq!(layout(16, 16, false).representable(), (0, 65535));
    }

    #[test]
    fn decode_masks_bits_above_high_bit() {
        // An old overlay bit (bit 15) set above 12 stored bits must not leak into the value.
        assert_eq!(layout(16, 12, false).decode(0x8FFF), 4095);
        assert_eq!(layout(16, 12, false).decode(0xF001), 1);
    }

    #[test]
    fn decode_sign_extends_from_bit_stored_minus_one() {
        let l = layout(16, 12, true);
        assert_eq!(l.decode(0x0800), -2048);
        assert_eq!(l.decode(0x0FFF), -1);
        // Writers that already sign-extended to 16 bits decode the same.
        assert_eq!(l.decode(0xFFFF), -1);
        assert_eq!(l.decode(0x07FF), 2047);
        assert_eq!(layout(8, 8, true).decode(0x80), -128);
    }

    #[test]
    fn encode_sign_extends_signed_and_zero_fills_unsigned() {
        assert_eq!(layout(16, 12, true).encode(-1), 0xFFFF);
        assert_eq!(layout(16, 12, true).encode(-2048), 0xF800);
        assert_eq!(layout(16, 12, false).encode(4095), 0x0FFF);
        assert_eq!(layout(8, 8, true).encode(-1), 0x00FF);
    }

    #[test]
    fn encode_then_decode_is_identity_over_the_representable_range() {
        for l in
            [layout(8, 8, false), layout(8, 7, true), layout(16, 12, true), layout(16, 16, true), layout(16, 16, false)]
        {
            let (lo, hi) = l.representable();
            for v in lo..=hi {
                assert_eq!(l.decode(l.encode(v)), v, "{l:?} {v}");
            }
        }
    }

    fn object_with_pixels(value: PrimitiveValue, vr: VR) -> InMemDicomObject {
        InMemDicomObject::from_element_iter([DataElement::new(tags::PIXEL_DATA, vr, value)])
    }

    #[test]
    fn words8_round_trip_keeps_little_endian_sample_order() {
        let l = layout(8, 8, false);
        let obj = object_with_pixels(PrimitiveValue::U16([0x0201, 0x0403].as_slice().into()), VR::OW);
        let mut px = StoredPixels::read(&obj, &l, ByteOrder::Little).unwrap();
        assert_eq!(px.values, vec![1, 2, 3, 4]);
        px.values = vec![5, 6, 7, 8];
        let out = px.to_element(&l);
        assert_eq!(out.value().primitive(), Some(&PrimitiveValue::U16([0x0605, 0x0807].as_slice().into())));
    }

    #[test]
    fn bytes16_big_endian_round_trip() {
        let mut l = layout(16, 16, true);
        l.columns = 2;
        let obj = object_with_pixels(PrimitiveValue::U8([0xFF, 0xFE, 0x00, 0x02].as_slice().into()), VR::OB);
        let mut px = StoredPixels::read(&obj, &l, ByteOrder::Big).unwrap();
        assert_eq!(px.values, vec![-2, 2]);
        px.values = vec![-3, 3];
        let out = px.to_element(&l);
        assert_eq!(out.value().primitive(), Some(&PrimitiveValue::U8([0xFF, 0xFD, 0x00, 0x03].as_slice().into())));
    }

    #[test]
    fn trailing_padding_byte_is_kept() {
        let mut l = layout(8, 8, false);
        l.columns = 3;
        let obj = object_with_pixels(PrimitiveValue::U8([1, 2, 3, 0].as_slice().into()), VR::OB);
        let mut px = StoredPixels::read(&obj, &l, ByteOrder::Little).unwrap();
        px.values = vec![9, 8, 7];
        let out = px.to_element(&l);
        assert_eq!(out.value().primitive(), Some(&PrimitiveValue::U8([9, 8, 7, 0].as_slice().into())));
    }

    #[test]
    fn short_pixel_data_is_an_error() {
        let l = layout(16, 16, false);
        let obj = object_with_pixels(PrimitiveValue::U16([1, 2, 3].as_slice().into()), VR::OW);
        assert_eq!(
            StoredPixels::read(&obj, &l, ByteOrder::Little),
            Err(PixelError::PixelDataTooShort { expected: 8, actual: 6 })
        );
    }

    #[test]
    fn eight_bit_words_in_big_endian_are_refused() {
        let l = layout(8, 8, false);
        let obj = object_with_pixels(PrimitiveValue::U16([1, 2].as_slice().into()), VR::OW);
        assert_eq!(StoredPixels::read(&obj, &l, ByteOrder::Big), Err(PixelError::EightBitWordsBigEndian));
    }
}
