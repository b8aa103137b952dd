//! `--backend slurm` for `berth run` and `berth pipeline run`, and `berth status` /
//! `berth cancel` for runs submitted to Slurm.

use std::process::ExitCode;

use berth_config::Config;
use berth_slurm::SlurmCli;

use crate::cli::{CancelArgs, StatusArgs};
use crate::context::{log_cap, open_store};
use crate::diag::{self, hinted};
use crate::printer::print_json;

fn run_err(e: berth_run::RunError) -> anyhow::Error {
    let hint = e.hint();
    diag::library(e, hint)
}

/// `berth status RUN`.
pub fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let config = Config::load()?;
    let id = store.resolve_run_id(&args.run)?;
    let Some(r) = berth_slurm::backend::refresh(&store, &SlurmCli::new(), &id, log_cap(&config)).map_err(run_err)?
    else {
        return Err(hinted(
            format!("run \"{}\" was not submitted to Slurm", id.as_str()),
            Some("`berth show RUN_ID` shows runs of the local backend".into()),
        ));
    };
    if args.json {
        print_json(&r)?;
        return Ok(ExitCode::SUCCESS);
    }
    let j = &r.job;
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("run:        {}", id.as_str());
    println!("status:     {}", r.status.as_str());
    println!("job:        {}", j.job_id);
    println!("state:      {}", or_dash(&j.state));
    println!("node:       {}", or_dash(&j.node));
    println!("exit code:  {}", or_dash(&j.slurm_exit_code));
    println!("elapsed:    {}", j.elapsed_seconds.map_or_else(|| "-".into(), |s| format!("{s}s")));
    println!(
        "MaxRSS:     {}",
        j.max_rss_bytes.map_or_else(
            || "- (the cluster keeps no accounting: `sacct` has no data)".into(),
            |b| { format!("{b} bytes") }
        )
    );
    println!("script:     {}", j.script_path);
    Ok(ExitCode::SUCCESS)
}

/// `berth cancel RUN`.
pub fn cancel(args: &CancelArgs) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let id = store.resolve_run_id(&args.run)?;
    match berth_slurm::backend::cancel(&store, &SlurmCli::new(), &id).map_err(run_err)? {
        Some(job) => {
            eprintln!(
                "berth: cancelled Slurm job {job} (run {}); `berth status {}` records the end",
                id.as_str(),
                id.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }
        None => Err(hinted(
            format!("run \"{}\" was not submitted to Slurm", id.as_str()),
            Some("a local run stops with Ctrl+C in the terminal that runs it".into()),
        )),
    }
}
