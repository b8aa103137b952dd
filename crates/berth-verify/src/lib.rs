//! `berth verify`: re-executes a recorded run with the same image (by ID, or pulled by its
//! recorded digest), the same descriptor and invocation, and inputs checked against their
//! recorded hashes, into a fresh output directory; then compares every recorded output with
//! the new one: bit for bit, and for DICOM and NIfTI images that differ, value by value (the
//! largest absolute difference and how many voxels differ), because results can differ across
//! systems and users need to see whether theirs do.
//!
//! [`verify_run`] verifies one run; a pipeline run is verified by calling it for each step
//! run and [`Summary::of`] the reports.

pub mod numeric;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_run::{PreparedJob, Runner};
use berth_store::{FileKind, FileRecord, FileRole, RunRecord, RunStatus, Store};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

pub use numeric::NumericDiff;

/// The label of a verification run: the id of the run it verifies.
pub const VERIFIES_LABEL: &str = "berth.verifies";

/// Why a run could not be verified (nothing was compared).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Only succeeded runs have outputs to compare.
    #[error("run {run} is {status}; only a succeeded run can be verified")]
    NotSucceeded {
        /// The run.
        run: String,
        /// Its status.
        status: String,
    },
    /// The run's record has no usable plan (an older or damaged record).
    #[error("run {run} has no usable plan in its record: {message}")]
    NoPlan {
        /// The run.
        run: String,
        /// What is wrong.
        message: String,
    },
    /// The recorded image is not on the engine and could not be pulled by digest.
    #[error("the image the run used ({image_id}) is not on the engine{}", digest.as_ref().map(|d| format!(" and cannot be pulled as {d}")).unwrap_or_else(|| " and the run recorded no registry digest to pull it by".into()))]
    ImageUnavailable {
        /// The recorded image ID.
        image_id: String,
        /// The recorded repo digest.
        digest: Option<String>,
    },
    /// Inputs changed since the run.
    #[error("inputs differ from the run's record: {}", changed.join("; "))]
    InputsChanged {
        /// One line per input: id, path, expected and actual hash.
        changed: Vec<String>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    /// The run could not be made.
    #[error(transparent)]
    Run(#[from] berth_run::RunError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] berth_engine::EngineError),
}

impl VerifyError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            VerifyError::ImageUnavailable { .. } => {
                Some("load or pull the exact image first (`berth image pull REPO@sha256:...`)".into())
            }
            VerifyError::InputsChanged { .. } => {
                Some("restore the inputs the run used; a different input is a different analysis".into())
            }
            VerifyError::NotSucceeded { .. } => Some("`berth runs --status succeeded` lists runs to verify".into()),
            VerifyError::Store(e) => e.hint(),
            VerifyError::Run(e) => e.hint(),
            _ => None,
        }
    }
}

/// How one output compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The same bytes.
    Identical,
    /// Values differ by no more than the tolerance.
    WithinTolerance,
    /// Different.
    Differs,
    /// Recorded, but not produced again.
    Missing,
    /// Produced again, but not recorded.
    Extra,
}

/// One output file (or directory entry), compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputComparison {
    /// The output id.
    pub output: String,
    /// The path relative to the output directory.
    pub path: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The recorded hash.
    pub recorded_sha256: Option<String>,
    /// The new hash.
    pub new_sha256: Option<String>,
    /// The numeric comparison, for images that differ.
    pub numeric: Option<NumericDiff>,
    /// One line for people.
    pub detail: String,
}

/// The verification of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The run verified.
    pub run_id: String,
    /// The tool.
    pub tool: String,
    /// The re-execution's run id.
    pub verification_run_id: String,
    /// The image ID both used.
    pub image_id: String,
    /// Where the re-execution wrote.
    pub output_dir: PathBuf,
    /// Every output.
    pub outputs: Vec<OutputComparison>,
    /// The overall verdict: identical, within-tolerance or differs.
    pub verdict: Verdict,
}

/// Several reports together (a pipeline run's step runs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Runs verified.
    pub runs: usize,
    /// Outputs compared, by verdict.
    pub outputs: BTreeMap<String, usize>,
    /// The overall verdict.
    pub verdict: Verdict,
}

impl Summary {
    /// Sums up reports.
    pub fn of(reports: &[Report]) -> Summary {
        let mut outputs = BTreeMap::new();
        for o in reports.iter().flat_map(|r| &r.outputs) {
            *outputs.entry(verdict_name(o.verdict).to_string()).or_insert(0) += 1;
        }
        let verdict = reports.iter().map(|r| r.verdict).max_by_key(|v| rank(*v)).unwrap_or(Verdict::Identical);
        Summary { runs: reports.len(), outputs, verdict }
    }
}

fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Identical => 0,
        Verdict::WithinTolerance => 1,
        _ => 2,
    }
}

/// The verdict's name as printed.
pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Identical => "identical",
        Verdict::WithinTolerance => "within-tolerance",
        Verdict::Differs => "differs",
        Verdict::Missing => "missing",
        Verdict::Extra => "extra",
    }
}

/// Choices for a verification.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where the re-execution writes (created; must not hold earlier outputs).
    pub output_dir: PathBuf,
    /// Numeric differences up to this count as equivalent.
    pub tolerance: Option<f64>,
}

/// Replaces the `from` prefix of every string in a JSON value that starts with it.
fn rebase(v: &mut serde_json::Value, from: &str, to: &str) {
    match v {
        serde_json::Value::String(s) if s == from || s.starts_with(&format!("{from}/")) => {
            *s = format!("{to}{}", &s[from.len()..]);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| rebase(x, from, to)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| rebase(x, from, to)),
        _ => {}
    }
}

/// The job to run again: the recorded plan with the output directory moved.
fn job_for(record: &RunRecord, output_dir: &Path) -> Result<PreparedJob, VerifyError> {
    let no_plan = |message: String| VerifyError::NoPlan { run: record.id.as_str().to_owned(), message };
    let mut plan: serde_json::Value =
        serde_json::from_str(&record.new.plan_json).map_err(|e| no_plan(e.to_string()))?;
    rebase(&mut plan, &record.new.output_dir, &output_dir.to_string_lossy());
    serde_json::from_value(plan).map_err(|e| no_plan(e.to_string()))
}

/// Checks every recorded input against its recorded hash.
fn check_inputs(store: &Store, record: &RunRecord) -> Result<(), VerifyError> {
    let mut changed = Vec::new();
    for f in record.files.iter().filter(|f| f.role == FileRole::Input) {
        let actual = store.hash_path(Path::new(&f.path)).map(|h| h.sha256);
        match (&f.sha256, actual) {
            (Some(want), Ok(got)) if *want == got => {}
            (want, got) => changed.push(format!(
                "input `{}` {}: recorded sha256 {}, now {}",
                f.key,
                f.path,
                want.as_deref().unwrap_or("(none)"),
                got.unwrap_or_else(|e| format!("unreadable ({e})"))
            )),
        }
    }
    if changed.is_empty() { Ok(()) } else { Err(VerifyError::InputsChanged { changed }) }
}

/// (output id, path relative to the output dir) → (sha256, absolute path), files only.
fn output_files(files: &[FileRecord], output_dir: &str) -> BTreeMap<(String, String), (Option<String>, PathBuf)> {
    let mut out = BTreeMap::new();
    for f in files.iter().filter(|f| f.role == FileRole::Output && f.kind != FileKind::Missing) {
        let rel = Path::new(&f.path)
            .strip_prefix(output_dir)
            .map_or_else(|_| f.path.clone(), |r| r.to_string_lossy().into_owned());
        match (&f.kind, &f.manifest) {
            (FileKind::Dir, Some(entries)) => {
                for e in entries.iter().filter(|e| e.sha256.is_some()) {
                    out.insert(
                        (f.key.clone(), format!("{rel}/{}", e.path)),
                        (e.sha256.clone(), Path::new(&f.path).join(&e.path)),
                    );
                }
            }
            _ => {
                out.insert((f.key.clone(), rel), (f.sha256.clone(), PathBuf::from(&f.path)));
            }
        }
    }
    out
}

/// Compares the recorded outputs with the re-execution's.
pub fn compare_outputs(
    recorded: &[FileRecord],
    recorded_dir: &str,
    new: &[FileRecord],
    new_dir: &str,
    tolerance: Option<f64>,
) -> Vec<OutputComparison> {
    let a = output_files(recorded, recorded_dir);
    let b = output_files(new, new_dir);
    let mut out = Vec::new();
    for ((key, rel), (sha_a, path_a)) in &a {
        let Some((sha_b, path_b)) = b.get(&(key.clone(), rel.clone())) else {
            out.push(OutputComparison {
                output: key.clone(),
                path: rel.clone(),
                verdict: Verdict::Missing,
                recorded_sha256: sha_a.clone(),
                new_sha256: None,
                numeric: None,
                detail: "recorded, not produced again".into(),
            });
            continue;
        };
        let mut c = OutputComparison {
            output: key.clone(),
            path: rel.clone(),
            verdict: Verdict::Identical,
            recorded_sha256: sha_a.clone(),
            new_sha256: sha_b.clone(),
            numeric: None,
            detail: "same bytes".into(),
        };
        if sha_a != sha_b {
            c.verdict = Verdict::Differs;
            c.detail = "different bytes".into();
            // The recorded file is compared when it still exists (the hash says whether it is
            // still the recorded one).
            let recorded_bytes = std::fs::read(path_a)
                .ok()
                .filter(|bytes| sha_a.as_deref() == Some(hex::encode(Sha256::digest(bytes)).as_str()));
            match (recorded_bytes, std::fs::read(path_b).ok()) {
                (Some(x), Some(y)) => match numeric::compare(path_a, &x, path_b, &y) {
                    Some(Ok(d)) => {
                        let within = tolerance.is_some_and(|t| d.max_abs_diff <= t);
                        c.verdict =
                            if d.differing == 0 || within { Verdict::WithinTolerance } else { Verdict::Differs };
                        c.detail = format!(
                            "{}: {} of {} values differ, largest difference {}{}",
                            d.format,
                            d.differing,
                            d.voxels,
                            d.max_abs_diff,
                            if d.other_differences.is_empty() {
                                String::new()
                            } else {
                                format!("; other attributes differ: {}", d.other_differences.join(", "))
                            }
                        );
                        c.numeric = Some(d);
                    }
                    Some(Err(e)) => c.detail = format!("different bytes; {e}"),
                    None => c.detail = format!("different bytes ({} vs {} bytes)", x.len(), y.len()),
                },
                (None, _) => {
                    c.detail =
                        "different bytes; the recorded file has changed or is gone, so only hashes are compared".into();
                }
                _ => {}
            }
        }
        out.push(c);
    }
    for ((key, rel), (sha_b, _)) in &b {
        if !a.contains_key(&(key.clone(), rel.clone())) {
            out.push(OutputComparison {
                output: key.clone(),
                path: rel.clone(),
                verdict: Verdict::Extra,
                recorded_sha256: None,
                new_sha256: sha_b.clone(),
                numeric: None,
                detail: "produced again, not recorded".into(),
            });
        }
    }
    out
}

/// Verifies one recorded run: see the crate documentation. `runner` is used as it is, with
/// the label [`VERIFIES_LABEL`] added.
pub async fn verify_run(
    store: &Store,
    runner: &Runner<'_>,
    run: &str,
    options: &Options,
    cancel: CancellationToken,
) -> Result<Report, VerifyError> {
    let record = store.get_run(run)?;
    if record.status != RunStatus::Succeeded {
        return Err(VerifyError::NotSucceeded {
            run: record.id.as_str().to_owned(),
            status: record.status.as_str().into(),
        });
    }
    let image_id = record.update.image_id.clone().unwrap_or_default();
    // The exact image: by ID when the engine has it, else pulled by the recorded digest.
    let have = runner.engine.inspect_image(&image_id).await?.is_some_and(|i| i.id == image_id);
    let image_ref = if have {
        image_id.clone()
    } else {
        let digest = record.update.image_digest.clone();
        let Some(d) = digest.clone() else {
            return Err(VerifyError::ImageUnavailable { image_id, digest });
        };
        match runner.resolve_image(&d).await {
            Ok(img) if img.id == image_id => d,
            _ => return Err(VerifyError::ImageUnavailable { image_id, digest }),
        }
    };
    check_inputs(store, &record)?;
    std::fs::create_dir_all(&options.output_dir)
        .map_err(|source| berth_run::RunError::Io { path: options.output_dir.clone(), source })?;
    let mut job = job_for(&record, &options.output_dir)?;
    job.image = image_ref;
    let mut labels = runner.labels.clone();
    labels.insert(VERIFIES_LABEL.to_string(), record.id.as_str().to_owned());
    let runner = Runner {
        store: runner.store,
        engine: runner.engine.clone(),
        engine_info: runner.engine_info.clone(),
        host: runner.host.clone(),
        sink: runner.sink,
        pull_reporter: runner.pull_reporter,
        pull: runner.pull,
        gate: runner.gate,
        log_max_bytes: runner.log_max_bytes,
        labels,
    };
    let outcome = runner.run(&job, cancel).await?;
    let new = store.get_run(outcome.run_id.as_str())?;
    let outputs =
        compare_outputs(&record.files, &record.new.output_dir, &new.files, &new.new.output_dir, options.tolerance);
    let mut verdict = outputs.iter().map(|o| o.verdict).max_by_key(|v| rank(*v)).unwrap_or(Verdict::Identical);
    if outcome.status != RunStatus::Succeeded && rank(verdict) < 2 {
        verdict = Verdict::Differs;
    }
    Ok(Report {
        run_id: record.id.as_str().to_owned(),
        tool: format!("{} {}", record.new.tool_name, record.new.tool_version),
        verification_run_id: outcome.run_id.as_str().to_owned(),
        image_id,
        output_dir: options.output_dir.clone(),
        outputs,
        verdict,
    })
}
