//! `berth tool add|ls|show|rm|import`: the registry of tools (Boutiques descriptors and XNAT
//! Commands) that `berth run NAME[@VERSION]` runs.

use std::io::Write;
use std::process::ExitCode;

use berth_run::tool;
use berth_store::ToolAdded;

use crate::cli::{ToolAddArgs, ToolCommand, ToolImportArgs, ToolNameArgs, ToolRmArgs};
use crate::context::{open_engine_for, open_store, runtime};
use crate::diag::{self, hinted};
use crate::loader::tool_error;
use crate::printer::print_json;

/// Runs a `berth tool` subcommand.
pub fn run(cmd: &ToolCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ToolCommand::Add(a) => add(a),
        ToolCommand::Ls { json } => ls(*json),
        ToolCommand::Show(a) => show(a),
        ToolCommand::Rm(a) => rm(a),
        ToolCommand::Import(a) => import(a),
        ToolCommand::Enable { name } => site_tool(name, true),
        ToolCommand::Disable { name } => site_tool(name, false),
    }
}

fn report(outcome: ToolAdded, name: &str, version: &str, sha: &str, origin: &str) {
    let what = match outcome {
        ToolAdded::Added => "registered",
        ToolAdded::Unchanged => "already registered (unchanged)",
        ToolAdded::Replaced => "replaced",
    };
    println!("{name}@{version} {what} (sha256 {}, from {origin})", &sha[..12.min(sha.len())]);
}

fn add(a: &ToolAddArgs) -> anyhow::Result<ExitCode> {
    if !tool::is_document_arg(&a.file) {
        return Err(hinted(
            format!("`{}` is not a file or JSON text", a.file),
            Some("give the path of a descriptor".into()),
        ));
    }
    let loaded = tool::load_tool(&a.file, None, false).map_err(tool_error)?;
    diag::print_problems(&loaded.warnings, false);
    let store = open_store()?;
    let new = loaded.to_new_tool(&loaded.origin);
    let outcome = store.add_tool(&new, a.replace).map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })?;
    report(outcome, &new.name, &new.version, &new.descriptor_sha256, &loaded.origin);
    Ok(ExitCode::SUCCESS)
}

fn ls(json: bool) -> anyhow::Result<ExitCode> {
    let tools = open_store()?.list_tools()?;
    if json {
        let rows: Vec<_> = tools
            .iter()
            .map(|t| {
                serde_json::json!({"name": t.tool.name, "version": t.tool.version, "kind": t.tool.kind,
                    "image": t.tool.image, "descriptor-sha256": t.tool.descriptor_sha256,
                    "source": t.tool.source, "added-at": t.added_at})
            })
            .collect();
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<28}  {:<12}  {:<9}  {:<40}  ADDED", "NAME", "VERSION", "KIND", "IMAGE")?;
    for t in &tools {
        let added = crate::printer::time(&t.added_at);
        writeln!(
            out,
            "{:<28}  {:<12}  {:<9}  {:<40}  {added}",
            t.tool.name,
            t.tool.version,
            t.tool.kind.as_str(),
            t.tool.image.as_deref().unwrap_or("-")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn store_err(e: berth_store::StoreError) -> anyhow::Error {
    let hint = e.hint();
    diag::library(e, hint)
}

fn show(a: &ToolNameArgs) -> anyhow::Result<ExitCode> {
    let (name, version) = tool::split_name(&a.tool);
    let rec = open_store()?.get_tool(name, version).map_err(store_err)?;
    if a.json {
        print_json(&rec)?;
        return Ok(ExitCode::SUCCESS);
    }
    let t = &rec.tool;
    println!("tool        {}@{}", t.name, t.version);
    println!("kind        {}", t.kind.as_str());
    println!("image       {}", t.image.as_deref().unwrap_or("-"));
    println!("sha256      {}", t.descriptor_sha256);
    println!("source      {}", t.source);
    println!("added       {}", rec.added_at);
    println!("\n{}", t.descriptor_json.trim_end());
    Ok(ExitCode::SUCCESS)
}

fn rm(a: &ToolRmArgs) -> anyhow::Result<ExitCode> {
    let (name, version) = tool::split_name(&a.tool);
    let n = open_store()?.remove_tool(name, version, a.all).map_err(store_err)?;
    println!("removed {n} tool{}", if n == 1 { "" } else { "s" });
    Ok(ExitCode::SUCCESS)
}

fn import(a: &ToolImportArgs) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let rt = runtime()?;
    let (engine, _) = rt.block_on(open_engine_for(a.engine.as_deref()))?;
    let image = rt.block_on(engine.inspect_image(&a.image)).map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })?;
    let Some(image) = image else {
        return Err(hinted(
            format!("image `{}` is not on the engine", a.image),
            Some(format!("pull or load it first (`berth image pull {}`)", a.image)),
        ));
    };
    let tools = tool::tools_from_labels(&a.image, &image.labels).map_err(tool_error)?;
    if tools.is_empty() {
        return Err(hinted(
            format!("image `{}` carries no tool definition", a.image),
            Some(format!(
                "berth reads the labels `{}` (Boutiques) and `{}` (XNAT Commands)",
                tool::BOUTIQUES_LABEL,
                berth_xnat::LABEL_KEY
            )),
        ));
    }
    for t in tools {
        diag::print_problems(&t.warnings, false);
        let new = t.to_new_tool(&t.origin);
        let outcome = store.add_tool(&new, a.replace).map_err(store_err)?;
        report(outcome, &new.name, &new.version, &new.descriptor_sha256, &t.origin);
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth tool enable|disable NAME`: the site-wide switch.
pub fn site_tool(name: &str, enabled: bool) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    store.set_tool_setting(None, name, enabled, None).map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })?;
    println!("{name} is {} on this site", if enabled { "enabled" } else { "disabled" });
    Ok(ExitCode::SUCCESS)
}
