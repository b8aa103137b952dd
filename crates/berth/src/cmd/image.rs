//! `berth image ls|pull|push|import|tag|rm|inspect|check`, `berth login` and `berth logout`:
//! each calls `berth_registry::images` (or the engine) and renders the result.

use std::io::Read as _;
use std::process::ExitCode;
use std::sync::Arc;

use berth_engine::Engine;
use berth_registry::images::{self, CheckStatus, ImportSource};
use berth_registry::{Credential, RegistryError};

use crate::cli::{ImageCommand, ImageImportArgs, LoginArgs};
use crate::context::{credentials, open_engine_for, registry_client, runtime};
use crate::diag::{self, hinted};
use crate::printer::human_size;
use crate::printer::print_json;
use crate::progress::{TerminalDownload, TerminalPull};

/// Runs a `berth image` subcommand.
pub fn run(cmd: &ImageCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        match cmd {
            ImageCommand::Ls { json, engine } => ls(&*open(engine.engine.as_deref()).await?, *json).await,
            ImageCommand::Pull { reference, engine } => pull(&*open(engine.engine.as_deref()).await?, reference).await,
            ImageCommand::Push { reference, engine } => push(&*open(engine.engine.as_deref()).await?, reference).await,
            ImageCommand::Import(a) => import(&*open(a.engine.engine.as_deref()).await?, a).await,
            ImageCommand::Tag { source, target, engine } => {
                open(engine.engine.as_deref()).await?.tag_image(source, target).await.map_err(engine_error)?;
                println!("{} → {}", source, berth_engine::normalize_reference(target));
                Ok(ExitCode::SUCCESS)
            }
            ImageCommand::Rm { references, force, engine } => {
                let engine = open(engine.engine.as_deref()).await?;
                for r in references {
                    let removed = engine.remove_image(r, *force).await.map_err(engine_error)?;
                    for u in &removed.untagged {
                        println!("untagged {u}");
                    }
                    for d in &removed.deleted {
                        println!("deleted {d}");
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            ImageCommand::Inspect { reference, engine } => {
                match open(engine.engine.as_deref()).await?.inspect_image(reference).await.map_err(engine_error)? {
                    Some(info) => {
                        print_json(&info)?;
                        Ok(ExitCode::SUCCESS)
                    }
                    None => {
                        Err(engine_error(berth_engine::EngineError::ImageNotFound { reference: reference.clone() }))
                    }
                }
            }
            ImageCommand::Check { reference, json, engine } => {
                check(&*open(engine.engine.as_deref()).await?, reference, *json).await
            }
        }
    })
}

async fn open(engine: Option<&str>) -> anyhow::Result<Arc<dyn Engine>> {
    Ok(open_engine_for(engine).await?.0)
}

fn engine_error(e: berth_engine::EngineError) -> anyhow::Error {
    let hint = e.hint();
    diag::library(e, hint)
}

fn registry_error(e: RegistryError) -> anyhow::Error {
    let hint = e.hint();
    diag::library(e, hint)
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

async fn ls(engine: &dyn Engine, json: bool) -> anyhow::Result<ExitCode> {
    let labels = [berth_run::tool::BOUTIQUES_LABEL, berth_xnat::label::LABEL_KEY];
    let rows = images::list(engine, &labels).await.map_err(registry_error)?;
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let tool = r
                .descriptor_labels
                .iter()
                .map(|l| if l == berth_xnat::label::LABEL_KEY { "xnat" } else { "boutiques" })
                .collect::<Vec<_>>()
                .join(",");
            [
                r.reference.clone().unwrap_or_else(|| "<none>".to_owned()),
                short(&r.id).to_owned(),
                r.repo_digest
                    .as_deref()
                    .and_then(|d| d.split_once('@'))
                    .map_or("-".to_owned(), |(_, d)| format!("sha256:{}", short(d))),
                human_size(r.size),
                r.created.clone().unwrap_or_else(|| "-".to_owned()),
                if tool.is_empty() { "-".to_owned() } else { tool },
            ]
        })
        .collect();
    let header = ["REFERENCE", "IMAGE ID", "DIGEST", "SIZE", "CREATED", "TOOL"].map(str::to_owned);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&table) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&table) {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

async fn pull(engine: &dyn Engine, reference: &str) -> anyhow::Result<ExitCode> {
    let outcome =
        images::pull(engine, &credentials()?, reference, &TerminalPull::new()).await.map_err(registry_error)?;
    match outcome.digest {
        Some(d) => println!("{} {d}", outcome.reference),
        None => println!("{}", outcome.reference),
    }
    Ok(ExitCode::SUCCESS)
}

async fn push(engine: &dyn Engine, reference: &str) -> anyhow::Result<ExitCode> {
    let outcome =
        images::push(engine, &credentials()?, reference, &TerminalPull::new()).await.map_err(registry_error)?;
    match outcome.digest {
        Some(d) => println!("{} {d}", outcome.reference),
        None => println!("{}", outcome.reference),
    }
    Ok(ExitCode::SUCCESS)
}

async fn import(engine: &dyn Engine, a: &ImageImportArgs) -> anyhow::Result<ExitCode> {
    let source = ImportSource::parse(&a.source, a.sha256.as_deref())
        .map_err(|e| hinted(e.to_string(), Some("give the sha256 as 64 hex digits, e.g. from `sha256sum`".into())))?;
    let home = berth_config::berth_home().map_err(|e| hinted(e.to_string(), e.hint()))?;
    let outcome = images::import(
        engine,
        &registry_client()?,
        &home.join("downloads"),
        &source,
        a.tag.as_deref(),
        &TerminalDownload::new(),
    )
    .await
    .map_err(registry_error)?;
    if a.json {
        print_json(&outcome)?;
    } else {
        for l in &outcome.loaded {
            println!("loaded {l}");
        }
        if let Some(t) = &outcome.tagged {
            println!("tagged {t}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn check(engine: &dyn Engine, reference: &str, json: bool) -> anyhow::Result<ExitCode> {
    let report =
        images::check(engine, &registry_client()?, &credentials()?, reference).await.map_err(registry_error)?;
    if json {
        print_json(&report)?;
    } else {
        let remote = report.remote.as_ref().map_or("-", |r| r.digest.as_str());
        match report.status {
            CheckStatus::Current => println!("current: {} is {remote}", report.reference),
            CheckStatus::Stale => {
                let local = report
                    .local_digests
                    .iter()
                    .filter_map(|d| d.split_once('@').map(|(_, d)| d))
                    .collect::<Vec<_>>()
                    .join(", ");
                let local = if local.is_empty() { "no digest from this registry".to_owned() } else { local };
                println!("stale: {} is {remote} in the registry; the local image has {local}", report.reference);
                eprintln!("hint: update it with `berth image pull {}`", report.reference);
            }
            CheckStatus::MissingLocally => {
                println!(
                    "missing locally: {} is {remote} in the registry; the engine does not have it",
                    report.reference
                );
                eprintln!("hint: get it with `berth image pull {}`", report.reference);
            }
            CheckStatus::TagMissingInRegistry => {
                println!(
                    "tag missing in registry: {} has no tag `{}` in repository `{}`",
                    report.registry, report.tag, report.repository
                );
            }
        }
    }
    Ok(ExitCode::from(report.status.exit_code()))
}

/// `berth login`.
pub fn login(a: &LoginArgs) -> anyhow::Result<ExitCode> {
    if !a.password_stdin {
        return Err(hinted(
            "berth login reads the password from standard input only".to_string(),
            Some(format!(
                "run `printf %s \"$PASSWORD\" | berth login {} -u {} --password-stdin`",
                a.registry, a.username
            )),
        ));
    }
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(hinted("no password on standard input".to_string(), None));
    }
    let credential = Credential { username: a.username.clone(), secret: password };
    let store = credentials()?;
    let source = runtime()?
        .block_on(images::login(&registry_client()?, &store, &a.registry, &credential))
        .map_err(registry_error)?;
    if let berth_registry::CredentialSource::Berth(path) = source {
        println!("logged in to {} as {} (credentials stored in {})", a.registry, a.username, path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth logout`.
pub fn logout(registry: &str) -> anyhow::Result<ExitCode> {
    if credentials()?.remove(registry).map_err(registry_error)? {
        println!("removed the credentials for {registry}");
    } else {
        println!("no credentials stored by berth for {registry}");
    }
    Ok(ExitCode::SUCCESS)
}
