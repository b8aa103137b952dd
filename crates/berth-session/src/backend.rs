//! Where runs execute: this machine's engine, or a Slurm cluster (`--backend`, the
//! configuration's `backend` and `[slurm]` table). The choice and the cluster options are
//! decided here for every front end; a front end only says what its user asked for.

use std::sync::Arc;
use std::time::Duration;

use berth_engine::EngineInfo;
use berth_run::prepare::PathMapping;
use berth_slurm::{ClusterOptions, NodeEngine, SlurmBackend, SlurmCli, SlurmOptions};

use crate::{Site, SiteError};

/// What the user asked for on the command line (or a request), over the configuration.
#[derive(Debug, Clone, Default)]
pub struct BackendRequest {
    /// `local` or `slurm` (`--backend`); else the configuration's `backend`; else `local`.
    pub backend: Option<String>,
    /// `--partition`, over `[slurm] partition`.
    pub partition: Option<String>,
    /// `--account`, over `[slurm] account`.
    pub account: Option<String>,
    /// `--qos`, over `[slurm] qos`.
    pub qos: Option<String>,
    /// `--time`, over `[slurm] time`.
    pub time: Option<String>,
    /// `--sbatch-arg`, after `[slurm] sbatch_args`.
    pub sbatch_args: Vec<String>,
    /// `--slurm-path-map FROM=TO`, after `[slurm] path_map`.
    pub path_map: Vec<String>,
    /// `--no-arrays`: one job per task even in a pipeline.
    pub no_arrays: bool,
}

fn path_map(entries: &[String], setting: &'static str) -> Result<Vec<PathMapping>, SiteError> {
    entries
        .iter()
        .map(|e| {
            PathMapping::parse(e).map_err(|err| SiteError::Setting {
                setting,
                hint: err.hint().unwrap_or_else(|| "write FROM=TO, two absolute paths".into()),
                reason: err.to_string(),
            })
        })
        .collect()
}

impl Site {
    /// The Slurm backend when the request (or the configuration's `backend`) asks for it;
    /// `None` for this machine. `engine` is the submit host's engine (the nodes run the same
    /// kind); `pipeline`: gather the tasks that become ready together into job arrays.
    pub fn slurm_backend(
        &self,
        request: &BackendRequest,
        engine: &EngineInfo,
        pipeline: bool,
    ) -> Result<Option<Arc<SlurmBackend>>, SiteError> {
        let config = self.config();
        let choice = request.backend.clone().or_else(|| config.backend.clone()).unwrap_or_else(|| "local".into());
        match choice.as_str() {
            "local" => return Ok(None),
            "slurm" => {}
            other => {
                return Err(SiteError::Setting {
                    setting: if request.backend.is_some() { "--backend" } else { "backend" },
                    reason: format!("`{other}` is not a backend"),
                    hint: "use `local` or `slurm`".into(),
                });
            }
        }
        let c = &config.slurm;
        let mut map = path_map(&c.path_map, "[slurm] path_map")?;
        map.extend(path_map(&request.path_map, "--slurm-path-map")?);
        let work_dir = c.work_dir.clone().unwrap_or_else(|| self.home().join("slurm"));
        let mut opts = SlurmOptions::new(NodeEngine::from_info(engine), work_dir);
        opts.cluster = ClusterOptions {
            partition: request.partition.clone().or_else(|| c.partition.clone()),
            account: request.account.clone().or_else(|| c.account.clone()),
            qos: request.qos.clone().or_else(|| c.qos.clone()),
            time: request.time.clone().or_else(|| c.time.clone()),
            extra: c.sbatch_args.iter().chain(&request.sbatch_args).cloned().collect(),
        };
        berth_slurm::script::check_sbatch_args(&opts.cluster.extra).map_err(|e| SiteError::Setting {
            setting: "--sbatch-arg / [slurm] sbatch_args",
            hint: e.hint().unwrap_or_default(),
            reason: e.to_string(),
        })?;
        opts.path_map = map;
        opts.arrays = pipeline && !request.no_arrays && c.arrays.unwrap_or(true);
        if let Some(p) = c.poll_seconds.filter(|p| *p > 0.0) {
            opts.poll = Duration::from_secs_f64(p);
        }
        Ok(Some(Arc::new(SlurmBackend::new(Arc::new(SlurmCli::new()), opts))))
    }
}
