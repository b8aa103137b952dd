//! The `berth` command line: a thin layer that parses arguments, calls the library crates
//! and renders their results and errors.

mod cli;
mod cmd;
mod diag;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            diag::print_error(&err);
            ExitCode::from(1)
        }
    }
}
