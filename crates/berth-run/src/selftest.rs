//! `berth test`: the `tests` a Boutiques descriptor declares (an invocation, the expected exit
//! code, expected MD5 checksums of output files), each run in a container like `berth run`
//! (same preparation, confinement and provenance record) and checked.

use std::path::{Path, PathBuf};

use berth_descriptor::Descriptor;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::prepare::{PrepareOptions, prepare};
use crate::run::Runner;

/// The result of one declared test.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// The test's `name`.
    pub name: String,
    /// Whether every assertion held.
    pub passed: bool,
    /// The run made for it, when one was made.
    pub run_id: Option<String>,
    /// The tool's exit code.
    pub exit_code: Option<i64>,
    /// The exit code the test expects (none: not asserted).
    pub expected_exit_code: Option<i64>,
    /// Output files whose checksum matched.
    pub outputs_checked: usize,
    /// Each assertion that failed, in words.
    pub failures: Vec<String>,
    /// Where its outputs are.
    pub output_dir: PathBuf,
}

/// MD5 (hex) of a file, as Boutiques' `md5-reference` records it.
pub fn md5_file(path: &Path) -> std::io::Result<String> {
    use md5::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Runs the descriptor's tests (those named `only`, when given) with `runner`. Each test gets
/// `<base.output_dir>/<n>-<name>/`; relative paths in test invocations are resolved against
/// `base.cwd` (the descriptor's directory). `image` replaces the descriptor's image (to test a
/// hardened or rebuilt image with the tool's own tests).
pub async fn run_tests(
    runner: &Runner<'_>,
    d: &Descriptor,
    text: &str,
    base: &PrepareOptions,
    image: Option<&str>,
    only: Option<&str>,
    cancel: &CancellationToken,
) -> Vec<TestResult> {
    let mut results = Vec::new();
    for t in d.tests.iter().filter(|t| only.is_none_or(|o| o == t.name)) {
        let output_dir = base.output_dir.join(format!("{}-{}", t.index + 1, safe(&t.name)));
        let mut result = TestResult {
            name: t.name.clone(),
            passed: false,
            run_id: None,
            exit_code: None,
            expected_exit_code: t.exit_code,
            outputs_checked: 0,
            failures: Vec::new(),
            output_dir: output_dir.clone(),
        };
        if cancel.is_cancelled() {
            result.failures.push("not run: cancelled".into());
            results.push(result);
            continue;
        }
        let opts = PrepareOptions { output_dir, ..base.clone() };
        let mut job = match prepare(d, text, &t.invocation, &opts) {
            Ok(job) => job,
            Err(e) => {
                let mut msg = format!("the test's invocation cannot run: {e}");
                if let crate::PrepareError::Invalid(problems) = &e {
                    for p in problems.iter().filter(|p| p.is_error()) {
                        msg.push_str(&format!("; {}: {}", p.pointer, p.message));
                    }
                }
                result.failures.push(msg);
                results.push(result);
                continue;
            }
        };
        if let Some(image) = image {
            job.image = image.to_owned();
        }
        let outcome = match runner.run(&job, cancel.clone()).await {
            Ok(o) => o,
            Err(e) => {
                result.failures.push(format!("the run failed before the tool started: {e}"));
                results.push(result);
                continue;
            }
        };
        result.run_id = Some(outcome.run_id.as_str().to_owned());
        result.exit_code = outcome.exit_code;
        match (t.exit_code, outcome.exit_code) {
            (Some(want), Some(got)) if want != got => {
                result.failures.push(format!("exit code {got}, expected {want}"));
            }
            (Some(want), None) => result.failures.push(format!(
                "no exit code ({}), expected {want}",
                outcome.error.as_deref().unwrap_or("the tool did not run to its end")
            )),
            _ => {}
        }
        for (id, md5) in &t.output_files {
            let Some((_, path)) = outcome.outputs.iter().find(|(o, _)| o == id) else {
                result.failures.push(format!("output `{id}` was not produced"));
                continue;
            };
            let Some(want) = md5 else {
                // Only its existence is asserted.
                result.outputs_checked += 1;
                continue;
            };
            match md5_file(path) {
                Ok(got) if got.eq_ignore_ascii_case(want) => result.outputs_checked += 1,
                Ok(got) => {
                    result.failures.push(format!("output `{id}` ({}) has MD5 {got}, expected {want}", path.display()))
                }
                Err(e) => result.failures.push(format!("output `{id}` ({}) cannot be read: {e}", path.display())),
            }
        }
        result.passed = result.failures.is_empty();
        results.push(result);
    }
    results
}
