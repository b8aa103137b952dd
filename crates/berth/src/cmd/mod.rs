//! One handler per subcommand; each calls library functions and renders the result.

mod audit;
mod descriptor;
mod dicom;
mod harden;
mod image;
mod pipeline;
mod run;
mod scan;
mod selftest;
mod serve;
mod session;
mod slurm;
mod tool;
mod verify;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let audited = audit::classify(&cli.command);
    let result = dispatch(cli);
    if let Some(what) = audited {
        audit::record(what, &result);
    }
    result
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => descriptor::validate(&args),
        Command::Invocation(args) => descriptor::invocation(&args),
        Command::Simulate(args) => descriptor::simulate(&args),
        Command::Run(args) => run::run(&args),
        Command::Runs(args) => run::runs(&args),
        Command::Show(args) => run::show(&args),
        Command::Logs(args) => run::logs(&args),
        Command::Status(args) => slurm::status(&args),
        Command::Cancel(args) => slurm::cancel(&args),
        Command::Engine(args) => run::engine(&args),
        Command::Tool { command } => tool::run(&command),
        Command::Catalog { command } => tool::catalog(&command),
        Command::Image { command } => image::run(&command),
        Command::Login(args) => image::login(&args),
        Command::Logout { registry } => image::logout(&registry),
        Command::Sbom(args) => scan::sbom(&args),
        Command::Scan(args) => scan::scan(&args),
        Command::Db { command } => scan::db(&command),
        Command::Pipeline { command } => pipeline::run(&command),
        Command::Verify(args) => verify::verify(&args),
        Command::Test(args) => selftest::test(&args),
        Command::Harden { command } => harden::harden(&command),
        Command::Serve(args) => serve::serve(&args),
        Command::User { command } => serve::user(&command),
        Command::Project { command } => serve::project(&command),
        Command::Audit { command } => audit::audit(&command),
        Command::Dicom { command } => dicom::dicom(&command),
        Command::Session { command } => session::session(&command),
    }
}
