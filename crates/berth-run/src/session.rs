//! Long-lived tool sessions (Brainstorm's daemon containers: `RunContainer` with `isDaemon`,
//! `ExecInContainer`, `GetContainerInfo`, `StopContainer`): a container started with exactly
//! the confinement of `berth run` whose command is a keep-alive loop, into which commands are
//! run again and again without paying a container start each time.
//!
//! - [`start`]: [`Runner::start_long_lived`] (the site's gate, pinned and hashed inputs, the
//!   run's mounts, user, limits, no network), plus read-only extra mounts; recorded as a session.
//! - [`exec`]: runs a command in it as the session's user, streams its output, returns its exit
//!   code, and records it as a step: the command, the exit code, the timing, the output (capped)
//!   and what it added, changed or removed in the output directory, by SHA-256 (the directory is
//!   walked beneath its root without following links).
//! - Idle timeout: every exec touches a file in the container's `/tmp`; the keep-alive loop
//!   checks it every quarter of the timeout and exits after four checks without use, so a
//!   session ends between one and one and a quarter timeouts after its last command, whether
//!   or not any berth process is running.
//! - [`reconcile`]: sessions whose container ended (idle, killed, the engine restarted) or never
//!   started are recorded as ended and their containers removed; any berth command that uses
//!   sessions calls it first. A session belongs to no berth process: any can exec into it.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_engine::{BindMount, ContainerStatus, Engine, ExecSpec, LogChunk, LogStreamKind};
use berth_store::{
    NewToolSession, OutputChange, SessionStarted, SessionStatus, SessionStep, StepEnd, Store, ToolSessionRecord,
};

use crate::prepare::PreparedJob;
use crate::run::{RunError, Runner};

/// The label that marks a session's container (its value: the session id).
pub const SESSION_LABEL: &str = "berth.session-id";

/// The file an exec touches so that the keep-alive loop knows the session is in use.
pub const USED_MARK: &str = "/tmp/.berth-session-used";

/// The shortest idle timeout.
pub const MIN_IDLE: Duration = Duration::from_secs(4);

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Starting the container failed (the gate, the image, an input, the engine).
    #[error(transparent)]
    Run(#[from] RunError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] berth_engine::EngineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    /// The session is not running.
    #[error("session {id} is {status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    NotRunning {
        /// The session.
        id: String,
        /// Its status.
        status: &'static str,
        /// Why it ended.
        message: Option<String>,
    },
    /// A request that cannot be honoured (an empty command, a bad mount).
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
}

impl SessionError {
    /// What the user can do.
    pub fn hint(&self) -> Option<String> {
        match self {
            SessionError::Run(e) => e.hint(),
            SessionError::NotRunning { .. } => {
                Some("start a new one with `berth session start`; `berth session ls --all` lists ended ones".into())
            }
            SessionError::Invalid { hint, .. } => hint.clone(),
            _ => None,
        }
    }
}

/// How to start a session.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// End after this long without a command.
    pub idle_timeout: Duration,
    /// Host directories mounted read-only at the same path inside.
    pub mounts: Vec<PathBuf>,
    /// Who starts it.
    pub created_by: String,
    /// The project it belongs to (sessions started through the service).
    pub project: Option<String>,
}

/// Container paths a mount may not be at or beneath (the image's own system, berth's layout).
const RESERVED: &[&str] =
    &["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/usr", "/etc", "/proc", "/sys", "/dev", "/berth"];
/// Container paths a mount may not be exactly (it would hide everything beneath).
const RESERVED_EXACT: &[&str] = &["/", "/tmp", "/var", "/home", "/root", "/opt", "/run"];

/// The extra mounts: absolute existing directories, not over the image's system directories,
/// read-only at the same path inside.
fn extra_mounts(job: &PreparedJob, dirs: &[PathBuf]) -> Result<Vec<BindMount>, SessionError> {
    let mut out = Vec::new();
    for d in dirs {
        let invalid = |why: &str| SessionError::Invalid {
            message: format!("--mount {}: {why}", d.display()),
            hint: Some(
                "give an absolute directory of yours, such as /data/study; it is mounted read-only at the same path"
                    .into(),
            ),
        };
        if !d.is_absolute() {
            return Err(invalid("is not an absolute path"));
        }
        let text = d.to_string_lossy();
        let text = text.trim_end_matches('/').to_owned();
        let text = if text.is_empty() { "/".to_owned() } else { text };
        if RESERVED_EXACT.contains(&text.as_str())
            || RESERVED.iter().any(|r| text == *r || text.starts_with(&format!("{r}/")))
        {
            return Err(invalid("would cover the image's own files"));
        }
        if !d.is_dir() {
            return Err(invalid("is not a directory"));
        }
        out.push(BindMount { source: job.engine_path(d), target: text, read_only: true });
    }
    Ok(out)
}

/// The keep-alive command: sleep in quarters of the idle timeout and exit after four quarters
/// without the used mark (POSIX `sh`, `sleep`, `rm`: what a tool image with a shell has).
pub fn keepalive(idle: Duration) -> Vec<String> {
    let quarter = idle.max(MIN_IDLE).as_secs().div_ceil(4).max(1);
    let script = format!(
        "trap 'exit 0' TERM INT; n=0; while :; do sleep {quarter} & wait $!; \
         if [ -e {USED_MARK} ]; then rm -f {USED_MARK}; n=0; else n=$((n+1)); [ \"$n\" -ge 4 ] && exit 0; fi; done"
    );
    vec!["/bin/sh".into(), "-c".into(), script]
}

/// Starts a session for `job`.
pub async fn start(
    runner: &Runner<'_>,
    job: &PreparedJob,
    opts: &StartOptions,
) -> Result<ToolSessionRecord, SessionError> {
    let mounts = extra_mounts(job, &opts.mounts)?;
    let store = runner.store;
    let id = store.create_tool_session(&NewToolSession {
        tool_name: job.tool.clone(),
        tool_version: job.tool_version.clone(),
        descriptor_json: job.descriptor_json.clone(),
        descriptor_sha256: job.descriptor_sha256.clone(),
        invocation_json: serde_json::to_string(&job.invocation).unwrap_or_default(),
        plan_json: serde_json::to_string(job).unwrap_or_default(),
        image_ref: job.image.clone(),
        output_dir: job.output_dir.to_string_lossy().into_owned(),
        mounts_json: serde_json::to_string(&opts.mounts).unwrap_or_default(),
        idle_timeout_secs: opts.idle_timeout.max(MIN_IDLE).as_secs(),
        created_by: opts.created_by.clone(),
        owner_host: runner.host.hostname.clone(),
        project_id: opts.project.clone(),
    })?;
    let mut labels = BTreeMap::new();
    labels.insert(SESSION_LABEL.to_owned(), id.clone());
    labels.insert("berth.tool".to_owned(), job.tool.clone());
    labels.insert("berth.tool-version".to_owned(), job.tool_version.clone());
    let started = runner
        .start_long_lived(job, &format!("berth-session-{id}"), labels, &keepalive(opts.idle_timeout), &mounts)
        .await;
    let started = match started {
        Ok(s) => s,
        Err(e) => {
            store.set_tool_session_status(&id, SessionStatus::Failed, Some(&e.to_string()))?;
            return Err(e.into());
        }
    };
    store.update_tool_session(
        &id,
        &SessionStarted {
            image_id: Some(started.admitted.image.id.clone()),
            image_digest: started.admitted.image.repo_digest.clone(),
            engine_kind: Some(runner.engine_info.kind.as_str().to_owned()),
            container_id: Some(started.container_id.clone()),
            inputs_json: Some(serde_json::to_string(&started.inputs).unwrap_or_default()),
            scan_policy_json: started.admitted.check.as_ref().map(|c| c.record_json.clone()),
        },
    )?;
    // A keep-alive that cannot run (no /bin/sh in the image) ends at once: say so now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let info = runner.engine.inspect_container(&started.container_id).await?;
    if info.state.status != ContainerStatus::Running {
        let msg = format!(
            "the session's container ended at once (exit {}): a session needs /bin/sh and sleep in the image",
            info.state.exit_code.unwrap_or(-1)
        );
        let _ = runner.engine.remove_container(&started.container_id, true).await;
        store.set_tool_session_status(&id, SessionStatus::Failed, Some(&msg))?;
        return Err(SessionError::Invalid {
            message: msg,
            hint: Some("use `berth run` for images without a shell".into()),
        });
    }
    store.set_tool_session_status(&id, SessionStatus::Running, None)?;
    Ok(store.get_tool_session(&id)?)
}

/// A command to run in a session.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// The invocation it was rendered from, when it was one (recorded with the step).
    pub invocation_json: Option<String>,
}

/// The command that runs the tool itself in session `s` for the job `job` (the session's
/// descriptor prepared again for another invocation, with the session's output directory): the
/// command line rendered as `berth run` renders it. Every input the job mounts must be one the
/// session mounted: a session's mounts are fixed when it starts.
pub fn tool_command(s: &ToolSessionRecord, job: &PreparedJob) -> Result<Vec<String>, SessionError> {
    let plan: serde_json::Value = serde_json::from_str(&s.new.plan_json).unwrap_or_default();
    let mounted: Vec<(String, String)> = plan["mounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    (
                        m["host"].as_str().unwrap_or_default().to_owned(),
                        m["container"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for m in &job.mounts {
        if !mounted.contains(&(m.host.to_string_lossy().into_owned(), m.container.clone())) {
            return Err(SessionError::Invalid {
                message: format!("input `{}` ({}) is not mounted in this session", m.key, m.host.display()),
                hint: Some(
                    "start the session with this invocation, or with a mount of its directory and run the command itself".into(),
                ),
            });
        }
    }
    match &job.exec {
        crate::prepare::Exec::Shell { shell, .. } => Ok(vec![shell.clone(), "-c".into(), job.command_line.clone()]),
        crate::prepare::Exec::Explicit { entrypoint, cmd } => Ok(entrypoint.iter().chain(cmd).cloned().collect()),
        crate::prepare::Exec::Entrypoint { .. } => Err(SessionError::Invalid {
            message: "this tool runs through its image's entrypoint".into(),
            hint: Some("run the entrypoint with its arguments as a command".into()),
        }),
    }
}

/// File sizes and times beneath a root, to tell what a step changed.
type Listing = HashMap<String, (u64, i64)>;

fn list_outputs(root: &berth_hostpath::Root) -> Listing {
    let mut out = HashMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = root.list_dir(&dir) else { continue };
        for e in entries {
            let Some(name) = e.name.to_str() else { continue };
            let rel = dir.join(name);
            match e.kind {
                berth_hostpath::FileType::Directory if dir.components().count() < 64 => stack.push(rel),
                berth_hostpath::FileType::RegularFile => {
                    out.insert(rel.to_string_lossy().into_owned(), (e.size, e.modified));
                }
                _ => {}
            }
        }
    }
    out
}

fn sha256_beneath(root: &berth_hostpath::Root, rel: &str) -> Option<String> {
    use sha2::Digest;
    let mut f = root.open_file(Path::new(rel)).ok()?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Some(hex::encode(h.finalize()))
}

/// What changed between two listings (files whose size or time changed are hashed).
fn changes(root: &berth_hostpath::Root, before: &Listing, after: &Listing) -> Vec<OutputChange> {
    let mut out = Vec::new();
    for (path, meta) in after {
        let change = match before.get(path) {
            None => "added",
            Some(old) if old != meta => "changed",
            Some(_) => continue,
        };
        out.push(OutputChange { path: path.clone(), change: change.into(), sha256: sha256_beneath(root, path) });
    }
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        out.push(OutputChange { path: path.clone(), change: "removed".into(), sha256: None });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Runs `req` in session `session` (which must be running), streaming its output to `output`,
/// and records it as a step.
pub async fn exec(
    engine: &dyn Engine,
    store: &Store,
    session: &ToolSessionRecord,
    req: &ExecRequest,
    output: &mut (dyn FnMut(&LogChunk) + Send),
) -> Result<SessionStep, SessionError> {
    if req.argv.is_empty() {
        return Err(SessionError::Invalid {
            message: "no command to run".into(),
            hint: Some("give it after `--`: berth session exec ID -- COMMAND ARGS…".into()),
        });
    }
    let session = store.get_tool_session(&session.id)?;
    if session.status != SessionStatus::Running {
        return Err(SessionError::NotRunning {
            id: session.id.clone(),
            status: session.status.as_str(),
            message: session.status_message.clone(),
        });
    }
    let container = session.container_id.clone().unwrap_or_default();
    match engine.inspect_container(&container).await {
        Ok(info) if info.state.status == ContainerStatus::Running => {}
        _ => {
            reconcile(engine, store).await?;
            let s = store.get_tool_session(&session.id)?;
            return Err(SessionError::NotRunning { id: s.id, status: s.status.as_str(), message: s.status_message });
        }
    }
    let root = berth_hostpath::Root::open(Path::new(&session.new.output_dir)).ok();
    let before = root.as_ref().map(list_outputs).unwrap_or_default();
    let seq = store.begin_session_step(&session.id, &req.argv, req.invocation_json.as_deref())?;
    // The mark first, then the command itself in place of the shell (`exec "$@"`).
    let mut cmd = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        format!(": > {USED_MARK} 2>/dev/null; exec \"$@\""),
        "berth-exec".to_owned(),
    ];
    cmd.extend(req.argv.iter().cloned());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let began = Instant::now();
    let result = engine
        .exec(&container, &ExecSpec { cmd, ..Default::default() }, &mut |chunk: LogChunk| {
            let buf = if chunk.stream == LogStreamKind::Stderr { &mut err } else { &mut out };
            if buf.len() < berth_store::tool_sessions::STEP_OUTPUT_CAP {
                buf.extend_from_slice(&chunk.bytes);
            }
            output(&chunk);
        })
        .await;
    let duration_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
    let after = root.as_ref().map(list_outputs).unwrap_or_default();
    let changed = root.as_ref().map(|r| changes(r, &before, &after)).unwrap_or_default();
    let (exit_code, error) = match &result {
        Ok(code) => (Some(*code), None),
        Err(e) => (None, Some(e.to_string())),
    };
    store.end_session_step(
        &session.id,
        seq,
        &StepEnd {
            exit_code,
            changes: &changed,
            stdout: &String::from_utf8_lossy(&out),
            stderr: &String::from_utf8_lossy(&err),
            error: error.as_deref(),
            duration_ms,
        },
    )?;
    result?;
    let steps = store.session_steps(&session.id)?;
    Ok(steps.into_iter().find(|s| s.seq == seq).unwrap_or_else(|| unreachable!("the step was just recorded")))
}

/// Stops a session: its container is stopped and removed, the session recorded as stopped by
/// `by`. Stopping an ended session is fine.
pub async fn stop(
    engine: &dyn Engine,
    store: &Store,
    session: &ToolSessionRecord,
    by: &str,
) -> Result<(), SessionError> {
    if let Some(c) = &session.container_id {
        let _ = engine.stop_container(c, Duration::from_secs(5)).await;
        match engine.remove_container(c, true).await {
            Ok(()) | Err(berth_engine::EngineError::ContainerNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    store.set_tool_session_status(&session.id, SessionStatus::Stopped, Some(&format!("stopped by {by}")))?;
    Ok(())
}

/// One session [`reconcile`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The session.
    pub id: String,
    /// How it is recorded now.
    pub status: SessionStatus,
    /// Why.
    pub message: String,
}

/// Records sessions whose container has ended (their idle timeout, a kill, an engine restart)
/// or never came up, and removes those containers.
pub async fn reconcile(engine: &dyn Engine, store: &Store) -> Result<Vec<Ended>, SessionError> {
    let mut ended = Vec::new();
    for s in store.list_tool_sessions(true, 10_000)? {
        let Some(container) = s.container_id.clone() else {
            // Still starting: leave a young one to the process starting it.
            let young = chrono_age_secs(&s.created_at).is_some_and(|a| a < 120);
            if !young {
                let msg = "its start never finished (the berth process starting it ended)".to_owned();
                store.set_tool_session_status(&s.id, SessionStatus::Failed, Some(&msg))?;
                ended.push(Ended { id: s.id, status: SessionStatus::Failed, message: msg });
            }
            continue;
        };
        let (status, msg) = match engine.inspect_container(&container).await {
            Ok(info) if info.state.status == ContainerStatus::Running => continue,
            Ok(info) => match info.state.exit_code {
                Some(0) => {
                    (SessionStatus::Stopped, format!("idle for {} s (its idle timeout)", s.new.idle_timeout_secs))
                }
                Some(c) => (SessionStatus::Failed, format!("its container ended with exit code {c}")),
                None => (SessionStatus::Failed, "its container is not running".to_owned()),
            },
            Err(berth_engine::EngineError::ContainerNotFound { .. }) => {
                (SessionStatus::Failed, "its container is gone (removed, or the engine lost it)".to_owned())
            }
            Err(e) => return Err(e.into()),
        };
        let _ = engine.remove_container(&container, true).await;
        if store.set_tool_session_status(&s.id, status, Some(&msg))? {
            ended.push(Ended { id: s.id, status, message: msg });
        }
    }
    Ok(ended)
}

/// How one recorded step compared when it was run again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepVerdict {
    /// The step.
    pub seq: u32,
    /// Its command.
    pub argv: Vec<String>,
    /// The exit code recorded, and the one now.
    pub exit_code: (Option<i64>, Option<i64>),
    /// Output files whose change or SHA-256 differs (`path: recorded → now`).
    pub differences: Vec<String>,
    /// How many output changes agreed.
    pub identical: usize,
}

impl StepVerdict {
    /// Whether the step did the same again.
    pub fn same(&self) -> bool {
        self.exit_code.0 == self.exit_code.1 && self.differences.is_empty()
    }
}

/// What re-executing a session's steps gave.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionVerification {
    /// The session verified.
    pub session_id: String,
    /// The fresh session the steps ran in again.
    pub verification_session_id: String,
    /// Its output directory.
    pub output_dir: String,
    /// Inputs whose SHA-256 differs from the one recorded when the session started (the
    /// verification is then not meaningful).
    pub changed_inputs: Vec<String>,
    /// Each step.
    pub steps: Vec<StepVerdict>,
}

impl SessionVerification {
    /// Whether every step did the same again, on the same inputs.
    pub fn identical(&self) -> bool {
        self.changed_inputs.is_empty() && self.steps.iter().all(StepVerdict::same)
    }
}

fn change_key(c: &OutputChange) -> (String, String) {
    (c.change.clone(), c.sha256.clone().unwrap_or_default())
}

/// Re-executes the recorded steps of `original`, in order, in a fresh session started from
/// `job` (the session's descriptor and invocation prepared again with a new output directory),
/// and compares each step's exit code and output changes (path, kind of change, SHA-256). The
/// fresh session is stopped at the end.
pub async fn verify(
    runner: &Runner<'_>,
    original: &ToolSessionRecord,
    job: &PreparedJob,
) -> Result<SessionVerification, SessionError> {
    let mounts: Vec<PathBuf> = serde_json::from_str(&original.new.mounts_json).unwrap_or_default();
    let opts = StartOptions {
        idle_timeout: Duration::from_secs(original.new.idle_timeout_secs.max(MIN_IDLE.as_secs())),
        mounts,
        created_by: format!("verification of session {}", original.id),
        project: original.new.project_id.clone(),
    };
    let fresh = start(runner, job, &opts).await?;
    let recorded_inputs: Vec<berth_store::FileRecord> = serde_json::from_str(&original.inputs_json).unwrap_or_default();
    let now_inputs: Vec<berth_store::FileRecord> = serde_json::from_str(&fresh.inputs_json).unwrap_or_default();
    let changed_inputs = recorded_inputs
        .iter()
        .filter(|r| !now_inputs.iter().any(|n| n.key == r.key && n.sha256 == r.sha256))
        .map(|r| format!("{} ({})", r.key, r.path))
        .collect();
    let mut steps = Vec::new();
    let result = async {
        for step in runner.store.session_steps(&original.id)? {
            let req = ExecRequest { argv: step.argv.clone(), invocation_json: step.invocation_json.clone() };
            let again = exec(&*runner.engine, runner.store, &fresh, &req, &mut |_| {}).await?;
            let before: BTreeMap<String, (String, String)> =
                step.changes.iter().map(|c| (c.path.clone(), change_key(c))).collect();
            let after: BTreeMap<String, (String, String)> =
                again.changes.iter().map(|c| (c.path.clone(), change_key(c))).collect();
            let mut differences = Vec::new();
            let mut identical = 0;
            for path in before.keys().chain(after.keys().filter(|k| !before.contains_key(*k))) {
                match (before.get(path), after.get(path)) {
                    (Some(a), Some(b)) if a == b => identical += 1,
                    (a, b) => differences.push(format!(
                        "{path}: {} → {}",
                        a.map_or("nothing".to_owned(), |(c, h)| format!("{c} {}", h.get(..12).unwrap_or(h))),
                        b.map_or("nothing".to_owned(), |(c, h)| format!("{c} {}", h.get(..12).unwrap_or(h)))
                    )),
                }
            }
            steps.push(StepVerdict {
                seq: step.seq,
                argv: step.argv,
                exit_code: (step.exit_code, again.exit_code),
                differences,
                identical,
            });
        }
        Ok::<(), SessionError>(())
    }
    .await;
    stop(&*runner.engine, runner.store, &fresh, "its verification").await?;
    result?;
    Ok(SessionVerification {
        session_id: original.id.clone(),
        verification_session_id: fresh.id,
        output_dir: fresh.new.output_dir,
        changed_inputs,
        steps,
    })
}

fn chrono_age_secs(at: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    Some((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keepalive_checks_four_times_per_timeout() {
        let k = keepalive(Duration::from_secs(60));
        assert_eq!(k[..2], ["/bin/sh", "-c"]);
        assert!(k[2].contains("sleep 15 ") && k[2].contains("-ge 4"), "{}", k[2]);
        assert!(keepalive(Duration::from_secs(1))[2].contains("sleep 1 "), "at least the minimum");
    }

    #[test]
    fn changes_are_added_changed_and_removed_by_hash() {
        let t = tempfile::tempdir().expect("tmp");
        std::fs::write(t.path().join("keep"), b"same").expect("w");
        std::fs::write(t.path().join("edit"), b"one").expect("w");
        std::fs::write(t.path().join("gone"), b"x").expect("w");
        let root = berth_hostpath::Root::open(t.path()).expect("root");
        let before = list_outputs(&root);
        std::fs::write(t.path().join("edit"), b"three").expect("w");
        std::fs::remove_file(t.path().join("gone")).expect("rm");
        std::fs::create_dir(t.path().join("sub")).expect("mk");
        std::fs::write(t.path().join("sub/new"), b"new").expect("w");
        let c = changes(&root, &before, &list_outputs(&root));
        let got: Vec<(&str, &str)> = c.iter().map(|c| (c.path.as_str(), c.change.as_str())).collect();
        assert_eq!(got, [("edit", "changed"), ("gone", "removed"), ("sub/new", "added")]);
        assert_eq!(c[2].sha256.as_deref(), Some("11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437"));
    }
}
