//! Builds small DICOM files for the integration tests: any Bits Allocated/Stored, sign,
//! rescale, frame count and native transfer syntax, written with dicom-object.

#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{DefaultDicomObject, InMemDicomObject};

/// Implicit VR Little Endian.
pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian.
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
/// Explicit VR Big Endian.
pub const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
/// RLE Lossless.
pub const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";
/// JPEG Baseline (Process 1).
pub const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

/// What to put in a generated file.
#[derive(Debug, Clone)]
pub struct Spec {
    pub rows: u16,
    pub columns: u16,
    pub frames: u32,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub signed: bool,
    pub transfer_syntax: &'static str,
    pub slope: Option<&'static str>,
    pub intercept: Option<&'static str>,
    pub photometric: &'static str,
    /// Raw sample words, exactly as they go into Pixel Data (garbage high bits allowed).
    pub raw: Vec<u16>,
    pub extra: Vec<DataElement<InMemDicomObject>>,
}

impl Spec {
    /// A 16-bit, 12-bit-stored unsigned MONOCHROME2 image in Explicit VR Little Endian.
    pub fn new(rows: u16, columns: u16, values: &[i32]) -> Self {
        let mut spec = Spec {
            rows,
            columns,
            frames: 1,
            bits_allocated: 16,
            bits_stored: 12,
            signed: false,
            transfer_syntax: EXPLICIT_LE,
            slope: None,
            intercept: None,
            photometric: "MONOCHROME2",
            raw: Vec::new(),
            extra: Vec::new(),
        };
        spec.set_values(values);
        spec
    }

    /// Stores `values` with the bits above High Bit as sign extension / zero.
    pub fn set_values(&mut self, values: &[i32]) {
        let mask = (1u32 << self.bits_allocated) - 1;
        self.raw = values.iter().map(|&v| (v as u32 & mask) as u16).collect();
    }

    pub fn bits(mut self, allocated: u16, stored: u16, signed: bool, values: &[i32]) -> Self {
        self.bits_allocated = allocated;
        self.bits_stored = stored;
        self.signed = signed;
        self.set_values(values);
        self
    }

    pub fn frames(mut self, frames: u32) -> Self {
        self.frames = frames;
        self
    }

    pub fn ts(mut self, uid: &'static str) -> Self {
        self.transfer_syntax = uid;
        self
    }

    pub fn rescale(mut self, slope: &'static str, intercept: &'static str) -> Self {
        self.slope = Some(slope);
        self.intercept = Some(intercept);
        self
    }

    pub fn with(mut self, element: DataElement<InMemDicomObject>) -> Self {
        self.extra.push(element);
        self
    }

    pub fn object(&self) -> DefaultDicomObject {
        let mut obj = InMemDicomObject::from_element_iter([
            text(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.4"),
            text(tags::SOP_INSTANCE_UID, VR::UI, "1.2.826.0.1.3680043.2.1143.1"),
            text(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.826.0.1.3680043.2.1143.2"),
            text(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.826.0.1.3680043.2.1143.3"),
            text(tags::MODALITY, VR::CS, "MR"),
            text(tags::PATIENT_NAME, VR::PN, "TEST^NORMALIZE"),
            text(tags::PATIENT_ID, VR::LO, "NORM-0001"),
            DataElement::new(
                tags::IMAGE_TYPE,
                VR::CS,
                PrimitiveValue::Strs(["ORIGINAL".to_string(), "PRIMARY".to_string()].as_slice().into()),
            ),
            text(tags::WINDOW_CENTER, VR::DS, "40"),
            text(tags::WINDOW_WIDTH, VR::DS, "400"),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1_u16)),
            text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, self.photometric),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(self.rows)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(self.columns)),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(self.bits_allocated)),
            DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(self.bits_stored)),
            DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(self.bits_stored - 1)),
            DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(u16::from(self.signed))),
        ]);
        if self.frames != 1 {
            obj.put(text(tags::NUMBER_OF_FRAMES, VR::IS, &self.frames.to_string()));
        }
        if let Some(s) = self.slope {
            obj.put(text(tags::RESCALE_SLOPE, VR::DS, s));
        }
        if let Some(i) = self.intercept {
            obj.put(text(tags::RESCALE_INTERCEPT, VR::DS, i));
        }
        let pixel = if self.transfer_syntax == RLE_LOSSLESS {
            let per_frame = self.raw.len() / self.frames as usize;
            let fragments = self
                .raw
                .chunks(per_frame)
                .map(|frame| rle_encode_frame(frame, usize::from(self.bits_allocated / 8)))
                .collect::<Vec<_>>();
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                dicom_core::value::Value::PixelSequence(dicom_core::value::PixelFragmentSequence::new(
                    vec![],
                    fragments,
                )),
            )
        } else if self.bits_allocated == 8 {
            let mut bytes: Vec<u8> = self.raw.iter().map(|&w| w as u8).collect();
            if bytes.len() % 2 == 1 {
                bytes.push(0);
            }
            DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::U8(bytes.into()))
        } else {
            DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(self.raw.clone().into()))
        };
        obj.put(pixel);
        for e in &self.extra {
            obj.put(e.clone());
        }
        obj.with_meta(
            FileMetaTableBuilder::new()
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.4")
                .media_storage_sop_instance_uid("1.2.826.0.1.3680043.2.1143.1")
                .transfer_syntax(self.transfer_syntax),
        )
        .unwrap()
    }

    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        self.object().write_to_file(&path).unwrap();
        path
    }
}

pub fn text(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

/// A file whose meta group announces JPEG Baseline, with an encapsulated Pixel Data.
pub fn write_jpeg_baseline(dir: &Path, name: &str) -> PathBuf {
    let mut spec = Spec::new(1, 2, &[0, 0]).bits(8, 8, false, &[0, 0]);
    spec.transfer_syntax = JPEG_BASELINE;
    let mut file = spec.object();
    file.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        dicom_core::value::Value::PixelSequence(dicom_core::value::PixelFragmentSequence::new(
            vec![],
            vec![vec![0xFF, 0xD8, 0xFF, 0xD9]],
        )),
    ));
    let path = dir.join(name);
    file.write_to_file(&path).unwrap();
    path
}

/// One RLE Lossless frame (DICOM PS3.5 Annex G): a 64-byte header of segment offsets, then one
/// PackBits segment per byte plane, most significant byte first, each padded to even length.
/// Runs of three or more equal bytes are replicate runs, the rest literal runs.
pub fn rle_encode_frame(samples: &[u16], bytes: usize) -> Vec<u8> {
    let mut segments = Vec::new();
    for plane in (0..bytes).rev() {
        let data: Vec<u8> = samples.iter().map(|&w| (w >> (8 * plane)) as u8).collect();
        let mut seg = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let mut run = 1;
            while i + run < data.len() && data[i + run] == data[i] && run < 128 {
                run += 1;
            }
            if run >= 3 {
                seg.push((1i16 - run as i16) as i8 as u8);
                seg.push(data[i]);
                i += run;
                continue;
            }
            let start = i;
            while i < data.len() && i - start < 128 {
                if i + 2 < data.len() && data[i] == data[i + 1] && data[i] == data[i + 2] {
                    break;
                }
                i += 1;
            }
            seg.push((i - start - 1) as u8);
            seg.extend_from_slice(&data[start..i]);
        }
        if seg.len() % 2 == 1 {
            seg.push(0x80); // a no-op byte keeps the segment even
        }
        segments.push(seg);
    }
    let mut out = vec![0u8; 64];
    out[0..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
    for (k, seg) in segments.iter().enumerate() {
        let offset = out.len() as u32;
        out[4 + 4 * k..8 + 4 * k].copy_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(seg);
    }
    out
}

/// An empty sequence item, for attributes whose presence alone matters.
pub fn empty_sequence(tag: Tag) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(vec![InMemDicomObject::new_empty()]))
}

/// Reads back a file's stored values (masked and sign-extended), its raw words and the file.
pub fn read_stored(path: &Path) -> (Vec<i32>, Vec<u16>, DefaultDicomObject) {
    let file = dicom_object::open_file(path).unwrap();
    let allocated = file.get(tags::BITS_ALLOCATED).unwrap().value().to_int::<u32>().unwrap();
    let stored = file.get(tags::BITS_STORED).unwrap().value().to_int::<u32>().unwrap();
    let signed = file.get(tags::PIXEL_REPRESENTATION).unwrap().value().to_int::<u32>().unwrap() == 1;
    let rows = file.get(tags::ROWS).unwrap().value().to_int::<usize>().unwrap();
    let columns = file.get(tags::COLUMNS).unwrap().value().to_int::<usize>().unwrap();
    let frames = file
        .get(tags::NUMBER_OF_FRAMES)
        .map(|e| e.value().to_str().unwrap().trim().parse::<usize>().unwrap())
        .unwrap_or(1);
    let n = rows * columns * frames;
    let value = file.get(tags::PIXEL_DATA).unwrap().value();
    let raw: Vec<u16> = match value.primitive().unwrap() {
        PrimitiveValue::U16(w) if allocated == 16 => w[..n].to_vec(),
        PrimitiveValue::U16(w) => w.iter().flat_map(|x| x.to_le_bytes()).take(n).map(u16::from).collect(),
        PrimitiveValue::U8(b) => b[..n].iter().map(|&x| u16::from(x)).collect(),
        other => panic!("unexpected pixel value {other:?}"),
    };
    let values = raw
        .iter()
        .map(|&w| {
            let v = u32::from(w) & ((1 << stored) - 1);
            if signed && v >> (stored - 1) == 1 { v as i32 - (1 << stored) } else { v as i32 }
        })
        .collect();
    (values, raw, file)
}

/// The expected output, written independently of the library from the documented formula.
pub fn expected(values: &[i32], slope: f64, intercept: f64, min: f64, max: f64) -> Vec<i32> {
    let m: Vec<f64> = values.iter().map(|&s| slope * f64::from(s) + intercept).collect();
    let lo = m.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (b1, b2) = (((min - intercept) / slope).round(), ((max - intercept) / slope).round());
    let (c1, c2) = (b1.min(b2), b1.max(b2));
    m.iter()
        .map(|&mv| {
            let out = if hi > lo { min + (mv - lo) * ((max - min) / (hi - lo)) } else { min };
            ((out - intercept) / slope).round().clamp(c1, c2) as i32
        })
        .collect()
}

pub fn attr(file: &DefaultDicomObject, tag: Tag) -> String {
    file.get(tag).map(|e| e.value().to_str().unwrap().trim_end_matches(['\0', ' ']).to_string()).unwrap_or_default()
}
