//! `berth verify RUN`: re-execute a run (or a pipeline run's step runs) and compare outputs.
//! Exit status: 0 identical (or within `--tolerance`), 1 outputs differ, 2 not verifiable
//! (inputs changed, image unavailable, not a succeeded run).

use std::path::PathBuf;
use std::process::ExitCode;

use berth_run::{HostInfo, Runner, Silent};
use berth_store::TaskStatus;
use berth_verify::{Options, Report, Summary, Verdict, verdict_name, verify_run};
use tokio_util::sync::CancellationToken;

use crate::cli::VerifyArgs;
use crate::context::{open_engine_for, open_store, runtime};
use crate::diag;
use crate::printer::print_json;
use crate::progress::TerminalPull;

fn print_report(r: &Report) {
    println!("run {} ({}) → re-executed as {} in {}", r.run_id, r.tool, r.verification_run_id, r.output_dir.display());
    for o in &r.outputs {
        println!("  {:<16} {:<18} {:<40} {}", verdict_name(o.verdict), o.output, o.path, o.detail);
    }
}

fn stamp() -> String {
    let s = berth_store::time::now().replace([':', '-'], "").replace('T', "-");
    s.split('.').next().unwrap_or(&s).to_string()
}

/// Where re-executions write: `--output-dir`, else `berth-verify/<time>`.
fn base_dir(args: &VerifyArgs) -> PathBuf {
    args.output_dir.clone().unwrap_or_else(|| PathBuf::from("berth-verify").join(stamp()))
}

/// `berth verify`.
pub fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    // A run, or a pipeline run's step runs (a cached task's run is the run it reused).
    let runs: Vec<(String, String)> = match store.resolve_run_id(&args.run) {
        Ok(id) => vec![(id.as_str().to_owned(), String::new())],
        Err(run_err) => match store.get_pipeline_run(&args.run) {
            Ok(p) => {
                let mut seen = std::collections::BTreeSet::new();
                p.tasks
                    .iter()
                    .filter(|t| matches!(t.status, TaskStatus::Succeeded | TaskStatus::Cached))
                    .filter_map(|t| t.run_id.clone().map(|r| (r, t.key.replace('/', "_"))))
                    .filter(|(r, _)| seen.insert(r.clone()))
                    .collect()
            }
            Err(_) => match store.get_tool_session(&args.run) {
                Ok(s) => return super::session::verify(args, &base_dir(args), &store, &s),
                Err(_) => return Err(run_err.into()),
            },
        },
    };
    let base = base_dir(args);
    let site = crate::context::site()?;
    let rt = runtime()?;
    let (engine, engine_info) = rt.block_on(open_engine_for(args.engine.as_deref()))?;
    let pull = TerminalPull::new();
    let runner = Runner {
        store: &store,
        engine,
        engine_info,
        host: HostInfo::current(),
        sink: &Silent,
        pull_reporter: &pull,
        pull: berth_run::PullPolicy::Missing,
        gate: &*site,
        log_max_bytes: site.log_cap(),
        labels: Default::default(),
    };
    let mut reports = Vec::new();
    for (i, (run, name)) in runs.iter().enumerate() {
        let dir = if runs.len() == 1 { base.clone() } else { base.join(format!("{i:03}-{name}")) };
        let dir = std::path::absolute(&dir)?;
        let options = Options { output_dir: dir, tolerance: args.tolerance };
        match rt.block_on(verify_run(&store, &runner, run, &options, CancellationToken::new())) {
            Ok(r) => {
                if !args.json {
                    print_report(&r);
                }
                reports.push(r);
            }
            Err(e) => {
                let hint = e.hint();
                diag::print_error(&anyhow::Error::new(diag::Hinted {
                    message: format!("cannot verify run {run}: {e}"),
                    hint,
                    source: None,
                }));
                return Ok(ExitCode::from(2));
            }
        }
    }
    let summary = Summary::of(&reports);
    if args.json {
        print_json(&serde_json::json!({"summary": summary, "reports": reports}))?;
    } else {
        let counts: Vec<String> = summary.outputs.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!(
            "berth: {} run(s) verified: {} ({})",
            summary.runs,
            match summary.verdict {
                Verdict::Identical => "outputs identical",
                Verdict::WithinTolerance => "outputs equivalent within tolerance",
                _ => "OUTPUTS DIFFER",
            },
            counts.join(", ")
        );
    }
    Ok(match summary.verdict {
        Verdict::Identical | Verdict::WithinTolerance => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}
