//! Command-line arguments. Each subcommand maps to one handler in `cmd`.

use clap::{Args, Parser, Subcommand};

/// berth runs imaging analysis tools described by Boutiques descriptors, in containers,
/// reproducibly.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a Boutiques descriptor: the 0.5 JSON Schema, then every rule bosh checks.
    Validate(ValidateArgs),
    /// Check an invocation (input values) against a descriptor, or print its invocation schema.
    Invocation(InvocationArgs),
    /// Print the command line a descriptor and an invocation produce, without running it.
    Simulate(SimulateArgs),
}

/// Arguments of `berth validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Descriptor: a JSON file, `-` for standard input, or the JSON text itself.
    pub descriptor: String,
    /// Treat warnings (things bosh accepts but that are likely mistakes) as errors.
    #[arg(long)]
    pub strict: bool,
    /// Print the result as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `berth invocation`.
#[derive(Debug, Args)]
pub struct InvocationArgs {
    /// Descriptor: a JSON file, `-` for standard input, or the JSON text itself.
    pub descriptor: String,
    /// Invocation: a JSON file, `-` for standard input, or the JSON text itself.
    #[arg(short, long, required_unless_present = "schema")]
    pub invocation: Option<String>,
    /// Print the invocation schema (the descriptor's own, or the one bosh would generate).
    #[arg(long)]
    pub schema: bool,
    /// Print the result as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `berth simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Descriptor: a JSON file, `-` for standard input, or the JSON text itself.
    pub descriptor: String,
    /// Invocation: a JSON file, `-` for standard input, or the JSON text itself.
    #[arg(short, long)]
    pub invocation: String,
    /// Fix bosh's rendering quirks (see `docs/boutiques-compatibility.md`) and enforce every
    /// documented invocation rule.
    #[arg(long)]
    pub strict: bool,
    /// Print the whole plan (command, outputs, environment, image, files) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not write the configuration files of `file-template` outputs (bosh writes them).
    #[arg(long)]
    pub no_write: bool,
}
