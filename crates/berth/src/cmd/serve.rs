//! `berth serve`, `berth user`, `berth project`, `berth tool enable|disable`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use berth_run::{PathMapping, PullPolicy};
use berth_server::{AppState, ServeOptions};
use berth_store::Role;

use crate::cli::{ProjectCommand, ServeArgs, UserCommand};
use crate::context::{open_engine_for, open_store};
use crate::diag::hinted;
use crate::printer::print_json;

fn parse_path_map(items: &[String]) -> anyhow::Result<Vec<PathMapping>> {
    items.iter().map(|m| PathMapping::parse(m).map_err(|err| hinted(format!("--path-map {err}"), err.hint()))).collect()
}

/// `berth serve`.
pub fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    if args.openapi {
        let mut doc = serde_json::to_string_pretty(&berth_server::openapi::document())?;
        doc.push('\n');
        std::io::Write::write_all(&mut std::io::stdout().lock(), doc.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let site = crate::context::site()?;
    let config = site.config().clone();
    let bind = args.bind.parse().map_err(|_| {
        hinted(format!("--bind `{}` is not an address", args.bind), Some("e.g. `--bind 127.0.0.1:8080`".into()))
    })?;
    let max_body = berth_config::parse_size(&args.max_body)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            hinted(format!("--max-body `{}` is not a size", args.max_body), Some("e.g. `1m` or `256k`".into()))
        })?;
    let pull = match args.pull.as_str() {
        "missing" => PullPolicy::Missing,
        "always" => PullPolicy::Always,
        "never" => PullPolicy::Never,
        other => {
            return Err(hinted(
                format!("--pull `{other}` is not a policy"),
                Some("use `missing`, `always` or `never`".into()),
            ));
        }
    };
    if args.workers == 0 {
        return Err(hinted("--workers 0 would never run anything", Some("give at least 1".to_owned())));
    }
    let store = Arc::new(open_store()?);
    let output_root = match &args.output_root {
        Some(p) => p.clone(),
        None => store.home().join("outputs"),
    };
    std::fs::create_dir_all(&output_root).with_context(|| format!("cannot create {}", output_root.display()))?;
    let output_root = std::fs::canonicalize(&output_root)?;
    let db = site.advisory_db(args.db.as_deref());
    let opts = ServeOptions {
        bind,
        workers: args.workers,
        output_root,
        path_map: parse_path_map(&args.path_map)?,
        max_body_bytes: max_body,
        max_bulk: args.max_bulk,
        pull,
        advisory_db: db.exists().then_some(db),
        security: berth_server::SecurityOptions::from_config(&config).map_err(|e| {
            let hint = e.hint();
            hinted(e.to_string(), hint)
        })?,
        site: site.clone(),
    };
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let (engine, info) = open_engine_for(args.engine.as_deref()).await?;
        let state = Arc::new(AppState::new(store, engine, info, opts));
        let shutdown = state.shutdown.clone();
        tokio::spawn(async move {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("berth: stopping (runs in progress keep their containers; the next server collects them)");
            shutdown.cancel();
        });
        berth_server::serve(state).await.map_err(|e| {
            let hint = e.hint();
            hinted(format!("{e}: {}", std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default()), hint)
        })
    })?;
    Ok(ExitCode::SUCCESS)
}

fn store_err(e: berth_store::StoreError) -> anyhow::Error {
    let hint = e.hint();
    hinted(e.to_string(), hint)
}

/// `berth user ...`.
pub fn user(command: &UserCommand) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    match command {
        UserCommand::Add { name, role } => {
            let role: Role = role.parse().map_err(|e: String| hinted(format!("--role: {e}"), None))?;
            let u = store.add_user(name, role).map_err(store_err)?;
            println!("added {} ({})", u.name, u.role);
        }
        UserCommand::Ls { json } => {
            let users = store.list_users().map_err(store_err)?;
            if *json {
                print_json(&users)?;
            } else {
                for u in users {
                    println!("{:<20} {:<6} {}", u.name, u.role.as_str(), crate::printer::time(&u.created_at));
                }
            }
        }
        UserCommand::Token { name, label } => {
            let token = store.create_token(name, label).map_err(store_err)?;
            eprintln!("berth: a new token for {name}; it is shown once, keep it secret");
            println!("{token}");
        }
        UserCommand::Tokens { name } => {
            for t in store.list_tokens(name).map_err(store_err)? {
                let state = if t.revoked_at.is_some() { "revoked" } else { "active" };
                println!(
                    "{}…  {:<8} {:<12} created {}  last used {}",
                    t.prefix,
                    state,
                    t.label,
                    crate::printer::time(&t.created_at),
                    t.last_used_at.as_deref().map_or_else(|| "never".to_owned(), crate::printer::time)
                );
            }
        }
        UserCommand::Revoke { name, prefix } => {
            let n = store.revoke_tokens(name, prefix).map_err(store_err)?;
            if n == 0 {
                return Err(hinted(
                    format!("no active token of {name} starts with `{prefix}`"),
                    Some(format!("`berth user tokens {name}` lists them")),
                ));
            }
            println!("revoked {n} token(s)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn absolute_dirs(dirs: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    dirs.iter()
        .map(|d| {
            let c = std::fs::canonicalize(d).map_err(|e| {
                hinted(format!("--data-root {}: {e}", d.display()), Some("give an existing directory".into()))
            })?;
            if !c.is_dir() {
                return Err(hinted(format!("--data-root {} is not a directory", d.display()), None));
            }
            Ok(c.to_string_lossy().into_owned())
        })
        .collect()
}

/// `berth project ...`.
pub fn project(command: &ProjectCommand) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    match command {
        ProjectCommand::Add { id, title, data_roots, members } => {
            let roots = absolute_dirs(data_roots)?;
            let p = store.add_project(id, title.as_deref().unwrap_or(id), &roots).map_err(store_err)?;
            for m in members {
                store.add_member(id, m).map_err(store_err)?;
            }
            println!("added project {} (data roots: {})", p.id, roots.join(", "));
        }
        ProjectCommand::Ls { json } => {
            let projects = store.list_projects(None).map_err(store_err)?;
            if *json {
                print_json(&projects)?;
            } else {
                for p in projects {
                    println!("{:<20} members: {:<30} roots: {}", p.id, p.members.join(","), p.data_roots.join(", "));
                }
            }
        }
        ProjectCommand::Member { project, user, remove } => {
            if *remove {
                if !store.remove_member(project, user).map_err(store_err)? {
                    return Err(hinted(format!("{user} is not a member of {project}"), None));
                }
                println!("removed {user} from {project}");
            } else {
                store.add_member(project, user).map_err(store_err)?;
                println!("added {user} to {project}");
            }
        }
        ProjectCommand::Roots { project, data_roots } => {
            let roots = absolute_dirs(data_roots)?;
            store.set_data_roots(project, &roots).map_err(store_err)?;
            println!("{project}: data roots {}", roots.join(", "));
        }
        ProjectCommand::Enable { project, tool, defaults } => {
            let mut map = serde_json::Map::new();
            for d in defaults {
                let Some((k, v)) = d.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                    return Err(hinted(
                        format!("--default `{d}` is not ID=VALUE"),
                        Some("e.g. `--default threshold=0.5`".into()),
                    ));
                };
                // JSON when it parses (numbers, booleans, quoted strings, lists), else the text.
                let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_owned()));
                map.insert(k.to_owned(), value);
            }
            let s = store
                .set_tool_setting(Some(project), tool, true, (!map.is_empty()).then_some(&map))
                .map_err(store_err)?;
            println!(
                "{tool} is enabled in {project}{}",
                if s.defaults.is_empty() {
                    String::new()
                } else {
                    format!(" (defaults: {})", serde_json::Value::Object(s.defaults))
                }
            );
        }
        ProjectCommand::Disable { project, tool } => {
            store.set_tool_setting(Some(project), tool, false, None).map_err(store_err)?;
            println!("{tool} is disabled in {project}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
