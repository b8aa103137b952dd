//! The DICOM node inside `berth serve`: berth-dicom's listener on its own threads when
//! `[dicom] serve = true`, and its rule engine (`[[dicom.rules]]`) ticking every second, both
//! stopped on shutdown. A rule's launch goes through [`accept_launch`], the function an API
//! launch goes through, made as the rule's user.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_dicom::rules::{Ended, Engine, Launcher, Refused, Rule, SystemClock};
use berth_dicom::scu::SendOptions;
use berth_dicom::{DicomError, Listener, Overrides, Settings, Stopper};
use berth_store::NewLaunch;

use crate::launch::{LaunchRequest, accept_launch};
use crate::state::{AppState, Metrics};

/// How often the rule engine looks at the arrivals.
pub const TICK: Duration = Duration::from_secs(1);

/// Launches for rules as the API would for their user.
struct ServiceLauncher(Arc<AppState>);

impl Launcher for ServiceLauncher {
    fn prepare(&self, rule: &Rule, directory: &Path) -> Result<NewLaunch, Refused> {
        let user = self.0.store.get_user(&rule.as_user).map_err(|e| Refused {
            message: format!("the rule's user \"{}\" cannot be used: {e}", rule.as_user),
            hint: Some("create it with `berth user add` and add it to the project".into()),
        })?;
        let mut inputs = rule.inputs.clone();
        inputs.insert(rule.input.clone(), directory.to_string_lossy().into_owned().into());
        let req = LaunchRequest {
            tool: rule.tool.clone(),
            version: rule.version.clone(),
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

    fn ended(&self, id: &str) -> Option<Ended> {
        let launch = self.0.store.get_launch(id).ok()?;
        if !launch.is_terminal() {
            return None;
        }
        Some(Ended {
            succeeded: launch.status() == "succeeded",
            run_id: launch.run_id.clone(),
            outputs: self.0.opts.output_root.join(&launch.project_id).join(&launch.id),
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
