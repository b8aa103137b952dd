//! The `dicom-phantom` command: writes the synthetic MR slice to a file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Write a deterministic synthetic MR head slice (256×256, 12 bits stored) as DICOM.
///
/// The same seed always produces the same bytes; the default seed produces the sample
/// committed at examples/dicom-normalize/data/phantom-mr.dcm.
#[derive(Debug, Parser)]
#[command(name = "dicom-phantom", version)]
struct Cli {
    /// Where to write the DICOM file.
    output: PathBuf,
    /// Seed of the noise (and of the UIDs).
    #[arg(long, default_value_t = dicom_phantom::DEFAULT_SEED)]
    seed: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let bytes = match dicom_phantom::generate(cli.seed) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(1);
        }
    };
    if let Err(err) = std::fs::write(&cli.output, bytes) {
        eprintln!("error: cannot write `{}`\n  Caused by: {err}", cli.output.display());
        return ExitCode::from(1);
    }
    println!("{}", cli.output.display());
    ExitCode::SUCCESS
}
