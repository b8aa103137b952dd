//! What `berth engine [--json] [--engine KIND]` will print, until the command exists:
//! `cargo run -p berth-engine --example engine_report -- [--json] [--engine docker|podman|apptainer]`.

use anyhow::Context as _;
use berth_engine::EngineKind;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut json = false;
    let mut engine: Option<EngineKind> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--engine" => {
                let kind = args.next().context("`--engine` needs a value")?;
                engine = Some(kind.parse()?);
            }
            other => anyhow::bail!("unexpected argument `{other}`"),
        }
    }
    // The command's handler is these two lines.
    let report = berth_engine::report::report(engine, None).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    std::process::exit(if report.is_usable() { 0 } else { 1 });
}
