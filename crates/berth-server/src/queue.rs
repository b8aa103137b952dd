//! The worker pool and the janitor.
//!
//! Workers take launches from the queue in the store (oldest first), prepare them again (the
//! tool or the project may have changed since they were queued: the current rules apply),
//! and run them with the same runner as `berth run`. Each run is labelled with its launch, so
//! the launch finds its run even if the server dies between creating the run and recording it.
//!
//! The janitor makes restarts lossless: a launch claimed by a process that is gone goes back
//! in the queue when its run never started a container; runs whose container was started are
//! left to run and are collected by reconciliation (exit code, logs, outputs) when the
//! container ends; a launch whose run is over is marked done. It runs at start-up and then
//! every few seconds, so no run stays non-terminal once its container has ended.
//!
//! On shutdown workers stop claiming; runs in progress keep their containers, and the next
//! server (or any `berth` command) collects them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use berth_engine::LabelFilter;
use berth_store::{LAUNCH_LABEL, Launch, LaunchState, PROJECT_LABEL, RunStatus, RunUpdate};
use tokio_util::sync::CancellationToken;

use crate::launch::{LaunchRequest, prepare_launch, resolve_tool};
use crate::state::{AppState, Metrics};

/// How often the janitor looks for orphaned launches and ended containers.
pub const JANITOR_INTERVAL: Duration = Duration::from_secs(2);

/// Starts the workers and the janitor on their own thread (a single-threaded runtime: runs
/// hold the store by reference). Returns when `state.shutdown` fires.
pub fn spawn(state: Arc<AppState>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("berth-workers".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the worker runtime");
                return;
            }
        };
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            // Settle what a previous server left before taking new work.
            janitor_pass(&state).await;
            let mut tasks = Vec::new();
            for n in 0..state.opts.workers.max(1) {
                tasks.push(tokio::task::spawn_local(worker(state.clone(), n)));
            }
            tasks.push(tokio::task::spawn_local(janitor(state.clone())));
            for t in tasks {
                let _ = t.await;
            }
        });
    })
}

async fn worker(state: Arc<AppState>, n: usize) {
    let owner = (state.owner.0.as_str(), state.owner.1, state.owner.2.as_deref());
    loop {
        if state.shutdown.is_cancelled() {
            break;
        }
        // Registered before the claim, so that a launch queued between an empty claim and the
        // wait still wakes this worker (`notify_waiters` wakes only registered waiters).
        let wake = state.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        match state.store.claim_launch(owner) {
            Ok(Some(launch)) => {
                tracing::debug!(worker = n, launch = %launch.id, "claimed");
                execute(&state, launch).await;
            }
            Ok(None) => {
                tokio::select! {
                    _ = wake => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = state.shutdown.cancelled() => break,
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming a launch failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn fail(state: &AppState, launch: &Launch, message: &str) {
    tracing::warn!(launch = %launch.id, %message, "launch failed before its run started");
    Metrics::inc(&state.metrics.launches_failed);
    if let Err(e) = state.store.finish_launch(&launch.id, LaunchState::Failed, Some(message)) {
        tracing::error!(error = %e, launch = %launch.id, "cannot record a failed launch");
    }
}

/// Runs one claimed launch to its end.
pub async fn execute(state: &AppState, launch: Launch) {
    if launch.cancel_requested {
        let _ = state.store.finish_launch(&launch.id, LaunchState::Cancelled, Some("cancelled before it started"));
        return;
    }
    let prepared = (|| {
        let req: LaunchRequest = serde_json::from_str(&launch.invocation_json)
            .map_err(|e| crate::error::ApiError::internal(format!("the stored launch request is not readable: {e}")))?;
        let project = state.store.get_project(&launch.project_id)?;
        let tool = resolve_tool(&state.store, &launch.tool_name, Some(&launch.tool_version))?;
        let output_dir = state.opts.output_root.join(&launch.project_id).join(&launch.id);
        prepare_launch(state, &project, &tool, &req, &serde_json::Map::new(), output_dir)
    })();
    let job = match prepared {
        Ok(job) => job,
        Err(e) => {
            let mut msg = e.body.error.clone();
            for p in &e.body.problems {
                msg.push_str(&format!("; {}: {}", p.at, p.message));
            }
            fail(state, &launch, &msg);
            return;
        }
    };
    let cancel = CancellationToken::new();
    state.cancels.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(launch.id.clone(), cancel.clone());
    // A kill that arrived between the claim and now.
    if state.store.get_launch(&launch.id).is_ok_and(|l| l.cancel_requested) {
        cancel.cancel();
    }
    let labels = BTreeMap::from([
        (LAUNCH_LABEL.to_owned(), launch.id.clone()),
        (PROJECT_LABEL.to_owned(), launch.project_id.clone()),
        ("berth.user".to_owned(), launch.user_name.clone()),
    ]);
    let runner = state.runner(labels);
    let result = runner.run(&job, cancel).await;
    state.cancels.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&launch.id);
    match result {
        Ok(outcome) => {
            Metrics::inc(&state.metrics.runs_finished);
            if let Err(e) = state.store.set_launch_run(&launch.id, &outcome.run_id) {
                tracing::error!(error = %e, launch = %launch.id, "cannot link the launch to its run");
            }
            if let Err(e) = state.store.finish_launch(&launch.id, LaunchState::Done, None) {
                tracing::error!(error = %e, launch = %launch.id, "cannot finish the launch");
            }
        }
        Err(e) => {
            let mut msg = e.to_string();
            if let Some(h) = e.hint() {
                msg.push_str(&format!(" ({h})"));
            }
            fail(state, &launch, &msg);
        }
    }
}

/// How often the server applies the audit trail's retention (`[audit] retention_days`).
pub const AUDIT_RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

async fn janitor(state: Arc<AppState>) {
    let mut retention_applied: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(JANITOR_INTERVAL) => {}
            _ = state.shutdown.cancelled() => break,
        }
        janitor_pass(&state).await;
        if retention_applied.is_none_or(|t| t.elapsed() >= AUDIT_RETENTION_INTERVAL) {
            retention_applied = Some(std::time::Instant::now());
            apply_audit_retention(&state);
        }
    }
}

/// Removes audit entries older than `[audit] retention_days` (none set: keeps everything).
pub fn apply_audit_retention(state: &AppState) {
    let Some(before) = state.opts.site.config().audit.prune_before(std::time::SystemTime::now()) else { return };
    let before = berth_store::time::format(before);
    match state.store.prune_audit(&before, "server", "server") {
        Ok(p) if p.removed > 0 => tracing::info!(removed = p.removed, %before, "audit retention applied"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "applying the audit retention failed"),
    }
}

/// One pass: orphaned launches, reconciliation, settling.
pub async fn janitor_pass(state: &AppState) {
    let claimed = match state.store.claimed_launches() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "listing claimed launches failed");
            return;
        }
    };
    for l in claimed {
        let Some((host, pid, start)) = &l.claimed_by else { continue };
        let ours = host == &state.owner.0 && *pid == state.owner.1;
        if ours || berth_run::host::owner_alive(host, *pid, start.as_deref()) {
            continue;
        }
        let never_started = match (&l.run_id, l.run_status) {
            (None, _) => true,
            (Some(_), Some(RunStatus::Queued)) => l.container_id.is_none(),
            _ => false,
        };
        if never_started {
            if let Some(id) = l.run_id.as_deref().and_then(|r| state.store.resolve_run_id(r).ok()) {
                let note = "the server stopped before the container was created; the launch was queued again";
                let _ = state.store.update_run(&id, &RunUpdate { error: Some(note.into()), ..Default::default() });
                let _ = state.store.set_status(&id, RunStatus::Failed, Some(note));
            }
            match state.store.requeue_launch(&l.id) {
                Ok(()) => {
                    tracing::info!(launch = %l.id, "requeued a launch its server left unstarted");
                    Metrics::inc(&state.metrics.launches_requeued);
                    state.wake.notify_waiters();
                }
                Err(e) => tracing::error!(error = %e, launch = %l.id, "requeueing failed"),
            }
        } else if l.cancel_requested
            && l.run_status == Some(RunStatus::Running)
            && let Some(run) = &l.run_id
        {
            // Killed while its server was away: stop the container; reconciliation records it.
            stop_run_container(state, run).await;
        }
    }
    match berth_run::reconcile(&state.store, &*state.engine, state.opts.site.log_cap()).await {
        Ok(done) => {
            for r in done {
                tracing::info!(run = %r.run_id.as_str(), from = %r.from, to = %r.to, note = %r.note, "reconciled");
                Metrics::inc(&state.metrics.runs_reconciled);
            }
        }
        Err(e) => tracing::warn!(error = %e, "reconciliation failed"),
    }
    if let Err(e) = state.store.settle_launches() {
        tracing::error!(error = %e, "settling launches failed");
    }
}

/// Stops the container of a run (found by its run-id label).
pub async fn stop_run_container(state: &AppState, run_id: &str) {
    let filter = [LabelFilter::equals(berth_run::run::RUN_ID_LABEL, run_id)];
    if let Ok(containers) = state.engine.list_containers(&filter).await {
        for c in containers {
            if let Err(e) = state.engine.stop_container(&c.id, Duration::from_secs(10)).await {
                tracing::warn!(error = %e, container = %c.id, "stopping a container failed");
            }
        }
    }
}
