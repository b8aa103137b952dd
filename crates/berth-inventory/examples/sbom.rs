//! `berth sbom TARGET [--format table|json|cyclonedx|spdx]`, as the `berth` binary will run it:
//! parse the target, take the inventory, render it on stdout, warnings on stderr.
//!
//! ```sh
//! cargo run --release -p berth-inventory --example sbom -- dir:/path/to/rootfs --format cyclonedx
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use berth_inventory::report::{DocumentMeta, Format, render};
use berth_inventory::{SbomOptions, Target, sbom};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut format = Format::Table;
    let mut target = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--format" | "-o" => match it.next().map(|f| f.parse::<Format>()) {
                Some(Ok(f)) => format = f,
                Some(Err(e)) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
                None => {
                    eprintln!("error: `--format` needs a value");
                    return ExitCode::from(2);
                }
            },
            other => target = Some(other.to_owned()),
        }
    }
    let Some(target) = target else {
        eprintln!("usage: sbom TARGET [--format table|json|cyclonedx|spdx]");
        return ExitCode::from(2);
    };
    let target = Target::parse(&target);
    let mut options = SbomOptions::default();
    if matches!(target, Target::Image(_)) {
        match berth_engine::DockerEngine::from_env().await {
            Ok(engine) => options.engine = Some(Arc::new(engine)),
            Err(e) => {
                eprintln!("error: {e}");
                if let Some(h) = e.hint() {
                    eprintln!("hint: {h}");
                }
                return ExitCode::FAILURE;
            }
        }
    }
    match sbom(&target, &options).await {
        Ok(inventory) => {
            for w in &inventory.warnings {
                eprintln!("warning: {w}");
            }
            print!("{}", render(&inventory, format, &DocumentMeta::now()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  Caused by: {s}");
                source = s.source();
            }
            if let Some(h) = e.hint() {
                eprintln!("hint: {h}");
            }
            ExitCode::FAILURE
        }
    }
}
