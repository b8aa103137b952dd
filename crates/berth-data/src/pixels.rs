//! Voxel values of DICOM (native pixel data) and NIfTI-1 images, and a grey-level PNG of an
//! image's middle slice for previews. berth-verify compares images with the same decoding.
//!
//! Why by hand: the NIfTI-1 header is six fields (the `nifti` crate would bring ndarray and a
//! full I/O stack); DICOM attributes come from dicom-object. Compressed DICOM pixel data is not
//! decoded (no codecs are linked): it is reported, not guessed.

use std::io::{Read, Seek, SeekFrom};

use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

/// The largest slice previewed (pixels on a side).
pub const MAX_SIDE: usize = 4096;

/// The most values a DICOM image may hold to be previewed (all its frames are decoded).
pub const MAX_PREVIEW_VALUES: u64 = 1 << 24;

/// The most bytes skipped (read and decompressed) to reach a NIfTI volume's middle slice: a
/// small gzip file claiming a huge volume must not cost minutes of decompression.
pub const MAX_SKIP_BYTES: u64 = 1 << 30;

/// A NIfTI-1 header's fields that locate and scale the voxels.
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiHeader {
    /// Little endian.
    pub le: bool,
    /// The dimensions (`dim[1..=dim[0]]`, each at least 1).
    pub dims: Vec<i64>,
    /// The datatype code.
    pub datatype: i16,
    /// Where the voxels start (`vox_offset`, at least 352).
    pub offset: usize,
    /// `scl_slope` (1 when 0 or not finite).
    pub slope: f64,
    /// `scl_inter`.
    pub inter: f64,
    /// `pixdim[1..=dim[0]]`.
    pub pixdim: Vec<f32>,
    /// The raw `scl_slope` and `scl_inter`, as written.
    pub raw_scaling: (f32, f32),
}

impl NiftiHeader {
    /// Parses the first 348 bytes of a NIfTI-1 file.
    pub fn parse(h: &[u8]) -> Result<NiftiHeader, String> {
        if h.len() < 348 {
            return Err("shorter than a NIfTI-1 header".into());
        }
        let le = i32::from_le_bytes([h[0], h[1], h[2], h[3]]) == 348;
        let be = i32::from_be_bytes([h[0], h[1], h[2], h[3]]) == 348;
        if !le && !be {
            return Err("not NIfTI-1 (sizeof_hdr is not 348; NIfTI-2 is not read)".into());
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
        let dims: Vec<i64> = (1..=ndim).map(|i| i64::from(i16_at(40 + 2 * i)).max(1)).collect();
        let offset = f32_at(108);
        let offset = if offset.is_finite() && offset > 352.0 { offset as usize } else { 352 };
        let (raw_slope, raw_inter) = (f32_at(112), f32_at(116));
        let slope = if raw_slope == 0.0 || !raw_slope.is_finite() { 1.0 } else { f64::from(raw_slope) };
        let inter = if raw_inter.is_finite() { f64::from(raw_inter) } else { 0.0 };
        Ok(NiftiHeader {
            le,
            dims,
            datatype: i16_at(70),
            offset,
            slope,
            inter,
            pixdim: (1..=ndim).map(|i| f32_at(76 + 4 * i)).collect(),
            raw_scaling: (raw_slope, raw_inter),
        })
    }

    /// Bytes per voxel of the datatypes read (uint8, int8, int16, uint16, int32, float32,
    /// float64); `None` for the others.
    pub fn voxel_bytes(&self) -> Option<usize> {
        match self.datatype {
            2 | 256 => Some(1),
            4 | 512 => Some(2),
            8 | 16 => Some(4),
            64 => Some(8),
            _ => None,
        }
    }

    /// One voxel's stored value (before scaling); `c` holds [`voxel_bytes`](Self::voxel_bytes).
    pub fn sample(&self, c: &[u8]) -> f64 {
        let le = self.le;
        let b2 = || [c[0], c[1]];
        let b4 = || [c[0], c[1], c[2], c[3]];
        match self.datatype {
            2 => f64::from(c[0]),
            256 => f64::from(c[0] as i8),
            4 => f64::from(if le { i16::from_le_bytes(b2()) } else { i16::from_be_bytes(b2()) }),
            512 => f64::from(if le { u16::from_le_bytes(b2()) } else { u16::from_be_bytes(b2()) }),
            8 => f64::from(if le { i32::from_le_bytes(b4()) } else { i32::from_be_bytes(b4()) }),
            16 => f64::from(if le { f32::from_le_bytes(b4()) } else { f32::from_be_bytes(b4()) }),
            _ => {
                let b = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
                if le { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) }
            }
        }
    }

    /// How many voxels the dimensions describe.
    pub fn voxels(&self) -> u64 {
        self.dims.iter().map(|d| u64::try_from(*d).unwrap_or(1)).product()
    }
}

/// The pixels of a DICOM image (native pixel data), after Rescale Slope and Intercept.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomPixels {
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// Frames.
    pub frames: u32,
    /// Samples per pixel.
    pub samples: u32,
    /// Bits allocated.
    pub bits: u32,
    /// Every value, frame after frame, row after row.
    pub values: Vec<f64>,
}

/// Reads the pixel values of a DICOM object.
pub fn dicom_pixels(obj: &DefaultDicomObject) -> Result<DicomPixels, String> {
    let uint = |tag, name: &str| -> Result<u32, String> {
        obj.element(tag).map_err(|_| format!("no {name}"))?.to_int::<u32>().map_err(|e| format!("{name}: {e}"))
    };
    let float = |tag, default: f64| obj.element(tag).ok().and_then(|e| e.to_float64().ok()).unwrap_or(default);
    let rows = uint(tags::ROWS, "Rows")?;
    let cols = uint(tags::COLUMNS, "Columns")?;
    let frames = obj.element(tags::NUMBER_OF_FRAMES).ok().and_then(|e| e.to_int::<u32>().ok()).unwrap_or(1).max(1);
    let samples = obj.element(tags::SAMPLES_PER_PIXEL).ok().and_then(|e| e.to_int::<u32>().ok()).unwrap_or(1).max(1);
    let bits = uint(tags::BITS_ALLOCATED, "BitsAllocated")?;
    let signed = obj.element(tags::PIXEL_REPRESENTATION).ok().and_then(|e| e.to_int::<u32>().ok()).unwrap_or(0) == 1;
    let (slope, intercept) = (float(tags::RESCALE_SLOPE, 1.0), float(tags::RESCALE_INTERCEPT, 0.0));
    let n = (u64::from(rows) * u64::from(cols) * u64::from(frames) * u64::from(samples)) as usize;
    let pixel = obj.element(tags::PIXEL_DATA).map_err(|_| "no Pixel Data".to_string())?;
    let raw = pixel.to_bytes().map_err(|_| "encapsulated (compressed) pixel data is not decoded".to_string())?;
    let big_endian = obj.meta().transfer_syntax() == "1.2.840.10008.1.2.2";
    let values: Vec<f64> = match bits {
        8 => raw.iter().take(n).map(|&v| if signed { f64::from(v as i8) } else { f64::from(v) }).collect(),
        16 => raw
            .chunks_exact(2)
            .take(n)
            .map(|c| {
                let w = if big_endian { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) };
                if signed { f64::from(w as i16) } else { f64::from(w) }
            })
            .collect(),
        32 => raw
            .chunks_exact(4)
            .take(n)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3]];
                let w = if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) };
                if signed { f64::from(w as i32) } else { f64::from(w) }
            })
            .collect(),
        other => return Err(format!("Bits Allocated {other} is not read")),
    };
    if values.len() != n {
        return Err(format!("Pixel Data holds {} values, {n} expected", values.len()));
    }
    Ok(DicomPixels {
        rows,
        cols,
        frames,
        samples,
        bits,
        values: values.into_iter().map(|v| slope * v + intercept).collect(),
    })
}

/// A grey-level slice: `width × height` values, row after row.
struct Slice {
    width: usize,
    height: usize,
    values: Vec<f64>,
}

/// The middle slice of a DICOM or NIfTI-1 image (the middle frame of a multi-frame DICOM; the
/// middle z of the first volume of a NIfTI), as an 8-bit grey PNG scaled from the slice's 1st
/// to 99th percentile. Reads the file through `file` (opened by the caller beneath its root);
/// a gzipped NIfTI is decompressed as a stream up to the slice, never more.
pub fn middle_slice_png<F: Read + Seek>(name: &str, file: &mut F) -> Result<Vec<u8>, String> {
    let summary = crate::recognise(name, file, false);
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let slice = match summary.format {
        crate::Format::Dicom => dicom_slice(file)?,
        crate::Format::Nifti if name.to_ascii_lowercase().ends_with(".gz") => {
            nifti_slice(&mut flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file)))?
        }
        crate::Format::Nifti => nifti_slice(&mut std::io::BufReader::new(file))?,
        _ => return Err("only DICOM and NIfTI images have a slice preview".into()),
    };
    png_of(&slice)
}

fn dicom_slice<F: Read + Seek>(file: &mut F) -> Result<Slice, String> {
    // The header alone first: an image too large to preview is refused before its pixels are read.
    let header = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Always)
        .read_until(tags::PIXEL_DATA)
        .from_reader(std::io::BufReader::new(file.by_ref().take(16 << 20)))
        .map_err(|e| format!("not readable as DICOM: {e}"))?;
    let dim = |tag| header.element(tag).ok().and_then(|e| e.to_int::<u32>().ok()).map_or(1, u64::from);
    let values =
        dim(tags::ROWS) * dim(tags::COLUMNS) * dim(tags::NUMBER_OF_FRAMES).max(1) * dim(tags::SAMPLES_PER_PIXEL).max(1);
    if values > MAX_PREVIEW_VALUES {
        return Err(format!("{values} pixel values are too many to preview (at most {MAX_PREVIEW_VALUES})"));
    }
    drop(header);
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let obj = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Always)
        .from_reader(std::io::BufReader::new(file.by_ref().take((16 << 20) + values * 8)))
        .map_err(|e| format!("not readable as DICOM: {e}"))?;
    let px = dicom_pixels(&obj)?;
    if px.samples != 1 {
        return Err(format!("{} samples per pixel (colour) are not previewed", px.samples));
    }
    let (w, h) = (px.cols as usize, px.rows as usize);
    check_side(w, h)?;
    let frame = (px.frames / 2) as usize;
    let values = px.values[frame * w * h..(frame + 1) * w * h].to_vec();
    Ok(Slice { width: w, height: h, values })
}

fn nifti_slice<R: Read>(reader: &mut R) -> Result<Slice, String> {
    let mut head = vec![0u8; 352];
    reader.read_exact(&mut head).map_err(|e| format!("not NIfTI: {e}"))?;
    let h = NiftiHeader::parse(&head)?;
    let size = h.voxel_bytes().ok_or_else(|| format!("NIfTI datatype {} is not previewed", h.datatype))?;
    let w = usize::try_from(*h.dims.first().unwrap_or(&1)).unwrap_or(1);
    let ht = usize::try_from(*h.dims.get(1).unwrap_or(&1)).unwrap_or(1);
    let depth = usize::try_from(*h.dims.get(2).unwrap_or(&1)).unwrap_or(1);
    check_side(w, ht)?;
    let z = depth / 2;
    let skip = (h.offset - 352) + z * w * ht * size;
    if skip as u64 > MAX_SKIP_BYTES {
        return Err(format!("the middle slice is {skip} bytes into the volume: too far to preview"));
    }
    std::io::copy(&mut reader.by_ref().take(skip as u64), &mut std::io::sink()).map_err(|e| e.to_string())?;
    let mut raw = vec![0u8; w * ht * size];
    reader.read_exact(&mut raw).map_err(|_| "the file ends before its middle slice".to_string())?;
    let mut values: Vec<f64> = raw.chunks_exact(size).map(|c| h.slope * h.sample(c) + h.inter).collect();
    // NIfTI's y axis points up (anterior) and rows of a picture go down: flip for display.
    let mut flipped = Vec::with_capacity(values.len());
    for row in values.chunks_exact(w).rev() {
        flipped.extend_from_slice(row);
    }
    values = flipped;
    Ok(Slice { width: w, height: ht, values })
}

fn check_side(w: usize, h: usize) -> Result<(), String> {
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(format!("a {w}×{h} slice is not previewed (at most {MAX_SIDE} on a side)"));
    }
    Ok(())
}

/// An 8-bit grey PNG of the slice, scaled from its 1st to 99th percentile (robust to a few hot
/// voxels); NaN is black.
fn png_of(s: &Slice) -> Result<Vec<u8>, String> {
    let mut finite: Vec<f64> = s.values.iter().copied().filter(|v| v.is_finite()).collect();
    finite.sort_by(f64::total_cmp);
    let pick = |q: f64| finite.get(((finite.len().saturating_sub(1)) as f64 * q) as usize).copied().unwrap_or(0.0);
    let (lo, hi) = (pick(0.01), pick(0.99));
    let range = if hi > lo { hi - lo } else { 1.0 };
    let grey: Vec<u8> = s
        .values
        .iter()
        .map(|v| if v.is_finite() { (((v - lo) / range).clamp(0.0, 1.0) * 255.0).round() as u8 } else { 0 })
        .collect();
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, s.width as u32, s.height as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&grey).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn nifti(dims: &[i16], values: &[i16]) -> Vec<u8> {
        let mut h = vec![0u8; 352];
        h[0..4].copy_from_slice(&348i32.to_le_bytes());
        h[40..42].copy_from_slice(&(dims.len() as i16).to_le_bytes());
        for (i, d) in dims.iter().enumerate() {
            h[42 + 2 * i..44 + 2 * i].copy_from_slice(&d.to_le_bytes());
        }
        h[70..72].copy_from_slice(&4i16.to_le_bytes());
        h[108..112].copy_from_slice(&352f32.to_le_bytes());
        h[344..348].copy_from_slice(b"n+1\0");
        for v in values {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h
    }

    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let dec = png::Decoder::new(Cursor::new(png_bytes.to_vec()));
        let mut reader = dec.read_info().expect("png");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn the_middle_slice_of_a_nifti_volume_plain_and_gzipped() {
        // 2×2×3: slice z=1 holds 10, 20 / 30, 40; the others are 0.
        let mut v = vec![0i16; 4];
        v.extend_from_slice(&[10, 20, 30, 40]);
        v.extend_from_slice(&[0; 4]);
        let file = nifti(&[2, 2, 3], &v);
        let png_bytes = middle_slice_png("x.nii", &mut Cursor::new(file.clone())).expect("preview");
        let (w, h, px) = decode(&png_bytes);
        assert_eq!((w, h), (2, 2));
        // Flipped for display: the row y=1 (30, 40) is on top; 1st to 99th percentile of
        // four values is 10 to 30: 10 is black, 20 mid-grey, 30 and 40 white.
        assert_eq!(px, [255, 255, 0, 128]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &file).expect("gz");
        let gz_png = middle_slice_png("x.nii.gz", &mut Cursor::new(gz.finish().expect("gz"))).expect("preview");
        assert_eq!(decode(&gz_png), decode(&png_bytes));
        // Truncated: said, not guessed.
        let short = &file[..file.len() - 10];
        assert!(middle_slice_png("x.nii", &mut Cursor::new(short.to_vec())).unwrap_err().contains("ends before"));
    }

    #[test]
    fn a_small_file_claiming_a_huge_volume_is_refused_without_decompressing_it() {
        // 4096×4096×32000 int16 voxels claimed; the middle slice would be 16 GiB in.
        let mut file = nifti(&[4096, 4096, 32000], &[]);
        file.extend_from_slice(&[0u8; 64]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &file).expect("gz");
        let started = std::time::Instant::now();
        let e = middle_slice_png("bomb.nii.gz", &mut Cursor::new(gz.finish().expect("gz"))).unwrap_err();
        assert!(e.contains("too far to preview"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn a_dicom_image_previews_and_other_files_do_not() {
        let bytes = dicom_phantom::generate(1).expect("phantom");
        let png_bytes = middle_slice_png("IM1", &mut Cursor::new(bytes)).expect("preview");
        let (w, h, px) = decode(&png_bytes);
        assert!(w > 16 && h > 16);
        assert!(px.iter().any(|&p| p > 128) && px.iter().any(|&p| p < 64), "contrast");
        assert!(middle_slice_png("a.txt", &mut Cursor::new(b"hello".to_vec())).is_err());
    }
}
