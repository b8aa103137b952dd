//! The `dicom-normalize` command: parses arguments, calls [`dicom_normalize::normalize_file`]
//! and renders errors. Exit status: 0 on success, 1 when the data cannot be normalized,
//! 2 for usage errors.

use std::error::Error as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use dicom_normalize::{TargetRange, normalize_file};

/// Linearly remap the pixel values of a DICOM image to the range [MIN, MAX].
///
/// The image's modality-value range [lo, hi] (after Rescale Slope/Intercept) is mapped
/// onto [MIN, MAX]; stored values are rounded half away from zero. The result is written
/// as OUTPUT_DIR/<input-stem>-normalized.dcm, and its path is printed on stdout.
#[derive(Debug, Parser)]
#[command(name = "dicom-normalize", version, allow_negative_numbers = true)]
struct Cli {
    /// DICOM Part 10 file with monochrome pixel data, native or RLE Lossless.
    input: PathBuf,
    /// Directory to write <input-stem>-normalized.dcm into (created if missing).
    output_dir: PathBuf,
    /// Lower bound of the output range, in modality values (after rescale).
    #[arg(long, value_name = "MIN")]
    min: f64,
    /// Upper bound of the output range, in modality values (after rescale).
    #[arg(long, value_name = "MAX")]
    max: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(target) = TargetRange::new(cli.min, cli.max) else {
        // clap's own error type exits with status 2, like every other usage error.
        Cli::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                format!("`--min {}` and `--max {}` must be finite with MIN <= MAX", cli.min, cli.max),
            )
            .exit();
    };
    match normalize_file(&cli.input, &cli.output_dir, target) {
        Ok(outcome) => {
            println!("{}", outcome.output.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            let mut cause = err.source();
            while let Some(c) = cause {
                eprintln!("  Caused by: {c}");
                cause = c.source();
            }
            if let Some(hint) = err.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(1)
        }
    }
}
