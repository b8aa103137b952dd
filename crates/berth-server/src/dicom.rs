//! The DICOM node inside `berth serve`: berth-dicom's listener on its own threads when
//! `[dicom] serve = true`, and its rule engine (`[[dicom.rules]]`) ticking every second, both
//! stopped on shutdown. A rule's launch goes through [`accept_launch`], the function an API
//! launch goes through, made as the rule's user; a rule's pipeline through
//! [`crate::pipelines::start`], the function `POST /api/v1/pipelines` goes through.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_dicom::rules::{Action, Ended, Engine, Launcher, Refused, Rule, SystemClock, Target};
use berth_dicom::scu::SendOptions;
use berth_dicom::{DicomError, Listener, Overrides, Settings, Stopper};
use berth_store::NewLaunch;

use crate::launch::{LaunchRequest, accept_launch};
use crate::pipelines::PipelineRequest;
use crate::state::{AppState, Metrics};

/// How often the rule engine looks at the arrivals.
pub const TICK: Duration = Duration::from_secs(1);

/// Launches for rules as the API would for their user.
struct ServiceLauncher(Arc<AppState>);

impl Launcher for ServiceLauncher {
    fn prepare(&self, rule: &Rule, directory: &Path) -> Result<NewLaunch, Refused> {
        let Action::Tool { name, version } = &rule.action else {
            return Err(Refused {
                message: format!("rule \"{}\" starts a pipeline, not a tool", rule.name),
                hint: None,
            });
        };
        let user = self.user(rule)?;
        let mut inputs = rule.inputs.clone();
        inputs.insert(rule.input.clone(), directory.to_string_lossy().into_owned().into());
        let req = LaunchRequest {
            tool: name.clone(),
            version: version.clone(),
            inputs,
            mounts: Default::default(),
            dry_run: false,
        };
        let (new, _) = accept_launch(&self.0, &user, &rule.project, req, None)
            .map_err(|e| Refused { message: e.body.error, hint: e.body.hint })?;
        Ok(new)
    }

    fn queued(&self, _launch: &NewLaunch) {
        Metrics::inc(&self.0.metrics.launches);
        self.0.wake.notify_one();
    }

    fn start_pipeline(&self, rule: &Rule, target: &Target) -> Result<String, Refused> {
        let Action::Pipeline { file } = &rule.action else {
            return Err(Refused {
                message: format!("rule \"{}\" launches a tool, not a pipeline", rule.name),
                hint: None,
            });
        };
        // `POST /api/v1/pipelines` is for admins; so is a rule's pipeline.
        let user = self.user(rule)?;
        if !user.is_admin() {
            return Err(Refused {
                message: format!("the rule's user \"{}\" is not an admin: pipelines are started by admins", user.name),
                hint: Some(format!(
                    "make `as_user` of rule \"{}\" an admin (`berth user add NAME --role admin`)",
                    rule.name
                )),
            });
        }
        let directory = target.directory.to_string_lossy().into_owned();
        let mut params: std::collections::BTreeMap<String, String> = rule
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        params.insert(rule.input.clone(), directory);
        let req = PipelineRequest {
            file: file.clone(),
            // One directory per rule and series (or study), under `<output root>/pipelines/`.
            output_dir: Some(format!("dicom/{}/{}/{}", rule.project, rule.name, target.uid)),
            bids: None,
            participant_label: Vec::new(),
            session_label: Vec::new(),
            analysis_level: None,
            params,
            jobs: None,
            keep_going: false,
            no_cache: false,
        };
        let started =
            crate::pipelines::start(&self.0, req).map_err(|e| Refused { message: e.body.error, hint: e.body.hint })?;
        Ok(started.id)
    }

    fn ended(&self, rule: &Rule, id: &str) -> Option<Ended> {
        if let Action::Pipeline { .. } = rule.action {
            let run = self.0.store.get_pipeline_run(id).ok()?;
            if !run.status.is_terminal() {
                return None;
            }
            // The published steps; not the tasks' work directory, which holds the same files.
            let outputs = std::fs::read_dir(&run.new.output_dir)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                        .map(|e| e.path())
                        .collect()
                })
                .unwrap_or_default();
            return Some(Ended {
                succeeded: run.status == berth_store::RunStatus::Succeeded,
                run_id: Some(id.to_owned()),
                outputs,
            });
        }
        let launch = self.0.store.get_launch(id).ok()?;
        if !launch.is_terminal() {
            return None;
        }
        Some(Ended {
            succeeded: launch.status() == "succeeded",
            run_id: launch.run_id.clone(),
            outputs: vec![self.0.opts.output_root.join(&launch.project_id).join(&launch.id)],
        })
    }
}

impl ServiceLauncher {
    fn user(&self, rule: &Rule) -> Result<berth_store::User, Refused> {
        self.0.store.get_user(&rule.as_user).map_err(|e| Refused {
            message: format!("the rule's user \"{}\" cannot be used: {e}", rule.as_user),
            hint: Some("create it with `berth user add` and add it to the project".into()),
        })
    }
}

/// The node running inside the server.
#[derive(Debug)]
pub struct Node {
    listener: Option<(Stopper, std::thread::JoinHandle<()>)>,
    rules: Option<tokio::task::JoinHandle<()>>,
}

/// Starts what `[dicom]` asks for: the listener with `serve = true`, the rule engine when there
/// are rules (it also acts on what a `berth dicom listen` beside the server records in the
/// same store). Everything is checked before anything starts.
pub fn start(state: &Arc<AppState>) -> Result<Node, DicomError> {
    let config = &state.opts.site.config().dicom;
    let rules = Rule::resolve_all(&config.rules)?;
    let mut node = Node { listener: None, rules: None };
    if config.serve == Some(true) {
        let settings = Settings::resolve(config, &Overrides::default(), &state.store)?;
        let listener = Listener::bind(settings, state.store.clone())?;
        let stopper = listener.stopper()?;
        let s = listener.settings();
        eprintln!(
            "berth: DICOM node listening on {} as `{}` for project \"{}\", writing to {}",
            listener.local_addr()?,
            s.ae_title,
            s.project,
            s.data_root.display()
        );
        let thread = std::thread::Builder::new()
            .name("dicom listener".into())
            .spawn(move || {
                if let Err(e) = listener.serve() {
                    tracing::error!(error = %e, "the DICOM listener stopped");
                }
            })
            .map_err(|source| DicomError::Accept { source })?;
        node.listener = Some((stopper, thread));
    }
    if !rules.is_empty() {
        eprintln!("berth: {} DICOM rule(s) watching arrivals", rules.len());
        let state = state.clone();
        node.rules = Some(tokio::spawn(run_rules(state, Arc::new(rules))));
    }
    Ok(node)
}

async fn run_rules(state: Arc<AppState>, rules: Arc<Vec<Rule>>) {
    let config = &state.opts.site.config().dicom;
    let send = Arc::new(SendOptions {
        calling_ae_title: config.ae_title.clone().unwrap_or_else(|| berth_dicom::settings::DEFAULT_AE_TITLE.to_owned()),
        ..SendOptions::default()
    });
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = state.shutdown.cancelled() => break,
        }
        let (st, rules, send) = (state.clone(), rules.clone(), send.clone());
        let ticked = tokio::task::spawn_blocking(move || {
            let launcher = ServiceLauncher(st.clone());
            Engine { store: &st.store, rules: &rules, clock: &SystemClock, launcher: &launcher, send: &send }
                .tick()
                .map(|_| ())
        })
        .await;
        match ticked {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the DICOM rules could not be applied"),
            Err(e) => tracing::error!(error = %e, "the DICOM rules' tick failed"),
        }
    }
}

impl Node {
    /// Stops the listener (associations in progress finish) and the rule engine.
    pub async fn stop(self) {
        if let Some((stopper, thread)) = self.listener {
            let _ = tokio::task::spawn_blocking(move || {
                stopper.stop();
                let _ = thread.join();
            })
            .await;
        }
        if let Some(rules) = self.rules {
            let _ = rules.await;
        }
    }
}
