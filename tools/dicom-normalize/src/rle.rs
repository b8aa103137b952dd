//! RLE Lossless (PS3.5 Annex G) decoding, so that scanners' RLE-compressed files are normalized
//! like native ones: each frame's fragment is decoded into native little-endian samples and the
//! object becomes Explicit VR Little Endian, which is how the output is written.
//!
//! Written here rather than taken from dicom-rs's RLE adapter: the adapter decodes through the
//! `dicom-pixeldata` object model, while this tool reads and rewrites the stored values
//! itself; the format is small (a 64-byte header of segment offsets, then PackBits segments,
//! one per byte plane, most significant first).

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileDicomObject, InMemDicomObject};

use crate::pixel::{PixelError, PixelLayout};
use crate::transfer_syntax::EXPLICIT_VR_LITTLE_ENDIAN;

/// RLE Lossless (PS3.5 A.4.2).
pub const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Why RLE pixel data could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RleError {
    /// Not as many fragments as frames.
    #[error("the RLE pixel data has {fragments} fragment(s) for {frames} frame(s)")]
    Fragments {
        /// Fragments found.
        fragments: usize,
        /// Frames declared.
        frames: u32,
    },
    /// A frame's header is cut or inconsistent.
    #[error("frame {frame}: {what}")]
    Frame {
        /// The frame (from 1).
        frame: usize,
        /// What is wrong.
        what: String,
    },
}

/// Decodes PackBits (PS3.5 G.3.1) from `src` until `out` holds `len` bytes.
fn unpack(src: &[u8], len: usize, out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    let mut i = 0;
    while out.len() - start < len {
        let Some(&n) = src.get(i) else {
            return Err(format!("a segment ends after {} of {len} bytes", out.len() - start));
        };
        i += 1;
        let n = n as i8;
        if n >= 0 {
            let count = n as usize + 1;
            let literal = src.get(i..i + count).ok_or("a literal run goes past the segment")?;
            out.extend_from_slice(literal);
            i += count;
        } else if n != -128 {
            let byte = *src.get(i).ok_or("a replicate run goes past the segment")?;
            out.extend(std::iter::repeat_n(byte, (1 - n as isize) as usize));
            i += 1;
        }
    }
    // A run may end past the frame (encoders pad segments to even lengths): keep what belongs.
    out.truncate(start + len);
    Ok(())
}

/// One frame: `samples` values of `bytes` bytes each, as little-endian bytes.
fn decode_frame(fragment: &[u8], samples: usize, bytes: usize, frame: usize) -> Result<Vec<u8>, RleError> {
    let err = |what: String| RleError::Frame { frame, what };
    let word = |k: usize| -> Result<usize, RleError> {
        let b = fragment.get(4 * k..4 * k + 4).ok_or_else(|| err("the 64-byte RLE header is cut".into()))?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let segments = word(0)?;
    if segments != bytes {
        return Err(err(format!("{segments} RLE segment(s), expected {bytes} for {}-bit samples", bytes * 8)));
    }
    let mut planes = Vec::with_capacity(bytes);
    for s in 0..segments {
        let begin = word(1 + s)?;
        let end = if s + 1 < segments { word(2 + s)? } else { fragment.len() };
        let seg = fragment
            .get(begin..end.max(begin))
            .ok_or_else(|| err(format!("segment {} lies outside the fragment", s + 1)))?;
        let mut plane = Vec::with_capacity(samples);
        unpack(seg, samples, &mut plane).map_err(|w| err(format!("segment {}: {w}", s + 1)))?;
        planes.push(plane);
    }
    // Segments hold byte planes, most significant first; native little endian wants the least
    // significant byte first.
    let mut out = Vec::with_capacity(samples * bytes);
    for i in 0..samples {
        for plane in planes.iter().rev() {
            out.push(plane[i]);
        }
    }
    Ok(out)
}

/// Replaces the encapsulated RLE Pixel Data of `file` with native pixel data and makes the
/// object Explicit VR Little Endian. Monochrome (one sample per pixel), 8 or 16 bits allocated.
pub fn to_native(file: &mut FileDicomObject<InMemDicomObject>, layout: &PixelLayout) -> Result<(), PixelError> {
    let element = file.get(tags::PIXEL_DATA).ok_or(PixelError::MissingPixelData)?;
    let fragments = element.value().fragments().ok_or(PixelError::EncapsulatedPixelData)?;
    let frames = layout.frames.max(1);
    if fragments.len() != frames as usize {
        return Err(PixelError::Rle(RleError::Fragments { fragments: fragments.len(), frames }));
    }
    let bytes = usize::from(layout.bits_allocated / 8);
    let per_frame = layout.sample_count() / frames as usize;
    let mut native = Vec::with_capacity(layout.sample_count() * bytes);
    for (k, fragment) in fragments.iter().enumerate() {
        native.extend(decode_frame(fragment, per_frame, bytes, k + 1).map_err(PixelError::Rle)?);
    }
    let element = if bytes == 2 {
        let words: Vec<u16> = native.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(words.into()))
    } else {
        if native.len() % 2 == 1 {
            native.push(0); // OB values have even length
        }
        DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::U8(native.into()))
    };
    file.put(element);
    file.update_meta(|meta| {
        meta.transfer_syntax = EXPLICIT_VR_LITTLE_ENDIAN.to_string();
    });
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    #[test]
    fn packbits_runs_literals_and_the_no_op() {
        let mut out = Vec::new();
        // literal of 3, replicate 0xAA four times, a -128 no-op, literal of 1
        unpack(&[2, 1, 2, 3, (-3i8) as u8, 0xAA, 0x80, 0, 9], 8, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 0xAA, 0xAA, 0xAA, 0xAA, 9]);
        let mut cut = Vec::new();
        assert!(unpack(&[5, 1, 2], 6, &mut cut).unwrap_err().contains("literal run"));
    }

    #[test]
    fn sixteen_bit_frames_interleave_the_planes_little_endian() {
        // Two samples: 0x0102 and 0x0304. Segment 1 (high bytes) = [1, 3], segment 2 = [2, 4].
        let mut fragment = vec![0u8; 64];
        fragment[0..4].copy_from_slice(&2u32.to_le_bytes());
        fragment[4..8].copy_from_slice(&64u32.to_le_bytes());
        fragment[8..12].copy_from_slice(&67u32.to_le_bytes());
        fragment.extend_from_slice(&[1, 1, 3]); // literal of 2: 1, 3
        fragment.extend_from_slice(&[1, 2, 4, 0]); // literal of 2: 2, 4, then padding
        assert_eq!(decode_frame(&fragment, 2, 2, 1).unwrap(), [0x02, 0x01, 0x04, 0x03]);
        let e = decode_frame(&fragment, 2, 1, 1).unwrap_err();
        assert!(e.to_string().contains("2 RLE segment(s), expected 1"), "{e}");
    }
}
