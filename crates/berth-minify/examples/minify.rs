//! Minify a root filesystem in place from a trace and print the report as JSON:
//! `cargo run -p berth-minify --example minify -- ROOT TRACE [--prune-unowned] [KEEP...]`.

use std::path::Path;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, trace, rest @ ..] = &args[..] else {
        anyhow::bail!("usage: minify ROOT TRACE [--prune-unowned] [KEEP...]");
    };
    let prune_unowned = rest.iter().any(|a| a == "--prune-unowned");
    let keep = rest.iter().filter(|a| *a != "--prune-unowned").cloned().collect();
    let trace = berth_minify::read_trace(Path::new(trace))?;
    let options = berth_minify::MinifyOptions { keep, prune_unowned, ..Default::default() };
    let plan = berth_minify::plan(Path::new(root), &trace, &options)?;
    let report = berth_minify::apply(Path::new(root), &plan)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
