//! Finishing the records of runs whose berth process died (`kill -9`, a crash, a reboot).
//!
//! A run is orphaned when it is `queued` or `running` and the process recorded as its owner
//! is gone (same host, PID no longer alive with the same start time). Its container, found by
//! the `berth.run-id` label, tells the rest: when it has ended, its exit code, logs and
//! outputs are collected and it is removed; when it is still running it is left alone and
//! collected by a later command; when it is gone the run is marked failed. No run stays
//! `running` after its container has ended.

use std::io::Write;

use berth_engine::{ContainerStatus, Engine, LabelFilter, LogStreamKind};
use berth_store::{RunId, RunStatus, RunUpdate, Store};
use futures_util::StreamExt;
use serde::Serialize;

use crate::outputs;
use crate::prepare::PreparedJob;
use crate::run::{RUN_ID_LABEL, conclude};

/// What reconciliation did to one run.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciled {
    /// The run.
    pub run_id: RunId,
    /// Its status before.
    pub from: RunStatus,
    /// Its status after.
    pub to: RunStatus,
    /// What happened.
    pub note: String,
}

/// Why reconciliation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] berth_engine::EngineError),
}

/// Reconciles every orphaned run; `log_max_bytes` caps the logs collected.
pub async fn reconcile(
    store: &Store,
    engine: &dyn Engine,
    log_max_bytes: u64,
) -> Result<Vec<Reconciled>, ReconcileError> {
    let mut done = Vec::new();
    for run in store.runs_with_status(&[RunStatus::Queued, RunStatus::Running])? {
        if crate::host::owner_alive(&run.owner_host, run.owner_pid, run.owner_started_at.as_deref()) {
            continue;
        }
        // A run submitted to Slurm has no container here; the scheduler finishes it (`berth status`).
        if store.slurm_job(&run.id)?.is_some() {
            continue;
        }
        if let Some(r) = reconcile_one(store, engine, &run, log_max_bytes).await? {
            done.push(r);
        }
    }
    Ok(done)
}

async fn reconcile_one(
    store: &Store,
    engine: &dyn Engine,
    run: &berth_store::RunSummary,
    log_max_bytes: u64,
) -> Result<Option<Reconciled>, ReconcileError> {
    let id = run.id.clone();
    let from = run.status;
    let containers = engine.list_containers(&[LabelFilter::equals(RUN_ID_LABEL, id.as_str())]).await?;
    let Some(c) = containers.first() else {
        let note = if from == RunStatus::Queued {
            "berth stopped before the container was created"
        } else {
            "berth stopped while the tool ran, and the container is gone"
        };
        store.update_run(&id, &RunUpdate { error: Some(note.into()), ..Default::default() })?;
        store.set_status(&id, RunStatus::Failed, Some(note))?;
        return Ok(Some(Reconciled { run_id: id, from, to: RunStatus::Failed, note: note.into() }));
    };
    let info = engine.inspect_container(&c.id).await?;
    match info.state.status {
        ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting => return Ok(None),
        ContainerStatus::Created => {
            // Never started: berth died between creating and starting it.
            let _ = engine.remove_container(&c.id, true).await;
            let note = "berth stopped before starting the container";
            store.set_status(&id, RunStatus::Failed, Some(note))?;
            return Ok(Some(Reconciled { run_id: id, from, to: RunStatus::Failed, note: note.into() }));
        }
        _ => {}
    }
    if from == RunStatus::Queued {
        store.set_status(&id, RunStatus::Running, Some("found started by reconciliation"))?;
    }
    // Replace whatever the dead process had written with the container's complete logs.
    let (mut out, mut err) = store.open_logs(&id, log_max_bytes)?;
    let mut logs = engine.container_logs(&c.id, false);
    while let Some(Ok(chunk)) = logs.next().await {
        let _ = match chunk.stream {
            LogStreamKind::Stderr => err.write_all(&chunk.bytes),
            _ => out.write_all(&chunk.bytes),
        };
    }
    let _ = out.flush();
    let _ = err.flush();
    store.record_logs(&id, out.summary(), err.summary())?;
    let exit_code = info.state.exit_code.unwrap_or(-1);
    store.update_run(
        &id,
        &RunUpdate {
            container_id: Some(c.id.clone()),
            container_json: Some(serde_json::to_string(&info.applied).unwrap_or_default()),
            exit_code: Some(exit_code),
            oom_killed: Some(info.state.oom_killed),
            started_at: info.state.started_at.clone(),
            finished_at: info.state.finished_at.clone(),
            ..Default::default()
        },
    )?;
    let job: Option<PreparedJob> = serde_json::from_str(&store.get_run(id.as_str())?.new.plan_json).ok();
    let found = match &job {
        Some(job) => outputs::collect(store, job)?,
        None => outputs::Found::default(),
    };
    store.add_files(&id, &found.records)?;
    let outcome = conclude(store, &id, exit_code, info.state.oom_killed, found)?;
    let _ = engine.remove_container(&c.id, true).await;
    Ok(Some(Reconciled {
        run_id: id,
        from,
        to: outcome.status,
        note: format!("collected the finished container (exit code {exit_code}) after berth stopped"),
    }))
}
