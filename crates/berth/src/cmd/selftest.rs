//! `berth test`.

use std::process::ExitCode;

use anyhow::Context;
use berth_run::{HostInfo, PrepareOptions, Runner, ToolSpec};
use tokio_util::sync::CancellationToken;

use crate::cli::TestArgs;
use crate::context::{default_output_dir, host_facts, open_engine_for, open_store, runtime};
use crate::diag::hinted;
use crate::loader::load_tool_arg;
use crate::printer::print_json;

/// `berth test`.
pub fn test(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let tool = load_tool_arg(&args.descriptor, false)?;
    let ToolSpec::Boutiques(d) = &tool.spec else {
        return Err(hinted(
            format!("{} is an XNAT Command: only Boutiques descriptors declare tests", tool.origin),
            Some("add a `tests` section to a Boutiques descriptor of the tool".to_owned()),
        ));
    };
    if d.tests.is_empty() {
        return Err(hinted(
            format!("{} declares no tests", tool.origin),
            Some(
                "add `\"tests\": [{\"name\": …, \"invocation\": {…}, \"assertions\": {\"exit-code\": 0}}]`".to_owned(),
            ),
        ));
    }
    if let Some(n) = &args.name
        && !d.tests.iter().any(|t| &t.name == n)
    {
        let names: Vec<&str> = d.tests.iter().map(|t| t.name.as_str()).collect();
        return Err(hinted(format!("--name: no test `{n}`"), Some(format!("the tests are: {}", names.join(", ")))));
    }
    let site = crate::context::site()?;
    let config = site.config().clone();
    let host = HostInfo::current();
    // Test invocations name files relative to the descriptor, as bosh's do.
    let path = std::path::Path::new(&args.descriptor);
    let cwd = match path.parent().filter(|p| path.is_file() && !p.as_os_str().is_empty()) {
        Some(dir) => std::fs::canonicalize(dir)?,
        None => std::env::current_dir().context("cannot determine the working directory")?,
    };
    let output_dir = args.output_dir.clone().unwrap_or_else(|| default_output_dir("berth-test-out", &d.name));
    let output_dir = std::path::absolute(&output_dir)?;
    let base = PrepareOptions::with_defaults(output_dir.clone(), cwd, config.run.clone(), host_facts(&host));
    let store = open_store()?;
    let rt = runtime()?;
    let (engine, info) = rt.block_on(open_engine_for(args.engine.as_deref()))?;
    static SILENT: berth_run::Silent = berth_run::Silent;
    let pull = crate::progress::TerminalPull::new();
    let image = args.image.clone().or_else(|| tool.image()).unwrap_or_default();
    let runner = Runner {
        store: &store,
        engine,
        engine_info: info,
        host,
        sink: &SILENT,
        pull_reporter: &pull,
        pull: args.pull.into(),
        gate: &*site,
        log_max_bytes: site.log_cap(),
        labels: [("berth.test".to_owned(), d.name.clone())].into(),
    };
    let cancel = CancellationToken::new();
    {
        let cancel = cancel.clone();
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        });
    }
    let results = rt.block_on(berth_run::selftest::run_tests(
        &runner,
        d,
        &tool.text,
        &base,
        args.image.as_deref(),
        args.name.as_deref(),
        &cancel,
    ));
    let failed = results.iter().filter(|r| !r.passed).count();
    if args.json {
        print_json(
            &serde_json::json!({"tool": d.name, "image": image, "passed": results.len() - failed, "failed": failed, "tests": results}),
        )?;
    } else {
        for r in &results {
            let exit = r.exit_code.map_or_else(|| "no exit code".to_owned(), |c| format!("exit {c}"));
            if r.passed {
                println!("PASS  {}  ({exit}, {} output(s) checked)", r.name, r.outputs_checked);
            } else {
                println!("FAIL  {}  ({exit})", r.name);
                for f in &r.failures {
                    println!("        {f}");
                }
            }
            if let Some(id) = &r.run_id {
                println!("        run {id}, outputs in {}", r.output_dir.display());
            }
        }
        println!("{} passed, {failed} failed ({image})", results.len() - failed);
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
