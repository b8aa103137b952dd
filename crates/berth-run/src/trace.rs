//! Traced runs (`berth run --trace`): the tool runs under berth-trace, which sends every path
//! the tool and its descendants opened, executed or stat-ed to a Unix socket berth listens on
//! outside the container; the trace is kept with the run (store schema 8) for reachability
//! (`berth scan --reachability`).
//!
//! Why a socket and not a file in a mounted directory: the traced program runs as the same
//! user as the tracer, so it could rewrite a file the tracer writes, and a forged trace would
//! forge a VEX statement. berth-trace connects before it starts the program (so the program
//! cannot be first), the connection is close-on-exec and the tracer non-dumpable (the program
//! cannot take it over), berth accepts one connection only, from the job's user, and the
//! stream counts as complete only with berth-trace's end line (a tracer the program killed
//! sends none). The socket is mounted read-only: nothing can be created beside it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_engine::{BindMount, ContainerSpec};
use berth_store::{NewTrace, RunId, Store, TraceRecord};
use tokio::io::AsyncReadExt;

use crate::prepare::{Exec, PreparedJob};
use crate::run::RunError;

/// Where the tracer is mounted in the container.
pub const TRACER_PATH: &str = "/berth/trace/berth-trace";
/// Where the trace socket is mounted in the container.
pub const SOCKET_PATH: &str = "/berth/trace.sock";
/// The most a trace may send (about 2.5 million accesses); more is cut and incomplete.
pub const MAX_TRACE_BYTES: u64 = 256 << 20;
/// How long berth waits for the trace once the container has ended.
const FINISH_GRACE: Duration = Duration::from_secs(30);

fn refused(message: String, hint: Option<String>) -> RunError {
    RunError::Trace { message, hint }
}

/// Whether `job` can be traced; refused before anything is recorded.
pub fn check(job: &PreparedJob) -> Result<(), RunError> {
    let Some(tracer) = &job.trace else { return Ok(()) };
    if let Exec::Entrypoint { args } = &job.exec {
        return Err(refused(
            format!(
                "the tool runs through the image's entrypoint with {args:?}; a traced run needs the descriptor to name the program"
            ),
            Some("give the descriptor a command line that starts with the program (or a `shell`)".into()),
        ));
    }
    if !job.engine_paths.is_empty() {
        return Err(refused(
            "a traced run needs the engine on this host (a path map sends the engine elsewhere)".into(),
            None,
        ));
    }
    let meta = std::fs::metadata(tracer).map_err(|e| {
        refused(
            format!("the file-access tracer {} cannot be used: {e}", tracer.display()),
            Some("build it with `tools/berth-trace/build.sh` and pass `--tracer PATH` (or set BERTH_TRACE)".into()),
        )
    })?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(refused(format!("the file-access tracer {} is not an executable file", tracer.display()), None));
    }
    Ok(())
}

/// The listening end of a traced run: a private directory with the socket, and the task
/// that accepts the tracer's one connection.
#[derive(Debug)]
pub(crate) struct Listening {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    tracer: PathBuf,
    /// Taken by [`Listening::finish`]; aborted on drop otherwise (a run that failed before its
    /// container started leaves no task waiting for a connection).
    task: Option<tokio::task::JoinHandle<Result<Vec<u8>, String>>>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Listening {
    /// Binds the socket for `job` (which [`check`] accepted) and starts accepting.
    pub(crate) fn start(job: &PreparedJob) -> Result<Self, RunError> {
        let tracer = job.trace.clone().ok_or_else(|| refused("the job is not traced".into(), None))?;
        let dir = tempfile::Builder::new()
            .prefix("berth-trace-")
            .tempdir()
            .map_err(|source| RunError::Io { path: std::env::temp_dir(), source })?;
        let socket = dir.path().join("s");
        let listener =
            tokio::net::UnixListener::bind(&socket).map_err(|source| RunError::Io { path: socket.clone(), source })?;
        let (uid, gid) = (job.security.uid, job.security.gid);
        let root = is_root();
        if root {
            // Only the job's user may connect; others cannot reach the private directory.
            std::os::unix::fs::chown(&socket, Some(uid), Some(gid))
                .map_err(|source| RunError::Io { path: socket.clone(), source })?;
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
                .map_err(|source| RunError::Io { path: socket.clone(), source })?;
        } else {
            // Rootless: the container's user is mapped; the directory's random name and mode
            // keep others out.
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))
                .map_err(|source| RunError::Io { path: socket.clone(), source })?;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))
                .map_err(|source| RunError::Io { path: dir.path().to_owned(), source })?;
        }
        let task = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.map_err(|e| format!("accepting the tracer: {e}"))?;
            // One connection only: the tracer connects before the program starts.
            drop(listener);
            if root {
                let cred = stream.peer_cred().map_err(|e| format!("reading the peer's credentials: {e}"))?;
                if cred.uid() != uid {
                    return Err(format!(
                        "the trace connection came from user {}, not the job's user {uid}: ignored",
                        cred.uid()
                    ));
                }
            }
            let mut body = Vec::new();
            stream
                .take(MAX_TRACE_BYTES + 1)
                .read_to_end(&mut body)
                .await
                .map_err(|e| format!("reading the trace: {e}"))?;
            Ok(body)
        });
        Ok(Self { _dir: dir, socket, tracer, task: Some(task) })
    }

    /// Mounts the tracer and the socket, and puts the tracer before the program.
    pub(crate) fn apply(&self, spec: &mut ContainerSpec) {
        spec.mounts.push(BindMount { source: self.tracer.clone(), target: TRACER_PATH.into(), read_only: true });
        spec.mounts.push(BindMount { source: self.socket.clone(), target: SOCKET_PATH.into(), read_only: true });
        spec.entrypoint = Some(wrapped(spec.entrypoint.take()));
    }

    /// Once the container has ended: receives the trace and records it with the run. A trace
    /// that did not come, was cut, or lacks its end line is recorded as incomplete (it shows
    /// what was reached, never what was not).
    pub(crate) async fn finish(mut self, store: &Store, run_id: &RunId) -> Result<TraceRecord, RunError> {
        let received = match self.task.take() {
            Some(task) => {
                let abort = task.abort_handle();
                match tokio::time::timeout(FINISH_GRACE, task).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => Err(format!("the trace task failed: {e}")),
                    Err(_) => {
                        abort.abort();
                        Err("the tracer sent no trace".to_owned())
                    }
                }
            }
            None => Err("the trace was already taken".to_owned()),
        };
        let tracer = format!("{} sha256:{}", self.tracer.display(), file_sha256(&self.tracer).unwrap_or_default());
        let (body, complete, accesses, exit_status) = match received {
            Ok(bytes) if bytes.len() as u64 <= MAX_TRACE_BYTES => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                match berth_minify::parse_stream(&text, Path::new(SOCKET_PATH)) {
                    Ok(r) => {
                        let body = lines(&r.trace);
                        (body, r.end.is_some(), r.trace.accesses.len(), r.end.map(|e| e.exit_status))
                    }
                    Err(e) => {
                        tracing::warn!("the trace of run {} could not be read: {e}", run_id.as_str());
                        (String::new(), false, 0, None)
                    }
                }
            }
            Ok(_) => {
                tracing::warn!("the trace of run {} was larger than {MAX_TRACE_BYTES} bytes", run_id.as_str());
                (String::new(), false, 0, None)
            }
            Err(e) => {
                tracing::warn!("run {}: {e}", run_id.as_str());
                (String::new(), false, 0, None)
            }
        };
        store.record_trace(run_id, &NewTrace { complete, accesses, exit_status, body: &body, tracer: &tracer })?;
        store
            .trace(run_id)?
            .ok_or_else(|| refused(format!("the trace of run {} was not recorded", run_id.as_str()), None))
    }
}

/// The entrypoint with the tracer before it.
fn wrapped(entrypoint: Option<Vec<String>>) -> Vec<String> {
    let wrapper = [TRACER_PATH, "--socket", SOCKET_PATH, "--"].map(str::to_owned);
    wrapper.into_iter().chain(entrypoint.unwrap_or_default()).collect()
}

/// The accesses as JSON lines, sorted (the trace file format).
fn lines(trace: &berth_minify::Trace) -> String {
    let mut out = String::new();
    for a in &trace.accesses {
        if let Ok(line) = serde_json::to_string(a) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn file_sha256(path: &Path) -> std::io::Result<String> {
    Ok(berth_store::hash::sha256_hex(&std::fs::read(path)?))
}

/// A recorded trace, parsed.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The record (run, image, completeness, tracer).
    pub record: TraceRecord,
    /// What was accessed.
    pub trace: berth_minify::Trace,
}

/// The trace of `run`, parsed, if it was traced.
pub fn of_run(store: &Store, run: &RunId) -> Result<Option<Recorded>, RunError> {
    Ok(store.trace(run)?.map(parsed))
}

/// A body that does not parse is no evidence: an empty trace that called itself complete would
/// make every package "not reached".
fn parsed(mut record: TraceRecord) -> Recorded {
    let trace = match berth_minify::trace::parse_trace(&record.body, Path::new(&record.run_id)) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("the trace of run {} does not parse ({e}): counted as incomplete", record.run_id);
            record.complete = false;
            berth_minify::Trace::default()
        }
    };
    Recorded { record, trace }
}

/// The traces of runs of `image_id` in the store, parsed, complete or not (each says).
pub fn of_image(store: &Store, image_id: &str) -> Result<Vec<Recorded>, RunError> {
    Ok(store.traces_of_image(image_id)?.into_iter().map(parsed).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_trace_that_does_not_parse_is_incomplete() {
        let record = TraceRecord {
            run_id: "r".into(),
            image_id: None,
            complete: true,
            accesses: 1,
            exit_status: Some(0),
            sha256: String::new(),
            body: "not a trace\n".into(),
            tracer: String::new(),
            recorded_at: String::new(),
        };
        let got = parsed(record);
        assert!(!got.record.complete);
        assert!(got.trace.accesses.is_empty());
    }

    #[test]
    fn the_tracer_goes_before_the_program() {
        assert_eq!(
            wrapped(Some(vec!["/bin/sh".into()])),
            ["/berth/trace/berth-trace", "--socket", "/berth/trace.sock", "--", "/bin/sh"]
        );
    }
}
