//! The `berth` command line: a thin layer that parses arguments, calls the library crates
//! and renders their results and errors.

mod cli;
mod cmd;
mod diag;
mod progress;

use std::process::ExitCode;

use clap::Parser;

// Validating a descriptor compiles a JSON Schema, which is allocation-bound; mimalloc makes a
// whole `berth simulate` process markedly faster than glibc's malloc (bench/simulate_vs_bosh.py).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // `BERTH_LOG=debug` (or any tracing filter, e.g. `berth_run=debug`) shows what berth does
    // and how long each step takes, on standard error.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .with_ansi(false)
            .init();
    }
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            diag::print_error(&err);
            ExitCode::from(1)
        }
    }
}
