//! The `berth` command line: a thin layer that parses arguments, calls the library crates
//! and renders their results and errors.

mod cli;
mod cmd;
mod context;
mod diag;
mod loader;
mod printer;
mod progress;

use std::process::ExitCode;

use clap::Parser;

// Validating a descriptor compiles a JSON Schema, which is allocation-bound; mimalloc makes a
// whole `berth simulate` process markedly faster than glibc's malloc (bench/simulate_vs_bosh.py).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
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
        // `berth show ID --json | head`: the reader had what it wanted.
        Err(err) if diag::is_closed_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            diag::print_error(&err);
            ExitCode::from(1)
        }
    }
}

/// A reader that closes standard output early (`| head`, `| grep -q`) ends berth quietly with
/// status 0, as it ends `cat` or `git log`: without this, `println!` panics with
/// `failed printing to stdout: Broken pipe`. Other panics keep the default report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
