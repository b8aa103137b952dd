//! `dicom-summary OUTPUT_DIR STATS...`: writes OUTPUT_DIR/summary.csv and summary.json from
//! `dicom-stats` results. Exit status 1 when an input is not a stats file, 2 for usage errors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// A group summary of per-image statistics: one row per image (sorted by Patient ID and file)
/// and the group mean and standard deviation of each measure.
#[derive(Debug, Parser)]
#[command(name = "dicom-summary", version)]
struct Cli {
    /// Directory to write summary.csv and summary.json into (created if missing).
    output_dir: PathBuf,
    /// `dicom-stats` results (JSON).
    #[arg(required = true)]
    stats: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = dicom_stats::summary(&cli.stats).and_then(|s| {
        let mut json = serde_json::to_string_pretty(&s).unwrap_or_default();
        json.push('\n');
        dicom_stats::write_atomic(&cli.output_dir.join("summary.json"), json.as_bytes())?;
        dicom_stats::write_atomic(&cli.output_dir.join("summary.csv"), dicom_stats::summary_csv(&s).as_bytes())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
