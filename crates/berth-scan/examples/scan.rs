//! `berth scan` and `berth scan compare`, as the binary will run them.
//!
//! ```sh
//! cargo run --release -p berth-scan --example scan -- TARGET --db adv.sqlite [--format table|json|sarif|cyclonedx]
//!     [--fail-on SEVERITY] [--ignore-unfixed] [--max-db-age HOURS] [--policy FILE.json]
//! cargo run --release -p berth-scan --example scan -- compare A.json B.json [--json]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use berth_advisory::Severity;
use berth_inventory::{SbomOptions, Target};
use berth_scan::report::{DocumentMeta, Format, render};
use berth_scan::{ScanOptions, compare, exit_code, policy, scan};

fn usage() -> ExitCode {
    eprintln!(
        "usage: scan TARGET [--db FILE] [--format F] [--fail-on SEV] [--ignore-unfixed] [--max-db-age H] [--policy FILE]\n       scan compare A B [--json]"
    );
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("compare") {
        let files: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with("--")).collect();
        let [a, b] = files[..] else { return usage() };
        let (a, b) = match (compare::read(a.as_ref()), compare::read(b.as_ref())) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let c = compare::compare(&a, &b);
        if args.iter().any(|a| a == "--json") {
            println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
        } else {
            print!("{c}");
        }
        return ExitCode::SUCCESS;
    }
    let mut target = None;
    // The site's database, as the binary finds it (`--db` overrides).
    let mut db = berth_config::Config::load().and_then(|c| c.advisory_db(None)).unwrap_or_default();
    let mut format = Format::Table;
    let mut fail_on = None;
    let mut options = ScanOptions::default();
    let mut policy_file: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--db" => db = PathBuf::from(it.next().cloned().unwrap_or_default()),
            "--format" | "-o" => match it.next().map(|f| f.parse::<Format>()) {
                Some(Ok(f)) => format = f,
                _ => return usage(),
            },
            "--fail-on" => match it.next().map(|s| s.parse::<Severity>()) {
                Some(Ok(s)) => fail_on = Some(s),
                _ => return usage(),
            },
            "--ignore-unfixed" => options.ignore_unfixed = true,
            "--max-db-age" => {
                options.max_db_age =
                    Duration::from_secs(it.next().and_then(|h| h.parse::<u64>().ok()).unwrap_or(24) * 3600)
            }
            "--policy" => policy_file = it.next().map(PathBuf::from),
            other if !other.starts_with("--") => target = Some(other.to_owned()),
            _ => return usage(),
        }
    }
    let Some(target) = target else { return usage() };
    let target = Target::parse(&target);
    let mut sbom = SbomOptions::default();
    if matches!(target, Target::Image(_)) {
        match berth_engine::DockerEngine::from_env().await {
            Ok(e) => sbom.engine = Some(Arc::new(e)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let report = match scan(&target, &db, &sbom, &options).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(h) = e.hint() {
                eprintln!("hint: {h}");
            }
            return ExitCode::FAILURE;
        }
    };
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    print!("{}", render(&report, format, &DocumentMeta::now()));
    if let Some(file) = policy_file {
        let policy: policy::Policy = match std::fs::read(&file).map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(p)) => p,
            _ => {
                eprintln!("error: `{}` is not a policy file", file.display());
                return ExitCode::FAILURE;
            }
        };
        let decision = policy::evaluate(&report, &policy);
        eprintln!("policy: {:?}", decision.verdict);
        for r in &decision.reasons {
            eprintln!("  {r}");
        }
    }
    ExitCode::from(exit_code(&report, fail_on) as u8)
}
