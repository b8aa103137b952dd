//! `--backend slurm` for `berth run` and `berth pipeline run`, and `berth status` /
//! `berth cancel` for runs submitted to Slurm.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use berth_config::Config;
use berth_engine::EngineInfo;
use berth_run::prepare::PathMapping;
use berth_slurm::{ClusterOptions, NodeEngine, SlurmBackend, SlurmCli, SlurmOptions};
use berth_store::Store;

use crate::cli::{BackendArgs, CancelArgs, StatusArgs};
use crate::cmd::descriptor::print_json;
use crate::cmd::run::{log_cap, open_store};
use crate::diag::{self, hinted};

fn path_map(entries: &[String], what: &str) -> anyhow::Result<Vec<PathMapping>> {
    entries.iter().map(|e| PathMapping::parse(e).map_err(|err| hinted(format!("{what}: {err}"), err.hint()))).collect()
}

/// The Slurm backend when `--backend` (or the configuration's `backend`) asks for it. `pipeline`:
/// gather tasks into job arrays (a single run has nothing to gather and is submitted at once).
pub(crate) fn backend(
    args: &BackendArgs,
    config: &Config,
    engine_info: &EngineInfo,
    store: &Store,
    pipeline: bool,
) -> anyhow::Result<Option<Arc<SlurmBackend>>> {
    let choice = args.backend.clone().or_else(|| config.backend.clone()).unwrap_or_else(|| "local".into());
    match choice.as_str() {
        "local" => return Ok(None),
        "slurm" => {}
        other => {
            return Err(hinted(
                format!("configuration `backend`: `{other}` is not a backend"),
                Some("use `local` or `slurm`".into()),
            ));
        }
    }
    let c = &config.slurm;
    let mut map = path_map(&c.path_map, "configuration `[slurm] path_map`")?;
    map.extend(path_map(&args.path_map, "--slurm-path-map")?);
    let work_dir = c.work_dir.clone().unwrap_or_else(|| store.home().join("slurm"));
    let mut opts = SlurmOptions::new(NodeEngine::from_info(engine_info), work_dir);
    opts.cluster = ClusterOptions {
        partition: args.partition.clone().or_else(|| c.partition.clone()),
        account: args.account.clone().or_else(|| c.account.clone()),
        qos: args.qos.clone().or_else(|| c.qos.clone()),
        time: args.time.clone().or_else(|| c.time.clone()),
        extra: c.sbatch_args.iter().chain(&args.sbatch_arg).cloned().collect(),
    };
    berth_slurm::script::check_sbatch_args(&opts.cluster.extra)
        .map_err(|e| hinted(format!("--sbatch-arg / `[slurm] sbatch_args`: {e}"), e.hint()))?;
    opts.path_map = map;
    opts.arrays = pipeline && !args.no_arrays && c.arrays.unwrap_or(true);
    if let Some(p) = c.poll_seconds.filter(|p| *p > 0.0) {
        opts.poll = Duration::from_secs_f64(p);
    }
    Ok(Some(Arc::new(SlurmBackend::new(Arc::new(SlurmCli::new()), opts))))
}

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
