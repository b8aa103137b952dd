//! `berth tool add|ls|show|rm|import|search|install` and `berth catalog build`: the registry of
//! tools (Boutiques descriptors and XNAT Commands) that `berth run NAME[@VERSION]` runs, and
//! the catalogs that share them (berth-catalog).

use std::io::Write;
use std::process::ExitCode;

use berth_config::text::terminal_safe as safe;
use berth_run::tool;
use berth_store::ToolAdded;

use crate::cli::{
    CatalogBuildArgs, CatalogCommand, ToolAddArgs, ToolCommand, ToolImportArgs, ToolInstallArgs, ToolNameArgs,
    ToolRmArgs, ToolSearchArgs,
};
use crate::context::{credentials, open_engine_for, open_store, registry_client, runtime};
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
        ToolCommand::Search(a) => search(a),
        ToolCommand::Install(a) => install(a),
    }
}

/// Runs a `berth catalog` subcommand.
pub fn catalog(cmd: &CatalogCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CatalogCommand::Build(a) => catalog_build(a),
    }
}

fn catalog_error(e: berth_catalog::CatalogError) -> anyhow::Error {
    if let berth_catalog::CatalogError::Tool(t) = &e
        && let Some(problems) = t.problems()
    {
        diag::print_problems(problems, false);
    }
    let hint = e.hint();
    diag::library(e, hint)
}

fn catalog_build(a: &CatalogBuildArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let limits = if a.no_sbom { None } else { Some(crate::context::inventory_limits(&berth_config::Config::load()?)?) };
    let entries = rt.block_on(async {
        let (engine, _) = open_engine_for(a.engine.as_deref()).await?;
        let mut entries = Vec::new();
        for image in &a.images {
            eprintln!("berth: reading {image}");
            entries.extend(
                berth_catalog::entries_for_image(&engine, image, limits.as_ref()).await.map_err(catalog_error)?,
            );
        }
        anyhow::Ok(entries)
    })?;
    let index = berth_catalog::index(entries, env!("CARGO_PKG_VERSION"));
    berth_catalog::write_index(&index, &a.output).map_err(catalog_error)?;
    for e in &index.tools {
        println!(
            "{}@{}  {}@{}  descriptor {}",
            e.name,
            e.version,
            e.image,
            e.digest,
            &e.descriptor_sha256[..12.min(e.descriptor_sha256.len())]
        );
    }
    println!(
        "wrote {} ({} tool{})",
        a.output.display(),
        index.tools.len(),
        if index.tools.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}

fn search(a: &ToolSearchArgs) -> anyhow::Result<ExitCode> {
    let index =
        runtime()?.block_on(berth_catalog::fetch_index(&registry_client()?, &a.index)).map_err(catalog_error)?;
    let found = berth_catalog::search(&index, a.word.as_deref().unwrap_or(""));
    if a.json {
        print_json(&found)?;
        return Ok(ExitCode::SUCCESS);
    }
    if found.is_empty() {
        eprintln!("no tool in {} matches `{}`", a.index, a.word.as_deref().unwrap_or(""));
        return Ok(ExitCode::from(1));
    }
    let mut out = std::io::stdout().lock();
    for e in found {
        let tests = if e.tests.is_empty() { String::new() } else { format!(", {} test(s)", e.tests.len()) };
        let packages = e.sbom.as_ref().map(|s| format!(", {} packages", s.packages)).unwrap_or_default();
        // A catalog is shared text: shown as text, never as terminal control sequences.
        writeln!(out, "{}@{}  ({}{tests}{packages})", safe(&e.name), safe(&e.version), safe(&e.kind))?;
        writeln!(out, "    {}", safe(&e.description))?;
        writeln!(out, "    {}@{}", safe(&e.image), safe(&e.digest))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn install(a: &ToolInstallArgs) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let rt = runtime()?;
    let client = registry_client()?;
    let creds = credentials()?;
    let installed = rt.block_on(async {
        let index = berth_catalog::fetch_index(&client, &a.index).await.map_err(catalog_error)?;
        let entry = berth_catalog::find(&index, &a.tool, &a.index).map_err(catalog_error)?;
        let (engine, _) = open_engine_for(a.engine.as_deref()).await?;
        berth_catalog::install(&engine, &client, &creds, &store, entry, &a.index, a.replace)
            .await
            .map_err(catalog_error)
    })?;
    for w in &installed.warnings {
        eprintln!("berth: warning: {}", safe(w));
    }
    let e = &installed.entry;
    let origin = format!("catalog {}", a.index);
    let sha = &e.descriptor_sha256;
    let word = match installed.registered {
        ToolAdded::Added => "registered",
        ToolAdded::Unchanged => "unchanged",
        ToolAdded::Replaced => "replaced",
    };
    if a.json {
        print_json(&serde_json::json!([{"name": e.name, "version": e.version, "image": installed.pulled,
            "tagged": installed.tagged, "descriptor-sha256": sha, "source": origin, "outcome": word,
            "warnings": installed.warnings}]))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}@{} {word} (sha256 {}, from {origin})", e.name, e.version, &sha[..12.min(sha.len())]);
    println!(
        "image {} checked against the catalog{}",
        installed.pulled,
        installed.tagged.as_ref().map(|t| format!(", tagged {t}")).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// One line of what `tool add|import|install` registered (`--json`: one object of a list).
fn report(outcome: ToolAdded, new: &berth_store::NewTool, origin: &str, json: bool) -> serde_json::Value {
    let (what, word) = match outcome {
        ToolAdded::Added => ("registered", "registered"),
        ToolAdded::Unchanged => ("already registered (unchanged)", "unchanged"),
        ToolAdded::Replaced => ("replaced", "replaced"),
    };
    let sha = &new.descriptor_sha256;
    if !json {
        println!("{}@{} {what} (sha256 {}, from {origin})", new.name, new.version, &sha[..12.min(sha.len())]);
    }
    serde_json::json!({"name": new.name, "version": new.version, "kind": new.kind, "image": new.image,
        "descriptor-sha256": sha, "source": origin, "outcome": word})
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
    let row = report(outcome, &new, &loaded.origin, a.json);
    if a.json {
        print_json(&[row])?;
    }
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
            safe(&t.tool.name),
            safe(&t.tool.version),
            t.tool.kind.as_str(),
            safe(t.tool.image.as_deref().unwrap_or("-"))
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
    println!("tool        {}@{}", safe(&t.name), safe(&t.version));
    println!("kind        {}", t.kind.as_str());
    println!("image       {}", safe(t.image.as_deref().unwrap_or("-")));
    println!("sha256      {}", t.descriptor_sha256);
    println!("source      {}", safe(&t.source));
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
    let mut rows = Vec::new();
    for t in tools {
        diag::print_problems(&t.warnings, false);
        let new = t.to_new_tool(&t.origin);
        let outcome = store.add_tool(&new, a.replace).map_err(store_err)?;
        rows.push(report(outcome, &new, &t.origin, a.json));
    }
    if a.json {
        print_json(&rows)?;
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
