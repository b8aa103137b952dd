//! `dicom-stats INPUT OUTPUT_DIR`: writes OUTPUT_DIR/<stem>-stats.json with the image's
//! modality-value statistics. Exit status 1 when the data cannot be read, 2 for usage errors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Statistics of a DICOM image's modality values: min, max, mean, standard deviation, voxel
/// count and a 16-bin histogram, with the image's identifying attributes.
#[derive(Debug, Parser)]
#[command(name = "dicom-stats", version)]
struct Cli {
    /// DICOM Part 10 file with native (uncompressed) monochrome pixel data.
    input: PathBuf,
    /// Directory to write <input-stem>-stats.json into (created if missing).
    output_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = dicom_stats::image_stats(&cli.input).and_then(|s| {
        let out = cli.output_dir.join(dicom_stats::stats_name(&cli.input));
        let mut text = serde_json::to_string_pretty(&s).unwrap_or_default();
        text.push('\n');
        dicom_stats::write_atomic(&out, text.as_bytes()).map(|()| out)
    });
    match result {
        Ok(out) => {
            println!("{}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                eprintln!("  Caused by: {c}");
                cause = c.source();
            }
            ExitCode::from(1)
        }
    }
}
