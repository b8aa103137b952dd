//! `berth db update [--source URL|PATH ...]` and `berth db status`, as the binary will run them.
//!
//! ```sh
//! cargo run -p berth-advisory --example db -- update --db /tmp/adv.sqlite --source ../shared/fixtures/advisories/osv-pypi/vulns
//! cargo run -p berth-advisory --example db -- status --db /tmp/adv.sqlite
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use berth_advisory::update::UpdateOptions;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("usage: db update|status [--db FILE] [--source URL|PATH ...] [--max-age HOURS] [--json]");
        return ExitCode::from(2);
    };
    // The site's database, as the binary finds it (`--db` overrides).
    let mut db = berth_config::Config::load().and_then(|c| c.advisory_db(None)).unwrap_or_default();
    let mut sources = Vec::new();
    let mut max_age = Duration::from_secs(24 * 3600);
    let mut json = false;
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--db" => db = PathBuf::from(it.next().cloned().unwrap_or_default()),
            "--source" => sources.push(it.next().cloned().unwrap_or_default()),
            "--max-age" => {
                max_age = Duration::from_secs(it.next().and_then(|h| h.parse::<u64>().ok()).unwrap_or(24) * 3600)
            }
            "--json" => json = true,
            other => {
                eprintln!("error: unexpected `{other}`");
                return ExitCode::from(2);
            }
        }
    }
    let fail = |msg: String, hint: Option<String>| {
        eprintln!("error: {msg}");
        if let Some(h) = hint {
            eprintln!("hint: {h}");
        }
        ExitCode::FAILURE
    };
    match command.as_str() {
        "update" => match berth_advisory::update(&sources, &UpdateOptions::new(db)) {
            Ok(s) => {
                if json {
                    println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
                } else {
                    println!("wrote {} (snapshot {})", s.path.display(), s.snapshot);
                    for src in &s.sources {
                        println!("  {} ({}): {} records", src.location, src.kind, src.records);
                    }
                    if s.skipped > 0 {
                        eprintln!("warning: {} records could not be read, for example:", s.skipped);
                        for p in &s.problems {
                            eprintln!("  {p}");
                        }
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(
                format!(
                    "{e}{}",
                    std::error::Error::source(&e).map(|s| format!("\n  Caused by: {s}")).unwrap_or_default()
                ),
                e.hint(),
            ),
        },
        "status" => match berth_advisory::status(&db, max_age) {
            Ok(s) => {
                if json {
                    println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
                } else {
                    print!("{s}");
                }
                if s.stale {
                    eprintln!(
                        "warning: the advisory database is older than {} h; run `berth db update`",
                        max_age.as_secs() / 3600
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e.to_string(), e.hint()),
        },
        other => fail(format!("unknown command `{other}`"), None),
    }
}
