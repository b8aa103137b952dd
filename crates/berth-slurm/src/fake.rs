//! A recording [`Scheduler`] for unit tests: it remembers every submission (options and the
//! script's text) and cancellation, and reports the states a test sets (jobs it was not told
//! about are `COMPLETED` with exit code `0:0`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use crate::scheduler::{Accounting, JobState, Scheduler, SchedulerError};

/// One submission the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The job id it was given.
    pub job_id: String,
    /// The `sbatch` options.
    pub args: Vec<String>,
    /// The script's path.
    pub script: String,
    /// The script's text when it was submitted.
    pub text: String,
}

/// The recording fake.
#[derive(Debug, Default)]
pub struct FakeScheduler {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    submitted: Vec<Submitted>,
    cancelled: Vec<String>,
    states: HashMap<String, String>,
}

impl FakeScheduler {
    /// A fake with nothing submitted; job ids start at 100.
    pub fn new() -> FakeScheduler {
        FakeScheduler { inner: Mutex::new(Inner { next: 100, ..Inner::default() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every submission so far.
    pub fn submitted(&self) -> Vec<Submitted> {
        self.lock().submitted.clone()
    }

    /// Every `scancel` so far.
    pub fn cancelled(&self) -> Vec<String> {
        self.lock().cancelled.clone()
    }

    /// Makes `job_id` (`123` or `123_4`) report `state`.
    pub fn set_state(&self, job_id: &str, state: &str) {
        self.lock().states.insert(job_id.to_string(), state.to_string());
    }
}

fn array_size(args: &[String]) -> Option<u32> {
    let spec = args.iter().find_map(|a| a.strip_prefix("--array="))?;
    crate::scheduler::parse_task_ranges(spec).last().map(|l| l + 1)
}

impl Scheduler for FakeScheduler {
    fn submit(&self, args: &[String], script: &Path) -> Result<String, SchedulerError> {
        let text = std::fs::read_to_string(script).unwrap_or_default();
        let mut i = self.lock();
        i.next += 1;
        let job_id = i.next.to_string();
        i.submitted.push(Submitted {
            job_id: job_id.clone(),
            args: args.to_vec(),
            script: script.to_string_lossy().into_owned(),
            text,
        });
        Ok(job_id)
    }

    fn states(&self, job_ids: &[String]) -> Result<Vec<JobState>, SchedulerError> {
        let i = self.lock();
        let mut out = Vec::new();
        for id in job_ids {
            let Some(sub) = i.submitted.iter().find(|s| &s.job_id == id) else { continue };
            let ids: Vec<(String, Option<u32>)> = match array_size(&sub.args) {
                Some(n) => (0..n).map(|t| (format!("{id}_{t}"), Some(t))).collect(),
                None => vec![(id.clone(), None)],
            };
            for (jid, task) in ids {
                let state = i.states.get(&jid).cloned().unwrap_or_else(|| "COMPLETED".into());
                out.push(JobState {
                    array_job_id: task.map(|_| id.clone()),
                    array_tasks: task.into_iter().collect(),
                    exit_code: crate::scheduler::is_terminal(&state).then(|| "0:0".to_string()),
                    job_id: jid,
                    state,
                    node: Some("node1".into()),
                    elapsed_seconds: Some(1),
                    reason: None,
                });
            }
        }
        Ok(out)
    }

    fn accounting(&self, _job_id: &str) -> Result<Option<Accounting>, SchedulerError> {
        Ok(None)
    }

    fn cancel(&self, job_id: &str) -> Result<(), SchedulerError> {
        let mut i = self.lock();
        i.cancelled.push(job_id.to_string());
        i.states.insert(job_id.to_string(), "CANCELLED".into());
        Ok(())
    }
}
