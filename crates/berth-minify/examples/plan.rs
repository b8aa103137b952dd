//! Print the plan for a root filesystem and a trace as JSON, changing nothing:
//! `cargo run -p berth-minify --example plan -- ROOT TRACE [KEEP...]`.

use std::path::Path;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, trace, keep @ ..] = &args[..] else {
        anyhow::bail!("usage: plan ROOT TRACE [KEEP...]");
    };
    let trace = berth_minify::read_trace(Path::new(trace))?;
    let options = berth_minify::MinifyOptions { keep: keep.to_vec(), ..Default::default() };
    let plan = berth_minify::plan(Path::new(root), &trace, &options)?;
    println!("{}", serde_json::to_string_pretty(&plan)?);
    Ok(())
}
