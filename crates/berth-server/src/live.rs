//! Live-log streams (`GET /api/v1/runs/{id}/logs/{stream}/live`): capped, and cheap while idle.
//!
//! - Caps: at most `[serve] max_live_streams` streams in all and `max_live_streams_per_user`
//!   per user; beyond them a request gets 429 with `Retry-After`. A [`StreamPermit`] is held by
//!   the stream and given back when the client goes away.
//! - One poller per run, whatever the number of streams following it: it reads the launch from
//!   the store and the log files' sizes every [`POLL`] and publishes a [`Snapshot`] on a
//!   `watch` channel when something changed. An idle stream waits on that channel — no store
//!   query, no timer, no thread of its own — and reads the log file only when it grew. The
//!   poller ends when its last stream has gone or the run is over.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::ApiError;
use crate::state::AppState;

/// How often a run's poller looks at the store and the log files.
pub const POLL: Duration = Duration::from_millis(300);

/// What the streams of a run know about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The launch's status (`queued`, `running`, ...); empty before the first look.
    pub status: String,
    /// Whether the run is over.
    pub terminal: bool,
    /// The launch no longer exists.
    pub gone: bool,
    /// The stdout log and its size.
    pub stdout: Option<(PathBuf, u64)>,
    /// The stderr log and its size.
    pub stderr: Option<(PathBuf, u64)>,
}

type Runs = HashMap<String, Arc<watch::Sender<Snapshot>>>;

/// The streams open and the runs being watched.
#[derive(Debug, Default)]
pub struct LiveHub {
    runs: Mutex<Runs>,
    per_user: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
}

/// One open stream's place under the caps; dropping it gives the place back.
#[derive(Debug)]
pub struct StreamPermit {
    hub: Arc<LiveHub>,
    user: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.hub.total.fetch_sub(1, Ordering::AcqRel);
        let mut users = self.hub.per_user.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = users.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                users.remove(&self.user);
            }
        }
    }
}

impl LiveHub {
    /// Takes a place for a stream of `user`, or 429 when the caps are reached.
    pub fn acquire(self: &Arc<Self>, user: &str, max_total: usize, max_user: usize) -> Result<StreamPermit, ApiError> {
        let mut users = self.per_user.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = users.get(user).copied().unwrap_or(0);
        if mine >= max_user {
            return Err(ApiError::too_many(
                format!("user `{user}` has {mine} live-log streams open, the most one user may hold"),
                Duration::from_secs(10),
            )
            .hint("close other run pages, or download the log with `GET /api/v1/runs/{id}/logs/{stream}`"));
        }
        if self.total.fetch_add(1, Ordering::AcqRel) >= max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::too_many(
                format!("the server has {max_total} live-log streams open, the most it serves at once"),
                Duration::from_secs(10),
            )
            .hint("try again later, or download the log with `GET /api/v1/runs/{id}/logs/{stream}`"));
        }
        users.insert(user.to_owned(), mine + 1);
        Ok(StreamPermit { hub: self.clone(), user: user.to_owned() })
    }

    /// Streams open now, in all.
    pub fn open_streams(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Runs with a poller now.
    pub fn watched_runs(&self) -> usize {
        self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
}

/// Follows launch `id`: a receiver of its snapshots, from the run's one poller (started here
/// when the run has none).
pub async fn subscribe(state: &Arc<AppState>, id: &str) -> watch::Receiver<Snapshot> {
    if let Some(rx) = existing(&state.live, id) {
        return rx;
    }
    let first = look(state, id).await;
    let mut runs = state.live.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(tx) = runs.get(id) {
        return tx.subscribe();
    }
    let (tx, rx) = watch::channel(first);
    let tx = Arc::new(tx);
    runs.insert(id.to_owned(), tx.clone());
    drop(runs);
    tokio::spawn(poll(state.clone(), id.to_owned(), tx));
    rx
}

fn existing(hub: &LiveHub, id: &str) -> Option<watch::Receiver<Snapshot>> {
    hub.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).map(|tx| tx.subscribe())
}

/// The run's poller: looks every [`POLL`] and publishes changes until no stream follows the
/// run or the run is over. Streams subscribe under the same lock it checks under, so none is
/// left on a channel nobody feeds.
async fn poll(state: Arc<AppState>, id: String, tx: Arc<watch::Sender<Snapshot>>) {
    loop {
        let done = {
            let snapshot = tx.borrow();
            snapshot.terminal || snapshot.gone
        };
        if !done {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = state.shutdown.cancelled() => {}
            }
        }
        let ended = {
            let mut runs = state.live.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let ended = done || tx.receiver_count() == 0 || state.shutdown.is_cancelled();
            if ended && runs.get(&id).is_some_and(|t| Arc::ptr_eq(t, &tx)) {
                runs.remove(&id);
            }
            ended
        };
        if ended {
            return;
        }
        let next = look(&state, &id).await;
        tx.send_if_modified(|s| {
            if *s == next {
                false
            } else {
                *s = next;
                true
            }
        });
    }
}

/// The launch's status and its logs' sizes, now.
async fn look(state: &Arc<AppState>, id: &str) -> Snapshot {
    let store = state.store.clone();
    let id = id.to_owned();
    tokio::task::spawn_blocking(move || {
        let Ok(launch) = store.get_launch(&id) else {
            return Snapshot { gone: true, terminal: true, ..Snapshot::default() };
        };
        let logs = launch.run_id.as_deref().and_then(|r| store.resolve_run_id(r).ok()).map(|r| store.log_paths(&r));
        let sized = |p: PathBuf| {
            let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            (p, len)
        };
        let (stdout, stderr) = match logs {
            Some((o, e)) => (Some(sized(o)), Some(sized(e))),
            None => (None, None),
        };
        Snapshot { status: launch.status().to_owned(), terminal: launch.is_terminal(), gone: false, stdout, stderr }
    })
    .await
    .unwrap_or_else(|_| Snapshot { gone: true, terminal: true, ..Snapshot::default() })
}
