//! What a file is, for people browsing a project's data roots or a run's outputs: DICOM (by its
//! `DICM` magic, whatever the name), NIfTI-1 (`.nii`, `.nii.gz`, by the header's magic), text,
//! PNG or JPEG (by their magic), or other — with a one-line summary (modality, series
//! description, dimensions) read from the header only.
//!
//! The files are untrusted (a scanner's export, a tool's output): everything here reads from an
//! already-open handle (the caller opened it beneath its root without following links), reads at
//! most [`HEADER_BYTES`] for the magic and the DICOM header stops at Pixel Data, and no failure is
//! an error: an unreadable file is `other` with the reason.
//!
//! Why by hand for NIfTI: six header fields are needed (the `nifti` crate would bring ndarray and
//! a full I/O stack); berth-verify reads the same header the same way.

use std::io::{Read, Seek, SeekFrom};

pub mod pixels;

pub use pixels::{DicomPixels, NiftiHeader, dicom_pixels, middle_slice_png};

use serde::Serialize;

/// The most bytes read to recognise a file (DICOM's magic is at 128, NIfTI's at 344).
pub const HEADER_BYTES: usize = 512;

/// What kind of file it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// DICOM Part 10.
    Dicom,
    /// NIfTI-1 (`.nii` or `.nii.gz`).
    Nifti,
    /// Text (UTF-8, no NUL bytes in the first bytes).
    Text,
    /// A PNG image.
    Png,
    /// A JPEG image.
    Jpeg,
    /// Anything else.
    Other,
}

impl Format {
    /// The name used in the API and pages.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Dicom => "dicom",
            Format::Nifti => "nifti",
            Format::Text => "text",
            Format::Png => "png",
            Format::Jpeg => "jpeg",
            Format::Other => "other",
        }
    }

    /// The `Content-Type` a browser may be given to show the file in a page: text as plain
    /// text (never HTML: a tool's output must not run script), PNG and JPEG as images; `None`
    /// for everything else (downloaded, not shown).
    pub fn inline_content_type(self) -> Option<&'static str> {
        match self {
            Format::Text => Some("text/plain; charset=utf-8"),
            Format::Png => Some("image/png"),
            Format::Jpeg => Some("image/jpeg"),
            _ => None,
        }
    }
}

/// A file's format and what its header says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The format.
    pub format: Format,
    /// One line for people: `MR · T1 MPRAGE · 256×256×176`, `NIfTI int16 · 64×64×30`.
    pub summary: Option<String>,
}

/// Recognises the file `name` from `file` (positioned anywhere; read from the start), and
/// summarises DICOM and NIfTI headers when `describe` is set (reading more of the file).
pub fn recognise<F: Read + Seek>(name: &str, file: &mut F, describe: bool) -> Summary {
    let mut head = Vec::with_capacity(HEADER_BYTES);
    if file.seek(SeekFrom::Start(0)).is_err() || file.by_ref().take(HEADER_BYTES as u64).read_to_end(&mut head).is_err()
    {
        return Summary { format: Format::Other, summary: Some("cannot be read".into()) };
    }
    let lower = name.to_ascii_lowercase();
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        let summary = if describe { dicom_summary(file) } else { None };
        return Summary { format: Format::Dicom, summary };
    }
    if lower.ends_with(".nii.gz") && head.starts_with(&[0x1f, 0x8b]) {
        let summary = if describe { gz_nifti_summary(file) } else { None };
        if summary.as_deref() != Some("") {
            return Summary { format: Format::Nifti, summary };
        }
    }
    if head.len() >= 348 && (&head[344..348] == b"n+1\0" || &head[344..348] == b"ni1\0") {
        return Summary { format: Format::Nifti, summary: if describe { nifti_summary(&head) } else { None } };
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        let summary = (head.len() >= 24).then(|| {
            let w = u32::from_be_bytes([head[16], head[17], head[18], head[19]]);
            let h = u32::from_be_bytes([head[20], head[21], head[22], head[23]]);
            format!("PNG · {w}×{h}")
        });
        return Summary { format: Format::Png, summary };
    }
    if head.starts_with(&[0xff, 0xd8, 0xff]) {
        return Summary { format: Format::Jpeg, summary: Some("JPEG".into()) };
    }
    if is_text(&head) {
        return Summary { format: Format::Text, summary: None };
    }
    Summary { format: Format::Other, summary: None }
}

/// Whether the first bytes look like text: no NUL, valid UTF-8 (a multi-byte character cut at
/// the end of the sample is allowed).
fn is_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

fn dicom_summary<F: Read + Seek>(file: &mut F) -> Option<String> {
    use dicom_dictionary_std::tags;
    file.seek(SeekFrom::Start(0)).ok()?;
    let obj = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Always)
        .read_until(tags::PIXEL_DATA)
        .from_reader(std::io::BufReader::new(file.by_ref().take(16 << 20)))
        .ok()?;
    let text = |tag| {
        obj.element(tag)
            .ok()
            .and_then(|e| e.to_str().ok().map(|s| s.trim().trim_end_matches('\0').to_owned()))
            .filter(|s| !s.is_empty())
    };
    let int = |tag| obj.element(tag).ok().and_then(|e| e.to_int::<u32>().ok());
    let mut parts = Vec::new();
    if let Some(m) = text(tags::MODALITY) {
        parts.push(m);
    }
    if let Some(d) = text(tags::SERIES_DESCRIPTION).or_else(|| text(tags::STUDY_DESCRIPTION)) {
        parts.push(clip(&d, 64));
    }
    if let (Some(r), Some(c)) = (int(tags::ROWS), int(tags::COLUMNS)) {
        match int(tags::NUMBER_OF_FRAMES).filter(|f| *f > 1) {
            Some(f) => parts.push(format!("{c}×{r}×{f}")),
            None => parts.push(format!("{c}×{r}")),
        }
    }
    if let Some(n) = text(tags::INSTANCE_NUMBER) {
        parts.push(format!("#{n}"));
    }
    Some(if parts.is_empty() { "DICOM".to_owned() } else { parts.join(" · ") })
}

fn gz_nifti_summary<F: Read + Seek>(file: &mut F) -> Option<String> {
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut head = Vec::with_capacity(352);
    flate2::read::MultiGzDecoder::new(file.by_ref().take(1 << 20)).take(352).read_to_end(&mut head).ok()?;
    if head.len() < 348 || &head[344..348] != b"n+1\0" {
        return Some(String::new());
    }
    nifti_summary(&head)
}

/// `NIfTI int16 · 64×64×30 · 3.0×3.0×4.0 mm` from a NIfTI-1 header.
fn nifti_summary(h: &[u8]) -> Option<String> {
    let le = i32::from_le_bytes(h.get(0..4)?.try_into().ok()?) == 348;
    let be = i32::from_be_bytes(h.get(0..4)?.try_into().ok()?) == 348;
    if !le && !be {
        return None;
    }
    let i16_at = |o: usize| {
        let b = [h[o], h[o + 1]];
        if le { i16::from_le_bytes(b) } else { i16::from_be_bytes(b) }
    };
    let f32_at = |o: usize| {
        let b = [h[o], h[o + 1], h[o + 2], h[o + 3]];
        if le { f32::from_le_bytes(b) } else { f32::from_be_bytes(b) }
    };
    let ndim = i16_at(40).clamp(0, 7) as usize;
    let dims: Vec<String> = (1..=ndim).map(|i| i16_at(40 + 2 * i).to_string()).collect();
    let pix: Vec<String> = (1..=ndim.min(3)).map(|i| format!("{:.1}", f32_at(76 + 4 * i))).collect();
    let datatype = match i16_at(70) {
        2 => "uint8",
        4 => "int16",
        8 => "int32",
        16 => "float32",
        64 => "float64",
        256 => "int8",
        512 => "uint16",
        768 => "uint32",
        1024 => "int64",
        1280 => "uint64",
        128 => "rgb24",
        32 => "complex64",
        _ => "datatype?",
    };
    let mut s = format!("NIfTI {datatype} · {}", dims.join("×"));
    if !pix.is_empty() {
        s.push_str(&format!(" · {} mm", pix.join("×")));
    }
    Some(s)
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_owned() } else { format!("{}…", s.chars().take(max).collect::<String>()) }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn nifti(dims: &[i16], datatype: i16) -> Vec<u8> {
        let mut h = vec![0u8; 352];
        h[0..4].copy_from_slice(&348i32.to_le_bytes());
        h[40..42].copy_from_slice(&(dims.len() as i16).to_le_bytes());
        for (i, d) in dims.iter().enumerate() {
            h[42 + 2 * i..44 + 2 * i].copy_from_slice(&d.to_le_bytes());
        }
        h[70..72].copy_from_slice(&datatype.to_le_bytes());
        for i in 1..=3 {
            h[76 + 4 * i..80 + 4 * i].copy_from_slice(&2.0f32.to_le_bytes());
        }
        h[344..348].copy_from_slice(b"n+1\0");
        h
    }

    #[test]
    fn dicom_is_recognised_by_content_whatever_its_name() {
        let bytes = dicom_phantom::generate(3).expect("phantom");
        let s = recognise("IM0001", &mut Cursor::new(bytes.clone()), true);
        assert_eq!(s.format, Format::Dicom);
        let text = s.summary.expect("summary");
        assert!(text.contains('×'), "{text}");
        assert_eq!(recognise("x.txt", &mut Cursor::new(bytes), false).format, Format::Dicom);
    }

    #[test]
    fn nifti_plain_and_gzipped() {
        let h = nifti(&[64, 64, 30], 4);
        let s = recognise("bold.nii", &mut Cursor::new(h.clone()), true);
        assert_eq!(s.format, Format::Nifti);
        assert_eq!(s.summary.as_deref(), Some("NIfTI int16 · 64×64×30 · 2.0×2.0×2.0 mm"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &h).expect("gz");
        let gz = gz.finish().expect("gz");
        let s = recognise("bold.nii.gz", &mut Cursor::new(gz.clone()), true);
        assert_eq!(s.format, Format::Nifti);
        assert!(s.summary.expect("summary").contains("64×64×30"));
        // A gzip that is not NIfTI inside is not called NIfTI.
        let mut other = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut other, &[1u8; 400]).expect("gz");
        let s = recognise("fake.nii.gz", &mut Cursor::new(other.finish().expect("gz")), true);
        assert_eq!(s.format, Format::Other);
    }

    #[test]
    fn text_images_and_the_rest() {
        assert_eq!(recognise("a.csv", &mut Cursor::new(b"a,b\n1,2\n".to_vec()), true).format, Format::Text);
        assert_eq!(recognise("a", &mut Cursor::new("é".repeat(300).into_bytes()), true).format, Format::Text);
        assert_eq!(recognise("a.bin", &mut Cursor::new(vec![0u8, 1, 2]), true).format, Format::Other);
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        let s = recognise("x", &mut Cursor::new(png), true);
        assert_eq!((s.format, s.summary.as_deref()), (Format::Png, Some("PNG · 640×480")));
        assert_eq!(recognise("x.jpg", &mut Cursor::new(vec![0xff, 0xd8, 0xff, 0xe0]), true).format, Format::Jpeg);
        // HTML is text, shown as plain text, never as a page.
        let s = recognise("x.html", &mut Cursor::new(b"<script>alert(1)</script>".to_vec()), true);
        assert_eq!(s.format.inline_content_type(), Some("text/plain; charset=utf-8"));
        assert_eq!(Format::Dicom.inline_content_type(), None);
    }
}
