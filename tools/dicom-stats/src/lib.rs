//! Statistics of a DICOM image's modality values (after Rescale Slope/Intercept), and a group
//! summary of several images' statistics: the per-image and group-level steps of the example
//! pipeline (`examples/dicom-pipeline`).
//!
//! Output is deterministic: fixed key order, numbers rounded to 6 decimals, inputs sorted.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use serde::{Deserialize, Serialize};

/// Bins of the histogram over [min, max].
pub const BINS: usize = 16;

/// Why statistics could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The input could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The DICOM file could not be decoded.
    #[error(transparent)]
    Dicom(#[from] dicom_normalize::NormalizeError),
    /// A stats file is not what `dicom-stats` writes.
    #[error("`{}` is not a dicom-stats result: {message}", path.display())]
    NotStats {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The output could not be written.
    #[error("cannot write `{}`", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// One image's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageStats {
    /// The input's file name.
    pub file: String,
    /// SOP Instance UID.
    pub sop_instance_uid: Option<String>,
    /// Patient ID.
    pub patient_id: Option<String>,
    /// Series Description.
    pub series_description: Option<String>,
    /// Number of values (rows × columns × frames).
    pub voxels: u64,
    /// Smallest modality value.
    pub min: f64,
    /// Largest modality value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Counts in [`BINS`] equal bins over [min, max] (the last bin includes max).
    pub histogram: Vec<u64>,
}

/// Rounds to 6 decimals so that results print the same everywhere.
pub fn round6(v: f64) -> f64 {
    let r = (v * 1e6).round() / 1e6;
    if r == 0.0 { 0.0 } else { r }
}

/// Statistics of `values`; `None` when empty.
pub fn summarize(values: &[f64]) -> Option<(f64, f64, f64, f64, Vec<u64>)> {
    let first = *values.first()?;
    let (mut min, mut max, mut sum) = (first, first, 0.0);
    for &v in values {
        min = min.min(v);
        max = max.max(v);
        sum += v;
    }
    let n = values.len() as f64;
    let mean = sum / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let mut histogram = vec![0u64; BINS];
    let width = (max - min) / BINS as f64;
    for &v in values {
        let bin = if width > 0.0 { (((v - min) / width) as usize).min(BINS - 1) } else { 0 };
        histogram[bin] += 1;
    }
    Some((round6(min), round6(max), round6(mean), round6(var.sqrt()), histogram))
}

fn text(obj: &dicom_object::InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.element(tag).ok().and_then(|e| e.to_str().ok()).map(|s| s.trim_end_matches(['\0', ' ']).to_string())
}

/// Statistics of one DICOM file.
pub fn image_stats(path: &Path) -> Result<ImageStats, StatsError> {
    let bytes = std::fs::read(path).map_err(|source| StatsError::Read { path: path.to_owned(), source })?;
    let (obj, values) = dicom_normalize::modality_values(&bytes, path)?;
    let (min, max, mean, std, histogram) = summarize(&values)
        .ok_or_else(|| StatsError::NotStats { path: path.to_owned(), message: "no pixels".into() })?;
    Ok(ImageStats {
        file: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        sop_instance_uid: text(&obj, tags::SOP_INSTANCE_UID),
        patient_id: text(&obj, tags::PATIENT_ID),
        series_description: text(&obj, tags::SERIES_DESCRIPTION),
        voxels: values.len() as u64,
        min,
        max,
        mean,
        std,
        histogram,
    })
}

/// `<stem>-stats.json` for an input file.
pub fn stats_name(input: &Path) -> String {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    format!("{stem}-stats.json")
}

/// Writes `content` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), StatsError> {
    let err = |source| StatsError::Write { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&tmp, content).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// The group summary of several images' statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// One row per image, sorted by Patient ID, then file name.
    pub images: Vec<ImageStats>,
    /// Mean over images of each measure (`min`, `max`, `mean`, `std`).
    pub group_mean: Measures,
    /// Population standard deviation over images of each measure.
    pub group_std: Measures,
}

/// The four measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    /// Of the minima.
    pub min: f64,
    /// Of the maxima.
    pub max: f64,
    /// Of the means.
    pub mean: f64,
    /// Of the standard deviations.
    pub std: f64,
}

/// Reads `dicom-stats` results and summarizes them.
pub fn summary(files: &[PathBuf]) -> Result<Summary, StatsError> {
    let mut images = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|source| StatsError::Read { path: f.clone(), source })?;
        let s: ImageStats = serde_json::from_str(&text)
            .map_err(|e| StatsError::NotStats { path: f.clone(), message: e.to_string() })?;
        images.push(s);
    }
    if images.is_empty() {
        return Err(StatsError::NotStats { path: PathBuf::new(), message: "no inputs".into() });
    }
    images.sort_by(|a, b| (&a.patient_id, &a.file).cmp(&(&b.patient_id, &b.file)));
    let of = |f: fn(&ImageStats) -> f64| -> (f64, f64) {
        let v: Vec<f64> = images.iter().map(f).collect();
        let (_, _, mean, std, _) = summarize(&v).unwrap_or_default();
        (mean, std)
    };
    let (min, max, mean, std) = (of(|s| s.min), of(|s| s.max), of(|s| s.mean), of(|s| s.std));
    Ok(Summary {
        group_mean: Measures { min: min.0, max: max.0, mean: mean.0, std: std.0 },
        group_std: Measures { min: min.1, max: max.1, mean: mean.1, std: std.1 },
        images,
    })
}

/// The summary as CSV: a header and one row per image.
pub fn summary_csv(s: &Summary) -> String {
    let mut out = String::from("file,patient_id,series_description,voxels,min,max,mean,std\n");
    let q = |v: &Option<String>| {
        let v = v.clone().unwrap_or_default();
        if v.contains([',', '"', '\n']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v }
    };
    for i in &s.images {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            q(&Some(i.file.clone())),
            q(&i.patient_id),
            q(&i.series_description),
            i.voxels,
            i.min,
            i.max,
            i.mean,
            i.std
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn statistics_by_hand() {
        // Values 0..=15: mean 7.5, population variance (16²−1)/12 = 21.25, one value per bin.
        let v: Vec<f64> = (0..16).map(f64::from).collect();
        let (min, max, mean, std, hist) = summarize(&v).unwrap();
        assert_eq!((min, max, mean), (0.0, 15.0, 7.5));
        assert_eq!(std, round6(21.25f64.sqrt()));
        assert_eq!(hist, vec![1; 16]);
        // A constant image puts everything in the first bin.
        let (_, _, _, std, hist) = summarize(&[3.0, 3.0]).unwrap();
        assert_eq!(std, 0.0);
        assert_eq!(hist[0], 2);
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn group_summary_of_three() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (i, (id, mean)) in [("P2", 20.0), ("P1", 10.0), ("P3", 30.0)].iter().enumerate() {
            let s = ImageStats {
                file: format!("f{i}.dcm"),
                sop_instance_uid: None,
                patient_id: Some((*id).into()),
                series_description: Some("T1, axial".into()),
                voxels: 4,
                min: 0.0,
                max: 2.0 * mean,
                mean: *mean,
                std: 1.0,
                histogram: vec![0; BINS],
            };
            let p = dir.path().join(format!("s{i}.json"));
            std::fs::write(&p, serde_json::to_string(&s).unwrap()).unwrap();
            files.push(p);
        }
        let s = summary(&files).unwrap();
        assert_eq!(s.images.iter().map(|i| i.patient_id.clone().unwrap()).collect::<Vec<_>>(), ["P1", "P2", "P3"]);
        assert_eq!(s.group_mean.mean, 20.0);
        assert_eq!(s.group_std.mean, round6((200.0f64 / 3.0).sqrt()));
        assert_eq!(s.group_mean.max, 40.0);
        let csv = summary_csv(&s);
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.contains("f1.dcm,P1,\"T1, axial\",4,0,20,10,1"), "{csv}");
    }
}
