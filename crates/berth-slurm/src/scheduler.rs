//! Talking to Slurm: `sbatch`, `squeue`, `sacct` and `scancel` behind the narrow
//! [`Scheduler`] trait, with [`SlurmCli`] running the real commands.
//!
//! State comes from `squeue --states=all` (finished jobs stay there for the cluster's
//! `MinJobAge`), as JSON (`--json`, Slurm 21.08 and later built with the JSON serializer) and
//! else as `--format` fields. Accounting (elapsed time, MaxRSS) comes from `sacct --parsable2`,
//! which answers only where accounting storage (slurmdbd) is configured; without it the
//! accounting is `None` and the elapsed time comes from `squeue`.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// Why a Slurm command failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The command could not be started (not installed, not on `PATH`).
    #[error("cannot run `{program}`")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The command's output was not what this version of berth understands.
    #[error("cannot read the output of `{command}`: {problem}")]
    Parse {
        /// The command line.
        command: String,
        /// What was wrong.
        problem: String,
    },
}

impl SchedulerError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            SchedulerError::Spawn { .. } => Some(
                "install Slurm's client commands (Debian: `slurm-client`) and check that `sbatch` is on PATH".into(),
            ),
            SchedulerError::Failed { .. } => Some(
                "check that the cluster answers (`sinfo`), that `SLURM_CONF` names its configuration, and the \
                 partition, account and QOS given"
                    .into(),
            ),
            SchedulerError::Parse { .. } => None,
        }
    }
}

/// One job (or array task) as `squeue` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobState {
    /// `123`, `123_4` (an array task) or `123_[5-9]` (array tasks not started yet).
    pub job_id: String,
    /// The array's job id for array tasks.
    pub array_job_id: Option<String>,
    /// The array task ids this line covers (one, or several for pending array tasks).
    pub array_tasks: Vec<u32>,
    /// `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, `OUT_OF_MEMORY`, ...
    pub state: String,
    /// The node(s) it runs or ran on.
    pub node: Option<String>,
    /// Elapsed seconds so far (or in all, once ended).
    pub elapsed_seconds: Option<i64>,
    /// Slurm's exit code as `EXIT:SIGNAL`, when known.
    pub exit_code: Option<String>,
    /// Why it is pending or how it ended (`Resources`, `Dependency`, `NonZeroExitCode`, ...).
    pub reason: Option<String>,
}

impl JobState {
    /// Whether the state is final.
    pub fn is_terminal(&self) -> bool {
        is_terminal(&self.state)
    }
}

/// Whether a Slurm state name is final.
pub fn is_terminal(state: &str) -> bool {
    !matches!(
        state,
        "PENDING"
            | "RUNNING"
            | "CONFIGURING"
            | "COMPLETING"
            | "REQUEUED"
            | "REQUEUE_HOLD"
            | "REQUEUE_FED"
            | "RESIZING"
            | "SUSPENDED"
            | "STOPPED"
            | "SIGNALING"
            | "STAGE_OUT"
            | "RESV_DEL_HOLD"
            | "SPECIAL_EXIT"
    )
}

/// What `sacct` knows about a finished job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounting {
    /// The job's final state.
    pub state: Option<String>,
    /// The node(s).
    pub node: Option<String>,
    /// Elapsed seconds.
    pub elapsed_seconds: Option<i64>,
    /// The largest MaxRSS of its steps, in bytes.
    pub max_rss_bytes: Option<i64>,
    /// `EXIT:SIGNAL`.
    pub exit_code: Option<String>,
    /// Every line `sacct` printed, field by field.
    pub raw: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The scheduler operations berth needs. Synchronous: each is one short command.
pub trait Scheduler: Send + Sync {
    /// `sbatch --parsable ARGS SCRIPT`: the job id.
    fn submit(&self, args: &[String], script: &Path) -> Result<String, SchedulerError>;
    /// The state of each job or array in `job_ids` (array ids report every task).
    fn states(&self, job_ids: &[String]) -> Result<Vec<JobState>, SchedulerError>;
    /// `sacct` for one job; `None` when the cluster keeps no accounting.
    fn accounting(&self, job_id: &str) -> Result<Option<Accounting>, SchedulerError>;
    /// `scancel JOB_ID`.
    fn cancel(&self, job_id: &str) -> Result<(), SchedulerError>;
}

/// The real Slurm, through its command-line tools (found on `PATH`; `SLURM_CONF` is honoured
/// as the tools honour it).
#[derive(Debug, Default)]
pub struct SlurmCli {
    /// Set once `squeue --json` is refused, so the fallback is used from then on.
    no_json: AtomicBool,
}

impl SlurmCli {
    /// The command-line tools on `PATH`.
    pub fn new() -> SlurmCli {
        SlurmCli::default()
    }
}

fn run(program: &str, args: &[String]) -> Result<String, SchedulerError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| SchedulerError::Spawn { program: program.into(), source })?;
    if !out.status.success() {
        return Err(SchedulerError::Failed {
            command: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `--format` fields read when `--json` is unavailable, in order.
const SQUEUE_FORMAT: &str = "%i|%F|%K|%T|%N|%M|%r";

impl Scheduler for SlurmCli {
    fn submit(&self, args: &[String], script: &Path) -> Result<String, SchedulerError> {
        let mut all = vec!["--parsable".to_string()];
        all.extend(args.iter().cloned());
        all.push(script.to_string_lossy().into_owned());
        let out = run("sbatch", &all)?;
        parse_sbatch(&out).ok_or_else(|| SchedulerError::Parse {
            command: "sbatch --parsable".into(),
            problem: format!("expected a job id, got {:?}", out.trim()),
        })
    }

    fn states(&self, job_ids: &[String]) -> Result<Vec<JobState>, SchedulerError> {
        if job_ids.is_empty() {
            return Ok(Vec::new());
        }
        let jobs = format!("--jobs={}", job_ids.join(","));
        if !self.no_json.load(Ordering::Relaxed) {
            match run("squeue", &["--json".into(), "--states=all".into(), jobs.clone()]) {
                Ok(out) => {
                    return parse_squeue_json(&out)
                        .map_err(|problem| SchedulerError::Parse { command: "squeue --json".into(), problem });
                }
                Err(SchedulerError::Failed { stderr, .. })
                    if stderr.contains("json")
                        || stderr.contains("unrecognized")
                        || stderr.contains("invalid option") =>
                {
                    tracing::debug!(%stderr, "squeue has no --json; using --format");
                    self.no_json.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        let out =
            run("squeue", &["--noheader".into(), "--states=all".into(), format!("--format={SQUEUE_FORMAT}"), jobs])?;
        Ok(parse_squeue_format(&out))
    }

    fn accounting(&self, job_id: &str) -> Result<Option<Accounting>, SchedulerError> {
        let args = [
            "--parsable2".to_string(),
            "--noheader".into(),
            "--jobs".into(),
            job_id.into(),
            format!("--format={}", SACCT_FIELDS.join(",")),
        ];
        match run("sacct", &args) {
            Ok(out) => Ok(parse_sacct(&out)),
            // Without accounting storage sacct says so and knows nothing.
            Err(SchedulerError::Failed { stderr, .. }) if stderr.contains("accounting storage is disabled") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn cancel(&self, job_id: &str) -> Result<(), SchedulerError> {
        run("scancel", &[job_id.to_string()]).map(|_| ())
    }
}

/// The fields asked of `sacct`, in order.
const SACCT_FIELDS: [&str; 6] = ["JobID", "State", "NodeList", "ElapsedRaw", "MaxRSS", "ExitCode"];

/// The job id in `sbatch --parsable` output (`123` or `123;cluster`).
pub fn parse_sbatch(out: &str) -> Option<String> {
    let id = out.trim().lines().last()?.split(';').next()?.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| id.to_string())
}

/// `0-3,7,9-10` (optionally with a `%N` throttle) → task ids.
pub fn parse_task_ranges(s: &str) -> Vec<u32> {
    let s = s.trim_matches(|c| c == '[' || c == ']');
    let s = s.split('%').next().unwrap_or(s);
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (range, step) = part.split_once(':').map_or((part, 1), |(r, st)| (r, st.parse().unwrap_or(1)));
        match range.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend((a..=b).step_by(step.max(1)));
                }
            }
            None => out.extend(range.parse::<u32>().ok()),
        }
    }
    out
}

/// `[D-]HH:MM:SS`, `MM:SS` or `SS` → seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (d.parse::<i64>().ok()?, r),
        None => (0, s),
    };
    let parts: Vec<i64> = rest.split(':').map(|p| p.parse::<i64>().ok()).collect::<Option<_>>()?;
    let secs = match parts.as_slice() {
        [h, m, s] => h * 3600 + m * 60 + s,
        [m, s] => m * 60 + s,
        [s] => *s,
        _ => return None,
    };
    Some(days * 86400 + secs)
}

/// `sacct` memory (`1234K`, `12.5M`, `3G`, plain bytes) → bytes.
pub fn parse_memory(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (num, mult) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1024f64),
        'M' => (&s[..s.len() - 1], 1024f64 * 1024.0),
        'G' => (&s[..s.len() - 1], 1024f64 * 1024.0 * 1024.0),
        'T' => (&s[..s.len() - 1], 1024f64.powi(4)),
        _ => (s, 1.0),
    };
    num.parse::<f64>().ok().map(|n| (n * mult).round() as i64)
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s != "(null)" && s != "None" && s != "N/A").then(|| s.to_string())
}

/// `squeue --noheader --format=%i|%F|%K|%T|%N|%M|%r` output.
pub fn parse_squeue_format(out: &str) -> Vec<JobState> {
    out.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.trim().split('|').collect();
            let [id, array_job, tasks, state, node, elapsed, reason] = f.as_slice() else { return None };
            let array_job_id = opt(array_job).filter(|a| id.contains('_') && a.chars().all(|c| c.is_ascii_digit()));
            Some(JobState {
                job_id: id.to_string(),
                array_tasks: if array_job_id.is_some() { parse_task_ranges(tasks) } else { Vec::new() },
                array_job_id,
                state: state.to_string(),
                node: opt(node),
                elapsed_seconds: parse_duration(elapsed),
                exit_code: None,
                reason: opt(reason),
            })
        })
        .collect()
}

/// `squeue --json` output (the OpenAPI `jobs` list of Slurm 21.08–23.02: numbers for times
/// and the exit code as a wait status; later versions wrap numbers in `{"number": N}`).
pub fn parse_squeue_json(out: &str) -> Result<Vec<JobState>, String> {
    let v: serde_json::Value = serde_json::from_str(out).map_err(|e| e.to_string())?;
    let jobs = v.get("jobs").and_then(|j| j.as_array()).ok_or("no `jobs` list")?;
    // A number, or `{"set": true, "number": N}` in newer data parsers.
    let num = |x: Option<&serde_json::Value>| -> Option<i64> {
        let x = x?;
        x.as_i64().or_else(|| {
            x.get("set").and_then(serde_json::Value::as_bool).filter(|s| *s)?;
            x.get("number")?.as_i64()
        })
    };
    let text = |x: Option<&serde_json::Value>| -> Option<String> {
        let x = x?;
        match x {
            serde_json::Value::String(s) => opt(s),
            serde_json::Value::Array(a) => opt(&a.iter().filter_map(|e| e.as_str()).collect::<Vec<_>>().join(",")),
            _ => None,
        }
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    Ok(jobs
        .iter()
        .filter_map(|j| {
            let id = num(j.get("job_id"))?;
            let array_job = num(j.get("array_job_id")).filter(|a| *a != 0);
            let task = num(j.get("array_task_id"));
            let pending_tasks = text(j.get("array_task_string")).map(|s| parse_task_ranges(&s)).unwrap_or_default();
            let (job_id, array_tasks) = match (array_job, task) {
                (Some(a), Some(t)) => (format!("{a}_{t}"), vec![u32::try_from(t).ok()?]),
                (Some(a), None) => {
                    (format!("{a}_[{}]", text(j.get("array_task_string")).unwrap_or_default()), pending_tasks)
                }
                _ => (id.to_string(), Vec::new()),
            };
            let state = text(j.get("job_state")).unwrap_or_else(|| "UNKNOWN".into());
            let start = num(j.get("start_time")).filter(|t| *t > 0);
            let end = num(j.get("end_time")).filter(|t| *t > 0);
            let elapsed = match (start, end) {
                (Some(s), Some(e)) if is_terminal(&state) => Some((e - s).max(0)),
                (Some(s), _) if state == "RUNNING" => Some((now - s).max(0)),
                _ => None,
            };
            let exit_code = num(j.get("exit_code")).map(|w| format!("{}:{}", (w >> 8) & 0xff, w & 0x7f));
            Some(JobState {
                job_id,
                array_job_id: array_job.map(|a| a.to_string()),
                array_tasks,
                node: text(j.get("nodes")).or_else(|| text(j.get("batch_host"))),
                elapsed_seconds: elapsed,
                exit_code: if is_terminal(&state) { exit_code } else { None },
                reason: text(j.get("state_reason")),
                state,
            })
        })
        .collect())
}

/// `sacct --parsable2 --noheader --format=JobID,State,NodeList,ElapsedRaw,MaxRSS,ExitCode` output.
pub fn parse_sacct(out: &str) -> Option<Accounting> {
    let mut acc = Accounting {
        state: None,
        node: None,
        elapsed_seconds: None,
        max_rss_bytes: None,
        exit_code: None,
        raw: Vec::new(),
    };
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < SACCT_FIELDS.len() {
            continue;
        }
        acc.raw.push(SACCT_FIELDS.iter().zip(&f).map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect());
        // The job's own line (no `.batch` / `.extern` step suffix) carries state and elapsed.
        if !f[0].contains('.') {
            acc.state = opt(f[1]).map(|s| s.split_whitespace().next().unwrap_or(&s).to_string());
            acc.node = opt(f[2]);
            acc.elapsed_seconds = f[3].trim().parse().ok();
            acc.exit_code = opt(f[5]);
        }
        if let Some(rss) = parse_memory(f[4]) {
            acc.max_rss_bytes = Some(acc.max_rss_bytes.map_or(rss, |m: i64| m.max(rss)));
        }
    }
    (!acc.raw.is_empty()).then_some(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbatch_parsable_gives_the_job_id_with_or_without_a_cluster() {
        assert_eq!(parse_sbatch("123\n").as_deref(), Some("123"));
        assert_eq!(parse_sbatch("456;berth\n").as_deref(), Some("456"));
        assert_eq!(parse_sbatch("Submitted batch job 7"), None);
    }

    #[test]
    fn array_ranges_durations_and_memory_parse() {
        assert_eq!(parse_task_ranges("[0-3,7,9-10%4]"), vec![0, 1, 2, 3, 7, 9, 10]);
        assert_eq!(parse_task_ranges("0-6:3"), vec![0, 3, 6]);
        assert_eq!(parse_duration("1-02:03:04"), Some(93784));
        assert_eq!(parse_duration("0:07"), Some(7));
        assert_eq!(parse_memory("1024K"), Some(1 << 20));
        assert_eq!(parse_memory("1.5M"), Some(1_572_864));
        assert_eq!(parse_memory(""), None);
    }

    #[test]
    fn squeue_format_lines_cover_plain_jobs_array_tasks_and_pending_arrays() {
        let out =
            "2_0|2|0|COMPLETED|vm|0:01|None\n2_[3-5]|2|3-5|PENDING||0:00|Resources\n9|9|N/A|RUNNING|vm|1:02|None\n";
        let s = parse_squeue_format(out);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].array_job_id.as_deref(), Some("2"));
        assert_eq!(s[0].array_tasks, vec![0]);
        assert_eq!(s[1].array_tasks, vec![3, 4, 5]);
        assert_eq!(s[1].state, "PENDING");
        assert_eq!(s[2].array_job_id, None);
        assert_eq!(s[2].elapsed_seconds, Some(62));
    }

    #[test]
    fn squeue_json_of_slurm_22_05_reads_wait_status_exit_codes() {
        // Trimmed from `squeue --json --states=all` of Slurm 22.05.8 (Debian 12).
        let out = r#"{"meta":{},"errors":[],"jobs":[
            {"job_id":4,"array_job_id":2,"array_task_id":1,"array_task_string":"","job_state":"FAILED",
             "nodes":"vm","batch_host":"vm","start_time":100,"end_time":103,"exit_code":256,"state_reason":"NonZeroExitCode"},
            {"job_id":2,"array_job_id":2,"array_task_id":null,"array_task_string":"5-6","job_state":"PENDING",
             "nodes":"","start_time":0,"end_time":0,"exit_code":0,"state_reason":"Resources"},
            {"job_id":1,"array_job_id":0,"array_task_id":null,"job_state":"COMPLETED","nodes":"vm",
             "start_time":10,"end_time":11,"exit_code":0}]}"#;
        let s = parse_squeue_json(out).unwrap();
        assert_eq!(s[0].job_id, "2_1");
        assert_eq!(s[0].exit_code.as_deref(), Some("1:0"));
        assert_eq!(s[0].elapsed_seconds, Some(3));
        assert_eq!(s[1].array_tasks, vec![5, 6]);
        assert_eq!(s[1].exit_code, None);
        assert_eq!(s[2].job_id, "1");
        assert_eq!(s[2].node.as_deref(), Some("vm"));
    }

    #[test]
    fn sacct_takes_state_from_the_job_line_and_the_largest_max_rss_of_its_steps() {
        let out = "12|COMPLETED|vm|5||0:0\n12.batch|COMPLETED|vm|5|2048K|0:0\n12.extern|COMPLETED|vm|5|1024K|0:0\n";
        let a = parse_sacct(out).unwrap();
        assert_eq!(a.state.as_deref(), Some("COMPLETED"));
        assert_eq!(a.elapsed_seconds, Some(5));
        assert_eq!(a.max_rss_bytes, Some(2 * 1024 * 1024));
        assert_eq!(a.raw.len(), 3);
        assert_eq!(parse_sacct(""), None);
        assert_eq!(parse_sacct("13|CANCELLED by 0|vm|2||0:15\n").and_then(|a| a.state), Some("CANCELLED".to_string()));
    }
}
