//! Reading the documents a command is given: descriptors and registered tools, invocations,
//! `--mount` bindings. Problems are printed with their JSON pointers; errors keep their hints.

use berth_descriptor::{Document, load_object};
use berth_run::tool::{self, MountBindings};
use berth_run::{LoadedTool, ToolError};

use crate::diag::{self, hinted};

/// Loads a JSON object argument, turning load errors into hinted errors naming `what`.
pub fn load(arg: &str, what: &str) -> anyhow::Result<Document> {
    load_object(arg).map_err(|e| {
        let hint = e.hint();
        anyhow::Error::new(diag::Hinted { message: format!("cannot load the {what}"), hint, source: Some(e.into()) })
    })
}

/// Turns a tool error into a hinted error, printing its problems first.
pub fn tool_error(e: ToolError) -> anyhow::Error {
    if let Some(problems) = e.problems() {
        diag::print_problems(problems, false);
    }
    let hint = e.hint();
    diag::library(e, hint)
}

/// Resolves a tool argument (a file, `-`, JSON text, or a registered `NAME[@VERSION]`) and
/// prints its warnings. The store is opened only for a registered name.
pub fn load_tool_arg(arg: &str, strict: bool) -> anyhow::Result<LoadedTool> {
    let store = if tool::is_document_arg(arg) { None } else { crate::context::open_store().ok() };
    let loaded = tool::load_tool(arg, store.as_ref(), strict).map_err(tool_error)?;
    diag::print_problems(&loaded.warnings, strict);
    Ok(loaded)
}

/// Parses `--mount NAME=HOSTPATH` arguments.
pub fn mount_bindings(args: &[String]) -> anyhow::Result<MountBindings> {
    let mut out = MountBindings::new();
    for a in args {
        let Some((name, path)) = a.split_once('=').filter(|(n, p)| !n.is_empty() && !p.is_empty()) else {
            return Err(hinted(
                format!("--mount `{a}` is not NAME=HOSTPATH"),
                Some("e.g. `--mount in=/data/session1`".into()),
            ));
        };
        if out.insert(name.to_string(), std::path::PathBuf::from(path)).is_some() {
            return Err(hinted(format!("--mount `{name}` is given twice"), Some("bind each mount once".into())));
        }
    }
    Ok(out)
}
