//! The attributes around the pixels: what is read to interpret them (rescale, and the
//! features that would make a plain remap wrong), and what is rewritten because the
//! instance is now a derived one.
//!
//! Rewritten in the output:
//! - SOP Instance UID (0008,0018) and Media Storage SOP Instance UID (0002,0003): a new
//!   deterministic UID (see [`crate::uid`]); Implementation Class UID / Version Name of the
//!   file meta group name this tool, the writer.
//! - Image Type (0008,0008): value 1 becomes `DERIVED`, other values are kept; when absent
//!   it is added as `DERIVED\SECONDARY`.
//! - Derivation Description (0008,2111): says what was done (appended after `; ` to an
//!   existing description while the result fits ST's 1024 characters, else replaced).
//! - Source Image Sequence (0008,2112): one item referencing the input SOP instance.
//! - Window Center / Width (0028,1050/1051): one window covering exactly `[MIN, MAX]`
//!   (PS3.3 C.11.2.1.2.1: center `(MIN + MAX + 1) / 2`, width `MAX − MIN + 1`); a present
//!   Window Center & Width Explanation (0028,1055) becomes `NORMALIZED`.
//! - Smallest / Largest Image Pixel Value (0028,0106/0107), when present: the output's
//!   stored extremes.
//!
//! Removed, because they describe the old pixel values and would now mislead: VOI LUT
//! Sequence (0028,3010), VOI LUT Function (0028,1056; the new window is LINEAR, the
//! default) and Smallest / Largest Pixel Value in Series (0028,0108/0109).
//!
//! Deliberately not written: Instance Creation Date/Time and the like, since a clock
//! reading would make the output differ from run to run.

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileDicomObject, InMemDicomObject};

use crate::mapping::{Rescale, TargetRange};
use crate::uid;

/// Largest length of an ST value (PS3.5 6.2).
const ST_MAX_LEN: usize = 1024;

/// Why the attributes rule out a plain linear remap.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AttributeError {
    /// A rescale attribute is not a number.
    #[error("attribute {name} {tag} has value `{value}`, expected a decimal number")]
    InvalidRescale {
        /// Attribute keyword.
        name: &'static str,
        /// Attribute tag.
        tag: Tag,
        /// The value found.
        value: String,
    },
    /// The modality transformation is a lookup table, not a linear rescale.
    #[error("the image has a Modality LUT Sequence (0028,3000); only a linear rescale is supported")]
    ModalityLut,
    /// Every pixel is padding: there is no image to normalize.
    #[error("every pixel is padding (Pixel Padding Value (0028,0120)); there is nothing to normalize")]
    AllPadding,
    /// No stored value is left to mark padding with.
    #[error(
        "the normalized pixels use every stored value the image can hold, so none is left for its padding \
         (Pixel Padding Value (0028,0120))"
    )]
    NoRoomForPadding,
    /// Enhanced multi-frame objects keep rescale or windows per frame in functional groups.
    #[error(
        "the image keeps {what} in its functional groups (enhanced multi-frame); only classic attributes are supported"
    )]
    FunctionalGroups {
        /// Which functional group macro was found.
        what: &'static str,
    },
}

impl AttributeError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            AttributeError::NoRoomForPadding => {
                Some("choose a narrower range (`--min`/`--max`), so that a stored value is left for padding".into())
            }
            AttributeError::FunctionalGroups { .. } => Some(
                "convert the enhanced object to classic single-frame instances first (for example with `emf2sf` from dcm4che)"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

/// Reads the linear rescale and refuses the features a plain remap would get wrong.
pub fn read_rescale(obj: &InMemDicomObject) -> Result<Rescale, AttributeError> {
    if obj.get(tags::MODALITY_LUT_SEQUENCE).is_some() {
        return Err(AttributeError::ModalityLut);
    }
    for groups in [tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE] {
        let items = obj.get(groups).and_then(|e| e.items()).unwrap_or_default();
        for item in items {
            if item.get(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE).is_some() {
                return Err(AttributeError::FunctionalGroups { what: "Pixel Value Transformation (0028,9145)" });
            }
            if item.get(tags::FRAME_VOILUT_SEQUENCE).is_some() {
                return Err(AttributeError::FunctionalGroups { what: "Frame VOI LUT (0028,9132)" });
            }
        }
    }
    Ok(Rescale {
        slope: read_ds(obj, tags::RESCALE_SLOPE, "RescaleSlope")?.unwrap_or(1.0),
        intercept: read_ds(obj, tags::RESCALE_INTERCEPT, "RescaleIntercept")?.unwrap_or(0.0),
    })
}

fn read_ds(obj: &InMemDicomObject, tag: Tag, name: &'static str) -> Result<Option<f64>, AttributeError> {
    let Some(element) = obj.get(tag) else {
        return Ok(None);
    };
    let text = element.value().to_str().map(|s| s.trim_matches(['\0', ' ']).to_string()).unwrap_or_default();
    if text.is_empty() {
        // Type 1C attributes sent empty by some writers: treat as absent.
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(AttributeError::InvalidRescale { name, tag, value: text }),
    }
}

/// Which stored values are padding (PS3.3 C.7.5.1.1.2): Pixel Padding Value alone, or with
/// Pixel Padding Range Limit, every value between the two (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Padding {
    /// The lowest padding value.
    pub low: i32,
    /// The highest padding value.
    pub high: i32,
}

impl Padding {
    /// Whether `v` (a stored value) is padding.
    pub fn contains(&self, v: i32) -> bool {
        (self.low..=self.high).contains(&v)
    }
}

/// The image's padding, if it declares one; values are read in the pixels' signedness.
pub fn read_padding(obj: &InMemDicomObject, signed: bool) -> Option<Padding> {
    let value = |tag| {
        let e = obj.get(tag)?;
        let v = e.value();
        // US or SS as written; some writers use OB/OW or the wrong VR: take the bits as stored.
        let raw = v.to_int::<i32>().ok()?;
        Some(if signed { i32::from(raw as i16) } else { i32::from(raw as u16) })
    };
    let pad = value(tags::PIXEL_PADDING_VALUE)?;
    let limit = value(tags::PIXEL_PADDING_RANGE_LIMIT).unwrap_or(pad);
    Some(Padding { low: pad.min(limit), high: pad.max(limit) })
}

/// The stored value that marks padding in the output: the input's, when the normalized pixels
/// do not use it; else the lowest representable value below them, else the highest above.
pub fn output_padding(old: i32, used: (i32, i32), representable: (i32, i32)) -> Result<i32, AttributeError> {
    if !(used.0..=used.1).contains(&old) && (representable.0..=representable.1).contains(&old) {
        Ok(old)
    } else if representable.0 < used.0 {
        Ok(representable.0)
    } else if representable.1 > used.1 {
        Ok(representable.1)
    } else {
        Err(AttributeError::NoRoomForPadding)
    }
}

/// Everything the rewritten attributes depend on.
#[derive(Debug, Clone, PartialEq)]
pub struct Derivation {
    /// The new SOP Instance UID.
    pub instance_uid: String,
    /// The requested range.
    pub target: TargetRange,
    /// The input's modality range `[lo, hi]`.
    pub input_range: (f64, f64),
    /// The output's smallest and largest stored value.
    pub output_extent: (i32, i32),
    /// Pixel Representation 1, which decides SS or US for the pixel value attributes.
    pub signed: bool,
    /// The new Series Instance UID: a derived image starts a new series.
    pub series_uid: String,
    /// The stored value marking padding in the output, when the image has padding.
    pub padding: Option<i32>,
}

/// Rewrites the attributes of a normalized instance (see the module documentation).
pub fn apply(file: &mut FileDicomObject<InMemDicomObject>, d: &Derivation) {
    let source_class = file
        .get(tags::SOP_CLASS_UID)
        .and_then(|e| e.value().to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_else(|| file.meta().media_storage_sop_class_uid().to_string());
    let source_instance = file
        .get(tags::SOP_INSTANCE_UID)
        .and_then(|e| e.value().to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_else(|| file.meta().media_storage_sop_instance_uid().to_string());

    let instance_uid = d.instance_uid.clone();
    file.update_meta(|meta| {
        meta.media_storage_sop_instance_uid = instance_uid;
        meta.implementation_class_uid = uid::implementation_class_uid();
        meta.implementation_version_name = Some(uid::IMPLEMENTATION_VERSION_NAME.to_string());
    });
    file.put(str_element(tags::SOP_INSTANCE_UID, VR::UI, &d.instance_uid));

    let mut image_type: Vec<String> = file
        .get(tags::IMAGE_TYPE)
        .and_then(|e| e.value().to_multi_str().ok())
        .map(|v| v.iter().map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    if image_type.len() < 2 {
        image_type.resize(2, String::new());
    }
    image_type[0] = "DERIVED".into();
    image_type[1] = "SECONDARY".into();
    file.put(DataElement::new(tags::IMAGE_TYPE, VR::CS, PrimitiveValue::Strs(image_type.into())));

    // A new series: viewers and PACS must not mix normalized images with the originals.
    file.put(str_element(tags::SERIES_INSTANCE_UID, VR::UI, &d.series_uid));
    let number = file
        .get(tags::SERIES_NUMBER)
        .and_then(|e| e.value().to_str().ok())
        .and_then(|s| s.trim_matches(['\0', ' ']).parse::<i64>().ok())
        .unwrap_or(0);
    // IS holds at most 2^31 - 1.
    let number = if (0..2_147_482_647).contains(&number) { number + 1000 } else { 1000 };
    file.put(str_element(tags::SERIES_NUMBER, VR::IS, &number.to_string()));
    let described = file
        .get(tags::SERIES_DESCRIPTION)
        .and_then(|e| e.value().to_str().ok())
        .map(|s| s.trim_matches(['\0', ' ']).to_string())
        .filter(|s| !s.is_empty());
    let series_description = match described {
        // LO holds at most 64 characters.
        Some(s) if s.len() + 13 <= 64 => format!("{s} (normalized)"),
        Some(s) => format!("{} (normalized)", s.chars().take(50).collect::<String>()),
        None => "normalized".to_string(),
    };
    file.put(str_element(tags::SERIES_DESCRIPTION, VR::LO, &series_description));
    // The values after rescale are no longer in the modality's unit (Hounsfield units for CT):
    // say so (PS3.3 C.11.1.1.2, `US` = unspecified).
    if file.get(tags::RESCALE_SLOPE).is_some() || file.get(tags::RESCALE_INTERCEPT).is_some() {
        file.put(str_element(tags::RESCALE_TYPE, VR::LO, "US"));
    }
    if let Some(p) = d.padding {
        file.put(pixel_value_element(tags::PIXEL_PADDING_VALUE, p, d.signed));
        file.remove_element(tags::PIXEL_PADDING_RANGE_LIMIT);
    }

    let ours = format!(
        "Pixel values linearly remapped by dicom-normalize {}: modality range [{}, {}] to [{}, {}], rounded half away from zero",
        env!("CARGO_PKG_VERSION"),
        format_ds(d.input_range.0),
        format_ds(d.input_range.1),
        format_ds(d.target.min()),
        format_ds(d.target.max()),
    );
    let previous = file
        .get(tags::DERIVATION_DESCRIPTION)
        .and_then(|e| e.value().to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .filter(|s| !s.is_empty());
    let description = match previous {
        Some(p) if p.len() + 2 + ours.len() <= ST_MAX_LEN => format!("{p}; {ours}"),
        _ => ours,
    };
    file.put(str_element(tags::DERIVATION_DESCRIPTION, VR::ST, &description));

    let reference = InMemDicomObject::from_element_iter([
        str_element(tags::REFERENCED_SOP_CLASS_UID, VR::UI, &source_class),
        str_element(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, &source_instance),
    ]);
    file.put(DataElement::new(tags::SOURCE_IMAGE_SEQUENCE, VR::SQ, DataSetSequence::from(vec![reference])));

    let (center, width) = window_for(d.target);
    file.put(str_element(tags::WINDOW_CENTER, VR::DS, &format_ds(center)));
    file.put(str_element(tags::WINDOW_WIDTH, VR::DS, &format_ds(width)));
    if file.get(tags::WINDOW_CENTER_WIDTH_EXPLANATION).is_some() {
        file.put(str_element(tags::WINDOW_CENTER_WIDTH_EXPLANATION, VR::LO, "NORMALIZED"));
    }
    file.remove_element(tags::VOILUT_SEQUENCE);
    file.remove_element(tags::VOILUT_FUNCTION);

    for (tag, value) in
        [(tags::SMALLEST_IMAGE_PIXEL_VALUE, d.output_extent.0), (tags::LARGEST_IMAGE_PIXEL_VALUE, d.output_extent.1)]
    {
        if file.get(tag).is_some() {
            file.put(pixel_value_element(tag, value, d.signed));
        }
    }
    file.remove_element(tags::SMALLEST_PIXEL_VALUE_IN_SERIES);
    file.remove_element(tags::LARGEST_PIXEL_VALUE_IN_SERIES);
}

/// The linear window (PS3.3 C.11.2.1.2.1) whose dark and bright limits are exactly
/// `MIN` and `MAX`: values `<= MIN` display as the darkest, `>= MAX` as the brightest.
pub fn window_for(target: TargetRange) -> (f64, f64) {
    let width = target.max() - target.min() + 1.0;
    let center = (target.min() + target.max() + 1.0) / 2.0;
    (center, width)
}

/// Formats a number as a DS value (at most 16 characters, PS3.5 6.2).
pub fn format_ds(v: f64) -> String {
    // `-0` is a legal DS but reads like a bug in a header dump.
    let v = if v == 0.0 { 0.0 } else { v };
    let plain = format!("{v}");
    if plain.len() <= 16 {
        return plain;
    }
    (0..=15)
        .rev()
        .map(|precision| format!("{v:.precision$e}"))
        .find(|s| s.len() <= 16)
        .unwrap_or_else(|| format!("{v:.0e}"))
}

fn str_element(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

fn pixel_value_element(tag: Tag, value: i32, signed: bool) -> DataElement<InMemDicomObject> {
    // The value is a stored value of the output, so it fits 16 bits in its own signedness.
    if signed {
        DataElement::new(tag, VR::SS, PrimitiveValue::from(value as i16))
    } else {
        DataElement::new(tag, VR::US, PrimitiveValue::from(value as u16))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;
    use dicom_object::meta::FileMetaTableBuilder;

    fn target(min: f64, max: f64) -> TargetRange {
        TargetRange::new(min, max).unwrap()
    }

    #[test]
    fn window_covers_exactly_the_target_range() {
        assert_eq!(window_for(target(0.0, 4095.0)), (2048.0, 4096.0));
        let (c, w) = window_for(target(-100.0, 300.0));
        // PS3.3 C.11.2.1.2.1: x <= c - 0.5 - (w-1)/2 is darkest, x > c - 0.5 + (w-1)/2 brightest.
        assert_eq!(c - 0.5 - (w - 1.0) / 2.0, -100.0);
        assert_eq!(c - 0.5 + (w - 1.0) / 2.0, 300.0);
        // A constant output still gets a legal width (>= 1).
        assert_eq!(window_for(target(7.0, 7.0)), (7.5, 1.0));
    }

    #[test]
    fn ds_values_fit_sixteen_characters() {
        assert_eq!(format_ds(2048.0), "2048");
        assert_eq!(format_ds(-0.0), "0");
        assert_eq!(format_ds(0.5), "0.5");
        for v in [1.0 / 3.0, -1.0 / 3.0, 1e300, -1.234_567_890_123_456_7e-300, 12_345_678_901_234_567.0] {
            let s = format_ds(v);
            assert!(s.len() <= 16, "{v} -> {s}");
            let back: f64 = s.parse().unwrap();
            assert!((back - v).abs() <= v.abs() * 1e-9, "{v} -> {s}");
        }
    }

    fn sample_file(extra: Vec<DataElement<InMemDicomObject>>) -> FileDicomObject<InMemDicomObject> {
        let mut obj = InMemDicomObject::from_element_iter([
            str_element(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.4"),
            str_element(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4"),
            DataElement::new(
                tags::IMAGE_TYPE,
                VR::CS,
                PrimitiveValue::Strs(
                    ["ORIGINAL".to_string(), "PRIMARY".to_string(), "M".to_string()].as_slice().into(),
                ),
            ),
        ]);
        for e in extra {
            obj.put(e);
        }
        obj.with_meta(
            FileMetaTableBuilder::new()
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.4")
                .media_storage_sop_instance_uid("1.2.3.4")
                .transfer_syntax("1.2.840.10008.1.2.1"),
        )
        .unwrap()
    }

    fn derivation() -> Derivation {
        Derivation {
            instance_uid: "2.25.42".to_string(),
            target: target(0.0, 1000.0),
            input_range: (12.0, 3000.0),
            output_extent: (0, 1000),
            signed: false,
            series_uid: "2.25.43".to_string(),
            padding: None,
        }
    }

    fn text(file: &FileDicomObject<InMemDicomObject>, tag: Tag) -> String {
        file.get(tag).unwrap().value().to_str().unwrap().trim_end_matches('\0').to_string()
    }

    #[test]
    fn derived_instance_gets_new_uids_and_a_source_reference() {
        let mut file = sample_file(vec![]);
        apply(&mut file, &derivation());
        assert_eq!(text(&file, tags::SOP_INSTANCE_UID), "2.25.42");
        assert_eq!(file.meta().media_storage_sop_instance_uid(), "2.25.42");
        assert_eq!(file.meta().implementation_class_uid(), uid::implementation_class_uid());
        let source = &file.get(tags::SOURCE_IMAGE_SEQUENCE).unwrap().items().unwrap()[0];
        assert_eq!(source.get(tags::REFERENCED_SOP_INSTANCE_UID).unwrap().value().to_str().unwrap(), "1.2.3.4");
        assert_eq!(text(&file, tags::IMAGE_TYPE), "DERIVED\\SECONDARY\\M");
        assert_eq!(text(&file, tags::SERIES_INSTANCE_UID), "2.25.43");
        assert_eq!(text(&file, tags::WINDOW_CENTER), "500.5");
        assert_eq!(text(&file, tags::WINDOW_WIDTH), "1001");
        assert!(text(&file, tags::DERIVATION_DESCRIPTION).contains("[12, 3000] to [0, 1000]"));
    }

    #[test]
    fn pixel_value_attributes_are_updated_only_when_present() {
        let mut file = sample_file(vec![]);
        apply(&mut file, &derivation());
        assert!(file.get(tags::SMALLEST_IMAGE_PIXEL_VALUE).is_none());

        let mut file = sample_file(vec![
            DataElement::new(tags::SMALLEST_IMAGE_PIXEL_VALUE, VR::US, PrimitiveValue::from(12_u16)),
            DataElement::new(tags::LARGEST_IMAGE_PIXEL_VALUE, VR::US, PrimitiveValue::from(3000_u16)),
            DataElement::new(tags::LARGEST_PIXEL_VALUE_IN_SERIES, VR::US, PrimitiveValue::from(3000_u16)),
            str_element(tags::VOILUT_FUNCTION, VR::CS, "SIGMOID"),
            str_element(tags::WINDOW_CENTER_WIDTH_EXPLANATION, VR::LO, "BRAIN"),
        ]);
        let mut d = derivation();
        d.signed = true;
        d.output_extent = (-5, 1000);
        apply(&mut file, &d);
        let smallest = file.get(tags::SMALLEST_IMAGE_PIXEL_VALUE).unwrap();
        assert_eq!(smallest.vr(), VR::SS);
        assert_eq!(smallest.value().to_int::<i32>().unwrap(), -5);
        assert_eq!(file.get(tags::LARGEST_IMAGE_PIXEL_VALUE).unwrap().value().to_int::<i32>().unwrap(), 1000);
        assert!(file.get(tags::LARGEST_PIXEL_VALUE_IN_SERIES).is_none());
        assert!(file.get(tags::VOILUT_FUNCTION).is_none());
        assert_eq!(text(&file, tags::WINDOW_CENTER_WIDTH_EXPLANATION), "NORMALIZED");
    }

    #[test]
    fn missing_image_type_becomes_derived_secondary_and_descriptions_append() {
        let mut file = sample_file(vec![str_element(tags::DERIVATION_DESCRIPTION, VR::ST, "resampled")]);
        file.remove_element(tags::IMAGE_TYPE);
        apply(&mut file, &derivation());
        assert_eq!(text(&file, tags::IMAGE_TYPE), "DERIVED\\SECONDARY");
        assert!(text(&file, tags::DERIVATION_DESCRIPTION).starts_with("resampled; Pixel values linearly remapped"));
    }

    #[test]
    fn rescale_defaults_to_identity_and_reads_ds() {
        let file = sample_file(vec![]);
        assert_eq!(read_rescale(&file).unwrap(), Rescale::IDENTITY);
        let file = sample_file(vec![
            str_element(tags::RESCALE_SLOPE, VR::DS, " 0.5 "),
            str_element(tags::RESCALE_INTERCEPT, VR::DS, "-1024"),
        ]);
        assert_eq!(read_rescale(&file).unwrap(), Rescale { slope: 0.5, intercept: -1024.0 });
        let file = sample_file(vec![str_element(tags::RESCALE_SLOPE, VR::DS, "abc")]);
        assert!(matches!(read_rescale(&file), Err(AttributeError::InvalidRescale { .. })));
    }

    #[test]
    fn padding_lut_and_functional_groups_are_refused() {
        let file = sample_file(vec![DataElement::new(tags::PIXEL_PADDING_VALUE, VR::US, PrimitiveValue::from(0_u16))]);
        assert!(read_rescale(&file).is_ok(), "padding is handled, not refused");
        assert_eq!(read_padding(&file, false), Some(Padding { low: 0, high: 0 }));
        let ct = sample_file(vec![
            DataElement::new(tags::PIXEL_PADDING_VALUE, VR::SS, PrimitiveValue::from(-2000_i16)),
            DataElement::new(tags::PIXEL_PADDING_RANGE_LIMIT, VR::SS, PrimitiveValue::from(-1024_i16)),
        ]);
        let p = read_padding(&ct, true).unwrap();
        assert!(p.contains(-2000) && p.contains(-1024) && !p.contains(-1023));
        assert_eq!(output_padding(-2000, (0, 1000), (-32768, 32767)), Ok(-2000));
        assert_eq!(output_padding(0, (0, 4095), (0, 65535)), Ok(65535));
        assert_eq!(output_padding(5, (0, 65535), (0, 65535)), Err(AttributeError::NoRoomForPadding));
        let file = sample_file(vec![DataElement::new(
            tags::MODALITY_LUT_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![InMemDicomObject::new_empty()]),
        )]);
        assert_eq!(read_rescale(&file), Err(AttributeError::ModalityLut));
        let group = InMemDicomObject::from_element_iter([DataElement::new(
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![InMemDicomObject::new_empty()]),
        )]);
        let file = sample_file(vec![DataElement::new(
            tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![group]),
        )]);
        assert!(matches!(read_rescale(&file), Err(AttributeError::FunctionalGroups { .. })));
    }
}
